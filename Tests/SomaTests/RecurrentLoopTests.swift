import Foundation
import Testing
@testable import Soma

/// A `While` loop whose every step is one fused LSTM or GRU cell runs as one kernel
/// (``RecurrentLoop``): the loop variables its plans would compute, bit for bit, on one
/// thread and two; TF's outputs for Keras' layers; and where a step is not one it takes,
/// the plans go on from there — growing a list, or failing with TF's message. And the list a
/// loop reads views the tensor it is made from.
@Suite struct RecurrentLoopTests {
    /// A Keras-style LSTM (or GRU) loop built with `whileLoop`: step `t` reads its gates'
    /// input part from a list of `elements` `[B, 4H]` (`[B, 3H]`) rows (`TensorListGetItem`),
    /// runs Keras' cell — the LSTM's `BiasAdd(x + h·U, b)` split in four; the GRU's
    /// `BiasAdd(x, b[0])` and `BiasAdd(h·U, b[1])` split in three, its biases one `[2, 3H]`
    /// constant unstacked in the loop, as Keras writes it — and writes `h` into a list — at
    /// `t`, or at a constant index — until `t` reaches `limit`.
    struct Loop {
        let graph = Graph()
        let sequence: Output, h0: Output, c0: Output
        let fetches: [Output]
        let values: [String: [Double]]

        init(batch: Int, units: Int, elements: Int, limit: Int, writeAt: Int? = nil, outputSize: Int? = nil,
             growing: Bool = false, dtype: DType = .float32, gru: Bool = false, seed: UInt64) throws {
            var draws = RecurrentCellFusionTests.Draws(rng: SplitMix64(seed: seed))
            let g = graph, parts = gru ? 3 : 4
            sequence = try g.placeholder(dtype, shape: [elements, batch, parts * units], name: "sequence")
            h0 = try g.placeholder(dtype, shape: [batch, units], name: "h0")
            c0 = try g.placeholder(dtype, shape: [batch, units], name: "c0")
            let biasShape = gru ? [2, 3 * units] : [4 * units]
            _ = draws.tensor("u", [units, parts * units], scale: 0.5)
            _ = draws.tensor("b", biasShape, scale: 0.5)
            let u = try g.constant(Loop.tensor(draws.values["u"]!, [units, parts * units], dtype))
            let b = try g.constant(Loop.tensor(draws.values["b"]!, biasShape, dtype))
            let inputs = try TensorArray(g, dtype: dtype, size: elements, elementShape: TensorShape([batch, parts * units]))
                .unstack(sequence)
            let outputs = try TensorArray(g, dtype: dtype, size: outputSize ?? (writeAt == nil ? limit : 1), dynamicSize: growing,
                                          elementShape: TensorShape([batch, units]))
            let end = try g.constant(Int32(limit))
            let index = try writeAt.map { try g.constant(Int32($0)) }
            let out = try whileLoop(cond: { v in try less(v[0], end) }, body: { v in
                let (t, flow, h, c) = (v[0], v[1], v[2], v[3])
                let newH: Output, newC: Output
                if gru {
                    let biases = try unstack(b)
                    let xs = try split(biasAdd(inputs.read(t), biases[0]), count: 3, axis: 1)
                    let ms = try split(biasAdd(matmul(h, u), biases[1]), sizes: [units, units, -1], axis: 1)
                    let z = try sigmoid(xs[0] + ms[0]), r = try sigmoid(xs[1] + ms[1])
                    let candidate = try tanh(xs[2] + r * ms[2])
                    (newH, newC) = (try z * h + (g.constant(Tensor.scalar(1, dtype: dtype)) - z) * candidate, c)
                } else {
                    let gates = try split(biasAdd(inputs.read(t) + matmul(h, u), b), count: 4, axis: 1)
                    let (i, f, cell, o) = (try sigmoid(gates[0]), try sigmoid(gates[1]), try tanh(gates[2]), try sigmoid(gates[3]))
                    newC = try f * c + i * cell
                    newH = try o * tanh(newC)
                }
                return [try t + g.constant(Int32(1)), try outputs.withFlow(flow).write(index ?? t, newH).flow, newH, newC]
            }, loopVars: [try g.constant(Int32(0)), outputs.flow, h0, c0])
            fetches = [try outputs.withFlow(out[1]).stack(), out[2], out[3]]
            for (name, shape) in [("sequence", [elements, batch, parts * units]), ("h0", [batch, units]), ("c0", [batch, units])] {
                _ = draws.tensor(name, shape)
            }
            self.values = draws.values
        }

