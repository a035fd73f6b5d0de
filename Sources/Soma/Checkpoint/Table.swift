import Foundation

/// LevelDB's immutable sorted table (SSTable), the format of a checkpoint's `.index` file.
///
/// Layout: data blocks, a (empty) meta-index block, an index block, and a 48-byte footer —
/// the two blocks' handles (varint offset and size, zero-padded to 40 bytes) and the magic
/// number `0xdb4775248b80fb57`. A block holds entries `shared key bytes, unshared key
/// bytes, value size` (varints) + key suffix + value, keys prefix-compressed against the
/// previous key and restarted every `restartInterval` entries; then the restart offsets
/// (`UInt32`s) and their count. Each block is followed by a compression byte (0: none) and
/// the masked CRC-32C of the block and that byte. The index block maps a key at or after a
/// data block's last key to the block's handle.
enum Table {
    static let magic: UInt64 = 0xDB47_7524_8B80_FB57

    /// The CRC-32C of a block's contents followed by its compression byte.
    static func blockChecksum(_ contents: UnsafeRawBufferPointer, type: UInt8) -> UInt32 {
        withUnsafeBytes(of: type) { CRC32C.extend(CRC32C.checksum(contents), $0) }
    }
    static let footerBytes = 48

    /// Builds a table from entries added in strictly increasing key order (bytewise).
    struct Builder {
        let blockBytes: Int
        let restartInterval: Int
        private(set) var output: [UInt8] = []
        private var block = BlockBuilder(restartInterval: 16)
        private var index = BlockBuilder(restartInterval: 1)
        private var lastKey: [UInt8]? = nil

        /// TF's defaults: 256 KiB blocks, a restart every 16 entries.
        init(blockBytes: Int = 262_144, restartInterval: Int = 16) {
            self.blockBytes = blockBytes
            self.restartInterval = restartInterval
            block = BlockBuilder(restartInterval: restartInterval)
        }

        mutating func add(key: [UInt8], value: [UInt8]) {
            if let lastKey { precondition(lastKey.lexicographicallyPrecedes(key), "table keys must increase") }
            block.add(key: key, value: value)
            lastKey = key
            if block.estimatedBytes >= blockBytes { flushBlock() }
        }

        private mutating func flushBlock() {
            guard !block.isEmpty, let lastKey else { return }
            let handle = writeBlock(block.finish())
            index.add(key: lastKey, value: handle.encoded)
            block = BlockBuilder(restartInterval: restartInterval)
        }

        private mutating func writeBlock(_ contents: [UInt8]) -> BlockHandle {
            let handle = BlockHandle(offset: UInt64(output.count), size: UInt64(contents.count))
            output += contents
            output.append(0)  // no compression
            output.appendLittleEndian(CRC32C.mask(contents.withUnsafeBytes { Table.blockChecksum($0, type: 0) }))
            return handle
        }

        /// The whole table: the blocks, index and footer.
        mutating func finish() -> [UInt8] {
            flushBlock()
            var empty = BlockBuilder(restartInterval: restartInterval)
            let meta = writeBlock(empty.finish())
            let indexHandle = writeBlock(index.finish())
            var footer = meta.encoded + indexHandle.encoded
            footer += [UInt8](repeating: 0, count: 40 - footer.count)
            footer.appendLittleEndian(Table.magic)
            output += footer
            return output
        }
    }

    struct BlockBuilder {
        let restartInterval: Int
        private var buffer: [UInt8] = []
        private var restarts: [UInt32] = [0]
        private var counter = 0
        private var last: [UInt8] = []
        private var entries = 0

        init(restartInterval: Int) { self.restartInterval = restartInterval }

        var isEmpty: Bool { entries == 0 }
        var estimatedBytes: Int { buffer.count + restarts.count * 4 + 4 }

        mutating func add(key: [UInt8], value: [UInt8]) {
            var shared = 0
            if counter < restartInterval {
                while shared < Swift.min(last.count, key.count) && last[shared] == key[shared] { shared += 1 }
            } else {
                restarts.append(UInt32(buffer.count))
                counter = 0
            }
            buffer.appendVarint(UInt64(shared))
            buffer.appendVarint(UInt64(key.count - shared))
            buffer.appendVarint(UInt64(value.count))
            buffer += key[shared...]
            buffer += value
            last = key
            counter += 1
            entries += 1
        }

        mutating func finish() -> [UInt8] {
            var out = buffer
            for r in restarts { out.appendLittleEndian(r) }
            out.appendLittleEndian(UInt32(restarts.count))
            return out
        }
    }

    struct BlockHandle: Equatable {
        let offset: UInt64
        let size: UInt64

        var encoded: [UInt8] {
            var b: [UInt8] = []
            b.appendVarint(offset)
            b.appendVarint(size)
            return b
        }
    }

    /// A table read from bytes: every entry, checked. All offsets, sizes and counts in the
    /// file are bounds-checked; every block's CRC is verified.
    struct Reader {
        let entries: [(key: [UInt8], value: [UInt8])]

