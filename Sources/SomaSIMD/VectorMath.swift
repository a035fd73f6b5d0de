/// Explicitly vectorised float32 functions (`SIMD16<Float>`: one AVX-512 register, two AVX2
/// or four SSE registers) for the hot elementwise kernels and activations.
///
/// Each vector function has a scalar twin computing the same bits (tested), used for the
/// tail of a loop, so a value's result never depends on where a block boundary falls:
/// fused, unfused and multi-threaded runs stay bitwise identical. Every function is
/// `@inlinable` and always inlined: it is compiled into each caller's module with that
/// module's instruction set (see ``VectorLoops``), and never contracts `a·b + c` into a
/// fused multiply-add, so every instruction set gives the same bits.
public enum VectorMath {
    public typealias V = SIMD16<Float>
    public typealias VI = SIMD16<Int32>
    public typealias VU = SIMD16<UInt32>
    @inlinable public static var width: Int { V.scalarCount }

    @inlinable @inline(__always) public static func load(_ p: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }
    @inlinable @inline(__always) public static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }

    // MARK: Functions

    /// `eˣ`, lane by lane: Cephes' `expf` (range reduction by ln 2 in two parts, a degree-6
    /// polynomial, scaling by 2ⁿ through the exponent bits). Relative error ≤ 2 ulp on
    /// [−87.3, 88.7]; beyond, 0 and +∞; NaN passes through.
    @inlinable @inline(__always) public static func exp(_ x: V) -> V {
        let nan = x .!= x
        var clamped = x.replacing(with: 0, where: nan)
        clamped.replace(with: -87.33654, where: clamped .< -87.33654)
        clamped.replace(with: 88.72283, where: clamped .> 88.72283)
        let (shifted, y) = expReduced(clamped)
        let bits = unsafeBitCast(shifted, to: VI.self) &- 0x4B40_0000 &+ 127
        var result = y * unsafeBitCast(bits &<< 23, to: V.self)
        result.replace(with: .infinity, where: x .> 88.72283)
        result.replace(with: 0, where: x .< -87.33654)
        result.replace(with: x, where: nan)
        return result
    }

    /// The scalar twin of ``exp(_:)-(V)``, branch-free.
    @inlinable @inline(__always) public static func exp(_ x: Float) -> Float {
        let clamped = Swift.min(Swift.max(x.isNaN ? 0 : x, -87.33654), 88.72283)
        let (shifted, y) = expReduced(clamped)
        let exponent = shifted.bitPattern &- 0x4B40_0000 &+ 127
        let scale = Float(bitPattern: exponent << 23)
        let result = y * scale
        return x.isNaN ? x : (x > 88.72283 ? .infinity : (x < -87.33654 ? 0 : result))
    }

    /// The core of ``exp(_:)-(V)`` on a clamped input, lane by lane — one formula for the
    /// vector and its scalar twin, so they compute the same bits: `x·log₂e` rounded to the
    /// nearest integer n with the 1.5·2²³ trick (n lands in the low mantissa bits of
    /// `shifted`, so neither floorf nor a checked conversion is needed), the remainder `r`
    /// by ln 2 in two parts, and `e^r` by Cephes' degree-6 polynomial.
    @inlinable @inline(__always)
    static func expReduced<N: PolynomialOperand>(_ clamped: N) -> (shifted: N, y: N) {
        let shifted = clamped * 1.44269504088896341 + 12582912.0
        let n = shifted - 12582912.0
        return (shifted, expPolynomial(clamped - n * 0.693359375 + n * 2.12194440e-4))
    }

    /// ``expReduced(_:)`` of `clamped − rest` for a small `rest` (|rest| ≤ 0.05) that
    /// `clamped` cannot hold: the integer part comes from `clamped` alone, and `rest` is
    /// subtracted from the reduced argument, where it loses nothing.
    @inlinable @inline(__always)
    static func expReduced<N: PolynomialOperand>(_ clamped: N, minus rest: N) -> (shifted: N, y: N) {
        let shifted = clamped * 1.44269504088896341 + 12582912.0
        let n = shifted - 12582912.0
        return (shifted, expPolynomial(clamped - n * 0.693359375 + n * 2.12194440e-4 - rest))
    }

    /// `e^r` for the reduced argument |r| ≤ ½·ln 2 (and a little more): Cephes' degree-6 polynomial.
    @inlinable @inline(__always)
    static func expPolynomial<N: PolynomialOperand>(_ r: N) -> N {
        let z = r * r
        var p = N(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        return p * z + r + 1
    }

    /// Eigen's 13/6 rational approximation of tanh on a clamped input: numerator and
    /// denominator, lane by lane (shared by ``tanh(_:)-(V)`` and its scalar twin).
    @inlinable @inline(__always)
    static func tanhRational<N: PolynomialOperand>(_ a: N) -> (p: N, q: N) {
        let z = a * a
        var p = N(repeating: -2.76076847742355e-16)
        p = p * z + 2.00018790482477e-13
        p = p * z - 8.60467152213735e-11
        p = p * z + 5.12229709037114e-08
        p = p * z + 1.48572235717979e-05
        p = p * z + 6.37261928875436e-04
        p = p * z + 4.89352455891786e-03
        var q = N(repeating: 1.19825839466702e-06)
        q = q * z + 1.18534705686654e-04
        q = q * z + 2.26843463243900e-03
        q = q * z + 4.89352518554385e-03
        return (p * a, q)
    }

    /// The scalar twin of ``sigmoid(_:)-(V)``.
    @inlinable @inline(__always) public static func sigmoid(_ x: Float) -> Float {
        let e = exp(-Swift.abs(x))
        let s = 1 / (1 + e)
        return x < 0 ? e * s : s
    }

    /// `1 / (1 + e⁻ˣ)`, from `e = e^(−|x|)` so nothing overflows: `1/(1+e)` for x ≥ 0,
    /// `e/(1+e)` below.
    @inlinable @inline(__always) public static func sigmoid(_ x: V) -> V {
        let e = exp(negate(abs(x)))
        let s = 1 / (1 + e)
        return s.replacing(with: e * s, where: x .< 0)
    }

    /// tanh as Eigen computes it for float: a 13/6 odd/even rational approximation on the
    /// input clamped to ±7.905 (x itself below |x| = 0.0004), ±1 exactly beyond |x| = 9;
    /// NaN passes through.
    @inlinable @inline(__always) public static func tanh(_ x: V) -> V {
        var a = x
        a.replace(with: 7.90531110763549805, where: a .> 7.90531110763549805)
        a.replace(with: -7.90531110763549805, where: a .< -7.90531110763549805)
        let (p, q) = tanhRational(a)
        var t = p / q
        let magnitude = abs(x)
        t.replace(with: x, where: magnitude .< 0.0004)
        t.replace(with: V(repeating: 1).replacing(with: -1, where: x .< 0), where: magnitude .>= 9)
        t.replace(with: x, where: x .!= x)
        return t
    }

    /// The scalar twin of ``tanh(_:)-(V)``.
    @inlinable @inline(__always) public static func tanh(_ x: Float) -> Float {
        let a = Swift.min(Swift.max(x, -7.90531110763549805), 7.90531110763549805)
        let (p, q) = tanhRational(a)
        let magnitude = Swift.abs(x)
        if x.isNaN { return x }
        if magnitude < 0.0004 { return x }
        if magnitude >= 9 { return x < 0 ? -1 : 1 }
        return p / q
    }

    /// The error function, lane by lane: `x + x·Q(x²)` below |x| = ½, `±(1 − erfc|x|)` from
    /// there (``erfcOfLarge(_:)-(V)``). Relative error ≤ 3 ulp (a float64 reference over
    /// 600,000 points of [−10, 10]); ±1 beyond |x| ≈ 4; NaN passes through, −0 stays −0.
    @inlinable @inline(__always) public static func erf(_ x: V) -> V {
        let magnitude = abs(x), large = 1 - erfcOfLarge(magnitude)
        var result = large.replacing(with: negate(large), where: x .< 0)
        result.replace(with: erfOfSmall(x), where: magnitude .< 0.5)
        result.replace(with: x, where: x .!= x)
        return result
    }

    /// The scalar twin of ``erf(_:)-(V)``.
    @inlinable @inline(__always) public static func erf(_ x: Float) -> Float {
        if x.isNaN { return x }
        let magnitude = Swift.abs(x)
        if magnitude < 0.5 { return erfOfSmall(x) }
        let large = 1 - erfcOfLarge(magnitude)
        return x < 0 ? -large : large
    }

    /// The complementary error function `1 − erf(x)`, lane by lane, accurate in relative
    /// terms where it is small: `1 − erf(x)` below |x| = ½, ``erfcOfLarge(_:)-(V)`` from
    /// there (`2 −` it for negative x). Relative error ≤ 6 ulp where the result is a normal
    /// float (a float64 reference over 600,000 points of [−10, 10]); beyond x ≈ 9.3, where
    /// it falls below 2⁻¹²⁶, 0; NaN passes through.
    @inlinable @inline(__always) public static func erfc(_ x: V) -> V {
        let magnitude = abs(x), large = erfcOfLarge(magnitude)
        var result = large.replacing(with: 2 - large, where: x .< 0)
        result.replace(with: 1 - erfOfSmall(x), where: magnitude .< 0.5)
        result.replace(with: x, where: x .!= x)
        return result
    }

    /// The scalar twin of ``erfc(_:)-(V)``.
    @inlinable @inline(__always) public static func erfc(_ x: Float) -> Float {
        if x.isNaN { return x }
        let magnitude = Swift.abs(x)
        if magnitude < 0.5 { return 1 - erfOfSmall(x) }
        let large = erfcOfLarge(magnitude)
        return x < 0 ? 2 - large : large
    }

    /// erf on |x| < ½ as `x + x·Q(x²)`: `Q` a degree-5 least-squares fit (relative error
    /// 2·10⁻¹⁰) of `erf(x)/x − 1`, so the leading term is exact.
    @inlinable @inline(__always)
    static func erfOfSmall<N: PolynomialOperand>(_ x: N) -> N {
        let z = x * x
        var q = N(repeating: -7.657397655e-04)
        q = q * z + 5.198055413e-03
        q = q * z - 2.686261572e-02
        q = q * z + 1.128376946e-01
        q = q * z - 3.761263788e-01
        q = q * z + 1.283791661e-01
        return x + x * q
    }

    /// `erfc(a)` for `a ≥ ½` (a NaN or an `a` above 10 is taken as 10) as
    /// `t·M(t)·e^(−a²)` with `t = 1/(1 + a/2)`: `M` a degree-8 least-squares fit (relative
    /// error 10⁻⁸) of `erfcx(a)/t` on `t ∈ [0.16, 0.8]`, and `e^(−a²)` without rounding
    /// `a²` — `a` splits into `h`, its 12 leading bits, whose square is exact, and the rest,
    /// whose share `(a − h)(a + h)` joins the exponential's reduced argument (where a
    /// rounded `a²` near 80 would cost 2⁻¹⁸ of relative error).
    @inlinable @inline(__always) static func erfcOfLarge(_ a: V) -> V {
        let clamped = a.replacing(with: 10, where: .!(a .< 10))
        let head = unsafeBitCast(unsafeBitCast(clamped, to: VU.self) & 0xFFFF_F000, to: V.self)
        let square = head * head, rest = (clamped - head) * (clamped + head)
        var exponent = negate(square)
        exponent.replace(with: -87.33654, where: exponent .< -87.33654)
        let (shifted, y) = expReduced(exponent, minus: rest)
        let bits = unsafeBitCast(shifted, to: VI.self) &- 0x4B40_0000 &+ 127
        let t = 1 / (1 + clamped * 0.5)
        let result = t * erfcxPolynomial(t) * (y * unsafeBitCast(bits &<< 23, to: V.self))
        return result.replacing(with: 0, where: square .> 87.33654)
    }

    /// The scalar twin of ``erfcOfLarge(_:)-(V)``.
    @inlinable @inline(__always) static func erfcOfLarge(_ a: Float) -> Float {
        let clamped = a < 10 ? a : 10
        let head = Float(bitPattern: clamped.bitPattern & 0xFFFF_F000)
        let square = head * head, rest = (clamped - head) * (clamped + head)
        let exponent = Swift.max(-square, -87.33654)
        let (shifted, y) = expReduced(exponent, minus: rest)
        let scale = Float(bitPattern: (shifted.bitPattern &- 0x4B40_0000 &+ 127) << 23)
        let t = 1 / (1 + clamped * 0.5)
        return square > 87.33654 ? 0 : t * erfcxPolynomial(t) * (y * scale)
    }

    /// `M(t)` of ``erfcOfLarge(_:)-(V)``, by Horner's rule.
    @inlinable @inline(__always)
    static func erfcxPolynomial<N: PolynomialOperand>(_ t: N) -> N {
        var m = N(repeating: -6.192076206e-02)
        m = m * t + 2.986963987e-01
        m = m * t - 5.156456828e-01
        m = m * t + 3.087515235e-01
        m = m * t - 4.607196525e-02
        m = m * t + 2.101060748e-01
        m = m * t + 2.414404750e-01
        m = m * t + 2.825755179e-01
        m = m * t + 2.820765078e-01
        return m
    }

    /// `−x` by flipping the sign bit, as scalar negation does (`0 − x` would give +0 for +0).
    @inlinable @inline(__always) public static func negate(_ x: V) -> V {
        unsafeBitCast(unsafeBitCast(x, to: VU.self) ^ 0x8000_0000, to: V.self)
    }

    @inlinable @inline(__always) public static func abs(_ x: V) -> V {
        unsafeBitCast(unsafeBitCast(x, to: VU.self) & 0x7FFF_FFFF, to: V.self)
    }

    /// NaN-propagating maximum and minimum (TF's `Maximum`/`Minimum` on floats; a NaN in
    /// `a` wins, as in the scalar loops).
    /// The sum of `v`'s lanes as a tree (halves added lane by lane, four times): four
    /// dependent additions where `SIMD.sum()` chains fifteen. The order is fixed, so every
    /// build gives the same bits.
    @inlinable @inline(__always) public static func horizontalSum(_ v: V) -> Float {
        let v8 = v.lowHalf + v.highHalf, v4 = v8.lowHalf + v8.highHalf, v2 = v4.lowHalf + v4.highHalf
        return v2[0] + v2[1]
    }

    /// The largest of `v`'s lanes as a tree, where no lane is NaN (with NaNs: one of the
    /// lanes). Where no lane is NaN the order of the comparisons cannot change the result.
    @inlinable @inline(__always) public static func horizontalMaximum(_ v: V) -> Float {
        let (a8, b8) = (v.lowHalf, v.highHalf), v8 = a8.replacing(with: b8, where: b8 .> a8)
        let (a4, b4) = (v8.lowHalf, v8.highHalf), v4 = a4.replacing(with: b4, where: b4 .> a4)
        let (a2, b2) = (v4.lowHalf, v4.highHalf), v2 = a2.replacing(with: b2, where: b2 .> a2)
        return v2[1] > v2[0] ? v2[1] : v2[0]
    }

    @inlinable @inline(__always) public static func maximum(_ a: V, _ b: V) -> V {
        var m = a.replacing(with: b, where: b .> a)
        m.replace(with: b, where: b .!= b)
        m.replace(with: a, where: a .!= a)
        return m
    }
    @inlinable @inline(__always) public static func minimum(_ a: V, _ b: V) -> V {
        var m = a.replacing(with: b, where: b .< a)
        m.replace(with: b, where: b .!= b)
        m.replace(with: a, where: a .!= a)
        return m
    }
}

/// What ``VectorMath``'s polynomials evaluate on: a float, or a vector of floats lane by
/// lane — the same operations either way.
public protocol PolynomialOperand {
    init(repeating value: Float)
    static func + (a: Self, b: Self) -> Self
    static func - (a: Self, b: Self) -> Self
    static func * (a: Self, b: Self) -> Self
    static func + (a: Self, b: Float) -> Self
    static func - (a: Self, b: Float) -> Self
    static func * (a: Self, b: Float) -> Self
}

extension Float: PolynomialOperand {
    @inlinable public init(repeating value: Float) { self = value }
}

extension SIMD16: PolynomialOperand where Scalar == Float {}
