import Foundation

/// NumPy's `.npy` format: a magic string, a version, a Python-dict header
/// (`{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`) and the raw elements.
///
/// Reads versions 1.0, 2.0 and 3.0, little-endian (or byte-order-free) C-order arrays of
/// Soma's dtypes; writes version 1.0 (2.0 when the header needs it), headers padded so the
/// data starts on a 64-byte boundary, as NumPy does.
extension Tensor {
    /// The `descr` strings of Soma's dtypes.
    static let npyDescriptors: [DType: String] = [
        .float32: "<f4", .float64: "<f8", .int32: "<i4", .int64: "<i8", .uint8: "|u1", .bool: "|b1",
    ]

    /// Reads a `.npy` file.
    public init(contentsOfNPY url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SomaError.notFound("cannot read '\(url.path)': \(error.localizedDescription)")
        }
        do { try self.init(npy: data) } catch let error as SomaError {
            throw SomaError(error.code, "\(url.lastPathComponent): \(error.message)")
        }
    }

    /// Decodes `.npy` bytes.
    /// - Throws: ``SomaError`` for a bad magic string or version, a malformed header,
    ///   Fortran order, big-endian or unsupported dtypes (object arrays included), or data
    ///   shorter or longer than the shape needs.
    public init(npy data: Data) throws {
        func fail(_ m: String) -> SomaError { .invalidArgument("Invalid .npy: \(m)") }
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0..<6] == [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59] else {
            throw fail("missing the \\x93NUMPY magic string")
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated header length") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw fail("unsupported format version \(major).\(bytes[7])")
        }
        guard headerLength <= bytes.count - headerStart else {
            throw fail("header declares \(headerLength) bytes but the file has \(bytes.count - headerStart) after it")
        }
        guard let header = String(bytes: bytes[headerStart..<headerStart + headerLength],
                                  encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw fail("header is not text")
        }
        let fields = try NPYHeader.parse(header)
        guard let descr = fields.descr else { throw fail("header has no 'descr'") }
        guard let dtype = Tensor.npyDescriptors.first(where: { $0.value == descr || ($0.value.hasPrefix("|") && "<" + $0.value.dropFirst() == descr) })?.key else {
            if descr.hasPrefix(">") { throw fail("big-endian data ('\(descr)') is not supported") }
            if descr.contains("O") { throw fail("object arrays ('\(descr)') are not supported") }
            throw fail("dtype '\(descr)' is not supported (float32, float64, int32, int64, uint8, bool are)")
        }
        guard fields.fortranOrder == false else { throw fail("Fortran-order arrays are not supported") }
        guard let shape = fields.shape else { throw fail("header has no 'shape'") }
        var count = 1
        for d in shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, p <= bytes.count else { throw fail("shape \(shapeString(shape)) does not fit the file") }
            count = p
        }
        let dataStart = headerStart + headerLength
        let expected = count * dtype.byteSize
        guard bytes.count - dataStart == expected else {
            throw fail("\(dtype) \(shapeString(shape)) needs \(expected) data bytes but the file has \(bytes.count - dataStart)"
                       + (bytes.count - dataStart < expected ? " (truncated)" : ""))
        }
        self.init(zeros: dtype, shape: shape)
        bytes.withUnsafeBytes { _ = memcpy(rawPointer, $0.baseAddress! + dataStart, expected) }
        if dtype == .bool {
            let b = rawPointer.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count where b[i] > 1 { b[i] = 1 }
        }
    }

    /// The tensor as `.npy` bytes.
    public func npyBytes() -> [UInt8] {
        let shapeText = shape.isEmpty ? "()" : shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(Tensor.npyDescriptors[dtype]!)', 'fortran_order': False, 'shape': \(shapeText), }"
        let long = header.utf8.count + 12 > 65_535
        let prefix = long ? 12 : 10
        let total = (prefix + header.utf8.count + 1 + 63) / 64 * 64
        header += String(repeating: " ", count: total - prefix - header.utf8.count - 1) + "\n"
        var out: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, long ? 2 : 1, 0]
        let n = header.utf8.count
        out += long ? [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 24)] : [UInt8(n & 0xFF), UInt8(n >> 8)]
        out += Array(header.utf8)
        out += UnsafeRawBufferPointer(start: rawPointer, count: byteCount)
        return out
    }

    /// Writes the tensor as a `.npy` file, atomically.
    public func saveNPY(to url: URL) throws {
        try AtomicFile.write(npyBytes(), to: url)
    }
}

/// A parser for the Python dict literal of a `.npy` header.
enum NPYHeader {
    struct Fields {
        var descr: String?
        var fortranOrder: Bool?
        var shape: [Int]?
    }

    static func parse(_ text: String) throws -> Fields {
        func fail(_ m: String) -> SomaError { .invalidArgument("Invalid .npy: header \(m): \(text.prefix(120))") }
        var chars = Array(text.unicodeScalars)[...]
        func skipSpace() { while let c = chars.first, c == " " || c == "\n" || c == "\t" || c == "\r" { chars.removeFirst() } }
        func expect(_ c: Unicode.Scalar) throws {
            skipSpace()
            guard chars.first == c else { throw fail("expected '\(c)'") }
            chars.removeFirst()
        }
        func string() throws -> String {
            skipSpace()
            guard let quote = chars.first, quote == "'" || quote == "\"" else { throw fail("expected a string") }
            chars.removeFirst()
            var s = ""
            while let c = chars.first, c != quote { s.unicodeScalars.append(c); chars.removeFirst() }
            guard !chars.isEmpty else { throw fail("has an unterminated string") }
            chars.removeFirst()
            return s
        }
        func word() -> String {
            skipSpace()
            var s = ""
            while let c = chars.first, c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "-" { s.unicodeScalars.append(c); chars.removeFirst() }
            return s
        }
        var fields = Fields()
        try expect("{")
        while true {
            skipSpace()
            if chars.first == "}" { chars.removeFirst(); break }
            let key = try string()
            try expect(":")
            switch key {
            case "descr": fields.descr = try string()
            case "fortran_order":
                switch word() {
                case "True": fields.fortranOrder = true
                case "False": fields.fortranOrder = false
                default: throw fail("has a bad fortran_order")
                }
            case "shape":
                try expect("(")
                var dims: [Int] = []
                while true {
                    skipSpace()
                    if chars.first == ")" { chars.removeFirst(); break }
                    guard let d = Int(word()), d >= 0 else { throw fail("has a bad shape") }
                    dims.append(d)
                    skipSpace()
                    if chars.first == "," { chars.removeFirst() }
                }
                fields.shape = dims
            default:
                throw fail("has unexpected key '\(key)'")
            }
            skipSpace()
            if chars.first == "," { chars.removeFirst() }
        }
        return fields
    }
}
