import Foundation

/// Options for compiling graphs into plans or optimised graphs.
public struct CompileOptions: Sendable {
    /// Pass names to skip (see ``Passes/all``).
    public var disabledPasses: Set<String> = []
    /// Largest constant that constant folding may create.
    public var foldingCapBytes = 10 << 20
    /// Largest tensor a plan may hold (the session's ``SessionOptions/maxTensorBytes``).
    public var maxTensorBytes = 1 << 32
    /// Place fetched values in the arena like intermediates (for callers that copy them
    /// out before the arena is reused, as ``Session/Callable`` does) instead of giving
    /// them storage of their own.
    var fetchesInArena = false
    /// How much larger than the sequential arena the parallel executor's own layout may be
    /// (a fraction of it) before parallel runs keep the sequential layout and wait where it
    /// reuses bytes instead; `.infinity`: never wait, whatever the memory.
    public var parallelMemorySlack = 0.05

    public init(disabledPasses: Set<String> = []) { self.disabledPasses = disabledPasses }

    /// Every pass disabled: the plan runs the graph as written.
    public static let unoptimized = CompileOptions(disabledPasses: Set(Passes.all))
}

/// The compile step: `(graph, feeds with concrete shapes, fetches, targets) → Plan`.
public enum Compiler {
    /// Compiles what `fetches` and `targets` need into a plan for feeds of these shapes.
    ///
    /// - Throws: ``SomaError`` naming the node for an unfed placeholder, an unsupported op
    ///   or a shape conflict that appears with the concrete shapes. Steps whose shapes
    ///   depend on values are planned as dynamic steps.
    ///
    /// - Parameter feedListShapes: for fed TensorLists, their elements' shape (from the
    ///   values), so that what reads them plans statically.
    static func plan(graph: Graph, fetches: [NodeOutput], targets: [Node], feeds: [NodeOutput: [Int]],
                     feedListShapes: [NodeOutput: TensorShape] = [:], options: CompileOptions) throws -> Plan {
        let start = DispatchTime.now().uptimeNanoseconds
        let ir = try IRGraph(graph: graph, fetches: fetches, targets: targets, feeds: feeds.mapValues(TensorShape.init),
                             requireFeeds: true)
        for (endpoint, node) in ir.feeds { if let known = feedListShapes[endpoint] { node.listShapes = [known] } }
        let pruning = PassReport.pruning(graph: graph, ir: ir, since: start)
        for node in ir.nodes where Kernels.table[node.op] == nil {
            throw SomaError.unimplemented("No CPU kernel registered for op '\(node.op)' (node '\(node.name)')")
        }
        var context = PassContext(forPlan: true)
        context.foldingCapBytes = options.foldingCapBytes
        // Shapes must be concrete for planning even when the specialisation pass is disabled.
        var passes = Passes.pipeline(disabled: options.disabledPasses, forPlan: true)
        if options.disabledPasses.contains(ShapeSpecialization.name) { passes.insert(ShapeSpecialization(), at: 0) }
        let reports = [pruning] + (try Passes.run(passes, on: ir, context: context))
        for node in ir.nodes {
            for (shape, dtype) in zip(node.outputShapes, node.outputTypes) {
                guard let dims = shape.concrete else { continue }
                guard let count = checkedProduct(dims), count <= options.maxTensorBytes / dtype.byteSize else {
                    throw SomaError.nodeFailure(
                        "Output of shape \(shapeString(dims)) and dtype \(dtype) exceeds the session's \(options.maxTensorBytes)-byte tensor limit",
                        node: node.name, op: node.op, inputShapes: node.inputs.map(\.shape.description), location: node.location,
                        code: .resourceExhausted)
                }
            }
        }
        return try PlanBuilder(ir: ir, fetchesInArena: options.fetchesInArena, parallelMemorySlack: options.parallelMemorySlack).build(passReports: reports)
    }

    /// Optimises the part of `graph` that `fetches` and `targets` need and returns it as a
    /// new graph, savable as a GraphDef that TensorFlow runs (fusions use TF's
    /// `_FusedMatMul`; plan-only fusions are not applied).
    ///
    /// - Parameter feedShapes: shapes to specialise placeholders to (others keep theirs).
    public static func optimize(
        _ graph: Graph, fetches: [Output], targets: [Node] = [], feedShapes: [Output: TensorShape] = [:],
        options: CompileOptions = .init()
    ) throws -> (graph: Graph, report: [PassReport]) {
        var shapes: [NodeOutput: TensorShape] = [:]
        for (output, shape) in feedShapes where output.node.op == "Placeholder" { shapes[output.endpoint] = shape }
        let start = DispatchTime.now().uptimeNanoseconds
        let ir = try IRGraph(graph: graph, fetches: fetches.map(\.endpoint), targets: targets, feeds: [:], requireFeeds: false)
        let pruning = PassReport.pruning(graph: graph, ir: ir, since: start)
        // Specialising a placeholder's shape is rewriting its `shape` attribute.
        for node in ir.nodes where node.op == "Placeholder" {
            if let source = node.source, let shape = shapes[NodeOutput(source, 0)] {
                node.attrs["shape"] = .shape(shape)
                node.outputShapes = [shape]
            }
        }
        var context = PassContext(forPlan: false)
        context.foldingCapBytes = options.foldingCapBytes
        let reports = try Passes.run(Passes.pipeline(disabled: options.disabledPasses, forPlan: false), on: ir, context: context)
        let optimized = try ir.makeGraph(versions: graph.versions)
        // The variables kept stay listed, trainable as they were.
        let trainable = Set(graph.variables.filter(\.trainable).map(\.name))
        optimized.recoverVariables(trainable: { trainable.contains($0.name) })
        return (optimized, [pruning] + reports)
    }
}

extension Graph {
    /// This graph optimised for `fetches` (see ``Compiler/optimize(_:fetches:targets:feedShapes:options:)``).
    public func optimized(for fetches: [Output], targets: [Node] = [], options: CompileOptions = .init()) throws
        -> (graph: Graph, report: [PassReport]) {
        try Compiler.optimize(self, fetches: fetches, targets: targets, options: options)
    }
}
