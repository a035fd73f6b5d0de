/// A Keras-style layer: a small object that owns its variables and, called on tensors,
/// adds TF ops to their graph.
///
/// ```swift
/// let dense = Dense(64, activation: .relu)
/// let h = try dense(x)            // builds dense/kernel, dense/bias, then dense/MatMul …
/// let h2 = try dense(y)           // shares the variables; ops under dense_1/
/// ```
///
/// The first call builds the layer for its input's shape (Keras' `build`): the layer takes
/// a unique name in the graph (`dense`, `dense_1`, …, unless given one) and creates its
/// variables as `<name>/<weight>` with Keras' weight names and default initialisers. Every
/// node a layer creates is located at the user's call (`model.swift:12`), not inside Soma.
/// Layers that behave differently in training (``Dropout``, ``BatchNormalization``) read
/// the graph's ``Graph/learningPhase()`` unless given a `training` tensor.
///
/// Subclasses override ``build(_:)`` (create weights with ``addWeight(_:shape:dtype:initializer:trainable:regularizer:)``)
/// and ``call(_:)`` (the computation, on inputs of the built shapes).
///
/// Thread-safety: build a model on one thread; a built graph runs anywhere.
open class Layer {
    /// Keras' name stem for the class (`dense`, `conv2d`): the default name's base.
    public let kind: String
    private let requestedName: String?
    /// The layer's name in its graph; set when first called.
    public private(set) var name: String
    /// The variables the layer created, in creation order (Keras' `weights`).
    public private(set) var variables: [Variable] = []
    /// The graph the layer was built in; `nil` before the first call.
    public private(set) weak var graph: Graph?
    /// Whether ``build(_:)`` has run.
    public var isBuilt: Bool { graph != nil }
    /// The output of the layer's latest call.
    public private(set) var output: Output?
    /// Penalties the layer adds to the training loss (its weights' regularisers; Keras'
    /// `layer.losses`), which `compile` adds to the model's loss.
    public internal(set) var losses: [Output] = []
    /// An explicit training switch (a boolean scalar); the graph's learning phase when `nil`.
    public var training: Output?

    public init(kind: String, name: String?) {
        self.kind = kind
        self.requestedName = name
        self.name = name ?? kind
    }

    /// The layer's class name as Keras prints it in summaries (`Dense`, `MaxPooling2D`).
    open var typeName: String { String(describing: type(of: self)) }

    /// The trainable variables (Keras' `trainable_weights`).
    public var trainableVariables: [Variable] { variables.filter(\.trainable) }

    /// How many numbers the layer's variables hold.
    public var parameterCount: Int { variables.reduce(0) { $0 + $1.elementCount } }

    /// Applies the layer to one tensor.
    public func callAsFunction(_ input: Output, file: String = #fileID, line: Int = #line) throws -> Output {
        try apply([input], file: file, line: line)
    }

    /// Applies the layer to several tensors (``Add``, ``Concatenate``, ``MultiHeadAttention``).
    public func callAsFunction(_ inputs: [Output], file: String = #fileID, line: Int = #line) throws -> Output {
        try apply(inputs, file: file, line: line)
    }

    private func apply(_ inputs: [Output], file: String, line: Int) throws -> Output {
        guard let g = inputs.first?.graph else {
            throw SomaError.invalidArgument("\(kind) '\(name)' called on no inputs (at \(file):\(line))")
        }
        return try g.withCallSite(file: file, line: line) {
            let scope: String
            if let built = graph {
                guard built === g.root else {
                    throw SomaError.invalidArgument("layer '\(name)' was built in another graph (at \(file):\(line))")
                }
                scope = g.withRootScope { g.reserveName(name) }
            } else {
                name = g.withRootScope { g.reserveName(requestedName ?? kind) }
                scope = name
                graph = g.root
                do {
                    try g.withExactScope(scope) { try build(inputs) }
                } catch {
                    graph = nil
                    variables = []
                    throw error
                }
            }
            let result = try g.withExactScope(scope) { try call(inputs) }
            output = result
            g.recordLayerCall(.init(layer: self, inputs: inputs, output: result))
            return result
        }
    }

