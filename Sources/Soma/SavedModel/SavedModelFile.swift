import Foundation
import SomaProto

/// `saved_model.pb`, parsed: each MetaGraphDef's tags, signatures, saver, main op, assets
/// and graph. The file is untrusted: its size is bounded, its nesting pre-scanned
/// (``WireScanner``), its unpacking budgeted, and every field checked as it is used.
struct SavedModelFile {
    struct TensorInfo {
        let name: String
        let dtype: DType?
        let shape: TensorShape
    }
    struct SignatureDef {
        let methodName: String
        let inputs: [String: TensorInfo]
        let outputs: [String: TensorInfo]
    }
    struct Saver {
        let filenameTensor: String
        let restoreOp: String
        let saveTensor: String
    }
    struct Asset {
        let tensorName: String
        let filename: String
    }
    struct MetaGraph {
        let index: Int
        let tags: Set<String>
        let signatures: [String: SignatureDef]
        let saver: Saver?
        let mainOp: String?
        let assets: [Asset]
        /// TF1's `trainable_variables` collection, when present.
        let trainable: Set<String>?
        let tensorflowVersion: String
    }

    let directory: URL
    let metaGraphs: [MetaGraph]
    private let bytes: [UInt8]
    private let limits: GraphDefLimits

    static func fail(_ directory: URL, _ message: String) -> SomaError {
        .invalidArgument("SavedModel '\(directory.path)': \(message)")
    }

