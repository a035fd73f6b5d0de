import Foundation
import Testing
@testable import Soma

/// Hostile SavedModels — recursion, exponential and deep function nesting, dangling
/// references, truncation, lying signatures, corrupt variables — are one clean line each,
/// quickly, never a crash or a hang.
@Suite struct HostileSavedModelTests {
    // MARK: A small protobuf writer for the messages involved

    typealias Message = (inout ProtoBytes) -> Void

    static func attr(_ key: String, _ value: @escaping Message) -> Message {
        { m in m.message(5) { e in e.string(1, key); e.message(2, value) } }
    }
    static func type(_ t: DType) -> Message { { $0.varint(6, UInt64(t.rawValue)) } }
    static func types(_ ts: [DType]) -> Message { { a in a.message(1) { l in for t in ts { l.varint(6, UInt64(t.rawValue)) } } } }
    static func function(_ name: String) -> Message { { a in a.message(10) { $0.string(1, name) } } }

    /// A `NodeDef`.
    static func node(_ name: String, _ op: String, _ inputs: [String] = [], _ attrs: [Message] = []) -> Message {
        { n in
            n.string(1, name)
            n.string(2, op)
            for i in inputs { n.string(3, i) }
            for a in attrs { a(&n) }
        }
    }

    /// A call of `f` (float → float).
    static func call(_ name: String, _ f: String, _ input: String) -> Message {
        node(name, "PartitionedCall", [input], [attr("f", function(f)), attr("Tin", types([.float32])), attr("Tout", types([.float32]))])
    }

    /// A `FunctionDef` float `x` → float `y`, with `body` and `y` returned from `ret`.
    static func functionDef(_ name: String, body: [Message], ret: String) -> Message {
        { f in
            f.message(1) { s in
                s.string(1, name)
                s.message(2) { a in a.string(1, "x"); a.varint(3, UInt64(DType.float32.rawValue)) }
                s.message(3) { a in a.string(1, "y"); a.varint(3, UInt64(DType.float32.rawValue)) }
            }
            for n in body { f.message(3, n) }
            f.message(4) { e in e.string(1, "y"); e.string(2, ret) }
        }
    }

    /// A SavedModel tagged `serve` whose graph is a placeholder `x` fed to `graph` nodes and a
    /// `serving_default` signature from `x:0` to `output`.
    static func savedModel(graph: [Message], functions: [Message], output: String = "call:0") -> [UInt8] {
        var graphDef = ProtoBytes()
        graphDef.message(1, node("x", "Placeholder", [], [attr("dtype", type(.float32))]))
        for n in graph { graphDef.message(1, n) }
        if !functions.isEmpty { graphDef.message(2) { lib in for f in functions { lib.message(1, f) } } }
        graphDef.message(4) { $0.varint(1, 1087) }
        var meta = ProtoBytes()
        meta.message(1) { $0.string(4, "serve") }
        meta.data(2, graphDef.bytes)
        meta.message(5) { e in
            e.string(1, "serving_default")
            e.message(2) { s in
                s.message(1) { i in i.string(1, "x"); i.message(2) { t in t.string(1, "x:0"); t.varint(2, 1) } }
                s.message(2) { o in o.string(1, "y"); o.message(2) { t in t.string(1, output); t.varint(2, 1) } }
                s.string(3, "tensorflow/serving/predict")
            }
        }
        var model = ProtoBytes()
        model.varint(1, 1)
        model.data(2, meta.bytes)
        return model.bytes
    }

    static func write(_ bytes: [UInt8]) throws -> URL {
        let folder = try CheckpointTests.temporaryFolder()
        try Data(bytes).write(to: folder.appendingPathComponent("saved_model.pb"))
        return folder
    }

