/// Computes a node's input gradients from its output gradients; see ``GradientSlot``.
public typealias GradientFunction = @Sendable (GradientContext) throws -> [Output?]

/// What a gradient function sees: the forward node, its inputs and outputs, and the
/// gradients flowing into its outputs.
public struct GradientContext {
    public let node: Node
    public let graph: Graph
    public let inputs: [Output]
    public let outputs: [Output]
    let incoming: [Output?]

    /// The gradient of output `i`; zeros shaped like it when none flowed there.
    public func grad(_ i: Int = 0) throws -> Output {
        if let g = incoming[i] { return g }
        return try zerosLike(outputs[i])
    }

    /// Whether any gradient flowed into output `i`.
    public func hasGrad(_ i: Int) -> Bool { incoming[i] != nil }

    public var attrs: [String: AttrValue] { node.attrs }
    func bool(_ name: String) -> Bool { node.bool(name) ?? false }
}

extension Graph {
    /// Symbolic gradients of `sum(ys)` with respect to `xs`, with `tf.gradients` semantics.
    ///
    /// Contributions are summed over every path; `StopGradient` and non-differentiable
    /// ops (comparisons, shapes, integer outputs) stop the flow; an `x` that no `y`
    /// depends on gets `nil`. `gradYs[i]` (default: ones) is the initial gradient of
    /// `ys[i]`. The gradient subgraph is built from TF's gradient ops (`ReluGrad`,
    /// `BiasAddGrad`, `BroadcastGradientArgs`, …) under the name scope `gradients`.
    ///
    /// - Throws: ``SomaError`` naming the node and op when a path runs through an op
    ///   whose gradient is not defined.
    public func gradients(of ys: [Output], wrt xs: [Output], gradYs: [Output?]? = nil) throws -> [Output?] {
        for o in ys + xs where o.graph !== self {
            throw SomaError.invalidArgument("'\(o.name)' is not an element of this graph")
        }
        if let gradYs, gradYs.count != ys.count {
            throw SomaError.invalidArgument("gradients: \(ys.count) ys but \(gradYs.count) gradYs")
        }
        // Nodes on a path from some x to some y: reachable backwards from ys, forwards from xs.
        var fromYs = Set<Node>()
        var stack = ys.map(\.node)
        while let n = stack.popLast() {
            guard fromYs.insert(n).inserted else { continue }
            stack.append(contentsOf: n.inputs.map(\.node))
        }
        let xNodes = Set(xs.map(\.node))
        var between = Set<Node>()
        let ordered = fromYs.sorted { $0.id < $1.id }  // ids are a topological order
        for n in ordered where xNodes.contains(n) || n.inputs.contains(where: { between.contains($0.node) }) {
            between.insert(n)
        }
        var pending: [NodeOutput: [Output]] = [:]
        func accumulate(_ g: Output, to e: NodeOutput) { pending[e, default: []].append(g) }
        return try withNameScope("gradients") {
            for (k, y) in ys.enumerated() {
                let initial = try gradYs?[k] ?? onesLike(y, name: "grad_ys_\(k)")
                guard initial.dtype == y.dtype else {
                    throw SomaError.invalidArgument("gradYs[\(k)] has dtype \(initial.dtype) but \(y.name) has dtype \(y.dtype)")
                }
                accumulate(initial, to: y.endpoint)
            }
            func summed(_ e: NodeOutput) throws -> Output? {
                guard let parts = pending[e], !parts.isEmpty else { return nil }
                if parts.count == 1 { return parts[0] }
                let total = parts[0].dtype == .variant
                    ? try output("AddN", parts, name: "AddN", file: "", line: 0)
                    : try parts.dropFirst().reduce(parts[0]) { try Soma.add($0, $1) }
                pending[e] = [total]
                return total
            }
            for node in ordered.reversed() where between.contains(node) {
                let incoming = try (0..<node.outputCount).map { try summed(NodeOutput(node, $0)) }
                guard incoming.contains(where: { $0 != nil }), !xNodes.contains(node) || !node.inputs.isEmpty else { continue }
                // Sources (placeholders, variables, constants) have nothing to pass on.
                if node.inputs.isEmpty || node.op == "StopGradient" { continue }
                let fn: GradientFunction
                switch node.definition.gradient {
                case .notDifferentiable: continue
                case .pending, .undefined:
                    throw SomaError(.notFound, "No gradient defined for operation '\(node.name)' (op type: \(node.op))"
                                    + node.locationSuffix)
                case .function(let f): fn = f
                }
                let context = GradientContext(
                    node: node, graph: self, inputs: node.inputs.map { Output(graph: self, node: $0.node, index: $0.index) },
                    outputs: (0..<node.outputCount).map { Output(graph: self, node: node, index: $0) }, incoming: incoming)
                let grads = try withNameScope("\(node.name)_grad") { try fn(context) }
                precondition(grads.count == node.inputs.count, "gradient of \(node.op) returned \(grads.count) for \(node.inputs.count) inputs")
                for (input, g) in zip(node.inputs, grads) {
                    // Lists (variants) carry their elements' gradients.
                    guard let g, between.contains(input.node), input.dtype.isFloatingPoint || input.dtype == .variant else { continue }
                    accumulate(g, to: input)
                }
            }
            return try xs.map { try summed($0.endpoint) }
        }
    }

    /// The gradient of one scalar with respect to each of `xs`.
    public func gradients(of y: Output, wrt xs: [Output]) throws -> [Output?] {
        try gradients(of: [y], wrt: xs)
    }
}

// MARK: - Helpers for gradient functions

extension GradientContext {
    /// `grad` summed down to `x`'s shape after broadcasting against `other` (TF's
    /// `BroadcastGradientArgs` + `Sum` + `Reshape`); `grad` itself when the static shapes
    /// show no broadcasting.
    func reduce(_ grad: Output, to x: Output, broadcastWith other: Output) throws -> [Output] {
        try reducePair(grad, grad, x, other)
    }

    /// Both sides of a broadcasting binary op at once: `(gx summed to x, gy summed to y)`.
    func reducePair(_ gx: Output, _ gy: Output, _ x: Output, _ y: Output) throws -> [Output] {
        if x.shape.isFullyDefined && x.shape == y.shape { return [gx, gy] }
        let sx = try shape(x), sy = try shape(y)
        let args = try graph.outputs("BroadcastGradientArgs", [sx, sy], name: "BroadcastGradientArgs", file: "", line: 0)
        let rx = try reshape(graph.output("Sum", [gx, args[0]], name: "Sum", file: "", line: 0), sx)
        let ry = try reshape(graph.output("Sum", [gy, args[1]], name: "Sum_1", file: "", line: 0), sy)
        return [rx, ry]
    }

    /// `g` summed to `x`'s shape (for an op whose output broadcasts `x` to `outputs[0]`).
    func reduce(_ g: Output, toShapeOf x: Output) throws -> Output {
        if x.shape.isFullyDefined && x.shape == outputs[0].shape { return g }
        return try reducePair(g, g, x, outputs[0])[0]
    }
}
