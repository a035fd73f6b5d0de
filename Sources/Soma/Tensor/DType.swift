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
    /// Byte strings (TF's `DT_STRING`): file names, checkpoint keys, text. Elements live
    /// beside the tensor's buffer (``Tensor/byteStrings``); only string ops, constants,
    /// placeholders and plumbing (`Identity`, `Pack`, `Select`, …) accept them.
    case string = 7
    /// A handle to a resource variable (TF's `DT_RESOURCE`). In Soma a handle carries its
    /// variable's shape, and what flows at run time is the variable's value, read by the
    /// consumer (as for `VariableV2` refs).
    case resource = 20
    /// A host object (TF's `DT_VARIANT`): in Soma, a ``TensorList`` — the sequences that
    /// `TensorList*` ops build in loops. A variant tensor holds one list per element.
    case variant = 21

    /// Bytes per element (for strings and handles: a nominal size, for budgets and plans).
    public var byteSize: Int {
        switch self {
        case .float32, .int32: 4
        case .float64, .int64, .resource, .variant: 8
        case .uint8, .bool: 1
        case .string: 16
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
        case .string: "string"
        case .resource: "resource"
        case .variant: "variant"
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
        case .string: "DT_STRING"
        case .resource: "DT_RESOURCE"
        case .variant: "DT_VARIANT"
        }
    }

    public var isFloatingPoint: Bool { self == .float32 || self == .float64 }
    public var isInteger: Bool { self == .int32 || self == .int64 || self == .uint8 }
    /// Floating point or integer.
    public var isNumeric: Bool { isFloatingPoint || isInteger }
    /// Fixed-size elements stored in the tensor's buffer: every type but strings and handles.
    public var isPlain: Bool { self != .string && self != .resource && self != .variant }

    public var description: String { name }

    /// Type sets used by op signatures (TF's `realnumbertypes`, `{int32, int64}`, …).
    public static let floatingPoint: [DType] = [.float32, .float64]
    public static let numeric: [DType] = [.float32, .float64, .int32, .int64, .uint8]
    public static let signedNumeric: [DType] = [.float32, .float64, .int32, .int64]
    public static let indices: [DType] = [.int32, .int64]
    /// The plain types (numbers and bool): what an op accepts unless it says otherwise.
    public static let all: [DType] = [.float32, .float64, .int32, .int64, .uint8, .bool]
    /// Every type, strings and resource handles included (plumbing ops).
    public static let any: [DType] = DType.allCases
}
