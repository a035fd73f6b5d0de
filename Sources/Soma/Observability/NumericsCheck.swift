import Foundation

/// The NaN/Inf debugger (``SessionOptions/checkNumerics``, TF's
/// `tf.debugging.enable_check_numerics`): after each step, every float output is scanned;
/// the first step that produces a NaN or an infinity stops the run with an error naming
/// the node, op, input shapes and the Swift line that created the node, and saying which
/// inputs already held non-finite values — so the report points at the op that made the
/// first one, not at one that passed it on.
enum NumericsCheck {
    /// Counts of non-finite values in a tensor.
    struct Counts {
        var nan = 0
        var inf = 0
        var total: Int { nan + inf }
    }

    /// NaNs and infinities in `t` (zero for dtypes other than float32 and float64).
    static func count(_ t: Tensor) -> Counts {
        var counts = Counts()
        func scan<F: BinaryFloatingPoint>(_: F.Type) {
            let p = UnsafeRawPointer(t.rawPointer).assumingMemoryBound(to: F.self)
            for i in 0..<t.scalarCount where !p[i].isFinite {
                if p[i].isNaN { counts.nan += 1 } else { counts.inf += 1 }
            }
        }
        switch t.dtype {
        case .float32: scan(Float.self)
        case .float64: scan(Double.self)
        default: break
        }
        return counts
    }

    /// Whether `t` holds a NaN or an infinity: `x · 0` is NaN exactly for those, and a NaN
    /// stays in a sum, so a vector accumulation answers in one pass without branches.
    static func hasNonFinite(_ t: Tensor) -> Bool {
        func scan<V: SIMD>(_: V.Type) -> Bool where V.Scalar: BinaryFloatingPoint {
            let n = t.scalarCount
            let p = UnsafeRawPointer(t.rawPointer)
            var acc = V()
            var i = 0
            while i + V.scalarCount <= n {
                acc += p.loadUnaligned(fromByteOffset: i * MemoryLayout<V.Scalar>.stride, as: V.self) * 0
                i += V.scalarCount
            }
            var tail: V.Scalar = 0
            let scalars = p.assumingMemoryBound(to: V.Scalar.self)
            while i < n { tail += scalars[i] * 0; i += 1 }
            return !(acc.sum() + tail).isFinite
        }
        switch t.dtype {
        case .float32: return scan(SIMD16<Float>.self)
        case .float64: return scan(SIMD8<Double>.self)
        default: return false
        }
    }

    /// Throws for the first output of a step holding a NaN or an infinity.
    static func check(name: String, op: String, node: KernelNode, inputs: UnsafeBufferPointer<Tensor>,
                      outputs: UnsafeBufferPointer<Tensor?>) throws {
        for (k, output) in outputs.enumerated() {
            guard let output, hasNonFinite(output) else { continue }
            let counts = count(output)
            guard counts.total > 0 else { continue }
            let kind = counts.nan > 0 && counts.inf > 0 ? "NaN and Infinity" : counts.nan > 0 ? "NaN" : "Infinity"
            let nonFinite = inputs.indices.filter { hasNonFinite(inputs[$0]) }
            let origin = nonFinite.isEmpty
                ? "all \(inputs.count) inputs were finite, so this op made the first one"
                : "input\(nonFinite.count > 1 ? "s" : "") \(nonFinite.map(String.init).joined(separator: ", ")) already held non-finite values"
            let shapes = inputs.map { $0.dtype == .resource && $0.shape == [0] ? "?" : shapeString($0.shape) }
            throw SomaError.nodeFailure(
                "check_numerics: \(kind) in output \(k) (\(output.dtype) \(shapeString(output.shape)): \(counts.nan) NaN, "
                + "\(counts.inf) Inf of \(output.scalarCount)); \(origin)",
                node: name, op: op, inputShapes: shapes, location: node.location)
        }
    }
}
