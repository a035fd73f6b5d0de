import Foundation

/// A TF1-style symbolic computation graph: nodes added in topological order, each checked
/// by its op's shape function as it is added.
///
/// ```swift
/// let g = Graph()
/// let x = try g.placeholder(.float32, shape: [nil, 3], name: "x")
/// let w = try g.variable(Tensor(repeating: Float(0.1), shape: [3, 2]), name: "w")
/// let y = try relu(matmul(x, w.value))
/// ```
///
/// Thread-safety: nodes may be added from several threads (adds are serialised by a
/// lock); name scopes and control-dependency scopes are per graph, so build a graph from
/// one thread when you use them. Reading a built graph is safe from any thread.
public final class Graph: @unchecked Sendable, Hashable {
    private let lock = NSLock()
    private var _nodes: [Node] = []
    private var byName: [String: Node] = [:]
    /// TF's `names_in_use`: the next suffix for each name.
    private var namesInUse: [String: Int] = [:]
    private var scopeStack: [String] = []
    private var controlStack: [[Node]] = []
    /// The variables, held by their nodes: a ``Variable`` holds its graph (through its
    /// outputs), so holding those here would keep every graph with variables alive.
    private var _variables: [(ref: NodeOutput, initializer: Node?, value: NodeOutput, trainable: Bool)] = []
    private var _versions = GraphVersions()
    private var _preserved = PreservedFields()
    private var _randomSeed: Int? = nil
    /// For a function body: the graph it is nested in (whose values it captures).
    private(set) weak var parent: Graph?
    /// Nesting depth: 0 for a top-level graph.
    let depth: Int
    /// Captured outer values and the placeholders standing for them, in capture order.
    private var captures: [(outer: Output, inner: Output)] = []
    private var captureIndex: [NodeOutput: Int] = [:]
    /// Constants of enclosing graphs copied into this body, by the original.
    private var constantCopies: [NodeOutput: Output] = [:]
    /// Set once the function owning this body is made: no more captures.
    private var capturesSealed = false
    /// Named node collections (TF's `tf.compat.v1.get_collection`), in insertion order.
    private var collections: [String: [Node]] = [:]
    /// Function bodies being built from this graph, innermost last: nodes added to this
    /// graph go into the innermost one (TF's default graph inside a `FuncGraph`).
    private var activeBodies: [Graph] = []
    /// Function names handed out (on the top-level graph): the next suffix for each.
    private var functionNames: [String: Int] = [:]
    /// User call sites of library calls in progress (a layer, a loss, `minimize`),
    /// outermost first: nodes the library creates on their behalf are located there.
    private var callSites: [SourceLocation] = []
    /// Every call of a ``Layer`` on this graph's tensors, in order (for models' summaries).
    private var _layerCalls: [LayerCall] = []
    /// Keras' learning phase, made on first use (``learningPhase()``).
    private var _learningPhase: Output?

    public init() { depth = 0 }

    /// A function body nested in `parent`.
    init(parent: Graph) {
        self.parent = parent
        self.depth = parent.depth + 1
    }

    /// The graph-level random seed (TF's `tf.compat.v1.set_random_seed`): with it, every
    /// random op without its own seed gets a deterministic one, so runs are reproducible.
    public var randomSeed: Int? {
        get { lock.withLock { _randomSeed } }
        set { lock.withLock { _randomSeed = newValue } }
    }

    /// TF's `get_seed`: the `(seed, seed2)` attributes of a new random op. Graph seed and
    /// op seed when both are set; the graph seed and the node count when only the graph
    /// seed is; TF's default graph seed (87654321) and the op seed when only that is;
    /// `(0, 0)` — fresh randomness each session — when neither is.
    func randomSeeds(op seed: Int?) -> (Int, Int) {
        lock.withLock {
            switch (_randomSeed, seed) {
            case let (graph?, op?): return (graph, op)
            case let (graph?, nil): return (graph, _nodes.count)
            case let (nil, op?): return (87654321, op)
            case (nil, nil): return (0, 0)
            }
        }
    }

    /// The GraphDef `versions` this graph is saved with (and was loaded with).
    public var versions: GraphVersions {
        get { lock.withLock { _versions } }
        set { lock.withLock { _versions = newValue } }
    }

