import Foundation
import Testing
@testable import Soma

/// `cond` and `whileLoop`: results against plain Swift, gradients against central
/// differences, plans with loops as single steps, GraphDef round trips.
@Suite struct ControlFlowTests {
    @Test func condTakesOneBranchWithCapturedValues() throws {
        let g = Graph()
        let p = try g.placeholder(.bool, shape: .scalar, name: "p")
        let x = try g.placeholder(.float32, shape: [3], name: "x")
        let w = try g.constant([Float(1), 2, 3], shape: [3], name: "w")
        let y = try cond(p, then: { try multiply(x, w) }, else: { try subtract(x, g.constant(Float(1))) })
        #expect(y.shape == TensorShape([3]))
        #expect(y.node.op == "StatelessIf")
        let session = Session(graph: g)
        let xs = try Tensor([Float(1), 1, 2], shape: [3])
        #expect(try session.run(y, feeds: [p: Tensor(true), x: xs]).scalars(as: Float.self) == [1, 2, 6])
        #expect(try session.run(y, feeds: [p: Tensor(false), x: xs]).scalars(as: Float.self) == [0, 0, 1])
        // The reference executor agrees.
        var options = SessionOptions()
        options.useCompiler = false
        let reference = Session(graph: g, options: options)
        #expect(try reference.run(y, feeds: [p: Tensor(true), x: xs]).scalars(as: Float.self) == [1, 2, 6])
    }

