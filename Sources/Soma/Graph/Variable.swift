/// A TF1 variable: state that lives in a ``Session`` across runs.
///
/// Built as TF1 builds `tf.Variable`: a `VariableV2` node `w`, its initial value, an
/// `Assign` node `w/Assign` (the initializer) and an `Identity` `w/read` (the value ops use).
/// Graphs loaded from files also list their resource variables (`VarHandleOp`, written by
/// `AssignVariableOp`, read by `ReadVariableOp`).
public struct Variable: Sendable {
    /// The variable node's output (`VariableV2` ref or `VarHandleOp` handle): what `Assign`
    /// and optimisers write.
    public let ref: Output
    /// Sets the variable to its initial value; `nil` for a loaded variable whose graph has
    /// no initializer (its value comes from a checkpoint).
    public let initializer: Node?
    /// The variable's current value (`w/read`).
    public let value: Output
    /// Whether optimisers update it by default.
    public let trainable: Bool

    public var name: String { ref.node.name }
    /// The value's dtype (for a resource variable, the dtype it holds).
    public var dtype: DType { ref.dtype == .resource ? ref.node.type("dtype") ?? .resource : ref.dtype }
    /// The key of the variable's value in a session: its `shared_name`, or its name.
    public var sessionKey: String { ref.node.variableKey }
    /// The value's shape (for a resource variable, its handle's `shape` attribute).
    public var shape: TensorShape {
        guard ref.dtype == .resource else { return ref.shape }
        if case .shape(let s)? = ref.node.attrs["shape"] { return s }
        return .unknown
    }
    public var graph: Graph { ref.graph }

    /// An op that sets the variable to `newValue` and outputs it (TF's `assign`).
    public func assign(_ newValue: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
        try graph.output("Assign", [ref, newValue], name: name ?? "Assign", file: file, line: line)
    }

    /// An op that adds `delta` to the variable (TF's `assign_add`).
    public func assignAdd(_ delta: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
        try graph.output("AssignAdd", [ref, delta], name: name ?? "AssignAdd", file: file, line: line)
    }

    /// An op that subtracts `delta` from the variable (TF's `assign_sub`).
    public func assignSub(_ delta: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
        try graph.output("AssignSub", [ref, delta], name: name ?? "AssignSub", file: file, line: line)
    }
}

extension Graph {
    /// A variable initialised to the constant `initialValue`.
    public func variable(
        _ initialValue: Tensor, name: String? = nil, trainable: Bool = true, file: String = #fileID, line: Int = #line
    ) throws -> Variable {
        try makeVariable(name: name, trainable: trainable, exactName: false, file: file, line: line) {
            try constant(initialValue, name: "initial_value", file: file, line: line)
        }
    }

    /// A variable initialised by running `initialValue` (e.g. a random initialiser), which
    /// must have a fully defined shape.
    public func variable(
        initialValue: @escaping () throws -> Output, name: String? = nil, trainable: Bool = true,
        file: String = #fileID, line: Int = #line
    ) throws -> Variable {
        try makeVariable(name: name, trainable: trainable, exactName: false, file: file, line: line, initialValue)
    }

    /// `variable(initialValue:name:)`, named exactly `name` in the current scope when
    /// `exactName` (an error if the name is taken) rather than made unique.
    func variable(
        initialValue: @escaping () throws -> Output, name: String, trainable: Bool, exactName: Bool, file: String, line: Int
    ) throws -> Variable {
        try makeVariable(name: name, trainable: trainable, exactName: exactName, file: file, line: line, initialValue)
    }

