import Foundation

/// Encoders of TF's `Summary` protocol buffer (`Schemas/summary.proto`), shared by the
/// summary ops' kernels and ``SummaryWriter``'s direct methods.
///
/// Every function returns a serialized `Summary` holding one or more `Summary.Value`s;
/// serialized summaries concatenate into one that holds all their values (protobuf merges
/// repeated fields), which is how `MergeSummary` and the writer combine them.
enum SummaryEncoding {
    /// A `Summary` with one `simple_value` per tag (TF's `ScalarSummary`).
    static func scalars(_ pairs: [(tag: String, value: Float)]) -> [UInt8] {
        var summary = ProtoBytes()
        for (tag, value) in pairs {
            summary.message(1) { v in
                v.string(1, tag)
                v.fixed32(2, value.bitPattern)  // written even when zero: the value is the point
            }
        }
        return summary.bytes
    }

    /// TF's error for a histogram of non-finite values.
    static func nonFiniteHistogram(tag: String) -> String { "Nan in summary histogram for: \(tag)" }

    /// A `Summary` with one histogram of `values` (TF's `HistogramSummary`), in TF's
    /// default buckets; `nil` when a value is NaN or infinite (TF refuses those, with
    /// ``nonFiniteHistogram(tag:)``'s words).
    static func histogram(tag: String, values: [Double]) -> [UInt8]? {
        guard values.allSatisfy(\.isFinite) else { return nil }
        var histogram = Histogram()
        for v in values { histogram.add(v) }
        var summary = ProtoBytes()
        summary.message(1) { v in
            v.string(1, tag)
            v.message(5) { histogram.encode(into: &$0) }
        }
        return summary.bytes
    }

    /// A `Summary` with one image (PNG) per entry: `(tag, height, width, channels, png)`.
    static func images(_ images: [(tag: String, height: Int, width: Int, channels: Int, png: [UInt8])]) -> [UInt8] {
        var summary = ProtoBytes()
        for image in images {
            summary.message(1) { v in
                v.string(1, image.tag)
                v.message(4) { i in
                    i.varint(1, UInt64(image.height))
                    i.varint(2, UInt64(image.width))
                    i.varint(3, UInt64(image.channels))
                    i.data(4, image.png)
                }
            }
        }
        return summary.bytes
    }

    /// TF's `bad_color` default: opaque red.
    static let defaultBadColor = Tensor([255, 0, 0, 255] as [UInt8])