    init(directory: URL, limits: GraphDefLimits) throws {
        self.directory = directory
        self.limits = limits
        let path = directory.appendingPathComponent("saved_model.pb").path
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw SomaError.notFound("'\(directory.path)' is not a SavedModel directory")
        }
        guard FileManager.default.fileExists(atPath: path) else {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("saved_model.pbtxt").path) {
                throw SomaError.unimplemented("'\(directory.path)' holds saved_model.pbtxt (text format), which Soma does not read; save it as binary")
            }
            throw SomaError.notFound("'\(directory.path)' is not a SavedModel: it has no saved_model.pb")
        }
        bytes = try FileBytes.read(path, limit: limits.maxFileBytes, budget: limits.memoryBudget ?? MemoryBudget(), what: "saved_model.pb")
        let fail = { (m: String) in Self.fail(directory, m) }
        metaGraphs = try Self.withUnpacked(bytes, limits: limits, fail: fail) { model in
            try (0..<model.n_meta_graphs).map { i in
                guard let m = model.meta_graphs[i] else { throw fail("meta_graphs[\(i)] is missing") }
                return try Self.metaGraph(m.pointee, index: i, fail: fail)
            }
        }
    }

    /// The MetaGraphDef tagged exactly `tags`.
    /// - Throws: `NotFound` listing the tag sets there are.
    func metaGraph(tagged tags: Set<String>) throws -> MetaGraph {
        guard let meta = metaGraphs.first(where: { $0.tags == tags }) else {
            let available = metaGraphs.map { "[" + $0.tags.sorted().joined(separator: ", ") + "]" }.joined(separator: " ")
            throw SomaError.notFound("'\(directory.path)' has no MetaGraphDef tagged [\(tags.sorted().joined(separator: ", "))]; "
                                     + "its tag sets: \(available.isEmpty ? "none" : available)")
        }
        return meta
    }

    /// Runs `body` on the unpacked SavedModel (freed afterwards).
    private static func withUnpacked<R>(_ bytes: [UInt8], limits: GraphDefLimits, fail: (String) -> SomaError,
                                        _ body: (Tensorflow__SavedModel) throws -> R) throws -> R {
        try bytes.withUnsafeBytes { raw in
            do { try WireScanner.check(raw, as: .savedModel) } catch let f as WireScanner.Failure { throw fail(f.message) }
            var allocator = SomaBudgetAllocator()
            soma_budget_allocator_init(&allocator, limits.unpackBudget(forFileBytes: raw.count))
            let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(bitPattern: 1)!
            let unpacked = withUnsafeMutablePointer(to: &allocator.allocator) { tensorflow__saved_model__unpack($0, raw.count, base) }
            guard let model = unpacked else {
                if allocator.exceeded != 0 { throw fail("unpacking needs more than the \(allocator.budget)-byte memory budget") }
                throw fail("saved_model.pb does not parse as a SavedModel (a field's value does not match its type)")
            }
            defer { withUnsafeMutablePointer(to: &allocator.allocator) { tensorflow__saved_model__free_unpacked(model, $0) } }
            return try body(model.pointee)
        }
    }

    private static func string(_ p: UnsafePointer<CChar>?, _ field: String, _ fail: (String) -> SomaError) throws -> String {
        do { return try GraphDefDecoder.string(p, field) } catch { throw fail("\(field) is not valid UTF-8") }
    }

    private static func metaGraph(_ m: Tensorflow__MetaGraphDef, index: Int, fail: (String) -> SomaError) throws -> MetaGraph {
        let label = "meta_graphs[\(index)]"
        var tags = Set<String>()
        var version = ""
        if let info = m.meta_info_def?.pointee {
            for k in 0..<info.n_tags { tags.insert(try string(info.tags[k], "\(label) tag", fail)) }
            version = try string(info.tensorflow_version, "\(label) tensorflow_version", fail)
        }
        func tensorInfo(_ p: UnsafeMutablePointer<Tensorflow__TensorInfo>?, _ field: String) throws -> TensorInfo {
            guard let t = p?.pointee else { throw fail("\(field) is empty") }
            guard t.encoding_case == TENSORFLOW__TENSOR_INFO__ENCODING_NAME else {
                throw fail("\(field) is a sparse or composite tensor, which Soma does not support")
            }
            let shape: TensorShape
            do { shape = try GraphDefDecoder.shape(t.tensor_shape, field) } catch let e as SomaError { throw fail(e.message) }
            return TensorInfo(name: try string(t.name, "\(field) name", fail),
                              dtype: DType(rawValue: Int32(truncatingIfNeeded: t.dtype.rawValue)), shape: shape)
        }
        var signatures: [String: SignatureDef] = [:]
        for k in 0..<m.n_signature_def {
            guard let e = m.signature_def[k]?.pointee else { continue }
            let key = try string(e.key, "\(label) signature key", fail)
            guard let s = e.value?.pointee else { throw fail("signature '\(key)' is empty") }
            var inputs: [String: TensorInfo] = [:], outputs: [String: TensorInfo] = [:]
            for j in 0..<s.n_inputs {
                guard let i = s.inputs[j]?.pointee else { continue }
                let name = try string(i.key, "signature '\(key)' input key", fail)
                inputs[name] = try tensorInfo(i.value, "signature '\(key)' input '\(name)'")
            }
            for j in 0..<s.n_outputs {
                guard let o = s.outputs[j]?.pointee else { continue }
                let name = try string(o.key, "signature '\(key)' output key", fail)
                outputs[name] = try tensorInfo(o.value, "signature '\(key)' output '\(name)'")
            }
            signatures[key] = SignatureDef(methodName: try string(s.method_name, "signature '\(key)' method_name", fail),
                                           inputs: inputs, outputs: outputs)
        }
        var saver: Saver? = nil
        if let s = m.saver_def?.pointee {
            saver = Saver(filenameTensor: try string(s.filename_tensor_name, "saver_def filename_tensor_name", fail),
                          restoreOp: try string(s.restore_op_name, "saver_def restore_op_name", fail),
                          saveTensor: try string(s.save_tensor_name, "saver_def save_tensor_name", fail))
        }
        var collections: [String: [String]] = [:]
        var trainable: Set<String>? = nil
        for k in 0..<m.n_collection_def {
            guard let e = m.collection_def[k]?.pointee, let c = e.value?.pointee else { continue }
            let key = try string(e.key, "\(label) collection key", fail)
            if c.kind_case == TENSORFLOW__COLLECTION_DEF__KIND_NODE_LIST, let list = c.node_list?.pointee {
                collections[key] = try (0..<list.n_value).map { try string(list.value[$0], "collection '\(key)'", fail) }
            }
            if key == "trainable_variables", c.kind_case == TENSORFLOW__COLLECTION_DEF__KIND_BYTES_LIST, let list = c.bytes_list?.pointee {
                trainable = Set(try (0..<list.n_value).map { try variableName(list.value[$0], fail) })
            }
        }
        let mainOp = collections["saved_model_main_op"]?.first ?? collections["main_op"]?.first ?? collections["legacy_init_op"]?.first
            ?? signatures["__saved_model_init_op"]?.outputs["__saved_model_init_op"]?.name
        var assets: [Asset] = []
        for k in 0..<m.n_asset_file_def {
            guard let a = m.asset_file_def[k]?.pointee else { continue }
            let filename = try string(a.filename, "asset_file_def[\(k)] filename", fail)
            guard !filename.contains("/"), filename != "..", !filename.isEmpty else {
                throw fail("asset_file_def[\(k)] filename '\(filename)' is not a plain file name")
            }
            assets.append(Asset(tensorName: try tensorInfo(a.tensor_info, "asset_file_def[\(k)]").name, filename: filename))
        }
        return MetaGraph(index: index, tags: tags, signatures: signatures, saver: saver, mainOp: mainOp, assets: assets,
                         trainable: trainable, tensorflowVersion: version)
    }

    /// The variable name of a serialized `VariableDef` (`w:0` → `w`).
    private static func variableName(_ bytes: ProtobufCBinaryData, _ fail: (String) -> SomaError) throws -> String {
        var allocator = SomaBudgetAllocator()
        soma_budget_allocator_init(&allocator, (1 << 16) + 16 * bytes.len)
        let base = bytes.data ?? UnsafeMutablePointer(bitPattern: 1)!
        guard let def = withUnsafeMutablePointer(to: &allocator.allocator, { tensorflow__variable_def__unpack($0, bytes.len, base) }) else {
            throw fail("a trainable_variables entry is not a VariableDef")
        }
        defer { withUnsafeMutablePointer(to: &allocator.allocator) { tensorflow__variable_def__free_unpacked(def, $0) } }
        let name = try string(def.pointee.variable_name, "VariableDef variable_name", fail)
        return name.split(separator: ":").first.map(String.init) ?? name
    }

    /// The graph of `meta`, built as a GraphDef file is (functions inlined), its
    /// variables listed with TF1's trainable collection when there is one.
    func graph(of meta: MetaGraph) throws -> Graph {
        let graph = Graph()
        let fail = { (m: String) in Self.fail(directory, m) }
        try Self.withUnpacked(bytes, limits: limits, fail: fail) { model in
            guard let m = model.meta_graphs[meta.index]?.pointee, let def = m.graph_def else {
                throw fail("meta_graphs[\(meta.index)] has no graph_def")
            }
            var decoder = GraphDefDecoder(limits: limits)
            do {
                try decoder.build(def, into: graph, trainable: meta.trainable.map { names in { names.contains($0.name) } })
            } catch let e as SomaError {
                throw SomaError(e.code, "SavedModel '\(directory.path)': \(e.message)")
            }
        }
        return graph
    }
}