        /// - Parameter file: the file's name, for errors.
        init(_ bytes: UnsafeRawBufferPointer, file: String) throws {
            func fail(_ what: String) -> SomaError { .dataLoss("Corrupt table '\(file.escapingControlCharacters)': \(what)") }
            guard bytes.count >= Table.footerBytes else { throw fail("\(bytes.count) bytes is shorter than the 48-byte footer") }
            let footer = bytes.count - Table.footerBytes
            guard bytes.loadLittleEndian(UInt64.self, at: footer + 40) == Table.magic else {
                throw fail("bad magic number in the footer (not a LevelDB-format table)")
            }
            var cursor = footer
            let metaHandle = try Self.handle(bytes, &cursor, end: footer + 40, fail: fail, what: "footer meta-index handle")
            let indexHandle = try Self.handle(bytes, &cursor, end: footer + 40, fail: fail, what: "footer index handle")
            _ = metaHandle
            let index = try Self.block(bytes, indexHandle, limit: footer, fail: fail, what: "index block")
            var entries: [(key: [UInt8], value: [UInt8])] = []
            var previousHandleEnd = 0
            for (k, entry) in try Self.parse(index, fail: fail, what: "index block").enumerated() {
                var c = 0
                let handle = try entry.value.withUnsafeBytes { v in
                    try Self.handle(v, &c, end: v.count, fail: fail, what: "index entry \(k)")
                }
                guard handle.offset >= UInt64(previousHandleEnd) else { throw fail("index entry \(k) points backwards") }
                let block = try Self.block(bytes, handle, limit: footer, fail: fail, what: "data block \(k)")
                let parsed = try Self.parse(block, fail: fail, what: "data block \(k)")
                for e in parsed {
                    if let last = entries.last?.key, !last.lexicographicallyPrecedes(e.key) {
                        throw fail("keys out of order in data block \(k)")
                    }
                    guard !entry.key.lexicographicallyPrecedes(e.key) else {
                        throw fail("data block \(k) holds a key after its index key")
                    }
                    entries.append(e)
                }
                previousHandleEnd = Int(handle.offset + handle.size) + 5
            }
            self.entries = entries
        }

        private static func handle(_ b: UnsafeRawBufferPointer, _ cursor: inout Int, end: Int,
                                   fail: (String) -> SomaError, what: String) throws -> BlockHandle {
            guard let offset = b.readVarint(&cursor, end: end), let size = b.readVarint(&cursor, end: end) else {
                throw fail("\(what) is not two varints")
            }
            return BlockHandle(offset: offset, size: size)
        }

        /// A block's contents after checking its bounds, compression byte and CRC.
        private static func block(_ b: UnsafeRawBufferPointer, _ h: BlockHandle, limit: Int,
                                  fail: (String) -> SomaError, what: String) throws -> UnsafeRawBufferPointer {
            let (end, overflow) = h.offset.addingReportingOverflow(h.size)
            guard !overflow, end <= UInt64(limit), UInt64(limit) - end >= 5 else {
                throw fail("\(what) at offset \(h.offset) of \(h.size) bytes runs past the end of the file")
            }
            let start = Int(h.offset), size = Int(h.size)
            let contents = UnsafeRawBufferPointer(rebasing: b[start..<start + size])
            let type = b[start + size]
            let stored = CRC32C.unmask(b.loadLittleEndian(UInt32.self, at: start + size + 1))
            let actual = Table.blockChecksum(contents, type: type)
            guard stored == actual else { throw fail("\(what) at offset \(h.offset): checksum mismatch") }
            guard type == 0 else {
                throw fail("\(what) is compressed (type \(type)); Soma reads uncompressed tables, as TF writes them")
            }
            return contents
        }

        /// A block's entries, with every length checked against the block.
        private static func parse(_ block: UnsafeRawBufferPointer, fail: (String) -> SomaError,
                                  what: String) throws -> [(key: [UInt8], value: [UInt8])] {
            guard block.count >= 4 else { throw fail("\(what) is shorter than its restart count") }
            let restarts = Int(block.loadLittleEndian(UInt32.self, at: block.count - 4))
            let (restartBytes, overflow) = restarts.multipliedReportingOverflow(by: 4)
            guard !overflow, restarts >= 1, restartBytes <= block.count - 4 else {
                throw fail("\(what) declares \(restarts) restart points, which do not fit")
            }
            let dataEnd = block.count - 4 - restartBytes
            var entries: [(key: [UInt8], value: [UInt8])] = []
            var cursor = 0
            var key: [UInt8] = []
            while cursor < dataEnd {
                guard let shared = block.readVarint(&cursor, end: dataEnd), let unshared = block.readVarint(&cursor, end: dataEnd),
                      let valueSize = block.readVarint(&cursor, end: dataEnd) else {
                    throw fail("\(what): truncated entry header at byte \(cursor)")
                }
                guard shared <= UInt64(key.count), unshared <= UInt64(dataEnd - cursor),
                      valueSize <= UInt64(dataEnd - cursor) - unshared else {
                    throw fail("\(what): entry at byte \(cursor) has lengths that do not fit the block")
                }
                key.removeSubrange(Int(shared)...)
                key += block[cursor..<cursor + Int(unshared)]
                cursor += Int(unshared)
                entries.append((key, Array(block[cursor..<cursor + Int(valueSize)])))
                cursor += Int(valueSize)
            }
            return entries
        }
    }
}

extension Array where Element == UInt8 {
    mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        append(UInt8(v))
    }

    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

extension UnsafeRawBufferPointer {
    /// A varint at `cursor` (advanced past it), or `nil` when it runs past `end` or 10 bytes.
    func readVarint(_ cursor: inout Int, end: Int) -> UInt64? {
        var value: UInt64 = 0, shift: UInt64 = 0
        while cursor < end && shift < 64 {
            let byte = self[cursor]
            cursor += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        return nil
    }

    func loadLittleEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
