import Foundation

/// Reading whole files and byte ranges with clear errors and bounded memory.
enum FileBytes {
    struct Handle {
        let fd: Int32
        let size: Int

        /// Fills `buffer` from `offset`, failing on a short read.
        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int, path: String) throws {
            var done = 0
            while done < buffer.count {
                let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    throw SomaError.dataLoss("'\(path)' ended after \(offset + done) bytes, \(buffer.count - done) short")
                }
                done += n
            }
        }
    }

    /// Opens `path` for reading. - Throws: `NotFound` naming the file.
    static func open(_ path: String) throws -> Handle {
        let fd = Foundation.open(path, O_RDONLY)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw errno == ENOENT ? SomaError.notFound("'\(path)' does not exist") : SomaError.invalidArgument("cannot open '\(path)': \(reason)")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw SomaError.invalidArgument("'\(path)' is not a regular file")
        }
        return Handle(fd: fd, size: Int(info.st_size))
    }

    /// The whole file, when it is at most `limit` bytes; the bytes count against `budget`
    /// while they are read.
    static func read(_ path: String, limit: Int, budget: MemoryBudget, what: String) throws -> [UInt8] {
        let file = try open(path)
        defer { close(file.fd) }
        guard file.size <= limit else {
            throw SomaError(.resourceExhausted, "\(what) '\(path)' is \(file.size) bytes, more than the limit of \(limit)")
        }
        try budget.reserve(file.size, for: "reading \(what) '\(path)'")
        defer { budget.release(file.size) }
        var bytes = [UInt8](repeating: 0, count: file.size)
        try bytes.withUnsafeMutableBytes { try file.read(into: $0, at: 0, path: path) }
        return bytes
    }
}
