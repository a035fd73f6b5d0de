import Foundation

/// An elementwise float32 function with a vector form (``VectorLoops/visit(_:_:)-(UnaryFunction,_)``).
public enum UnaryFunction: UInt8, Sendable, CaseIterable {
    case neg, abs, exp, sqrt, rsqrt, square, reciprocal, sigmoid, tanh, relu, relu6, erf, erfc
}

/// An elementwise float32 operator with a vector form (``VectorLoops/visit(_:_:)-(BinaryFunction,_)``).
public enum BinaryFunction: UInt8, Sendable, CaseIterable {
    case add, sub, mul, div, maximum, minimum, squaredDifference
    /// TF's activation gradients: `(gradients, features)` for ReLU and ReLU6, `(y, dy)` for
    /// sigmoid and tanh.
    case reluGrad, relu6Grad, sigmoidGrad, tanhGrad
}

/// The float32 loops over whole buffers that Soma's kernels spend their elementwise time in,
/// written once and compiled once per instruction set.
///
/// Everything here is `@inlinable` and always inlined, so its machine code belongs to the
/// module that calls it: the `SomaSIMDBaseline`, `SomaSIMDAVX2` and `SomaSIMDAVX512`
/// modules compile one file of entry points (`CompiledLoops`) with the baseline target,
/// `-target-cpu haswell` and `skylake-avx512`, and Soma picks one at run time
/// (``CPULevel``). No fused multiply-adds are formed, so all builds give the same bits.
/// A function is a type (``VectorUnary``, ``VectorBinary``) so that each loop is
/// specialised for it — one small loop per function, which the code generator handles far
/// better than one loop over a switch; ``visit(_:_:)-(UnaryFunction,_)`` turns a function's
/// name into its type. Thread-safety: the loops touch only the buffers they are given.
public enum VectorLoops {
    /// Calls `visitor.visit(F.self)` with the type of the function `f` names.
    @inlinable @inline(__always)
    public static func visit<Visitor: UnaryVisitor>(_ f: UnaryFunction, _ visitor: Visitor) {
        typealias F = VectorFunctions
        switch f {
        case .neg: visitor.visit(F.Neg.self)
        case .abs: visitor.visit(F.Abs.self)
        case .exp: visitor.visit(F.Exp.self)
        case .sqrt: visitor.visit(F.Sqrt.self)
        case .rsqrt: visitor.visit(F.Rsqrt.self)
        case .square: visitor.visit(F.Square.self)
        case .reciprocal: visitor.visit(F.Reciprocal.self)
        case .sigmoid: visitor.visit(F.Sigmoid.self)
        case .tanh: visitor.visit(F.Tanh.self)
        case .relu: visitor.visit(F.Relu.self)
        case .relu6: visitor.visit(F.Relu6.self)
        case .erf: visitor.visit(F.Erf.self)
        case .erfc: visitor.visit(F.Erfc.self)
        }
    }

    /// Calls `visitor.visit(F.self)` with the type of the function `f` names, or with
    /// ``VectorFunctions/Identity`` where `f` is `nil`.
    @inlinable @inline(__always)
    public static func visit<Visitor: UnaryVisitor>(_ f: UnaryFunction?, _ visitor: Visitor) {
        if let f { visit(f, visitor) } else { visitor.visit(VectorFunctions.Identity.self) }
    }

    /// Calls `visitor.visit(F.self)` with the type of the operator `f` names.
    @inlinable @inline(__always)
    public static func visit<Visitor: BinaryVisitor>(_ f: BinaryFunction, _ visitor: Visitor) {
        typealias F = VectorFunctions
        switch f {
        case .add: visitor.visit(F.Add.self)
        case .sub: visitor.visit(F.Sub.self)
        case .mul: visitor.visit(F.Mul.self)
        case .div: visitor.visit(F.Div.self)
        case .maximum: visitor.visit(F.Maximum.self)
        case .minimum: visitor.visit(F.Minimum.self)
        case .squaredDifference: visitor.visit(F.SquaredDifference.self)
        case .reluGrad: visitor.visit(F.ReluGrad.self)
        case .relu6Grad: visitor.visit(F.Relu6Grad.self)
        case .sigmoidGrad: visitor.visit(F.SigmoidGrad.self)
        case .tanhGrad: visitor.visit(F.TanhGrad.self)
        }
    }

