/// How per-element losses become the loss (TF's `tf.compat.v1.losses.Reduction`).
public enum LossReduction: Sendable {
    /// The weighted losses themselves.
    case none
    /// Σ weighted losses.
    case sum
    /// Σ weighted losses / Σ weights.
    case mean
    /// Σ weighted losses / number of loss elements.
    case sumOverBatchSize
    /// Σ weighted losses / number of nonzero weights (TF1's default).
    case sumByNonzeroWeights
}

/// The cost functions of `tf.compat.v1.losses`: per-element losses, weighted (a scalar or
/// a tensor broadcastable to the losses), then reduced.
public enum Losses {
    /// Weights the losses and reduces them (TF's `compute_weighted_loss`).
    public static func computeWeightedLoss(_ losses: Output, weights: Output? = nil,
                                           reduction: LossReduction = .sumByNonzeroWeights) throws -> Output {
        let g = losses.graph
        return try g.withNameScope("weighted_loss") {
            let w = try weights.map { try cast($0, to: losses.dtype) } ?? losses.scalarLike(1, file: "", line: 0)
            let weighted = try multiply(losses, w)
            switch reduction {
            case .none: return weighted
            case .sum: return try reduceSum(weighted)
            case .mean:
                return try divideSafely(reduceSum(weighted), reduceSum(multiply(w, onesLike(losses))))
            case .sumOverBatchSize:
                return try divideSafely(reduceSum(weighted), cast(size(losses), to: losses.dtype))
            case .sumByNonzeroWeights:
                let present = try cast(notEqual(multiply(w, onesLike(losses)), losses.scalarLike(0, file: "", line: 0)), to: losses.dtype)
                return try divideSafely(reduceSum(weighted), reduceSum(present))
            }
        }
    }

    /// Runs `body` in the name scope `name`, its nodes located at the caller's `file:line`.
    private static func scope<R>(_ name: String, _ graph: Graph, _ file: String, _ line: Int,
                                 _ body: () throws -> R) rethrows -> R {
        try graph.withCallSite(file: file, line: line) { try graph.withNameScope(name, body) }
    }

    /// `a / b`, or 0 where `b` is 0 (TF's `div_no_nan`).
    static func divideSafely(_ a: Output, _ b: Output) throws -> Output {
        let zero = try b.scalarLike(0, file: "", line: 0)
        let isZero = try equal(b, zero)
        return try `where`(isZero, zerosLike(a), divide(a, `where`(isZero, onesLike(b), b)))
    }

    /// Mean squared error: `(predictions − labels)²`.
    public static func meanSquaredError(labels: Output, predictions: Output, weights: Output? = nil,
                                        reduction: LossReduction = .sumByNonzeroWeights,
                                        file: String = #fileID, line: Int = #line) throws -> Output {
        try scope("mean_squared_error", labels.graph, file, line) {
            try computeWeightedLoss(squaredDifference(predictions, cast(labels, to: predictions.dtype)), weights: weights, reduction: reduction)
        }
    }

    /// Mean absolute error: `|predictions − labels|` (TF's `absolute_difference`).
    public static func meanAbsoluteError(labels: Output, predictions: Output, weights: Output? = nil,
                                         reduction: LossReduction = .sumByNonzeroWeights,
                                         file: String = #fileID, line: Int = #line) throws -> Output {
        try scope("absolute_difference", labels.graph, file, line) {
            try computeWeightedLoss(abs(subtract(predictions, cast(labels, to: predictions.dtype))), weights: weights, reduction: reduction)
        }
    }

    /// Huber loss: `½e²` for `|e| ≤ delta`, `delta·(|e| − ½delta)` beyond.
    public static func huber(labels: Output, predictions: Output, delta: Double = 1, weights: Output? = nil,
                             reduction: LossReduction = .sumByNonzeroWeights,
                             file: String = #fileID, line: Int = #line) throws -> Output {
        try scope("huber_loss", labels.graph, file, line) {
            let error = try abs(subtract(predictions, cast(labels, to: predictions.dtype)))
            let d = try error.scalarLike(delta, file: "", line: 0)
            let quadratic = try minimum(error, d)
            let linear = try subtract(error, quadratic)
            let loss = try add(multiply(error.scalarLike(0.5, file: "", line: 0), square(quadratic)), multiply(d, linear))
            return try computeWeightedLoss(loss, weights: weights, reduction: reduction)
        }
    }

