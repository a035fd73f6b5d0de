import Testing
@testable import Soma

/// Seeded random graphs run with every pass on, with every pass off, and by the reference
/// executor: results must be identical (bitwise, with −0 = +0 and NaN = NaN — fusion here
/// never reorders floating-point work, so no ulp allowance is needed).
@Suite struct DifferentialTests {
    struct Generator {
        var rng: SplitMix64
        let g = Graph()
        var values: [Output] = []
        var feeds: [Output: Tensor] = [:]

        init(seed: UInt64) { rng = SplitMix64(seed: seed) }

        mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
        mutating func pick() -> Output { values[int(0...values.count - 1)] }
        mutating func tensor(_ shape: [Int]) -> Tensor {
            try! Tensor((0..<shape.reduce(1, *)).map { _ in Float.random(in: -2...2, using: &rng) }, shape: shape)
        }

        /// A second operand for `x`: same shape, a trailing-axis vector, or a scalar.
        mutating func partner(for x: Output) throws -> Output {
            let dims = x.shape.concrete!
            switch int(0...3) {
            case 0: return try g.constant(tensor([]))
            case 1 where !dims.isEmpty: return try g.constant(tensor([dims.last!]))
            default:
                if let same = values.filter({ $0.shape == x.shape && $0 != x }).first, int(0...1) == 0 { return same }
                return try g.constant(tensor(dims))
            }
        }

        mutating func step() throws {
            let x = pick()
            let dims = x.shape.concrete!
            let unary: [(Output) throws -> Output] = [
                { try exp($0) }, { try relu($0) }, { try tanh($0) }, { try sigmoid($0) }, { try square($0) },
                { try negative($0) }, { try abs($0) }, { try elu($0) }, { try softplus($0) }, { try leakyRelu($0, alpha: 0.1) },
                { try identity($0) }, { try $0 * 1 }, { try $0 + 0 }, { try negative(negative($0)) }, { try cast($0, to: .float32) },
                { try sqrt(abs($0)) }, { try log1p(abs($0)) }, { try relu6($0 * 3) }, { try round($0) },
            ]
            switch int(0...9) {
            case 0...3:
                values.append(try unary[int(0...unary.count - 1)](x))
            case 4, 5:
                let y = try partner(for: x)
                let ops: [(Output, Output) throws -> Output] = [
                    { try $0 + $1 }, { try $0 - $1 }, { try $0 * $1 }, { try maximum($0, $1) }, { try minimum($0, $1) },
                    { try squaredDifference($0, $1) }, { try $0 / (abs($1) + 1) },
                ]
                values.append(try ops[int(0...ops.count - 1)](x, y))
            case 6 where dims.count == 2:
                let n = int(1...6)
                var h = try matmul(x, g.constant(tensor([dims[1], n])), transposeB: false)
                if int(0...1) == 0 { h = try biasAdd(h, g.constant(tensor([n]))) }
                if int(0...1) == 0 { h = try [relu, tanh, sigmoid, relu6][int(0...3)](h, nil, #fileID, #line) }
                values.append(h)
            case 7 where !dims.isEmpty:
                let axis = int(0...dims.count - 1)
                let reductions: [(Output) throws -> Output] = [
                    { try reduceSum($0, axis: [axis], keepDims: true) }, { try reduceMean($0, axis: [axis]) },
                    { try reduceMax($0, axis: [axis], keepDims: true) },
                ]
                values.append(try reductions[int(0...2)](x))
            case 8 where dims.count == 2:
                values.append(int(0...1) == 0 ? try transpose(x) : try reshape(reshape(x, [-1]), dims))
            case 9 where dims.count == 2:
                values.append(int(0...1) == 0 ? try softmax(x) : try concat([x, x * 2], axis: int(0...1)))
            default:
                // Constant subexpressions, for folding.
                values.append(try x + exp(g.constant(tensor([])) * 0.5))
            }
        }
    }

    /// The random graph for `seed`, its feeds and fetches.
    static func graph(seed: Int) throws -> (Generator, [Output]) {
        var gen = Generator(seed: UInt64(seed) &* 7919 &+ 1)
        for i in 0..<gen.int(1...2) {
            let shape = [gen.int(1...4), gen.int(1...5)]
            let p = try gen.g.placeholder(.float32, shape: TensorShape(shape), name: "in\(i)")
            gen.feeds[p] = gen.tensor(shape)
            gen.values.append(p)
        }
        for _ in 0..<gen.int(6...24) { try gen.step() }
        var fetches = [gen.values.last!]
        for _ in 0..<gen.int(0...2) { fetches.append(gen.pick()) }
        return (gen, fetches)
    }

    @Test func theGraphsExerciseEveryPass() throws {
        var fused = 0, fusedMatMul = 0, removed = 0
        for seed in 0..<200 {
            let (gen, fetches) = try Self.graph(seed: seed)
            let plan = try #require(try Session(graph: gen.g).plan(fetches: fetches, feeds: gen.feeds))
            fused += plan.steps.filter { $0.op == "_SomaFusedElementwise" }.count
            fusedMatMul += plan.steps.filter { $0.op == "_FusedMatMul" }.count
            removed += plan.passReports.reduce(0) { $0 - Swift.min($1.delta, 0) }
        }
        #expect(fused >= 80 && fusedMatMul >= 20 && removed >= 400, "\(fused) fused loops, \(fusedMatMul) fused matmuls, \(removed) nodes removed")
    }

    @Test(arguments: 0..<200)
    func optimisedPlansMatchTheReference(seed: Int) throws {
        let (gen, fetches) = try Self.graph(seed: seed)
        let r = try CompilerTests.results(gen.g, fetches, feeds: gen.feeds)
        for i in fetches.indices {
            #expect(CompilerTests.identical(r.reference[i], r.unoptimized[i]), "seed \(seed): unoptimised differs at \(fetches[i].name)")
            #expect(CompilerTests.identical(r.reference[i], r.optimized[i]),
                    "seed \(seed): optimised differs at \(fetches[i].name): \(r.optimized[i]) vs \(r.reference[i])")
            // Folding a scale into weights changes rounding only.
            #expect(r.folded[i].isApproximatelyEqual(to: r.reference[i], relativeTolerance: 1e-4, absoluteTolerance: 1e-4),
                    "seed \(seed): folded differs at \(fetches[i].name): \(r.folded[i]) vs \(r.reference[i])")
        }
    }
}