    /// `dst[i] = F(src[i])` for `count` elements; `dst` may be `src`.
    @inlinable @inline(__always)
    public static func map<F: VectorUnary>(_: F.Type, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        let width = VectorMath.width
        var i = 0
        while i + width <= count {
            VectorMath.store(F.vector(VectorMath.load(src + i)), dst + i)
            i += width
        }
        while i < count { dst[i] = F.scalar(src[i]); i += 1 }
    }

    /// `dst[i] = x·sigmoid(β·x)` for `x = src[i]` (swish, SiLU; `beta` nil: `x·sigmoid(x)`)
    /// in one pass: the same multiplications and sigmoid as the loops it replaces (``zip(_:_:_:_:_:_:count:)``
    /// with `Mul`, ``map(_:_:_:count:)`` with `Sigmoid`), so the same bits. `dst` may be `src`.
    /// (Without `beta` the loop scales by 1, which changes no value: one call of each sigmoid
    /// keeps them inlined.)
    @inlinable @inline(__always)
    public static func swish(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, beta: Float?) {
        let width = VectorMath.width, scale = beta ?? 1, b = VectorMath.V(repeating: scale)
        var i = 0
        while i + width <= count {
            let x = VectorMath.load(src + i)
            VectorMath.store(x * VectorMath.sigmoid(b * x), dst + i)
            i += width
        }
        while i < count { dst[i] = src[i] * VectorMath.sigmoid(scale * src[i]); i += 1 }
    }

    /// `dst[i] = F(a[i·sa], b[i·sb])` for strides 0 (a broadcast scalar) or 1; `dst` may
    /// alias either operand.
    @inlinable @inline(__always)
    public static func zip<F: VectorBinary>(_: F.Type, _ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
                                            _ dst: UnsafeMutablePointer<Float>, count: Int) {
        typealias V = VectorMath.V
        let width = VectorMath.width
        var i = 0
        if count >= width {
            let sa0 = V(repeating: a[0]), sb0 = V(repeating: b[0])
            while i + width <= count {
                VectorMath.store(F.vector(sa == 0 ? sa0 : VectorMath.load(a + i), sb == 0 ? sb0 : VectorMath.load(b + i)), dst + i)
                i += width
            }
        }
        while i < count { dst[i] = F.scalar(a[i * sa], b[i * sb]); i += 1 }
    }

    /// `rows` rows of `n` values at `po`, in place: `po[r, j] = F(po[r, j] + bias[j])` (the
    /// same bits as the addition and then `F`).
    @inlinable @inline(__always)
    public static func biasActivation<F: VectorUnary>(_: F.Type, _ po: UnsafeMutablePointer<Float>, rows: Int, n: Int,
                                                      _ bias: UnsafePointer<Float>) {
        let width = VectorMath.width
        for r in 0..<rows {
            let row = po + r * n
            var j = 0
            while j + width <= n {
                VectorMath.store(F.vector(VectorMath.load(row + j) + VectorMath.load(bias + j)), row + j)
                j += width
            }
            while j < n { row[j] = F.scalar(row[j] + bias[j]); j += 1 }
        }
    }

