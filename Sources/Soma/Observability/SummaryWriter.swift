import Foundation
import Synchronization

/// Appends TensorBoard events to a log directory (TF1's `tf.compat.v1.summary.FileWriter`):
/// summaries fetched from summary ops, scalars, histograms, images and text written
/// directly, and graphs for TensorBoard's graph tab.
///
/// ```swift
/// let writer = try SummaryWriter(logDirectory: URL(fileURLWithPath: "logs/run1"), graph: g)
/// let merged = try g.mergeAllSummaries()!
/// for step in 0..<1000 {
///     let out = try session.run(fetches: [merged], feeds: batch(step), targets: [train])
///     try writer.add(summary: out[0], step: step)
/// }
/// try writer.close()
/// ```
/// then `tensorboard --logdir logs`.
///
/// The file is `events.out.tfevents.<seconds>.<host>.<pid>.<n>`: TFRecord framing (length,
/// masked CRC-32C of the length, an `Event` protocol buffer, masked CRC-32C of the data),
/// first the `brain.Event:2` version record. Each event is written when it is added (an
/// append, which a crash can cut only at the end: TensorBoard's reader stops at a torn
/// last record); ``flush()`` and ``close()`` also sync it to disk.
///
/// Thread-safety: any thread may add events at once.
public final class SummaryWriter: Sendable {
    public let logDirectory: URL
    /// The event file this writer appends to.
    public let fileURL: URL
    private let descriptor: Locked<Int32>
    private static let counter = Atomic<Int>(0)