    /// Protobuf fields Soma does not model, kept from a loaded GraphDef for saving again.
    var preserved: PreservedFields {
        get { lock.withLock { _preserved } }
        set { lock.withLock { _preserved = newValue } }
    }

    public static func == (a: Graph, b: Graph) -> Bool { a === b }
    public func hash(into h: inout Hasher) { h.combine(ObjectIdentifier(self)) }

    /// All nodes in creation order, which is a topological order.
    public var nodes: [Node] { lock.withLock { _nodes } }

    /// The variables created in this graph (TF's `GLOBAL_VARIABLES` collection).
    public var variables: [Variable] {
        lock.withLock {
            _variables.map {
                Variable(ref: Output(graph: self, node: $0.ref.node, index: $0.ref.index), initializer: $0.initializer,
                         value: Output(graph: self, node: $0.value.node, index: $0.value.index), trainable: $0.trainable)
            }
        }
    }

    public func node(named name: String) -> Node? { lock.withLock { byName[name] } }

    /// The output `name:k` (or `name`, meaning `name:0`).
    public func output(named name: String) -> Output? {
        var nodeName = Substring(name), index = 0
        if let colon = name.utf8.lastIndex(of: UInt8(ascii: ":")), let k = Int(name[name.index(after: colon)...]) {
            nodeName = name[..<colon]
            index = k
        }
        guard let node = node(named: String(nodeName)), index >= 0, index < node.outputCount else { return nil }
        return Output(graph: self, node: node, index: index)
    }

    // MARK: Scopes

    /// Runs `body` with node names prefixed by `name/` (made unique: `dense`, `dense_1`).
    public func withNameScope<R>(_ name: String, _ body: () throws -> R) rethrows -> R {
        let scope = lock.withLock { uniqueName(name) }
        lock.withLock { scopeStack.append(scope) }
        defer { _ = lock.withLock { scopeStack.removeLast() } }
        return try body()
    }

    /// Reserves a unique name in the current scope without creating a node (TF's
    /// `unique_name`), for ops such as variables whose node is named like their scope.
    func reserveName(_ name: String) -> String { lock.withLock { uniqueName(name) } }

    /// Runs `body` inside the already-reserved, fully qualified scope `scope`.
    func withExactScope<R>(_ scope: String, _ body: () throws -> R) rethrows -> R {
        lock.withLock { scopeStack.append(scope) }
        defer { _ = lock.withLock { scopeStack.removeLast() } }
        return try body()
    }

    /// Runs `body` at the root scope with no control dependencies: for variables created
    /// on the side of other ops (optimiser slots, the global step).
    func withRootScope<R>(_ body: () throws -> R) rethrows -> R {
        let saved = lock.withLock { (scopeStack, controlStack) }
        lock.withLock { scopeStack = []; controlStack = [] }
        defer { lock.withLock { scopeStack = saved.0; controlStack = saved.1 } }
        return try body()
    }

    /// Runs `body` with every node it creates depending on `nodes` (TF's
    /// `control_dependencies`).
    public func withControlDependencies<R>(_ nodes: [Node], _ body: () throws -> R) rethrows -> R {
        lock.withLock { controlStack.append(nodes) }
        defer { _ = lock.withLock { controlStack.removeLast() } }
        return try body()
    }

    /// The full unique name for `name` in the current scope. Call with the lock held.
    private func uniqueName(_ name: String) -> String {
        let full = scopeStack.last.map { "\($0)/\(name)" } ?? name
        var result = full
        if let next = namesInUse[full] {
            var i = next
            while namesInUse["\(full)_\(i)"] != nil { i += 1 }
            namesInUse[full] = i + 1
            result = "\(full)_\(i)"
        }
        namesInUse[result] = 1
        return result
    }

    // MARK: Call sites

    /// Runs `body` with the nodes the library creates in it located at `file:line` — the
    /// user's call of a layer, loss or optimiser — rather than inside Soma. Nested calls
    /// keep the outermost user call site; nodes a user creates directly keep their own.
    public func withCallSite<R>(file: String, line: Int, _ body: () throws -> R) rethrows -> R {
        let root = self.root
        root.lock.withLock { root.callSites.append(SourceLocation(fileID: file, line: line)) }
        defer { _ = root.lock.withLock { root.callSites.removeLast() } }
        return try body()
    }