    /// A `Summary` with up to `maxImages` images of a `[batch, height, width, channels]`
    /// tensor (TF's `ImageSummary`): tagged `tag/image` when `maxImages` is 1, else
    /// `tag/image/0`, `tag/image/1`, …; uint8 pixels as they are, float images scaled one
    /// at a time (``normalize(_:pixels:depth:bad:into:)``).
    static func images(tag: String, _ t: Tensor, maxImages: Int, badColor: Tensor) throws(SomaError) -> [UInt8] {
        guard t.rank == 4, [1, 3, 4].contains(t.shape[3]) else {
            throw .invalidArgument("Tensor must be 4-D with last dim 1, 3, or 4, not \(shapeString(t.shape))")
        }
        guard [.uint8, .float32, .float64].contains(t.dtype) else {
            throw .invalidArgument("Images must be uint8, float32 or float64, not \(t.dtype)")
        }
        let (batch, height, width, depth) = (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
        guard height > 0, width > 0, height <= Int(Int32.max), width <= Int(Int32.max) else {
            throw .invalidArgument("Image of shape \(shapeString(t.shape)) is empty or too large for a PNG")
        }
        guard badColor.dtype == .uint8, badColor.rank == 1, badColor.scalarCount >= depth else {
            throw .invalidArgument("bad_color must be a uint8 vector of at least \(depth) elements, not \(badColor.dtype) \(shapeString(badColor.shape))")
        }
        let pixelsPerImage = height * width * depth
        var images: [(tag: String, height: Int, width: Int, channels: Int, png: [UInt8])] = []
        var pixels = [UInt8](repeating: 0, count: pixelsPerImage)
        for i in 0..<Swift.min(batch, maxImages) {
            pixels.withUnsafeMutableBufferPointer { out in
                let bad = badColor.pointer(as: UInt8.self)
                switch t.dtype {
                case .uint8: out.baseAddress!.update(from: t.pointer(as: UInt8.self) + i * pixelsPerImage, count: pixelsPerImage)
                case .float64: normalize(t.pointer(as: Double.self) + i * pixelsPerImage, pixels: height * width, depth: depth, bad: bad, into: out)
                default: normalize(t.pointer(as: Float.self) + i * pixelsPerImage, pixels: height * width, depth: depth, bad: bad, into: out)
                }
            }
            let png = pixels.withUnsafeBufferPointer { PNG.encode(width: width, height: height, channels: depth, pixels: $0) }
            images.append((maxImages == 1 ? "\(tag)/image" : "\(tag)/image/\(i)", height, width, depth, png))
        }
        return Self.images(images)
    }

    /// TF's float image to uint8: over the finite pixels, scaled so the largest is 255
    /// when none is negative, else centred at 128 and scaled so the largest magnitude is
    /// 127; values truncate; a pixel with a non-finite channel gets `bad`.
    static func normalize<T: BinaryFloatingPoint>(_ values: UnsafePointer<T>, pixels: Int, depth: Int, bad: UnsafePointer<UInt8>,
                                                  into out: UnsafeMutableBufferPointer<UInt8>) {
        func finite(_ p: Int) -> Bool { (0..<depth).allSatisfy { values[p * depth + $0].isFinite } }
        var low = T.infinity, high = -T.infinity
        for p in 0..<pixels where finite(p) {
            for c in 0..<depth { low = Swift.min(low, values[p * depth + c]); high = Swift.max(high, values[p * depth + c]) }
        }
        let threshold = T(1e-6)
        let scale: T, offset: T
        if low < 0 {
            let largest = Swift.max(Swift.abs(low), Swift.abs(high))
            scale = largest < threshold ? 0 : 127 / largest
            offset = 128
        } else {
            scale = high < threshold ? 0 : 255 / high
            offset = 0
        }
        for p in 0..<pixels {
            let isFinite = finite(p)
            for c in 0..<depth {
                out[p * depth + c] = isFinite ? UInt8(clamping: Int(values[p * depth + c] * scale + offset)) : bad[c]
            }
        }
    }

    /// `SummaryMetadata` naming a TensorBoard plugin (`"text"`, `"scalars"`, …).
    static func pluginMetadata(_ plugin: String) -> [UInt8] {
        var metadata = ProtoBytes()
        metadata.message(1) { $0.string(1, plugin) }
        return metadata.bytes
    }

    /// A `Summary` with one tensor value and its serialized `SummaryMetadata` (TF's
    /// `TensorSummaryV2`; text summaries are string tensors for the `text` plugin).
    static func tensor(tag: String, _ t: Tensor, metadata: [UInt8]) -> [UInt8] {
        var summary = ProtoBytes()
        summary.message(1) { v in
            v.string(1, tag)
            v.message(8) { p in
                p.varint(1, UInt64(t.dtype.rawValue))
                p.shape(2, TensorShape(t.shape))
                if let strings = t.byteStrings {
                    for s in strings { p.data(8, s) }
                } else {
                    p.data(4, Array(UnsafeRawBufferPointer(start: t.rawPointer, count: t.byteCount)))
                }
            }
            if !metadata.isEmpty { v.data(9, metadata) }
        }
        return summary.bytes
    }

    /// The tags of a serialized `Summary`'s values, or `nil` when the bytes are not one.
    /// (A walk of the wire format; fed strings are untrusted.)
    static func tags(of summary: [UInt8]) -> [String]? {
        var tags: [String] = []
        var reader = WireReader(summary[...])
        while !reader.isAtEnd {
            guard let (field, payload) = reader.next() else { return nil }
            guard field == 1, let value = payload else { continue }
            var inner = WireReader(value)
            var tag = ""
            while !inner.isAtEnd {
                guard let (f, p) = inner.next() else { return nil }
                if f == 1, let p { tag = String(decoding: p, as: UTF8.self) }
            }
            tags.append(tag)
        }
        return tags
    }

    /// A minimal protobuf wire reader: (field, payload of a length-delimited field) pairs.
    struct WireReader {
        var bytes: ArraySlice<UInt8>
        init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }
        var isAtEnd: Bool { bytes.isEmpty }

        mutating func varint() -> UInt64? {
            var value: UInt64 = 0
            for shift in stride(from: 0, to: 64, by: 7) {
                guard let byte = bytes.popFirst() else { return nil }
                value |= UInt64(byte & 0x7F) << UInt64(shift)
                if byte < 0x80 { return value }
            }
            return nil
        }

        /// The next field; `nil` on malformed bytes.
        mutating func next() -> (field: UInt64, payload: ArraySlice<UInt8>?)? {
            guard let key = varint() else { return nil }
            switch key & 7 {
            case 0: return varint() == nil ? nil : (key >> 3, nil)
            case 1: guard bytes.count >= 8 else { return nil }; bytes = bytes.dropFirst(8); return (key >> 3, nil)
            case 5: guard bytes.count >= 4 else { return nil }; bytes = bytes.dropFirst(4); return (key >> 3, nil)
            case 2:
                guard let length = varint(), length <= UInt64(bytes.count) else { return nil }
                let payload = bytes.prefix(Int(length))
                bytes = bytes.dropFirst(Int(length))
                return (key >> 3, payload)
            default: return nil
            }
        }
    }
}

