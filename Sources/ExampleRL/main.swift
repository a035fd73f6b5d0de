// example-rl: REINFORCE (the policy-gradient method) learns to balance CartPole.
//
// The classic cart-pole dynamics (Barto, Sutton & Anderson, 1983, as in OpenAI Gym's
// CartPole-v0: episodes end when the pole passes 12°, the cart leaves ±2.4, or after 200
// steps) are written in Swift. A policy network (layers) gives the probabilities of
// pushing left or right; after each episode, one Adam step raises the log-probability of
// each action taken in proportion to the standardised discounted return that followed it —
// the TF1 way: a sparse softmax cross-entropy weighted by the returns, minimised. Training
// stops when the last 100 episodes average 195 or more (Gym's "solved").
import Foundation
import Soma

/// CartPole-v0's physics, Euler-integrated every 0.02 s.
struct CartPole {
    var x = 0.0, velocity = 0.0, angle = 0.0, angularVelocity = 0.0
    static let gravity = 9.8, cartMass = 1.0, poleMass = 0.1, halfLength = 0.5, force = 10.0, tau = 0.02

    init(rng: inout SplitMix64) {
        func small() -> Double { Double.random(in: -0.05...0.05, using: &rng) }
        (x, velocity, angle, angularVelocity) = (small(), small(), small(), small())
    }

    var observation: [Float] { [Float(x), Float(velocity), Float(angle), Float(angularVelocity)] }
    var failed: Bool { abs(x) > 2.4 || abs(angle) > 12 * 2 * .pi / 360 }

    /// Pushes left (0) or right (1) for one time step.
    mutating func step(_ action: Int) {
        let f = action == 1 ? Self.force : -Self.force
        let total = Self.cartMass + Self.poleMass, poleMoment = Self.poleMass * Self.halfLength
        let (cosA, sinA) = (cos(angle), sin(angle))
        let temp = (f + poleMoment * angularVelocity * angularVelocity * sinA) / total
        let angular = (Self.gravity * sinA - cosA * temp) / (Self.halfLength * (4.0 / 3.0 - Self.poleMass * cosA * cosA / total))
        let linear = temp - poleMoment * angular * cosA / total
        x += Self.tau * velocity
        velocity += Self.tau * linear
        angle += Self.tau * angularVelocity
        angularVelocity += Self.tau * angular
    }
}

let g = Graph()
g.randomSeed = 42
let states = try g.input(shape: [4], name: "states")
let logits = try Dense(2, name: "logits")(Dense(32, activation: .relu, name: "hidden")(states))
let policy = try Model(inputs: [states], outputs: [softmax(logits, name: "action_probabilities")], name: "policy")
// REINFORCE's loss: −mean(log π(aₜ|sₜ) · Gₜ), a return-weighted cross-entropy on the logits.
let actions = try g.placeholder(.int64, shape: [nil], name: "actions")
let returns = try g.placeholder(.float32, shape: [nil], name: "returns")
let loss = try Losses.sparseSoftmaxCrossEntropy(labels: actions, logits: logits, weights: returns, reduction: .sumOverBatchSize)
let train = try AdamOptimizer(learningRate: 0.01).minimize(loss)
try policy.initializeIfNeeded()
let act = try policy.session.makeCallable(feeds: [states], fetches: [policy.outputs[0]])
let learn = try policy.session.makeCallable(feeds: [states, actions, returns], fetches: [], targets: [train])

var rng = SplitMix64(seed: 7)
var recent: [Double] = [], episode = 0
let start = Date()
while episode < 3000 {
    episode += 1
    var pole = CartPole(rng: &rng)
    var observed: [Float] = [], taken: [Int64] = []
    while taken.count < 200 {
        let p = try act.run([Tensor(pole.observation, shape: [1, 4])])[0].scalars(as: Float.self)
        let action = Float.random(in: 0..<1, using: &rng) < p[0] ? 0 : 1
        observed += pole.observation
        taken.append(Int64(action))
        pole.step(action)
        if pole.failed { break }
    }
    // Reward 1 per step; discounted returns-to-go (γ = 0.99), standardised.
    var g = 0.0
    var discounted = [Double](repeating: 0, count: taken.count)
    for t in stride(from: taken.count - 1, through: 0, by: -1) { g = 1 + 0.99 * g; discounted[t] = g }
    let mean = discounted.reduce(0, +) / Double(discounted.count)
    let std = (discounted.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(discounted.count)).squareRoot()
    let weights = discounted.map { Float(($0 - mean) / (std + 1e-8)) }
    let n = taken.count
    _ = try learn.run([Tensor(observed, shape: [n, 4]), Tensor(taken, shape: [n]), Tensor(weights, shape: [n])])

    recent.append(Double(taken.count))
    if recent.count > 100 { recent.removeFirst() }
    let average = recent.reduce(0, +) / Double(recent.count)
    if episode % 100 == 0 { print(String(format: "episode %4d  average return over last 100: %.1f", episode, average)) }
    if recent.count == 100 && average >= 195 { break }
}
print(String(format: "%d episodes in %.1f s", episode, Date().timeIntervalSince(start)))
print(String(format: "average return over last 100 episodes: %.1f", recent.reduce(0, +) / Double(recent.count)))
