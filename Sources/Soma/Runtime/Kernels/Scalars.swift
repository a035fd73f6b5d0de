import Foundation
import SomaSIMD

/// Element types with arithmetic, with TF's semantics for each: integer arithmetic wraps,
/// float arithmetic follows IEEE; min/max propagate NaN.
///
/// Kernels are generic over this protocol and specialised per type by the compiler; the
/// requirements are static so that specialised loops compile to plain instructions.
protocol NumericScalar: TensorScalar, Comparable {
    static var zero: Self { get }
    static var one: Self { get }
    /// The identity of `max`: `-inf` for floats, the minimum for integers.
    static var lowest: Self { get }
    /// The identity of `min`.
    static var highest: Self { get }
    static func add(_ a: Self, _ b: Self) -> Self
    static func sub(_ a: Self, _ b: Self) -> Self
    static func mul(_ a: Self, _ b: Self) -> Self
    /// Division; integers truncate toward zero (the caller rules out a zero divisor).
    static func div(_ a: Self, _ b: Self) -> Self
    static func floorDiv(_ a: Self, _ b: Self) -> Self
    /// The remainder with the sign of the divisor (Python's `%`).
    static func floorMod(_ a: Self, _ b: Self) -> Self
    static func power(_ a: Self, _ b: Self) -> Self
    static func negate(_ a: Self) -> Self
    static func absolute(_ a: Self) -> Self
    static func signum(_ a: Self) -> Self
    var isNaNScalar: Bool { get }
    /// The value as `Int64` (exact for integers; floats truncate and saturate).
    var int64Value: Int64 { get }
    init(fromInt v: Int)
}

extension NumericScalar {
    @inline(__always) static func maxPropagatingNaN(_ a: Self, _ b: Self) -> Self {
        a.isNaNScalar ? a : (b.isNaNScalar ? b : (a >= b ? a : b))
    }
    @inline(__always) static func minPropagatingNaN(_ a: Self, _ b: Self) -> Self {
        a.isNaNScalar ? a : (b.isNaNScalar ? b : (a <= b ? a : b))
    }
    @inline(__always) static func squaredDifference(_ a: Self, _ b: Self) -> Self {
        let d = sub(a, b)
        return mul(d, d)
    }
}

extension NumericScalar where Self: BinaryFloatingPoint {
    static var zero: Self { 0 }
    static var one: Self { 1 }
    static var lowest: Self { -.infinity }
    static var highest: Self { .infinity }
    @inline(__always) static func add(_ a: Self, _ b: Self) -> Self { a + b }
    @inline(__always) static func sub(_ a: Self, _ b: Self) -> Self { a - b }
    @inline(__always) static func mul(_ a: Self, _ b: Self) -> Self { a * b }
    @inline(__always) static func div(_ a: Self, _ b: Self) -> Self { a / b }
    @inline(__always) static func negate(_ a: Self) -> Self { -a }
    @inline(__always) static func absolute(_ a: Self) -> Self { Swift.abs(a) }
    @inline(__always) static func signum(_ a: Self) -> Self { a.isNaN ? a : (a > 0 ? 1 : (a < 0 ? -1 : 0)) }
    @inline(__always) var isNaNScalar: Bool { isNaN }
    var int64Value: Int64 { saturatingInteger(Double(self)) }
    init(fromInt v: Int) { self = Self(v) }
}

extension NumericScalar where Self: FixedWidthInteger {
    static var zero: Self { 0 }
    static var one: Self { 1 }
    static var lowest: Self { .min }
    static var highest: Self { .max }
    @inline(__always) static func add(_ a: Self, _ b: Self) -> Self { a &+ b }
    @inline(__always) static func sub(_ a: Self, _ b: Self) -> Self { a &- b }
    @inline(__always) static func mul(_ a: Self, _ b: Self) -> Self { a &* b }
    @inline(__always) static func div(_ a: Self, _ b: Self) -> Self { a.dividedReportingOverflow(by: b).partialValue }
    @inline(__always) static func floorDiv(_ a: Self, _ b: Self) -> Self {
        let q = a.dividedReportingOverflow(by: b).partialValue
        let r = a.remainderReportingOverflow(dividingBy: b).partialValue
        return (r != 0 && ((r < 0) != (b < 0))) ? q &- 1 : q
    }
    @inline(__always) static func floorMod(_ a: Self, _ b: Self) -> Self {
        let r = a.remainderReportingOverflow(dividingBy: b).partialValue
        return (r != 0 && ((r < 0) != (b < 0))) ? r &+ b : r
    }
    /// Exponentiation by squaring, wrapping; the caller rules out negative exponents.
    static func power(_ a: Self, _ b: Self) -> Self {
        var result: Self = 1, base = a, e = b
        while e > 0 {
            if e & 1 == 1 { result = result &* base }
            base = base &* base
            e >>= 1
        }
        return result
    }
    @inline(__always) static func negate(_ a: Self) -> Self { 0 &- a }
    @inline(__always) static func absolute(_ a: Self) -> Self { a < 0 ? 0 &- a : a }
    @inline(__always) static func signum(_ a: Self) -> Self { a > 0 ? 1 : (a < 0 ? 0 &- 1 : 0) }
    @inline(__always) var isNaNScalar: Bool { false }
    var int64Value: Int64 { Int64(truncatingIfNeeded: self) }
    init(fromInt v: Int) { self = Self(truncatingIfNeeded: v) }
}

