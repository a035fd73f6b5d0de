/// A TF1 variable: state that lives in a ``Session`` across runs.
///
/// Built as TF1 builds `tf.Variable`: a `VariableV2` node `w`, its initial value, an
/// `Assign` node `w/Assign` (the initializer) and an `Identity` `w/read` (the value ops use).
public struct Variable: Sendable {
    /// The `VariableV2` node's output: a reference that `Assign` and optimisers write.
    public let ref: Output
    /// Sets the variable to its initial value.
    public let initializer: Node
    /// The variable's current value (`w/read`).
    public let value: Output
    /// Whether optimisers update it by default.
    public let trainable: Bool

    public var name: String { ref.node.name }
    public var dtype: DType { ref.dtype }
    public var shape: TensorShape { ref.shape }
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
        try makeVariable(name: name, trainable: trainable, file: file, line: line) {
            try constant(initialValue, name: "initial_value", file: file, line: line)
        }
    }

    /// A variable initialised by running `initialValue` (e.g. a random initialiser), which
    /// must have a fully defined shape.
    public func variable(
        initialValue: @escaping () throws -> Output, name: String? = nil, trainable: Bool = true,
        file: String = #fileID, line: Int = #line
    ) throws -> Variable {
        try makeVariable(name: name, trainable: trainable, file: file, line: line, initialValue)
    }

    private func makeVariable(
        name: String?, trainable: Bool, file: String, line: Int, _ initialValue: () throws -> Output
    ) throws -> Variable {
        let location = SourceLocation(fileID: file, line: line)
        let scope = reserveName(name ?? "Variable")
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
        try noOp(name: name, controlInputs: variables.map(\.initializer), file: file, line: line)
    }

    /// The variables optimisers update by default.
    public var trainableVariables: [Variable] { variables.filter(\.trainable) }
}
