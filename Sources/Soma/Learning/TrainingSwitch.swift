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
