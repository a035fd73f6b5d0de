import SomaProto

/// Inlines function calls — `PartitionedCall`, `StatefulPartitionedCall` and nodes whose op
/// is a library function — into the graph being loaded, as Grappler's function inlining
/// does, so the rest of Soma sees one flat graph.
///
/// A call `c` of `f` becomes: an `Identity` `c/<arg>` per input argument (carrying the
/// call's control inputs), `f`'s body with every node renamed `c/<node>` and its inputs
/// rewritten (`x` → `c/x`, `node:out_arg:i` → `c/node:<flat index>`), and an `IdentityN`
/// named `c` over the returned values, with control inputs on `f`'s `control_ret` nodes —
/// so `c:k` and `^c` mean what they meant. Calls inside bodies are inlined in turn.
///
/// Bounded for untrusted files: the call depth (``maxDepth``), recursion (refused), and
/// the nodes produced — at most ``amplification`` times the nodes the file defines (graph
/// and function bodies; ``minimumBudget`` at least, ``maxNodes`` at most), so a small file
/// of functions calling each other twice cannot demand exponential work. The work is a
/// loop over a worklist, not recursion.
struct FunctionInliner {
    static let maxDepth = 64
    static let maxNodes = 4_000_000
    static let amplification = 16
    static let minimumBudget = 100_000

    struct Function {
        let name: String
        let def: UnsafeMutablePointer<Tensorflow__FunctionDef>
        let inputs: [(name: String, type: DType)]
        let outputs: [(name: String, type: DType)]
        /// Output argument name → body value (`node:out:i` or an argument name).
        let ret: [String: String]
        let controlRet: [String]
    }

    /// The library's functions by name; each signature is read when a call first needs
    /// it, so functions only other constructs refer to (a `While` body, say) do not stop
    /// a load — the ops that refer to them are reported instead.
    final class Library {
        var definitions: [String: UnsafeMutablePointer<Tensorflow__FunctionDef>] = [:]
        var parsed: [String: Function] = [:]

        func function(_ name: String) throws -> Function? {
            if let f = parsed[name] { return f }
            guard let def = definitions[name] else { return nil }
            let f = try FunctionInliner.parse(name, def)
            parsed[name] = f
            return f
        }
    }

    let library = Library()
    private let limits: GraphDefLimits

    static func fail(_ message: String) -> SomaError { GraphDefDecoder.fail(message) }

    /// Whether `node` calls a function (a call op, or an op named like no registered op
    /// whose name the library defines is decided later by ``inline(_:)``).
    static func isCall(_ node: GraphDefDecoder.ParsedNode) -> Bool {
        node.op == "PartitionedCall" || node.op == "StatefulPartitionedCall"
    }

    /// Nodes the function bodies define.
    private var bodyNodes = 0

    init(library: Tensorflow__FunctionDefLibrary, limits: GraphDefLimits) throws {
        self.limits = limits
        for i in 0..<library.n_function {
            bodyNodes += library.function[i]?.pointee.n_node_def ?? 0
            guard let f = library.function[i], let signature = f.pointee.signature else {
                throw Self.fail("library function[\(i)] has no signature")
            }
            let name = try GraphDefDecoder.string(signature.pointee.name, "library function[\(i)] name")
            guard !name.isEmpty, self.library.definitions[name] == nil else {
                throw Self.fail("library function[\(i)] has \(name.isEmpty ? "an empty" : "a duplicate") name '\(name)'")
            }
            self.library.definitions[name] = f
        }
    }

    /// A function's signature, results and control results, checked.
    static func parse(_ name: String, _ f: UnsafeMutablePointer<Tensorflow__FunctionDef>) throws -> Function {
        guard let signature = f.pointee.signature else { throw fail("function '\(name)' has no signature") }
        func args(_ n: Int, _ list: UnsafeMutablePointer<UnsafeMutablePointer<Tensorflow__OpDef__ArgDef>?>?, _ kind: String) throws -> [(String, DType)] {
            try (0..<n).map { k in
                guard let a = list?[k]?.pointee else { throw Self.fail("function '\(name)' \(kind)[\(k)] is missing") }
                let argName = try GraphDefDecoder.string(a.name, "function '\(name)' \(kind) name")
                let field = "function '\(name)' \(kind) '\(argName)'"
                guard try GraphDefDecoder.string(a.number_attr, field).isEmpty,
                      try GraphDefDecoder.string(a.type_list_attr, field).isEmpty,
                      try GraphDefDecoder.string(a.type_attr, field).isEmpty else {
                    throw Self.fail("\(field) is a list or polymorphic argument; Soma inlines functions with fixed argument types")
                }
                return (argName, try GraphDefDecoder.dtype(a.type.rawValue, field))
            }
        }
        let sig = signature.pointee
        let inputs = try args(sig.n_input_arg, sig.input_arg, "input_arg")
        let outputs = try args(sig.n_output_arg, sig.output_arg, "output_arg")
        var ret: [String: String] = [:]
        for k in 0..<f.pointee.n_ret {
            guard let e = f.pointee.ret[k]?.pointee else { continue }
            ret[try GraphDefDecoder.string(e.key, "function '\(name)' ret key")] = try GraphDefDecoder.string(e.value, "function '\(name)' ret")
        }
        var controlRet: [String] = []
        for k in 0..<f.pointee.n_control_ret {
            guard let e = f.pointee.control_ret[k]?.pointee else { continue }
            controlRet.append(try GraphDefDecoder.string(e.value, "function '\(name)' control_ret"))
        }
        for out in outputs where ret[out.0] == nil {
            throw Self.fail("function '\(name)' returns no value for its output '\(out.0)'")
        }
        return Function(name: name, def: f, inputs: inputs.map { ($0.0, $0.1) }, outputs: outputs.map { ($0.0, $0.1) },
                        ret: ret, controlRet: controlRet.sorted())
    }

