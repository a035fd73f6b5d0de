import Foundation
@testable import Soma

/// Compares `Graph.gradients` with central differences: the full Jacobian of `y = f(xs)`
/// both ways, in float64 or float32.
enum GradientChecker {
    struct Input {
        let values: [Double]
        let shape: [Int]
        init(_ shape: [Int], seed: UInt64, range: ClosedRange<Double> = -2...2) {
            var rng = SplitMix64(seed: seed)
            self.shape = shape
            values = (0..<shape.reduce(1, *)).map { _ in Double.random(in: range, using: &rng) }
        }
        init(_ values: [Double], shape: [Int]) {
            self.values = values
            self.shape = shape
        }
    }

    static func tensor(_ values: [Double], _ shape: [Int], _ dtype: DType) -> Tensor {
        dtype == .float64 ? try! Tensor(values, shape: shape) : try! Tensor(values.map { Float($0) }, shape: shape)
    }

    /// max |J − J_num| over every (output, input) element pair.
    static func maxError(_ dtype: DType, _ inputs: [Input], delta: Double? = nil,
                         _ build: ([Output]) throws -> Output) throws -> Double {
        let g = Graph()
        let xs = try inputs.enumerated().map { try g.placeholder(dtype, shape: TensorShape($1.shape), name: "x\($0)") }
        let y = try build(xs)
        let dy = try g.placeholder(dtype, shape: y.shape, name: "dy")
        let grads = try g.gradients(of: [y], wrt: xs, gradYs: [dy])
        let session = Session(graph: g)
        if !g.variables.isEmpty { try session.run(target: g.globalVariablesInitializer()) }
        var feeds: [Output: Tensor] = [:]
        for (x, input) in zip(xs, inputs) { feeds[x] = tensor(input.values, input.shape, dtype) }
        let yValue = try session.run(y, feeds: feeds)
        let outCount = yValue.scalarCount
        // Analytic rows: J[j, :] = grads with dy = e_j.
        var analytic = Array(repeating: [Double](), count: outCount)
        let connected = grads.enumerated().compactMap { $1 == nil ? nil : $0 }
        for j in 0..<outCount {
            var onehot = [Double](repeating: 0, count: outCount)
            onehot[j] = 1
            var f = feeds
            f[dy] = tensor(onehot, yValue.shape, dtype)
            let values = try session.run(fetches: connected.map { grads[$0]! }, feeds: f)
            var row: [Double] = []
            for (i, input) in inputs.enumerated() {
                if let k = connected.firstIndex(of: i) { row += values[k].doubleScalars() } else { row += [Double](repeating: 0, count: input.values.count) }
            }
            analytic[j] = row
        }
        // Numeric columns.
        let h = delta ?? (dtype == .float64 ? 1e-6 : 1e-3)
        var worst = 0.0, column = 0
        for (i, input) in inputs.enumerated() {
            for k in 0..<input.values.count {
                var plus = input.values, minus = input.values
                plus[k] += h
                minus[k] -= h
                var fp = feeds, fm = feeds
                fp[xs[i]] = tensor(plus, input.shape, dtype)
                fm[xs[i]] = tensor(minus, input.shape, dtype)
                let yp = try session.run(y, feeds: fp).doubleScalars(), ym = try session.run(y, feeds: fm).doubleScalars()
                for j in 0..<outCount {
                    let numeric = (yp[j] - ym[j]) / (2 * h)
                    worst = Swift.max(worst, Swift.abs(numeric - analytic[j][column]))
                }
                column += 1
            }
        }
        return worst
    }
}
