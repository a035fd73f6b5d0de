extension Graph {
    /// A model input (Keras' `Input(shape:)`): a placeholder `[batch, shape…]` whose batch
    /// dimension is left open.
    public func input(shape: [Int?], dtype: DType = .float32, name: String = "input",
                      file: String = #fileID, line: Int = #line) throws -> Output {
        try placeholder(dtype, shape: TensorShape([nil] + shape), name: name, file: file, line: line)
    }
}

/// `x`'s leading dimensions followed by `last`: static where only the batch is unknown,
/// else computed from `shape(x)`.
func shapeReplacingLast(of x: Output, with last: [Int]) throws -> Output {
    let dims = x.shape.dimensions ?? []
    if x.shape.rank != nil, dims.dropFirst().allSatisfy({ $0 != nil }) {
        return try x.graph.constant(Tensor(([-1] + dims.dropFirst().dropLast().map { $0! } + last).map { Int32($0) }))
    }
    let leading = try stridedSlice(shape(x), begin: [0], end: [-1])
    return try concat([leading, x.graph.constant(Tensor(last.map { Int32($0) }))], axis: 0)
}

/// A fully connected layer, `activation(x · kernel + bias)` on the last axis (Keras'
/// `Dense`): `[…, in]` → `[…, units]`. Weights `kernel [in, units]` (Glorot uniform) and
/// `bias [units]` (zeros).
public final class Dense: Layer {
    public let units: Int
    public let activation: ActivationFunction
    public let useBias: Bool
    let kernelInitializer: Initializer
    let kernelRegularizer: Regularizer?
    public private(set) var kernel: Variable?
    public private(set) var bias: Variable?

    public init(_ units: Int, activation: ActivationFunction = .linear, useBias: Bool = true,
                kernelInitializer: Initializer = .glorotUniform, kernelRegularizer: Regularizer? = nil, name: String? = nil) {
        self.units = units
        self.activation = activation
        self.useBias = useBias
        self.kernelInitializer = kernelInitializer
        self.kernelRegularizer = kernelRegularizer
        super.init(kind: "dense", name: name)
    }

    override public func build(_ inputs: [Output]) throws {
        kernel = try addWeight("kernel", shape: [lastDimension(inputs[0]), units], initializer: kernelInitializer,
                               regularizer: kernelRegularizer)
        if useBias { bias = try addWeight("bias", shape: [units], initializer: .zeros) }
    }

    override public func call(_ inputs: [Output]) throws -> Output {
        let x = inputs[0]
        let inner = try lastDimension(x)
        let flat = x.shape.rank == 2 ? x : try reshape(x, [-1, inner])
        var y = try matmul(flat, kernel!.value)
        if let bias { y = try biasAdd(y, bias.value) }
        if x.shape.rank != 2 { y = try reshape(y, shapeReplacingLast(of: x, with: [units])) }
        return try activation.apply(y)
    }
}

/// Zeroes a random `rate` of the elements while training and scales the rest by
/// `1 / (1 − rate)`; the identity otherwise (Keras' `Dropout`).
public final class Dropout: Layer {
    public let rate: Double
    public let seed: Int?

    public init(_ rate: Double, seed: Int? = nil, name: String? = nil) {
        self.rate = rate
        self.seed = seed
        super.init(kind: "dropout", name: name)
    }

    override public func call(_ inputs: [Output]) throws -> Output {
        let x = inputs[0]
        return try dropout(x, rate: rate, training: trainingSwitch(in: x.graph), seed: seed, name: "dropout")
    }
}

/// `[batch, d1, d2, …]` → `[batch, d1·d2·…]` (Keras' `Flatten`); the non-batch dimensions
/// must be known.
public final class Flatten: Layer {
    public init(name: String? = nil) { super.init(kind: "flatten", name: name) }

    override public func call(_ inputs: [Output]) throws -> Output {
        let x = inputs[0]
        guard let dims = x.shape.dimensions, dims.count >= 1, dims.dropFirst().allSatisfy({ $0 != nil }) else {
            throw SomaError.invalidArgument("flatten '\(name)': the non-batch dimensions of \(x.name) must be known, "
                                            + "but its shape is \(x.shape)")
        }
        return try reshape(x, [-1, dims.dropFirst().reduce(1) { $0 * $1! }])
    }
}

/// `[batch, …]` → `[batch] + targetShape` (Keras' `Reshape`; one entry may be -1).
public final class Reshape: Layer {
    public let targetShape: [Int]

    public init(_ targetShape: [Int], name: String? = nil) {
        self.targetShape = targetShape
        super.init(kind: "reshape", name: name)
    }

    override public func call(_ inputs: [Output]) throws -> Output {
        let x = inputs[0]
        guard targetShape.contains(-1) else { return try reshape(x, [-1] + targetShape) }
        let batch = try stridedSlice(shape(x), begin: [0], end: [1])
        return try reshape(x, concat([batch, x.graph.constant(Tensor(targetShape.map { Int32($0) }))], axis: 0))
    }
}

/// The element-wise sum of its inputs, all of one shape (Keras' `Add`).
public final class Add: Layer {
    public init(name: String? = nil) { super.init(kind: "add", name: name) }

    override public func call(_ inputs: [Output]) throws -> Output {
        guard inputs.count >= 2 else {
            throw SomaError.invalidArgument("add '\(name)' needs at least 2 inputs, got \(inputs.count)")
        }
        return try inputs.dropFirst().reduce(inputs[0]) { try add($0, $1) }
    }
}

/// Its inputs joined along `axis` (Keras' `Concatenate`, default the last axis).
public final class Concatenate: Layer {
    public let axis: Int

    public init(axis: Int = -1, name: String? = nil) {
        self.axis = axis
        super.init(kind: "concatenate", name: name)
    }

    override public func call(_ inputs: [Output]) throws -> Output {
        guard let rank = inputs[0].shape.rank else {
            throw SomaError.invalidArgument("concatenate '\(name)': the rank of \(inputs[0].name) must be known")
        }
        return try concat(inputs, axis: axis < 0 ? axis + rank : axis)
    }
}

/// Maps integer ids `[batch, …]` to vectors `[batch, …, outputDim]` (Keras' `Embedding`):
/// weight `embeddings [inputDim, outputDim]`, uniform in ±0.05.
public final class Embedding: Layer {
    public let inputDim: Int
    public let outputDim: Int
    public private(set) var embeddings: Variable?

    public init(inputDim: Int, outputDim: Int, name: String? = nil) {
        self.inputDim = inputDim
        self.outputDim = outputDim
        super.init(kind: "embedding", name: name)
    }

    override public func build(_ inputs: [Output]) throws {
        embeddings = try addWeight("embeddings", shape: [inputDim, outputDim], initializer: .randomUniform())
    }

    override public func call(_ inputs: [Output]) throws -> Output {
        let ids = inputs[0]
        guard ids.dtype.isInteger else {
            throw SomaError.invalidArgument("embedding '\(name)' needs integer ids, but \(ids.name) is \(ids.dtype)")
        }
        return try gather(embeddings!.value, indices: ids)
    }
}
