import Foundation

/// A function of a graph's library (TF's `FunctionDef`): a body graph whose argument
/// placeholders are fed and whose results are fetched — the branches of `If` and `Case`,
/// the condition and body of `While`.
///
/// Functions are referred to by value from node attributes (``AttrValue/function(_:)``),
/// so a node carries what it calls; saving a graph writes every function its nodes reach
/// into the GraphDef's `library`. Built in Swift by the control-flow builders
/// (``cond(_:then:else:name:file:line:)``, ``whileLoop(cond:body:loopVars:shapeInvariants:maximumIterations:parallelIterations:name:file:line:)``),
/// or read from a GraphDef's library.
///
/// Thread-safety: immutable once made (its body graph may gain nodes — a gradient
/// function's — but those are never part of this function); safe from any thread.
public final class GraphFunction: @unchecked Sendable, Hashable, CustomStringConvertible {
    /// Unique within the library that saves it (TF's `signature.name`).
    public let name: String
    /// The graph the body's nodes live in.
    public let body: Graph
    /// Placeholders, one per argument, in argument order.
    public let arguments: [Output]
    /// The values returned, in output order.
    public let results: [Output]
    /// Nodes run for their effects on every call (TF's `control_ret`).
    public let controlResults: [Node]
    /// Argument names as a GraphDef spells them (the placeholders' names by default).
    let argumentNames: [String]
    /// Output argument names (`output_0`, … for functions built in Swift).
    let resultNames: [String]
    /// Per-function memo of the runtime (compiled sub-plans): opaque to the graph layer.
    let runtimeCache = Locked<[AnyHashable: any Sendable]>([:])
    /// The runtime's most recent entries, by kind (a number the runtime picks), checked
    /// before the memo so that a call with the last call's shapes builds no key.
    let runtimeRecent = Locked<[Int: any Sendable]>([:])
    /// Output shapes inferred for argument shapes other than the placeholders' own.
    private let shapeCache = Locked<[[TensorShape]: [TensorShape]]>([:])
    /// ``outputListShapes(for:listShapes:)``'s memo, keyed by the arguments' shapes and then
    /// their lists' element shapes.
    private let listShapeCache = Locked<[[TensorShape?]: [TensorShape?]]>([:])

    init(name: String, body: Graph, arguments: [Output], results: [Output], controlResults: [Node] = [],
         argumentNames: [String]? = nil, resultNames: [String]? = nil) {
        self.name = name
        self.body = body
        self.arguments = arguments
        self.results = results
        self.controlResults = controlResults
        self.argumentNames = argumentNames ?? arguments.map(\.node.name)
        self.resultNames = resultNames ?? results.indices.map { "output_\($0)" }
    }

    public var inputTypes: [DType] { arguments.map(\.dtype) }
    public var outputTypes: [DType] { results.map(\.dtype) }

    public static func == (a: GraphFunction, b: GraphFunction) -> Bool { a === b }
    public func hash(into h: inout Hasher) { h.combine(ObjectIdentifier(self)) }
    public var description: String { "function '\(name)'" }

    /// Whether calling the function can have effects or draw random numbers.
    public var isStateful: Bool {
        !controlResults.isEmpty || body.nodes.contains { $0.definition.traits.contains(.stateful) }
    }

    /// The results' shapes when called with arguments of `shapes`: the body's shape
    /// functions re-run for them (memoised), or the results' own shapes when `shapes`
    /// are the placeholders'.
    ///
    /// - Throws: a ``ShapeError`` naming the body node whose shape rule fails.
    func outputShapes(for shapes: [TensorShape]) throws -> [TensorShape] {
        try check(shapes)
        if zip(shapes, arguments).allSatisfy({ $0 == $1.shape }) { return results.map(\.shape) }
        if let known = shapeCache.withLock({ $0[shapes] }) { return known }
        let inferred = try inferredBody(shapes).fetches.map(\.shape)
        shapeCache.withLock { cache in
            if cache.count >= 64 { cache.removeAll() }
            cache[shapes] = inferred
        }
        return inferred
    }

    /// What is known of the element shape of each list the results hold (TF's handle data,
    /// as `while_v2` copies it from a loop body's results to the loop's), when called with
    /// arguments of `shapes` whose lists' elements have `listShapes` (`nil`: unknown, or not
    /// a list); `nil` for results that are not lists or of which nothing is known. Memoised.
    ///
    /// - Throws: a ``ShapeError`` naming the body node whose shape rule fails.
    func outputListShapes(for shapes: [TensorShape], listShapes: [TensorShape?]) throws -> [TensorShape?] {
        try check(shapes)
        guard listShapes.count == arguments.count else {
            throw ShapeError("\(description) takes \(arguments.count) arguments but is called with \(listShapes.count) lists' shapes")
        }
        let key = shapes.map { Optional($0) } + listShapes
        if let known = listShapeCache.withLock({ $0[key] }) { return known }
        let inferred = try inferredBody(shapes, listShapes: listShapes).fetches.map { result -> TensorShape? in
            result.dtype == .variant && result.index < result.node.listShapes.count ? result.node.listShapes[result.index] : nil
        }
        listShapeCache.withLock { cache in
            if cache.count >= 64 { cache.removeAll() }
            cache[key] = inferred
        }
        return inferred
    }

