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

/// Atomic file replacement: write a temporary file in the same folder, flush it to disk,
/// rename it over the target, flush the folder.
///
/// Temporaries are named `.<file>.tmp-<pid>-<random>`; each save first removes those of
/// processes that no longer run (a save killed midway), so killed saves leave no growing
/// litter.
enum AtomicFile {
    static func write(_ bytes: [UInt8], to url: URL) throws {
        let folder = url.deletingLastPathComponent().path
        removeStaleTemporaries(of: url)
        let temporary = "\(folder)/\(temporaryPrefix(of: url))\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw SomaError.invalidArgument("cannot create '\(temporary)': \(String(cString: strerror(errno)))") }
        var ok = false
        defer { if !ok { unlink(temporary) } }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                close(fd)
                throw SomaError.invalidArgument("cannot write '\(temporary)': \(String(cString: strerror(errno)))")
            }
            offset += n
        }
        guard fsync(fd) == 0, close(fd) == 0 else {
            throw SomaError.invalidArgument("cannot flush '\(temporary)': \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, url.path) == 0 else {
            throw SomaError.invalidArgument("cannot replace '\(url.path)': \(String(cString: strerror(errno)))")
        }
        ok = true
        let dir = open(folder, O_RDONLY)
        if dir >= 0 { _ = fsync(dir); close(dir) }
    }

    static func temporaryPrefix(of url: URL) -> String { ".\(url.lastPathComponent).tmp-" }

    /// Deletes `url`'s temporaries left by processes that have exited.
    static func removeStaleTemporaries(of url: URL) {
        let folder = url.deletingLastPathComponent().path, prefix = temporaryPrefix(of: url)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for name in names where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            guard let dash = rest.firstIndex(of: "-"), let pid = pid_t(rest[..<dash]), pid > 0 else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH { unlink("\(folder)/\(name)") }
        }
    }
}
