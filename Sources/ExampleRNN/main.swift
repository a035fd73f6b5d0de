// example-rnn: an LSTM reads each 8×8 digit image row by row — 8 time steps of 8 pixels —
// and classifies it from its last hidden state.
//
// [N, 8, 8] → LSTM (64 units, TF's fused LSTMBlockCell per step, unrolled) → dense 10,
// trained with Adam on a stratified 75 % of the images; prints the mean training loss per
// epoch, then the test accuracy.
import Foundation
import Soma

let epochs = 30, batchSize = 32, units = 64

let digits = try Dataset.digits().scaled(by: 1.0 / 16)
let (train, test) = try digits.stratifiedSplit(testFraction: 0.25, seed: 7)

let g = Graph()
g.randomSeed = 42
let x = try g.placeholder(.float32, shape: [nil, 64], name: "x")
let y = try g.placeholder(.int64, shape: [nil], name: "y")
let rows = try reshape(x, [-1, 8, 8])                                       // [N, steps, features]
let cell = try LSTMCell(g, inputSize: 8, units: units, name: "lstm")
let (outputs, _) = try unroll(cell, over: rows, steps: 8)
let kernel = try g.variable("logits/kernel", shape: [units, 10], initializer: .glorotUniform)
let bias = try g.variable("logits/bias", shape: [10], initializer: .zeros)
let logits = try biasAdd(matmul(outputs.last!, kernel.value), bias.value, name: "logits")
let loss = try Losses.sparseSoftmaxCrossEntropy(labels: y, logits: logits)
let trainOp = try AdamOptimizer(learningRate: 0.005).minimize(loss, globalStep: g.globalStep())
let accuracy = try reduceMean(cast(equal(argmax(logits, axis: 1), y), to: .float32), name: "accuracy")

let session = Session(graph: g)
try session.run(target: g.globalVariablesInitializer())
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
