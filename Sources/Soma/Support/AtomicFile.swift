import Foundation

/// Atomic file replacement: write a temporary file in the same folder, flush it to disk,
/// rename it over the target, flush the folder. A crash mid-save leaves the old file or
/// the new one, never a torn file.
///
/// Temporaries are named `.<file>.tmp-<pid>-<random>`; each save first removes those of
/// processes that no longer run (a save killed midway), so killed saves leave no growing
/// litter.
enum AtomicFile {
    /// Writes `bytes` to `url` atomically.
    static func write(_ bytes: [UInt8], to url: URL) throws {
        try write(to: url) { sink in try bytes.withUnsafeBytes { try sink.append($0) } }
    }

    /// Writes what `body` appends to `url` atomically; nothing replaces `url` when `body`
    /// throws.
    static func write(to url: URL, _ body: (inout Sink) throws -> Void) throws {
        let folder = url.deletingLastPathComponent().path
        removeStaleTemporaries(of: url)
        let temporary = "\(folder)/\(temporaryPrefix(of: url))\(CrashPoints.countdown?.processID ?? getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw SomaError.invalidArgument("cannot create '\(temporary)': \(String(cString: strerror(errno)))") }
        var ok = false
        defer { if !ok { unlink(temporary) } }
        var sink = Sink(fd: fd, path: temporary)
        do {
            try body(&sink)
            try sink.flush()
            try CrashPoints.pass()
        } catch {
            close(fd)
            if error is CrashPoints.Crash { ok = true }  // a crash cleans nothing up
            throw error
        }
        let synced = fsync(fd) == 0, closed = close(fd) == 0  // close even when fsync fails
        guard synced, closed else {
            throw SomaError.invalidArgument("cannot flush '\(temporary)': \(String(cString: strerror(errno)))")
        }
        do { try CrashPoints.pass() } catch { ok = true; throw error }
        guard rename(temporary, url.path) == 0 else {
            throw SomaError.invalidArgument("cannot replace '\(url.path)': \(String(cString: strerror(errno)))")
        }
        ok = true
        try CrashPoints.pass()
        syncFolder(folder)
    }

    /// Flushes a folder's entries (a rename in it) to disk.
    static func syncFolder(_ folder: String) {
        let dir = open(folder, O_RDONLY)
        if dir >= 0 { _ = fsync(dir); close(dir) }
    }

    /// Buffered appends to an open file.
    struct Sink {
        let fd: Int32
        let path: String
        private var buffer: [UInt8] = []
        /// Bytes appended so far.
        private(set) var count = 0
        static let bufferBytes = 1 << 20

        init(fd: Int32, path: String) {
            self.fd = fd
            self.path = path
            buffer.reserveCapacity(Self.bufferBytes)
        }

        /// Appends `bytes`: small ones are gathered in the buffer, large ones (a quarter of
        /// it or more) written straight from where they are.
        mutating func append(_ bytes: UnsafeRawBufferPointer) throws {
            count += bytes.count
            let large = bytes.count >= Self.bufferBytes / 4
            if !large && buffer.count + bytes.count <= Self.bufferBytes {
                buffer.append(contentsOf: bytes)
                return
            }
            try flush()
            if large { try writeAll(bytes) } else { buffer.append(contentsOf: bytes) }
        }

        mutating func append(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try append($0) } }

        mutating func flush() throws {
            guard !buffer.isEmpty else { return }
            try buffer.withUnsafeBytes { try writeAll($0) }
            buffer.removeAll(keepingCapacity: true)
        }

        private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
            var offset = 0
            while offset < bytes.count {
                let piece = Swift.min(CrashPoints.countdown?.pieceBytes ?? Int.max, bytes.count - offset)
                try CrashPoints.pass()
                let n = Foundation.write(fd, bytes.baseAddress! + offset, piece)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw SomaError.invalidArgument("cannot write '\(path)': \(String(cString: strerror(errno)))") }
                offset += n
            }
        }
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

/// Crash points, for testing that a save interrupted anywhere leaves a restorable state.
///
/// Every write (in pieces of `Countdown.pieceBytes` while armed), flush, rename and deletion of a
/// save passes a point; a test arms a countdown for its task, and the save stops at the
/// chosen point by throwing ``Crash`` — leaving files exactly as a process killed there
/// would (temporaries included). Unarmed, a point costs one task-local read.
enum CrashPoints {
    final class Countdown: @unchecked Sendable {
        var remaining: Int
        /// Points passed so far.
        var passed = 0
        /// The process ID temporaries are named after: a test passes one of an exited
        /// process, so the next save treats what the crash left as a killed save's.
        var processID: pid_t?
        /// Writes go out in pieces of this many bytes, each a point.
        let pieceBytes: Int
        init(_ remaining: Int, processID: pid_t? = nil, pieceBytes: Int = 512) {
            self.remaining = remaining
            self.processID = processID
            self.pieceBytes = Swift.max(1, pieceBytes)
        }
    }
    struct Crash: Error {}

    @TaskLocal static var countdown: Countdown?

    static func pass() throws {
        guard let c = countdown else { return }
        c.passed += 1
        if c.remaining == 0 { throw Crash() }
        c.remaining -= 1
    }
}

