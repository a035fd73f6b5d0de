import Foundation
import SomaSIMD
import Testing
@testable import Soma

/// Keras' LSTM and GRU cells become one `_SomaFusedLSTMCell` / `_SomaFusedGRUCell` in plans
/// (``RecurrentCellFusion``): the unfused plan's values and a float64 reference within
/// rounding, and the same bits on one thread as on two and in every per-CPU build.
@Suite struct RecurrentCellFusionTests {
    /// Seeded values in [−scale, scale], rounded to float32, kept by name for the references.
    struct Draws {
        var rng: SplitMix64
        var values: [String: [Double]] = [:]

        mutating func tensor(_ name: String, _ shape: [Int], scale: Double = 1) -> Tensor {
            let v = (0..<shape.reduce(1, *)).map { _ in Double(Float(Double.random(in: -scale...scale, using: &rng))) }
            values[name] = v
            return try! Tensor(v.map { Float($0) }, shape: shape)
        }
    }

    /// A step's placeholders fed their values, and its fetches run with or without the fusion.
    static func run(_ graph: Graph, _ fetches: [Output], feeding inputs: [Output], _ values: [String: [Double]], threads: Int,
                    fused: Bool) throws -> (outputs: [[Float]], ops: [String]) {
        let feeds = Dictionary(uniqueKeysWithValues: inputs.map { input in
            (input, try! Tensor(values[input.node.name]!.map { Float($0) }, shape: input.shape.dimensions!.map { $0! }))
        })
        var options = SessionOptions()
        options.intraOpThreads = threads
        if !fused { options.compileOptions.disabledPasses = [RecurrentCellFusion.name] }
        let session = Session(graph: graph, options: options)
        let r = try session.run(fetches: fetches, feeds: feeds)
        let plan = try #require(try session.plan(fetches: fetches, feeds: feeds))
        return (r.map { $0.scalars(as: Float.self) }, plan.steps.map(\.op))
    }

    /// One Keras LSTM step, as `tf.keras.layers.LSTMCell` writes it: the gates
    /// `BiasAdd(x·W + h·U, b)` split in four (input, forget, cell, output), then the state.
    struct Step {
        let graph = Graph()
        let x: Output, h: Output, c: Output, newH: Output, newC: Output
        let values: [String: [Double]]

        init(batch: Int, inputs: Int, units: Int, swapped: Bool = false, seed: UInt64) throws {
            var draws = Draws(rng: SplitMix64(seed: seed))
            let g = graph
            x = try g.placeholder(.float32, shape: [batch, inputs], name: "x")
            h = try g.placeholder(.float32, shape: [batch, units], name: "h")
            c = try g.placeholder(.float32, shape: [batch, units], name: "c")
            let w = try g.constant(draws.tensor("w", [inputs, 4 * units], scale: 0.5))
            let u = try g.constant(draws.tensor("u", [units, 4 * units], scale: 0.5))
            let b = try g.constant(draws.tensor("b", [4 * units], scale: 0.5))
            let (xw, hu) = (try matmul(x, w), try matmul(h, u))
            let gates = try split(biasAdd(swapped ? hu + xw : xw + hu, b), count: 4, axis: 1)
            let (i, f, cell, o) = (try sigmoid(gates[0]), try sigmoid(gates[1]), try tanh(gates[2]), try sigmoid(gates[3]))
            newC = try swapped ? i * cell + c * f : f * c + i * cell
            newH = try swapped ? tanh(newC) * o : o * tanh(newC)
            for (name, shape) in [("x", [batch, inputs]), ("h", [batch, units]), ("c", [batch, units])] { _ = draws.tensor(name, shape) }
            self.values = draws.values
        }

        var feeds: [Output: Tensor] {
            Dictionary(uniqueKeysWithValues: [x, h, c].map { ($0, try! Tensor(values[$0.node.name]!.map { Float($0) },
                                                                              shape: $0.shape.dimensions!.map { $0! })) })
        }