    private func makeVariable(
        name: String?, trainable: Bool, exactName: Bool, file: String, line: Int, _ initialValue: () throws -> Output
    ) throws -> Variable {
        let location = SourceLocation(fileID: file, line: line)
        let scope = reserveName(name ?? "Variable")
        if exactName, let name, scope != name {
            throw SomaError.invalidArgument("Cannot create variable \(name): the name is already in use as a scope (at \(location))")
        }
        return try withExactScope(scope) {
            let initial = try initialValue()
            guard initial.shape.isFullyDefined else {
                throw SomaError.invalidArgument(
                    "initial value for variable '\(scope)' must have a fully defined shape, but has shape \(initial.shape)"
                    + " (created at \(location))")
            }
            let refNode = try addNode(
                op: "VariableV2", inputs: [],
                attrs: ["shape": .shape(initial.shape), "dtype": .type(initial.dtype)],
                name: scope, location: location, uniquifyName: false)
            let ref = Output(graph: self, node: refNode, index: 0)
            let assign = try output("Assign", [ref, initial], name: "Assign", file: file, line: line)
            let read = try output("Identity", [ref], name: "read", file: file, line: line)
            let variable = Variable(ref: ref, initializer: assign.node, value: read, trainable: trainable)
            register(variable)
            return variable
        }
    }

    /// One op that runs every variable's initializer (TF's
    /// `global_variables_initializer`, a `NoOp` named `init`).
    public func globalVariablesInitializer(name: String = "init", file: String = #fileID, line: Int = #line) throws -> Node {
        try noOp(name: name, controlInputs: variables.compactMap(\.initializer), file: file, line: line)
    }

    /// The variables optimisers update by default.
    public var trainableVariables: [Variable] { variables.filter(\.trainable) }
}

extension Graph {
    /// Lists the variables of a graph loaded from a file as ``variables``: every
    /// `VariableV2` and `VarHandleOp`, with its initializer (`<name>/Assign` or
    /// `<name>/Assign…VariableOp`, else the one write not fed by a `RestoreV2`) and its read
    /// (`<name>/read`, `<name>/Read/ReadVariableOp`, else the variable's own output).
    ///
    /// - Parameter trainable: which are trainable (TF1's `trainable_variables` collection
    ///   when the file has one); by default every floating-point variable except the
    ///   global step.
    func recoverVariables(trainable: ((Node) -> Bool)? = nil) {
        let nodes = self.nodes
        var variables: [Node] = []
        var writes: [ObjectIdentifier: [Node]] = [:]
        var byName: [String: Node] = [:]
        for node in nodes {
            byName[node.name] = node
            if node.definition.traits.contains(.variable) { variables.append(node) }
            if ["Assign", "AssignVariableOp"].contains(node.op), let target = node.inputs.first?.throughIdentities.node,
               target.definition.traits.contains(.variable) {
                writes[ObjectIdentifier(target), default: []].append(node)
            }
        }
        func restored(_ write: Node) -> Bool {
            guard write.inputs.count > 1 else { return false }
            return write.inputs[1].throughIdentities.node.op == "RestoreV2"
        }
        // Whether a write's value reads a variable (an update, not an initializer), looking
        // a bounded way up.
        func readsState(_ write: Node) -> Bool {
            var stack = write.inputs.dropFirst().map(\.node), seen = Set<ObjectIdentifier>(), budget = 10_000
            while let node = stack.popLast(), budget > 0 {
                guard seen.insert(ObjectIdentifier(node)).inserted else { continue }
                budget -= 1
                if node.definition.traits.contains(.variable) { return true }
                stack += node.inputs.map(\.node)
            }
            return budget == 0
        }
        for v in variables {
            let candidates = writes[ObjectIdentifier(v)] ?? []
            let initializer = candidates.first { $0.name == v.name + "/Assign" || $0.name.hasPrefix(v.name + "/Assign") }
                ?? candidates.first { !restored($0) && !readsState($0) }
            let read = byName[v.name + "/read"] ?? byName[v.name + "/Read/ReadVariableOp"]
            let valueDType = v.type("dtype") ?? v.outputTypes[0]
            let isTrainable = trainable?(v) ?? (valueDType.isFloatingPoint && v.name != "global_step")
            register(Variable(ref: Output(graph: self, node: v, index: 0), initializer: initializer,
                              value: Output(graph: self, node: read ?? v, index: 0), trainable: isTrainable))
        }
    }
}