    /// Adds rows `rows` of a `[*, n]` float32 matrix into `sum` (`n` float64 values), one row
    /// after another: each column's sum is sequential in row order whatever the vector width,
    /// eight columns at a time (the partial sums of a column reduction).
    @inlinable @inline(__always)
    public static func addRows(_ px: UnsafePointer<Float>, n: Int, rows: Range<Int>, into sum: UnsafeMutablePointer<Double>) {
        for r in rows {
            let row = px + r &* n
            var j = 0
            while j &+ 8 <= n {
                let values = SIMD8<Double>(UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self))
                let total = UnsafeRawPointer(sum + j).loadUnaligned(as: SIMD8<Double>.self) + values
                UnsafeMutableRawPointer(sum + j).storeBytes(of: total, as: SIMD8<Double>.self)
                j &+= 8
            }
            while j < n { sum[j] += Double(row[j]); j &+= 1 }
        }
    }

    /// Softmax (or log-softmax) of each row `r` in `rows` of a `[*, n]` matrix: the maximum,
    /// then `e^(x − max)` summed in float lanes over chunks of 1,024 values, the lanes as a
    /// tree (``VectorMath/horizontalSum(_:)``), and the chunks' totals in float64 (long rows
    /// do not stall at 2²⁴), then the scale. A NaN in a row makes the whole row NaN (its
    /// own term is NaN, whatever the maximum).
    ///
    /// Softmax runs as three passes — ``softmaxShift(_:_:n:rows:)``, the exponential over the
    /// whole block, ``softmaxNormalize(_:n:rows:)`` — which the per-CPU builds make with their
    /// own map loop for the exponential (``CompiledLoopSet/softmaxRows(_:_:n:rows:log:)``):
    /// one long run of independent exponentials where a row at a time chained each row's
    /// maximum, exponentials, sum, reciprocal and scale (an attention block's 512 rows of 64,
    /// one thread: 0.233 → 0.230 ms). Log-softmax shifts likewise, then sums each row's
    /// exponentials and subtracts the log. The same operations on every value in the same
    /// order (a row's tail exponentials in vectors: the scalar twin's bits).
    @inlinable @inline(__always)
    public static func softmaxRows(_ px: UnsafePointer<Float>, _ po: UnsafeMutablePointer<Float>, n: Int, rows: Range<Int>, log: Bool) {
        softmaxShift(px, po, n: n, rows: rows)
        guard log else {
            map(VectorFunctions.Exp.self, po + rows.lowerBound * n, po + rows.lowerBound * n, count: rows.count * n)
            return softmaxNormalize(po, n: n, rows: rows)
        }
        typealias V = VectorMath.V
        let width = VectorMath.width
        for r in rows {
            let dst = po + r * n
            var sum = 0.0
            var j = 0
            while j + width <= n {
                var lanes = V(repeating: 0)
                let chunkEnd = Swift.min(n, j + 1024)
                while j + width <= chunkEnd { lanes += VectorMath.exp(VectorMath.load(dst + j)); j += width }
                sum += Double(VectorMath.horizontalSum(lanes))
            }
            while j < n { sum += Double(VectorMath.exp(dst[j])); j += 1 }
            let lse = Float(Foundation.log(sum)), lv = V(repeating: lse)
            j = 0
            while j + width <= n { VectorMath.store(VectorMath.load(dst + j) - lv, dst + j); j += width }
            while j < n { dst[j] -= lse; j += 1 }
        }
    }

    /// Softmax's first pass: each row less its maximum (vector lanes, their tree, the tail),
    /// `x − max`, into `po`.
    @inlinable @inline(__always)
    public static func softmaxShift(_ px: UnsafePointer<Float>, _ po: UnsafeMutablePointer<Float>, n: Int, rows: Range<Int>) {
        typealias V = VectorMath.V
        let width = VectorMath.width
        for r in rows {
            let row = px + r * n, dst = po + r * n
            var j = 0
            var lanes = V(repeating: -.infinity)
            while j + width <= n { lanes = VectorMath.maximum(lanes, VectorMath.load(row + j)); j += width }
            var m = VectorMath.horizontalMaximum(lanes)
            while j < n { m = Swift.max(m, row[j]); j += 1 }
            let mv = V(repeating: m)
            j = 0
            while j + width <= n { VectorMath.store(VectorMath.load(row + j) - mv, dst + j); j += width }
            while j < n { dst[j] = row[j] - m; j += 1 }
        }
    }

    /// Softmax's last pass over the rows' exponentials in `po`: each row's sum (float lanes
    /// per chunk of 1,024, chunks in float64, as ``softmaxRows(_:_:n:rows:log:)`` says), then
    /// the row times its reciprocal.
    @inlinable @inline(__always)
    public static func softmaxNormalize(_ po: UnsafeMutablePointer<Float>, n: Int, rows: Range<Int>) {
        typealias V = VectorMath.V
        let width = VectorMath.width
        for r in rows {
            let dst = po + r * n
            var sum = 0.0
            var j = 0
            while j + width <= n {
                var lanes = V(repeating: 0)
                let chunkEnd = Swift.min(n, j + 1024)
                while j + width <= chunkEnd { lanes += VectorMath.load(dst + j); j += width }
                sum += Double(VectorMath.horizontalSum(lanes))
            }
            while j < n { sum += Double(dst[j]); j += 1 }
            let inv = V(repeating: Float(1 / sum))
            j = 0
            while j + width <= n { VectorMath.store(VectorMath.load(dst + j) * inv, dst + j); j += width }
            while j < n { dst[j] *= inv[0]; j += 1 }
        }
    }
}

