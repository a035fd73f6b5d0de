/// Options for a ``Session``; thread counts and modes arrive with the parallel executor.
public struct SessionOptions: Sendable {
    /// The largest tensor a kernel may allocate; a graph that asks for more fails with
    /// `resourceExhausted` instead of exhausting memory.
    public var maxTensorBytes: Int = 1 << 32

    public init() {}
}

/// Runs a ``Graph``: feeds placeholders, fetches outputs, runs targets for their effects,
/// and keeps variables across runs (TF1's `tf.compat.v1.Session`).
///
/// ```swift
/// let session = Session(graph: g)
/// try session.run(target: g.globalVariablesInitializer())
/// let y = try session.run(fetches: [out], feeds: [x: batch])[0]
/// ```
///
/// Errors name the node; a failed run leaves the session usable.
///
/// Thread-safety: `run` may be called from several threads at once; variable reads and
/// writes are atomic per variable.
public final class Session: Sendable {
    public let graph: Graph
    public let options: SessionOptions
    let state = SessionState()
    let executor: any Executor

    public init(graph: Graph, options: SessionOptions = .init()) {
        self.graph = graph
        self.options = options
        self.executor = ReferenceExecutor()
    }

    /// Computes `fetches` (any node outputs), with `feeds` replacing the values of the
    /// outputs they key, and runs `targets` for their effects.
    ///
    /// - Throws: ``SomaError`` when a feed has the wrong dtype or shape, a needed
    ///   placeholder is not fed, a variable is read before it is initialised, or a kernel
    ///   fails; the message names the node.
    public func run(fetches: [Output], feeds: [Output: Tensor] = [:], targets: [Node] = []) throws -> [Tensor] {
        for fetch in fetches where fetch.graph !== graph {
            throw SomaError.invalidArgument("Fetch '\(fetch.name)' is not an element of this session's graph")
        }
        for target in targets where graph.node(named: target.name) !== target {
            throw SomaError.invalidArgument("Target '\(target.name)' is not an element of this session's graph")
        }
        var fed: [NodeOutput: Tensor] = [:]
        for (output, value) in feeds {
            guard output.graph === graph else {
                throw SomaError.invalidArgument("Feed '\(output.name)' is not an element of this session's graph")
            }
            try Session.validateFeed(value, for: output.endpoint)
            fed[output.endpoint] = value
        }
        return try executor.run(graph: graph, fetches: fetches.map(\.endpoint), feeds: fed, targets: targets, state: state,
                                options: options)
    }

    /// Computes one output.
    public func run(_ fetch: Output, feeds: [Output: Tensor] = [:]) throws -> Tensor {
        try run(fetches: [fetch], feeds: feeds)[0]
    }

    /// Runs `target` for its effects (an initializer, a training step).
    public func run(target: Node, feeds: [Output: Tensor] = [:]) throws {
        _ = try run(fetches: [], feeds: feeds, targets: [target])
    }

    /// A feed must have the output's dtype and a shape compatible with its partial shape.
    static func validateFeed(_ value: Tensor, for output: NodeOutput) throws {
        let node = output.node
        let declared = node.op == "Placeholder" ? (node.shape("shape") ?? output.shape) : output.shape
        guard value.dtype == output.dtype else {
            throw SomaError.invalidArgument(
                "Cannot feed value of dtype \(value.dtype) for '\(output.name)', which has dtype \(output.dtype)\(node.locationSuffix)")
        }
        guard declared.isCompatible(with: value.shape) else {
            throw SomaError.invalidArgument(
                "Cannot feed value of shape \(shapeString(value.shape)) for '\(output.name)', which has shape \(declared)\(node.locationSuffix)")
        }
    }
}
