import Foundation
import SomaProto

/// ``Graph`` → GraphDef bytes, through protobuf-c.
///
/// The encoding is canonical, so a Soma-written file loads and saves again byte for byte:
/// nodes in graph order, attributes sorted by name, every tensor as `tensor_content` (strings
/// as `string_val`)
/// (TF reads either form), inputs as `name`, `name:k` and `^name`.
struct GraphDefEncoder {
    /// Memory for the C message structures of one encode; freed all at once.
    private final class Arena {
        private var blocks: [UnsafeMutableRawPointer] = []

        func allocate<T>(_: T.Type, count: Int = 1) -> UnsafeMutablePointer<T> {
            let raw = calloc(Swift.max(count, 1), MemoryLayout<T>.stride)!
            blocks.append(raw)
            return raw.bindMemory(to: T.self, capacity: Swift.max(count, 1))
        }

        func array<T>(_ values: [T]) -> UnsafeMutablePointer<T> {
            let p = allocate(T.self, count: values.count)
            for (i, v) in values.enumerated() { (p + i).initialize(to: v) }
            return p
        }

        func string(_ s: String) -> UnsafeMutablePointer<CChar> {
            let raw = strdup(s)!
            blocks.append(UnsafeMutableRawPointer(raw))
            return raw
        }

        func binary(_ bytes: UnsafeRawBufferPointer) -> ProtobufCBinaryData {
            let p = allocate(UInt8.self, count: bytes.count)
            if let base = bytes.baseAddress, bytes.count > 0 { memcpy(p, base, bytes.count) }
            return ProtobufCBinaryData(len: bytes.count, data: p)
        }

        func binary(_ s: String) -> ProtobufCBinaryData {
            Array(s.utf8).withUnsafeBytes { binary($0) }
        }

        deinit { blocks.forEach { free($0) } }
    }

    private let arena = Arena()

    static func encode(_ graph: Graph) -> [UInt8] {
        GraphDefEncoder().encode(graph)
    }

    private func encode(_ graph: Graph) -> [UInt8] {
        let preserved = graph.preserved
        let def = arena.allocate(Tensorflow__GraphDef.self)
        tensorflow__graph_def__init(def)
        let nodes = graph.nodes
        def.pointee.n_node = nodes.count
        def.pointee.node = arena.array(nodes.map { Optional(nodeDef($0, unknown: preserved.nodes[$0.name] ?? [])) })
        let versions = graph.versions
        let v = arena.allocate(Tensorflow__VersionDef.self)
        tensorflow__version_def__init(v)
        v.pointee.producer = versions.producer
        v.pointee.min_consumer = versions.minConsumer
        v.pointee.n_bad_consumers = versions.badConsumers.count
        v.pointee.bad_consumers = arena.array(versions.badConsumers)
        def.pointee.versions = v
        setUnknownFields(&def.pointee.base, preserved.graph)
        var bytes = [UInt8](repeating: 0, count: tensorflow__graph_def__get_packed_size(def))
        let written = bytes.withUnsafeMutableBufferPointer { tensorflow__graph_def__pack(def, $0.baseAddress!) }
        precondition(written == bytes.count, "protobuf-c packed \(written) of \(bytes.count) bytes")
        return bytes
    }

    private func setUnknownFields(_ base: inout ProtobufCMessage, _ fields: [UnknownField]) {
        guard !fields.isEmpty else { return }
        base.n_unknown_fields = UInt32(fields.count)
        base.unknown_fields = arena.array(fields.map { f in
            let data = arena.allocate(UInt8.self, count: f.data.count)
            f.data.withUnsafeBytes { if let b = $0.baseAddress, f.data.count > 0 { memcpy(data, b, f.data.count) } }
            return ProtobufCMessageUnknownField(tag: f.fieldNumber, wire_type: ProtobufCWireType(rawValue: f.wireType),
                                                len: f.data.count, data: data)
        })
    }

    private func nodeDef(_ node: Node, unknown: [UnknownField]) -> UnsafeMutablePointer<Tensorflow__NodeDef> {
        let n = arena.allocate(Tensorflow__NodeDef.self)
        tensorflow__node_def__init(n)
        n.pointee.name = arena.string(node.name)
        n.pointee.op = arena.string(node.op)
        n.pointee.device = arena.string(node.device)
        let inputs = node.inputs.map { $0.index == 0 ? $0.node.name : "\($0.node.name):\($0.index)" }
            + node.controlInputs.map { "^\($0.name)" }
        n.pointee.n_input = inputs.count
        n.pointee.input = arena.array(inputs.map { Optional(arena.string($0)) })
        let keys = node.attrs.keys.sorted()
        n.pointee.n_attr = keys.count
        n.pointee.attr = arena.array(keys.map { key -> UnsafeMutablePointer<Tensorflow__NodeDef__AttrEntry>? in
            let entry = arena.allocate(Tensorflow__NodeDef__AttrEntry.self)
            tensorflow__node_def__attr_entry__init(entry)
            entry.pointee.key = arena.string(key)
            entry.pointee.value = attrValue(node.attrs[key]!)
            return entry
        })
        setUnknownFields(&n.pointee.base, unknown)
        return n
    }

