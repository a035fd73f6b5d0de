import Foundation

/// The one declaration of an op: TF name, signature, attributes with TF's defaults,
/// traits, shape function and gradient.
///
/// Ops are declared in `Ops/*.swift` as rows of a table (one table per family) and
/// collected by ``OpRegistry``. The CPU kernel for an op lives in the matching
/// `Runtime/Kernels/<Family>+CPU.swift` file, registered under the same name.
public struct OpDef: Sendable {
    public let name: String
    public let inputs: [ArgDef]
    public let outputs: [ArgDef]
    public let attrs: [AttrDef]
    public let traits: OpTraits
    /// Output shapes from input shapes, dtypes, attributes and any known input values.
    let shapeFunction: ShapeFunction
    public internal(set) var gradient: GradientSlot

    /// Declares an op.
    ///
    /// - Parameters:
    ///   - inputs: TF-style argument specs: `"x: T"`, `"values: N * T"`, `"ref: Ref(T)"`,
    ///     `"condition: bool"`.
    ///   - outputs: the same notation for outputs.
    public init(
        _ name: String, inputs: [String] = [], outputs: [String] = [], attrs: [AttrDef] = [],
        traits: OpTraits = [], gradient: GradientSlot = .pending, shape: @escaping ShapeFunction
    ) {
        self.name = name
        // An argument typed by a list(type) attribute is a list of that many values.
        let typeLists = Set(attrs.filter { $0.kind == .typeList }.map(\.name))
        self.inputs = inputs.map { ArgDef(parsing: $0, typeLists: typeLists) }
        self.outputs = outputs.map { ArgDef(parsing: $0, typeLists: typeLists) }
        self.attrs = attrs
        self.traits = traits
        self.shapeFunction = shape
        self.gradient = gradient
    }

    public func attr(_ name: String) -> AttrDef? { attrs.first { $0.name == name } }
}

/// Computes output shapes. Throws ``ShapeError`` with TF-like wording for the rule
/// violated; the graph adds the node, op, input shapes and call site.
public typealias ShapeFunction = @Sendable (ShapeContext) throws -> [TensorShape]

/// The gradient of an op.
public enum GradientSlot: Sendable {
    /// Declared differentiable; its gradient function is not written yet. Differentiating
    /// through it is an error naming the node.
    case pending
    /// No gradient flows through this op (comparisons, shapes, integer ops, …): TF's
    /// `ops.NotDifferentiable`; a path through it contributes nothing.
    case notDifferentiable
    /// No gradient is defined (TF registers none: fused ops, optimiser updates):
    /// differentiating through it is an error naming the node, like TF's `LookupError`.
    case undefined
    /// The gradient: from the node and the gradients of its outputs, the gradients of its
    /// inputs (`nil` where none flows), built as graph nodes with TF's gradient ops.
    case function(GradientFunction)
}

/// Facts about an op that passes consult instead of keeping their own lists.
public struct OpTraits: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Has effects or state: never folded, deduplicated or pruned away when targeted.
    public static let stateful = OpTraits(rawValue: 1 << 0)
    /// Output element i depends only on input element i (after broadcasting).
    public static let elementwise = OpTraits(rawValue: 1 << 1)
    /// `f(x, y) == f(y, x)`.
    public static let commutative = OpTraits(rawValue: 1 << 2)
    /// Output 0 is a reference to session-held state (a variable).
    public static let variable = OpTraits(rawValue: 1 << 3)
    /// Produces a value that must be fed or defaulted (placeholders).
    public static let feedable = OpTraits(rawValue: 1 << 4)
    /// The kernel returns input 0's tensor (a view, possibly reshaped) as output 0:
    /// Identity, StopGradient, Reshape, ExpandDims, Squeeze, PlaceholderWithDefault.
    public static let forwardsInput = OpTraits(rawValue: 1 << 5)
    /// Runs library functions named by its attributes (`If`, `While`, `Case`): never
    /// evaluated at compile time.
    public static let callsFunctions = OpTraits(rawValue: 1 << 6)
    /// Writes the variables behind its `resource` inputs, by key (`ResourceApply*`,
    /// `AssignAddVariableOp`), as ops with `Ref(T)` inputs write theirs.
    public static let writesVariables = OpTraits(rawValue: 1 << 7)
}

/// One input or output argument of an op.
public struct ArgDef: Sendable, Equatable {
    public enum TypeSpec: Sendable, Equatable {
        case fixed(DType)
        /// The dtype is the value of this `type` attribute.
        case attr(String)
        /// A list of values whose dtypes are this `list(type)` attribute (`Tout`, `dtypes`).
        case list(String)
    }

    public let name: String
    public let type: TypeSpec
    /// For a list argument, the `int` attribute holding its length.
    public let numberAttr: String?
    /// A reference to a variable (TF's `Ref(T)`): the consumer writes the variable.
    public let isRef: Bool