        func run(threads: Int, fused: Bool = true) throws -> (h: [Float], c: [Float], ops: [String]) {
            let r = try RecurrentCellFusionTests.run(graph, [newH, newC], feeding: [x, h, c], values, threads: threads, fused: fused)
            return (r.outputs[0], r.outputs[1], r.ops)
        }

        /// The step in float64 from the same (float32) values.
        func reference(batch: Int, inputs: Int, units: Int) -> (h: [Double], c: [Double]) {
            let (x, hp, cp) = (values["x"]!, values["h"]!, values["c"]!), (w, u, b) = (values["w"]!, values["u"]!, values["b"]!)
            var hs = [Double](repeating: 0, count: batch * units), cs = hs
            func sigmoid(_ v: Double) -> Double { 1 / (1 + Foundation.exp(-v)) }
            for r in 0..<batch {
                var z = b
                for col in 0..<(4 * units) {
                    for k in 0..<inputs { z[col] += x[r * inputs + k] * w[k * 4 * units + col] }
                    for k in 0..<units { z[col] += hp[r * units + k] * u[k * 4 * units + col] }
                }
                for j in 0..<units {
                    let (i, f, g, o) = (sigmoid(z[j]), sigmoid(z[units + j]), Foundation.tanh(z[2 * units + j]), sigmoid(z[3 * units + j]))
                    cs[r * units + j] = f * cp[r * units + j] + i * g
                    hs[r * units + j] = o * Foundation.tanh(cs[r * units + j])
                }
            }
            return (hs, cs)
        }
    }

