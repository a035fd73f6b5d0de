// example-forecast: an LSTM predicts the next value of a time series from the previous 24,
// and its test error is compared with the naive forecast "the next value equals the last".
//
// The series (built-in, seeded): two seasonal cycles (periods 24 and 68), a slow trend and
// noise, 2,000 points; windows from the first 80 % train, the last 20 % test (the future).
import Foundation
import Soma

let window = 24

var rng = SplitMix64(seed: 11)
let series: [Float] = (0..<2000).map { t in
    let s = Float(t)
    return sin(2 * .pi * s / 24) + 0.5 * sin(2 * .pi * s / 68) + 0.0004 * s + Float.random(in: -0.1...0.1, using: &rng)
}
// Windows [t, t + 24) → value t + 24, as a data set of [n, 24, 1] inputs and [n, 1] targets.
let starts = Array(0..<(series.count - window))
let windows = try Dataset(features: Tensor(starts.flatMap { series[$0..<($0 + window)] }, shape: [starts.count, window, 1]),
                          labels: Tensor(starts.map { series[$0 + window] }, shape: [starts.count, 1]))
let cut = Int(Double(starts.count) * 0.8)
let train = try windows.subset(Array(0..<cut)), test = try windows.subset(Array(cut..<starts.count))

let g = Graph()
g.randomSeed = 42
let model = try Sequential(inputShape: [window, 1], [LSTM(32), Dense(1)], name: "forecast", graph: g)
try model.compile(optimizer: AdamOptimizer(learningRate: 0.005), loss: .meanSquaredError, metrics: [.meanAbsoluteError])
try model.fit(x: train.features, y: train.labels, batchSize: 32, epochs: 25, seed: 1)

let predicted = try model.predict(test.features).scalars(as: Float.self)
let actual = test.labels.scalars(as: Float.self)
let last = (cut..<starts.count).map { series[starts[$0] + window - 1] }
func rmse(_ guesses: [Float]) -> Double {
    (zip(guesses, actual).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +) / Double(actual.count)).squareRoot()
}
print("\(train.count) training windows, \(test.count) test windows")
print(String(format: "naive last-value baseline test RMSE: %.4f", rmse(last)))
print(String(format: "LSTM test RMSE: %.4f (%.1f%% of the baseline's)", rmse(predicted), 100 * rmse(predicted) / rmse(last)))
