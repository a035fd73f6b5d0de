/// The element type of a tensor.
///
/// Raw values are TensorFlow's `DataType` enum numbers (`types.proto`), so a `DType`
/// travels through a GraphDef unchanged.
public enum DType: Int32, Sendable, CaseIterable, Hashable, CustomStringConvertible {
    case float32 = 1
    case float64 = 2
    case int32 = 3
    case uint8 = 4
    case int64 = 9
    case bool = 10

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float32, .int32: 4
        case .float64, .int64: 8
        case .uint8, .bool: 1
        }
    }

    /// The NumPy-style name: `float32`, `int64`, `bool`, …
    public var name: String {
        switch self {
        case .float32: "float32"
        case .float64: "float64"
        case .int32: "int32"
        case .uint8: "uint8"
        case .int64: "int64"
        case .bool: "bool"
        }
    }

    /// TensorFlow's enum spelling: `DT_FLOAT`, `DT_INT64`, …
    public var tfName: String {
        switch self {
        case .float32: "DT_FLOAT"
        case .float64: "DT_DOUBLE"
        case .int32: "DT_INT32"
        case .uint8: "DT_UINT8"
        case .int64: "DT_INT64"
        case .bool: "DT_BOOL"
        }
    }

    public var isFloatingPoint: Bool { self == .float32 || self == .float64 }
    public var isInteger: Bool { self == .int32 || self == .int64 || self == .uint8 }
    /// Floating point or integer: every type but `bool`.
    public var isNumeric: Bool { self != .bool }

    public var description: String { name }

    /// Type sets used by op signatures (TF's `realnumbertypes`, `{int32, int64}`, …).
    public static let floatingPoint: [DType] = [.float32, .float64]
    public static let numeric: [DType] = [.float32, .float64, .int32, .int64, .uint8]
    public static let signedNumeric: [DType] = [.float32, .float64, .int32, .int64]
    public static let indices: [DType] = [.int32, .int64]
    public static let all: [DType] = DType.allCases
}
