// The main job: the whole life of a model in under a minute, on data the package ships.
//
// A small CNN is built from Keras-style layers over the 8×8 handwritten digits, shown with
// `summary()`, trained with `fit` (progress bar, validation), evaluated, saved as a
// TensorFlow SavedModel and reloaded in a fresh graph, which must predict identically;
// then the compiled inference plan's memory and latency. Underneath it is one TF1 graph
// (`model.graph`) run by a Soma session (`model.session`).
import Foundation
import Soma

let digits = try Dataset.digits().scaled(by: 1.0 / 16)
let (train, test) = try digits.stratifiedSplit(testFraction: 0.25, seed: 7)
let (trainX, trainY) = train.tensors, (testX, testY) = test.tensors
print("digits: \(train.count) training and \(test.count) test images of 8×8 pixels, 10 classes\n")

let g = Graph()
g.randomSeed = 42
let model = try Sequential(inputShape: [64], [
    Reshape([8, 8, 1]),
    Conv2D(16, kernelSize: (3, 3), padding: .same, useBias: false),
    BatchNormalization(),
    Activation(.relu),
    MaxPool2D(),
    Conv2D(32, kernelSize: (3, 3), padding: .same, activation: .relu),
    MaxPool2D(),
    Flatten(),
    Dense(64, activation: .relu),
    Dropout(0.3),
    Dense(10, activation: .softmax),
], name: "digits_cnn", graph: g)
print(model.summary(), "\n")

try model.compile(optimizer: AdamOptimizer(learningRate: 0.002), loss: .sparseCategoricalCrossentropy(),
                  metrics: [.accuracy])
let start = Date()
// Adam with a step decay: the learning rate halves every 6 epochs.
let decay = LearningRateScheduler { epoch, rate in epoch > 0 && epoch % 6 == 0 ? rate / 2 : rate }
try model.fit(x: trainX, y: trainY, batchSize: 32, epochs: 20, validationSplit: 0.1, seed: 1, callbacks: [decay])
print(String(format: "trained in %.1f s\n", Date().timeIntervalSince(start)))

let scores = try model.evaluate(x: testX, y: testY)
print(String(format: "evaluate: loss %.4f, accuracy %.4f", scores["loss"]!, scores["accuracy"]!))

// Save as a SavedModel, reload into a new graph and session, compare predictions.
let folder = FileManager.default.temporaryDirectory.appendingPathComponent("soma-demo-\(getpid())")
defer { try? FileManager.default.removeItem(at: folder) }
try model.save(to: folder)
let reloaded = try Model.load(from: folder)
let before = try model.predict(testX), after = try reloaded.predict(testX)
let identical = before == after
print("saved to a SavedModel and reloaded in a fresh graph: predictions \(identical ? "identical" : "DIFFER")"
      + " on all \(test.count) test images")

// The compiled inference plan of the reloaded model, and its latency on one batch of 32.
let batch = try testX.rows(Array(0..<32))
let input = reloaded.inputs[0], output = reloaded.outputs[0]
if let plan = try reloaded.session.plan(fetches: [output], feeds: [input: batch]) {
    print(String(format: "inference plan: %d steps, arena %.1f KiB (lower bound %.1f KiB, %.1f KiB without reuse)",
                 plan.steps.count, Double(plan.arenaBytes) / 1024, Double(plan.lowerBoundBytes) / 1024,
                 Double(plan.noReuseBytes) / 1024))
}
let infer = try reloaded.session.makeCallable(feeds: [input], fetches: [output])
let result = Tensor(zeros: .float32, shape: [32, 10])
var times: [Double] = []
for _ in 0..<200 {
    let t0 = Date()
    try infer.run([batch], into: [result])
    times.append(Date().timeIntervalSince(t0))
}
times.sort()
print(String(format: "inference latency, batch of 32: median %.3f ms, p90 %.3f ms", times[100] * 1e3, times[180] * 1e3))
print(String(format: "test accuracy: %.4f", scores["accuracy"]!))
if !identical { exit(1) }
