import Foundation
import SomaProto

/// GraphDef bytes → ``Graph``: scan, unpack with a budget, validate, and rebuild through
/// the same `addNode` (signature binding and shape inference) as graphs built in Swift.
///
/// Every rule violation is an ``SomaError`` naming the node and the field.
struct GraphDefDecoder {
    let limits: GraphDefLimits
    private var tensorBytes = 0
    /// The library's functions, loaded when a node attribute names one.
    var functions: FunctionLoader? = nil
    /// Where materialised constants reserve their bytes.
    let budget: MemoryBudget

    init(limits: GraphDefLimits) {
        self.limits = limits
        self.budget = limits.memoryBudget ?? MemoryBudget()
    }

    /// A NodeDef read out of protobuf-c's structures, before it joins the graph.
    struct ParsedNode {
        var name: String
        var op: String
        var dataInputs: [(name: String, index: Int)] = []
        var controlInputs: [String] = []
        let device: String
        var attrs: [String: AttrValue] = [:]
        var unknownFields: [UnknownField] = []
        let position: Int
        /// The NodeDef whose attributes become `attrs` (`nil` for nodes the function
        /// inliner makes, whose `attrs` are set directly).
        var def: UnsafeMutablePointer<Tensorflow__NodeDef>? = nil
        /// Attributes that replace the NodeDef's (a load-time rewrite's changes).
        var attrOverrides: [String: AttrValue] = [:]
    }

    static func fail(_ message: String) -> SomaError { .invalidArgument("Invalid GraphDef: \(message)") }

    mutating func decode(_ bytes: UnsafeRawBufferPointer, into graph: Graph) throws {
        guard bytes.count <= limits.maxFileBytes else {
            throw Self.fail("\(bytes.count) bytes exceeds the limit of \(limits.maxFileBytes)")
        }
        do {
            try WireScanner.check(bytes)
        } catch let failure as WireScanner.Failure {
            throw Self.fail(failure.message)
        }
        var allocator = SomaBudgetAllocator()
        soma_budget_allocator_init(&allocator, limits.unpackBudget(forFileBytes: bytes.count))
        let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(bitPattern: 1)!
        let unpacked = withUnsafeMutablePointer(to: &allocator.allocator) { alloc in
            tensorflow__graph_def__unpack(alloc, bytes.count, base)
        }
        guard let def = unpacked else {
            if allocator.exceeded != 0 {
                throw Self.fail("unpacking needs more than the \(allocator.budget)-byte memory budget")
            }
            throw Self.fail("protobuf-c could not parse the bytes as a GraphDef (a field's value does not match its type)")
        }
        defer { withUnsafeMutablePointer(to: &allocator.allocator) { tensorflow__graph_def__free_unpacked(def, $0) } }
        try build(def, into: graph)
    }

    /// Builds `graph` from an unpacked GraphDef (a file's, or a MetaGraphDef's): function
    /// calls inlined, names, ops and inputs checked, attributes converted, nodes added in
    /// topological order.
    mutating func build(_ def: UnsafeMutablePointer<Tensorflow__GraphDef>, into graph: Graph,
                        trainable: ((Node) -> Bool)? = nil) throws {
        var parsed: [ParsedNode] = []
        parsed.reserveCapacity(def.pointee.n_node)
        for i in 0..<def.pointee.n_node {
            guard let node = def.pointee.node[i] else { throw Self.fail("node[\(i)] is missing") }
            parsed.append(try parseNode(node, position: i))
        }
        if let library = def.pointee.library, library.pointee.n_function > 0 || parsed.contains(where: { FunctionInliner.isCall($0) }) {
            var inliner = try FunctionInliner(library: library.pointee, limits: limits)
            parsed = try inliner.inline(parsed)
            functions = FunctionLoader(inliner: inliner)
        } else if let call = parsed.first(where: { FunctionInliner.isCall($0) }) {
            throw Self.fail("node '\(call.name)' (op: '\(call.op)') calls a function, but the graph has no function library")
        }
        if V1TensorArrays.hasArrays(parsed) { parsed = try V1TensorArrays.rewrite(parsed) }
        if V1ControlFlow.hasLoops(parsed) {
            parsed = try V1ControlFlow.raiseConds(parsed, decoder: &self)
            parsed = try V1ControlFlow.functionalize(parsed, decoder: &self)
        }
        if let v = def.pointee.versions {
            let bad = (0..<v.pointee.n_bad_consumers).map { v.pointee.bad_consumers[$0] }
            graph.versions = GraphVersions(producer: v.pointee.producer, minConsumer: v.pointee.min_consumer, badConsumers: bad)
        } else {
            graph.versions = GraphVersions(producer: 0)
        }
        var preserved = PreservedFields(graph: Self.unknownFields(def.pointee.base))
        preserved.nodes = try addNodes(&parsed, into: graph)
        graph.preserved = preserved
        graph.recoverVariables(trainable: trainable)
    }

