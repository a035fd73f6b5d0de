// example-dynamic-rnn: an LSTM reads each digit row by row, but sees only its first rows —
// between 4 and 8 of them, a different length for each image — in one loop body
// (`dynamicRNN`, a `whileLoop` with per-row sequence lengths), and classifies it from its
// state at the end of its own sequence.
//
// Each image's rows past its length are blanked and the length is carried as a 65th
// feature (so batches keep images and lengths together). → LSTM (64 units) → dense 10,
// trained with Adam on a stratified 75 % of the images; prints the lengths, the mean
// training loss per epoch, then the test accuracy.
import Foundation
import Soma

let epochs = 30, batchSize = 32, units = 64

/// The digits cut to their first 4…8 rows (seeded): 64 pixels, then the length.
func truncated(_ data: Dataset, seed: UInt64) throws -> Dataset {
    var rng = SplitMix64(seed: seed)
    let pixels = data.features.scalars(as: Float.self)
    var features: [Float] = []
    features.reserveCapacity(data.count * 65)
    for i in 0..<data.count {
        let length = Int.random(in: 4...8, using: &rng)
        for p in 0..<64 { features.append(p / 8 < length ? pixels[i * 64 + p] : 0) }
        features.append(Float(length))
    }
    return try Dataset(features: Tensor(features, shape: [data.count, 65]), labels: data.labels, classCount: data.classCount)
}

let digits = try truncated(Dataset.digits().scaled(by: 1.0 / 16), seed: 11)
let (train, test) = try digits.stratifiedSplit(testFraction: 0.25, seed: 7)

let g = Graph()
g.randomSeed = 42
let x = try g.placeholder(.float32, shape: [nil, 65], name: "x")
let y = try g.placeholder(.int64, shape: [nil], name: "y")
let rows = try reshape(slice(x, begin: [0, 0], size: [-1, 64]), [-1, 8, 8])              // [N, 8 rows, 8 pixels]
let lengths = try reshape(cast(slice(x, begin: [0, 64], size: [-1, 1]), to: .int32), [-1], name: "lengths")
let cell = try LSTMCell(g, inputSize: 8, units: units, name: "lstm")
let (_, state) = try dynamicRNN(cell, over: rows, sequenceLength: lengths)
let kernel = try g.variable("logits/kernel", shape: [units, 10], initializer: .glorotUniform)
let bias = try g.variable("logits/bias", shape: [10], initializer: .zeros)
let logits = try biasAdd(matmul(state.h, kernel.value), bias.value, name: "logits")
let loss = try Losses.sparseSoftmaxCrossEntropy(labels: y, logits: logits)
let trainOp = try AdamOptimizer(learningRate: 0.005).minimize(loss, globalStep: g.globalStep())
let accuracy = try reduceMean(cast(equal(argmax(logits, axis: 1), y), to: .float32), name: "accuracy")

let session = Session(graph: g)
try session.run(target: g.globalVariablesInitializer())
let (allX, _) = digits.tensors
var histogram = [Int: Int]()
for n in try session.run(lengths, feeds: [x: allX]).scalars(as: Int32.self) { histogram[Int(n), default: 0] += 1 }
print("sequence lengths: " + histogram.keys.sorted().map { "\($0) rows × \(histogram[$0]!)" }.joined(separator: ", "))

let step = try session.makeCallable(feeds: [x, y], fetches: [loss], targets: [trainOp])
let lossValue = Tensor(zeros: .float32, shape: [])
let start = Date()
for epoch in 1...epochs {
    var total = 0.0, batches = 0
    for batch in train.shuffled(seed: UInt64(epoch)).batches(size: batchSize) {
        try step.run([batch.features, batch.labels], into: [lossValue])
        total += Double(lossValue.scalar(as: Float.self))
        batches += 1
    }
    print(String(format: "epoch %2d  loss %.4f", epoch, total / Double(batches)))
}
let seconds = Date().timeIntervalSince(start)
let (testX, testY) = test.tensors
let result = try session.run(accuracy, feeds: [x: testX, y: testY]).scalar(as: Float.self)
print(String(format: "trained %d epochs in %.2f s on %d images; %d test images", epochs, seconds, train.count, test.count))
print(String(format: "test accuracy: %.4f", result))
