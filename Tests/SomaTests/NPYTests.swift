import Foundation
import Testing
@testable import Soma

/// `.npy` files written by NumPy (`Tools/make_npy_fixtures.py`) and by Soma.
@Suite struct NPYTests {
    static let folder = Bundle.module.url(forResource: "npy", withExtension: nil, subdirectory: "Fixtures")!
    func load(_ name: String) throws -> Tensor { try Tensor(contentsOfNPY: Self.folder.appendingPathComponent(name)) }

    @Test func readsEveryDTypeNumPyWrites() throws {
        #expect(try load("float32.npy") == Tensor([-3, -1.5, 0, 1.5, 3, 4.5] as [Float], shape: [2, 3]))
        #expect(try load("float64.npy") == Tensor([-0.5, -0.25, 0, 0.25, 0.5, 0.75] as [Double], shape: [3, 2]))
        #expect(try load("int32.npy") == Tensor([-2, -1, 0, 1, 2, 3] as [Int32], shape: [6]))
        #expect(try load("int64.npy").scalars(as: Int64.self) == [-2, -1, 0, 1, 2, 3].map { $0 * 1_000_000_000_000 })
        #expect(try load("int64.npy").shape == [1, 2, 3])
        #expect(try load("uint8.npy") == Tensor([0, 1, 254, 255] as [UInt8]))
        #expect(try load("bool.npy") == Tensor([true, false, false, true], shape: [2, 2]))
        #expect(try load("scalar.npy") == Tensor(Float(3.5)))
        #expect(try load("empty.npy").shape == [0, 4])
    }

    @Test func readsFormatVersions2And3() throws {
        let expected = Tensor([-2, -1, 0, 1, 2, 3] as [Float])
        #expect(try load("v2.npy") == expected)
        #expect(try load("v3.npy") == expected)
    }

    @Test func refusesWhatItCannotRepresent() {
        func message(_ name: String) -> String {
            do { _ = try load(name); return "loaded" } catch { return (error as? SomaError)?.message ?? "\(error)" }
        }
        #expect(message("fortran.npy").contains("Fortran-order arrays are not supported"))
        #expect(message("bigendian.npy").contains("big-endian data ('>f4') is not supported"))
        #expect(message("object.npy").contains("object arrays ('|O') are not supported"))
        #expect(message("float16.npy").contains("dtype '<f2' is not supported"))
        #expect(message("truncated.npy").contains("needs 24 data bytes but the file has 21 (truncated)"))
        #expect(message("missing.npy").hasPrefix("cannot read"))
        #expect((try? Tensor(npy: Data([1, 2, 3]))) == nil)
        #expect((try? Tensor(npy: Data([0x93] + Array("NUMPY".utf8) + [9, 0, 0, 0]))) == nil)
    }

    @Test func roundTripsThroughItsOwnWriter() throws {
        let tensors = [
            try Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [3, 2]), Tensor(Int64.min), Tensor([true, false]),
            Tensor(zeros: .uint8, shape: [2, 0, 3]), try Tensor((0..<70).map { Double($0) }, shape: [7, 10]),
            Tensor([Int32.max, Int32.min]),
        ]
        for t in tensors {
            let bytes = t.npyBytes()
            #expect((bytes.count - t.byteCount) % 64 == 0, "data starts on a 64-byte boundary")
            #expect(try Tensor(npy: Data(bytes)) == t)
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("soma-\(UUID()).npy")
        defer { try? FileManager.default.removeItem(at: url) }
        try tensors[0].saveNPY(to: url)
        #expect(try Tensor(contentsOfNPY: url) == tensors[0])
    }

    @Test func numpyReadsWhatSomaWrites() throws {
        // NumPy's own header for the same array is byte-identical to Soma's.
        let numpyWritten = try Data(contentsOf: Self.folder.appendingPathComponent("float32.npy"))
        let t = try load("float32.npy")
        #expect(Data(t.npyBytes()) == numpyWritten)
    }
}