    /// Checks names and ops, converts attributes (loading the functions they name) and
    /// adds the nodes to `graph` in a topological order; returns the nodes' unknown fields.
    mutating func addNodes(_ parsed: inout [ParsedNode], into graph: Graph) throws -> [String: [UnknownField]] {
        try checkNames(parsed)
        try checkOpsAreSupported(parsed)
        for i in parsed.indices where parsed[i].def != nil { try convertAttrs(&parsed[i], parsed[i].def!) }
        let order = try topologicalOrder(parsed)
        var unknown: [String: [UnknownField]] = [:]
        var built: [String: Node] = [:]
        for i in order {
            let p = parsed[i]
            let inputs = try p.dataInputs.map { input -> Output in
                let producer = built[input.name]!
                guard input.index < producer.outputCount else {
                    throw Self.fail("node '\(p.name)' input '\(input.name):\(input.index)' refers to output \(input.index) of "
                                    + "'\(input.name)' (op: '\(producer.op)'), which has \(producer.outputCount) output(s)")
                }
                return Output(graph: graph, node: producer, index: input.index)
            }
            let node = try graph.addNode(
                op: p.op, inputs: inputs, attrs: p.attrs, name: p.name,
                controlInputs: p.controlInputs.map { built[$0]! }, device: p.device, uniquifyName: false)
            built[p.name] = node
            if !p.unknownFields.isEmpty { unknown[p.name] = p.unknownFields }
        }
        return unknown
    }

    // MARK: Nodes

    static func string(_ p: UnsafePointer<CChar>?, _ field: @autoclosure () -> String) throws -> String {
        guard let p else { return "" }
        guard let s = String(validatingCString: p) else { throw fail("\(field()) is not valid UTF-8") }
        return s
    }

    func parseNode(_ n: UnsafeMutablePointer<Tensorflow__NodeDef>, position: Int) throws -> ParsedNode {
        let name = try Self.string(n.pointee.name, "node[\(position)].name")
        var label: String { name.isEmpty ? "node[\(position)]" : "node '\(name)'" }
        var node = ParsedNode(
            name: name, op: try Self.string(n.pointee.op, "\(label) op"),
            device: try Self.string(n.pointee.device, "\(label) device"), position: position)
        for k in 0..<n.pointee.n_input {
            let text = try Self.string(n.pointee.input[k], "\(label) input[\(k)]")
            if text.hasPrefix("^") {
                let source = String(text.dropFirst())
                guard !source.isEmpty else { throw Self.fail("\(label) has an empty control input") }
                node.controlInputs.append(source)
                continue
            }
            guard node.controlInputs.isEmpty else {
                throw Self.fail("\(label) lists data input '\(text)' after a control input; data inputs must come first")
            }
            var source = Substring(text), index = 0
            if let colon = text.utf8.lastIndex(of: UInt8(ascii: ":")) {
                guard let k = Int(text[text.index(after: colon)...]), k >= 0, k < 1 << 20 else {
                    throw Self.fail("\(label) input '\(text)' has a bad output index")
                }
                source = text[..<colon]
                index = k
            }
            guard !source.isEmpty else { throw Self.fail("\(label) has an empty input name") }
            node.dataInputs.append((String(source), index))
        }
        node.unknownFields = Self.unknownFields(n.pointee.base)
        node.def = n
        return node
    }

    /// Whether a node name holds `:`, `^`, whitespace or a control character (bytes for
    /// ASCII names, characters otherwise).
    private static func hasForbiddenCharacter(_ name: String) -> Bool {
        var ascii = true
        for b in name.utf8 {
            if b >= 0x80 { ascii = false; break }
            if b <= 0x20 || b == 0x7F || b == UInt8(ascii: ":") || b == UInt8(ascii: "^") { return true }
        }
        if ascii { return false }
        return name.contains { $0 == ":" || $0 == "^" || $0.isWhitespace || $0.asciiValue.map { $0 < 32 || $0 == 0x7F } == true }
    }

