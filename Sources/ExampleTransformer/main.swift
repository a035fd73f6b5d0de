// example-transformer: an encoder-only transformer learns to sort sequences of 8 digits.
//
// Token and position embeddings, then two encoder blocks — multi-head self-attention and a
// feed-forward network, each with a residual connection and layer normalisation — and a
// softmax over the 10 digits at every position: output i is the i-th smallest input digit.
// Built with the functional model API; scored on held-out sequences, whole sequence exact.
import Soma

let length = 8, vocabulary = 10, width = 64, heads = 4

/// Random digit sequences and their sorted versions.
var rng = SplitMix64(seed: 3)
@MainActor func sequences(_ n: Int) throws -> Dataset {
    let inputs = (0..<n).map { _ in (0..<length).map { _ in Int32.random(in: 0..<Int32(vocabulary), using: &rng) } }
    return try Dataset(features: Tensor(inputs.flatMap { $0 }, shape: [n, length]),
                       labels: Tensor(inputs.flatMap { $0.sorted() }, shape: [n, length]))
}
let train = try sequences(20_000), test = try sequences(2_000)

let g = Graph()
g.randomSeed = 42
let tokens = try g.input(shape: [length], dtype: .int32, name: "tokens")
let positions = try g.constant(Tensor((0..<Int32(length)).map { $0 }, shape: [length]), name: "positions")
var h = try Embedding(inputDim: vocabulary, outputDim: width, name: "token_embedding")(tokens)
    + Embedding(inputDim: length, outputDim: width, name: "position_embedding")(positions)   // [B, 8, 64] + [8, 64]
for _ in 0..<2 {
    let attended = try MultiHeadAttention(numHeads: heads, keyDim: width / heads)([h, h])
    h = try LayerNormalization()(Add()([h, attended]))
    let fed = try Dense(width)(Dense(2 * width, activation: .relu)(h))
    h = try LayerNormalization()(Add()([h, fed]))
}
let probabilities = try Dense(vocabulary, activation: .softmax, name: "digit")(h)   // [B, 8, 10]
let model = try Model(inputs: [tokens], outputs: [probabilities], name: "sorter")
print(model.summary())

// Whole-sequence accuracy as a custom metric: a sequence counts when all 8 outputs are right.
let sequenceAccuracy = Metric(name: "sequence_accuracy", statistics: { labels, probabilities in
    let exact = try cast(reduceAll(equal(argmax(probabilities, axis: -1), cast(labels, to: .int64)), axis: [1]), to: .float64)
    return [try reduceSum(exact), try cast(size(exact), to: .float64)]
}, result: { totals in totals[0][0] / totals[1][0] })
try model.compile(optimizer: AdamOptimizer(learningRate: 0.002), loss: .sparseCategoricalCrossentropy(),
                  metrics: [.accuracy, sequenceAccuracy])
try model.fit(x: train.features, y: train.labels, batchSize: 64, epochs: 4, validationSplit: 0.05, seed: 1)

let scores = try model.evaluate(x: test.features, y: test.labels, batchSize: 256)
print(String(format: "test digit accuracy: %.4f", scores["accuracy"]!))
print(String(format: "test sequence accuracy: %.4f", scores["sequence_accuracy"]!))