    /// The load's error, checked to be one clean line that names the directory.
    static func loadError(_ folder: URL, tags: Set<String> = ["serve"]) -> String {
        defer { try? FileManager.default.removeItem(at: folder) }
        do {
            _ = try SavedModel.load(from: folder, tags: tags)
            return "loaded"
        } catch let error as SomaError {
            #expect(error.message.escapingControlCharacters == error.message && !error.message.contains("\n"))
            #expect(error.message.contains(folder.path), "\(error.message)")
            return error.message
        } catch {
            return "not a SomaError: \(error)"
        }
    }

    static var identity: Message { functionDef("identity", body: [node("id", "Identity", ["x"], [attr("T", type(.float32))])], ret: "id:output:0") }

    @Test func aWellFormedHandMadeModelLoadsAndRuns() throws {
        let folder = try Self.write(Self.savedModel(graph: [Self.call("call", "identity", "x")], functions: [Self.identity]))
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = try SavedModel.load(from: folder)
        let out = try model.signatures["serving_default"]!.run(["x": Tensor([Float(1), 2], shape: [2])])
        #expect(out["y"]?.scalars(as: Float.self) == [1, 2])
    }

    @Test func recursionIsRefused() throws {
        let selfCalling = Self.functionDef("loop", body: [Self.call("again", "loop", "x")], ret: "again:output:0")
        #expect(Self.loadError(try Self.write(Self.savedModel(graph: [Self.call("call", "loop", "x")], functions: [selfCalling])))
            .contains("function 'loop' calls itself"))
        let a = Self.functionDef("a", body: [Self.call("c", "b", "x")], ret: "c:output:0")
        let b = Self.functionDef("b", body: [Self.call("c", "a", "x")], ret: "c:output:0")
        #expect(Self.loadError(try Self.write(Self.savedModel(graph: [Self.call("call", "a", "x")], functions: [a, b])))
            .contains("function 'a' calls itself (through a → b)"))
    }

    /// f_k(x) = f_{k-1}(x) + f_{k-1}(x), 40 deep: 2^40 nodes from a file of a few KB.
    @Test func exponentialInliningStopsAtABoundProportionalToTheFile() throws {
        var functions = [Self.identity]
        for k in 1...40 {
            let previous = k == 1 ? "identity" : "f\(k - 1)"
            functions.append(Self.functionDef("f\(k)", body: [
                Self.call("l", previous, "x"), Self.call("r", previous, "x"),
                Self.node("sum", "AddV2", ["l:output:0", "r:output:0"], [Self.attr("T", Self.type(.float32))]),
            ], ret: "sum:z:0"))
        }
        let start = ContinuousClock.now
        let message = Self.loadError(try Self.write(Self.savedModel(graph: [Self.call("call", "f40", "x")], functions: functions)))
        #expect(message.contains("inlining function calls produces more than 100000 nodes"), "\(message)")
        #expect(ContinuousClock.now - start < .seconds(60))  // a bound against hangs, not a timing
    }

    @Test func deepNestingIsRefused() throws {
        var functions = [Self.identity]
        for k in 1...80 {
            functions.append(Self.functionDef("f\(k)", body: [Self.call("c", k == 1 ? "identity" : "f\(k - 1)", "x")], ret: "c:output:0"))
        }
        #expect(Self.loadError(try Self.write(Self.savedModel(graph: [Self.call("call", "f80", "x")], functions: functions)))
            .contains("function calls nest deeper than 64"))
    }

    @Test func danglingReferencesAndArityAreRefused() throws {
        func error(_ graph: [Message], _ functions: [Message]) throws -> String {
            Self.loadError(try Self.write(Self.savedModel(graph: graph, functions: functions)))
        }
        #expect(try error([Self.call("call", "nowhere", "x")], [Self.identity]).contains("calls function 'nowhere', which the graph's library does not define"))
        #expect(try error([Self.call("call", "identity", "x")], []).contains("calls a function, but the graph has no function library"))
        let dangling = Self.functionDef("bad", body: [Self.node("id", "Identity", ["ghost:output:0"], [Self.attr("T", Self.type(.float32))])], ret: "id:output:0")
        #expect(try error([Self.call("call", "bad", "x")], [dangling]).contains("function 'bad' refers to 'ghost:output:0', but has no node 'ghost'"))
        let twoInputs = Self.node("call", "PartitionedCall", ["x", "x"], [Self.attr("f", Self.function("identity")),
                                                                            Self.attr("Tin", Self.types([.float32, .float32])),
                                                                            Self.attr("Tout", Self.types([.float32]))])
        #expect(try error([twoInputs], [Self.identity]).contains("passes 2 inputs to function 'identity', which takes 1"))
        let duplicate = try error([Self.call("call", "identity", "x")], [Self.identity, Self.identity])
        #expect(duplicate.contains("a duplicate name 'identity'"))
    }

    /// A `While` whose body's arguments do not match its inputs fails naming the node and
    /// both signatures.
    @Test func loopBodyOverAVariantNamesTheArgument() throws {
        let variantBody: Message = { f in
            f.message(1) { s in
                s.string(1, "body")
                s.message(2) { a in a.string(1, "list"); a.varint(3, 21) }  // DT_VARIANT
                s.message(3) { a in a.string(1, "out"); a.varint(3, 21) }
            }
            f.message(4) { e in e.string(1, "out"); e.string(2, "list") }
        }
        let loop = Self.node("call", "While", ["x"], [Self.attr("T", Self.types([.float32])), Self.attr("body", Self.function("body")),
                                                     Self.attr("cond", Self.function("body"))])
        let message = Self.loadError(try Self.write(Self.savedModel(graph: [loop], functions: [variantBody])))
        #expect(message.contains("function 'body' takes (variant) but is called with (float32) for 'call' (op: 'While')"), "\(message)")
    }

    @Test func truncatedAndLyingFilesAreCleanErrors() throws {
        let good = Self.savedModel(graph: [Self.call("call", "identity", "x")], functions: [Self.identity])
        // Every truncation point of the file.
        for cut in stride(from: 1, to: good.count, by: 7) {
            let message = Self.loadError(try Self.write(Array(good.prefix(cut))))
            #expect(message != "loaded" && !message.hasPrefix("not a SomaError"), "cut at \(cut): \(message)")
        }
        #expect(Self.loadError(try Self.write(good), tags: ["train"]).contains("has no MetaGraphDef tagged [train]; its tag sets: [serve]"))
        let lying = Self.savedModel(graph: [Self.call("call", "identity", "x")], functions: [Self.identity], output: "missing:0")
        #expect(Self.loadError(try Self.write(lying)).contains("signature 'serving_default' output names 'missing:0', which is not a tensor of the graph"))

        let text = try CheckpointTests.temporaryFolder()
        try Data("meta_graphs {}".utf8).write(to: text.appendingPathComponent("saved_model.pbtxt"))
        #expect(Self.loadError(text).contains("saved_model.pbtxt (text format)"))
        let empty = try CheckpointTests.temporaryFolder()
        #expect(Self.loadError(empty).contains("it has no saved_model.pb"))
    }

    /// A fixture's variables with one data byte flipped: the restore names the tensor and
    /// says the file is corrupt; a truncated data file says how short it is.
    @Test func corruptVariablesAreNamed() throws {
        for damage in ["flip", "truncate"] {
            let folder = try CheckpointTests.temporaryFolder()
            let source = SavedModelTests.root.appendingPathComponent("tf1_ref")
            for item in ["saved_model.pb", "variables"] {
                try FileManager.default.copyItem(at: source.appendingPathComponent(item), to: folder.appendingPathComponent(item))
            }
            let data = folder.appendingPathComponent("variables/variables.data-00000-of-00001")
            var bytes = [UInt8](try Data(contentsOf: data))
            if damage == "flip" { bytes[bytes.count / 2] ^= 0x40 } else { bytes.removeLast(bytes.count / 3) }
            try Data(bytes).write(to: data)
            let message = Self.loadError(folder)
            #expect(message.contains(damage == "flip" ? "checksum mismatch" : "which has"), "\(message)")
            #expect(message.contains("variables/variables"), "\(message)")
        }
    }
}
