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
        let size: Int
        do {
            size = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue ?? 0
        } catch {
            throw SomaError.notFound("cannot read '\(url.path)': \(error.localizedDescription)")
        }
        guard size <= limits.maxFileBytes else {
            throw SomaError.invalidArgument("'\(url.path)' is \(size) bytes, larger than the \(limits.maxFileBytes)-byte limit")
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SomaError.notFound("cannot read '\(url.path)': \(error.localizedDescription)")
        }
        do {
            try self.init(graphDef: data, limits: limits)
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
