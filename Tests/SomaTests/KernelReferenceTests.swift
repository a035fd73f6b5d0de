import Foundation
import Testing
@testable import Soma

/// Kernels against naive Swift loops on seeded random data larger than the fixtures.
@Suite struct KernelReferenceTests {

    func random(_ shape: [Int], _ rng: inout SplitMix64) -> Tensor {
        try! Tensor((0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) }, shape: shape)
    }

    func naiveMatmul(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { for p in 0..<k { c[i * n + j] += a[i * k + p] * b[p * n + j] } } }
        return c
    }

    @Test(arguments: [(1, 1, 1), (7, 13, 5), (64, 48, 32), (130, 70, 129)])
    func matmulMatchesNaiveLoop(m: Int, k: Int, n: Int) throws {
        var rng = SplitMix64(seed: UInt64(m * 1000 + k * 10 + n))
        let a = random([m, k], &rng), b = random([k, n], &rng)
        let g = Graph()
        let c = try matmul(g.constant(a), g.constant(b))
        let result = try Session(graph: g).run(c)
        let expected = try Tensor(naiveMatmul(a.scalars(), b.scalars(), m: m, k: k, n: n), shape: [m, n])
        #expect(result.isApproximatelyEqual(to: expected, relativeTolerance: 1e-4, absoluteTolerance: 1e-5))
    }

    @Test func largeBroadcastAndReductionMatchNaiveLoops() throws {
        var rng = SplitMix64(seed: 7)
        let x = random([33, 17, 9], &rng), bias = random([17, 1], &rng)
        let g = Graph()
        let sum = try add(g.constant(x), g.constant(bias))
        let reduced = try reduceSum(sum, axis: [0, 2])
        let r = try Session(graph: g).run(fetches: [sum, reduced])
        let xs = x.scalars(as: Float.self), bs = bias.scalars(as: Float.self)
        var expectedSum = [Float](), expectedReduced = [Double](repeating: 0, count: 17)
        for i in 0..<33 { for j in 0..<17 { for k in 0..<9 {
            let v = xs[(i * 17 + j) * 9 + k] + bs[j]
            expectedSum.append(v)
            expectedReduced[j] += Double(v)
        } } }
        #expect(r[0].scalars(as: Float.self) == expectedSum)
        #expect(r[1].isApproximatelyEqual(to: Tensor(expectedReduced.map { Float($0) }), relativeTolerance: 1e-4, absoluteTolerance: 1e-4))
    }

    /// A sequential float32 accumulator stalls at 2^24; TF's tree reductions do not.
    @Test func floatSumsDoNotStallAt2To24() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil], name: "x")
        let grid = try g.placeholder(.float32, shape: [nil, nil], name: "grid")
        let fetches = [try reduceSum(x), try reduceMean(x), try reduceSum(grid), try reduceSum(grid, axis: [0])]
        let ones = Tensor(repeating: Float(1), shape: [1 << 25])
        let r = try Session(graph: g).run(fetches: fetches, feeds: [x: ones, grid: ones.reshaped(to: [1 << 12, 1 << 13])])
        #expect(r[0].scalars(as: Float.self) == [33_554_432])
        #expect(r[1].scalars(as: Float.self) == [1])
        #expect(r[2].scalars(as: Float.self) == [33_554_432])
        #expect(r[3].scalars(as: Float.self).allSatisfy { $0 == 4096 })
    }

    /// Sums, means and softmax normalisers of 2^20 random values against a float64 loop
    /// (NumPy's float64 sum is the same reference).
    @Test func largeFloatReductionsMatchAFloat64Reference() throws {
        var rng = SplitMix64(seed: 2025)
        let n = 1 << 20
        let values = (0..<n).map { _ in Float.random(in: 0..<1, using: &rng) }
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [n], name: "x")
        let row = try reshape(x, [1, n])
        let r = try Session(graph: g).run(fetches: [try reduceSum(x), try reduceMean(x), try softmax(row), try logSoftmax(row)],
                                          feeds: [x: try Tensor(values, shape: [n])])
        let exact = values.reduce(0.0) { $0 + Double($1) }
        func relativeError(_ a: Float, _ b: Double) -> Double { abs(Double(a) - b) / abs(b) }
        #expect(relativeError(r[0].scalars(as: Float.self)[0], exact) < 1e-6)
        #expect(relativeError(r[1].scalars(as: Float.self)[0], exact / Double(n)) < 1e-6)
        let m = Double(values.max()!)
        let normaliser = values.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) }
        let softmaxValues = r[2].scalars(as: Float.self), logSoftmaxValues = r[3].scalars(as: Float.self)
        for j in stride(from: 0, to: n, by: 4099) {
            let expected = Foundation.exp(Double(values[j]) - m) / normaliser
            #expect(relativeError(softmaxValues[j], expected) < 1e-5)
            #expect(abs(Double(logSoftmaxValues[j]) - Foundation.log(expected)) < 1e-5)
        }
    }
}
