/// The compiler's mutable copy of the part of a graph being compiled.
///
/// Built from a ``Graph`` for given fetches, targets and feeds: only what they need is
/// copied (pruning), and every fed output becomes a feed node of the fed shape. Passes
/// rewrite it in place; ``IRGraph/makeGraph()`` turns it back into a ``Graph`` and
/// ``PlanBuilder`` into a ``Plan``. `nodes` is kept in a topological order.
final class IRGraph {
    private(set) var nodes: [IRNode] = []
    /// What the caller asked for, in order; rewrites keep these pointing at the right values.
    var fetches: [IRValue]
    /// Nodes run for their effects.
    var targets: [IRNode]
    /// Feed nodes, in the order of the caller's feeds.
    private(set) var feeds: [(endpoint: NodeOutput, node: IRNode)] = []
    private var nextID = 0

    init() {
        fetches = []
        targets = []
    }

    /// Copies what `fetches` and `targets` need from `graph`, cutting at `feeds`.
    ///
    /// - Parameter feeds: the fed outputs and their shapes (concrete when compiling a plan,
    ///   possibly partial when optimising a graph for saving).
    /// - Throws: the unfed-placeholder error when a needed placeholder is not fed and
    ///   `requireFeeds` is set.
    convenience init(graph: Graph, fetches: [NodeOutput], targets: [Node], feeds: [NodeOutput: TensorShape],
                     requireFeeds: Bool) throws {
        self.init()
        let all = graph.nodes
        var needed = [Bool](repeating: false, count: all.count)
        var stack = fetches.filter { feeds[$0] == nil }.map(\.node) + targets
        while let node = stack.popLast() {
            if needed[node.id] { continue }
            needed[node.id] = true
            for input in node.inputs where feeds[input] == nil { stack.append(input.node) }
            stack.append(contentsOf: node.controlInputs)
        }
        var feedNodes: [NodeOutput: IRNode] = [:]
        // Sorted by TF name, each name built once: a comparison building both would make
        // the setup's allocations depend on the dictionary's order, which varies by process.
        for (_, endpoint, shape) in feeds.map({ ($0.key.name, $0.key, $0.value) }).sorted(by: { $0.0 < $1.0 }) {
            let feed = add(name: endpoint.index == 0 ? endpoint.node.name : endpoint.name, def: IRGraph.feedDef,
                           inputs: [], attrs: ["dtype": .type(endpoint.dtype), "shape": .shape(shape)],
                           outputTypes: [endpoint.dtype], outputShapes: [shape])
            feed.source = endpoint.node
            feedNodes[endpoint] = feed
            self.feeds.append((endpoint, feed))
        }
        var copies: [Node: IRNode] = [:]
        func value(_ endpoint: NodeOutput) -> IRValue {
            if let feed = feedNodes[endpoint] { return IRValue(feed, 0) }
            return IRValue(copies[endpoint.node]!, endpoint.index)
        }
        for node in all where needed[node.id] {
            if requireFeeds && node.op == "Placeholder" {
                let dtype = node.type("dtype")!, shape = node.shape("shape") ?? .unknown
                throw SomaError.invalidArgument(
                    "You must feed a value for placeholder tensor '\(node.name)' with dtype \(dtype) and shape \(shape)"
                    + node.locationSuffix)
            }
            let copy = add(name: node.name, def: node.definition, inputs: node.inputs.map(value), attrs: node.attrs,
                           outputTypes: node.outputTypes, outputShapes: node.outputShapes)
            // With the feeds known, an unfed placeholder-with-default is its default.
            if requireFeeds && node.op == "PlaceholderWithDefault" { copy.becomeIdentity(of: copy.inputs[0]) }
            copy.controlInputs = node.controlInputs.map { copies[$0]! }
            copy.device = node.device
            copy.location = node.location
            copy.source = node
            copies[node] = copy
        }
        self.fetches = fetches.map(value)
        self.targets = targets.map { copies[$0]! }
    }

