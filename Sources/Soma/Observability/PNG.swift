/// A PNG encoder for summary images: 8-bit grayscale, RGB or RGBA, rows unfiltered, the
/// zlib stream in stored (uncompressed) deflate blocks.
///
/// Why this and not a library: none of the Swift packages Soma may depend on encodes PNG,
/// and libpng would be one more system dependency and C module for ~80 lines; summary
/// images are small (a few inputs or filters per step), so compression buys little. Any
/// PNG decoder reads the result (TensorBoard's, `tf.io.decode_png`, browsers).
enum PNG {
    /// The PNG file of an image of `height` rows of `width` pixels of `channels` (1, 3 or
    /// 4) bytes each, row-major in `pixels`.
    static func encode(width: Int, height: Int, channels: Int, pixels: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        precondition([1, 3, 4].contains(channels) && pixels.count == width * height * channels)
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header: [UInt8] = []
        header.appendBigEndian(UInt32(width))
        header.appendBigEndian(UInt32(height))
        header += [8, channels == 1 ? 0 : channels == 3 ? 2 : 6, 0, 0, 0]  // depth, colour type, deflate, filter, no interlace
        chunk("IHDR", header, into: &png)
        // Scanlines: a filter byte (0, none) before each row.
        let stride = width * channels
        var raw = [UInt8]()
        raw.reserveCapacity(height * (stride + 1))
        for row in 0..<height {
            raw.append(0)
            raw.append(contentsOf: pixels[row * stride..<(row + 1) * stride])
        }
        chunk("IDAT", zlibStored(raw), into: &png)
        chunk("IEND", [], into: &png)
        return png
    }

    /// A zlib stream (RFC 1950) of stored deflate blocks (RFC 1951 §3.2.4) of `data`.
    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]  // deflate, 32 KiB window, no dictionary; (0x7801 % 31 == 0)
        var start = 0
        repeat {
            let n = Swift.min(65535, data.count - start)
            let last = start + n == data.count
            out.append(last ? 1 : 0)  // BFINAL, BTYPE 00 (stored)
            out.appendLittleEndian(UInt16(n))
            out.appendLittleEndian(~UInt16(n))
            out += data[start..<start + n]
            start += n
        } while start < data.count
        out.appendBigEndian(adler32(data))
        return out
    }

    static func adler32(_ data: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        var i = 0
        while i < data.count {
            // 5552 bytes keep the sums below 2³² before the reduction (zlib's NMAX).
            let end = Swift.min(i + 5552, data.count)
            while i < end { a += UInt32(data[i]); b += a; i += 1 }
            a %= 65521
            b %= 65521
        }
        return b << 16 | a
    }

    /// CRC-32 (IEEE 802.3, reflected 0xEDB88320): PNG's chunk checksum — not CRC-32C.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return ~crc
    }

    private static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    private static func chunk(_ type: String, _ data: [UInt8], into png: inout [UInt8]) {
        png.appendBigEndian(UInt32(data.count))
        let typed = Array(type.utf8) + data
        png += typed
        png.appendBigEndian(crc32(typed))
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }
}
