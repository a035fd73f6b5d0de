// example-mlp: a 64 → 64 → 10 multilayer perceptron learns the 8×8 handwritten digits.
//
// Keras-style layers on a TF1 graph: two dense layers with L2 weight decay (which keeps the
// network from memorising the 1,346 training images), Adam, sparse categorical
// cross-entropy; `fit` shows the progress, `evaluate` scores the stratified 25 % hold-out.
// `model.graph` is the TF1 graph underneath (placeholders, variables, Adam's update ops).
//
// With `--distributed`, under `mpirun -np N`, each rank trains on its shard of the training
// set and gradients are averaged over the ranks each step (Horovod's recipe: a
// DistributedOptimizer, rank 0's initial weights broadcast, output from rank 0 only).
import Foundation
import Soma
import SomaDistributed

let distributed = CommandLine.arguments.contains("--distributed")
if distributed {
    do {
        try MPI.initialize()
    } catch let error as SomaError {
        print("example-mlp: \(error.message)")
        exit(1)
    }
    if MPI.isRoot { print("ranks: \(MPI.size)") }
}

let digits = try Dataset.digits().scaled(by: 1.0 / 16)
let (trainSet, testSet) = try digits.stratifiedSplit(testFraction: 0.25, seed: 7)
let stats = trainSet.featureStatistics()
let standardized = trainSet.standardized(mean: stats.mean, std: stats.std)
let train = distributed ? try standardized.shardedForRank() : standardized
let test = testSet.standardized(mean: stats.mean, std: stats.std)

let g = Graph()
g.randomSeed = 42
let model = try Sequential(inputShape: [64], [
    Dense(64, activation: .relu, kernelRegularizer: .l2(3e-4)),
    Dense(10, activation: .softmax, kernelRegularizer: .l2(3e-4)),
], name: "mlp", graph: g)
if MPI.isRoot { print(model.summary()) }
let adam = AdamOptimizer(learningRate: 0.003)
try model.compile(optimizer: distributed ? DistributedOptimizer(wrapping: adam) : adam,
                  loss: .sparseCategoricalCrossentropy(), metrics: [.accuracy])
try model.fit(x: train.features, y: train.labels, batchSize: 32, epochs: 40, seed: 1,
              callbacks: distributed ? [BroadcastGlobalVariables(root: 0)] : [])
let scores = try model.evaluate(x: test.features, y: test.labels)
if MPI.isRoot {
    print("graph: \(model.graph.nodes.count) nodes, \(model.graph.variables.count) variables; \(test.count) test images")
    print("test accuracy: \(String(format: "%.4f", scores["accuracy"]!))")
}
if distributed { MPI.finalize() }