    @Test func condBranchesThatDisagreeFail() throws {
        let g = Graph()
        let p = try g.placeholder(.bool, shape: .scalar)
        #expect(throws: SomaError.self) {
            _ = try cond(p, then: { [try g.constant(Float(1))] }, else: { [try g.constant(Int32(1))] })
        }
    }

    @Test func whileLoopSumsAndCounts() throws {
        let g = Graph()
        let n = try g.placeholder(.int32, shape: .scalar, name: "n")
        let zero = try g.constant(Int32(0)), one = try g.constant(Int32(1))
        let out = try whileLoop(
            cond: { v in try less(v[0], n) },
            body: { v in [try add(v[0], one), try add(v[1], v[0])] },
            loopVars: [zero, zero])
        let session = Session(graph: g)
        for count in [0, 1, 10, 100] {
            let r = try session.run(fetches: out, feeds: [n: Tensor(Int32(count))])
            #expect(r[0].scalar(as: Int32.self) == Int32(count))
            #expect(r[1].scalar(as: Int32.self) == Int32(count * (count - 1) / 2))
        }
        // One step in the outer plan.
        let plan = try #require(try session.plan(fetches: out, feeds: [n: Tensor(Int32(3))]))
        #expect(plan.steps.filter { $0.op == "StatelessWhile" }.count == 1)
    }

    @Test func whileLoopStopsAtMaximumIterations() throws {
        let g = Graph()
        let x = try g.constant(Float(1))
        let out = try whileLoop(cond: { _ in try g.constant(true) }, body: { v in [try multiply(v[0], g.constant(Float(2)))] },
                                loopVars: [x], maximumIterations: g.constant(Int32(5)))
        #expect(try Session(graph: g).run(out[0]).scalar(as: Float.self) == 32)
    }

    @Test func whileLoopShapeChangesNeedAnInvariant() throws {
        let g = Graph()
        let x = try g.constant([Float(1)], shape: [1])
        #expect(throws: SomaError.self) {
            _ = try whileLoop(cond: { v in try less(size(v[0]), g.constant(Int32(4))) },
                              body: { v in [try concat([v[0], v[0]], axis: 0)] }, loopVars: [x])
        }
        let out = try whileLoop(cond: { v in try less(size(v[0]), g.constant(Int32(4))) },
                                body: { v in [try concat([v[0], v[0]], axis: 0)] }, loopVars: [x], shapeInvariants: [[nil]])
        #expect(try Session(graph: g).run(out[0]).scalars(as: Float.self) == [1, 1, 1, 1])
    }

    @Test func loopIterationsCountAgainstTheMemoryBudget() throws {
        // A vector that doubles every iteration, forever: the budget stops it.
        let g = Graph()
        let x = try g.constant([Float(1)], shape: [1])
        let out = try whileLoop(cond: { _ in try g.constant(true) }, body: { v in [try concat([v[0], v[0]], axis: 0)] },
                                loopVars: [x], shapeInvariants: [[nil]])
        var options = SessionOptions()
        options.memoryBudget = MemoryBudget(limit: 1 << 20)
        let s = Session(graph: g, options: options)
        do {
            _ = try s.run(out[0])
            Issue.record("an unbounded loop finished")
        } catch let error as SomaError {
            #expect(error.code == .resourceExhausted && error.message.contains("while"), "\(error.message)")
        }
        // What the loop held is given back (pooled plan arenas of a few bytes stay), and the session still runs.
        #expect(options.memoryBudget.bytesInUse < 4096, "\(options.memoryBudget)")
        #expect(try s.run(x).scalars(as: Float.self) == [1])
    }

    @Test func nestedLoopsAndConds() throws {
        let g = Graph()
        let n = try g.placeholder(.int32, shape: .scalar, name: "n")
        let zero = try g.constant(Int32(0)), one = try g.constant(Int32(1))
        // Σ_{i<n} Σ_{j<i} (j even ? j : 0)
        let out = try whileLoop(cond: { v in try less(v[0], n) }, body: { v in
            let inner = try whileLoop(cond: { w in try less(w[0], v[0]) }, body: { w in
                let even = try equal(floorMod(w[0], g.constant(Int32(2))), zero)
                let term = try cond(even, then: { w[0] }, else: { zero })
                return [try add(w[0], one), try add(w[1], term)]
            }, loopVars: [zero, v[1]])
            return [try add(v[0], one), inner[1]]
        }, loopVars: [zero, zero])
        var expected = 0
        for i in 0..<7 { for j in 0..<i where j % 2 == 0 { expected += j } }
        #expect(try Session(graph: g).run(out[1], feeds: [n: Tensor(Int32(7))]).scalar(as: Int32.self) == Int32(expected))
    }

    @Test func condGradientMatchesFiniteDifferences() throws {
        for taken in [true, false] {
            let error = try GradientChecker.maxError(.float64, [.init([3], seed: 1), .init([3], seed: 2)]) { xs in
                let p = try xs[0].graph.constant(taken)
                return try cond(p, then: { try multiply(xs[0], tanh(xs[1])) }, else: { try square(xs[0]) })
            }
            #expect(error < 1e-6)
        }
    }

    @Test func whileGradientMatchesFiniteDifferences() throws {
        // x ← tanh(x · w + b) three times, w and b captured: gradients for x, w and b.
        let error = try GradientChecker.maxError(.float64, [.init([2, 3], seed: 3), .init([3, 3], seed: 4), .init([3], seed: 5)]) { xs in
            let g = xs[0].graph
            let out = try whileLoop(cond: { v in try less(v[0], g.constant(Int32(3))) }, body: { v in
                [try add(v[0], g.constant(Int32(1))), try tanh(add(matmul(v[1], xs[1]), xs[2]))]
            }, loopVars: [try g.constant(Int32(0)), xs[0]])
            return out[1]
        }
        #expect(error < 1e-6)
        // Zero iterations: the gradient is the identity for the loop variable, zero for captures.
        let none = try GradientChecker.maxError(.float64, [.init([2], seed: 6), .init([2], seed: 7)]) { xs in
            let g = xs[0].graph
            return try whileLoop(cond: { _ in try g.constant(false) }, body: { v in [try multiply(v[0], xs[1])] }, loopVars: [xs[0]])[0]
        }
        #expect(none < 1e-9)
    }

    @Test func aDifferentiatedLoopRunsOnceForward() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [3], name: "x")
        let y = try whileLoop(cond: { v in try less(v[0], g.constant(Int32(4))) },
                              body: { v in [try add(v[0], g.constant(Int32(1))), try tanh(v[1])] },
                              loopVars: [try g.constant(Int32(0)), x])[1]
        let loss = try reduceSum(y)
        let dx = try #require(try g.gradients(of: loss, wrt: [x])[0])
        let s = Session(graph: g)
        let feeds = [x: try Tensor([Float(0.1), 0.5, 1], shape: [3])]
        let plan = try #require(try s.plan(fetches: [loss, dx], feeds: feeds))
        // The forward loop's consumers read the accumulating loop: one forward, one gradient loop.
        #expect(plan.steps.filter { $0.op == "StatelessWhile" }.count == 2, "\(plan.listing)")
        var options = SessionOptions()
        options.compileOptions = CompileOptions(disabledPasses: [LoopAccumulatorSharing.name])
        let unshared = Session(graph: g, options: options)
        #expect(try unshared.plan(fetches: [loss, dx], feeds: feeds)!.steps.filter { $0.op == "StatelessWhile" }.count == 3)
        #expect(try s.run(fetches: [loss, dx], feeds: feeds).map { $0.scalars(as: Float.self) }
                == unshared.run(fetches: [loss, dx], feeds: feeds).map { $0.scalars(as: Float.self) })
    }

    @Test func nestedWhileGradient() throws {
        let error = try GradientChecker.maxError(.float64, [.init([2], seed: 8), .init([2], seed: 9)]) { xs in
            let g = xs[0].graph
            let two = try g.constant(Int32(2)), one = try g.constant(Int32(1))
            let out = try whileLoop(cond: { v in try less(v[0], two) }, body: { v in
                let inner = try whileLoop(cond: { w in try less(w[0], two) }, body: { w in
                    [try add(w[0], one), try tanh(multiply(w[1], xs[1]))]
                }, loopVars: [try g.constant(Int32(0)), v[1]])
                return [try add(v[0], one), try cond(greater(v[0], g.constant(Int32(0))), then: { try square(inner[1]) }, else: { inner[1] })]
            }, loopVars: [try g.constant(Int32(0)), xs[0]])
            return out[1]
        }
        #expect(error < 1e-6)
    }

    @Test func switchCaseRunsTheChosenBranch() throws {
        let g = Graph()
        let i = try g.placeholder(.int32, shape: .scalar, name: "i")
        let x = try g.constant([Float(1), 2], shape: [2])
        let y = try switchCase(i, branches: [{ [try multiply(x, x)] }, { [try negative(x)] }, { [x] }])[0]
        #expect(y.node.op == "StatelessCase")
        let s = Session(graph: g)
        for (index, expected) in [(0, [Float(1), 4]), (1, [-1, -2]), (2, [1, 2]), (7, [1, 2]), (-1, [1, 2])] {
            #expect(try s.run(y, feeds: [i: Tensor(Int32(index))]).scalars(as: Float.self) == expected, "index \(index)")
        }
    }

    @Test func listsAndOptionalsKeepTFsRules() throws {
        let g = Graph()
        let n = try g.placeholder(.int32, shape: .scalar, name: "n")
        let list = try g.output("TensorListReserve", [listShapeTensor(g, [2]), n], attrs: ["element_dtype": .type(.float32)],
                                name: nil, file: "", line: 0)
        let item = try g.output("TensorListGetItem", [list, g.constant(Int32(1)), listShapeTensor(g, [2])],
                                attrs: ["element_dtype": .type(.float32)], name: nil, file: "", line: 0)
        let length = try g.output("TensorListLength", [list], name: nil, file: "", line: 0)
        let shape = try g.output("TensorListElementShape", [list], attrs: ["shape_type": .type(.int32)], name: nil, file: "", line: 0)
        let s = Session(graph: g)
        let r = try s.run(fetches: [item, length, shape], feeds: [n: Tensor(Int32(3))])
        #expect(r[0].scalars(as: Float.self) == [0, 0], "an element never set reads as zeros")
        #expect(r[1].scalar(as: Int32.self) == 3 && r[2].scalars(as: Int32.self) == [2])
        #expect(throws: SomaError.self) { try s.run(item, feeds: [n: Tensor(Int32(1))]) }
        do {
            _ = try s.run(item, feeds: [n: Tensor(Int32(1))])
        } catch let error as SomaError {
            #expect(error.message.contains("Trying to access element 1 in a list with 1 elements."), "\(error.message)")
        }
        let empty = try emptyTensorList(g, dtype: .float32, elementShape: [2])
        #expect(throws: SomaError.self) { try s.run(tensorListPopBack(empty, dtype: .float32, elementShape: [2]).tensor) }

        let some = try g.output("OptionalFromValue", [g.constant(Float(2))], name: nil, file: "", line: 0)
        let none = try g.output("OptionalNone", [], name: nil, file: "", line: 0)
        let has = try [some, none].map { try g.output("OptionalHasValue", [$0], name: nil, file: "", line: 0) }
        #expect(try s.run(fetches: has).map { $0.scalar(as: Bool.self) } == [true, false])
        let value = try g.outputs("OptionalGetValue", [none], attrs: ["output_types": .types([.float32]), "output_shapes": .shapes([.scalar])],
                                  name: nil, file: "", line: 0)[0]
        #expect(throws: SomaError.self) { try s.run(value) }
    }

    /// TF1's `TensorArray` API in a loop: squares written per iteration, the input read
    /// through `unstack`, `size`, `gather`, `scatter`, a dynamic-size array growing — checked
    /// against a plain Swift loop, and the gradient through the loop's writes and reads.
    @Test func tensorArraysBuildSequencesInLoops() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 3], name: "x")
        let n = try gather(shape(x), indices: g.constant(Int32(0)))
        let input = try TensorArray(g, dtype: .float32, size: n, elementShape: [3]).unstack(x)
        let squares = try TensorArray(g, dtype: .float32, size: n, elementShape: [3])
        let grown = try TensorArray(g, dtype: .float32, size: 0, dynamicSize: true, elementShape: [3])
        let out = try whileLoop(cond: { v in try less(v[0], n) }, body: { v in
            let row = try input.read(v[0])
            return [try add(v[0], g.constant(Int32(1))),
                    try squares.withFlow(v[1]).write(v[0], multiply(row, row)).flow,
                    try grown.withFlow(v[2]).write(multiply(v[0], g.constant(Int32(2))), row).flow]
        }, loopVars: [g.constant(Int32(0)), squares.flow, grown.flow])
        let stacked = try squares.withFlow(out[1]).stack()
        let grownSize = try grown.withFlow(out[2]).size()
        let picked = try squares.withFlow(out[1]).gather(g.constant([Int32(2), 0], shape: [2]))
        let minusOnes = try g.constant([Float](repeating: -1, count: 3), shape: [1, 3])
        let scattered = try squares.withFlow(out[1]).scatter(g.constant([Int32(1)], shape: [1]), minusOnes).stack()
        let loss = try reduceSum(multiply(stacked, stacked))
        let dx = try #require(try g.gradients(of: [loss], wrt: [x])[0])

        let xs: [Float] = (0..<12).map { Float($0) * 0.25 - 1 }
        let r = try Session(graph: g).run(fetches: [stacked, grownSize, picked, scattered, dx], feeds: [x: Tensor(xs, shape: [4, 3])])
        let squared = xs.map { $0 * $0 }
        #expect(r[0].shape == [4, 3] && r[0].scalars(as: Float.self) == squared)
        #expect(r[1].scalar(as: Int32.self) == 7, "writes at 0, 2, 4, 6 grow a dynamic-size array to 7")
        #expect(r[2].scalars(as: Float.self) == Array(squared[6..<9] + squared[0..<3]))
        #expect(r[3].scalars(as: Float.self) == Array(squared[0..<3]) + [-1, -1, -1] + Array(squared[6...]))
        // d/dx Σ x⁴ = 4x³.
        let expected = xs.map { 4 * $0 * $0 * $0 }
        #expect(zip(r[4].scalars(as: Float.self), expected).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) })
    }

    /// Loop variables nothing reads are not carried (`LoopVariablePruning`): a list pushed
    /// every step and a counter of its own go; a sum that reads the kept state goes (only
    /// it reads itself); a variable with a random draw in its update stays.
    @Test func unreadLoopVariablesAreNotCarried() throws {
        let g = Graph()
        let n = try g.placeholder(.int32, shape: .scalar, name: "n")
        let x = try g.placeholder(.float32, shape: [3], name: "x")
        let out = try whileLoop(cond: { v in try less(v[0], n) }, body: { v in
            let h = try tanh(add(v[1], x))
            return [try add(v[0], g.constant(Int32(1))), h, try tensorListPushBack(v[2], h), try add(v[3], v[1]),
                    try multiply(v[4], g.constant(Float(2))), try add(v[5], g.randomUniform(shape: [], seed: 3))]
        }, loopVars: [g.constant(Int32(0)), x, try emptyTensorList(g, dtype: .float32, elementShape: [3]), try zerosLike(x),
                      g.constant(Float(1)), g.constant(Float(0))])
        let feeds = [n: Tensor(Int32(5)), x: try Tensor([Float(0.5), -1, 2], shape: [3])]
        let pruned = try #require(try Session(graph: g).plan(fetches: [out[1]], feeds: feeds))
        let loop = try #require(pruned.steps.first { $0.op == "StatelessWhile" || $0.op == "While" })
        guard case .types(let carried)? = loop.node.attrs["T"] else { Issue.record("no T on \(loop.name)"); return }
        // The counter, the state, the random draw's variable, and the captured n and x stay
        // (the builder's iteration counter and limit, unread, go too).
        #expect(carried == [.int32, .float32, .float32, .int32, .float32], "\(carried)")
        var options = SessionOptions()
        options.compileOptions.disabledPasses = [LoopVariablePruning.name]
        let expected = try Session(graph: g, options: options).run(out[1], feeds: feeds)
        #expect(try Session(graph: g).run(out[1], feeds: feeds).scalars(as: Float.self) == expected.scalars(as: Float.self))
        // Fetching a variable keeps it (and what it reads).
        let both = try Session(graph: g).run(fetches: [out[1], out[3]], feeds: feeds)
        #expect(both[0].scalars(as: Float.self) == expected.scalars(as: Float.self) && both[1].shape == [3])
    }

    @Test func graphDefRoundTripKeepsFunctions() throws {
        let g = Graph()
        let n = try g.placeholder(.int32, shape: .scalar, name: "n")
        let x = try g.placeholder(.float32, shape: [2], name: "x")
        let out = try whileLoop(cond: { v in try less(v[0], n) },
                                body: { v in [try add(v[0], g.constant(Int32(1))), try multiply(v[1], x)] },
                                loopVars: [try g.constant(Int32(0)), try g.constant([Float(1), 1], shape: [2])], name: "power")
        let y = try cond(greater(n, g.constant(Int32(2))), then: { out[1] }, else: { try negative(out[1]) }, name: "sign")
        let bytes = g.graphDef()
        let loaded = try Graph(graphDef: bytes)
        #expect(loaded.graphDef() == bytes)
        let feeds: [Tensor] = [Tensor(Int32(3)), try Tensor([Float(2), 3], shape: [2])]
        let expected = try Session(graph: g).run(y, feeds: [n: feeds[0], x: feeds[1]])
        let ly = try #require(loaded.output(named: y.name))
        let got = try Session(graph: loaded).run(ly, feeds: [loaded.output(named: "n")!: feeds[0], loaded.output(named: "x")!: feeds[1]])
        #expect(got.scalars(as: Float.self) == expected.scalars(as: Float.self))
        #expect(expected.scalars(as: Float.self) == [8, 27])
    }
}