    /// The function a node calls, if any.
    private func callee(_ node: GraphDefDecoder.ParsedNode) throws -> Function? {
        if Self.isCall(node) {
            guard let def = node.def, let f = GraphDefDecoder.rawAttr(def, "f"),
                  f.pointee.value_case == TENSORFLOW__ATTR_VALUE__VALUE_FUNC, let list = f.pointee.func else {
                throw Self.fail("node '\(node.name)' (op: '\(node.op)') has no function attr 'f'")
            }
            let name = try GraphDefDecoder.string(list.pointee.name, "attr 'f' of node '\(node.name)'")
            guard let function = try library.function(name) else {
                throw Self.fail("node '\(node.name)' calls function '\(name)', which the graph's library does not define")
            }
            return function
        }
        return OpRegistry.lookup(node.op) == nil ? try library.function(node.op) : nil
    }

    /// The graph with every call replaced by the callee's body.
    mutating func inline(_ nodes: [GraphDefDecoder.ParsedNode]) throws -> [GraphDefDecoder.ParsedNode] {
        var out: [GraphDefDecoder.ParsedNode] = []
        // (node, the functions on its call path)
        var work: [(GraphDefDecoder.ParsedNode, [String])] = nodes.reversed().map { ($0, []) }
        var produced = 0
        let (defined, overflow) = (nodes.count + bodyNodes).multipliedReportingOverflow(by: Self.amplification)
        let allowed = Swift.min(Self.maxNodes, Swift.max(Self.minimumBudget, overflow ? Self.maxNodes : defined))
        while let (node, path) = work.popLast() {
            guard let function = try callee(node) else {
                out.append(node)
                continue
            }
            guard path.count < Self.maxDepth else {
                throw Self.fail("node '\(node.name)': function calls nest deeper than \(Self.maxDepth)")
            }
            guard !path.contains(function.name) else {
                throw Self.fail("function '\(function.name)' calls itself (through \(path.joined(separator: " → "))); recursion cannot be inlined")
            }
            let body = try expand(node, function)
            produced += body.count
            guard produced <= allowed else {
                throw Self.fail("inlining function calls produces more than \(allowed) nodes, \(Self.amplification) times what the file "
                                + "defines (functions calling functions more than once, nested)")
            }
            work += body.reversed().map { ($0, path + [function.name]) }
        }
        return out
    }

    /// One call's replacement: argument identities, the renamed body, the result node.
    private func expand(_ call: GraphDefDecoder.ParsedNode, _ f: Function) throws -> [GraphDefDecoder.ParsedNode] {
        let prefix = call.name + "/"
        guard call.dataInputs.count == f.inputs.count else {
            throw Self.fail("node '\(call.name)' passes \(call.dataInputs.count) inputs to function '\(f.name)', which takes \(f.inputs.count)")
        }
        var nodes: [GraphDefDecoder.ParsedNode] = []
        let argNames = Set(f.inputs.map(\.name))
        for (arg, input) in zip(f.inputs, call.dataInputs) {
            var identity = GraphDefDecoder.ParsedNode(name: prefix + arg.name, op: "Identity", device: call.device, position: call.position)
            identity.dataInputs = [input]
            identity.controlInputs = call.controlInputs
            identity.attrs = ["T": .type(arg.type)]
            nodes.append(identity)
        }
        let (body, bodyDefs) = try Self.parseBody(f, decoder: GraphDefDecoder(limits: limits)) { _ in call.position }
        /// A body reference (`x`, `node:out_arg:i`) as an input of the inlined graph.
        func resolve(_ reference: String, index: Int) throws -> (name: String, index: Int) {
            guard let colon = reference.firstIndex(of: ":") else {
                guard argNames.contains(reference) else {
                    throw Self.fail("function '\(f.name)' refers to '\(reference)', which is neither an argument nor a node:output")
                }
                return (prefix + reference, 0)
            }
            let nodeName = String(reference[..<colon]), argName = String(reference[reference.index(after: colon)...])
            guard let nd = bodyDefs[nodeName] else {
                throw Self.fail("function '\(f.name)' refers to '\(reference):\(index)', but has no node '\(nodeName)'")
            }
            return (prefix + nodeName, try outputIndex(of: nd, nodeName: nodeName, arg: argName, index: index, in: f))
        }
        for var node in body {
            node.name = prefix + node.name
            node.dataInputs = try node.dataInputs.map { try resolve($0.name, index: $0.index) }
            node.controlInputs = node.controlInputs.map { prefix + $0 }
            if node.dataInputs.isEmpty { node.controlInputs += call.controlInputs }
            nodes.append(node)
        }
        // The call's own name now names its results.
        var result = GraphDefDecoder.ParsedNode(name: call.name, op: f.outputs.isEmpty ? "NoOp" : "IdentityN", device: call.device,
                                                position: call.position)
        result.dataInputs = try f.outputs.map { out -> (name: String, index: Int) in
            let value = f.ret[out.name]!
            if let last = value.lastIndex(of: ":"), let i = Int(value[value.index(after: last)...]),
               value[..<last].contains(":") {
                return try resolve(String(value[..<last]), index: i)
            }
            return try resolve(value, index: 0)
        }
        result.controlInputs = f.controlRet.map { prefix + $0 }
        if !f.outputs.isEmpty { result.attrs = ["T": .types(f.outputs.map(\.type))] }
        result.unknownFields = call.unknownFields
        nodes.append(result)
        return nodes
    }