        /// `values` (float32 draws) as a tensor of `dtype`.
        static func tensor(_ values: [Double], _ shape: [Int], _ dtype: DType) -> Tensor {
            dtype == .float64 ? try! Tensor(values, shape: shape) : try! Tensor(values.map { Float($0) }, shape: shape)
        }

        var feeds: [Output: Tensor] {
            Dictionary(uniqueKeysWithValues: [sequence, h0, c0].map {
                ($0, Loop.tensor(values[$0.node.name]!, $0.shape.dimensions!.map { $0! }, $0.dtype))
            })
        }

        /// The fetches' values (float32 ones exactly in float64), and whether the loop ran as one kernel.
        func run(threads: Int, fused: Bool) throws -> (outputs: [[Double]], recognized: Bool) {
            let session = RecurrentLoopTests.session(threads: threads, fused: fused, graph)
            let outputs = try session.run(fetches: fetches, feeds: feeds).map { t in
                t.dtype == .float64 ? t.scalars(as: Double.self) : t.scalars(as: Float.self).map { Double($0) }
            }
            return (outputs, try RecurrentLoopTests.recognizedLoops(session, fetches, feeds) > 0)
        }
    }

    static func session(threads: Int = 0, fused: Bool, _ graph: Graph) -> Session {
        var options = SessionOptions()
        options.intraOpThreads = threads
        options.fusesRecurrentLoops = fused
        // Two threads mean two, while other suites keep the cores busy too.
        options.adaptsToContention = false
        return Session(graph: graph, options: options)
    }

    /// How many of the plan's loops its runs recognised as fused LSTM loops.
    static func recognizedLoops(_ session: Session, _ fetches: [Output], _ feeds: [Output: Tensor]) throws -> Int {
        let plan = try #require(try session.plan(fetches: fetches, feeds: feeds))
        return plan.steps.filter { $0.op == "While" || $0.op == "StatelessWhile" }.filter { step in
            guard case .function(let body)? = step.node.attrs["body"] else { return false }
            return body.runtimeCache.withLock { $0.values.contains { ($0 as? RecurrentLoop.Recognition)?.loop != nil } }
        }.count
    }

    /// Steps written at `t` (a batch of one tile of units, and one of two tiles of rows — on
    /// two threads each block of rows along the whole sequence) or at index 0, in float32 and
    /// float64, on one thread and two: the plans' bits. Outputs go into the rows of one tensor,
    /// two buffers taking turns (index 0), or a tensor per step (17 rows of 8 float32 units:
    /// rows not whole cache lines).
    @Test(arguments: [(1, 24, nil, .float32, false), (20, 8, nil, .float32, false), (3, 16, 0, .float32, false),
                      (17, 8, nil, .float64, false), (17, 8, nil, .float32, false), (40, 8, 0, .float32, false),
                      (1, 24, nil, .float32, true), (20, 8, 0, .float32, true), (17, 8, nil, .float64, true),
                      (17, 8, nil, .float32, true)] as [(Int, Int, Int?, DType, Bool)])
    func runsAsOneKernelWithThePlansBits(batch: Int, units: Int, writeAt: Int?, dtype: DType, gru: Bool) throws {
        let loop = try Loop(batch: batch, units: units, elements: 6, limit: 6, writeAt: writeAt, dtype: dtype, gru: gru,
                            seed: UInt64(batch * 100 + units))
        let plans = try loop.run(threads: 2, fused: false)
        #expect(!plans.recognized)
        for threads in [1, 2] {
            let fused = try loop.run(threads: threads, fused: true)
            #expect(fused.recognized)
            #expect(fused.outputs == plans.outputs, "threads \(threads)")
        }
    }

    /// A list of outputs that grows (TF's `dynamic_size`): the loop stops where the index
    /// passes the list's end and the plans grow it, step by step, to the same values.
    @Test func handsOverToThePlansToGrowAList() throws {
        let loop = try Loop(batch: 2, units: 8, elements: 7, limit: 7, outputSize: 3, growing: true, seed: 5)
        let (fused, plans) = (try loop.run(threads: 2, fused: true), try loop.run(threads: 2, fused: false))
        #expect(fused.recognized)
        #expect(fused.outputs == plans.outputs)
        #expect(fused.outputs[0].count == 7 * 2 * 8)
    }