    /// How many values the argument binds under `attrs`: its `N`, its type list's length,
    /// or 1; `nil` when the deciding attribute is missing.
    func count(in attrs: [String: AttrValue]) -> Int? {
        if let n = numberAttr {
            if case .int(let k)? = attrs[n] { return k }
            return nil
        }
        if case .list(let t) = type {
            if case .types(let list)? = attrs[t] { return list.count }
            return nil
        }
        return 1
    }

    /// Parses TF's notation: `x: T`, `values: N * T`, `ref: Ref(T)`, `condition: bool`,
    /// `outputs: Tout` (when `Tout` is one of `typeLists`).
    init(parsing spec: String, typeLists: Set<String> = []) {
        let parts = spec.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        precondition(parts.count == 2, "bad argument spec '\(spec)'")
        name = parts[0]
        var typeText = parts[1]
        if let star = typeText.firstIndex(of: "*") {
            numberAttr = typeText[..<star].trimmingCharacters(in: .whitespaces)
            typeText = typeText[typeText.index(after: star)...].trimmingCharacters(in: .whitespaces)
        } else {
            numberAttr = nil
        }
        if typeText.hasPrefix("Ref(") && typeText.hasSuffix(")") {
            isRef = true
            typeText = String(typeText.dropFirst(4).dropLast())
        } else {
            isRef = false
        }
        let fixed: [String: DType] = [
            "float": .float32, "double": .float64, "int32": .int32, "int64": .int64, "uint8": .uint8, "bool": .bool,
            "string": .string, "resource": .resource, "variant": .variant,
        ]
        if let dtype = fixed[typeText] { type = .fixed(dtype) }
        else if typeLists.contains(typeText) { type = .list(typeText) }
        else { type = .attr(typeText) }
    }
}

/// One attribute of an op: TF name, kind, default and constraints.
public struct AttrDef: Sendable {
    public let name: String
    public let kind: AttrKind
    /// TF's default; `nil` when the attribute is required (or inferred from inputs).
    public let defaultValue: AttrValue?
    /// For `type` attributes: the allowed dtypes.
    public let allowedTypes: [DType]?
    /// For `string` attributes: the allowed values.
    public let allowedStrings: [String]?
    /// For `int` attributes: the smallest allowed value.
    public let minimum: Int?

    init(_ name: String, _ kind: AttrKind, default d: AttrValue? = nil, types: [DType]? = nil,
         strings: [String]? = nil, minimum: Int? = nil) {
        self.name = name
        self.kind = kind
        self.defaultValue = d
        self.allowedTypes = types
        self.allowedStrings = strings
        self.minimum = minimum
    }

    public static func type(_ name: String, _ allowed: [DType] = DType.all, default d: DType? = nil) -> AttrDef {
        AttrDef(name, .type, default: d.map(AttrValue.type), types: allowed)
    }
    public static func int(_ name: String, default d: Int? = nil, minimum: Int? = nil) -> AttrDef {
        AttrDef(name, .int, default: d.map(AttrValue.int), minimum: minimum)
    }
    public static func bool(_ name: String, default d: Bool) -> AttrDef { AttrDef(name, .bool, default: .bool(d)) }
    public static func float(_ name: String, default d: Float? = nil) -> AttrDef {
        AttrDef(name, .float, default: d.map(AttrValue.float))
    }
    public static func string(_ name: String, default d: String? = nil, allowed: [String]? = nil) -> AttrDef {
        AttrDef(name, .string, default: d.map(AttrValue.string), strings: allowed)
    }
    public static func strings(_ name: String, default d: [String]? = nil) -> AttrDef {
        AttrDef(name, .stringList, default: d.map(AttrValue.strings))
    }
    public static func floats(_ name: String, default d: [Float]? = nil) -> AttrDef {
        AttrDef(name, .floatList, default: d.map(AttrValue.floats))
    }
    public static func ints(_ name: String, default d: [Int]? = nil) -> AttrDef {
        AttrDef(name, .intList, default: d.map(AttrValue.ints))
    }
    public static func shape(_ name: String, default d: TensorShape? = nil) -> AttrDef {
        AttrDef(name, .shape, default: d.map(AttrValue.shape))
    }
    public static func tensor(_ name: String) -> AttrDef { AttrDef(name, .tensor) }
    /// A `list(type)` attribute, each element one of `allowed`.
    public static func types(_ name: String, _ allowed: [DType] = DType.any, default d: [DType]? = nil) -> AttrDef {
        AttrDef(name, .typeList, default: d.map(AttrValue.types), types: allowed)
    }
    public static func shapes(_ name: String, default d: [TensorShape]? = nil) -> AttrDef {
        AttrDef(name, .shapeList, default: d.map(AttrValue.shapes))
    }
    /// A `func` attribute (a library function: a branch, a loop body).
    public static func function(_ name: String) -> AttrDef { AttrDef(name, .function) }
    /// A `list(func)` attribute.
    public static func functions(_ name: String) -> AttrDef { AttrDef(name, .functionList) }
}

