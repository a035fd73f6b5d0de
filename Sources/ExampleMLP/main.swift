// example-mlp: a 64 → 64 → 10 multilayer perceptron learns the 8×8 handwritten digits.
//
// Keras-style layers on a TF1 graph: two dense layers with L2 weight decay (which keeps the
// network from memorising the 1,346 training images), Adam, sparse categorical
// cross-entropy; `fit` shows the progress, `evaluate` scores the stratified 25 % hold-out.
// `model.graph` is the TF1 graph underneath (placeholders, variables, Adam's update ops).
import Soma

let digits = try Dataset.digits().scaled(by: 1.0 / 16)
let (trainSet, testSet) = try digits.stratifiedSplit(testFraction: 0.25, seed: 7)
let stats = trainSet.featureStatistics()
let train = trainSet.standardized(mean: stats.mean, std: stats.std)
let test = testSet.standardized(mean: stats.mean, std: stats.std)

let g = Graph()
g.randomSeed = 42
let model = try Sequential(inputShape: [64], [
    Dense(64, activation: .relu, kernelRegularizer: .l2(3e-4)),
    Dense(10, activation: .softmax, kernelRegularizer: .l2(3e-4)),
], name: "mlp", graph: g)
print(model.summary())
try model.compile(optimizer: AdamOptimizer(learningRate: 0.003), loss: .sparseCategoricalCrossentropy(), metrics: [.accuracy])
try model.fit(x: train.features, y: train.labels, batchSize: 32, epochs: 40, seed: 1)
let scores = try model.evaluate(x: test.features, y: test.labels)
print("graph: \(model.graph.nodes.count) nodes, \(model.graph.variables.count) variables; \(test.count) test images")
print("test accuracy: \(String(format: "%.4f", scores["accuracy"]!))")