/// Something to do with a unary function's type (``VectorLoops/visit(_:_:)-(UnaryFunction,_)``).
public protocol UnaryVisitor {
    func visit<F: VectorUnary>(_: F.Type)
}

/// Something to do with a binary operator's type (``VectorLoops/visit(_:_:)-(BinaryFunction,_)``).
public protocol BinaryVisitor {
    func visit<F: VectorBinary>(_: F.Type)
}

/// A float32 function in vector form and its bitwise-identical scalar twin.
public protocol VectorUnary {
    static func vector(_ x: VectorMath.V) -> VectorMath.V
    static func scalar(_ x: Float) -> Float
}

/// A float32 operator in vector form and its bitwise-identical scalar twin.
public protocol VectorBinary {
    static func vector(_ a: VectorMath.V, _ b: VectorMath.V) -> VectorMath.V
    static func scalar(_ a: Float, _ b: Float) -> Float
}

/// The functions and operators of ``UnaryFunction`` and ``BinaryFunction`` as types.
public enum VectorFunctions {
    public typealias V = VectorMath.V
    /// `x` itself (a bias addition without an activation).
    public enum Identity: VectorUnary {
        @inlinable @inline(__always) public static func vector(_ x: V) -> V { x }
        @inlinable @inline(__always) public static func scalar(_ x: Float) -> Float { x }
    }
    public enum Neg: VectorUnary {
        @inlinable @inline(__always) public static func vector(_ x: V) -> V { VectorMath.negate(x) }
        @inlinable @inline(__always) public static func scalar(_ x: Float) -> Float { -x }
    }
    public enum Abs: VectorUnary {
        @inlinable @inline(__always) public static func vector(_ x: V) -> V { VectorMath.abs(x) }
        @inlinable @inline(__always) public static func scalar(_ x: Float) -> Float { Swift.abs(x) }
    }
    public enum Exp: VectorUnary {
        @inlinable @inline(__always) public static func vector(_ x: V) -> V { VectorMath.exp(x) }
        @inlinable @inline(__always) public static func scalar(_ x: Float) -> Float { VectorMath.exp(x) }
    }
    public enum Erf: VectorUnary {
        @inlinable @inline(__always) public static func vector(_ x: V) -> V { VectorMath.erf(x) }
        @inlinable @inline(__always) public static func scalar(_ x: Float) -> Float { VectorMath.erf(x) }
    }
    public enum Erfc: VectorUnary {
        @inlinable @inline(__always) public static func vector(_ x: V) -> V { VectorMath.erfc(x) }
        @inlinable @inline(__always) public static func scalar(_ x: Float) -> Float { VectorMath.erfc(x) }
    }
    public enum Sqrt: VectorUnary {
        @inlinable @inline(__always) public static func vector(_ x: V) -> V { x.squareRoot() }
        @inlinable @inline(__always) public static func scalar(_ x: Float) -> Float { x.squareRoot() }
    }
    public enum Rsqrt: VectorUnary {
        @inlinable @inline(__always) public static func vector(_ x: V) -> V { 1 / x.squareRoot() }
        @inlinable @inline(__always) public static func scalar(_ x: Float) -> Float { 1 / x.squareRoot() }
    }
    public enum Square: VectorUnary {
        @inlinable @inline(__always) public static func vector(_ x: V) -> V { x * x }
        @inlinable @inline(__always) public static func scalar(_ x: Float) -> Float { x * x }
    }
    public enum Reciprocal: VectorUnary {
        @inlinable @inline(__always) public static func vector(_ x: V) -> V { 1 / x }
        @inlinable @inline(__always) public static func scalar(_ x: Float) -> Float { 1 / x }
    }
    public enum Sigmoid: VectorUnary {
        @inlinable @inline(__always) public static func vector(_ x: V) -> V { VectorMath.sigmoid(x) }
        @inlinable @inline(__always) public static func scalar(_ x: Float) -> Float { VectorMath.sigmoid(x) }
    }
    public enum Tanh: VectorUnary {
        @inlinable @inline(__always) public static func vector(_ x: V) -> V { VectorMath.tanh(x) }
        @inlinable @inline(__always) public static func scalar(_ x: Float) -> Float { VectorMath.tanh(x) }
    }
    public enum Relu: VectorUnary {
        @inlinable @inline(__always) public static func vector(_ x: V) -> V { x.replacing(with: 0, where: x .<= 0) }
        @inlinable @inline(__always) public static func scalar(_ x: Float) -> Float { x <= 0 ? 0 : x }
    }
    public enum Relu6: VectorUnary {
        @inlinable @inline(__always) public static func vector(_ x: V) -> V { x.replacing(with: 0, where: x .<= 0).replacing(with: 6, where: x .>= 6) }
        @inlinable @inline(__always) public static func scalar(_ x: Float) -> Float { x <= 0 ? 0 : (x >= 6 ? 6 : x) }
    }
    public enum Add: VectorBinary {
        @inlinable @inline(__always) public static func vector(_ a: V, _ b: V) -> V { a + b }
        @inlinable @inline(__always) public static func scalar(_ a: Float, _ b: Float) -> Float { a + b }
    }
    public enum Sub: VectorBinary {
        @inlinable @inline(__always) public static func vector(_ a: V, _ b: V) -> V { a - b }
        @inlinable @inline(__always) public static func scalar(_ a: Float, _ b: Float) -> Float { a - b }
    }
    public enum Mul: VectorBinary {
        @inlinable @inline(__always) public static func vector(_ a: V, _ b: V) -> V { a * b }
        @inlinable @inline(__always) public static func scalar(_ a: Float, _ b: Float) -> Float { a * b }
    }
    public enum Div: VectorBinary {
        @inlinable @inline(__always) public static func vector(_ a: V, _ b: V) -> V { a / b }
        @inlinable @inline(__always) public static func scalar(_ a: Float, _ b: Float) -> Float { a / b }
    }
    public enum Maximum: VectorBinary {
        @inlinable @inline(__always) public static func vector(_ a: V, _ b: V) -> V { VectorMath.maximum(a, b) }
        @inlinable @inline(__always) public static func scalar(_ a: Float, _ b: Float) -> Float { a.isNaN ? a : (b.isNaN ? b : (a >= b ? a : b)) }
    }
    public enum Minimum: VectorBinary {
        @inlinable @inline(__always) public static func vector(_ a: V, _ b: V) -> V { VectorMath.minimum(a, b) }
        @inlinable @inline(__always) public static func scalar(_ a: Float, _ b: Float) -> Float { a.isNaN ? a : (b.isNaN ? b : (a <= b ? a : b)) }
    }
    public enum SquaredDifference: VectorBinary {
        @inlinable @inline(__always) public static func vector(_ a: V, _ b: V) -> V { (a - b) * (a - b) }
        @inlinable @inline(__always) public static func scalar(_ a: Float, _ b: Float) -> Float { (a - b) * (a - b) }
    }
    public enum ReluGrad: VectorBinary {
        @inlinable @inline(__always) public static func vector(_ a: V, _ b: V) -> V { V(repeating: 0).replacing(with: a, where: b .> 0) }
        @inlinable @inline(__always) public static func scalar(_ a: Float, _ b: Float) -> Float { b > 0 ? a : 0 }
    }
    public enum Relu6Grad: VectorBinary {
        @inlinable @inline(__always) public static func vector(_ a: V, _ b: V) -> V { V(repeating: 0).replacing(with: a, where: (b .> 0) .& (b .< 6)) }
        @inlinable @inline(__always) public static func scalar(_ a: Float, _ b: Float) -> Float { b > 0 && b < 6 ? a : 0 }
    }
    public enum SigmoidGrad: VectorBinary {
        @inlinable @inline(__always) public static func vector(_ a: V, _ b: V) -> V { b * a * (1 - a) }
        @inlinable @inline(__always) public static func scalar(_ a: Float, _ b: Float) -> Float { b * a * (1 - a) }
    }
    public enum TanhGrad: VectorBinary {
        @inlinable @inline(__always) public static func vector(_ a: V, _ b: V) -> V { b * (1 - a * a) }
        @inlinable @inline(__always) public static func scalar(_ a: Float, _ b: Float) -> Float { b * (1 - a * a) }
    }
}

