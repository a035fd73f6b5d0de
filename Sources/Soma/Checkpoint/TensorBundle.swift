import Foundation
import SomaProto

/// TensorFlow's checkpoint format (TensorBundle V2): `<prefix>.index`, a ``Table`` mapping
/// each tensor's name to a `BundleEntryProto` (dtype, shape, shard, offset, size, masked
/// CRC-32C) under a `BundleHeaderProto` at the empty key, and the tensors' bytes in
/// `<prefix>.data-<shard>-of-<shards>`.
///
/// Numbers are stored little-endian in row-major order; a string tensor as the varint
/// lengths of its elements, a masked CRC-32C of those lengths (as 32- or 64-bit integers),
/// then the bytes.
enum TensorBundle {
    /// Tensors are read, written and checksummed in pieces this large, each piece
    /// checksummed while it is in cache.
    static let chunkBytes = 256 << 10
    static func indexPath(_ prefix: String) -> String { prefix + ".index" }
    static func dataPath(_ prefix: String, shard: Int, of shards: Int) -> String {
        prefix + String(format: ".data-%05d-of-%05d", shard, shards)
    }
}

/// Reads a TensorFlow checkpoint (TensorBundle V2) written by TF or by Soma.
///
/// Everything read from the files is checked before it is used: the index table's blocks
/// and CRCs, each entry's dtype, shape, shard, offset and size (against the dtype and the
/// data file's length), and each tensor's CRC-32C when it is read. Memory for tensors is
/// reserved from a ``MemoryBudget``. Errors are one line naming the file, tensor and field.
///
/// Thread-safety: immutable once opened; ``tensor(_:)`` may be called from any thread.
public final class CheckpointReader: Sendable {
    /// Where a tensor lives in the bundle.
    public struct Entry: Sendable {
        /// TF's dtype number as stored (``dtype`` is `nil` when Soma has no such type).
        public let rawDType: UInt32
        public let dtype: DType?
        public let shape: [Int]
        public let shard: Int
        public let offset: Int
        public let size: Int
        /// The stored (masked) CRC-32C of the tensor's bytes.
        public let maskedCRC: UInt32
        /// How many slices a partitioned variable was stored as (0: a whole tensor).
        public let sliceCount: Int
    }

    public let prefix: String
    /// Every tensor of the checkpoint, by name.
    public let entries: [String: Entry]
    public let shardCount: Int
    private let budget: MemoryBudget

