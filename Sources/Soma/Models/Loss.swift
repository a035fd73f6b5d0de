/// A model's training objective by Keras' name, reduced as Keras reduces it (the mean
/// over the batch).
///
/// Probabilities straight from a `Softmax` or `Sigmoid` op are scored through that op's
/// logits (as Keras does), so `fromLogits: false` on a softmax output is as stable as
/// logits; other probabilities are clipped to `[1e-7, 1 − 1e-7]` first.
public enum Loss: Sendable {
    /// Class indices `[batch]` against class scores `[batch, classes]`.
    case sparseCategoricalCrossentropy(fromLogits: Bool = false)
    /// One-hot (or soft) labels `[batch, classes]` against class scores.
    case categoricalCrossentropy(fromLogits: Bool = false)
    /// 0/1 labels against one probability (or logit) per output.
    case binaryCrossentropy(fromLogits: Bool = false)
    case meanSquaredError
    case meanAbsoluteError
    case huber(delta: Double = 1)

    /// Keras' name for the loss (`sparse_categorical_crossentropy`).
    public var kerasName: String {
        switch self {
        case .sparseCategoricalCrossentropy: "sparse_categorical_crossentropy"
        case .categoricalCrossentropy: "categorical_crossentropy"
        case .binaryCrossentropy: "binary_crossentropy"
        case .meanSquaredError: "mean_squared_error"
        case .meanAbsoluteError: "mean_absolute_error"
        case .huber: "huber"
        }
    }

    /// The labels' dtype and shape for predictions shaped like `output`: class indices for
    /// the sparse loss, otherwise the output's own.
    func labelSpec(for output: Output) throws -> (DType, TensorShape) {
        if case .sparseCategoricalCrossentropy = self {
            guard let dims = output.shape.dimensions, !dims.isEmpty else {
                throw SomaError.invalidArgument("sparse_categorical_crossentropy needs a model output of known rank, "
                                                + "but \(output.name) has shape \(output.shape)")
            }
            return (.int64, TensorShape(Array(dims.dropLast())))
        }
        return (output.dtype, output.shape)
    }

    /// The scalar loss of `predictions` against `labels`.
    func output(labels: Output, predictions p: Output) throws -> Output {
        let g = p.graph
        let eps = 1e-7
        /// The logits behind `p` when it is `op(logits)`.
        func logits(through op: String) -> Output? {
            guard p.node.op == op, let input = p.node.inputs.first else { return nil }
            return Output(graph: g, node: input.node, index: input.index)
        }
        func clipped(_ x: Output) throws -> Output { try minimum(maximum(x, eps), 1 - eps) }
        switch self {
        case .sparseCategoricalCrossentropy(let fromLogits):
            if let z = fromLogits ? p : logits(through: "Softmax") {
                // Per-position classes ([B, T, C] against [B, T]) flatten to rows, as Keras does.
                let classes = try Layer.staticLast(z, "sparse_categorical_crossentropy")
                let (rows, flatLabels) = z.shape.rank == 2 ? (z, labels) : (try reshape(z, [-1, classes]), try reshape(labels, [-1]))
                return try Losses.sparseSoftmaxCrossEntropy(labels: flatLabels, logits: rows, reduction: .sumOverBatchSize)
            }
            let depth = try Layer.staticLast(p, "sparse_categorical_crossentropy")
            let onehot = try oneHot(labels, depth: depth, dtype: p.dtype)
            return try reduceMean(negative(reduceSum(onehot * log(clipped(p / reduceSum(p, axis: [-1], keepDims: true))), axis: [-1])))
        case .categoricalCrossentropy(let fromLogits):
            if let z = fromLogits ? p : logits(through: "Softmax") {
                return try Losses.softmaxCrossEntropy(onehotLabels: cast(labels, to: z.dtype), logits: z, reduction: .sumOverBatchSize)
            }
            let y = try cast(labels, to: p.dtype)
            return try reduceMean(negative(reduceSum(y * log(clipped(p / reduceSum(p, axis: [-1], keepDims: true))), axis: [-1])))
        case .binaryCrossentropy(let fromLogits):
            if let z = fromLogits ? p : logits(through: "Sigmoid") {
                return try Losses.sigmoidCrossEntropy(labels: labels, logits: z, reduction: .sumOverBatchSize)
            }
            let y = try cast(labels, to: p.dtype), q = try clipped(p)
            return try reduceMean(negative(y * log(q) + (1 - y) * log(1 - q)))
        case .meanSquaredError:
            return try Losses.meanSquaredError(labels: labels, predictions: p, reduction: .sumOverBatchSize)
        case .meanAbsoluteError:
            return try Losses.meanAbsoluteError(labels: labels, predictions: p, reduction: .sumOverBatchSize)
        case .huber(let delta):
            return try Losses.huber(labels: labels, predictions: p, delta: delta, reduction: .sumOverBatchSize)
        }
    }
}

extension Layer {
    /// The known last dimension of `x`, for `what`'s message otherwise.
    static func staticLast(_ x: Output, _ what: String) throws -> Int {
        guard let d = x.shape.dimensions?.last ?? nil else {
            throw SomaError.invalidArgument("\(what): the last dimension of \(x.name) must be known, but its shape is \(x.shape)")
        }
        return d
    }
}