    /// The memory a fused loop keeps from run to run (its state buffers, its outputs' rows,
    /// its counters) is reused only once nothing holds last run's values: results a caller
    /// keeps stay as they were through later runs, and every run has a fresh session's values.
    @Test(arguments: [(nil, false), (0, false), (nil, true), (0, true)] as [(Int?, Bool)])
    func keptStateNeverOverwritesHeldResults(writeAt: Int?, gru: Bool) throws {
        let loop = try Loop(batch: 3, units: 16, elements: 5, limit: 5, writeAt: writeAt, gru: gru, seed: 9)
        let session = Self.session(threads: 2, fused: true, loop.graph)
        /// The feeds with the sequence scaled by `scale`.
        func feeds(_ scale: Float) -> [Output: Tensor] {
            var feeds = loop.feeds
            let sequence = feeds[loop.sequence]!
            feeds[loop.sequence] = try! Tensor(sequence.scalars(as: Float.self).map { $0 * scale }, shape: sequence.shape)
            return feeds
        }
        func values(_ ts: [Tensor]) -> [[Float]] { ts.map { $0.scalars(as: Float.self) } }
        let expected = try [1, -0.5, 2].map { (scale: Float) in
            try values(Self.session(threads: 2, fused: true, loop.graph).run(fetches: loop.fetches, feeds: feeds(scale)))
        }
        #expect(expected[0] != expected[1])
        let held = try session.run(fetches: loop.fetches, feeds: feeds(1))
        #expect(values(held) == expected[0])
        #expect(values(try session.run(fetches: loop.fetches, feeds: feeds(-0.5))) == expected[1])
        #expect(values(held) == expected[0])
        for _ in 0..<2 { #expect(values(try session.run(fetches: loop.fetches, feeds: feeds(2))) == expected[2]) }
        #expect(values(held) == expected[0])
        #expect(try Self.recognizedLoops(session, loop.fetches, loop.feeds) == 1)
    }

    /// A list reserved with a constant length and set in a loop is stacked with that length
    /// known (``ListLengthInference``): the plan has no step that infers its shapes as it
    /// runs, and the values are those of the plan without the pass; a list the loop may grow
    /// keeps its stack's length open.
    @Test func stacksOfLoopOutputsHaveStaticShapes() throws {
        let loop = try Loop(batch: 2, units: 8, elements: 5, limit: 5, seed: 11)
        func session(_ disabled: Set<String>) -> Session {
            var options = SessionOptions()
            options.compileOptions.disabledPasses = disabled
            return Session(graph: loop.graph, options: options)
        }
        let (inferred, open) = (session([]), session([ListLengthInference.name]))
        let plan = try #require(try inferred.plan(fetches: loop.fetches, feeds: loop.feeds))
        #expect(plan.steps.allSatisfy { !$0.isDynamic }, "\(plan.listing)")
        #expect(plan.steps.first { $0.op == "TensorListStack" }?.outputShapes == [[5, 2, 8]])
        let without = try #require(try open.plan(fetches: loop.fetches, feeds: loop.feeds))
        #expect(without.steps.contains { $0.op == "TensorListStack" && $0.isDynamic })
        let values = { (s: Session) in try s.run(fetches: loop.fetches, feeds: loop.feeds).map { $0.scalars(as: Float.self) } }
        #expect(try values(inferred) == values(open))

        let growing = try Loop(batch: 2, units: 8, elements: 7, limit: 7, outputSize: 3, growing: true, seed: 12)
        let grown = try #require(try Session(graph: growing.graph).plan(fetches: growing.fetches, feeds: growing.feeds))
        #expect(grown.steps.contains { $0.op == "TensorListStack" && $0.isDynamic })
    }

    /// A limit past the input list's end: the loop stops there and the plans fail as TF does.
    @Test func handsOverToThePlansToFail() throws {
        let loop = try Loop(batch: 2, units: 8, elements: 4, limit: 6, seed: 6)
        for fused in [true, false] {
            let session = Self.session(fused: fused, loop.graph)
            #expect { try session.run(fetches: loop.fetches, feeds: loop.feeds) } throws: { error in
                "\(error)".contains("Trying to access element 4 in a list with 4 elements")
            }
        }
    }

