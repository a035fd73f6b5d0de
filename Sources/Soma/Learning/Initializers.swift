import Foundation

/// How a variable's first value is made (TF's initialisers), as graph ops: random ones
/// draw from seeded random ops, so a graph with a seed (`Graph.randomSeed` or `seed:`)
/// initialises bit-identically every time.
public enum Initializer: Sendable {
    case zeros
    case ones
    case constant(Double)
    case randomNormal(mean: Double = 0, stddev: Double = 0.05)
    case randomUniform(minval: Double = -0.05, maxval: Double = 0.05)
    case truncatedNormal(mean: Double = 0, stddev: Double = 0.05)
    /// Uniform in ±√(6 / (fan_in + fan_out)) (Xavier).
    case glorotUniform
    /// Truncated normal with stddev √(2 / (fan_in + fan_out)), corrected for truncation.
    case glorotNormal
    /// Truncated normal with stddev √(2 / fan_in), corrected for truncation.
    case heNormal
    /// Uniform in ±√(6 / fan_in).
    case heUniform

    /// TF's fans: `[in, out]` for a matrix, `receptive · in` and `receptive · out` for a
    /// convolution kernel `[kh, kw, in, out]`, the length for a vector.
    public static func fans(_ shape: [Int]) -> (fanIn: Double, fanOut: Double) {
        switch shape.count {
        case 0: return (1, 1)
        case 1: return (Double(shape[0]), Double(shape[0]))
        case 2: return (Double(shape[0]), Double(shape[1]))
        default:
            let receptive = Double(shape.dropLast(2).reduce(1, *))
            return (Double(shape[shape.count - 2]) * receptive, Double(shape[shape.count - 1]) * receptive)
        }
    }

    /// The stddev of a unit normal truncated at ±2 (TF's variance-scaling correction).
    static let truncationCorrection = 0.87962566103423978

    /// The initial value for a tensor of `shape`, as a graph output.
    public func value(shape: [Int], dtype: DType = .float32, in graph: Graph, seed: Int? = nil) throws -> Output {
        let (fanIn, fanOut) = Self.fans(shape)
        switch self {
        case .zeros: return try graph.zeros(shape: shape, dtype: dtype)
        case .ones: return try graph.ones(shape: shape, dtype: dtype)
        case .constant(let v): return try graph.fill(shape: shape, value: Tensor.scalar(v, dtype: dtype))
        case .randomNormal(let mean, let stddev):
            return try graph.randomNormal(shape: shape, mean: mean, stddev: stddev, dtype: dtype, seed: seed)
        case .randomUniform(let lo, let hi):
            return try graph.randomUniform(shape: shape, minval: lo, maxval: hi, dtype: dtype, seed: seed)
        case .truncatedNormal(let mean, let stddev):
            return try graph.truncatedNormal(shape: shape, mean: mean, stddev: stddev, dtype: dtype, seed: seed)
        case .glorotUniform:
            let limit = (6 / (fanIn + fanOut)).squareRoot()
            return try graph.randomUniform(shape: shape, minval: -limit, maxval: limit, dtype: dtype, seed: seed)
        case .glorotNormal:
            let stddev = (2 / (fanIn + fanOut)).squareRoot() / Self.truncationCorrection
            return try graph.truncatedNormal(shape: shape, stddev: stddev, dtype: dtype, seed: seed)
        case .heNormal:
            return try graph.truncatedNormal(shape: shape, stddev: (2 / fanIn).squareRoot() / Self.truncationCorrection,
                                             dtype: dtype, seed: seed)
        case .heUniform:
            let limit = (6 / fanIn).squareRoot()
            return try graph.randomUniform(shape: shape, minval: -limit, maxval: limit, dtype: dtype, seed: seed)
        }
    }
}

/// Whether ``Graph/variable(_:shape:dtype:initializer:seed:trainable:reuse:file:line:)``
/// may return a variable that already exists (TF1's `reuse` of `variable_scope`).
public enum VariableReuse: Sendable {
    /// Create it; an existing variable of that name is an error (TF's `reuse=False`).
    case no
    /// Return the existing one; none is an error (`reuse=True`).
    case reuse
    /// Return the existing one, or create it (`reuse=tf.AUTO_REUSE`).
    case autoReuse
}

extension Graph {
    /// A variable `name` of `shape` initialised by `initializer` (TF's `get_variable`):
    /// named exactly `name` whatever the current name scope (as TF's name scopes do not
    /// apply to `get_variable`), and by default an error if it exists — pass `reuse` to
    /// share it.
    public func variable(
        _ name: String, shape: [Int], dtype: DType = .float32, initializer: Initializer, seed: Int? = nil,
        trainable: Bool = true, reuse: VariableReuse = .no, file: String = #fileID, line: Int = #line
    ) throws -> Variable {
        try sharedVariable(name, shape: shape, trainable: trainable, reuse: reuse, file: file, line: line) {
            try initializer.value(shape: shape, dtype: dtype, in: self, seed: seed)
        }
    }