    /// Throws unless `shapes` are one per argument, each compatible with its placeholder's.
    private func check(_ shapes: [TensorShape]) throws {
        guard shapes.count == arguments.count else {
            throw ShapeError("\(description) takes \(arguments.count) arguments but is called with \(shapes.count)")
        }
        for (k, (shape, argument)) in zip(shapes, arguments).enumerated() where !argument.shape.isCompatible(with: shape) {
            throw ShapeError("argument \(k) of \(description) has shape \(argument.shape), which is not compatible with \(shape)")
        }
    }

    /// The body for its results, its arguments fed `shapes` (and, where `listShapes` names
    /// one, lists of elements of that shape), with its shape functions run.
    private func inferredBody(_ shapes: [TensorShape], listShapes: [TensorShape?] = []) throws -> IRGraph {
        var feeds: [NodeOutput: TensorShape] = [:], lists: [NodeOutput: TensorShape] = [:]
        for (k, argument) in arguments.enumerated() {
            feeds[argument.endpoint] = shapes[k]
            if k < listShapes.count, let known = listShapes[k] { lists[argument.endpoint] = known }
        }
        do {
            let ir = try IRGraph(graph: body, fetches: results.map(\.endpoint), targets: [], feeds: feeds, requireFeeds: false)
            for (endpoint, node) in ir.feeds { if let known = lists[endpoint] { node.listShapes = [known] } }
            try ShapeSpecialization().run(ir, PassContext(forPlan: false))
            return ir
        } catch let error as SomaError {
            throw ShapeError("in \(description): \(error.message)")
        }
    }
}

// MARK: - Building functions in Swift

/// A function body under construction: a graph nested in the one being built, whose
/// argument placeholders the builder's closure receives. Values of enclosing graphs that
/// the closure uses are **captured** — each becomes an extra argument after the declared
/// ones, and the caller passes them as inputs. Constants are copied in instead (so the
/// body's shapes and folding see them; no gradient flows back to a `Const` through a branch
/// or loop).
struct FunctionBodyBuilder {
    let graph: Graph
    let arguments: [Output]

    init(in outer: Graph, arguments declared: [(name: String, dtype: DType, shape: TensorShape)]) throws {
        graph = Graph(parent: outer)
        graph.randomSeed = outer.randomSeed
        let inner = graph
        arguments = try declared.map { a in
            try inner.output("Placeholder", [], attrs: ["dtype": .type(a.dtype), "shape": .shape(a.shape)], name: a.name,
                             file: "", line: 0)
        }
    }

    /// Runs the builder's closure with the outer graph's new nodes going into the body.
    func build<R>(_ closure: () throws -> R) rethrows -> R {
        guard let outer = graph.parent else { return try closure() }
        return try outer.withActiveBody(graph, closure)
    }

    /// `value` as a value of the body (captured when it comes from an enclosing graph).
    func inside(_ value: Output) throws -> Output {
        if value.graph === graph { return value }
        guard let captured = try graph.capture(value) else {
            throw SomaError.invalidArgument("'\(value.name)' is from a graph a function built in this one cannot see")
        }
        return captured
    }

    /// Ends capturing: the captured outer values and their placeholders, in order.
    func sealCaptures() -> (outer: [Output], placeholders: [Output]) { graph.sealCaptures() }

    /// A placeholder argument the body does not use (so that functions called by one
    /// node take the same arguments).
    func unusedArgument(like value: Output) throws -> Output {
        try graph.withRootScope {
            try graph.output("Placeholder", [], attrs: ["dtype": .type(value.dtype), "shape": .shape(value.shape)],
                             name: "unused", file: "", line: 0)
        }
    }

    /// The function: `arguments` (the declared ones, then whatever the caller added),
    /// returning `results`, named uniquely after `name`.
    func finish(name: String, arguments: [Output], results: [Output]) -> GraphFunction {
        var used = Set<String>()
        let names = arguments.map { a -> String in
            var base = String(a.node.name.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
            if base.first.map({ !$0.isLetter }) ?? true { base = "arg_" + base }
            var candidate = base, k = 1
            while !used.insert(candidate).inserted { candidate = "\(base)_\(k)"; k += 1 }
            return candidate
        }
        return GraphFunction(name: graph.reserveFunctionName(name), body: graph, arguments: arguments, results: results,
                             argumentNames: names)
    }
}
