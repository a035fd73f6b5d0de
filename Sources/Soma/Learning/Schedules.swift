/// Learning-rate schedules of the global step (TF's `tf.compat.v1.train.*_decay`), and
/// gradient clipping.
public enum LearningRateSchedule {
    /// `lr · rate^(step / decaySteps)`, with the exponent floored when `staircase`.
    public static func exponentialDecay(_ learningRate: Double, globalStep: Variable, decaySteps: Int, decayRate: Double,
                                        staircase: Bool = false) throws -> LearningRate {
        let g = globalStep.graph
        return try g.withNameScope("ExponentialDecay") {
            let p = try progress(globalStep, decaySteps: decaySteps, staircase: staircase)
            return .tensor(try multiply(g.constant(Float(learningRate)), pow(g.constant(Float(decayRate)), p)))
        }
    }

    /// `lr / (1 + rate · step / decaySteps)`, floored when `staircase`.
    public static func inverseTimeDecay(_ learningRate: Double, globalStep: Variable, decaySteps: Int, decayRate: Double,
                                        staircase: Bool = false) throws -> LearningRate {
        let g = globalStep.graph
        return try g.withNameScope("InverseTimeDecay") {
            let p = try progress(globalStep, decaySteps: decaySteps, staircase: staircase)
            let denominator = try add(g.constant(Float(1)), multiply(g.constant(Float(decayRate)), p))
            return .tensor(try divide(g.constant(Float(learningRate)), denominator))
        }
    }

    /// `step / decaySteps` as float32, floored when `staircase`.
    private static func progress(_ globalStep: Variable, decaySteps: Int, staircase: Bool) throws -> Output {
        let p = try divide(cast(globalStep.value, to: .float32), globalStep.graph.constant(Float(decaySteps)))
        return staircase ? try floor(p) : p
    }

    /// `values[i]` while `step ≤ boundaries[i]` (TF's `piecewise_constant`);
    /// `values.count == boundaries.count + 1`.
    public static func piecewiseConstant(globalStep: Variable, boundaries: [Int], values: [Double]) throws -> LearningRate {
        guard values.count == boundaries.count + 1 else {
            throw SomaError.invalidArgument("piecewiseConstant needs one more value than boundaries, got \(values.count) and \(boundaries.count)")
        }
        let g = globalStep.graph
        return try g.withNameScope("PiecewiseConstant") {
            let step = globalStep.value
            var rate = try g.constant(Float(values.last!))
            for (boundary, value) in zip(boundaries, values).reversed() {
                rate = try `where`(lessEqual(step, g.constant(Int64(boundary))), g.constant(Float(value)), rate)
            }
            return .tensor(rate)
        }
    }
}

public enum Clipping {
    /// Each element clamped to `[min, max]` (TF's `clip_by_value`).
    public static func byValue(_ t: Output, min lo: Double, max hi: Double) throws -> Output {
        try minimum(maximum(t, t.scalarLike(lo, file: "", line: 0)), t.scalarLike(hi, file: "", line: 0))
    }

    /// The tensors scaled by `clipNorm / max(globalNorm, clipNorm)`, and the global norm
    /// `√Σ‖tᵢ‖²` (TF's `clip_by_global_norm`); `nil` entries stay `nil`.
    public static func byGlobalNorm(_ tensors: [Output?], clipNorm: Double) throws -> (clipped: [Output?], globalNorm: Output) {
        let present = tensors.compactMap { $0 }
        guard let first = present.first else { throw SomaError.invalidArgument("clip_by_global_norm needs at least one tensor") }
        let g = first.graph
        return try g.withNameScope("clip_by_global_norm") {
            let squares = try present.map { try reduceSum(square($0)) }
            let total = try squares.dropFirst().reduce(squares[0]) { try add($0, $1) }
            let norm = try sqrt(total, name: "global_norm")
            let limit = try first.scalarLike(clipNorm, file: "", line: 0)
            let scale = try divide(limit, maximum(norm, limit))
            let clipped = try tensors.map { t in try t.map { try multiply($0, cast(scale, to: $0.dtype)) } }
            return (clipped, norm)
        }
    }
}