    /// Hinge loss for labels in {0, 1}: `max(0, 1 − (2·labels − 1)·logits)`.
    public static func hinge(labels: Output, logits: Output, weights: Output? = nil,
                             reduction: LossReduction = .sumByNonzeroWeights,
                             file: String = #fileID, line: Int = #line) throws -> Output {
        try scope("hinge_loss", labels.graph, file, line) {
            let one = try logits.scalarLike(1, file: "", line: 0)
            let signs = try subtract(multiply(logits.scalarLike(2, file: "", line: 0), cast(labels, to: logits.dtype)), one)
            return try computeWeightedLoss(relu(subtract(one, multiply(signs, logits))), weights: weights, reduction: reduction)
        }
    }

    /// Softmax cross-entropy with one-hot (or probability) labels `[batch, classes]`,
    /// optionally smoothed: `labels·(1 − s) + s / classes`.
    public static func softmaxCrossEntropy(onehotLabels: Output, logits: Output, labelSmoothing: Double = 0,
                                           weights: Output? = nil, reduction: LossReduction = .sumByNonzeroWeights,
                                           file: String = #fileID, line: Int = #line) throws -> Output {
        try scope("softmax_cross_entropy_loss", logits.graph, file, line) {
            var labels = try cast(onehotLabels, to: logits.dtype)
            if labelSmoothing > 0, let classes = logits.shape.dimensions?.last ?? nil {
                labels = try add(multiply(labels, logits.scalarLike(1 - labelSmoothing, file: "", line: 0)),
                                 logits.scalarLike(labelSmoothing / Double(classes), file: "", line: 0))
            }
            let perExample = try logits.graph.outputs("SoftmaxCrossEntropyWithLogits", [logits, labels], name: "xentropy", file: "", line: 0)[0]
            return try computeWeightedLoss(perExample, weights: weights, reduction: reduction)
        }
    }

    /// Softmax cross-entropy with class-index labels `[batch]`.
    public static func sparseSoftmaxCrossEntropy(labels: Output, logits: Output, weights: Output? = nil,
                                                 reduction: LossReduction = .sumByNonzeroWeights,
                                                 file: String = #fileID, line: Int = #line) throws -> Output {
        try scope("sparse_softmax_cross_entropy_loss", logits.graph, file, line) {
            let perExample = try logits.graph.outputs("SparseSoftmaxCrossEntropyWithLogits", [logits, labels], name: "xentropy", file: "", line: 0)[0]
            return try computeWeightedLoss(perExample, weights: weights, reduction: reduction)
        }
    }

    /// Binary (or multi-label) cross-entropy on logits, stable for any logit:
    /// `max(x, 0) − x·z + log(1 + e^(−|x|))` (TF's `sigmoid_cross_entropy_with_logits`).
    public static func sigmoidCrossEntropy(labels: Output, logits: Output, labelSmoothing: Double = 0, weights: Output? = nil,
                                           reduction: LossReduction = .sumByNonzeroWeights,
                                           file: String = #fileID, line: Int = #line) throws -> Output {
        try scope("sigmoid_cross_entropy_loss", logits.graph, file, line) {
            var z = try cast(labels, to: logits.dtype)
            if labelSmoothing > 0 {
                z = try add(multiply(z, logits.scalarLike(1 - labelSmoothing, file: "", line: 0)),
                            logits.scalarLike(0.5 * labelSmoothing, file: "", line: 0))
            }
            let loss = try add(subtract(relu(logits), multiply(logits, z)), log1p(exp(negative(abs(logits)))))
            return try computeWeightedLoss(loss, weights: weights, reduction: reduction)
        }
    }
}
