import SomaProto

/// The library functions a GraphDef's node attributes name (`If`'s branches, `While`'s
/// condition and body), each read once — into a body graph of its own, through the same
/// checks as the top-level graph — when an attribute first refers to it.
///
/// Bounded for untrusted files: functions naming functions nest at most ``maxDepth``
/// deep, a function that reaches itself is refused, and calls inside bodies are inlined
/// under the inliner's node budget.
final class FunctionLoader {
    static let maxDepth = 32

    var inliner: FunctionInliner
    var loaded: [String: GraphFunction] = [:]
    /// The functions being read, outermost first.
    var reading: [String] = []

    init(inliner: FunctionInliner) { self.inliner = inliner }
}

extension GraphDefDecoder {
    /// The function a `func` attribute names, read from the library on first use.
    mutating func function(_ reference: UnsafeMutablePointer<Tensorflow__NameAttrList>?, field: String) throws -> GraphFunction {
        let name = try Self.string(reference?.pointee.name, "\(field) function name")
        guard let loader = functions else {
            throw Self.fail("\(field) names function '\(name)', but the graph has no function library")
        }
        if let f = loader.loaded[name] { return f }
        guard !loader.reading.contains(name) else {
            throw Self.fail("function '\(name)' refers to itself (through \((loader.reading + [name]).joined(separator: " → "))); "
                            + "recursive functions are not supported")
        }
        guard loader.reading.count < FunctionLoader.maxDepth else {
            throw Self.fail("\(field): functions refer to functions more than \(FunctionLoader.maxDepth) deep")
        }
        guard let f = try loader.inliner.library.function(name) else {
            throw Self.fail("\(field) names function '\(name)', which the graph's library does not define")
        }
        loader.reading.append(name)
        defer { loader.reading.removeLast() }
        let function = try read(f)
        loader.loaded[name] = function
        return function
    }

    /// A library function as a body graph: a placeholder per argument, the body's nodes
    /// with inputs in graph form (`node:out_arg:i` → `node:k`), calls inlined.
    private mutating func read(_ f: FunctionInliner.Function) throws -> GraphFunction {
        let loader = functions!
        var nodes = Self.argumentPlaceholders(f.inputs.map(\.name), f.inputs.map(\.type))
        let argumentNames = Set(f.inputs.map(\.name))
        let (body, definitions) = try FunctionInliner.parseBody(f, decoder: self) { f.inputs.count + $0 }
        /// A body reference (`x`, `node:out_arg`) at `index` as a graph input (`node`, k).
        func resolve(_ reference: String, index: Int) throws -> (name: String, index: Int) {
            guard let colon = reference.firstIndex(of: ":") else {
                guard argumentNames.contains(reference) || definitions[reference] != nil else {
                    throw Self.fail("function '\(f.name)' refers to '\(reference)', which is neither an argument nor a node:output")
                }
                return (reference, index)
            }
            let nodeName = String(reference[..<colon]), argument = String(reference[reference.index(after: colon)...])
            guard let nd = definitions[nodeName] else {
                throw Self.fail("function '\(f.name)' refers to '\(reference):\(index)', but has no node '\(nodeName)'")
            }
            return (nodeName, try loader.inliner.outputIndex(of: nd, nodeName: nodeName, arg: argument, index: index, in: f))
        }
        /// A `ret` value: `x`, `node:out_arg:i`.
        func result(_ value: String) throws -> (name: String, index: Int) {
            if let last = value.lastIndex(of: ":"), let i = Int(value[value.index(after: last)...]), value[..<last].contains(":") {
                return try resolve(String(value[..<last]), index: i)
            }
            return try resolve(value, index: 0)
        }
        for var node in body {
            node.dataInputs = try node.dataInputs.map { try resolve($0.name, index: $0.index) }
            nodes.append(node)
        }
        nodes = try loader.inliner.inline(nodes)
        let arguments = nodes.prefix(f.inputs.count)
        let function = try makeFunction(
            name: f.name, context: "function '\(f.name)'", arguments: Array(arguments), nodes: Array(nodes.dropFirst(f.inputs.count)),
            results: try f.outputs.map { try result(f.ret[$0.name]!) }, controlResults: f.controlRet,
            argumentNames: f.inputs.map(\.name), resultNames: f.outputs.map(\.name))
        for (out, value) in zip(f.outputs, function.results) where value.dtype != out.type {
            throw Self.fail("function '\(f.name)' output '\(out.name)' is declared \(out.type) but returns \(value.dtype)")
        }
        return function
    }

    /// Placeholders standing for a function's arguments (`names` of `types`, shapes
    /// unknown until a call), as parsed nodes.
    static func argumentPlaceholders(_ names: [String], _ types: [DType]) -> [ParsedNode] {
        zip(names, types).enumerated().map { k, pair in
            var p = ParsedNode(name: pair.0, op: "Placeholder", device: "", position: k)
            p.attrs = ["dtype": .type(pair.1), "shape": .shape(.unknown)]
            return p
        }
    }

    /// A library function from parsed nodes: `arguments` (placeholders) first, then
    /// `nodes`, returning `results` and running `controlResults`. Errors name `context`.
    mutating func makeFunction(name: String, context: String, arguments: [ParsedNode], nodes: [ParsedNode],
                               results: [(name: String, index: Int)], controlResults: [String] = [],
                               argumentNames: [String]? = nil, resultNames: [String]? = nil) throws -> GraphFunction {
        var all = arguments + nodes
        let graph = Graph()
        do {
            _ = try addNodes(&all, into: graph)
        } catch let error as SomaError {
            throw SomaError(error.code, "in \(context): \(error.message)")
        }
        func output(_ r: (name: String, index: Int)) throws -> Output {
            guard let node = graph.node(named: r.name), r.index < node.outputCount else {
                throw Self.fail("\(context) returns '\(r.name):\(r.index)', which is not a value of its body")
            }
            return Output(graph: graph, node: node, index: r.index)
        }
        let controls = try controlResults.map { name -> Node in
            guard let node = graph.node(named: name) else {
                throw Self.fail("\(context) control_ret names '\(name)', which is not a node of its body")
            }
            return node
        }
        return GraphFunction(name: name, body: graph, arguments: try arguments.map { try output(($0.name, 0)) },
                             results: try results.map(output), controlResults: controls, argumentNames: argumentNames,
                             resultNames: resultNames)
    }
}
