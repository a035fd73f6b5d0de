/// A symbolic tensor: an output of a node in a graph, the value ops are built from.
///
/// TF1's `tf.Tensor`. It keeps its ``Graph`` alive, so builder functions such as
/// `matmul(_:_:)` and the operators find the graph from their operands.
public struct Output: Sendable, Hashable, CustomStringConvertible {
    public let graph: Graph
    public let endpoint: NodeOutput

    init(graph: Graph, node: Node, index: Int) {
        // A node built while a function body was being built from `graph` lives in the body.
        self.graph = node.graph ?? graph
        self.endpoint = NodeOutput(node, index)
    }

    public var node: Node { endpoint.node }
    public var index: Int { endpoint.index }
    public var dtype: DType { endpoint.dtype }
    /// The partial shape inferred when the node was built.
    public var shape: TensorShape { endpoint.shape }
    /// TF's tensor name: `dense/MatMul:0`.
    public var name: String { endpoint.name }

    public static func == (a: Output, b: Output) -> Bool { a.endpoint == b.endpoint }
    public func hash(into h: inout Hasher) { h.combine(endpoint) }

    public var description: String { "Output(\"\(name)\", shape: \(shape), dtype: \(dtype))" }
}
