/// Hand-encoded protobuf messages, for the few small messages Soma writes outside
/// protobuf-c (checkpoint index entries, SavedModel metadata). proto3: callers omit zero
/// scalars; messages nest by value.
struct ProtoBytes {
    private(set) var bytes: [UInt8] = []

    init() {}

    mutating func varint(_ field: Int, _ value: UInt64) {
        bytes.appendVarint(UInt64(field << 3))
        bytes.appendVarint(value)
    }

    mutating func bool(_ field: Int, _ value: Bool) { if value { varint(field, 1) } }

    mutating func fixed32(_ field: Int, _ value: UInt32) {
        bytes.appendVarint(UInt64(field << 3 | 5))
        bytes.appendLittleEndian(value)
    }

    mutating func fixed64(_ field: Int, _ value: UInt64) {
        bytes.appendVarint(UInt64(field << 3 | 1))
        bytes.appendLittleEndian(value)
    }

    /// A `double` field (omitted when zero, as proto3 does).
    mutating func double(_ field: Int, _ value: Double) { if value != 0 { fixed64(field, value.bitPattern) } }

    /// A `float` field (omitted when zero).
    mutating func float(_ field: Int, _ value: Float) { if value != 0 { fixed32(field, value.bitPattern) } }

    /// A packed `repeated double` field.
    mutating func packedDoubles(_ field: Int, _ values: [Double]) {
        guard !values.isEmpty else { return }
        bytes.appendVarint(UInt64(field << 3 | 2))
        bytes.appendVarint(UInt64(values.count * 8))
        for v in values { bytes.appendLittleEndian(v.bitPattern) }
    }

    mutating func data(_ field: Int, _ payload: [UInt8]) {
        bytes.appendVarint(UInt64(field << 3 | 2))
        bytes.appendVarint(UInt64(payload.count))
        bytes += payload
    }

    mutating func string(_ field: Int, _ value: String) { data(field, Array(value.utf8)) }

    mutating func message(_ field: Int, _ build: (inout ProtoBytes) -> Void) {
        var inner = ProtoBytes()
        build(&inner)
        data(field, inner.bytes)
    }

    /// A `TensorShapeProto` (dims, `-1` unknown; `unknown_rank` for an unknown rank).
    mutating func shape(_ field: Int, _ shape: TensorShape) {
        message(field) { s in
            guard let dims = shape.dimensions else { return s.varint(3, 1) }
            for d in dims { s.message(2) { if let d { if d != 0 { $0.varint(1, UInt64(d)) } } else { $0.varint(1, UInt64(bitPattern: -1)) } } }
        }
    }
}