    /// Batches of row tiles (32, 17), of unit tiles (1, 5, with 80 and 20 units: a partial
    /// vector and a last tile of 16), and the Add's operands swapped.
    @Test(arguments: [(32, 24, 64, false), (17, 8, 32, false), (1, 16, 80, false), (5, 12, 20, true), (3, 4, 130, true)])
    func cellsFuseAndKeepTheirValues(batch: Int, inputs: Int, units: Int, swapped: Bool) throws {
        let step = try Step(batch: batch, inputs: inputs, units: units, swapped: swapped, seed: UInt64(batch * 1000 + units))
        let fused = try step.run(threads: 2), alone = try step.run(threads: 1), unfused = try step.run(threads: 2, fused: false)
        #expect(fused.ops.filter { $0 == "_SomaFusedLSTMCell" }.count == 1, "\(fused.ops)")
        #expect(!fused.ops.contains("Sigmoid") && !fused.ops.contains("Split") && !fused.ops.contains("_SomaFusedElementwise"),
                "\(fused.ops)")
        #expect(!unfused.ops.contains("_SomaFusedLSTMCell"))
        // One thread or two: the same bits.
        #expect(fused.h == alone.h && fused.c == alone.c)
        // The unfused ops: the same operations on each element after the products, which
        // may round differently (a tile's GEMM against the whole step's).
        let reference = step.reference(batch: batch, inputs: inputs, units: units)
        for (name, got, plain, expected) in [("h", fused.h, unfused.h, reference.h), ("c", fused.c, unfused.c, reference.c)] {
            let error = zip(got, expected).map { abs(Double($0) - $1) }.max() ?? .infinity
            let fromUnfused = zip(got, plain).map { abs($0 - $1) }.max() ?? .infinity
            #expect(error < 2e-5, "\(name): max |Δ| from float64 \(error)")
            #expect(fromUnfused < 2e-5, "\(name): max |Δ| from the unfused plan \(fromUnfused)")
        }
    }

    /// Every per-CPU build of the cell's loops gives the bits of the scalar forms (here, the
    /// baseline build's): a tile of 3 rows of 37 units, whose products, inputs and state
    /// rows are strided as in the kernel, gate parts in Keras' order permuted.
    @Test(arguments: CPULevel.allCases.filter { $0 <= CPULevel.detected })
    func everyBuildOfTheCellGivesTheSameBits(level: CPULevel) {
        let (rows, n, units) = (3, 37, 40)
        var rng = SplitMix64(seed: 11)
        func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float.random(in: -4...4, using: &rng) } }
        var products = random(rows * 4 * n), inputs = random(rows * 4 * units), bias = random(4 * units), cPrev = random(rows * units)
        func run(_ level: CPULevel) -> [Float] {
            var out = [Float](repeating: .nan, count: 2 * rows * units), scratch = [Float](repeating: 0, count: 4 * rows * n)
            products.withUnsafeMutableBufferPointer { p in
                inputs.withUnsafeMutableBufferPointer { x in
                    bias.withUnsafeMutableBufferPointer { b in
                        cPrev.withUnsafeMutableBufferPointer { cp in
                            out.withUnsafeMutableBufferPointer { o in
                                scratch.withUnsafeMutableBufferPointer { s in
                                    VectorKernels.lstmCell(LSTMCellTile(
                                        rows: rows, count: n, order: (2, 0, 3, 1), products: FloatRows(p.baseAddress!, rowStride: 4 * n),
                                        productPart: n, inputs: FloatRows(x.baseAddress! + 1, rowStride: 4 * units), inputPart: units,
                                        bias: UnsafePointer(b.baseAddress! + 1), biasPart: units, cPrev: FloatRows(cp.baseAddress! + 2, rowStride: units),
                                        c: FloatRows(o.baseAddress!, rowStride: units), h: FloatRows(o.baseAddress! + rows * units, rowStride: units),
                                        scratch: s.baseAddress!), level: level)
                                }
                            }
                        }
                    }
                }
            }
            return out
        }
        let (got, baseline) = (run(level), run(.baseline))
        #expect(got.map(\.bitPattern) == baseline.map(\.bitPattern))
        // Written: n of each row's units, the rest untouched.
        #expect(got.filter { !$0.isNaN }.count == 2 * rows * n)
    }

    /// One Keras GRU step (`reset_after`), as `tf.keras.layers.GRUCell` writes it: the input
    /// and recurrent products each plus its bias and split in three (update, reset,
    /// candidate), then `h = z·h_prev + (1 − z)·tanh(x_h + r·m_h)`.
    struct GRUStep {
        let graph = Graph()
        let x: Output, h: Output, newH: Output
        let values: [String: [Double]]

        init(batch: Int, inputs: Int, units: Int, swapped: Bool = false, seed: UInt64) throws {
            var draws = Draws(rng: SplitMix64(seed: seed))
            let g = graph
            x = try g.placeholder(.float32, shape: [batch, inputs], name: "x")
            h = try g.placeholder(.float32, shape: [batch, units], name: "h")
            let w = try g.constant(draws.tensor("w", [inputs, 3 * units], scale: 0.5))
            let u = try g.constant(draws.tensor("u", [units, 3 * units], scale: 0.5))
            let bx = try g.constant(draws.tensor("bx", [3 * units], scale: 0.5)), bh = try g.constant(draws.tensor("bh", [3 * units], scale: 0.5))
            let xs = try split(biasAdd(matmul(x, w), bx), count: 3, axis: 1)
            // Keras writes the recurrent split as a SplitV of [H, H, −1] (here the swapped variant).
            let recurrent = try biasAdd(matmul(h, u), bh)
            let ms = try swapped ? split(recurrent, sizes: [units, units, -1], axis: 1) : split(recurrent, count: 3, axis: 1)
            let z = try sigmoid(swapped ? ms[0] + xs[0] : xs[0] + ms[0]), r = try sigmoid(xs[1] + ms[1])
            let candidate = try tanh(swapped ? ms[2] * r + xs[2] : xs[2] + r * ms[2])
            let one = try g.constant(Float(1))
            newH = try swapped ? (one - z) * candidate + h * z : z * h + (one - z) * candidate
            for (name, shape) in [("x", [batch, inputs]), ("h", [batch, units])] { _ = draws.tensor(name, shape) }
            self.values = draws.values
        }

        func run(threads: Int, fused: Bool = true) throws -> (h: [Float], ops: [String]) {
            let r = try RecurrentCellFusionTests.run(graph, [newH], feeding: [x, h], values, threads: threads, fused: fused)
            return (r.outputs[0], r.ops)
        }

        func reference(batch: Int, inputs: Int, units: Int) -> [Double] {
            let (x, hp, w, u, bx, bh) = (values["x"]!, values["h"]!, values["w"]!, values["u"]!, values["bx"]!, values["bh"]!)
            var hs = [Double](repeating: 0, count: batch * units)
            func sigmoid(_ v: Double) -> Double { 1 / (1 + Foundation.exp(-v)) }
            for row in 0..<batch {
                var xz = bx, mz = bh
                for col in 0..<(3 * units) {
                    for k in 0..<inputs { xz[col] += x[row * inputs + k] * w[k * 3 * units + col] }
                    for k in 0..<units { mz[col] += hp[row * units + k] * u[k * 3 * units + col] }
                }
                for j in 0..<units {
                    let z = sigmoid(xz[j] + mz[j]), r = sigmoid(xz[units + j] + mz[units + j])
                    let c = Foundation.tanh(xz[2 * units + j] + r * mz[2 * units + j])
                    hs[row * units + j] = z * hp[row * units + j] + (1 - z) * c
                }
            }
            return hs
        }
    }

    @Test(arguments: [(32, 24, 64, false), (1, 16, 80, true), (5, 12, 20, false), (17, 8, 130, true)])
    func gruCellsFuseAndKeepTheirValues(batch: Int, inputs: Int, units: Int, swapped: Bool) throws {
        let step = try GRUStep(batch: batch, inputs: inputs, units: units, swapped: swapped, seed: UInt64(batch * 1000 + units))
        let fused = try step.run(threads: 2), alone = try step.run(threads: 1), unfused = try step.run(threads: 2, fused: false)
        #expect(fused.ops.filter { $0 == "_SomaFusedGRUCell" }.count == 1, "\(fused.ops)")
        #expect(!fused.ops.contains("Sigmoid") && !fused.ops.contains("_SomaFusedElementwise"), "\(fused.ops)")
        #expect(!unfused.ops.contains("_SomaFusedGRUCell"))
        #expect(fused.h == alone.h)
        let reference = step.reference(batch: batch, inputs: inputs, units: units)
        let error = zip(fused.h, reference).map { abs(Double($0) - $1) }.max() ?? .infinity
        let fromUnfused = zip(fused.h, unfused.h).map { abs($0 - $1) }.max() ?? .infinity
        #expect(error < 2e-5, "max |Δ| from float64 \(error)")
        #expect(fromUnfused < 2e-5, "max |Δ| from the unfused plan \(fromUnfused)")
    }

    /// Every per-CPU build of the GRU cell's loops gives the baseline build's bits.
    @Test(arguments: CPULevel.allCases.filter { $0 <= CPULevel.detected })
    func everyBuildOfTheGRUCellGivesTheSameBits(level: CPULevel) {
        let (rows, n, units) = (3, 37, 40)
        var rng = SplitMix64(seed: 12)
        func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float.random(in: -4...4, using: &rng) } }
        var products = random(rows * 3 * n), inputs = random(rows * 3 * units), bias = random(3 * units), hPrev = random(rows * units)
        func run(_ level: CPULevel) -> [Float] {
            var out = [Float](repeating: .nan, count: rows * units), scratch = [Float](repeating: 0, count: 3 * rows * n)
            products.withUnsafeMutableBufferPointer { p in
                inputs.withUnsafeMutableBufferPointer { x in
                    bias.withUnsafeMutableBufferPointer { b in
                        hPrev.withUnsafeMutableBufferPointer { hp in
                            out.withUnsafeMutableBufferPointer { o in
                                scratch.withUnsafeMutableBufferPointer { s in
                                    VectorKernels.gruCell(GRUCellTile(
                                        rows: rows, count: n, order: (1, 2, 0), products: FloatRows(p.baseAddress!, rowStride: 3 * n),
                                        productPart: n, inputs: FloatRows(x.baseAddress! + 1, rowStride: 3 * units), inputPart: units,
                                        bias: UnsafePointer(b.baseAddress! + 1), biasPart: units,
                                        hPrev: FloatRows(hp.baseAddress! + 2, rowStride: units), h: FloatRows(o.baseAddress!, rowStride: units),
                                        scratch: s.baseAddress!), level: level)
                                }
                            }
                        }
                    }
                }
            }
            return out
        }
        let (got, baseline) = (run(level), run(.baseline))
        #expect(got.map(\.bitPattern) == baseline.map(\.bitPattern))
        #expect(got.filter { !$0.isNaN }.count == rows * n)
    }

    /// A cell whose intermediate values something else reads (a training step's gradient
    /// reads the gates) stays unfused.
    @Test func cellsWhoseGatesAreReadStayUnfused() throws {
        let step = try Step(batch: 4, inputs: 8, units: 16, seed: 7)
        let gates = try #require(step.graph.nodes.first { $0.op == "Sigmoid" })
        let session = Session(graph: step.graph)
        let fetches = [step.newH, Output(graph: step.graph, node: gates, index: 0)]
        let plan = try #require(try session.plan(fetches: fetches, feeds: step.feeds))
        #expect(!plan.steps.contains { $0.op == "_SomaFusedLSTMCell" })
        let unfused = try step.run(threads: 1, fused: false)
        #expect(try session.run(fetches: fetches, feeds: step.feeds)[0].scalars(as: Float.self) == unfused.h)
    }

    /// A graph file naming the fused op with a bad gate order or shapes that make no cell
    /// gets one clear error.
    @Test func malformedFusedCellsAreOneError() throws {
        let g = Graph()
        let z = try g.constant(Tensor(repeating: Float(0), shape: [2, 8]))
        let h = try g.constant(Tensor(repeating: Float(0), shape: [2, 2]))
        let u = try g.constant(Tensor(repeating: Float(0), shape: [2, 8]))
        let b = try g.constant(Tensor(repeating: Float(0), shape: [8]))
        #expect(throws: SomaError.self) {
            _ = try g.outputs("_SomaFusedLSTMCell", [z, h, u, b, h], attrs: ["gate_order": .ints([0, 1, 1, 3])], name: "cell", file: "", line: 0)
        }
        let wide = try g.constant(Tensor(repeating: Float(0), shape: [2, 3]))
        #expect(throws: SomaError.self) {
            _ = try g.outputs("_SomaFusedLSTMCell", [z, h, u, b, wide], attrs: ["gate_order": .ints([0, 1, 2, 3])], name: "cell2", file: "", line: 0)
        }
        let z3 = try g.constant(Tensor(repeating: Float(0), shape: [2, 6])), u3 = try g.constant(Tensor(repeating: Float(0), shape: [2, 6]))
        let b3 = try g.constant(Tensor(repeating: Float(0), shape: [6]))
        #expect(throws: SomaError.self) {
            _ = try g.outputs("_SomaFusedGRUCell", [z3, h, u3, b3], attrs: ["gate_order": .ints([0, 1, 3])], name: "gru", file: "", line: 0)
        }
        #expect(throws: SomaError.self) {
            _ = try g.outputs("_SomaFusedGRUCell", [z, h, u3, b3], attrs: ["gate_order": .ints([0, 1, 2])], name: "gru2", file: "", line: 0)
        }
        let gru = try g.outputs("_SomaFusedGRUCell", [z3, h, u3, b3], attrs: ["gate_order": .ints([0, 1, 2])], name: "gru3", file: "", line: 0)
        // Zero gates: z = ½ and a zero candidate, so h = ½·0 + ½·0.
        #expect(try Session(graph: g).run(gru[0], feeds: [:]).scalars(as: Float.self) == [0, 0, 0, 0])
        let cell = try g.outputs("_SomaFusedLSTMCell", [z, h, u, b, h], attrs: ["gate_order": .ints([0, 1, 2, 3])], name: "cell3", file: "", line: 0)
        let r = try Session(graph: g).run(fetches: cell, feeds: [:])
        // Zero gates: σ = ½, tanh = 0, so c = ½·0 + ½·0 = 0 and h = ½·tanh(0) = 0.
        #expect(r.allSatisfy { $0.scalars(as: Float.self) == [0, 0, 0, 0] })
    }
}
