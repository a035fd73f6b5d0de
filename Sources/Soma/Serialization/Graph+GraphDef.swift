import Foundation

extension Graph {
    /// Loads a TensorFlow GraphDef (`.pb`) file, rebuilding it through the same signature
    /// checks and shape inference as a graph built in Swift.
    ///
    /// The file is untrusted: its size, the memory protobuf-c may use to unpack it and the
    /// tensors it may materialise are bounded by `limits`, and every structural rule is
    /// checked (see ``GraphDefLimits``).
    /// - Throws: ``SomaError`` naming the node and field at fault; `unimplemented` listing
    ///   every op Soma lacks and the nodes using it.
    public convenience init(contentsOf url: URL, limits: GraphDefLimits = .default) throws {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder), isFolder.boolValue {
            let hint = FileManager.default.fileExists(atPath: url.appendingPathComponent("saved_model.pb").path)
                ? ": it is a SavedModel directory (load it with SavedModel.load(from:))" : ", not a GraphDef file"
            throw SomaError.invalidArgument("'\(url.path)' is a directory\(hint)")
        }
        let bytes = try FileBytes.read(url.path, limit: limits.maxFileBytes, budget: limits.memoryBudget ?? MemoryBudget(), what: "GraphDef")
        do {
            try self.init(graphDef: bytes, limits: limits)
        } catch let error as SomaError {
            throw SomaError(error.code, "\(url.lastPathComponent): \(error.message)")
        }
    }

    /// Loads serialized GraphDef bytes.
    public convenience init(graphDef bytes: some DataProtocol, limits: GraphDefLimits = .default) throws {
        self.init()
        var decoder = GraphDefDecoder(limits: limits)
        let contiguous = bytes as? Data ?? Data(bytes)
        try contiguous.withUnsafeBytes { try decoder.decode($0, into: self) }
    }

    /// The graph as serialized GraphDef bytes (TensorFlow's wire format).
    public func graphDef() -> [UInt8] { GraphDefEncoder.encode(self) }

    /// Writes the graph as a GraphDef file, atomically: a crash mid-save leaves either the
    /// old file or the new one, never a torn file.
    public func save(to url: URL) throws {
        try AtomicFile.write(graphDef(), to: url)
    }
}