    /// A variable `name` initialised to `initialValue`, with `get_variable`'s naming and
    /// reuse rules.
    public func variable(
        _ name: String, initialValue: Tensor, trainable: Bool = true, reuse: VariableReuse = .no,
        file: String = #fileID, line: Int = #line
    ) throws -> Variable {
        try sharedVariable(name, shape: initialValue.shape, trainable: trainable, reuse: reuse, file: file, line: line) {
            try self.constant(initialValue, name: "initial_value", file: file, line: line)
        }
    }

    /// `get_variable`'s rules: reuse an existing variable when allowed (its shape must
    /// match), else create one named exactly `name` at the root scope.
    private func sharedVariable(_ name: String, shape: [Int], trainable: Bool, reuse: VariableReuse, file: String, line: Int,
                                _ initialValue: @escaping () throws -> Output) throws -> Variable {
        let here = SourceLocation(fileID: file, line: line)
        if let existing = variables.first(where: { $0.name == name }) {
            guard reuse != .no else {
                let origin = existing.ref.node.location.map { " (created at \($0))" } ?? ""
                throw SomaError.invalidArgument("Variable \(name) already exists\(origin), disallowed. Did you mean to pass "
                                                + "reuse: .reuse or .autoReuse? (at \(here))")
            }
            guard existing.shape.isCompatible(with: shape) else {
                throw SomaError.invalidArgument("Trying to share variable \(name), but specified shape \(TensorShape(shape)) "
                                                + "and found shape \(existing.shape) (at \(here))")
            }
            return existing
        }
        guard reuse != .reuse else {
            throw SomaError.invalidArgument("Variable \(name) does not exist, or was not created with variable(_:shape:…); "
                                            + "did you mean reuse: .autoReuse? (at \(here))")
        }
        if let taken = node(named: name) {
            throw SomaError.invalidArgument("Cannot create variable \(name): a '\(taken.op)' node has that name (at \(here))")
        }
        return try withRootScope {
            try variable(initialValue: initialValue, name: name, trainable: trainable, exactName: true, file: file, line: line)
        }
    }
}

extension Initializer {
    /// A matrix with orthonormal rows or columns (TF's `orthogonal_initializer`, Keras'
    /// default for recurrent kernels), scaled by `gain`: the Q of a QR factorisation of a
    /// normal `[∏ shape[..<last], shape.last]` matrix with R's diagonal made positive,
    /// drawn on the host with ``SplitMix64`` — from `seed`, else the graph's seed and the
    /// node count (reproducible), else at random — and stored as a constant.
    public static func orthogonalValue(shape: [Int], gain: Double = 1, seed: UInt64) -> [Double] {
        let cols = shape.last ?? 1, rows = shape.dropLast().reduce(1, *)
        let (n, m) = (Swift.max(rows, cols), Swift.min(rows, cols))
        var rng = SplitMix64(seed: seed)
        func normal() -> Double {
            let u1 = Double.random(in: Double.ulpOfOne..<1, using: &rng), u2 = Double.random(in: 0..<1, using: &rng)
            return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
        }
        // Columns of an n × m normal matrix, orthonormalised by modified Gram–Schmidt (whose
        // R has a positive diagonal, TF's sign correction).
        var q = (0..<m).map { _ in (0..<n).map { _ in normal() } }
        for j in 0..<m {
            for k in 0..<j {
                let r = zip(q[k], q[j]).reduce(0) { $0 + $1.0 * $1.1 }
                for i in 0..<n { q[j][i] -= r * q[k][i] }
            }
            let norm = q[j].reduce(0) { $0 + $1 * $1 }.squareRoot()
            q[j] = q[j].map { $0 / Swift.max(norm, .leastNormalMagnitude) }
        }
        // q[j][i] is Q[i, j] (n × m); the result is rows × cols: Q itself when rows ≥ cols, else Qᵀ.
        var out = [Double](repeating: 0, count: rows * cols)
        for r in 0..<rows {
            for c in 0..<cols { out[r * cols + c] = gain * (rows >= cols ? q[c][r] : q[r][c]) }
        }
        return out
    }
}

extension Graph {
    /// A variable initialised to an orthogonal matrix (see ``Initializer/orthogonalValue(shape:gain:seed:)``).
    public func orthogonalVariable(_ name: String, shape: [Int], dtype: DType = .float32, gain: Double = 1, seed: Int? = nil,
                                   trainable: Bool = true, reuse: VariableReuse = .no, file: String = #fileID,
                                   line: Int = #line) throws -> Variable {
        let drawn: UInt64
        if let s = seed ?? randomSeed { drawn = UInt64(truncatingIfNeeded: s) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(nodes.count) }
        else { drawn = UInt64.random(in: 0...UInt64.max) }
        let values = Initializer.orthogonalValue(shape: shape, gain: gain, seed: drawn)
        let tensor = dtype == .float64 ? try Tensor(values, shape: shape) : try Tensor(values.map { Float($0) }, shape: shape)
        return try variable(name, initialValue: tensor, trainable: trainable, reuse: reuse, file: file, line: line)
    }
}