/// TF's summary histogram (`tensorflow/core/lib/histogram`): fixed buckets growing by 10 %
/// from 10⁻¹² to 10²⁰ on both sides of zero; a value goes to the first bucket whose limit
/// exceeds it.
struct Histogram {
    /// The buckets' upper limits: −DBL_MAX, −10²⁰…−10⁻¹², 0, 10⁻¹²…10²⁰, DBL_MAX.
    static let defaultLimits: [Double] = {
        var positive: [Double] = []
        var v = 1.0e-12
        while v < 1.0e20 { positive.append(v); v *= 1.1 }
        positive.append(.greatestFiniteMagnitude)
        return positive.reversed().map { -$0 } + [0] + positive
    }()

    var min = Double.greatestFiniteMagnitude
    var max = -Double.greatestFiniteMagnitude
    var num = 0.0, sum = 0.0, sumSquares = 0.0
    var counts = [Double](repeating: 0, count: Histogram.defaultLimits.count)

    mutating func add(_ value: Double) {
        // upper_bound: the first limit greater than the value.
        var lo = 0, hi = Self.defaultLimits.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if Self.defaultLimits[mid] > value { hi = mid } else { lo = mid + 1 }
        }
        counts[lo] += 1
        min = Swift.min(min, value)
        max = Swift.max(max, value)
        num += 1
        sum += value
        sumSquares += value * value
    }

    /// `HistogramProto`, runs of empty buckets collapsed into one as TF writes them.
    func encode(into p: inout ProtoBytes) {
        p.double(1, min)
        p.double(2, max)
        p.double(3, num)
        p.double(4, sum)
        p.double(5, sumSquares)
        var limits: [Double] = [], buckets: [Double] = []
        var i = 0
        while i < counts.count {
            var end = Self.defaultLimits[i], count = counts[i]
            i += 1
            if count <= 0 {
                while i < counts.count && counts[i] <= 0 { end = Self.defaultLimits[i]; count = counts[i]; i += 1 }
            }
            limits.append(end)
            buckets.append(count)
        }
        p.packedDoubles(6, limits)
        p.packedDoubles(7, buckets)
    }
}