/// `Float` and `Double`, with the elementary functions kernels need.
protocol FloatScalar: NumericScalar, BinaryFloatingPoint, SIMDScalar, Codable {
    static func exp(_ x: Self) -> Self
    static func expm1(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func log1p(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func erf(_ x: Self) -> Self
    static func erfc(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
    static func fmod(_ x: Self, _ y: Self) -> Self
    init(_ v: Double)
}

extension FloatScalar {
    @inline(__always) static func floorDiv(_ a: Self, _ b: Self) -> Self { (a / b).rounded(.down) }
    /// TF's FloorMod for floats: `fmod`, moved to the divisor's sign.
    @inline(__always) static func floorMod(_ a: Self, _ b: Self) -> Self {
        let r = fmod(a, b)
        return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r
    }
    @inline(__always) static func power(_ a: Self, _ b: Self) -> Self { pow(a, b) }
}

extension Float: FloatScalar {
    /// `eˣ` without a libm call, so loops over it vectorise: ``VectorMath/exp(_:)-(Float)``,
    /// Cephes' `expf` (relative error ≤ 2 ulp on [−87.3, 88.7]; beyond, 0 and +∞).
    @inline(__always) static func exp(_ x: Float) -> Float { VectorMath.exp(x) }
    @inline(__always) static func expm1(_ x: Float) -> Float { Foundation.expm1(x) }
    @inline(__always) static func log(_ x: Float) -> Float { Foundation.log(x) }
    @inline(__always) static func log1p(_ x: Float) -> Float { Foundation.log1p(x) }
    /// tanh without a libm call (vectorises): ``VectorMath/tanh(_:)-(Float)``, Eigen's 13/6
    /// rational approximation on |x| ≤ 7.905, x below 0.0004, ±1 from |x| = 9.
    @inline(__always) static func tanh(_ x: Float) -> Float { VectorMath.tanh(x) }
    /// erf without a libm call (vectorises): ``VectorMath/erf(_:)-(Float)``, ≤ 3 ulp.
    @inline(__always) static func erf(_ x: Float) -> Float { VectorMath.erf(x) }
    /// erfc without a libm call (vectorises): ``VectorMath/erfc(_:)-(Float)``, ≤ 6 ulp where
    /// the result is a normal float.
    @inline(__always) static func erfc(_ x: Float) -> Float { VectorMath.erfc(x) }
    @inline(__always) static func pow(_ x: Float, _ y: Float) -> Float { Foundation.pow(x, y) }
    @inline(__always) static func fmod(_ x: Float, _ y: Float) -> Float { Foundation.fmod(x, y) }
}

extension Double: FloatScalar {
    @inline(__always) static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) static func expm1(_ x: Double) -> Double { Foundation.expm1(x) }
    @inline(__always) static func log(_ x: Double) -> Double { Foundation.log(x) }
    @inline(__always) static func log1p(_ x: Double) -> Double { Foundation.log1p(x) }
    @inline(__always) static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
    @inline(__always) static func erf(_ x: Double) -> Double { Foundation.erf(x) }
    @inline(__always) static func erfc(_ x: Double) -> Double { Foundation.erfc(x) }
    @inline(__always) static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
    @inline(__always) static func fmod(_ x: Double, _ y: Double) -> Double { Foundation.fmod(x, y) }
}

extension Int32: NumericScalar {}
extension Int64: NumericScalar {}
extension UInt8: NumericScalar {}

/// Conversion targets of `Cast`, with C++'s `static_cast` semantics made total:
/// integers wrap, floats to integers truncate and saturate (NaN → 0).
protocol CastTarget: TensorScalar {
    init(castingDouble v: Double)
    init(castingInt64 v: Int64)
}
extension Float: CastTarget {
    init(castingDouble v: Double) { self = Float(v) }
    init(castingInt64 v: Int64) { self = Float(v) }
}
extension Double: CastTarget {
    init(castingDouble v: Double) { self = v }
    init(castingInt64 v: Int64) { self = Double(v) }
}
extension Int32: CastTarget {
    init(castingDouble v: Double) { self = saturatingInteger(v) }
    init(castingInt64 v: Int64) { self = Int32(truncatingIfNeeded: v) }
}
extension Int64: CastTarget {
    init(castingDouble v: Double) { self = saturatingInteger(v) }
    init(castingInt64 v: Int64) { self = v }
}
extension UInt8: CastTarget {
    init(castingDouble v: Double) { self = saturatingInteger(v) }
    init(castingInt64 v: Int64) { self = UInt8(truncatingIfNeeded: v) }
}
extension Bool: CastTarget {
    init(castingDouble v: Double) { self = v != 0 }
    init(castingInt64 v: Int64) { self = v != 0 }
}