    /// The op a fed output becomes: a value that arrives with the run.
    static let feedDef = OpDef("Placeholder", outputs: ["output: dtype"], attrs: [.type("dtype"), .shape("shape")],
                               traits: [.feedable], gradient: .notDifferentiable) { c in [c.shapeAttr("shape")] }

    /// Appends a node (callers keep `nodes` topological by appending after its inputs).
    @discardableResult
    func add(name: String, def: OpDef, inputs: [IRValue], attrs: [String: AttrValue], outputTypes: [DType],
             outputShapes: [TensorShape]) -> IRNode {
        let node = IRNode(id: nextID, name: name, def: def, inputs: inputs, attrs: attrs,
                          outputTypes: outputTypes, outputShapes: outputShapes)
        nextID += 1
        nodes.append(node)
        return node
    }

    /// Inserts a new node just before `position`'s node (so it precedes its consumers).
    func insert(_ node: IRNode, before position: IRNode) {
        let index = nodes.firstIndex { $0 === position }!
        nodes.insert(node, at: index)
    }

    /// A node not yet in the graph, with a fresh id.
    func makeNode(name: String, def: OpDef, inputs: [IRValue], attrs: [String: AttrValue], outputTypes: [DType],
                  outputShapes: [TensorShape]) -> IRNode {
        defer { nextID += 1 }
        return IRNode(id: nextID, name: name, def: def, inputs: inputs, attrs: attrs, outputTypes: outputTypes,
                      outputShapes: outputShapes)
    }

    /// A new `Const` node holding `value`, inserted just before `position`, named `name` —
    /// with `_` appended until it is not among `names`, which records it.
    func insertConstant(_ value: Tensor, named name: String, before position: IRNode, avoiding names: inout Set<String>) -> IRNode {
        var name = name
        while names.contains(name) { name += "_" }
        names.insert(name)
        let constant = makeNode(name: name, def: OpRegistry.lookup("Const")!, inputs: [], attrs: [:], outputTypes: [value.dtype],
                                outputShapes: [TensorShape(value.shape)])
        constant.becomeConstant(value)
        insert(constant, before: position)
        return constant
    }

    /// Points every use of `old` (inputs and fetches) at `new`.
    func replaceUses(of old: IRValue, with new: IRValue) {
        for node in nodes {
            for k in node.inputs.indices where node.inputs[k] == old { node.inputs[k] = new }
        }
        for k in fetches.indices where fetches[k] == old { fetches[k] = new }
    }

    /// Reorders `nodes` into a topological order again after a rewrite pointed a node at a
    /// later one, keeping the current order wherever it already is one (an iterative
    /// depth-first search, inputs first).
    func restoreTopologicalOrder() {
        var placed = [Bool](repeating: false, count: nextID)
        var order: [IRNode] = []
        order.reserveCapacity(nodes.count)
        for root in nodes where !placed[root.id] {
            var stack: [(node: IRNode, next: Int)] = [(root, 0)]
            var onStack: Set<Int> = [root.id]
            while let top = stack.last {
                let sources = top.node.inputs.map(\.node) + top.node.controlInputs
                if top.next < sources.count {
                    stack[stack.count - 1].next += 1
                    let s = sources[top.next]
                    if !placed[s.id] && onStack.insert(s.id).inserted { stack.append((s, 0)) }
                } else {
                    placed[top.node.id] = true
                    order.append(top.node)
                    stack.removeLast()
                }
            }
        }
        nodes = order
    }

    /// Removes nodes that nothing fetched or targeted depends on.
    func removeDeadNodes() {
        var live = [Bool](repeating: false, count: nextID)
        var stack = fetches.map(\.node) + targets + feeds.map(\.node)
        while let node = stack.popLast() {
            guard !live[node.id] else { continue }
            live[node.id] = true
            for input in node.inputs where !live[input.node.id] { stack.append(input.node) }
            for control in node.controlInputs where !live[control.id] { stack.append(control) }
        }
        nodes.removeAll { !live[$0.id] }
    }

