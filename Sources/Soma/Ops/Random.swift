/// Random tensors (TF's `random_ops`), the sources of the random initialisers.
enum RandomOps {
    static func random(_ name: String) -> OpDef {
        OpDef(name, inputs: ["shape: T"], outputs: ["output: dtype"],
              attrs: [.int("seed", default: 0), .int("seed2", default: 0), .type("dtype", DType.floatingPoint),
                      .type("T", DType.indices)],
              traits: [.stateful], gradient: .notDifferentiable) { c in
            try c.withRank(0, 1)
            return [try c.shapeFromInput(0)]
        }
    }

    static let definitions: [OpDef] = [random("RandomUniform"), random("RandomStandardNormal"), random("TruncatedNormal")]
}

// MARK: - Builders

extension Graph {
    private func randomOp(_ op: String, _ shape: [Int], _ dtype: DType, _ seed: Int?, _ name: String?, _ file: String, _ line: Int) throws -> Output {
        let dims = try constant(Tensor(shape.map { Int32($0) }), name: "shape", file: file, line: line)
        return try randomOp(op, dims, dtype, seed, name, file, line)
    }

    func randomOp(_ op: String, _ dims: Output, _ dtype: DType, _ seed: Int?, _ name: String?, _ file: String, _ line: Int) throws -> Output {
        let (s1, s2) = randomSeeds(op: seed)
        return try output(op, [dims], attrs: ["dtype": .type(dtype), "seed": .int(s1), "seed2": .int(s2)],
                          name: name ?? op, file: file, line: line)
    }

    /// Uniform samples in `[minval, maxval)` (`RandomUniform`, scaled and shifted).
    public func randomUniform(shape: [Int], minval: Double = 0, maxval: Double = 1, dtype: DType = .float32, seed: Int? = nil,
                              name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
        try withNameScope(name ?? "random_uniform") {
            let u = try randomOp("RandomUniform", shape, dtype, seed, "RandomUniform", file, line)
            let range = try constant(Tensor.scalar(maxval - minval, dtype: dtype), name: "max", file: file, line: line)
            let low = try constant(Tensor.scalar(minval, dtype: dtype), name: "min", file: file, line: line)
            return try add(multiply(u, range), low)
        }
    }

    /// Normal samples with `mean` and `stddev` (`RandomStandardNormal`, scaled and shifted).
    public func randomNormal(shape: [Int], mean: Double = 0, stddev: Double = 1, dtype: DType = .float32, seed: Int? = nil,
                             name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
        try withNameScope(name ?? "random_normal") {
            let z = try randomOp("RandomStandardNormal", shape, dtype, seed, "RandomStandardNormal", file, line)
            return try add(multiply(z, constant(Tensor.scalar(stddev, dtype: dtype))), constant(Tensor.scalar(mean, dtype: dtype)))
        }
    }

    /// Normal samples redrawn beyond two standard deviations (`TruncatedNormal`).
    public func truncatedNormal(shape: [Int], mean: Double = 0, stddev: Double = 1, dtype: DType = .float32, seed: Int? = nil,
                                name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
        try withNameScope(name ?? "truncated_normal") {
            let z = try randomOp("TruncatedNormal", shape, dtype, seed, "TruncatedNormal", file, line)
            return try add(multiply(z, constant(Tensor.scalar(stddev, dtype: dtype))), constant(Tensor.scalar(mean, dtype: dtype)))
        }
    }
}

/// Dropout (TF's `tf.nn.dropout`): each element kept with probability `1 − rate` and
/// scaled by `1 / (1 − rate)`, else zeroed; a fresh seeded mask every run. `rate` is a
/// tensor so one graph serves training (feed the rate) and inference (feed or default 0).
public func dropout(_ x: Output, rate: Output, seed: Int? = nil, name: String? = nil,
                    file: String = #fileID, line: Int = #line) throws -> Output {
    let g = x.graph
    return try g.withNameScope(name ?? "dropout") {
        let uniform = try g.randomOp("RandomUniform", shape(x), x.dtype, seed, "random_uniform", file, line)
        let r = try cast(rate, to: x.dtype)
        let keep = try cast(greaterEqual(uniform, r), to: x.dtype)
        return try multiply(x, divide(keep, subtract(x.scalarLike(1, file: file, line: line), r)))
    }
}

/// Dropout with a fixed rate.
public func dropout(_ x: Output, rate: Double, seed: Int? = nil, name: String? = nil,
                    file: String = #fileID, line: Int = #line) throws -> Output {
    try dropout(x, rate: x.graph.constant(Tensor.scalar(rate, dtype: x.dtype)), seed: seed, name: name, file: file, line: line)
}
