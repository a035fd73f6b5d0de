// example-rnn: an LSTM reads each 8×8 digit image row by row — 8 time steps of 8 pixels —
// and classifies it from its last hidden state.
//
// [N, 64] → [N, 8, 8] (steps, features) → LSTM 64 (Keras' layout; the input projection for
// all steps is one GEMM) → dense 10 + softmax, trained with Adam on a stratified 75 % of the
// images.
import Soma

let digits = try Dataset.digits().scaled(by: 1.0 / 16)
let (train, test) = try digits.stratifiedSplit(testFraction: 0.25, seed: 7)

let g = Graph()
g.randomSeed = 42
let model = try Sequential(inputShape: [64], [
    Reshape([8, 8]),
    LSTM(64),
    Dense(10, activation: .softmax),
], name: "rnn", graph: g)
print(model.summary())
try model.compile(optimizer: AdamOptimizer(learningRate: 0.005), loss: .sparseCategoricalCrossentropy(), metrics: [.accuracy])
try model.fit(x: train.features, y: train.labels, batchSize: 32, epochs: 30, seed: 1)
let scores = try model.evaluate(x: test.features, y: test.labels)
print("\(train.count) training images; \(test.count) test images")
print("test accuracy: \(String(format: "%.4f", scores["accuracy"]!))")
