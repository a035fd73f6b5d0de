import Foundation
import Testing
@testable import Soma

/// TF's checkpoint format (TensorBundle V2): files TensorFlow wrote read back exactly,
/// Soma's files read back, and every kind of damage is a clean error.
@Suite struct CheckpointTests {
    static let root = Bundle.module.url(forResource: "checkpoints", withExtension: nil, subdirectory: "Fixtures")!

    struct Expected: Decodable {
        let dtype: String
        let shape: [Int]
        let values: [JSONValue]
    }
    struct Manifest: Decodable {
        let prefix: String
        let tensors: [String: Expected]
    }

    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("soma-ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test(arguments: ["tf1_saver", "tf2_object"]) func readsCheckpointsTensorFlowWrote(_ name: String) throws {
        let folder = Self.root.appendingPathComponent(name)
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: folder.appendingPathComponent("manifest.json")))
        let reader = try CheckpointReader(prefix: folder.appendingPathComponent(manifest.prefix).path)
        #expect(Set(reader.names) == Set(manifest.tensors.keys))
        for (tensorName, expected) in manifest.tensors {
            let t = try reader.tensor(tensorName)
            #expect(t.shape == expected.shape, "\(tensorName)")
            let dtypeName = expected.dtype == "string" ? "string" : expected.dtype
            #expect(t.dtype.name == dtypeName, "\(tensorName)")
            switch t.dtype {
            case .string:
                let latin1 = t.byteStrings!.map { String($0.map { Character(Unicode.Scalar($0)) }) }
                #expect(latin1 == expected.values.map { if case .string(let s) = $0 { s } else { "" } }, "\(tensorName)")
            case .bool:
                #expect(t.scalars(as: Bool.self) == expected.values.map { if case .bool(let b) = $0 { b } else { false } }, "\(tensorName)")
            default:
                #expect(t.doubleScalars() == expected.values.map { if case .number(let d) = $0 { d } else { .nan } }, "\(tensorName)")
            }
        }
        if name == "tf1_saver" {
            let state = try #require(try CheckpointState.read(in: folder))
            #expect(state.latest == "model.ckpt-7")
            #expect(state.all == ["model.ckpt-7"])
        }
    }

    @Test func writtenCheckpointsReadBack() throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let prefix = folder.appendingPathComponent("nested/model.ckpt-3").path
        let tensors: [String: Tensor] = [
            "dense/kernel": try Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3]),
            "dense/bias": Tensor([0.5, -0.25] as [Double]),
            "step": Tensor(Int64(42)),
            "counts": Tensor([Int32.min, 0, Int32.max]),
            "bytes": Tensor([0, 255] as [UInt8]),
            "flags": Tensor([true, false, true]),
            "empty": Tensor(zeros: .float32, shape: [0, 4]),
            "words": try Tensor(strings: ["", "héllo", String(repeating: "x", count: 300)], shape: [3]),
            "β/unicode name": Tensor(Float(1)),
        ]
        var writer = CheckpointWriter(prefix: prefix)
        for (name, t) in tensors { try writer.add(name, t) }
        #expect(throws: SomaError.self) { try writer.add("step", Tensor(Int64(1))) }
        try writer.write()
        let reader = try CheckpointReader(prefix: prefix)
        #expect(reader.names == tensors.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        for (name, t) in tensors { #expect(try reader.tensor(name) == t, "\(name)") }
        // Nothing but the two files (no temporaries).
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("nested").path).sorted()
        #expect(files == ["model.ckpt-3.data-00000-of-00001", "model.ckpt-3.index"])
    }

    @Test func tablesSpanManyBlocks() throws {
        var builder = Table.Builder(blockBytes: 64, restartInterval: 3)
        let keys = (0..<500).map { Array(String(format: "layer%04d/kernel", $0).utf8) }
        for (i, k) in keys.enumerated() { builder.add(key: k, value: Array(repeating: UInt8(i % 256), count: i % 7)) }
        let bytes = builder.finish()
        let table = try bytes.withUnsafeBytes { try Table.Reader($0, file: "t") }
        #expect(table.entries.map(\.key) == keys)
        #expect(table.entries.enumerated().allSatisfy { $1.value == Array(repeating: UInt8($0 % 256), count: $0 % 7) })
    }

    @Test func crc32cMatchesKnownValuesInHardwareAndTable() throws {
        let digits = Array("123456789".utf8)
        #expect(CRC32C.checksum(digits) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.unmask(CRC32C.mask(0xE306_9283)) == 0xE306_9283)
        var rng = SplitMix64(seed: 5)
        let data = (0..<100_003).map { _ in UInt8.random(in: 0...255, using: &rng) }
        for cut in [0, 1, 7, 8, 9, 4096, 100_003] {
            let a = data.withUnsafeBytes { CRC32C.extend(0, UnsafeRawBufferPointer(rebasing: $0[..<cut])) }
            let b = data.withUnsafeBytes { CRC32C.extendPortable(0, UnsafeRawBufferPointer(rebasing: $0[..<cut])) }
            #expect(a == b)
        }
        // Extending in pieces equals one pass.
        let whole = CRC32C.checksum(data)
        let pieces = data.withUnsafeBytes { CRC32C.extend(CRC32C.extend(0, UnsafeRawBufferPointer(rebasing: $0[..<777])), UnsafeRawBufferPointer(rebasing: $0[777...])) }
        #expect(whole == pieces)
    }

    @Test func stateFileRoundTripsAndReadsTensorFlowsForm() throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let state = CheckpointState(latest: "model.ckpt-20", all: ["model.ckpt-10", "model.ckpt-20"], timestamps: [1.5, 2.5])
        try state.write(in: folder)
        #expect(try CheckpointState.read(in: folder) == state)
        try Data("model_checkpoint_path: \"/abs/dir/ckpt-2\"\nall_model_checkpoint_paths: \"/abs/dir/ckpt-1\"\nall_model_checkpoint_paths: \"/abs/dir/ckpt-2\"\nsome_future_field: 3\n".utf8)
            .write(to: folder.appendingPathComponent("checkpoint"))
        let tf = try #require(try CheckpointState.read(in: folder))
        #expect(tf.latest == "/abs/dir/ckpt-2" && tf.all == ["/abs/dir/ckpt-1", "/abs/dir/ckpt-2"])
        try Data("model_checkpoint_path ckpt-2\n".utf8).write(to: folder.appendingPathComponent("checkpoint"))
        #expect(throws: SomaError.self) { try CheckpointState.read(in: folder) }
    }

    // MARK: Damaged files

    /// A checkpoint of two tensors, and a way to damage its bytes.
    func damaged(_ damage: (inout [UInt8], inout [UInt8]) -> Void) throws -> (SomaError?, URL) {
        let folder = try Self.temporaryFolder()
        let prefix = folder.appendingPathComponent("ckpt").path
        var writer = CheckpointWriter(prefix: prefix)
        try writer.add("a", try Tensor([1, 2, 3, 4] as [Float], shape: [2, 2]))
        try writer.add("b", try Tensor(strings: ["xy", "z"], shape: [2]))
        try writer.write()
        var index = [UInt8](try Data(contentsOf: URL(fileURLWithPath: prefix + ".index")))
        var data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: prefix + ".data-00000-of-00001")))
        damage(&index, &data)
        try Data(index).write(to: URL(fileURLWithPath: prefix + ".index"))
        try Data(data).write(to: URL(fileURLWithPath: prefix + ".data-00000-of-00001"))
        do {
            let reader = try CheckpointReader(prefix: prefix)
            for name in reader.names { _ = try reader.tensor(name) }
            return (nil, folder)
        } catch let e as SomaError {
            return (e, folder)
        }
    }

    @Test func damageIsACleanErrorNamingTheFileAndField() throws {
        func check(_ expect: String, _ damage: (inout [UInt8], inout [UInt8]) -> Void) throws {
            let (error, folder) = try damaged(damage)
            defer { try? FileManager.default.removeItem(at: folder) }
            let e = try #require(error, "expected an error containing \(expect)")
            #expect(e.message.contains(expect), "\(e)")
        }
        try check("checksum mismatch") { _, data in data[3] ^= 0x40 }
        try check("lies at bytes 16..<25") { _, data in data.removeLast(5) }
        try check("shorter than the 48-byte footer") { index, _ in index = Array(index.prefix(20)) }
        try check("bad magic number") { index, _ in index[index.count - 1] ^= 1 }
        try check("checksum mismatch") { index, _ in index[2] ^= 0x10 }
        try check("string lengths' checksum") { _, data in data[16] ^= 1 }
        // Every truncation of the index is an error or a smaller valid table, never a crash.
        let (_, folder) = try damaged { _, _ in }
        defer { try? FileManager.default.removeItem(at: folder) }
        let index = [UInt8](try Data(contentsOf: folder.appendingPathComponent("ckpt.index")))
        for cut in 0..<index.count {
            _ = try? Array(index.prefix(cut)).withUnsafeBytes { try Table.Reader($0, file: "cut") }
        }
    }

    @Test func lyingEntriesAreRefused() throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let prefix = folder.appendingPathComponent("ckpt").path
        func write(_ entries: [(String, [UInt8])], data: [UInt8] = [UInt8](repeating: 0, count: 16)) throws -> String {
            var table = Table.Builder()
            table.add(key: [], value: BundleProto.header(shards: 1))
            for (k, v) in entries { table.add(key: Array(k.utf8), value: v) }
            try Data(table.finish()).write(to: URL(fileURLWithPath: prefix + ".index"))
            try Data(data).write(to: URL(fileURLWithPath: prefix + ".data-00000-of-00001"))
            do {
                let reader = try CheckpointReader(prefix: prefix)
                for n in reader.names { _ = try reader.tensor(n) }
                return ""
            } catch let e as SomaError {
                return e.message
            }
        }
        let crc = CRC32C.mask(CRC32C.checksum([UInt8](repeating: 0, count: 16)))
        #expect(try write([("x", BundleProto.entry(dtype: .float32, shape: [4], offset: 0, size: 16, maskedCRC: crc))]) == "")
        #expect(try write([("x", BundleProto.entry(dtype: .float32, shape: [5], offset: 0, size: 16, maskedCRC: crc))])
                    .contains("tensor 'x' is float32 [5], 20 bytes, but its entry says 16 bytes"))
        #expect(try write([("x", BundleProto.entry(dtype: .float32, shape: [4], offset: 8, size: 16, maskedCRC: crc))])
                    .contains("lies at bytes 8..<24"))
        #expect(try write([("x", BundleProto.entry(dtype: .float32, shape: [1 << 40, 1 << 40], offset: 0, size: 16, maskedCRC: crc))])
                    .contains("tensor 'x'"))
        #expect(try write([("x", [0x08, 0x0E] + Array(BundleProto.entry(dtype: .float32, shape: [4], offset: 0, size: 16, maskedCRC: crc).dropFirst(2)))])
                    .contains("dtype 14"))
        var sharded = BundleProto.entry(dtype: .float32, shape: [4], offset: 0, size: 16, maskedCRC: crc)
        sharded += [0x18, 0x03]  // shard_id 3
        #expect(try write([("x", sharded)]).contains("shard 3, but the bundle has 1"))
        #expect(try write([("x", [0xFF, 0xFF])]).contains("not a valid protobuf message"))
        // A partitioned variable's slices: refused by name, not misread.
        var sliced = BundleProto.entry(dtype: .float32, shape: [4], offset: 0, size: 16, maskedCRC: crc)
        sliced += [0x3A, 0x00]  // slices { }
        #expect(try write([("x", sliced)]).contains("tensor 'x' of checkpoint '\(prefix)' is stored as 1 slices (a partitioned variable)"))
        // A 4 GiB tensor whose data is not there: refused before anything is allocated.
        let huge = (1 << 20) * (1 << 10) * 4
        #expect(try write([("x", BundleProto.entry(dtype: .float32, shape: [1 << 20, 1 << 10], offset: 0, size: huge, maskedCRC: crc))])
                    .contains("lies at bytes 0..<\(huge)"))
    }
}
