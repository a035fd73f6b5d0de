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
        _ = try g.withControlDependencies([w.initializer!]) { try identity(y, name: "after_init") }
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

    @Test func unknownFieldsSurviveLoadAndSave() throws {
        var w = ProtoWriter()
        w.message(1) { n in
            n.string(1, "x")
            n.string(2, "Placeholder")
            n.message(5) { e in e.string(1, "dtype"); e.message(2) { $0.int(6, 1) } }
            n.message(6) { $0.string(1, "debug info Soma does not model") }   // NodeDef.experimental_debug_info
        }
        w.message(5) { $0.string(1, "debug info of the graph") }                // GraphDef.debug_info
        w.message(4) { $0.int(1, 1234); $0.int(2, 7) }                         // versions
        let g = try Graph(graphDef: w.bytes)
        #expect(g.versions == GraphVersions(producer: 1234, minConsumer: 7))
        let saved = g.graphDef()
        let again = try Graph(graphDef: saved)
        #expect(again.preserved == g.preserved)
        #expect(again.preserved.nodes["x"]?.first?.fieldNumber == 6)
        #expect(again.preserved.graph.first?.fieldNumber == 5)
        #expect(again.graphDef() == saved)
        // The payloads are carried byte for byte.
        #expect(saved.count > w.bytes.count - 4)
        #expect(String(decoding: saved, as: UTF8.self).contains("debug info of the graph"))
        #expect(String(decoding: saved, as: UTF8.self).contains("debug info Soma does not model"))
    }

    @Test(arguments: TensorFlowFixtureTests.models)
    func tensorFlowFilesSurviveARoundTrip(model: String) throws {
        let original = try Graph(contentsOf: TensorFlowFixtureTests.root.appendingPathComponent("\(model)/model.pb"))
        let bytes = original.graphDef()
        let reloaded = try Graph(graphDef: bytes)
        #expect(reloaded.graphDef() == bytes)
        #expect(reloaded.nodes.count == original.nodes.count)
        #expect(reloaded.versions == original.versions)
        #expect(reloaded.preserved == original.preserved)
    }
}
