/// Sources, state and plumbing: constants, placeholders, variables, identity and grouping.
enum StateOps {
    static let definitions: [OpDef] = [
        OpDef("Const", outputs: ["output: dtype"], attrs: [.tensor("value"), .type("dtype", DType.any.filter { $0 != .resource })],
              gradient: .notDifferentiable) { c in
            guard case .tensor(let t)? = c.attrs["value"] else { return [.unknown] }
            guard t.dtype == c.type("dtype") else {
                throw ShapeError("Const value has dtype \(t.dtype) but attr dtype is \(c.type("dtype")!)")
            }
            return [TensorShape(t.shape)]
        },
        OpDef("Placeholder", outputs: ["output: dtype"],
              attrs: [.type("dtype", DType.any), .shape("shape", default: .unknown)],
              traits: [.feedable], gradient: .notDifferentiable) { c in [c.shapeAttr("shape")] },
        OpDef("PlaceholderWithDefault", inputs: ["input: dtype"], outputs: ["output: dtype"],
              attrs: [.type("dtype", DType.any), .shape("shape")], traits: [.feedable, .forwardsInput], gradient: .notDifferentiable) { c in
            let declared = c.shapeAttr("shape")
            guard declared.isCompatible(with: c.shape(0)) else {
                throw ShapeError("The default value's shape \(c.shape(0)) is not compatible with the declared shape \(declared)")
            }
            return [declared]
        },
        OpDef("VariableV2", outputs: ["ref: Ref(dtype)"],
              attrs: [.shape("shape"), .type("dtype"), .string("container", default: ""),
                      .string("shared_name", default: "")],
              traits: [.stateful, .variable], gradient: .notDifferentiable) { c in [c.shapeAttr("shape")] },
        OpDef("Assign", inputs: ["ref: Ref(T)", "value: T"], outputs: ["output_ref: Ref(T)"],
              attrs: [.type("T"), .bool("validate_shape", default: true), .bool("use_locking", default: true)],
              traits: [.stateful], gradient: .notDifferentiable) { c in
            guard c.bool("validate_shape") else { return [c.shape(1)] }
            guard let merged = c.shape(0).merged(with: c.shape(1)) else {
                throw ShapeError("Shapes must be equal rank, but are \(c.shape(0)) and \(c.shape(1))")
            }
            return [merged]
        },
        OpDef("AssignAdd", inputs: ["ref: Ref(T)", "value: T"], outputs: ["output_ref: Ref(T)"],
              attrs: [.type("T", DType.numeric), .bool("use_locking", default: false)],
              traits: [.stateful], gradient: .notDifferentiable, shape: assignUpdateShape),
        OpDef("AssignSub", inputs: ["ref: Ref(T)", "value: T"], outputs: ["output_ref: Ref(T)"],
              attrs: [.type("T", DType.numeric), .bool("use_locking", default: false)],
              traits: [.stateful], gradient: .notDifferentiable, shape: assignUpdateShape),
        OpDef("Identity", inputs: ["input: T"], outputs: ["output: T"], attrs: [.type("T", DType.any)],
              traits: [.forwardsInput], shape: Shapes.unchanged),
        OpDef("StopGradient", inputs: ["input: T"], outputs: ["output: T"], attrs: [.type("T")],
              traits: [.forwardsInput], gradient: .notDifferentiable, shape: Shapes.unchanged),
        OpDef("NoOp", gradient: .notDifferentiable, shape: Shapes.none),
        // Each input passes through unchanged: a function call's outputs, once inlined.
        OpDef("IdentityN", inputs: ["input: T"], outputs: ["output: T"], attrs: [.types("T")],
              shape: { c in (0..<c.inputCount).map { c.shape($0) } }),
    ]

    static let assignUpdateShape: ShapeFunction = { c in
        guard let merged = c.shape(0).merged(with: c.shape(1)) else {
            throw ShapeError("Shapes must be equal, but are \(c.shape(0)) and \(c.shape(1))")
        }
        return [merged]
    }
}

// MARK: - Builders

extension Graph {
    /// A constant node holding `value` (TF's `tf.constant`).
    public func constant(_ value: Tensor, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
        try output("Const", [], attrs: ["value": .tensor(value), "dtype": .type(value.dtype)],
                   name: name ?? "Const", file: file, line: line)
    }

    /// A scalar constant.
    public func constant<T: TensorScalar>(_ scalar: T, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
        try constant(Tensor(scalar), name: name, file: file, line: line)
    }

    /// A constant from row-major scalars.
    public func constant<T: TensorScalar>(
        _ scalars: [T], shape: [Int], name: String? = nil, file: String = #fileID, line: Int = #line
    ) throws -> Output {
        try constant(Tensor(scalars, shape: shape), name: name, file: file, line: line)
    }

    /// A value fed at run time (TF's `tf.compat.v1.placeholder`); `shape` may be partial.
    public func placeholder(
        _ dtype: DType, shape: TensorShape = .unknown, name: String? = nil, file: String = #fileID, line: Int = #line
    ) throws -> Output {
        try output("Placeholder", [], attrs: ["dtype": .type(dtype), "shape": .shape(shape)],
                   name: name ?? "Placeholder", file: file, line: line)
    }

    /// A no-op node that does nothing but order its control inputs.
    @discardableResult
    public func noOp(name: String? = nil, controlInputs: [Node] = [], file: String = #fileID, line: Int = #line) throws -> Node {
        try addNode(op: "NoOp", inputs: [], name: name ?? "NoOp", controlInputs: controlInputs,
                    location: SourceLocation(fileID: file, line: line))
    }

    /// A node that runs all of `nodes` (TF's `tf.group`).
    public func group(_ nodes: [Node], name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Node {
        try noOp(name: name ?? "group_deps", controlInputs: nodes, file: file, line: line)
    }
}

/// `input`, unchanged (TF's `tf.identity`); also the classic *linear* activation.
public func identity(_ input: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try input.graph.output("Identity", [input], name: name, file: file, line: line)
}

/// The linear activation `f(x) = x`, an `Identity` node.
public func linear(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try identity(x, name: name ?? "linear", file: file, line: line)
}

/// `input`, with no gradient flowing back through it (TF's `tf.stop_gradient`).
public func stopGradient(_ input: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try input.graph.output("StopGradient", [input], name: name, file: file, line: line)
}

/// Each of `inputs`, unchanged, as the outputs of one node (TF's `tf.identity_n`).
public func identityN(_ inputs: [Output], name: String? = nil, file: String = #fileID, line: Int = #line) throws -> [Output] {
    guard let first = inputs.first else { throw SomaError.invalidArgument("identityN needs at least one input") }
    let node = try first.graph.addNode(op: "IdentityN", inputs: inputs, name: name ?? "IdentityN",
                                       location: SourceLocation(fileID: file, line: line))
    return (0..<node.outputCount).map { Output(graph: first.graph, node: node, index: $0) }
}

/// `input` unless the node is fed (TF's `tf.compat.v1.placeholder_with_default`).
public func placeholderWithDefault(
    _ input: Output, shape: TensorShape, name: String? = nil, file: String = #fileID, line: Int = #line
) throws -> Output {
    try input.graph.output("PlaceholderWithDefault", [input], attrs: ["dtype": .type(input.dtype), "shape": .shape(shape)],
                           name: name, file: file, line: line)
}

extension StateOps {
    /// Gradients: plumbing passes the gradient through.
    static let gradients: [String: GradientFunction] = [
        "Identity": { c in [try c.grad()] },
        "IdentityN": { c in try (0..<c.node.outputCount).map { c.hasGrad($0) ? try c.grad($0) : nil } },
    ]
}