    private func checkNames(_ nodes: [ParsedNode]) throws {
        var seen = Set<String>()
        for n in nodes {
            guard !n.name.isEmpty else { throw Self.fail("node[\(n.position)] has an empty name") }
            guard !Self.hasForbiddenCharacter(n.name) else {
                throw Self.fail("node name '\(n.name)' contains a character TF does not allow in names")
            }
            guard !n.op.isEmpty else { throw Self.fail("node '\(n.name)' has no op") }
            guard seen.insert(n.name).inserted else { throw Self.fail("duplicate node name '\(n.name)'") }
        }
    }

    /// One error for every op Soma lacks, listing the nodes that use each.
    private func checkOpsAreSupported(_ nodes: [ParsedNode]) throws {
        var unsupported: [String: [String]] = [:]
        for n in nodes where OpRegistry.lookup(n.op) == nil { unsupported[n.op, default: []].append(n.name) }
        guard !unsupported.isEmpty else { return }
        let lines = unsupported.keys.sorted().map { op -> String in
            let users = unsupported[op]!
            let shown = users.prefix(5).map { "'\($0)'" }.joined(separator: ", ")
            return "\(op) (used by \(shown)\(users.count > 5 ? " and \(users.count - 5) more" : ""))"
        }
        throw SomaError.unimplemented(
            "The graph uses \(unsupported.count) op type(s) Soma does not support: " + lines.joined(separator: "; "))
    }

    /// Data and control inputs must name nodes of the graph, and must not form a cycle.
    /// Nodes already in topological order keep their file order.
    private func topologicalOrder(_ nodes: [ParsedNode]) throws -> [Int] {
        var index: [String: Int] = [:]
        for (i, n) in nodes.enumerated() { index[n.name] = i }
        var sources: [[Int]] = []
        for n in nodes {
            var s: [Int] = []
            for input in n.dataInputs {
                guard let j = index[input.name] else {
                    throw Self.fail("node '\(n.name)' has input '\(input.name)', which is not a node of the graph")
                }
                s.append(j)
            }
            for control in n.controlInputs {
                guard let j = index[control] else {
                    throw Self.fail("node '\(n.name)' has control input '^\(control)', which is not a node of the graph")
                }
                s.append(j)
            }
            sources.append(s)
        }
        // Iterative depth-first search: 0 = new, 1 = on the stack, 2 = done.
        var state = [UInt8](repeating: 0, count: nodes.count)
        var order: [Int] = []
        order.reserveCapacity(nodes.count)
        for root in nodes.indices where state[root] == 0 {
            var stack: [(node: Int, next: Int)] = [(root, 0)]
            state[root] = 1
            while let top = stack.last {
                if top.next < sources[top.node].count {
                    stack[stack.count - 1].next += 1
                    let s = sources[top.node][top.next]
                    if state[s] == 1 {
                        let cycle = stack.drop { $0.node != s }.map { "'\(nodes[$0.node].name)'" } + ["'\(nodes[s].name)'"]
                        throw Self.fail("the graph has a cycle: " + cycle.joined(separator: " → "))
                    }
                    if state[s] == 0 {
                        state[s] = 1
                        stack.append((s, 0))
                    }
                } else {
                    state[top.node] = 2
                    order.append(top.node)
                    stack.removeLast()
                }
            }
        }
        return order
    }

    static func unknownFields(_ base: ProtobufCMessage) -> [UnknownField] {
        (0..<Int(base.n_unknown_fields)).map { i in
            let f = base.unknown_fields[i]
            let data = f.len == 0 ? [] : Array(UnsafeBufferPointer(start: f.data, count: f.len))
            return UnknownField(fieldNumber: f.tag, wireType: f.wire_type.rawValue, data: data)
        }
    }

    // MARK: Attributes

    private mutating func convertAttrs(_ node: inout ParsedNode, _ n: UnsafeMutablePointer<Tensorflow__NodeDef>) throws {
        let def = OpRegistry.lookup(node.op)!
        for k in 0..<n.pointee.n_attr {
            guard let entry = n.pointee.attr[k] else { continue }
            let key = try Self.string(entry.pointee.key, "node '\(node.name)' attr key")
            let field = "attr '\(key)' of node '\(node.name)' (op: '\(node.op)')"
            guard let value = entry.pointee.value else { throw Self.fail("\(field) has no value") }
            node.attrs[key] = try attrValue(value, expected: def.attr(key)?.kind, field: field)
        }
        node.attrs.merge(node.attrOverrides) { _, override in override }
    }