    /// The top-level graph this one is nested in (itself when top-level).
    var root: Graph {
        var g = self
        while let p = g.parent { g = p }
        return g
    }

    /// Where a node the library builds at `location` should say it was made: the
    /// outermost user call site in progress when `location` is inside Soma or unknown.
    private func resolvedLocation(_ location: SourceLocation?) -> SourceLocation? {
        if let location, !location.fileID.hasPrefix("Soma/") { return location }
        let root = self.root
        let site = root === self ? callSites.first : root.lock.withLock { root.callSites.first }
        return site ?? location
    }

    // MARK: Layers

    /// One call of a layer: its inputs and output.
    struct LayerCall {
        let layer: Layer
        let inputs: [Output]
        let output: Output
    }

    func recordLayerCall(_ call: LayerCall) { lock.withLock { _layerCalls.append(call) } }

    var layerCalls: [LayerCall] { lock.withLock { _layerCalls } }

    /// Keras' learning phase (`keras_learning_phase`): a boolean scalar, false unless fed,
    /// that switches ``Dropout`` and ``BatchNormalization`` to training behaviour. `fit`
    /// feeds it true.
    public func learningPhase() throws -> Output {
        if parent != nil { return try root.learningPhase() }
        if let existing = lock.withLock({ _learningPhase }) { return existing }
        let made = try withRootScope {
            try placeholderWithDefault(constant(false), shape: .scalar, name: "keras_learning_phase")
        }
        lock.withLock { _learningPhase = made }
        return made
    }

    // MARK: Adding nodes

    /// Adds a node, checking its inputs against the op's signature, inferring type
    /// attributes from the inputs, filling TF's attribute defaults and running the op's
    /// shape function.
    ///
    /// - Parameters:
    ///   - name: the node name within the current scope; the op name when `nil`. Made
    ///     unique TF-style (`MatMul`, `MatMul_1`) unless `uniquifyName` is false, when it
    ///     is used as is (no scope) and must be new — as when loading a GraphDef.
    /// - Throws: ``SomaError`` naming the node, op, input shapes and call site.
    @discardableResult
    public func addNode(
        op opName: String, inputs: [Output], attrs: [String: AttrValue] = [:], name: String? = nil,
        controlInputs: [Node] = [], device: String = "", location: SourceLocation? = nil,
        uniquifyName: Bool = true
    ) throws -> Node {
        try addNode(op: opName, inputs: inputs, attrs: attrs, name: name, controlInputs: controlInputs, device: device,
                    location: location, uniquifyName: uniquifyName, routed: true)
    }

