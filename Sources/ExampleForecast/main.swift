// example-forecast: an LSTM predicts the next value of a time series from the previous 24,
// and its test error is compared with the naive forecast "the next value equals the last".
//
// The series (built-in, seeded): two seasonal cycles (periods 24 and 68), a slow trend and
// noise, 2,000 points; windows from the first 80 % train, the last 20 % test.
import Foundation
import Soma

let window = 24, units = 32, epochs = 25, batchSize = 32

var rng = SplitMix64(seed: 11)
let series: [Float] = (0..<2000).map { t in
    let s = Float(t)
    return sin(2 * .pi * s / 24) + 0.5 * sin(2 * .pi * s / 68) + 0.0004 * s + Float.random(in: -0.1...0.1, using: &rng)
}
// Windows [t, t + 24) → value t + 24; the split is by time, so the test set is the future.
let starts = Array(0..<(series.count - window))
let cut = Int(Double(starts.count) * 0.8)
func tensors(_ indices: ArraySlice<Int>) throws -> (x: Tensor, y: Tensor, last: [Float]) {
    let x = indices.flatMap { series[$0..<($0 + window)] }
    let y = indices.map { series[$0 + window] }
    return (try Tensor(x, shape: [indices.count, window, 1]), try Tensor(y, shape: [indices.count, 1]),
            indices.map { series[$0 + window - 1] })
}

let g = Graph()
g.randomSeed = 42
let x = try g.placeholder(.float32, shape: [nil, window, 1], name: "x")
let y = try g.placeholder(.float32, shape: [nil, 1], name: "y")
let cell = try LSTMCell(g, inputSize: 1, units: units, name: "lstm")
let (outputs, _) = try unroll(cell, over: x, steps: window)
let kernel = try g.variable("out/kernel", shape: [units, 1], initializer: .glorotUniform)
let bias = try g.variable("out/bias", shape: [1], initializer: .zeros)
let prediction = try biasAdd(matmul(outputs.last!, kernel.value), bias.value, name: "prediction")
let loss = try Losses.meanSquaredError(labels: y, predictions: prediction)
let trainOp = try AdamOptimizer(learningRate: 0.005).minimize(loss)

let session = Session(graph: g)
try session.run(target: g.globalVariablesInitializer())
let step = try session.makeCallable(feeds: [x, y], fetches: [loss], targets: [trainOp])
let lossValue = Tensor(zeros: .float32, shape: [])
var order = Array(starts[..<cut])
let start = Date()
for epoch in 1...epochs {
    order.shuffle(using: &rng)
    var total = 0.0, batches = 0
    for b in Swift.stride(from: 0, to: order.count, by: batchSize) {
        let batch = try tensors(order[b..<Swift.min(b + batchSize, order.count)])
        try step.run([batch.x, batch.y], into: [lossValue])
        total += Double(lossValue.scalar(as: Float.self))
        batches += 1
    }
    print(String(format: "epoch %2d  training MSE %.5f", epoch, total / Double(batches)))
}
let test = try tensors(starts[cut...])
let predicted = try session.run(prediction, feeds: [x: test.x]).scalars(as: Float.self)
let actual = test.y.scalars(as: Float.self)
func rmse(_ guesses: [Float]) -> Double {
    (zip(guesses, actual).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +) / Double(actual.count)).squareRoot()
}
print(String(format: "trained in %.2f s; %d training windows, %d test windows", Date().timeIntervalSince(start), cut, actual.count))
print(String(format: "naive last-value baseline test RMSE: %.4f", rmse(test.last)))
print(String(format: "LSTM test RMSE: %.4f (%.1f%% of the baseline's)", rmse(predicted), 100 * rmse(predicted) / rmse(test.last)))