    /// A function's body nodes, and each one's NodeDef by name (to resolve output argument
    /// names); a name may not repeat or shadow an argument.
    static func parseBody(_ f: Function, decoder: GraphDefDecoder, position: (Int) -> Int) throws
        -> (nodes: [GraphDefDecoder.ParsedNode], definitions: [String: UnsafeMutablePointer<Tensorflow__NodeDef>]) {
        let argumentNames = Set(f.inputs.map(\.name))
        var definitions: [String: UnsafeMutablePointer<Tensorflow__NodeDef>] = [:]
        var nodes: [GraphDefDecoder.ParsedNode] = []
        for k in 0..<f.def.pointee.n_node_def {
            guard let nd = f.def.pointee.node_def[k] else { throw fail("function '\(f.name)' node_def[\(k)] is missing") }
            let parsed = try decoder.parseNode(nd, position: position(k))
            guard !argumentNames.contains(parsed.name), definitions[parsed.name] == nil else {
                throw fail("function '\(f.name)' has two nodes (or a node and an argument) named '\(parsed.name)'")
            }
            definitions[parsed.name] = nd
            nodes.append(parsed)
        }
        return (nodes, definitions)
    }

    /// The flat output index of `node:arg:index`: the outputs before `arg` in the op's
    /// signature (list arguments counted from the node's attributes), plus `index`.
    func outputIndex(of nd: UnsafeMutablePointer<Tensorflow__NodeDef>, nodeName: String, arg: String, index: Int,
                             in f: Function) throws -> Int {
        let op = try GraphDefDecoder.string(nd.pointee.op, "node '\(nodeName)' op")
        let field = "function '\(f.name)' reference '\(nodeName):\(arg):\(index)'"
        if op == "PartitionedCall" || op == "StatefulPartitionedCall" {
            guard arg == "output" else { throw Self.fail("\(field): \(op) has no output '\(arg)'") }
            return index
        }
        if OpRegistry.lookup(op) == nil, let callee = try library.function(op) {
            guard let k = callee.outputs.firstIndex(where: { $0.name == arg }), index == 0 else {
                throw Self.fail("\(field): function '\(op)' has no output '\(arg)' at \(index)")
            }
            return k
        }
        guard let def = OpRegistry.lookup(op) else { return index }  // reported with the other unsupported ops
        var flat = 0
        for output in def.outputs {
            let count: Int
            if let n = output.numberAttr {
                guard let a = GraphDefDecoder.rawAttr(nd, n), a.pointee.value_case == TENSORFLOW__ATTR_VALUE__VALUE_I else {
                    throw Self.fail("\(field): node '\(nodeName)' lacks attr '\(n)'")
                }
                count = Int(clamping: a.pointee.i)
            } else if case .list(let t) = output.type {
                guard let a = GraphDefDecoder.rawAttr(nd, t), a.pointee.value_case == TENSORFLOW__ATTR_VALUE__VALUE_LIST,
                      let l = a.pointee.list else {
                    throw Self.fail("\(field): node '\(nodeName)' lacks attr '\(t)'")
                }
                count = l.pointee.n_type
            } else {
                count = 1
            }
            if output.name == arg {
                guard index >= 0 && index < count else { throw Self.fail("\(field): output '\(arg)' has \(count) value(s)") }
                return flat + index
            }
            flat += count
        }
        throw Self.fail("\(field): op \(op) has no output named '\(arg)'")
    }
}

extension GraphDefDecoder {
    /// A NodeDef's attribute as protobuf-c holds it.
    static func rawAttr(_ nd: UnsafeMutablePointer<Tensorflow__NodeDef>, _ key: String) -> UnsafeMutablePointer<Tensorflow__AttrValue>? {
        for k in 0..<nd.pointee.n_attr {
            guard let e = nd.pointee.attr[k], let p = e.pointee.key, String(cString: p) == key else { continue }
            return e.pointee.value
        }
        return nil
    }
}