    /// `addNode`, going into a function body being built from this graph only when `routed`.
    func addNode(
        op opName: String, inputs: [Output], attrs: [String: AttrValue], name: String?, controlInputs: [Node],
        device: String, location: SourceLocation?, uniquifyName: Bool, routed: Bool
    ) throws -> Node {
        guard let def = OpRegistry.lookup(opName) else {
            throw SomaError.notFound("Op type not registered '\(opName)'")
        }
        // While a branch or loop body is being built from this graph, new nodes belong in
        // it (except variables and what writes them, which live outside functions).
        if routed, let active = lock.withLock({ activeBodies.last }), !def.traits.contains(.variable),
           !def.inputs.contains(where: \.isRef) {
            return try active.addNode(op: opName, inputs: inputs, attrs: attrs, name: name, controlInputs: controlInputs,
                                      device: device, location: location, uniquifyName: uniquifyName)
        }
        // A node built from values of a function body and of graphs enclosing it belongs in
        // the body, which captures the outer values.
        if let inner = inputs.map(\.graph).max(by: { $0.depth < $1.depth }), inner.depth > depth, inner.isNested(in: self) {
            return try inner.addNode(op: opName, inputs: inputs, attrs: attrs, name: name, controlInputs: controlInputs,
                                     device: device, location: location, uniquifyName: uniquifyName)
        }
        var inputs = inputs
        for (k, input) in inputs.enumerated() where input.graph !== self {
            guard let captured = try capture(input) else {
                throw SomaError.invalidArgument("Input \(input.name) to a new '\(opName)' node is from a different graph")
            }
            inputs[k] = captured
        }
        lock.lock()
        defer { lock.unlock() }
        let location = resolvedLocation(location)
        let nodeName: String
        if uniquifyName {
            nodeName = uniqueName(name ?? opName)
        } else {
            nodeName = name ?? opName
            guard byName[nodeName] == nil else {
                throw SomaError.invalidArgument("Duplicate node name in graph: '\(nodeName)'")
            }
            namesInUse[nodeName] = max(namesInUse[nodeName] ?? 1, 1)
        }
        func fail(_ message: String) -> SomaError {
            .nodeFailure(message, node: nodeName, op: opName, location: location)
        }

        let endpoints = inputs.map(\.endpoint)
        var attrs = attrs
        let outputTypes = try Graph.bindSignature(def, inputs: endpoints, attrs: &attrs, fail: fail)

        let context = ShapeContext(
            inputShapes: endpoints.map(\.shape), inputTypes: endpoints.map(\.dtype), attrs: attrs,
            values: endpoints.map { KnownValues.constant($0) }, shapeValues: endpoints.map { KnownValues.partialShape($0) })
        let outputShapes: [TensorShape]
        do {
            outputShapes = try def.shapeFunction(context)
        } catch let error as ShapeError {
            throw SomaError.nodeFailure(
                error.message, node: nodeName, op: opName, inputShapes: endpoints.map(\.shape.description),
                location: location)
        }
        precondition(outputShapes.count == outputTypes.count,
                     "shape function of \(opName) returned \(outputShapes.count) shapes for \(outputTypes.count) outputs")

        var controls = controlStack.joined().filter { !$0.isEqualToAny(controlInputs) }
        controls = controlInputs + controls
        let node = Node(
            name: nodeName, op: def, inputs: endpoints, controlInputs: controls, attrs: attrs, device: device,
            outputTypes: outputTypes, outputShapes: outputShapes, location: location, id: _nodes.count, graph: self)
        _nodes.append(node)
        byName[nodeName] = node
        return node
    }

    /// TF1's `GraphKeys.UPDATE_OPS`: ops a training step must also run (batch
    /// normalisation's moving-average updates); ``Optimizer/minimize(_:varList:globalStep:)``
    /// runs them.
    public static let updateOps = "update_ops"

    /// Adds `node` to the collection `name` (TF's `add_to_collection`).
    public func addToCollection(_ name: String, _ node: Node) {
        lock.withLock { collections[name, default: []].append(node) }
    }

    /// The nodes of collection `name` (TF's `get_collection`), empty when there are none.
    public func collection(_ name: String) -> [Node] { lock.withLock { collections[name] ?? [] } }

    /// Registers a variable in the graph's collection.
    func register(_ variable: Variable) {
        lock.withLock {
            _variables.append((NodeOutput(variable.ref.node, variable.ref.index), variable.initializer,
                               NodeOutput(variable.value.node, variable.value.index), variable.trainable))
        }
    }

    /// The most inputs or outputs one list argument may have.
    static let maxListLength = 1 << 16

