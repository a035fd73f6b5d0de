// The main job until the Keras-style demo exists: a small network, built as a Soma graph,
// learns to separate two concentric rings of points (built-in, generated data).
//
// The TF1 way: a sigmoid cross-entropy cost, `minimize` adds its gradient subgraph
// (TF's gradient ops) and `ApplyGradientDescent` updates, and each training step is one
// `Session.run` of the training op.
import Foundation
import Soma

/// Two noisy rings: label 0 at radius ≈ 0.5, label 1 at radius ≈ 1.0.
func rings(count: Int, rng: inout SplitMix64) -> (points: [Float], labels: [Float]) {
    var points: [Float] = [], labels: [Float] = []
    for i in 0..<count {
        let label = Float(i % 2)
        let radius = (label == 0 ? 0.5 : 1.0) + Float.random(in: -0.15...0.15, using: &rng)
        let angle = Float.random(in: 0..<(2 * .pi), using: &rng)
        points += [radius * cos(angle), radius * sin(angle)]
        labels.append(label)
    }
    return (points, labels)
}

func uniform(_ shape: [Int], limit: Float, rng: inout SplitMix64) throws -> Tensor {
    try Tensor((0..<shape.reduce(1, *)).map { _ in Float.random(in: -limit...limit, using: &rng) }, shape: shape)
}

var rng = SplitMix64(seed: 2026)
let train = rings(count: 400, rng: &rng)
let test = rings(count: 200, rng: &rng)
let hidden = 16
let learningRate = 0.5

let g = Graph()
let x = try g.placeholder(.float32, shape: [nil, 2], name: "x")
let t = try g.placeholder(.float32, shape: [nil, 1], name: "labels")
// Glorot-uniform weights, zero biases.
let w1 = try g.variable(uniform([2, hidden], limit: (6 / Float(2 + hidden)).squareRoot(), rng: &rng), name: "w1")
let b1 = try g.variable(Tensor(repeating: Float(0), shape: [hidden]), name: "b1")
let w2 = try g.variable(uniform([hidden, 1], limit: (6 / Float(hidden + 1)).squareRoot(), rng: &rng), name: "w2")
let b2 = try g.variable(Tensor(repeating: Float(0), shape: [1]), name: "b2")

// Forward: [N, 2] → tanh → [N, 16] → sigmoid → [N, 1].
let h = try g.withNameScope("hidden") { try tanh(biasAdd(matmul(x, w1.value), b1.value)) }
let logits = try g.withNameScope("output") { try biasAdd(matmul(h, w2.value), b2.value) }
let p = try sigmoid(logits, name: "probability")

// Binary cross-entropy from logits, stable form: max(z, 0) − z·t + log(1 + e^−|z|), averaged.
let loss = try Losses.sigmoidCrossEntropy(labels: t, logits: logits)
let accuracy = try g.withNameScope("accuracy") {
    try reduceMean(cast(equal(cast(greaterEqual(p, g.constant(Float(0.5))), to: .float32), t), to: .float32))
}
let trainStep = try GradientDescentOptimizer(learningRate: .constant(learningRate)).minimize(loss)

let session = Session(graph: g)
try session.run(target: g.globalVariablesInitializer())
let trainFeeds: [Output: Tensor] = [
    x: try Tensor(train.points, shape: [train.labels.count, 2]),
    t: try Tensor(train.labels, shape: [train.labels.count, 1]),
]
let testFeeds: [Output: Tensor] = [
    x: try Tensor(test.points, shape: [test.labels.count, 2]),
    t: try Tensor(test.labels, shape: [test.labels.count, 1]),
]

print("Soma demo: a 2-\(hidden)-1 network learns two concentric rings")
print("graph: \(g.nodes.count) nodes; \(train.labels.count) training points, \(test.labels.count) test points")
let start = Date()
let epochs = 1500
for epoch in 0...epochs {
    if epoch % 300 == 0 {
        let r = try session.run(fetches: [loss, accuracy], feeds: trainFeeds)
        print(String(format: "epoch %4d  loss %.4f  train accuracy %.4f", epoch,
                     r[0].scalar(as: Float.self), r[1].scalar(as: Float.self)))
    }
    if epoch < epochs { try session.run(target: trainStep, feeds: trainFeeds) }
}
let seconds = Date().timeIntervalSince(start)
let final = try session.run(fetches: [loss, accuracy], feeds: testFeeds)
print(String(format: "trained %d full-batch steps in %.2f s", epochs, seconds))
print(String(format: "test loss: %.4f", final[0].scalar(as: Float.self)))
print(String(format: "test accuracy: %.4f", final[1].scalar(as: Float.self)))