/// The entry points each build of the loops offers (`CompiledLoops` in `SomaSIMDBaseline`,
/// `SomaSIMDAVX2` and `SomaSIMDAVX512`), so callers pick a build once and call through it.
public protocol CompiledLoopSet: Sendable {
    static func map(_ f: UnaryFunction, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int)
    static func zip(_ f: BinaryFunction, _ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
                    _ dst: UnsafeMutablePointer<Float>, count: Int)
    static func biasActivation(_ f: UnaryFunction?, _ po: UnsafeMutablePointer<Float>, rows: Int, n: Int, _ bias: UnsafePointer<Float>)
    static func depthwiseForwardRows(_ g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>,
                                     output: UnsafeMutablePointer<Float>, rows: Range<Int>, bias: UnsafePointer<Float>?, _ f: UnaryFunction?)
    static func softmaxRows(_ px: UnsafePointer<Float>, _ po: UnsafeMutablePointer<Float>, n: Int, rows: Range<Int>, log: Bool)
    static func addRows(_ px: UnsafePointer<Float>, n: Int, rows: Range<Int>, into sum: UnsafeMutablePointer<Double>)
    static func narrowConvolutionRow(_ g: NarrowConvolutionGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>,
                                     output: UnsafeMutablePointer<Float>, row: Int)
    static func maxPoolRow(_ g: PoolGeometry, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, row: Int)
    static func maxPoolGradTilingRow(_ g: PoolGeometry, input: UnsafePointer<Float>, gradient: UnsafePointer<Float>,
                                     output: UnsafeMutablePointer<Float>, row: Int, reluGrad: Bool)
    static func streamRows(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, rowStride: Int, depthStride: Int,
                           b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int)
    static func swish(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, beta: Float?)
    static func lstmCell(_ tile: LSTMCellTile)
    static func gruCell(_ tile: GRUCellTile)
    static func winogradInputTiles(_ g: WinogradGeometry, image: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>,
                                   firstRow: Int, count: Int)
    static func winogradOutputTiles(_ g: WinogradGeometry, products m: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>,
                                    firstRow: Int, count: Int)
    static func winogradGradientTiles(_ g: WinogradGeometry, outBackprop dy: UnsafePointer<Float>, into w: UnsafeMutablePointer<Float>,
                                      firstRow: Int, count: Int)
}