    /// Matches inputs to the op's arguments, infers and checks type attributes, fills
    /// defaults and checks attribute kinds; returns the output dtypes.
    static func bindSignature(
        _ def: OpDef, inputs: [NodeOutput], attrs: inout [String: AttrValue], fail: (String) -> SomaError
    ) throws -> [DType] {
        // Lengths of list arguments: explicit, or whatever the single arguments leave (for
        // one list of unknown length: a type list then takes its types from the inputs).
        let open = def.inputs.filter { $0.count(in: attrs) == nil }
        if open.count == 1 {
            let others = def.inputs.reduce(0) { $0 + ($1.count(in: attrs) ?? 0) }
            let k = inputs.count - others
            guard k >= 0 else { throw fail("Expected at least \(others) inputs but got \(inputs.count)") }
            if let n = open[0].numberAttr { attrs[n] = .int(k) }
            else if case .list(let t) = open[0].type {
                let start = def.inputs.prefix { $0.name != open[0].name }.reduce(0) { $0 + ($1.count(in: attrs) ?? 0) }
                attrs[t] = .types(inputs[start..<start + k].map(\.dtype))
            }
        }
        for arg in def.inputs + def.outputs {
            guard arg.numberAttr != nil || { if case .list = arg.type { true } else { false } }() else { continue }
            guard let k = arg.count(in: attrs) else {
                throw fail("Missing required attr '\(arg.numberAttr ?? { if case .list(let t) = arg.type { t } else { "" } }())'")
            }
            guard k >= 0 && k <= maxListLength else {
                throw fail("Value for attr '\(arg.numberAttr ?? "list")' of \(k) is out of range [0, \(maxListLength)]")
            }
        }
        let expected = def.inputs.reduce(0) { $0 + ($1.count(in: attrs) ?? 1) }
        guard expected == inputs.count else {
            throw fail("Expected \(expected) inputs but got \(inputs.count)")
        }

        // Type attributes from the inputs.
        var position = 0
        var firstArgForType: [String: String] = [:]
        for arg in def.inputs {
            let count = arg.count(in: attrs) ?? 1
            for (k, input) in inputs[position..<position + count].enumerated() {
                if arg.isRef && !input.throughIdentities.node.definition.traits.contains(.variable) {
                    throw fail("Input \(position + k) was passed \(input.dtype.name) from \(input.name) incompatible with expected "
                               + "\(input.dtype.name)_ref: '\(arg.name)' must be a variable")
                }
                switch arg.type {
                case .fixed(let dtype):
                    if input.dtype != dtype {
                        throw fail("Input '\(arg.name)' has type \(input.dtype) that does not match expected type \(dtype)")
                    }
                case .attr(let t):
                    if let given = attrs[t], given.kind != .type {
                        throw fail("Attr '\(t)' has kind \(given.kind.rawValue) but must be type")
                    }
                    if case .type(let bound)? = attrs[t], bound != input.dtype {
                        let source = firstArgForType[t].map { "type \(bound) of argument '\($0)'" } ?? "attr \(t)=\(bound)"
                        throw fail("Input '\(arg.name)' has type \(input.dtype) that does not match \(source)")
                    }
                    attrs[t] = .type(input.dtype)
                    if firstArgForType[t] == nil { firstArgForType[t] = arg.name }
                case .list(let t):
                    guard case .types(let types)? = attrs[t], types[k] == input.dtype else {
                        throw fail("Input \(position + k) ('\(arg.name)') has type \(input.dtype) that does not match attr \(t)")
                    }
                }
            }
            position += count
        }

        // Defaults, required attributes and constraints.
        for attr in def.attrs {
            if attrs[attr.name] == nil, let d = attr.defaultValue { attrs[attr.name] = d }
            guard let value = attrs[attr.name] else { throw fail("Missing required attr '\(attr.name)'") }
            guard value.kind == attr.kind else {
                throw fail("Attr '\(attr.name)' has kind \(value.kind.rawValue) but must be \(attr.kind.rawValue)")
            }
            if let allowed = attr.allowedTypes {
                let given: [DType]
                switch value {
                case .type(let t): given = [t]
                case .types(let ts): given = ts
                default: given = []
                }
                if let bad = given.first(where: { !allowed.contains($0) }) {
                    throw fail("Value for attr '\(attr.name)' of \(bad) is not in the list of allowed values: "
                               + allowed.map(\.name).joined(separator: ", "))
                }
            }
            if case .string(let s) = value, let allowed = attr.allowedStrings, !allowed.contains(s) {
                throw fail("Value for attr '\(attr.name)' of \"\(s)\" is not in the list of allowed values: "
                           + allowed.map { "\"\($0)\"" }.joined(separator: ", "))
            }
            if case .int(let i) = value, let m = attr.minimum, i < m {
                throw fail("Value for attr '\(attr.name)' of \(i) must be at least minimum \(m)")
            }
        }

        // Output dtypes.
        var types: [DType] = []
        for arg in def.outputs {
            switch arg.type {
            case .fixed(let d):
                guard let k = arg.count(in: attrs), k >= 0 else { throw fail("Missing required attr '\(arg.numberAttr ?? "")'") }
                types += Array(repeating: d, count: k)
            case .attr(let t):
                guard case .type(let d)? = attrs[t] else { throw fail("Missing required attr '\(t)'") }
                guard let k = arg.count(in: attrs), k >= 0 else { throw fail("Missing required attr '\(arg.numberAttr ?? "")'") }
                types += Array(repeating: d, count: k)
            case .list(let t):
                guard case .types(let ds)? = attrs[t] else { throw fail("Missing required attr '\(t)'") }
                types += ds
            }
        }
        return types
    }
}

