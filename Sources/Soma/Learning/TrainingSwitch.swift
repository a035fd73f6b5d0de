/// Layers whose behaviour depends on whether the model is training, switched by a boolean
/// tensor — one graph trains and evaluates, as in TF1's `tf.compat.v1.layers` and Keras:
///
/// ```swift
/// let training = try placeholderWithDefault(g.constant(false), shape: .scalar, name: "training")
/// let h = try batchNormalization(conv, training: training, name: "bn1")
/// let d = try dropout(h, rate: 0.3, training: training)
/// let train = try AdamOptimizer().minimize(loss)   // also runs the moving-average updates
/// ```

/// Dropout while `training` is true, the identity otherwise (TF1's
/// `tf.compat.v1.layers.dropout(x, rate, training=)`): a `cond` on `training` whose
/// training branch keeps each element with probability `1 − rate`, scaled by
/// `1 / (1 − rate)`.
///
/// The mask is drawn outside the branch (every run), so the branch itself is a pure
/// function and differentiates like any `cond`.
public func dropout(_ x: Output, rate: Double, training: Output, seed: Int? = nil, name: String? = nil,
                    file: String = #fileID, line: Int = #line) throws -> Output {
    guard (0..<1).contains(rate) else {
        throw SomaError.invalidArgument("dropout rate must be in [0, 1), but is \(rate) (at \(file):\(line))")
    }
    let g = x.graph
    return try g.withNameScope(name ?? "dropout") {
        let uniform = try g.randomOp("RandomUniform", shape(x), x.dtype, seed, "random_uniform", file, line)
        let keep = try multiply(cast(greaterEqual(uniform, x.scalarLike(rate, file: file, line: line)), to: x.dtype),
                                x.scalarLike(1 / (1 - rate), file: file, line: line))
        return try cond(training, then: { try multiply(x, keep) }, else: { try identity(x) }, name: "cond", file: file, line: line)
    }
}

/// Batch normalisation over the last axis of NHWC (or `[N, C]`) `x` with learned scale
/// (`gamma`) and offset (`beta`) and moving averages for inference (TF1's
/// `tf.compat.v1.layers.batch_normalization(x, training=)`, Keras' `BatchNormalization`).
///
/// When `training` is true it normalises by the batch's statistics, otherwise by the
/// moving averages; the moving-average updates
/// (`moving ← moving − (moving − batch) · (1 − momentum)`, TF's `assign_moving_average`)
/// are added to ``Graph/updateOps``, which `minimize` runs. While not training they leave
/// the averages unchanged. Variables: `<name>/gamma`, `beta`, `moving_mean`,
/// `moving_variance` (the last two not trainable).
///
/// - Returns: the normalised tensor, shaped like `x`.
public func batchNormalization(_ x: Output, training: Output, momentum: Double = 0.99, epsilon: Double = 0.001,
                               name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    let g = x.graph
    guard let rank = x.shape.rank, rank == 4 || rank == 2, let channels = x.shape.dimensions?.last ?? nil else {
        throw SomaError.invalidArgument("batchNormalization: x must be [N, H, W, C] or [N, C] with C known, but has shape "
                                        + "\(x.shape) (at \(file):\(line))")
    }
    let scope = g.reserveName(name ?? "batch_normalization")
    func variable(_ v: String, _ initializer: Initializer, trainable: Bool) throws -> Variable {
        try g.variable("\(scope)/\(v)", shape: [channels], dtype: x.dtype, initializer: initializer, trainable: trainable,
                       file: file, line: line)
    }
    let gamma = try variable("gamma", .ones, trainable: true), beta = try variable("beta", .zeros, trainable: true)
    let movingMean = try variable("moving_mean", .zeros, trainable: false)
    let movingVariance = try variable("moving_variance", .ones, trainable: false)
    return try g.withExactScope(scope) {
        // FusedBatchNormV3 wants NHWC: a [N, C] input is [N, 1, 1, C].
        let input = rank == 2 ? try reshape(x, [-1, 1, 1, channels]) : x
        func normalize(training: Bool) throws -> [Output] {
            let r = try fusedBatchNorm(input, scale: gamma.value, offset: beta.value, mean: movingMean.value,
                                       variance: movingVariance.value, epsilon: epsilon, isTraining: training, file: file, line: line)
            return training ? [r.y, r.batchMean, r.batchVariance] : [r.y, movingMean.value, movingVariance.value]
        }
        let results = try cond(training, then: { try normalize(training: true) }, else: { try normalize(training: false) },
                               name: "cond", file: file, line: line)
        let decay = try x.scalarLike(1 - momentum, file: file, line: line)
        for (average, value) in [(movingMean, results[1]), (movingVariance, results[2])] {
            let update = try average.assignSub(multiply(subtract(average.value, value), decay), file: file, line: line)
            g.addToCollection(Graph.updateOps, update.node)
        }
        return rank == 2 ? try reshape(results[0], [-1, channels]) : results[0]
    }
}