/// Dropout and batch normalisation switched by a `training` tensor; moving averages in
/// `UPDATE_OPS`, run by `minimize`.
@Suite struct TrainingSwitchTests {
    @Test func dropoutIsTheIdentityUnlessTraining() throws {
        let g = Graph()
        g.randomSeed = 3
        let training = try placeholderWithDefault(g.constant(false), shape: .scalar, name: "training")
        let xs = (1...64).map { Float($0) }
        let x = try placeholderWithDefault(g.constant(xs, shape: [8, 8]), shape: [8, 8], name: "x")
        let y = try dropout(x, rate: 0.25, training: training)
        let dx = try #require(try g.gradients(of: reduceSum(y), wrt: [x])[0])
        let s = Session(graph: g)
        #expect(try s.run(y).scalars(as: Float.self) == xs)
        #expect(try s.run(dx).scalars(as: Float.self) == Array(repeating: 1, count: 64))
        let r = try s.run(fetches: [y, dx], feeds: [training: Tensor(true)])
        let kept = r[0].scalars(as: Float.self), grads = r[1].scalars(as: Float.self)
        for i in 0..<64 {
            #expect(kept[i] == 0 || abs(kept[i] - xs[i] / 0.75) <= 1e-6 * xs[i])
            #expect(grads[i] == (kept[i] == 0 ? 0 : Float(1 / 0.75)), "the gradient is the run's own mask")
        }
        let dropped = kept.filter { $0 == 0 }.count
        #expect(dropped > 4 && dropped < 32, "\(dropped) of 64 dropped at rate 0.25")
    }

