// example-gan: a generative adversarial network learns the classic ring of 8 Gaussians.
//
// A generator maps 2-D noise to points; a discriminator scores points as real or generated.
// Both are Keras-style layers on one TF1 graph, trained in alternation by two Adam
// optimisers, each minimising its own loss over its own variables (`varList`) — TF1's
// GAN recipe. At the end, 2,000 generated points are matched to the nearest mode: a mode is
// covered when at least 2 % of the points land within 3σ of it.
import Foundation
import Soma

let modes = 8, radius = 2.0, sigma = 0.02, noiseSize = 2, batch = 256, steps = 16000

/// Points of the target: a random mode's centre plus N(0, σ²) noise.
var rng = SplitMix64(seed: 5)
@MainActor func normal() -> Double {
    let u = Double.random(in: Double.ulpOfOne..<1, using: &rng), v = Double.random(in: 0..<1, using: &rng)
    return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
}
func centre(_ k: Int) -> (Double, Double) {
    (radius * cos(2 * .pi * Double(k) / Double(modes)), radius * sin(2 * .pi * Double(k) / Double(modes)))
}
@MainActor func realBatch() throws -> Tensor {
    try Tensor((0..<batch).flatMap { _ -> [Float] in
        let (x, y) = centre(Int.random(in: 0..<modes, using: &rng))
        return [Float(x + sigma * normal()), Float(y + sigma * normal())]
    }, shape: [batch, 2])
}
@MainActor func noise(_ n: Int) throws -> Tensor { try Tensor((0..<(n * noiseSize)).map { _ in Float(normal()) }, shape: [n, noiseSize]) }

let g = Graph()
g.randomSeed = 42
let z = try g.input(shape: [noiseSize], name: "z")
let real = try g.input(shape: [2], name: "real")
let generatorLayers = [Dense(128, activation: .relu, name: "generator_1"), Dense(128, activation: .relu, name: "generator_2"),
                       Dense(2, name: "generator_points")]
let discriminatorLayers = [Dense(128, activation: .leakyRelu(alpha: 0.2), name: "discriminator_1"),
                           Dense(128, activation: .leakyRelu(alpha: 0.2), name: "discriminator_2"),
                           Dense(1, name: "discriminator_logit")]
let fake = try generatorLayers.reduce(z) { try $1($0) }
@MainActor func discriminate(_ points: Output) throws -> Output { try discriminatorLayers.reduce(points) { try $1($0) } }
let realLogits = try discriminate(real), fakeLogits = try discriminate(fake)   // one set of weights

// The discriminator wants real → 1, fake → 0; the generator wants its fakes taken as real.
let discriminatorLoss = try Losses.sigmoidCrossEntropy(labels: onesLike(realLogits), logits: realLogits)
    + Losses.sigmoidCrossEntropy(labels: zerosLike(fakeLogits), logits: fakeLogits)
let generatorLoss = try Losses.sigmoidCrossEntropy(labels: onesLike(fakeLogits), logits: fakeLogits)
// The learning rate steps down once the modes are found, sharpening the samples.
let step = try g.globalStep()
let rate = try LearningRateSchedule.piecewiseConstant(globalStep: step, boundaries: [4000, 8000, 12000],
                                                      values: [2e-4, 1e-4, 5e-5, 2e-5])
let trainDiscriminator = try AdamOptimizer(learningRate: rate, beta1: 0.5, name: "AdamD")
    .minimize(discriminatorLoss, varList: discriminatorLayers.flatMap(\.variables))
let trainGenerator = try AdamOptimizer(learningRate: rate, beta1: 0.5, name: "AdamG")
    .minimize(generatorLoss, varList: generatorLayers.flatMap(\.variables), globalStep: step)

let session = Session(graph: g)
try session.run(target: g.globalVariablesInitializer())
let discriminatorStep = try session.makeCallable(feeds: [real, z], fetches: [discriminatorLoss], targets: [trainDiscriminator])
let generatorStep = try session.makeCallable(feeds: [z], fetches: [generatorLoss], targets: [trainGenerator])
let start = Date()
for step in 1...steps {
    let d = try discriminatorStep.run([realBatch(), noise(batch)])[0].scalar(as: Float.self)
    let gl = try generatorStep.run([noise(batch)])[0].scalar(as: Float.self)
    if step % 1000 == 0 { print(String(format: "step %5d  discriminator loss %.4f  generator loss %.4f", step, d, gl)) }
}
print(String(format: "trained %d steps of each network in %.1f s", steps, Date().timeIntervalSince(start)))

// Score 2,000 samples: nearest mode, and whether within 3σ of it.
let samples = try session.run(fake, feeds: [z: noise(2000)]).scalars(as: Float.self)
var perMode = [Int](repeating: 0, count: modes), good = 0
for i in 0..<2000 {
    let (x, y) = (Double(samples[2 * i]), Double(samples[2 * i + 1]))
    let distances = (0..<modes).map { k in hypot(x - centre(k).0, y - centre(k).1) }
    let nearest = distances.indices.min { distances[$0] < distances[$1] }!
    if distances[nearest] <= 3 * sigma {
        good += 1
        perMode[nearest] += 1
    }
}
print("high-quality samples per mode: \(perMode)")
print("modes covered: \(perMode.filter { $0 >= 40 }.count)/\(modes)")
print(String(format: "high-quality samples: %.3f", Double(good) / 2000))
