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
}