    @Test func batchNormalizationTrainsAndEvaluatesInOneGraph() throws {
        let g = Graph()
        let training = try placeholderWithDefault(g.constant(false), shape: .scalar, name: "training")
        let x = try g.placeholder(.float32, shape: [nil, 3], name: "x")
        let y = try batchNormalization(x, training: training, momentum: 0.9, name: "bn")
        let loss = try reduceSum(square(y))
        let train = try GradientDescentOptimizer(learningRate: 0.1).minimize(loss)
        #expect(g.collection(Graph.updateOps).count == 2)
        let s = Session(graph: g)
        try s.run(target: g.globalVariablesInitializer())
        let values: [Float] = [1, 2, 3, 3, 6, 9, 5, 10, 15, 7, 14, 21]
        let batch = try Tensor(values, shape: [4, 3])
        // Training: normalised by the batch's statistics.
        let trainingOutput = try s.run(y, feeds: [x: batch, training: Tensor(true)]).scalars(as: Float.self)
        for c in 0..<3 {
            let column = (0..<4).map { Double(values[$0 * 3 + c]) }
            let mean = column.reduce(0, +) / 4, variance = column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 4
            for r in 0..<4 {
                #expect(abs(Double(trainingOutput[r * 3 + c]) - (column[r] - mean) / (variance + 0.001).squareRoot()) < 1e-4)
            }
        }
        // One training step updates the moving averages: 0.1 of the batch mean and of its
        // population variance (Keras 3's choice; TF1's fused layer used the Bessel-corrected one).
        try s.run(target: train, feeds: [x: batch, training: Tensor(true)])
        let moving = try s.run(fetches: [g.output(named: "bn/moving_mean")!, g.output(named: "bn/moving_variance")!])
        let means: [Float] = [4, 8, 12], variances: [Float] = [5, 20, 45]
        for c in 0..<3 {
            #expect(abs(moving[0].scalars(as: Float.self)[c] - 0.1 * means[c]) < 1e-4)
            #expect(abs(moving[1].scalars(as: Float.self)[c] - (0.9 + 0.1 * variances[c])) < 1e-3)
        }
        // Not training: the moving averages normalise, and running the updates leaves them alone.
        let gamma = try s.run(g.output(named: "bn/gamma")!).scalars(as: Float.self)
        let beta = try s.run(g.output(named: "bn/beta")!).scalars(as: Float.self)
        let inference = try s.run(y, feeds: [x: batch]).scalars(as: Float.self)
        for c in 0..<3 {
            let m = moving[0].scalars(as: Float.self)[c], v = moving[1].scalars(as: Float.self)[c]
            let expected = (values[c] - m) / (v + 0.001).squareRoot() * gamma[c] + beta[c]
            #expect(abs(inference[c] - expected) < 1e-4)
        }
        _ = try s.run(fetches: [], feeds: [x: batch], targets: g.collection(Graph.updateOps))
        let after = try s.run(g.output(named: "bn/moving_mean")!).scalars(as: Float.self)
        #expect(after == moving[0].scalars(as: Float.self))
    }
}

/// Hostile control flow in GraphDefs: missing, recursive, deeply nested and ill-typed
/// functions are one clear line naming the node or function — at load, never a crash.
@Suite struct HostileControlFlowTests {
    typealias H = HostileSavedModelTests