    /// Creates the layer's variables for inputs like `inputs` (shapes known where the
    /// weights need them). Runs once, in the layer's name scope.
    open func build(_ inputs: [Output]) throws {}

    /// The layer's computation, in its name scope.
    open func call(_ inputs: [Output]) throws -> Output {
        preconditionFailure("\(type(of: self)) must override call(_:)")
    }

    /// A variable `<layer>/<name>` of `shape`, owned by the layer (Keras' `add_weight`),
    /// whose `regularizer` penalty joins ``losses``.
    public func addWeight(_ weightName: String, shape: [Int], dtype: DType = .float32, initializer: Initializer,
                          trainable: Bool = true, regularizer: Regularizer? = nil) throws -> Variable {
        let v = try addWeight(weightName) { g, fullName in
            try g.variable(fullName, shape: shape, dtype: dtype, initializer: initializer, trainable: trainable)
        }
        if let regularizer, let g = graph {
            let penalty = try g.withRootScope {
                try g.withNameScope("\(name)/\(weightName)/Regularizer") { try regularizer.penalty(v.value) }
            }
            losses.append(penalty)
        }
        return v
    }

    /// A variable `<layer>/<name>` made by `make(graph, fullName)` (an orthogonal or
    /// constant initial value), owned by the layer.
    public func addWeight(_ weightName: String, _ make: (Graph, String) throws -> Variable) throws -> Variable {
        guard let g = graph else { preconditionFailure("addWeight called outside build(_:)") }
        let v = try g.withRootScope { try make(g, "\(name)/\(weightName)") }
        variables.append(v)
        return v
    }

    /// The training switch for this call: ``training`` or the graph's learning phase.
    public func trainingSwitch(in g: Graph) throws -> Output { try training ?? g.learningPhase() }

    /// The last dimension of `input`, which must be known to build a layer.
    func lastDimension(_ input: Output) throws -> Int {
        guard let d = input.shape.dimensions?.last ?? nil else {
            throw SomaError.invalidArgument("\(kind) '\(name)': the last dimension of \(input.name) must be known, "
                                            + "but its shape is \(input.shape)")
        }
        return d
    }

    /// `input`'s shape, which must have `rank` dimensions, the known ones as Ints (-1 unknown).
    func dimensions(_ input: Output, rank: Int) throws -> [Int] {
        guard let dims = input.shape.dimensions, dims.count == rank else {
            throw SomaError.invalidArgument("\(kind) '\(name)' expects rank-\(rank) input, but \(input.name) has shape \(input.shape)")
        }
        return dims.map { $0 ?? -1 }
    }
}

/// A weight penalty added to the training loss (Keras' `regularizers`).
public enum Regularizer: Sendable {
    /// `factor · Σ w²`.
    case l2(Double)
    /// `factor · Σ |w|`.
    case l1(Double)
    /// `l1 · Σ |w| + l2 · Σ w²`.
    case l1l2(l1: Double, l2: Double)

    /// The penalty for `w`, a scalar.
    public func penalty(_ w: Output) throws -> Output {
        switch self {
        case .l2(let f): return try reduceSum(square(w)) * f
        case .l1(let f): return try reduceSum(abs(w)) * f
        case .l1l2(let a, let b): return try reduceSum(abs(w)) * a + reduceSum(square(w)) * b
        }
    }
}

extension Variable {
    /// The number of elements of a fully defined variable (0 when its shape is unknown).
    public var elementCount: Int {
        guard let dims = shape.dimensions, dims.allSatisfy({ $0 != nil }) else { return 0 }
        return dims.reduce(1) { $0 * $1! }
    }
}