    /// The tensor names in the index's (sorted) order.
    public var names: [String] { entries.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) } }

    /// Opens the checkpoint at `prefix` (`model.ckpt-10`, without `.index`).
    ///
    /// - Parameter budget: what tensors read from it reserve (default: a fresh budget of
    ///   ``MemoryBudget/defaultLimit``).
    /// - Throws: `NotFound` when there is no `<prefix>.index`; `DataLoss` naming the file and
    ///   field for anything malformed.
    public init(prefix: String, budget: MemoryBudget = MemoryBudget()) throws {
        self.prefix = prefix
        self.budget = budget
        let indexFile = TensorBundle.indexPath(prefix)
        let shown = indexFile.escapingControlCharacters
        func fail(_ what: String) -> SomaError { .dataLoss("Checkpoint index '\(shown)': \(what)") }
        let bytes = try FileBytes.read(indexFile, limit: 1 << 30, budget: budget, what: "checkpoint index")
        let table = try bytes.withUnsafeBytes { try Table.Reader($0, file: indexFile) }
        guard let header = table.entries.first, header.key.isEmpty else {
            throw fail("the first entry is not the bundle header (the empty key)")
        }
        let shards = try Self.header(header.value, fail: fail)
        self.shardCount = shards
        var entries: [String: Entry] = [:]
        for (key, value) in table.entries.dropFirst() {
            guard let name = String(validating: key, as: UTF8.self) else { throw fail("a tensor name is not UTF-8") }
            entries[name] = try Self.entry(value, name: name, shards: shards, fail: fail)
        }
        self.entries = entries
    }

    private static func unpack<T>(_ bytes: [UInt8], fail: (String) -> SomaError, what: String,
                                  _ body: (UnsafeMutablePointer<ProtobufCAllocator>, Int, UnsafePointer<UInt8>) -> UnsafeMutablePointer<T>?,
                                  free: (UnsafeMutablePointer<T>, UnsafeMutablePointer<ProtobufCAllocator>) -> Void,
                                  _ read: (T) throws -> Entry?) throws -> Entry? {
        var allocator = SomaBudgetAllocator()
        soma_budget_allocator_init(&allocator, (1 << 16) + 16 * bytes.count)
        return try bytes.withUnsafeBufferPointer { b in
            try withUnsafeMutablePointer(to: &allocator.allocator) { alloc in
                guard let message = body(alloc, b.count, b.baseAddress ?? UnsafePointer(bitPattern: 1)!) else {
                    throw fail("\(what) is not a valid protobuf message")
                }
                defer { free(message, alloc) }
                return try read(message.pointee)
            }
        }
    }

    private static func header(_ value: [UInt8], fail: (String) -> SomaError) throws -> Int {
        var shards = 0
        _ = try unpack(value, fail: fail, what: "the bundle header", { tensorflow__bundle_header_proto__unpack($0, $1, $2) },
                       free: { tensorflow__bundle_header_proto__free_unpacked($0, $1) }) { h in
            guard h.endianness == TENSORFLOW__BUNDLE_HEADER_PROTO__ENDIANNESS__LITTLE else {
                throw fail("the bundle is big-endian, which Soma does not read")
            }
            guard h.num_shards >= 1 && h.num_shards <= 1 << 16 else { throw fail("header num_shards is \(h.num_shards)") }
            if let v = h.version?.pointee, v.min_consumer > 1 {
                throw fail("the bundle needs a reader of version \(v.min_consumer) or later (Soma reads version 1)")
            }
            shards = Int(h.num_shards)
            return nil
        }
        return shards
    }

    private static func entry(_ value: [UInt8], name: String, shards: Int, fail: (String) -> SomaError) throws -> Entry {
        try unpack(value, fail: fail, what: "the entry of tensor '\(name)'", { tensorflow__bundle_entry_proto__unpack($0, $1, $2) },
                   free: { tensorflow__bundle_entry_proto__free_unpacked($0, $1) }) { e in
            let field = "tensor '\(name)'"
            let dims: [Int]
            do {
                guard let d = try GraphDefDecoder.shape(e.shape, "\(field) shape").concrete else {
                    throw fail("\(field) has a partial shape")
                }
                dims = d
            } catch let error as SomaError {
                throw fail(error.message.replacingOccurrences(of: "Invalid GraphDef: ", with: ""))
            }
            guard checkedProduct(dims) != nil else { throw fail("\(field) has shape \(shapeString(dims)), whose size overflows") }
            guard e.shard_id >= 0 && Int(e.shard_id) < shards else {
                throw fail("\(field) is in shard \(e.shard_id), but the bundle has \(shards)")
            }
            guard e.offset >= 0, e.size >= 0, e.offset <= Int64.max - e.size else {
                throw fail("\(field) has offset \(e.offset) and size \(e.size)")
            }
            let dtype = DType(rawValue: Int32(truncatingIfNeeded: e.dtype.rawValue))
            if let dtype, dtype.isPlain, e.n_slices == 0 {
                let (bytes, overflow) = checkedProduct(dims)!.multipliedReportingOverflow(by: dtype.byteSize)
                guard !overflow, bytes == Int(e.size) else {
                    throw fail("\(field) is \(dtype) \(shapeString(dims)), \(overflow ? "too large" : "\(bytes) bytes"), but its entry says \(e.size) bytes")
                }
            }
            return Entry(rawDType: e.dtype.rawValue, dtype: dtype, shape: dims, shard: Int(e.shard_id), offset: Int(e.offset),
                         size: Int(e.size), maskedCRC: e.crc32c, sliceCount: e.n_slices)
        }!
    }

    /// The tensor stored under `name`, read from its data file and checked against its CRC.
    /// - Throws: `NotFound` for an unknown name; `DataLoss` for a short file or a bad CRC;
    ///   `Unimplemented` for partitioned (sliced) tensors and dtypes Soma lacks;
    ///   `ResourceExhausted` when the budget has too little left.
    public func tensor(_ name: String) throws -> Tensor {
        guard let e = entries[name] else {
            throw SomaError.notFound("Key \(name) not found in checkpoint '\(prefix)'")
        }
        let field = "tensor '\(name)' of checkpoint '\(prefix)'"
        guard e.sliceCount == 0 else {
            throw SomaError.unimplemented("\(field) is stored as \(e.sliceCount) slices (a partitioned variable), which Soma does not restore")
        }
        guard let dtype = e.dtype, dtype != .resource else {
            throw SomaError.unimplemented("\(field) has dtype \(e.rawDType), which Soma does not read")
        }
        let path = TensorBundle.dataPath(prefix, shard: e.shard, of: shardCount)
        let file = try FileBytes.open(path)
        defer { close(file.fd) }
        guard e.offset <= file.size, e.size <= file.size - e.offset else {
            throw SomaError.dataLoss("\(field) lies at bytes \(e.offset)..<\(e.offset + e.size) of '\(path)', which has \(file.size)")
        }
        if dtype == .string { return try stringTensor(e, file: file, path: path, field: field) }
        let tensor = try Tensor(dtype: dtype, shape: e.shape, zeroed: false, budget: budget, for: "restoring \(field)")
        // Read and checksum a chunk at a time, while the chunk is still in cache.
        var crc: UInt32 = 0
        var done = 0
        while done < e.size {
            let chunk = UnsafeMutableRawBufferPointer(start: tensor.rawPointer + done, count: Swift.min(TensorBundle.chunkBytes, e.size - done))
            try file.read(into: chunk, at: e.offset + done, path: path)
            crc = CRC32C.extend(crc, UnsafeRawBufferPointer(chunk))
            done += chunk.count
        }
        guard crc == CRC32C.unmask(e.maskedCRC) else {
            throw SomaError.dataLoss("\(field): checksum mismatch (stored \(CRC32C.unmask(e.maskedCRC)), computed \(crc)): the data file is corrupt")
        }
        if dtype == .bool {
            // Swift's Bool must be 0 or 1.
            let b = tensor.rawPointer.assumingMemoryBound(to: UInt8.self)
            for i in 0..<e.size where b[i] > 1 { b[i] = 1 }
        }
        return tensor
    }

    private func stringTensor(_ e: Entry, file: FileBytes.Handle, path: String, field: String) throws -> Tensor {
        let count = checkedProduct(e.shape)!
        try budget.reserve(e.size, for: "restoring \(field)")
        defer { budget.release(e.size) }
        var raw = [UInt8](repeating: 0, count: e.size)
        try raw.withUnsafeMutableBytes { try file.read(into: $0, at: e.offset, path: path) }
        return try raw.withUnsafeBytes { b -> Tensor in
            var cursor = 0
            var lengths: [Int] = []
            lengths.reserveCapacity(Swift.min(count, b.count))
            var crc: UInt32 = 0
            for i in 0..<count {
                guard let n = b.readVarint(&cursor, end: b.count) else { throw SomaError.dataLoss("\(field): string length \(i) is truncated") }
                if n <= UInt64(UInt32.max) {
                    crc = withUnsafeBytes(of: UInt32(n).littleEndian) { CRC32C.extend(crc, $0) }
                } else {
                    crc = withUnsafeBytes(of: n.littleEndian) { CRC32C.extend(crc, $0) }
                }
                guard n <= UInt64(b.count) else { throw SomaError.dataLoss("\(field): string \(i) claims \(n) bytes") }
                lengths.append(Int(n))
            }
            guard b.count - cursor >= 4 else { throw SomaError.dataLoss("\(field): the length checksum is missing") }
            let storedLengths = b.loadLittleEndian(UInt32.self, at: cursor)
            guard CRC32C.unmask(storedLengths) == crc else { throw SomaError.dataLoss("\(field): the string lengths' checksum does not match") }
            crc = withUnsafeBytes(of: storedLengths.littleEndian) { CRC32C.extend(crc, $0) }
            cursor += 4
            var strings: [[UInt8]] = []
            strings.reserveCapacity(count)
            for (i, n) in lengths.enumerated() {
                guard n <= b.count - cursor else { throw SomaError.dataLoss("\(field): string \(i) runs past the entry") }
                let bytes = UnsafeRawBufferPointer(rebasing: b[cursor..<cursor + n])
                crc = CRC32C.extend(crc, bytes)
                strings.append(Array(bytes))
                cursor += n
            }
            guard crc == CRC32C.unmask(e.maskedCRC) else { throw SomaError.dataLoss("\(field): checksum mismatch: the data file is corrupt") }
            let buffer = try TensorBuffer(strings: strings, budget: budget, for: "restoring \(field)")
            return Tensor(dtype: .string, shape: e.shape, buffer: buffer)
        }
    }
}