    static func load(_ nodes: [H.Message], _ functions: [H.Message]) -> String {
        var graphDef = ProtoBytes()
        graphDef.message(1, H.node("x", "Placeholder", [], [H.attr("dtype", H.type(.float32))]))
        graphDef.message(1, H.node("p", "Placeholder", [], [H.attr("dtype", H.type(.bool))]))
        for n in nodes { graphDef.message(1, n) }
        if !functions.isEmpty { graphDef.message(2) { lib in for f in functions { lib.message(1, f) } } }
        do {
            _ = try Graph(graphDef: graphDef.bytes)
            return "loaded"
        } catch let error as SomaError {
            return error.message
        } catch {
            return "not a SomaError: \(error)"
        }
    }

    static func ifNode(_ name: String, _ then: String, _ otherwise: String, inputs: [String] = ["p", "x"]) -> H.Message {
        H.node(name, "StatelessIf", inputs, [H.attr("then_branch", H.function(then)), H.attr("else_branch", H.function(otherwise)),
                                             H.attr("Tcond", H.type(.bool)), H.attr("Tin", H.types(inputs.dropFirst().map { _ in .float32 })),
                                             H.attr("Tout", H.types([.float32]))])
    }

    static var identity: H.Message { H.functionDef("identity", body: [H.node("id", "Identity", ["x"], [H.attr("T", H.type(.float32))])],
                                        ret: "id:output:0") }

    @Test func badFunctionReferencesAreCleanErrors() {
        #expect(Self.load([Self.ifNode("if", "identity", "identity")], [Self.identity]) == "loaded")
        #expect(Self.load([Self.ifNode("if", "identity", "nope")], [Self.identity])
            .contains("names function 'nope', which the graph's library does not define"))
        #expect(Self.load([Self.ifNode("if", "identity", "identity")], []).contains("but the graph has no function library"))
        // f's body calls f.
        let recursive = H.functionDef("f", body: [Self.ifNode("inner", "f", "identity", inputs: ["x", "x"])], ret: "inner:output:0")
        let message = Self.load([Self.ifNode("if", "f", "identity")], [recursive, Self.identity])
        #expect(message.contains("function 'f' refers to itself (through f → f)"), "\(message)")
        // 40 functions, each branching into the next.
        let chain = (0..<40).map { k in
            H.functionDef("f\(k)", body: [Self.ifNode("inner", k == 39 ? "identity" : "f\(k + 1)", "identity", inputs: ["x", "x"])],
                          ret: "inner:output:0")
        }
        #expect(Self.load([Self.ifNode("if", "f0", "identity")], chain + [Self.identity]).contains("more than 32 deep"))
    }

    @Test func illTypedBodiesNameTheNode() {
        // A While over two floats whose body takes one.
        let loop = H.node("loop", "StatelessWhile", ["x", "x"], [H.attr("T", H.types([.float32, .float32])),
                                                              H.attr("cond", H.function("identity")), H.attr("body", H.function("identity"))])
        let message = Self.load([loop], [Self.identity])
        #expect(message.contains("function 'identity' takes (float32) but is called with (float32, float32)")
                && message.contains("'loop' (op: 'StatelessWhile')"), "\(message)")
        // A branch declared float that returns an int.
        let lying = H.functionDef("lying", body: [H.node("c", "Const", [], [H.attr("dtype", H.type(.int32)),
                                                                             H.attr("value", { a in a.message(8) { t in t.varint(1, 3); t.message(2) { _ in }; t.varint(7, 1) } })])],
                                  ret: "c:output:0")
        #expect(Self.load([Self.ifNode("if", "lying", "identity")], [lying, Self.identity])
            .contains("function 'lying' output 'y' is declared float32 but returns int32"))
    }
}

