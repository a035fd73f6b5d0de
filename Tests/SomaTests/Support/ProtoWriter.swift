/// A minimal protobuf writer for crafting (hostile) GraphDefs in tests.
struct ProtoWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }
    mutating func tag(_ field: Int, _ wireType: Int) { varint(UInt64(field << 3 | wireType)) }
    mutating func int(_ field: Int, _ value: Int64) { tag(field, 0); varint(UInt64(bitPattern: value)) }
    mutating func float(_ field: Int, _ value: Float) {
        tag(field, 5)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
    }
    mutating func data(_ field: Int, _ payload: [UInt8]) { tag(field, 2); varint(UInt64(payload.count)); bytes += payload }
    mutating func string(_ field: Int, _ s: String) { data(field, Array(s.utf8)) }
    mutating func message(_ field: Int, _ build: (inout ProtoWriter) -> Void) {
        var inner = ProtoWriter()
        build(&inner)
        data(field, inner.bytes)
    }
}

/// GraphDef pieces in TF's field numbers (graph.proto, node_def.proto, attr_value.proto, …).
enum GraphDefBuilder {
    typealias Attr = (inout ProtoWriter) -> Void

    static func graph(_ nodes: [(inout ProtoWriter) -> Void]) -> [UInt8] {
        var w = ProtoWriter()
        for node in nodes { w.message(1, node) }
        return w.bytes
    }

    static func node(_ name: String, _ op: String, inputs: [String] = [], attrs: [(String, Attr)] = []) -> (inout ProtoWriter) -> Void {
        { w in
            w.string(1, name)
            w.string(2, op)
            for input in inputs { w.string(3, input) }
            for (key, value) in attrs {
                w.message(5) { e in
                    e.string(1, key)
                    e.message(2, value)
                }
            }
        }
    }

    static func type(_ dtype: Int) -> Attr { { $0.int(6, Int64(dtype)) } }
    static func int(_ v: Int64) -> Attr { { $0.int(3, v) } }
    static func bool(_ v: Bool) -> Attr { { $0.int(5, v ? 1 : 0) } }
    static func shapeMessage(_ dims: [Int64]) -> (inout ProtoWriter) -> Void {
        { s in for d in dims { s.message(2) { $0.int(1, d) } } }
    }
    static func shape(_ dims: [Int64]) -> Attr { { $0.message(7, shapeMessage(dims)) } }
    static func tensor(dtype: Int, dims: [Int64], content: [UInt8]? = nil, floats: [Float] = []) -> Attr {
        { a in
            a.message(8) { t in
                t.int(1, Int64(dtype))
                t.message(2, shapeMessage(dims))
                if let content { t.data(4, content) }
                if !floats.isEmpty {
                    var packed = ProtoWriter()
                    for f in floats { withUnsafeBytes(of: f.bitPattern.littleEndian) { packed.bytes += $0 } }
                    t.data(5, packed.bytes)
                }
            }
        }
    }

    /// A float32 placeholder of the given shape.
    static func placeholder(_ name: String, dims: [Int64] = [2]) -> (inout ProtoWriter) -> Void {
        node(name, "Placeholder", attrs: [("dtype", type(1)), ("shape", shape(dims))])
    }
}