/// Writes a TensorFlow checkpoint (TensorBundle V2, one shard) that TF's `Saver`,
/// `tf.train.load_checkpoint` and Soma read.
///
/// The data file is written first, then the index, each atomically (temporary file, fsync,
/// rename), so a crash never leaves a torn file; an index exists only beside its data.
public struct CheckpointWriter {
    public let prefix: String
    private var tensors: [String: Tensor] = [:]

    public init(prefix: String) { self.prefix = prefix }

    /// Adds `tensor` under `name` (names are unique).
    public mutating func add(_ name: String, _ tensor: Tensor) throws {
        guard tensors[name] == nil else { throw SomaError(.alreadyExists, "checkpoint tensor '\(name)' added twice") }
        guard tensor.dtype != .resource else { throw SomaError.invalidArgument("checkpoint tensor '\(name)' is a resource handle") }
        tensors[name] = tensor
    }

    /// Writes `<prefix>.data-00000-of-00001`, then `<prefix>.index`.
    /// - Returns: the bytes written to the data file.
    @discardableResult
    public func write() throws -> Int {
        let names = tensors.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        var entries: [[UInt8]] = []
        var dataBytes = 0
        let dataURL = URL(fileURLWithPath: TensorBundle.dataPath(prefix, shard: 0, of: 1))
        try FileManager.default.createDirectory(at: dataURL.deletingLastPathComponent(), withIntermediateDirectories: true)
        try AtomicFile.write(to: dataURL) { sink in
            for name in names {
                let t = tensors[name]!
                let offset = sink.count
                let crc: UInt32
                if let strings = t.byteStrings {
                    crc = try Self.appendStrings(strings, to: &sink)
                } else {
                    // Checksum a chunk at a time, then write it while it is in cache.
                    var c: UInt32 = 0
                    var done = 0
                    while done < t.byteCount {
                        let chunk = UnsafeRawBufferPointer(start: t.rawPointer + done, count: Swift.min(TensorBundle.chunkBytes, t.byteCount - done))
                        c = CRC32C.extend(c, chunk)
                        try sink.append(chunk)
                        done += chunk.count
                    }
                    crc = c
                }
                entries.append(BundleProto.entry(dtype: t.dtype, shape: t.shape, offset: offset, size: sink.count - offset,
                                                 maskedCRC: CRC32C.mask(crc)))
            }
            dataBytes = sink.count
        }
        var table = Table.Builder()
        table.add(key: [], value: BundleProto.header(shards: 1))
        for (name, entry) in zip(names, entries) { table.add(key: Array(name.utf8), value: entry) }
        try AtomicFile.write(table.finish(), to: URL(fileURLWithPath: TensorBundle.indexPath(prefix)))
        return dataBytes
    }