/// `dynamicRNN`: one loop body over any sequence length, matching the unrolled RNN, with
/// per-row lengths, and differentiable through the loop.
@Suite struct DynamicRNNTests {
    @Test func matchesTheUnrolledNetworkAndStopsEachRowAtItsLength() throws {
        let g = Graph()
        g.randomSeed = 5
        let x = try g.placeholder(.float32, shape: [nil, 4, 3], name: "x")
        let lengths = try g.placeholder(.int32, shape: [nil], name: "lengths")
        let cell = try LSTMCell(g, inputSize: 3, units: 5, name: "lstm")
        let (unrolled, unrolledState) = try unroll(cell, over: x, steps: 4)
        let (outputs, state) = try dynamicRNN(cell, over: x, file: #fileID, line: #line)
        let (masked, maskedState) = try dynamicRNN(cell, over: x, sequenceLength: lengths)
        let s = Session(graph: g)
        try s.run(target: g.globalVariablesInitializer())
        var rng = SplitMix64(seed: 9)
        let input = try Tensor((0..<24).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [2, 4, 3])
        let rowLengths = try Tensor([Int32(4), 2], shape: [2])
        let r = try s.run(fetches: unrolled + [unrolledState.h, outputs, state.h, masked, maskedState.h],
                          feeds: [x: input, lengths: rowLengths])
        let dynamicOutputs = r[5].scalars(as: Float.self), dynamicH = r[6].scalars(as: Float.self)
        #expect(r[5].shape == [2, 4, 5])
        for t in 0..<4 {
            let step = r[t].scalars(as: Float.self)   // [2, 5]
            for b in 0..<2 {
                for u in 0..<5 {
                    #expect(abs(dynamicOutputs[(b * 4 + t) * 5 + u] - step[b * 5 + u]) < 1e-5)
                }
            }
        }
        for i in 0..<10 { #expect(abs(dynamicH[i] - r[4].scalars(as: Float.self)[i]) < 1e-5) }
        // Row 1 stops after 2 steps: zero outputs after, its final state the step-2 state.
        let maskedOutputs = r[7].scalars(as: Float.self), maskedH = r[8].scalars(as: Float.self)
        for t in 2..<4 { for u in 0..<5 { #expect(maskedOutputs[(4 + t) * 5 + u] == 0) } }
        for u in 0..<5 {
            #expect(abs(maskedH[5 + u] - r[1].scalars(as: Float.self)[5 + u]) < 1e-5)
            #expect(abs(maskedH[u] - dynamicH[u]) < 1e-5)
        }
    }

    @Test func gradientsReachAListTheLoopReads() throws {
        // h ← tanh(h + x[i]) over the rows of x, read from a TensorList the loop captures.
        let error = try GradientChecker.maxError(.float64, [.init([4, 3], seed: 23), .init([3], seed: 24)]) { xs in
            let g = xs[0].graph
            let list = try g.output("TensorListFromTensor", [xs[0], listShapeTensor(g, [3])], name: nil, file: "", line: 0)
            return try whileLoop(cond: { v in try less(v[0], g.constant(Int32(4))) }, body: { v in
                let row = try g.output("TensorListGetItem", [list, v[0], listShapeTensor(g, [3])],
                                       attrs: ["element_dtype": .type(.float64)], name: nil, file: "", line: 0)
                return [try add(v[0], g.constant(Int32(1))), try tanh(add(v[1], row))]
            }, loopVars: [try g.constant(Int32(0)), xs[1]])[1]
        }
        #expect(error < 1e-6)
    }

    /// A list made from a computed tensor (whose arena bytes the next run reuses) keeps its
    /// rows: whole-cache-line rows view one copy of the tensor, others are copied row by row;
    /// a loop summing the rows and the stacked list give the rows of each run's own input.
    @Test(arguments: [16, 3]) func listsFromComputedTensorsKeepTheirRows(width: Int) throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [5, width], name: "x")
        let list = try g.output("TensorListFromTensor", [try tanh(x), listShapeTensor(g, [width])], name: nil, file: "", line: 0)
        let sum = try whileLoop(cond: { v in try less(v[0], g.constant(Int32(5))) }, body: { v in
            let row = try g.output("TensorListGetItem", [list, v[0], listShapeTensor(g, [width])],
                                   attrs: ["element_dtype": .type(.float32)], name: nil, file: "", line: 0)
            return [try add(v[0], g.constant(Int32(1))), try add(v[1], row)]
        }, loopVars: [try g.constant(Int32(0)), try g.constant([Float](repeating: 0, count: width), shape: [width])])[1]
        let stacked = try g.output("TensorListStack", [list, listShapeTensor(g, [width])], attrs: ["element_dtype": .type(.float32)],
                                   name: nil, file: "", line: 0)
        let session = Session(graph: g)
        for seed in [1.0, -2.5] {
            let values = (0..<(5 * width)).map { Float(sin(Double($0) * seed)) }
            let r = try session.run(fetches: [sum, stacked], feeds: [x: try Tensor(values, shape: [5, width])])
            let rows = values.map { Foundation.tanh($0) }
            #expect(zip(r[1].scalars(as: Float.self), rows).allSatisfy { abs($0 - $1) < 1e-6 })
            for j in 0..<width {
                let expected = (0..<5).reduce(Float(0)) { $0 + rows[$1 * width + j] }
                #expect(abs(r[0].scalars(as: Float.self)[j] - expected) < 1e-5)
            }
        }
    }

    @Test func gradientsFlowThroughTheLoop() throws {
        // d(Σ outputs² + Σ final state) for the inputs and the initial state, with lengths.
        let error = try GradientChecker.maxError(.float64, [.init([2, 3, 2], seed: 21), .init([2, 3], seed: 22)]) { xs in
            let g = xs[0].graph
            g.randomSeed = 1
            let cell = try GRUCell(g, inputSize: 2, units: 3, dtype: .float64)
            let (outputs, state) = try dynamicRNN(cell, over: xs[0], sequenceLength: g.constant([Int32(3), 1], shape: [2]),
                                                  initialState: xs[1])
            return try add(reduceSum(square(outputs)), reduceSum(state))
        }
        #expect(error < 1e-6)
    }
}

extension ControlFlowTests {
    /// A frozen Keras LSTM's loop body reads its sequence from a TensorList; knowing the
    /// list's element shape (from the values the loop is called with), the compiler plans
    /// the body with static shapes: no dynamic steps.
    @Test func kerasLoopBodiesPlanStatically() throws {
        let folder = TensorFlowFixtureTests.root.appendingPathComponent("keras_lstm")
        let graph = try Graph(contentsOf: folder.appendingPathComponent("model.pb"))
        let x = try Tensor(contentsOfNPY: folder.appendingPathComponent("x.npy"))
        // The graph's own bodies run (pruning unread loop variables, or taking input
        // products out of the loops, would run copies).
        var options = SessionOptions()
        options.compileOptions.disabledPasses = [LoopVariablePruning.name, LoopInputProjectionHoisting.name]
        _ = try Session(graph: graph, options: options).run(fetches: [graph.output(named: "Identity:0")!, graph.output(named: "Identity_1:0")!],
                                          feeds: [graph.output(named: "x")!: x])
        let bodies = graph.nodes.filter { $0.op == "StatelessWhile" }.compactMap { $0.functionAttr("body") }
        #expect(bodies.count == 3, "an LSTM applied twice and a GRU")
        for body in bodies {
            let plans = body.runtimeCache.withLock { $0.values.compactMap { $0 as? FunctionCalls.Compiled } }
            #expect(!plans.isEmpty)
            // The plan for the steady state (every argument's list shape known) has no dynamic steps.
            let steady = plans.filter { !$0.listShapes.contains { $0 != nil && !$0!.isFullyDefined } }
            #expect(!steady.isEmpty && steady.allSatisfy { $0.executor.plan.steps.allSatisfy { !$0.isDynamic } },
                    "\(steady.map { $0.executor.plan.steps.filter(\.isDynamic).map(\.name) })")
        }
    }
}

extension ControlFlowTests {
    /// A frozen Keras LSTM's and GRU's input products leave their loops
    /// (`LoopInputProjectionHoisting`): each loop's body multiplies only its recurrent state,
    /// one product before the loop covers every step, and the outputs are TF's, as with
    /// the products in the loop.
    @Test func recurrentInputProjectionsLeaveTheirLoops() throws {
        let folder = TensorFlowFixtureTests.root.appendingPathComponent("keras_lstm")
        let graph = try Graph(contentsOf: folder.appendingPathComponent("model.pb"))
        let feeds = [graph.output(named: "x")!: try Tensor(contentsOfNPY: folder.appendingPathComponent("x.npy"))]
        let fetches = [graph.output(named: "Identity:0")!, graph.output(named: "Identity_1:0")!]
        // The bodies' plans run every step (not the LSTMs' loops as one kernel, `RecurrentLoop`):
        // what follows inspects the plans their later steps compile.
        var plansEachStep = SessionOptions()
        plansEachStep.fusesRecurrentLoops = false
        var inLoop = plansEachStep
        inLoop.compileOptions.disabledPasses = [LoopInputProjectionHoisting.name]
        let hoistedSession = Session(graph: graph, options: plansEachStep), inLoopSession = Session(graph: graph, options: inLoop)
        let (hoisted, unhoisted) = (try hoistedSession.run(fetches: fetches, feeds: feeds),
                                    try inLoopSession.run(fetches: fetches, feeds: feeds))
        for k in 0..<2 {
            let expected = try Tensor(contentsOfNPY: folder.appendingPathComponent("expected_\(k).npy")).scalars(as: Float.self)
            for run in [hoisted, unhoisted] {
                let error = zip(run[k].scalars(as: Float.self), expected).map { abs($0 - $1) }.max() ?? .infinity
                #expect(error < 1e-5, "output \(k): max |Δ| \(error)")
            }
        }
        // Each loop's body, in the plan: one MatMul (the recurrent one) where there were two,
        // and one product before the loops per loop.
        func bodies(_ session: Session) throws -> (bodies: [GraphFunction], productsOutside: Int) {
            let plan = try #require(try session.plan(fetches: fetches, feeds: feeds))
            let loops = plan.steps.filter { $0.op == "StatelessWhile" || $0.op == "While" }
            let bodies = loops.compactMap { step -> GraphFunction? in
                if case .function(let f)? = step.node.attrs["body"] { f } else { nil }
            }
            return (bodies, plan.steps.filter { $0.op == "MatMul" || $0.op == "_FusedMatMul" }.count)
        }
        func products(_ body: GraphFunction) -> Int { LoopInputProjectionHoisting.neededNodes(body).filter { $0.op == "MatMul" }.count }
        let (before, after) = (try bodies(inLoopSession), try bodies(hoistedSession))
        #expect(before.bodies.count == 3 && before.bodies.allSatisfy { products($0) == 2 }, "\(before.bodies.map(products))")
        #expect(after.bodies.map(products) == before.bodies.map { products($0) - 1 }, "\(after.bodies.map(products))")
        #expect(after.productsOutside == before.productsOutside + 3)
        // The rewritten bodies, which the runs above compiled, still plan statically.
        for body in after.bodies {
            let plans = body.runtimeCache.withLock { $0.values.compactMap { $0 as? FunctionCalls.Compiled } }
            let steady = plans.filter { !$0.listShapes.contains { $0 != nil && !$0!.isFullyDefined } }
            #expect(!steady.isEmpty && steady.allSatisfy { $0.executor.plan.steps.allSatisfy { !$0.isDynamic } }, "\(body.name)")
        }
        // Each cell runs as one fused kernel in its body's plan: the two LSTMs' and the GRU's.
        func fusedCells(_ op: String) -> Int {
            after.bodies.filter { body in
                body.runtimeCache.withLock { $0.values.compactMap { $0 as? FunctionCalls.Compiled } }
                    .contains { $0.executor.plan.steps.contains { $0.op == op } }
            }.count
        }
        #expect(fusedCells("_SomaFusedLSTMCell") == 2 && fusedCells("_SomaFusedGRUCell") == 1)
    }
}

/// TF1's v1 loops (Enter/Merge/Switch/LoopCond/NextIteration/Exit frames) are raised to
/// `While` at load; malformed frames are one clear error naming the frame or node.
@Suite struct V1LoopTests {
    typealias H = HostileSavedModelTests

