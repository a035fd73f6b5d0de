import Foundation

/// A Swift type that is the element type of some ``DType``.
///
/// `Float`, `Double`, `Int32`, `Int64`, `UInt8` and `Bool` conform; each is stored with its
/// natural size and alignment, so a tensor buffer can be bound to the type directly.
public protocol TensorScalar: Sendable, Equatable {
    static var dtype: DType { get }
    /// The value as a `Double` (for descriptions and approximate comparison).
    var doubleValue: Double { get }
    /// The value nearest to `value` (saturating and truncating toward zero for integers).
    init(converting value: Double)
}

extension Float: TensorScalar {
    public static var dtype: DType { .float32 }
    public var doubleValue: Double { Double(self) }
    public init(converting value: Double) { self = Float(value) }
}
extension Double: TensorScalar {
    public static var dtype: DType { .float64 }
    public var doubleValue: Double { self }
    public init(converting value: Double) { self = value }
}
extension Int32: TensorScalar {
    public static var dtype: DType { .int32 }
    public var doubleValue: Double { Double(self) }
    public init(converting value: Double) { self = saturatingInteger(value) }
}
extension Int64: TensorScalar {
    public static var dtype: DType { .int64 }
    public var doubleValue: Double { Double(self) }
    public init(converting value: Double) { self = saturatingInteger(value) }
}
extension UInt8: TensorScalar {
    public static var dtype: DType { .uint8 }
    public var doubleValue: Double { Double(self) }
    public init(converting value: Double) { self = saturatingInteger(value) }
}
extension Bool: TensorScalar {
    public static var dtype: DType { .bool }
    public var doubleValue: Double { self ? 1 : 0 }
    public init(converting value: Double) { self = value != 0 }
}

/// Truncates toward zero and saturates at the type's bounds; NaN becomes zero.
///
/// Swift's `Int32(x)` traps on NaN and overflow; a kernel must never trap on data.
@inlinable
func saturatingInteger<I: FixedWidthInteger>(_ value: Double) -> I {
    if value.isNaN { return 0 }
    if value <= Double(I.min) { return I.min }
    if value >= Double(I.max) { return I.max }
    return I(value.rounded(.towardZero))
}