    /// For each node id, how many data inputs of other nodes read its outputs.
    func consumerCounts() -> [Int] {
        var counts = [Int](repeating: 0, count: nextID)
        for node in nodes {
            for input in node.inputs { counts[input.node.id] += 1 }
        }
        return counts
    }

    /// Ids of nodes some other node lists as a control input.
    func controlSources() -> Set<Int> {
        Set(nodes.flatMap { $0.controlInputs.map(\.id) })
    }

    /// Ids of nodes whose outputs are fetched.
    func fetchedNodeIDs() -> Set<Int> { Set(fetches.map(\.node.id)) }

    /// Re-runs the shape function of `node` on its inputs' current shapes and known values.
    ///
    /// - Parameter chains: the sweep's memo of identity chains (see ``IdentityChains``).
    func inferShapes(_ node: IRNode, chains: IdentityChains) throws {
        let lists = node.inputs.map { $0.dtype == .variant && $0.index < $0.node.listShapes.count ? $0.node.listShapes[$0.index] : nil }
        let context = ShapeContext(
            inputShapes: node.inputs.map(\.shape), inputTypes: node.inputs.map(\.dtype), attrs: node.attrs,
            values: node.inputs.map { KnownValues.constant($0, resolve: chains.resolve) },
            shapeValues: node.inputs.map { KnownValues.partialShape($0, resolve: chains.resolve) },
            listShapes: lists.contains { $0 != nil } ? lists : [])
        do {
            node.outputShapes = try node.def.shapeFunction(context)
            if node.outputTypes.contains(.variant) {
                node.listShapes = ListOps.outputListShapes(op: node.op, context, outputs: node.outputTypes.count)
            }
        } catch let error as ShapeError {
            throw SomaError.nodeFailure(error.message, node: node.name, op: node.op,
                                        inputShapes: node.inputs.map(\.shape.description), location: node.location)
        }
    }

    /// Rebuilds a ``Graph``: same names, ops, attributes, devices and control edges; feeds
    /// become placeholders of the fed shape.
    func makeGraph(versions: GraphVersions) throws -> Graph {
        let graph = Graph()
        graph.versions = versions
        var built: [Int: Node] = [:]
        let names = Set(nodes.map(\.name))
        for node in nodes {
            let inputs = node.inputs.map { Output(graph: graph, node: built[$0.node.id]!, index: $0.index) }
            // Colocation constraints (`_class: ["loc:@name"]`) may name nodes the passes
            // removed; TensorFlow rejects those, so they go.
            var attrs = node.attrs
            if case .strings(let classes)? = attrs["_class"] {
                let kept = classes.filter { !$0.hasPrefix("loc:@") || names.contains(String($0.dropFirst(5))) }
                attrs["_class"] = kept.isEmpty ? nil : .strings(kept)
            }
            built[node.id] = try graph.addNode(
                op: node.op, inputs: inputs, attrs: attrs, name: node.name,
                controlInputs: node.controlInputs.map { built[$0.id]! }, device: node.device, location: node.location,
                uniquifyName: false)
        }
        return graph
    }
}

/// Where chains of `Identity`/`StopGradient` lead, remembered for one topological sweep
/// over an ``IRGraph``, so that resolving every node of an n-node chain costs O(n) in all
/// rather than O(n²).
///
/// Contract: an answer stays valid while no identity node it passed through is rewired or
/// changes op. Sweeps in topological order satisfy this when they rewrite only the node
/// they are visiting and its consumers: every remembered chain lies upstream of it.
final class IdentityChains {
    /// The resolved source of identity node `id`'s output.
    private var sources: [Int: IRValue] = [:]

    /// The first output up the chain of identities from `value` that is not one (itself
    /// when it is not one).
    func resolve(_ value: IRValue) -> IRValue {
        var passed: [Int] = []
        var current = value
        while current.node.op == "Identity" || current.node.op == "StopGradient" {
            if let known = sources[current.node.id] {
                current = known
                break
            }
            passed.append(current.node.id)
            current = current.node.inputs[0]
        }
        for id in passed { sources[id] = current }
        return current
    }