    static func string(_ s: String) -> H.Message { { $0.data(2, Array(s.utf8)) } }
    static func bool(_ b: Bool) -> H.Message { { $0.varint(5, b ? 1 : 0) } }

    /// A loop over `x` in frame `f` whose condition is the constant-entered `p`.
    static func loop(mergeInputs: [String] = ["enter", "next"], predicateFrame: String = "f", extra: [H.Message] = []) -> [H.Message] {
        let t = H.attr("T", H.type(.float32))
        return [
            H.node("enter", "Enter", ["x"], [t, H.attr("frame_name", string("f"))]),
            H.node("penter", "Enter", ["p"], [H.attr("T", H.type(.bool)), H.attr("frame_name", string(predicateFrame)),
                                               H.attr("is_constant", bool(true))]),
            H.node("merge", "Merge", mergeInputs, [t, H.attr("N", { $0.varint(3, 2) })]),
            H.node("cond", "LoopCond", ["penter"]),
            H.node("switch", "Switch", ["merge", "cond"], [t]),
            H.node("exit", "Exit", ["switch"], [t]),
            H.node("body", "Tanh", ["switch:1"], [t]),
            H.node("next", "NextIteration", ["body"], [t]),
            H.node("out", "Identity", ["exit"], [t]),
        ] + extra
    }

    @Test func aWellFormedLoopBecomesAWhile() throws {
        var graphDef = ProtoBytes()
        graphDef.message(1, H.node("x", "Placeholder", [], [H.attr("dtype", H.type(.float32))]))
        graphDef.message(1, H.node("p", "Placeholder", [], [H.attr("dtype", H.type(.bool))]))
        for n in Self.loop() { graphDef.message(1, n) }
        let g = try Graph(graphDef: graphDef.bytes)
        #expect(g.nodes.filter { $0.op == "While" }.count == 1)
        // p false: the loop body never runs; exit is x.
        let out = try Session(graph: g).run(g.output(named: "out")!, feeds: [g.output(named: "x")!: Tensor(Float(0.5)),
                                                                            g.output(named: "p")!: Tensor(false)])
        #expect(out.scalar(as: Float.self) == 0.5)
    }