// MARK: - Function bodies

extension Graph {
    /// Whether this graph is `other` or nested (at any depth) in it.
    func isNested(in other: Graph) -> Bool {
        var g: Graph? = self
        while let current = g {
            if current === other { return true }
            g = current.parent
        }
        return false
    }

    /// The value standing for `outer` (from a graph this one is nested in) inside this
    /// body: a copy for a constant, otherwise a placeholder that becomes an argument of
    /// the function (captured through every graph in between). `nil` when `outer` is not
    /// from an enclosing graph.
    func capture(_ outer: Output) throws -> Output? {
        guard outer.graph !== self, let parent, outer.graph.depth < depth, isNested(in: outer.graph) else { return nil }
        if let k = lock.withLock({ captureIndex[outer.endpoint] }) { return lock.withLock { captures[k].inner } }
        if outer.node.op == "Const", let value = outer.node.tensor("value") {
            if let copy = lock.withLock({ constantCopies[outer.endpoint] }) { return copy }
            let node = try addNode(op: "Const", inputs: [], attrs: ["value": .tensor(value), "dtype": .type(value.dtype)],
                                   name: outer.node.name.split(separator: "/").last.map(String.init), controlInputs: [],
                                   device: "", location: nil, uniquifyName: true, routed: false)
            let copy = Output(graph: self, node: node, index: 0)
            lock.withLock { constantCopies[outer.endpoint] = copy }
            return copy
        }
        // The value as the parent sees it: captured there first when it comes from further out.
        let through = outer.graph === parent ? outer : try parent.capture(outer)!
        guard !lock.withLock({ capturesSealed }) else {
            throw SomaError.invalidArgument(
                "'\(outer.name)' is used inside a function that is already built; create what a loop or branch uses before it")
        }
        let name = outer.node.name.split(separator: "/").last.map(String.init) ?? "capture"
        let placeholder = try withRootScope {
            Output(graph: self, node: try addNode(op: "Placeholder", inputs: [], attrs: ["dtype": .type(through.dtype), "shape": .shape(through.shape)],
                                                  name: name, controlInputs: [], device: "", location: nil, uniquifyName: true,
                                                  routed: false), index: 0)
        }
        lock.withLock {
            captureIndex[outer.endpoint] = captures.count
            captureIndex[through.endpoint] = captures.count
            captures.append((through, placeholder))
        }
        return placeholder
    }

    /// Where new nodes built from values of `graphs` go: the deepest of them, then the
    /// function body being built from it, if any (innermost first).
    static func buildTarget(_ graphs: [Graph]) -> Graph? {
        guard var g = graphs.max(by: { $0.depth < $1.depth }) else { return nil }
        while let active = g.lock.withLock({ g.activeBodies.last }) { g = active }
        return g
    }

    /// Runs `build` with new nodes of this graph going into `body` (nested in it).
    func withActiveBody<R>(_ body: Graph, _ build: () throws -> R) rethrows -> R {
        lock.withLock { activeBodies.append(body) }
        defer { _ = lock.withLock { activeBodies.removeLast() } }
        return try build()
    }

    /// Ends capturing: the captured values (as values of the parent graph) and their
    /// placeholders, in order.
    func sealCaptures() -> (outer: [Output], placeholders: [Output]) {
        let list = lock.withLock { capturesSealed = true; return captures }
        return (list.map(\.outer), list.map(\.inner))
    }

    /// A function name unique among the functions built from the top-level graph.
    func reserveFunctionName(_ base: String) -> String {
        var top = self
        while let p = top.parent { top = p }
        return top.lock.withLock {
            let clean = String(base.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" })
            let k = top.functionNames[clean, default: 0]
            top.functionNames[clean] = k + 1
            return k == 0 ? clean : "\(clean)_\(k)"
        }
    }
}

extension Node {
    fileprivate func isEqualToAny(_ nodes: [Node]) -> Bool { nodes.contains { $0 === self } }
}
