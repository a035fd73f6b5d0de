// example-cnn: a small convolutional network learns the 8×8 handwritten digits.
//
// [N, 8, 8, 1] → conv 3×3×16 SAME + batch norm + ReLU → max-pool 2 → conv 3×3×32 SAME +
// batch norm + ReLU → max-pool 2 → flatten [N, 128] → dense 64 + ReLU (dropout 0.3 while
// training) → dense 10, trained with Adam on a stratified 75 % of the images; prints the
// mean training loss per epoch, then the test accuracy. One graph trains and evaluates: a
// boolean `training` tensor (false unless fed) switches batch norm and dropout, and
// `minimize` also runs batch norm's moving-average updates.
import Foundation
import Soma

let epochs = 30, batchSize = 32

let digits = try Dataset.digits().scaled(by: 1.0 / 16)
let (train, test) = try digits.stratifiedSplit(testFraction: 0.25, seed: 7)

let g = Graph()
g.randomSeed = 42
let x = try g.placeholder(.float32, shape: [nil, 64], name: "x")
let y = try g.placeholder(.int64, shape: [nil], name: "y")
let training = try placeholderWithDefault(g.constant(false), shape: .scalar, name: "training")
let images = try reshape(x, [-1, 8, 8, 1])

/// Convolution, batch normalisation (which brings its own offset: no bias), ReLU.
func convLayer(_ input: Output, _ name: String, channels: Int, outputs: Int) throws -> Output {
    let kernel = try g.variable("\(name)/kernel", shape: [3, 3, channels, outputs], initializer: .heNormal)
    let convolved = try g.withNameScope(name) { try conv2D(input, filter: kernel.value, padding: "SAME") }
    return try relu(batchNormalization(convolved, training: training, name: "\(name)_bn"))
}

func denseLayer(_ input: Output, _ name: String, inputs: Int, outputs: Int, activation: Bool) throws -> Output {
    let kernel = try g.variable("\(name)/kernel", shape: [inputs, outputs], initializer: activation ? .heNormal : .glorotUniform)
    let bias = try g.variable("\(name)/bias", shape: [outputs], initializer: .zeros)
    return try g.withNameScope(name) {
        let z = try biasAdd(matmul(input, kernel.value), bias.value)
        return activation ? try relu(z) : z
    }
}

let c1 = try maxPool(convLayer(images, "conv1", channels: 1, outputs: 16), ksize: [2, 2], strides: [2, 2])   // [N, 4, 4, 16]
let c2 = try maxPool(convLayer(c1, "conv2", channels: 16, outputs: 32), ksize: [2, 2], strides: [2, 2])      // [N, 2, 2, 32]
let flat = try reshape(c2, [-1, 128])
let hidden = try dropout(denseLayer(flat, "dense", inputs: 128, outputs: 64, activation: true), rate: 0.3, training: training)
let logits = try denseLayer(hidden, "logits", inputs: 64, outputs: 10, activation: false)
let loss = try Losses.sparseSoftmaxCrossEntropy(labels: y, logits: logits)
let trainOp = try AdamOptimizer(learningRate: 0.002).minimize(loss, globalStep: g.globalStep())
let accuracy = try reduceMean(cast(equal(argmax(logits, axis: 1), y), to: .float32), name: "accuracy")

let session = Session(graph: g)
try session.run(target: g.globalVariablesInitializer())
let step = try session.makeCallable(feeds: [x, y, training], fetches: [loss], targets: [trainOp])
let isTraining = Tensor(true)
let lossValue = Tensor(zeros: .float32, shape: [])

let start = Date()
for epoch in 1...epochs {
    var total = 0.0, batches = 0
    for batch in train.shuffled(seed: UInt64(epoch)).batches(size: batchSize) {
        try step.run([batch.features, batch.labels, isTraining], into: [lossValue])
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
