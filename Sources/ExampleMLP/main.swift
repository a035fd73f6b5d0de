// example-mlp: a 64 → 64 → 10 multilayer perceptron learns the 8×8 handwritten digits.
//
// Everything is a graph, TF1-style: placeholders for a batch, variables initialised by
// seeded Glorot initialisers, a sparse softmax cross-entropy cost, Adam's update ops from
// `minimize`, and an accuracy op. Prints the mean training loss per epoch, then the test
// accuracy on a stratified 25 % hold-out.
import Foundation
import Soma

let epochs = 40, batchSize = 32, hidden = 64, weightDecay = 3e-4

let digits = try Dataset.digits().scaled(by: 1.0 / 16)
let (trainSet, testSet) = try digits.stratifiedSplit(testFraction: 0.25, seed: 7)
let stats = trainSet.featureStatistics()
let train = trainSet.standardized(mean: stats.mean, std: stats.std)
let test = testSet.standardized(mean: stats.mean, std: stats.std)

let g = Graph()
g.randomSeed = 42
let x = try g.placeholder(.float32, shape: [nil, 64], name: "x")
let y = try g.placeholder(.int64, shape: [nil], name: "y")
let w1 = try g.variable("dense/kernel", shape: [64, hidden], initializer: .glorotUniform)
let b1 = try g.variable("dense/bias", shape: [hidden], initializer: .zeros)
let w2 = try g.variable("logits/kernel", shape: [hidden, 10], initializer: .glorotUniform)
let b2 = try g.variable("logits/bias", shape: [10], initializer: .zeros)
let h = try relu(biasAdd(matmul(x, w1.value), b1.value))
let logits = try biasAdd(matmul(h, w2.value), b2.value, name: "logits")
let loss = try Losses.sparseSoftmaxCrossEntropy(labels: y, logits: logits)
// L2 weight decay on the kernels keeps the network from memorising the 1,346 images.
let decay = try multiply(g.constant(Float(weightDecay)), add(reduceSum(square(w1.value)), reduceSum(square(w2.value))))
let step = try g.globalStep()
let train_op = try AdamOptimizer(learningRate: 0.003).minimize(add(loss, decay), globalStep: step)
let correct = try equal(argmax(logits, axis: 1), y)
let accuracy = try reduceMean(cast(correct, to: .float32), name: "accuracy")

let session = Session(graph: g)
try session.run(target: g.globalVariablesInitializer())
let trainStep = try session.makeCallable(feeds: [x, y], fetches: [loss], targets: [train_op])
let lossValue = Tensor(zeros: .float32, shape: [])

let start = Date()
for epoch in 1...epochs {
    var total = 0.0, batches = 0
    for batch in train.shuffled(seed: UInt64(epoch)).batches(size: batchSize) {
        try trainStep.run([batch.features, batch.labels], into: [lossValue])
        total += Double(lossValue.scalar(as: Float.self))
        batches += 1
    }
    print(String(format: "epoch %2d  loss %.4f", epoch, total / Double(batches)))
}
let seconds = Date().timeIntervalSince(start)
let (testX, testY) = test.tensors
let result = try session.run(accuracy, feeds: [x: testX, y: testY]).scalar(as: Float.self)
print(String(format: "trained %d steps in %.2f s on %d images; %d test images", try session.run(step.value).scalar(as: Int64.self),
             seconds, train.count, test.count))
print(String(format: "test accuracy: %.4f", result))