    private mutating func attrValue(_ a: UnsafeMutablePointer<Tensorflow__AttrValue>, expected: AttrKind?, field: String) throws -> AttrValue {
        let v = a.pointee
        switch v.value_case {
        case TENSORFLOW__ATTR_VALUE__VALUE_S: return .string(try Self.utf8(v.s, field))
        case TENSORFLOW__ATTR_VALUE__VALUE_I:
            guard let i = Int(exactly: v.i) else { throw Self.fail("\(field) is out of range") }
            return .int(i)
        case TENSORFLOW__ATTR_VALUE__VALUE_F: return .float(v.f)
        case TENSORFLOW__ATTR_VALUE__VALUE_B: return .bool(v.b != 0)
        case TENSORFLOW__ATTR_VALUE__VALUE_TYPE: return .type(try Self.dtype(v.type.rawValue, field))
        case TENSORFLOW__ATTR_VALUE__VALUE_SHAPE: return .shape(try Self.shape(v.shape, field))
        case TENSORFLOW__ATTR_VALUE__VALUE_TENSOR: return .tensor(try tensor(v.tensor, field))
        case TENSORFLOW__ATTR_VALUE__VALUE_LIST:
            guard let list = v.list else { return .ints([]) }
            return try listValue(list.pointee, expected: expected, field: field)
        case TENSORFLOW__ATTR_VALUE__VALUE_FUNC:
            return .function(try function(v.func, field: field))
        default:
            throw Self.fail("\(field) has a kind of value Soma does not support (a placeholder)")
        }
    }

    private mutating func listValue(_ l: Tensorflow__AttrValue__ListValue, expected: AttrKind?, field: String) throws -> AttrValue {
        let kinds = [l.n_s, l.n_i, l.n_f, l.n_b, l.n_type, l.n_shape, l.n_tensor, l.n_func].filter { $0 > 0 }.count
        guard kinds <= 1 else { throw Self.fail("\(field) is a list holding values of \(kinds) different kinds") }
        if l.n_s > 0 { return .strings(try (0..<l.n_s).map { try Self.utf8(l.s[$0], field) }) }
        if l.n_i > 0 {
            return .ints(try (0..<l.n_i).map {
                guard let i = Int(exactly: l.i[$0]) else { throw Self.fail("\(field) is out of range") }
                return i
            })
        }
        if l.n_f > 0 { return .floats((0..<l.n_f).map { l.f[$0] }) }
        if l.n_b > 0 { return .bools((0..<l.n_b).map { l.b[$0] != 0 }) }
        if l.n_type > 0 { return .types(try (0..<l.n_type).map { try Self.dtype(l.type[$0].rawValue, field) }) }
        if l.n_shape > 0 { return .shapes(try (0..<l.n_shape).map { try Self.shape(l.shape[$0], field) }) }
        if l.n_tensor > 0 {
            throw Self.fail("\(field) is a list of tensors, which Soma does not support")
        }
        if l.n_func > 0 { return .functions(try (0..<l.n_func).map { try function(l.func[$0], field: field) }) }
        // An empty list has no kind on the wire; the op's declaration supplies it.
        switch expected {
        case .stringList: return .strings([])
        case .floatList: return .floats([])
        case .boolList: return .bools([])
        case .typeList: return .types([])
        case .shapeList: return .shapes([])
        case .functionList: return .functions([])
        default: return .ints([])
        }
    }

    static func utf8(_ data: ProtobufCBinaryData, _ field: String) throws -> String {
        guard data.len > 0, let p = data.data else { return "" }
        guard let s = String(validating: UnsafeBufferPointer(start: p, count: data.len), as: UTF8.self) else {
            throw fail("\(field) is not valid UTF-8")
        }
        return s
    }

    /// TF's dtype numbers, reference types (`DT_FLOAT_REF` = 101, …) read as their base type.
    static func dtype(_ raw: UInt32, _ field: String) throws -> DType {
        let base = raw > 100 ? raw - 100 : raw
        guard let t = DType(rawValue: Int32(truncatingIfNeeded: base)) else {
            throw fail("\(field) has dtype \(raw), which Soma does not support (supported: float32, float64, int32, int64, uint8, bool, string, resource)")
        }
        return t
    }

