import Foundation
import Testing
@testable import Soma

/// Resource variables, string plumbing and checkpoint ops, by hand and against TF training
/// runs over resource variables (`Tools/make_saved_model_fixtures.py`).
@Suite struct ResourceVariableTests {
    static let root = Bundle.module.url(forResource: "resource_training", withExtension: nil, subdirectory: "Fixtures")!

    struct Manifest: Decodable {
        struct Run: Decodable {
            let w: [[Double]]
            let global_step: Int
        }
        let steps: Int
        let runs: [String: Run]
    }

    @Test(arguments: ["GradientDescent", "Momentum", "Adam", "RMSProp", "Adagrad"])
    func tensorFlowsResourceTrainingGraphsTrainAlike(_ optimizer: String) throws {
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: Self.root.appendingPathComponent("manifest.json")))
        let run = try #require(manifest.runs[optimizer])
        let g = try Graph(contentsOf: Self.root.appendingPathComponent("\(optimizer).pb"))
        let w = try #require(g.variables.first { $0.name == "w" })
        #expect(w.ref.dtype == .resource && w.dtype == .float32 && w.trainable)
        #expect(g.variables.first { $0.name == "global_step" }?.trainable == false)
        let session = Session(graph: g)
        try session.run(target: try #require(g.node(named: "init")))
        for step in 0..<manifest.steps {
            try session.run(target: try #require(g.node(named: "train")))
            let value = try session.run(w.value).doubleScalars()
            for (a, b) in zip(value, run.w[step]) { #expect(abs(a - b) <= 1e-5 + 1e-5 * abs(b), "\(optimizer) step \(step): \(value) vs \(run.w[step])") }
        }
        let step = try session.run(try #require(g.variables.first { $0.name == "global_step" }).value)
        #expect(step.scalars(as: Int64.self) == [Int64(run.global_step)])
    }

    @Test func handlesReadWriteGatherAndReportInitialisation() throws {
        let g = Graph()
        let handle = try g.output("VarHandleOp", [], attrs: ["dtype": .type(.float32), "shape": .shape([3, 2]), "shared_name": .string("table")],
                                  name: "table", file: #fileID, line: #line)
        #expect(handle.dtype == .resource && handle.shape == [3, 2])
        let initialized = try g.output("VarIsInitializedOp", [handle], name: "is_init", file: #fileID, line: #line)
        let assign = try g.addNode(op: "AssignVariableOp", inputs: [handle, g.constant(Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [3, 2]))],
                                   name: "assign")
        let add = try g.addNode(op: "AssignAddVariableOp", inputs: [handle, g.constant(Tensor(repeating: Float(1), shape: [3, 2]))], name: "add")
        let sub = try g.addNode(op: "AssignSubVariableOp", inputs: [handle, g.constant(Tensor(repeating: Float(0.5), shape: [3, 2]))], name: "sub")
        let read = try g.output("ReadVariableOp", [handle], attrs: ["dtype": .type(.float32)], name: "read", file: #fileID, line: #line)
        #expect(read.shape == [3, 2])
        let rows = try g.output("ResourceGather", [handle, g.constant(Tensor([Int32(2), 0, 2]))], attrs: ["dtype": .type(.float32)],
                                name: "gather", file: #fileID, line: #line)
        #expect(rows.shape == [3, 2])
        let copyOnRead = try g.addNode(op: "DisableCopyOnRead", inputs: [handle], name: "no_copy")
        let session = Session(graph: g)
        #expect(try session.run(initialized).scalars(as: Bool.self) == [false])
        #expect(throws: SomaError.self) { try session.run(read) }
        try session.run(target: copyOnRead)  // uninitialised is fine: nothing is read
        try session.run(target: assign)
        #expect(try session.run(initialized).scalars(as: Bool.self) == [true])
        try session.run(target: add)
        try session.run(target: sub)
        #expect(try session.run(read).scalars(as: Float.self) == [1.5, 2.5, 3.5, 4.5, 5.5, 6.5])
        #expect(try session.run(rows).scalars(as: Float.self) == [5.5, 6.5, 1.5, 2.5, 5.5, 6.5])
        // A ref variable reports its state through IsVariableInitialized.
        let v = try g.variable(Tensor(Float(3)), name: "v")
        let refInitialized = try g.output("IsVariableInitialized", [v.ref], name: "v_init", file: #fileID, line: #line)
        let fresh = Session(graph: g)
        #expect(try fresh.run(refInitialized).scalars(as: Bool.self) == [false])
        try fresh.run(target: v.initializer!)
        #expect(try fresh.run(refInitialized).scalars(as: Bool.self) == [true])
    }

    @Test func stringPlumbingMatchesTensorFlow() throws {
        let g = Graph()
        let prefix = try g.constant("/ckpt/model")
        let words = try g.constant(Tensor(strings: ["a", "b"], shape: [2]))
        let joined = try stringJoin([prefix, words], separator: "-")
        let sharded = try g.output("ShardedFilename", [prefix, g.constant(Int32(3)), g.constant(Int32(12))], name: "sharded",
                                   file: #fileID, line: #line)
        let spec = try g.output("ShardedFilespec", [prefix, g.constant(Int32(2))], name: "spec", file: #fileID, line: #line)
        let s3 = try g.output("StaticRegexFullMatch", [g.constant(Tensor(strings: ["s3://bucket/x", "/local/x"], shape: [2]))],
                              attrs: ["pattern": .string("^s3://.*")], name: "s3", file: #fileID, line: #line)
        let dynamic = try g.output("RegexFullMatch", [words, g.constant("[a-c]")], name: "dynamic", file: #fileID, line: #line)
        let chosen = try select(g.constant(Tensor([false, true])), words, g.constant(Tensor(strings: ["x", "y"], shape: [2])))
        let stacked = try stack([prefix, prefix])
        let r = try Session(graph: g).run(fetches: [joined, sharded, spec, s3, dynamic, chosen, stacked])
        #expect(r[0].strings == ["/ckpt/model-a", "/ckpt/model-b"])
        #expect(r[1].strings == ["/ckpt/model-00003-of-00012"])
        #expect(r[2].strings == ["/ckpt/model-?????-of-00002"])
        #expect(r[3].scalars(as: Bool.self) == [true, false])
        #expect(r[4].scalars(as: Bool.self) == [true, true])
        #expect(r[5].strings == ["x", "b"])
        #expect(r[6].strings == ["/ckpt/model", "/ckpt/model"] && r[6].shape == [2])
        // A pattern Soma's matcher cannot parse is an error naming the node.
        let bad = Graph()
        #expect(throws: SomaError.self) {
            try bad.output("StaticRegexFullMatch", [bad.constant("x")], attrs: ["pattern": .string("a**")], name: "bad", file: #fileID, line: #line)
        }
    }

    @Test func regexMatchesInLinearTime() throws {
        func matches(_ pattern: String, _ input: String) throws -> Bool { try ByteRegex(pattern).fullMatch(Array(input.utf8)) }
        #expect(try matches("^s3://.*", "s3://b/k"))
        #expect(try !matches("^s3://.*", "gs://b/k"))
        #expect(try matches("a(b|cd)*e?", "abcdbcd"))
        #expect(try matches("[^/]+/[\\w.]+", "dir/file_1.txt"))
        #expect(try !matches("\\d+", "12a"))
        // Catastrophic for a backtracking matcher (2^n paths); linear here.
        let long = String(repeating: "a", count: 5_000)
        #expect(try !matches("(a*)*b", long))
        #expect(try matches("(a|aa)*", long))
        #expect(throws: ByteRegex.SyntaxError.self) { try ByteRegex("(a") }
        #expect(throws: ByteRegex.SyntaxError.self) { try ByteRegex(String(repeating: "(", count: 200) + String(repeating: ")", count: 200)) }
    }

    @Test func saveAndRestoreOpsRoundTripThroughAGraph() throws {
        let folder = try CheckpointTests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let g = Graph()
        let w = try g.variable(Tensor([1, 2, 3] as [Float]), name: "w")
        let n = try g.variable(Tensor(Int64(9)), name: "n")
        let prefix = try g.placeholder(.string, shape: [], name: "prefix")
        let names = try g.constant(Tensor(strings: ["n", "w"], shape: [2]))
        let slices = try g.constant(Tensor(strings: ["", ""], shape: [2]))
        let temporary = try stringJoin([prefix, g.constant("_temp/part")])
        let save = try g.addNode(op: "SaveV2", inputs: [temporary, names, slices, n.value, w.value], name: "save")
        let merge = try g.addNode(op: "MergeV2Checkpoints", inputs: [stack([temporary]), prefix], name: "merge", controlInputs: [save])
        let restore = try g.addNode(op: "RestoreV2", inputs: [prefix, names, slices], attrs: ["dtypes": .types([.int64, .float32])], name: "restore")
        let assignN = try n.assign(Output(graph: g, node: restore, index: 0))
        let assignW = try w.assign(Output(graph: g, node: restore, index: 1))
        let path = folder.appendingPathComponent("model").path
        let session = Session(graph: g)
        try session.run(target: g.globalVariablesInitializer())
        try session.run(target: merge, feeds: [prefix: Tensor(path)])
        // The sharded temporary is merged into the prefix and removed.
        #expect(FileManager.default.fileExists(atPath: path + ".index"))
        #expect(!FileManager.default.fileExists(atPath: path + "_temp"))
        let fresh = Session(graph: g)
        _ = try fresh.run(fetches: [assignN, assignW], feeds: [prefix: Tensor(path)])
        #expect(try fresh.run(w.value).scalars(as: Float.self) == [1, 2, 3])
        #expect(try fresh.run(n.value).scalars(as: Int64.self) == [9])
        // TF's wording when the checkpoint holds another dtype.
        let wrong = try g.addNode(op: "RestoreV2", inputs: [prefix, g.constant(Tensor(strings: ["w"], shape: [1])), g.constant(Tensor(strings: [""], shape: [1]))],
                                  attrs: ["dtypes": .types([.float64])], name: "wrong")
        let error = #expect(throws: SomaError.self) { _ = try fresh.run(fetches: [Output(graph: g, node: wrong, index: 0)], feeds: [prefix: Tensor(path)]) }
        #expect(error?.message.contains("expected dtype float64 does not equal original dtype float32") == true)
    }
}