    /// Creates `logDirectory` if needed and a new event file in it; with `graph`, writes it
    /// first (TensorBoard's graph tab, name scopes as collapsible groups).
    public init(logDirectory: URL, graph: Graph? = nil) throws {
        self.logDirectory = logDirectory
        do {
            try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true)
        } catch {
            throw SomaError.invalidArgument("cannot create the log directory '\(logDirectory.path)': \(error.localizedDescription)")
        }
        let n = Self.counter.add(1, ordering: .relaxed).oldValue
        let name = String(format: "events.out.tfevents.%010d.%@.%d.%d", Int(Date().timeIntervalSince1970),
                          ProcessInfo.processInfo.hostName, getpid(), n)
        fileURL = logDirectory.appendingPathComponent(name)
        let fd = open(fileURL.path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw SomaError.invalidArgument("cannot create the event file '\(fileURL.path)': \(String(cString: strerror(errno)))")
        }
        descriptor = Locked(fd)
        try write(Self.event(step: 0) { $0.string(3, "brain.Event:2") })
        if let graph { try add(graph: graph) }
    }

    deinit { descriptor.withLock { fd in if fd >= 0 { Glibc.close(fd) } } }

    /// Appends a serialized `Summary` — the string scalar a summary op (or
    /// ``mergeSummary(_:name:file:line:)``) produced — at `step`.
    public func add(summary: Tensor, step: Int) throws {
        guard summary.dtype == .string, let strings = summary.byteStrings else {
            throw SomaError.invalidArgument("add(summary:) takes the string tensor a summary op produced, not \(summary.dtype) \(shapeString(summary.shape))")
        }
        for bytes in strings {
            guard SummaryEncoding.tags(of: bytes) != nil else {
                throw SomaError.invalidArgument("add(summary:): the string is not a serialized Summary")
            }
            try add(serializedSummary: bytes, step: step)
        }
    }

    /// Appends the graph as a `GraphDef` (TensorBoard's graph tab).
    public func add(graph: Graph, step: Int = 0) throws {
        let bytes = GraphDefEncoder.encode(graph)
        try write(Self.event(step: step) { $0.data(4, bytes) })
    }

    /// Appends one scalar (a point of a curve in the scalars tab).
    public func addScalar(_ tag: String, _ value: Double, step: Int) throws {
        try add(serializedSummary: SummaryEncoding.scalars([(tag, Float(value))]), step: step)
    }

    /// Appends a histogram of `values` (any numeric tensor), in TF's buckets.
    public func addHistogram(_ tag: String, _ values: Tensor, step: Int) throws {
        guard let summary = SummaryEncoding.histogram(tag: tag, values: values.doubleScalars()) else {
            throw SomaError.invalidArgument(SummaryEncoding.nonFiniteHistogram(tag: tag))
        }
        try add(serializedSummary: summary, step: step)
    }

    /// Appends up to `maxImages` images of a `[batch, height, width, channels]` tensor, as
    /// the `ImageSummary` op encodes them.
    public func addImages(_ tag: String, _ images: Tensor, maxImages: Int = 3, step: Int) throws {
        guard maxImages >= 1 else { throw SomaError.invalidArgument("maxImages must be at least 1, not \(maxImages)") }
        try add(serializedSummary: SummaryEncoding.images(tag: tag, images, maxImages: maxImages,
                                                          badColor: SummaryEncoding.defaultBadColor), step: step)
    }

    /// Appends text (Markdown) for the text tab.
    public func addText(_ tag: String, _ text: String, step: Int) throws {
        try add(serializedSummary: SummaryEncoding.tensor(tag: tag, Tensor(text), metadata: SummaryEncoding.pluginMetadata("text")),
                step: step)
    }

    /// Syncs what was written to disk.
    public func flush() throws {
        try descriptor.withLock { fd in
            guard fd >= 0 else { throw SomaError.failedPrecondition("the summary writer for '\(fileURL.path)' is closed") }
            guard fsync(fd) == 0 else {
                throw SomaError.invalidArgument("cannot flush '\(fileURL.path)': \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Syncs and closes the file; later adds fail.
    public func close() throws {
        try flush()
        descriptor.withLock { fd in Glibc.close(fd); fd = -1 }
    }

    private func add(serializedSummary bytes: [UInt8], step: Int) throws {
        try write(Self.event(step: step) { $0.data(5, bytes) })
    }

    /// An `Event` at `step`, stamped now.
    private static func event(step: Int, _ what: (inout ProtoBytes) -> Void) -> [UInt8] {
        var event = ProtoBytes()
        event.fixed64(1, Date().timeIntervalSince1970.bitPattern)
        if step != 0 { event.varint(2, UInt64(bitPattern: Int64(step))) }
        what(&event)
        return event.bytes
    }

    /// Appends one TFRecord.
    private func write(_ data: [UInt8]) throws {
        let record = TFRecord.frame(data)
        try descriptor.withLock { fd in
            guard fd >= 0 else { throw SomaError.failedPrecondition("the summary writer for '\(fileURL.path)' is closed") }
            try record.withUnsafeBytes { raw in
                var done = 0
                while done < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else {
                        throw SomaError.invalidArgument("cannot write '\(fileURL.path)': \(String(cString: strerror(errno)))")
                    }
                    done += n
                }
            }
        }
    }
}

/// TF's record framing (`tensorflow/core/lib/io/record_writer`), of event files and
/// `.tfrecord` data sets: a little-endian `uint64` length, its masked CRC-32C, the data,
/// the data's masked CRC-32C.
public enum TFRecord {
    /// One record: `data` framed.
    public static func frame(_ data: [UInt8]) -> [UInt8] {
        var record: [UInt8] = []
        record.reserveCapacity(data.count + 16)
        record.appendLittleEndian(UInt64(data.count))
        record.appendLittleEndian(CRC32C.mask(CRC32C.checksum(Array(record))))
        record += data
        record.appendLittleEndian(CRC32C.mask(CRC32C.checksum(data)))
        return record
    }

    /// The records of a TFRecord file's bytes, each length and CRC checked; `nil` when a
    /// record is torn or corrupt. Lengths are checked against the bytes before anything
    /// is read, so a hostile file costs no more than its own size.
    public static func records(_ bytes: [UInt8]) -> [[UInt8]]? {
        var records: [[UInt8]] = []
        var i = 0
        while i < bytes.count {
            guard bytes.count - i >= 16 else { return nil }
            let length = bytes[i..<i + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let lengthCRC = bytes[i + 8..<i + 12].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            guard CRC32C.mask(CRC32C.checksum(Array(bytes[i..<i + 8]))) == lengthCRC,
                  length <= UInt64(bytes.count - i - 16) else { return nil }
            let start = i + 12, end = start + Int(length)
            let data = Array(bytes[start..<end])
            let dataCRC = bytes[end..<end + 4].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            guard CRC32C.mask(CRC32C.checksum(data)) == dataCRC else { return nil }
            records.append(data)
            i = end + 4
        }
        return records
    }
}
