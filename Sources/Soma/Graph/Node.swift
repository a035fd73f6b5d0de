/// One operation in a ``Graph``: a TF op type, attributes, inputs and inferred outputs.
///
/// Nodes are immutable once added; everything here is fixed at build time, including the
/// output dtypes and the (partial) output shapes computed by the op's shape function.
///
/// Thread-safety: immutable, so readable from any thread.
public final class Node: Sendable, Hashable, CustomStringConvertible, AttributeBearing {
    /// Unique within the graph: `dense/MatMul`, `dense/MatMul_1`.
    public let name: String
    /// The TF op type: `MatMul`, `AddV2`, …
    public let op: String
    /// Data inputs, each an output of an earlier node.
    public var inputs: [NodeOutput] { edges.inputs }
    /// Nodes that must run before this one, without passing data.
    public var controlInputs: [Node] { edges.controls }
    /// Written once in `init` and taken in `deinit` (``ChainRelease``), never in between.
    private nonisolated(unsafe) var edges: (inputs: [NodeOutput], controls: [Node])
    /// Attributes by TF name, with TF's defaults filled in.
    public let attrs: [String: AttrValue]
    /// TF's device string: kept for round trips, ignored by Soma.
    public let device: String
    public let outputTypes: [DType]
    public let outputShapes: [TensorShape]
    /// The Swift call site that created the node, when built in Swift.
    public let location: SourceLocation?
    /// Position in the graph's creation order (a topological order).
    public let id: Int
    let definition: OpDef
    /// For `Identity` and `StopGradient`: the first output up the chain of such nodes
    /// that is not one, so known-value queries cost O(1) however long the chain.
    let identitySource: NodeOutput?
    /// The graph the node belongs to (a function body's, for nodes built inside `cond` or
    /// `whileLoop` closures). Written once in `init`.
    private nonisolated(unsafe) weak var owner: Graph?

    init(
        name: String, op: OpDef, inputs: [NodeOutput], controlInputs: [Node], attrs: [String: AttrValue],
        device: String, outputTypes: [DType], outputShapes: [TensorShape], location: SourceLocation?, id: Int,
        graph: Graph? = nil
    ) {
        self.owner = graph
        self.name = name
        self.op = op.name
        self.definition = op
        self.edges = (inputs, controlInputs)
        self.attrs = attrs
        self.device = device
        self.outputTypes = outputTypes
        self.outputShapes = outputShapes
        self.location = location
        self.id = id
        if op.name == "Identity" || op.name == "StopGradient", let input = inputs.first {
            identitySource = input.node.identitySource ?? input
        } else {
            identitySource = nil
        }
    }

    deinit {
        guard !edges.inputs.isEmpty || !edges.controls.isEmpty else { return }
        var held: [AnyObject] = edges.inputs.map { $0.node } + edges.controls
        edges = ([], [])
        ChainRelease.release(&held)
    }

    public var outputCount: Int { outputTypes.count }

    /// The graph holding this node, while that graph exists.
    var graph: Graph? { owner }

    public static func == (a: Node, b: Node) -> Bool { a === b }
    public func hash(into h: inout Hasher) { h.combine(ObjectIdentifier(self)) }

    public var description: String { "'\(name)' (op: '\(op)')" }

    /// `(created at Model.swift:42)`, or empty when the node did not come from Swift code.
    var locationSuffix: String { location.map { " (created at \($0))" } ?? "" }
}

/// Typed reads of TF attributes, for anything that carries them.
protocol AttributeBearing {
    var attrs: [String: AttrValue] { get }
}

extension AttributeBearing {
    func int(_ name: String) -> Int? { if case .int(let v)? = attrs[name] { v } else { nil } }
    func bool(_ name: String) -> Bool? { if case .bool(let v)? = attrs[name] { v } else { nil } }
    func float(_ name: String) -> Float? { if case .float(let v)? = attrs[name] { v } else { nil } }
    func type(_ name: String) -> DType? { if case .type(let v)? = attrs[name] { v } else { nil } }
    func string(_ name: String) -> String? { if case .string(let v)? = attrs[name] { v } else { nil } }
    func strings(_ name: String) -> [String]? { if case .strings(let v)? = attrs[name] { v } else { nil } }
    func ints(_ name: String) -> [Int]? { if case .ints(let v)? = attrs[name] { v } else { nil } }
    func shape(_ name: String) -> TensorShape? { if case .shape(let v)? = attrs[name] { v } else { nil } }
    func tensor(_ name: String) -> Tensor? { if case .tensor(let v)? = attrs[name] { v } else { nil } }
    func functionAttr(_ name: String) -> GraphFunction? { if case .function(let v)? = attrs[name] { v } else { nil } }
}

/// An output of a node, as a data edge: `(node, index)`, TF's `name:index`.
public struct NodeOutput: Sendable, Hashable, CustomStringConvertible {
    public let node: Node
    public let index: Int

    public init(_ node: Node, _ index: Int) {
        self.node = node
        self.index = index
    }

    public var dtype: DType { node.outputTypes[index] }
    public var shape: TensorShape { node.outputShapes[index] }
    /// TF's tensor name: `dense/MatMul:0`.
    public var name: String { "\(node.name):\(index)" }
    public var description: String { name }
}