    static func shape(_ p: UnsafeMutablePointer<Tensorflow__TensorShapeProto>?, _ field: String) throws -> TensorShape {
        guard let s = p?.pointee else { return .scalar }
        if s.unknown_rank != 0 {
            guard s.n_dim == 0 else { throw fail("\(field) has unknown rank but lists \(s.n_dim) dimensions") }
            return .unknown
        }
        guard s.n_dim <= 254 else { throw fail("\(field) has rank \(s.n_dim), more than 254") }
        return TensorShape(try (0..<s.n_dim).map { i -> Int? in
            let size = s.dim[i]?.pointee.size ?? 0
            if size == -1 { return nil }
            guard size >= 0 else { throw fail("\(field) has negative dimension \(size)") }
            guard size <= Int64(1) << 48 else { throw fail("\(field) has dimension \(size), too large") }
            return Int(size)
        })
    }

    /// A `TensorProto` as a ``Tensor``: `tensor_content`, or the typed value list with TF's
    /// rule that a short list repeats its last value.
    mutating func tensor(_ p: UnsafeMutablePointer<Tensorflow__TensorProto>?, _ field: String) throws -> Tensor {
        guard let t = p?.pointee else { throw Self.fail("\(field) has no tensor") }
        let dtype = try Self.dtype(t.dtype.rawValue, field)
        let shape = try Self.shape(t.tensor_shape, field)
        guard let dims = shape.concrete else { throw Self.fail("\(field) has a tensor of partial shape \(shape)") }
        var count = 1
        for d in dims {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, product <= limits.maxTensorBytes else {
                throw Self.fail("\(field) has a tensor of shape \(shapeString(dims)), larger than the \(limits.maxTensorBytes)-byte limit")
            }
            count = product
        }
        if dtype == .string { return try stringTensor(t, dims: dims, count: count, field: field) }
        guard dtype != .resource && dtype != .variant else { throw Self.fail("\(field) is a constant \(dtype) tensor, which has no value in a file") }
        let byteCount = count * dtype.byteSize
        guard byteCount <= limits.maxTensorBytes else {
            throw Self.fail("\(field) has a tensor of \(byteCount) bytes, larger than the \(limits.maxTensorBytes)-byte limit")
        }
        tensorBytes += byteCount
        guard tensorBytes <= limits.maxTotalTensorBytes else {
            throw Self.fail("the graph's constants exceed the \(limits.maxTotalTensorBytes)-byte limit at \(field)")
        }
        let out = try Tensor(dtype: dtype, shape: dims, zeroed: true, budget: budget,
                             for: "Invalid GraphDef: \(field): materialising a \(dtype) tensor of shape \(shapeString(dims))")
        if t.tensor_content.len > 0 {
            guard t.tensor_content.len == byteCount else {
                throw Self.fail("\(field) has tensor_content of \(t.tensor_content.len) bytes, but \(dtype) "
                                + "\(shapeString(dims)) needs \(count) × \(dtype.byteSize) = \(byteCount)")
            }
            memcpy(out.rawPointer, t.tensor_content.data, byteCount)
            if dtype == .bool {
                // Normalise any nonzero byte to true: Swift's Bool must be 0 or 1.
                let b = out.rawPointer.assumingMemoryBound(to: UInt8.self)
                for i in 0..<count where b[i] > 1 { b[i] = 1 }
            }
            return out
        }
        func fill<S, D>(_ values: UnsafeMutablePointer<S>?, _ n: Int, _ convert: (S) -> D) throws {
            guard n > 0, let values else { return }
            guard n <= count else { throw Self.fail("\(field) lists \(n) values for a tensor of \(count) elements") }
            let dst = out.mutablePointer(as: D.self)
            for i in 0..<count { dst[i] = convert(values[Swift.min(i, n - 1)]) }
        }
        switch dtype {
        case .float32: try fill(t.float_val, t.n_float_val) { $0 }
        case .float64: try fill(t.double_val, t.n_double_val) { $0 }
        case .int32: try fill(t.int_val, t.n_int_val) { $0 }
        case .uint8: try fill(t.int_val, t.n_int_val) { UInt8(truncatingIfNeeded: $0) }
        case .int64: try fill(t.int64_val, t.n_int64_val) { $0 }
        case .bool: try fill(t.bool_val, t.n_bool_val) { $0 != 0 }
        case .string, .resource, .variant: break  // handled above
        }
        return out
    }

