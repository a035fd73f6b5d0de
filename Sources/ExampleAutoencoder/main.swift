// example-autoencoder: a 64 → 32 → 8 → 32 → 64 autoencoder compresses the 8×8 digits to 8
// numbers and reconstructs them.
//
// The network learns to reproduce its input through an 8-unit bottleneck (`fit(x: images,
// y: images)`); its reconstruction error on held-out digits is compared with the best
// constant guess, the training set's mean image.
import Soma

let digits = try Dataset.digits().scaled(by: 1.0 / 16)
let (train, test) = try digits.stratifiedSplit(testFraction: 0.25, seed: 7)

let g = Graph()
g.randomSeed = 42
let images = try g.input(shape: [64], name: "images")
let encoder = [Dense(32, activation: .relu, name: "encoder_1"), Dense(8, name: "code")]
let decoder = [Dense(32, activation: .relu, name: "decoder_1"), Dense(64, activation: .sigmoid, name: "reconstruction")]
let code = try encoder.reduce(images) { try $1($0) }
let reconstruction = try decoder.reduce(code) { try $1($0) }
let autoencoder = try Model(inputs: [images], outputs: [reconstruction], name: "autoencoder")
print(autoencoder.summary())
try autoencoder.compile(optimizer: AdamOptimizer(learningRate: 0.003), loss: .meanSquaredError)
try autoencoder.fit(x: train.features, y: train.features, batchSize: 32, epochs: 150, seed: 1)

// The mean-image baseline: every test image "reconstructed" as the training mean.
let mean = train.featureStatistics().mean
let testPixels = test.features.scalars(as: Float.self)
let baseline = testPixels.enumerated().reduce(0.0) { sum, pixel in
    let error = Double(pixel.element - mean[pixel.offset % 64])
    return sum + error * error
} / Double(testPixels.count)
let mse = try autoencoder.evaluate(x: test.features, y: test.features)["loss"]!
// The 8-number codes are one model away: the encoder half as its own model.
let encode = try Model(inputs: [images], outputs: [code], name: "encoder", session: autoencoder.session)
let firstCode = try encode.predict(test.features.rows([0])).scalars(as: Float.self)
print("code of the first test image: \(firstCode.map { ($0 * 100).rounded() / 100 })")
print(String(format: "mean-image baseline mse: %.5f", baseline))
print(String(format: "test reconstruction mse: %.5f (%.1f%% of the baseline)", mse, 100 * mse / baseline))