    /// The variable a value reads, looking through identities (such reads happen where
    /// the value is consumed, in build order).
    func variableSource(_ value: IRValue) -> IRNode? {
        let node = resolve(value).node
        return node.def.traits.contains(.variable) ? node : nil
    }
}

/// One node of an ``IRGraph``.
final class IRNode {
    let id: Int
    var name: String
    var def: OpDef
    var inputs: [IRValue]
    var controlInputs: [IRNode] = []
    var attrs: [String: AttrValue]
    var outputTypes: [DType]
    var outputShapes: [TensorShape]
    /// For outputs holding TensorLists: what is known of their elements' shape.
    var listShapes: [TensorShape?] = []
    var device = ""
    var location: SourceLocation?
    /// The graph node this was copied from, if any.
    var source: Node?
    /// Whether input 1 is a constant the compiler rearranged into panels (a weight matrix or
    /// filter, ``WeightPanelPacking``): the kernel must read it so. Plans only; no attribute,
    /// so no graph file can claim it.
    var weightPanels = false
    /// The output tile's side where input 1 is a constant filter the compiler transformed for
    /// Winograd tiles (`[S, S, C, OC]`, `S` the window's side plus the tile's minus one,
    /// ``WinogradFilterTransform``), else 0: the kernel reads it so, the window the graph's.
    /// Plans only; no attribute, so no graph file can claim it.
    var winogradTile = 0
    /// Whether input 1 is a filter transformed for Winograd tiles (``winogradTile``).
    var winogradFilter: Bool { winogradTile > 0 }

    init(id: Int, name: String, def: OpDef, inputs: [IRValue], attrs: [String: AttrValue], outputTypes: [DType],
         outputShapes: [TensorShape]) {
        self.id = id
        self.name = name
        self.def = def
        self.inputs = inputs
        self.attrs = attrs
        self.outputTypes = outputTypes
        self.outputShapes = outputShapes
    }

    deinit {
        guard !inputs.isEmpty || !controlInputs.isEmpty else { return }
        var held: [AnyObject] = inputs.map { $0.node } + controlInputs
        inputs = []
        controlInputs = []
        ChainRelease.release(&held)
    }

    var op: String { def.name }
    var isConstant: Bool { op == "Const" }
    var isFeed: Bool { def.traits.contains(.feedable) && inputs.isEmpty }
    var isStateful: Bool { def.traits.contains(.stateful) }
    var constantValue: Tensor? { if case .tensor(let t)? = attrs["value"], isConstant { t } else { nil } }

    /// Turns this node into a constant holding `value` (keeping its name, so fetches and
    /// consumers see the same node).
    func becomeConstant(_ value: Tensor) {
        def = OpRegistry.lookup("Const")!
        inputs = []
        controlInputs = []
        attrs = ["value": .tensor(value), "dtype": .type(value.dtype)]
        outputTypes = [value.dtype]
        outputShapes = [TensorShape(value.shape)]
    }
}

/// An output of an IR node.
struct IRValue: Hashable, CustomStringConvertible {
    let node: IRNode
    let index: Int

    init(_ node: IRNode, _ index: Int) {
        self.node = node
        self.index = index
    }

    var dtype: DType { node.outputTypes[index] }
    var shape: TensorShape { node.outputShapes[index] }
    var description: String { index == 0 ? node.name : "\(node.name):\(index)" }

    static func == (a: IRValue, b: IRValue) -> Bool { a.node === b.node && a.index == b.index }
    func hash(into h: inout Hasher) {
        h.combine(ObjectIdentifier(node))
        h.combine(index)
    }
}

extension IRValue: ValueSource {
    var producerOp: String { node.op }
    var producerAttrs: [String: AttrValue] { node.attrs }
    var producerInputs: [IRValue] { node.inputs }
}
