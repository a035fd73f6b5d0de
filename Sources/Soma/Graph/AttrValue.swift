/// The value of a node attribute, mirroring TensorFlow's `AttrValue`.
///
/// Attribute names are TF's (`transpose_a`, `keep_dims`, `T`, …). Lists are typed.
public enum AttrValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case int(Int)
    case float(Float)
    case bool(Bool)
    case type(DType)
    case shape(TensorShape)
    case tensor(Tensor)
    case strings([String])
    case ints([Int])
    case floats([Float])
    case bools([Bool])
    case types([DType])
    case shapes([TensorShape])
    /// A function of the graph's library (TF's `func`: `If`'s branches, `While`'s body).
    case function(GraphFunction)
    /// TF's `list(func)` (`Case`'s branches).
    case functions([GraphFunction])

    /// The kind name used by TF op definitions (`int`, `list(int)`, `type`, …).
    public var kind: AttrKind {
        switch self {
        case .string: .string
        case .int: .int
        case .float: .float
        case .bool: .bool
        case .type: .type
        case .shape: .shape
        case .tensor: .tensor
        case .strings: .stringList
        case .ints: .intList
        case .floats: .floatList
        case .bools: .boolList
        case .types: .typeList
        case .shapes: .shapeList
        case .function: .function
        case .functions: .functionList
        }
    }

    public var description: String {
        switch self {
        case .string(let s): "\"\(s)\""
        case .int(let i): "\(i)"
        case .float(let f): "\(f)"
        case .bool(let b): "\(b)"
        case .type(let t): t.tfName
        case .shape(let s): s.description
        case .tensor(let t): "<tensor \(t.dtype) \(shapeString(t.shape))>"
        case .strings(let v): "\(v)"
        case .ints(let v): "\(v)"
        case .floats(let v): "\(v)"
        case .bools(let v): "\(v)"
        case .types(let v): "[" + v.map(\.tfName).joined(separator: ", ") + "]"
        case .shapes(let v): "[" + v.map(\.description).joined(separator: ", ") + "]"
        case .function(let f): f.name
        case .functions(let v): "[" + v.map(\.name).joined(separator: ", ") + "]"
        }
    }
}

/// The kind of an attribute, as TF's op definitions spell it.
public enum AttrKind: String, Sendable {
    case string, int, float, bool, type, shape, tensor
    case stringList = "list(string)"
    case intList = "list(int)"
    case floatList = "list(float)"
    case boolList = "list(bool)"
    case typeList = "list(type)"
    case shapeList = "list(shape)"
    case function = "func"
    case functionList = "list(func)"
}