    private func attrValue(_ value: AttrValue) -> UnsafeMutablePointer<Tensorflow__AttrValue> {
        let a = arena.allocate(Tensorflow__AttrValue.self)
        tensorflow__attr_value__init(a)
        func list(_ fill: (UnsafeMutablePointer<Tensorflow__AttrValue__ListValue>) -> Void) {
            let l = arena.allocate(Tensorflow__AttrValue__ListValue.self)
            tensorflow__attr_value__list_value__init(l)
            fill(l)
            a.pointee.value_case = TENSORFLOW__ATTR_VALUE__VALUE_LIST
            a.pointee.list = l
        }
        switch value {
        case .string(let s):
            a.pointee.value_case = TENSORFLOW__ATTR_VALUE__VALUE_S
            a.pointee.s = arena.binary(s)
        case .int(let i):
            a.pointee.value_case = TENSORFLOW__ATTR_VALUE__VALUE_I
            a.pointee.i = Int64(i)
        case .float(let f):
            a.pointee.value_case = TENSORFLOW__ATTR_VALUE__VALUE_F
            a.pointee.f = f
        case .bool(let b):
            a.pointee.value_case = TENSORFLOW__ATTR_VALUE__VALUE_B
            a.pointee.b = b ? 1 : 0
        case .type(let t):
            a.pointee.value_case = TENSORFLOW__ATTR_VALUE__VALUE_TYPE
            a.pointee.type = Tensorflow__DataType(rawValue: UInt32(t.rawValue))
        case .shape(let s):
            a.pointee.value_case = TENSORFLOW__ATTR_VALUE__VALUE_SHAPE
            a.pointee.shape = shapeProto(s)
        case .tensor(let t):
            a.pointee.value_case = TENSORFLOW__ATTR_VALUE__VALUE_TENSOR
            a.pointee.tensor = tensorProto(t)
        case .strings(let v): list { $0.pointee.n_s = v.count; $0.pointee.s = arena.array(v.map { arena.binary($0) }) }
        case .ints(let v): list { $0.pointee.n_i = v.count; $0.pointee.i = arena.array(v.map { Int64($0) }) }
        case .floats(let v): list { $0.pointee.n_f = v.count; $0.pointee.f = arena.array(v) }
        case .bools(let v): list { $0.pointee.n_b = v.count; $0.pointee.b = arena.array(v.map { $0 ? 1 : 0 }) }
        case .types(let v):
            list { $0.pointee.n_type = v.count; $0.pointee.type = arena.array(v.map { Tensorflow__DataType(rawValue: UInt32($0.rawValue)) }) }
        case .shapes(let v): list { $0.pointee.n_shape = v.count; $0.pointee.shape = arena.array(v.map { Optional(shapeProto($0)) }) }
        }
        return a
    }

    private func shapeProto(_ shape: TensorShape) -> UnsafeMutablePointer<Tensorflow__TensorShapeProto> {
        let s = arena.allocate(Tensorflow__TensorShapeProto.self)
        tensorflow__tensor_shape_proto__init(s)
        guard let dims = shape.dimensions else {
            s.pointee.unknown_rank = 1
            return s
        }
        s.pointee.n_dim = dims.count
        s.pointee.dim = arena.array(dims.map { d -> UnsafeMutablePointer<Tensorflow__TensorShapeProto__Dim>? in
            let dim = arena.allocate(Tensorflow__TensorShapeProto__Dim.self)
            tensorflow__tensor_shape_proto__dim__init(dim)
            dim.pointee.size = Int64(d ?? -1)
            return dim
        })
        return s
    }

    private func tensorProto(_ t: Tensor) -> UnsafeMutablePointer<Tensorflow__TensorProto> {
        let p = arena.allocate(Tensorflow__TensorProto.self)
        tensorflow__tensor_proto__init(p)
        p.pointee.dtype = Tensorflow__DataType(rawValue: UInt32(t.dtype.rawValue))
        p.pointee.tensor_shape = shapeProto(TensorShape(t.shape))
        if let strings = t.byteStrings {
            p.pointee.n_string_val = strings.count
            p.pointee.string_val = arena.array(strings.map { s in s.withUnsafeBytes { arena.binary($0) } })
            return p
        }
        p.pointee.tensor_content = arena.binary(UnsafeRawBufferPointer(start: t.rawPointer, count: t.byteCount))
        return p
    }
}