    @Test func malformedFramesNameTheProblem() {
        let t = H.attr("T", H.type(.float32))
        #expect(HostileControlFlowTests.load([H.node("exit", "Exit", ["x"], [t])], [])
            .contains("node 'exit' (op: 'Exit') is not inside a loop frame (an Exit without an Enter)"))
        #expect(HostileControlFlowTests.load(Self.loop(mergeInputs: ["enter", "enter"]), [])
            .contains("node 'merge' (op: 'Merge') in loop frame 'f' must merge an Enter and a NextIteration (its back edge)"))
        #expect(HostileControlFlowTests.load(Self.loop(extra: [H.node("stray", "NextIteration", ["body"], [t])]), [])
            .contains("node 'stray' (op: 'NextIteration') in loop frame 'f' feeds no Merge"))
        #expect(HostileControlFlowTests.load([H.node("m", "Merge", ["x", "x"], [t, H.attr("N", { $0.varint(3, 2) })])], [])
            .contains("a branch of the v1 cond 'm' reads node 'x' (op: 'Placeholder') without a Switch"))
        // A Switch with one input (a fuzzer's find: once an out-of-range read).
        #expect(HostileControlFlowTests.load([H.node("s", "Switch", ["x"], [t]), H.node("m", "Merge", ["s", "s:1"], [t])], [])
            .contains("node 's' (op: 'Switch') has 1 data inputs; it takes 2"))
        let mismatched = HostileControlFlowTests.load(Self.loop(predicateFrame: "g"), [])
        #expect(mismatched.contains("loop frame") && mismatched.contains("LoopCond"), "\(mismatched)")
    }
}

extension V1LoopTests {
    /// TF1's v1 conds (Switch/Merge, nested, with two outputs, inside a loop: the `cond_v1`
    /// fixture) are raised to `If`; the fixture checks the true branch against TF, this the
    /// false one against the arithmetic.
    @Test func v1CondsTakeEitherBranch() throws {
        let folder = TensorFlowFixtureTests.root.appendingPathComponent("cond_v1")
        let g = try Graph(contentsOf: folder.appendingPathComponent("model.pb"))
        #expect(!g.nodes.contains { ["Switch", "Merge", "Enter", "Exit"].contains($0.op) })
        #expect(g.nodes.filter { $0.op == "If" }.count >= 3)
        let x = try Tensor(contentsOfNPY: folder.appendingPathComponent("x.npy"))
        let r = try Session(graph: g).run(fetches: [g.output(named: "out_branched")!, g.output(named: "out_sum")!],
                                          feeds: [g.output(named: "x")!: x, g.output(named: "flag")!: Tensor(false)])
        let xs = x.scalars(as: Float.self)
        for (i, v) in xs.enumerated() {
            #expect(abs(r[0].scalars(as: Float.self)[i] - (1 / (1 + exp(-v)) - 1)) < 1e-6)
            #expect(abs(r[1].scalars(as: Float.self)[i] - ((v - 1) + v * 3)) < 1e-5)
        }
    }
}

/// TF1's `TensorArrayV3` family is rewritten at load to TensorList ops (the
/// `tensor_array_v1` fixture checks the values against TF); what the rewrite cannot carry
/// is one clear error naming the node.
@Suite struct V1TensorArrayTests {
    typealias H = HostileSavedModelTests

    @Test func tensorArraysLoadAsLists() throws {
        let folder = TensorFlowFixtureTests.root.appendingPathComponent("tensor_array_v1")
        let g = try Graph(contentsOf: folder.appendingPathComponent("model.pb"))
        #expect(!g.nodes.contains { $0.op.hasPrefix("TensorArray") || ["Enter", "Exit", "Merge", "Switch"].contains($0.op) })
        #expect(g.nodes.filter { $0.op == "While" || $0.op == "StatelessWhile" }.count == 2)
        #expect(g.nodes.contains { $0.op == "TensorListGather" } && g.nodes.contains { $0.op == "TensorListScatterIntoExistingList" })
    }

    /// `size` (a Const), an array of `dtype` float32 named `ta`, and `extra` nodes.
    static func load(_ extra: [H.Message]) -> String {
        let f = H.attr("T", H.type(.float32))
        return HostileControlFlowTests.load([
            H.node("size", "Const", [], [H.attr("dtype", H.type(.int32)),
                                         H.attr("value", { $0.message(8) { t in t.varint(1, 3); t.message(2) { _ in }; t.varint(7, 2) } })]),
            H.node("ta", "TensorArrayV3", ["size"], [H.attr("dtype", H.type(.float32))]),
            H.node("i", "Const", [], [H.attr("dtype", H.type(.int32)),
                                      H.attr("value", { $0.message(8) { t in t.varint(1, 3); t.message(2) { _ in }; t.varint(7, 1) } })]),
            H.node("write", "TensorArrayWriteV3", ["ta", "i", "x", "ta:1"], [f]),
        ] + extra, [])
    }

    @Test func whatTheRewriteCannotCarryIsNamed() {
        let f = H.attr("T", H.type(.float32))
        #expect(Self.load([H.node("read", "TensorArrayReadV3", ["ta", "i", "write"], [H.attr("dtype", H.type(.float32))])]) == "loaded")
        #expect(Self.load([H.node("bad", "Identity", ["ta:1"], [f]), H.node("use", "Tanh", ["ta"], [f])])
            .contains("node 'use' (op: 'Tanh') reads the handle of TensorArray 'ta' as input 0"))
        #expect(Self.load([H.node("grad", "TensorArrayGradV3", ["ta", "write"], [H.attr("source", V1LoopTests.string("gradients"))])])
            .contains("node 'grad' (op: 'TensorArrayGradV3') is not supported"))
        #expect(Self.load([H.node("read", "TensorArrayReadV3", ["x", "i", "write"], [H.attr("dtype", H.type(.float32))])])
            .contains("node 'read' (op: 'TensorArrayReadV3') does not read a TensorArrayV3 handle as its first input"))
        #expect(Self.load([H.node("read", "TensorArrayReadV3", ["ta", "i"], [H.attr("dtype", H.type(.float32))])])
            .contains("node 'read' (op: 'TensorArrayReadV3') must have 3 inputs, but has 2"))
    }
}
