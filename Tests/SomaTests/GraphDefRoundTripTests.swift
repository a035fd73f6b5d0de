import Foundation
import Testing
@testable import Soma

@Suite struct GraphDefRoundTripTests {
    /// A graph that exercises every attribute kind Soma writes.
    static func sampleGraph() throws -> Graph {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 3], name: "x")
        let u = try g.placeholder(.int64, name: "unknown_rank")
        let w = try g.variable(Tensor(repeating: Float(0.5), shape: [3, 2]), name: "w")
        let y = try g.withNameScope("dense") { try relu(biasAdd(matmul(x, w.value), g.constant(Tensor([Float(1), -1])))) }
        _ = try leakyRelu(y, alpha: 0.1)
        _ = try squeeze(expandDims(y, axis: 0), axis: [0])
        _ = try stridedSlice(y, begin: [0, 1], end: [0, 2], beginMask: 1, endMask: 1, name: "cols")
        _ = try g.constant(Tensor([true, false]), name: "flags")
        _ = try g.constant(Tensor([UInt8(1), 255]), name: "bytes")
        _ = try g.constant(Tensor(Double(2.5)), name: "scalar64")
        _ = try g.constant(Tensor([Int64.min, Int64.max]), name: "big")
        _ = try g.constant(Tensor(zeros: .float32, shape: [0, 4]), name: "empty")
        _ = try cast(u, to: .int32)
        _ = try g.withControlDependencies([w.initializer]) { try identity(y, name: "after_init") }
        _ = try g.addNode(op: "NoOp", inputs: [], name: "on_device", device: "/device:CPU:0")
        _ = try g.globalVariablesInitializer()
        return g
    }

    @Test func saveLoadSaveIsByteIdentical() throws {
        let g = try Self.sampleGraph()
        let first = g.graphDef()
        let loaded = try Graph(graphDef: first)
        let second = loaded.graphDef()
        #expect(first == second)
        #expect(loaded.nodes.map(\.name) == g.nodes.map(\.name))
        for (a, b) in zip(g.nodes, loaded.nodes) {
            #expect(a.op == b.op)
            #expect(a.attrs == b.attrs, "\(a.name)")
            #expect(a.inputs.map(\.name) == b.inputs.map(\.name))
            #expect(a.controlInputs.map(\.name) == b.controlInputs.map(\.name))
            #expect(a.device == b.device)
            #expect(a.outputShapes == b.outputShapes)
        }
        #expect(loaded.versions == GraphVersions.soma)
    }

    @Test func savedGraphsRunTheSame() throws {
        let g = try Self.sampleGraph()
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("soma-roundtrip-\(UUID()).pb")
        defer { try? FileManager.default.removeItem(at: url) }
        try g.save(to: url)
        let loaded = try Graph(contentsOf: url)
        let feed = try Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        func run(_ graph: Graph) throws -> Tensor {
            let s = Session(graph: graph)
            try s.run(target: graph.node(named: "init")!)
            return try s.run(graph.output(named: "after_init")!, feeds: [graph.output(named: "x")!: feed])
        }
        #expect(try run(g) == run(loaded))
        // Saving over an existing file replaces it.
        try loaded.save(to: url)
        #expect(try Data(contentsOf: url) == Data(g.graphDef()))
    }
}