    /// TF's string layout; returns the CRC-32C of lengths (as integers), their masked
    /// CRC and the bytes.
    private static func appendStrings(_ strings: [[UInt8]], to sink: inout AtomicFile.Sink) throws -> UInt32 {
        var lengths: [UInt8] = []
        var crc: UInt32 = 0
        for s in strings {
            lengths.appendVarint(UInt64(s.count))
            if s.count <= Int(UInt32.max) {
                crc = withUnsafeBytes(of: UInt32(s.count).littleEndian) { CRC32C.extend(crc, $0) }
            } else {
                crc = withUnsafeBytes(of: UInt64(s.count).littleEndian) { CRC32C.extend(crc, $0) }
            }
        }
        try sink.append(lengths)
        let masked = CRC32C.mask(crc)
        var m: [UInt8] = []
        m.appendLittleEndian(masked)
        try sink.append(m)
        crc = m.withUnsafeBytes { CRC32C.extend(crc, $0) }
        for s in strings {
            try sink.append(s)
            crc = s.withUnsafeBytes { CRC32C.extend(crc, $0) }
        }
        return crc
    }
}

/// The two small messages of a bundle's index.
enum BundleProto {
    static func header(shards: Int) -> [UInt8] {
        var b = ProtoBytes()
        b.varint(1, UInt64(shards))
        b.message(3) { $0.varint(1, 1) }  // version { producer: 1 }
        return b.bytes
    }

    static func entry(dtype: DType, shape: [Int], offset: Int, size: Int, maskedCRC: UInt32) -> [UInt8] {
        var b = ProtoBytes()
        b.varint(1, UInt64(dtype.rawValue))
        b.shape(2, TensorShape(shape))
        if offset != 0 { b.varint(4, UInt64(offset)) }
        if size != 0 { b.varint(5, UInt64(size)) }
        b.fixed32(6, maskedCRC)
        return b.bytes
    }
}