    /// A list made from a computed tensor views it: the tensor is planned in storage of its
    /// own (not the arena, which the next run reuses), and the list reads its rows.
    @Test func listsViewTheTensorTheyAreMadeFrom() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [4, 3], name: "x")
        let rows = try TensorArray(g, dtype: .float32, size: 4, elementShape: [3]).unstack(x * 2)
        let (second, all) = (try rows.read(g.constant(Int32(1))), try rows.stack())
        let values: [Float] = (0..<12).map { Float($0) - 5 }
        let feeds = [x: try Tensor(values, shape: [4, 3])]
        let session = Session(graph: g)
        for _ in 0..<2 {
            let r = try session.run(fetches: [second, all], feeds: feeds)
            #expect(r[0].scalars(as: Float.self) == values[3..<6].map { $0 * 2 })
            #expect(r[1].scalars(as: Float.self) == values.map { $0 * 2 })
        }
        let plan = try #require(try session.plan(fetches: [second, all], feeds: feeds))
        let doubled = try #require(plan.steps.first { $0.op == "Mul" })
        #expect(plan.values[doubled.outputs[0]].storage == .owned)
    }

    /// A list over a tensor's rows reads them in place; setting an element replaces its row,
    /// unsetting one leaves the other rows as they were, and shrinking or growing the list
    /// keeps them. A view (arena memory) or rows of part of a cache line are not taken.
    @Test func listRowsAreReadInPlaceUntilReplaced() throws {
        let values = (0..<64).map { Float($0) }  // four rows of 64 bytes
        let t = try Tensor(values, shape: [4, 16])
        var list = try #require(TensorList(rowsOf: t, count: 4, elementShape: TensorShape([16])))
        func row(_ k: Int) -> [Float] { Array(values[16 * k..<16 * (k + 1)]) }
        #expect(list.count == 4)
        #expect(list.storage(at: 2)?.pointer == UnsafeRawPointer(t.rawPointer + 2 * 64))
        #expect(list[1]?.scalars(as: Float.self) == row(1))
        list[1] = try Tensor([Float](repeating: 7, count: 16), shape: [16])
        #expect(list[1]?.scalars(as: Float.self) == [Float](repeating: 7, count: 16))
        list[3] = nil
        #expect(list[3] == nil)
        #expect(list[0]?.scalars(as: Float.self) == row(0))
        #expect(list.storage(at: 2)?.pointer == UnsafeRawPointer(t.rawPointer + 2 * 64))
        list.removeLast()
        list.grow(to: 5)
        #expect(list.count == 5)
        #expect(list[3] == nil && list[4] == nil)
        #expect(list[2]?.scalars(as: Float.self) == row(2))
        var unset = TensorList(elementDType: .float32, elementShape: TensorShape([16]), elements: [nil, nil, nil])
        #expect(unset.isUnset)
        let adopted = unset.adoptRows(t, 1..<3)
        #expect(adopted)
        #expect(!unset.isUnset && unset[0] == nil && unset[1]?.scalars(as: Float.self) == row(1))
        #expect(TensorList(rowsOf: try Tensor([Float](repeating: 0, count: 12), shape: [4, 3]), count: 4, elementShape: .unknown) == nil)
        let arena = TensorBuffer(byteCount: 256)
        let view = Tensor(dtype: .float32, shape: [4, 16], buffer: TensorBuffer(view: arena.data, byteCount: 256, owner: arena))
        #expect(TensorList(rowsOf: view, count: 4, elementShape: .unknown) == nil)
    }

    /// TF's Keras layers (the fixtures): both LSTM loops of `keras_lstm` (sequences written
    /// at `t`) and its GRU's, and `keras_lstm_last`'s (the last output and the state) run as
    /// one kernel each, with the plans' bits and TF's values. Their graphs leave the batch
    /// unknown (`[?, 7, 3]`): the loops' output lists still take the fed batch (the body's
    /// list shapes, as `while_v2` copies them), so every step plans statically.
    @Test(arguments: [("keras_lstm", 3), ("keras_lstm_last", 1)])
    func kerasLayersRunAsOneKernel(fixture: String, loops: Int) throws {
        let folder = TensorFlowFixtureTests.root.appendingPathComponent(fixture)
        let graph = try Graph(contentsOf: folder.appendingPathComponent("model.pb"))
        let feeds = [graph.output(named: "x")!: try Tensor(contentsOfNPY: folder.appendingPathComponent("x.npy"))]
        var expected: [Tensor] = []
        while case let file = folder.appendingPathComponent("expected_\(expected.count).npy"), FileManager.default.fileExists(atPath: file.path) {
            expected.append(try Tensor(contentsOfNPY: file))
        }
        let fetches = (0..<expected.count).map { graph.output(named: $0 == 0 ? "Identity:0" : "Identity_\($0):0")! }
        let fused = Self.session(fused: true, graph), plans = Self.session(fused: false, graph)
        let (a, b) = (try fused.run(fetches: fetches, feeds: feeds), try plans.run(fetches: fetches, feeds: feeds))
        #expect(try Self.recognizedLoops(fused, fetches, feeds) == loops)
        let plan = try #require(try fused.plan(fetches: fetches, feeds: feeds))
        #expect(plan.steps.filter(\.isDynamic).map(\.name) == [])
        for k in expected.indices {
            #expect(a[k].scalars(as: Float.self) == b[k].scalars(as: Float.self), "output \(k)")
            let error = zip(a[k].scalars(as: Float.self), expected[k].scalars(as: Float.self)).map { abs($0 - $1) }.max() ?? .infinity
            #expect(error < 1e-5, "output \(k): max |Δ| \(error)")
        }
    }
}
