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

    /// The functions node attributes refer to, in the order first met, for the library.
    private final class FunctionQueue {
        var order: [GraphFunction] = []
        var seen: Set<ObjectIdentifier> = []
        func add(_ f: GraphFunction) { if seen.insert(ObjectIdentifier(f)).inserted { order.append(f) } }
    }
    private let functions = FunctionQueue()

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
        def.pointee.library = library()
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

    /// Every function the graph's nodes reach (through function bodies too), or `nil`
    /// when there are none. TF writes the field even when empty; an absent one reads the same.
    private func library() -> UnsafeMutablePointer<Tensorflow__FunctionDefLibrary>? {
        var defs: [UnsafeMutablePointer<Tensorflow__FunctionDef>?] = []
        var k = 0
        while k < functions.order.count {  // encoding a body queues the functions it calls
            defs.append(functionDef(functions.order[k]))
            k += 1
        }
        guard !defs.isEmpty else { return nil }
        let lib = arena.allocate(Tensorflow__FunctionDefLibrary.self)
        tensorflow__function_def_library__init(lib)
        lib.pointee.n_function = defs.count
        lib.pointee.function = arena.array(defs)
        return lib
    }

    /// A `FunctionDef`: the signature, the body nodes the results and control results
    /// need (arguments are not nodes), and inputs in the function form `node:out_arg:i`.
    private func functionDef(_ f: GraphFunction) -> UnsafeMutablePointer<Tensorflow__FunctionDef> {
        let argumentName = Dictionary(uniqueKeysWithValues: zip(f.arguments.map(\.endpoint), f.argumentNames))
        let argumentNodes = Set(f.arguments.map(\.node))
        var needed = Set<Node>()
        var stack = f.results.map(\.node) + f.controlResults
        while let n = stack.popLast() {
            guard !argumentNodes.contains(n), needed.insert(n).inserted else { continue }
            stack += n.inputs.map(\.node) + n.controlInputs
        }
        func reference(_ e: NodeOutput) -> String {
            if let name = argumentName[e] { return name }
            let (arg, i) = Self.outputArgument(of: e)
            return "\(e.node.name):\(arg):\(i)"
        }
        let body = f.body.nodes.filter { needed.contains($0) }
        let def = arena.allocate(Tensorflow__FunctionDef.self)
        tensorflow__function_def__init(def)
        let signature = arena.allocate(Tensorflow__OpDef.self)
        tensorflow__op_def__init(signature)
        signature.pointee.name = arena.string(f.name)
        func args(_ names: [String], _ types: [DType]) -> UnsafeMutablePointer<UnsafeMutablePointer<Tensorflow__OpDef__ArgDef>?> {
            arena.array(zip(names, types).map { name, type in
                let a = arena.allocate(Tensorflow__OpDef__ArgDef.self)
                tensorflow__op_def__arg_def__init(a)
                a.pointee.name = arena.string(name)
                a.pointee.type = Tensorflow__DataType(rawValue: UInt32(type.rawValue))
                return Optional(a)
            })
        }
        signature.pointee.n_input_arg = f.arguments.count
        signature.pointee.input_arg = args(f.argumentNames, f.inputTypes)
        signature.pointee.n_output_arg = f.results.count
        signature.pointee.output_arg = args(f.resultNames, f.outputTypes)
        let controlNames = f.controlResults.map(\.name)
        signature.pointee.n_control_output = controlNames.count
        signature.pointee.control_output = arena.array(controlNames.map { Optional(arena.string($0)) })
        def.pointee.signature = signature
        def.pointee.n_node_def = body.count
        def.pointee.node_def = arena.array(body.map { Optional(nodeDef($0, unknown: [], reference: reference)) })
        def.pointee.n_ret = f.results.count
        def.pointee.ret = arena.array(zip(f.resultNames, f.results).map { name, result in
            let e = arena.allocate(Tensorflow__FunctionDef__RetEntry.self)
            tensorflow__function_def__ret_entry__init(e)
            e.pointee.key = arena.string(name)
            e.pointee.value = arena.string(reference(result.endpoint))
            return Optional(e)
        })
        def.pointee.n_control_ret = controlNames.count
        def.pointee.control_ret = arena.array(controlNames.map { name in
            let e = arena.allocate(Tensorflow__FunctionDef__ControlRetEntry.self)
            tensorflow__function_def__control_ret_entry__init(e)
            e.pointee.key = arena.string(name)
            e.pointee.value = arena.string(name)
            return Optional(e)
        })
        return def
    }

    /// The output argument of the node's op that flat output `index` belongs to, and its
    /// position within that argument.
    static func outputArgument(of e: NodeOutput) -> (String, Int) {
        var flat = 0
        for arg in e.node.definition.outputs {
            let count = arg.count(in: e.node.attrs) ?? 1
            if e.index < flat + count { return (arg.name, e.index - flat) }
            flat += count
        }
        return ("output", e.index)
    }

    private func nodeDef(_ node: Node, unknown: [UnknownField],
                         reference: ((NodeOutput) -> String)? = nil) -> UnsafeMutablePointer<Tensorflow__NodeDef> {
        let n = arena.allocate(Tensorflow__NodeDef.self)
        tensorflow__node_def__init(n)
        n.pointee.name = arena.string(node.name)
        n.pointee.op = arena.string(node.op)
        n.pointee.device = arena.string(node.device)
        let inputs = node.inputs.map { reference?($0) ?? ($0.index == 0 ? $0.node.name : "\($0.node.name):\($0.index)") }
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
        case .function(let f):
            a.pointee.value_case = TENSORFLOW__ATTR_VALUE__VALUE_FUNC
            a.pointee.func = nameAttrList(f)
        case .functions(let v): list { $0.pointee.n_func = v.count; $0.pointee.func = arena.array(v.map { Optional(nameAttrList($0)) }) }
        }
        return a
    }

    /// A reference to a library function (queued for the library).
    private func nameAttrList(_ f: GraphFunction) -> UnsafeMutablePointer<Tensorflow__NameAttrList> {
        functions.add(f)
        let l = arena.allocate(Tensorflow__NameAttrList.self)
        tensorflow__name_attr_list__init(l)
        l.pointee.name = arena.string(f.name)
        return l
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
