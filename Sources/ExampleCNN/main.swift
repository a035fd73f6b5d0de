// example-cnn: a small convolutional network learns the 8×8 handwritten digits.
//
// [N, 64] → [N, 8, 8, 1] → conv 3×3×16 SAME + batch norm + ReLU → max-pool 2 → conv 3×3×32
// SAME + batch norm + ReLU → max-pool 2 → flatten [N, 128] → dense 64 + ReLU → dropout 0.3 →
// dense 10 + softmax, trained with Adam on a stratified 75 % of the images. One graph trains
// and evaluates: Keras' learning phase switches batch norm and dropout, and `fit` also runs
// batch norm's moving-average updates.
import Soma

let digits = try Dataset.digits().scaled(by: 1.0 / 16)
let (train, test) = try digits.stratifiedSplit(testFraction: 0.25, seed: 7)

let g = Graph()
g.randomSeed = 42
let model = try Sequential(inputShape: [64], [
    Reshape([8, 8, 1]),
    Conv2D(16, kernelSize: (3, 3), padding: .same, useBias: false, kernelInitializer: .heNormal),
    BatchNormalization(),
    Activation(.relu),
    MaxPool2D(),
    Conv2D(32, kernelSize: (3, 3), padding: .same, useBias: false, kernelInitializer: .heNormal),
    BatchNormalization(),
    Activation(.relu),
    MaxPool2D(),
    Flatten(),
    Dense(64, activation: .relu, kernelInitializer: .heNormal),
    Dropout(0.3),
    Dense(10, activation: .softmax),
], name: "cnn", graph: g)
print(model.summary())
try model.compile(optimizer: AdamOptimizer(learningRate: 0.002), loss: .sparseCategoricalCrossentropy(), metrics: [.accuracy])
// Step decay: the learning rate halves every 8 epochs, settling the last epochs.
let decay = LearningRateScheduler { epoch, rate in epoch > 0 && epoch % 8 == 0 ? rate / 2 : rate }
try model.fit(x: train.features, y: train.labels, batchSize: 32, epochs: 30, seed: 1, callbacks: [decay])
let scores = try model.evaluate(x: test.features, y: test.labels)
print("\(train.count) training images; \(test.count) test images")
print("test accuracy: \(String(format: "%.4f", scores["accuracy"]!))")
