/// Batch normalisation over the last axis of NHWC (or `[N, C]`) input with learned scale
/// and offset and moving averages for inference (Keras' `BatchNormalization`, TF1's
/// `tf.compat.v1.layers.batch_normalization`).
///
/// While training (``Layer/training`` or the learning phase true) it normalises by the
/// batch's statistics (`FusedBatchNormV3`), otherwise by the moving averages; the
/// moving-average updates (`moving ← moving − (moving − batch) · (1 − momentum)`, TF's
/// `assign_moving_average`) go to ``Graph/updateOps``, which `minimize` and `fit` run, and
/// leave the averages unchanged while not training. The moving variance averages the
/// batch's population variance, as Keras 3 does (TF1's fused layer used the
/// Bessel-corrected one). Weights: `gamma` (ones), `beta`
/// (zeros), `moving_mean` (zeros), `moving_variance` (ones), the last two not trainable.
public final class BatchNormalization: Layer {
    public let momentum: Double
    public let epsilon: Double
    public private(set) var gamma: Variable?, beta: Variable?, movingMean: Variable?, movingVariance: Variable?

    public init(momentum: Double = 0.99, epsilon: Double = 0.001, name: String? = nil) {
        self.momentum = momentum
        self.epsilon = epsilon
        super.init(kind: "batch_normalization", name: name)
    }

    override public func build(_ inputs: [Output]) throws {
        let x = inputs[0]
        guard let rank = x.shape.rank, rank == 4 || rank == 2 else {
            throw SomaError.invalidArgument("batch_normalization '\(name)': input must be [N, H, W, C] or [N, C], but "
                                            + "\(x.name) has shape \(x.shape)")
        }
        let c = try lastDimension(x)
        gamma = try addWeight("gamma", shape: [c], dtype: x.dtype, initializer: .ones)
        beta = try addWeight("beta", shape: [c], dtype: x.dtype, initializer: .zeros)
        movingMean = try addWeight("moving_mean", shape: [c], dtype: x.dtype, initializer: .zeros, trainable: false)
        movingVariance = try addWeight("moving_variance", shape: [c], dtype: x.dtype, initializer: .ones, trainable: false)
    }

    override public func call(_ inputs: [Output]) throws -> Output {
        let x = inputs[0], g = x.graph
        let rank = x.shape.rank ?? 0, channels = try lastDimension(x)
        let (gamma, beta, movingMean, movingVariance) = (gamma!, beta!, movingMean!, movingVariance!)
        // FusedBatchNormV3 wants NHWC: a [N, C] input is [N, 1, 1, C].
        let input = rank == 2 ? try reshape(x, [-1, 1, 1, channels]) : x
        func normalize(training: Bool) throws -> [Output] {
            let r = try fusedBatchNorm(input, scale: gamma.value, offset: beta.value, mean: movingMean.value,
                                       variance: movingVariance.value, epsilon: epsilon, isTraining: training)
            return training ? [r.y, r.batchMean, r.batchVariance] : [r.y, movingMean.value, movingVariance.value]
        }
        let results = try cond(trainingSwitch(in: g), then: { try normalize(training: true) },
                               else: { try normalize(training: false) }, name: "cond")
        let decay = try x.scalarLike(1 - momentum, file: "", line: 0)
        // FusedBatchNormV3 reports the batch variance Bessel-corrected (÷ (m − 1)); Keras
        // averages the population variance (÷ m), m = N·H·W.
        let m = try cast(size(input), to: x.dtype) / Double(channels)
        let populationVariance = try results[2] * ((m - 1) / m)
        for (average, value) in [(movingMean, results[1]), (movingVariance, populationVariance)] {
            let update = try average.assignSub(multiply(subtract(average.value, value), decay))
            g.addToCollection(Graph.updateOps, update.node)
        }
        return rank == 2 ? try reshape(results[0], [-1, channels]) : results[0]
    }
}

/// Batch normalisation as a function (TF1's `tf.compat.v1.layers.batch_normalization(x,
/// training=)`): a ``BatchNormalization`` layer switched by `training`.
///
/// - Returns: the normalised tensor, shaped like `x`.
public func batchNormalization(_ x: Output, training: Output, momentum: Double = 0.99, epsilon: Double = 0.001,
                               name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    let layer = BatchNormalization(momentum: momentum, epsilon: epsilon, name: name)
    layer.training = training
    return try layer(x, file: file, line: line)
}

/// Normalisation of each example over its last axis, with learned scale and offset
/// (Keras' `LayerNormalization`): `(x − mean) / √(variance + ε) · gamma + beta`, shaped
/// like `x`. Weights `gamma [d]` (ones), `beta [d]` (zeros).
public final class LayerNormalization: Layer {
    public let epsilon: Double
    public private(set) var gamma: Variable?, beta: Variable?

    public init(epsilon: Double = 0.001, name: String? = nil) {
        self.epsilon = epsilon
        super.init(kind: "layer_normalization", name: name)
    }

    override public func build(_ inputs: [Output]) throws {
        let d = try lastDimension(inputs[0])
        gamma = try addWeight("gamma", shape: [d], dtype: inputs[0].dtype, initializer: .ones)
        beta = try addWeight("beta", shape: [d], dtype: inputs[0].dtype, initializer: .zeros)
    }

    override public func call(_ inputs: [Output]) throws -> Output {
        let x = inputs[0]
        guard let rank = x.shape.rank else {
            throw SomaError.invalidArgument("layer_normalization '\(name)': the rank of \(x.name) must be known")
        }
        let mean = try reduceMean(x, axis: [rank - 1], keepDims: true)
        let variance = try reduceMean(squaredDifference(x, mean), axis: [rank - 1], keepDims: true)
        let scale = try rsqrt(variance + epsilon) * gamma!.value
        return try (x - mean) * scale + beta!.value
    }
}