    /// A `DT_STRING` tensor from `string_val` (a short list repeats its last value, as for
    /// numbers); the strings' bytes count against the limits and the budget.
    private mutating func stringTensor(_ t: Tensorflow__TensorProto, dims: [Int], count: Int, field: String) throws -> Tensor {
        guard t.tensor_content.len == 0 else { throw Self.fail("\(field) has a string tensor in tensor_content, which Soma does not read") }
        let n = t.n_string_val
        guard n <= count else { throw Self.fail("\(field) lists \(n) values for a tensor of \(count) elements") }
        guard count == 0 || n > 0 || count <= limits.maxTensorBytes / DType.string.byteSize else {
            throw Self.fail("\(field) has a string tensor of \(count) elements, larger than the \(limits.maxTensorBytes)-byte limit")
        }
        var values: [[UInt8]] = []
        values.reserveCapacity(n)
        var bytes = count * DType.string.byteSize
        for i in 0..<n {
            let v = t.string_val[i]
            values.append(v.len == 0 ? [] : Array(UnsafeBufferPointer(start: v.data, count: v.len)))
            bytes += v.len
        }
        // Repeating the last value multiplies its bytes: bound the result before building it.
        if n > 0 && n < count {
            let (extra, overflow) = (count - n).multipliedReportingOverflow(by: values[n - 1].count)
            guard !overflow, extra <= limits.maxTensorBytes else {
                throw Self.fail("\(field) repeats a string into more than the \(limits.maxTensorBytes)-byte limit")
            }
            bytes += extra
        }
        guard bytes <= limits.maxTensorBytes else {
            throw Self.fail("\(field) has a string tensor of \(bytes) bytes, larger than the \(limits.maxTensorBytes)-byte limit")
        }
        tensorBytes += bytes
        guard tensorBytes <= limits.maxTotalTensorBytes else {
            throw Self.fail("the graph's constants exceed the \(limits.maxTotalTensorBytes)-byte limit at \(field)")
        }
        if n > 0 && n < count { values += Array(repeating: values[n - 1], count: count - n) }
        if n == 0 { values = Array(repeating: [], count: count) }
        let buffer = try TensorBuffer(strings: values, budget: budget,
                                      for: "Invalid GraphDef: \(field): materialising a string tensor of shape \(shapeString(dims))")
        return Tensor(dtype: .string, shape: dims, buffer: buffer)
    }
}

extension GraphDefDecoder.ParsedNode {
    /// Attribute `key` as the NodeDef holds it (`nil` for nodes the function inliner made).
    func rawAttr(_ key: String) -> UnsafeMutablePointer<Tensorflow__AttrValue>? {
        def.flatMap { GraphDefDecoder.rawAttr($0, key) }
    }

    /// Type attribute `key`: a load-time rewrite's override, an attribute set directly, or
    /// the NodeDef's.
    func typeAttr(_ key: String) throws -> DType {
        if case .type(let t)? = attrOverrides[key] ?? attrs[key] { return t }
        guard let a = rawAttr(key), a.pointee.value_case == TENSORFLOW__ATTR_VALUE__VALUE_TYPE else {
            throw GraphDefDecoder.fail("node '\(name)' (op: '\(op)') has no type attr '\(key)'")
        }
        return try GraphDefDecoder.dtype(a.pointee.type.rawValue, "attr '\(key)' of node '\(name)'")
    }

    /// Bool attribute `key` (`false` when absent).
    func boolAttr(_ key: String) throws -> Bool {
        if case .bool(let b)? = attrOverrides[key] ?? attrs[key] { return b }
        guard let a = rawAttr(key) else { return false }
        guard a.pointee.value_case == TENSORFLOW__ATTR_VALUE__VALUE_B else {
            throw GraphDefDecoder.fail("attr '\(key)' of node '\(name)' (op: '\(op)') is not a bool")
        }
        return a.pointee.b != 0
    }

    /// Shape attribute `key` (`nil` when absent).
    func shapeAttr(_ key: String) throws -> TensorShape? {
        if case .shape(let s)? = attrOverrides[key] ?? attrs[key] { return s }
        guard let a = rawAttr(key) else { return nil }
        let field = "attr '\(key)' of node '\(name)' (op: '\(op)')"
        guard a.pointee.value_case == TENSORFLOW__ATTR_VALUE__VALUE_SHAPE else { throw GraphDefDecoder.fail("\(field) is not a shape") }
        return try GraphDefDecoder.shape(a.pointee.shape, field)
    }
}
