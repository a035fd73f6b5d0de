/// A violated shape or attribute rule, in TF's wording ("Dimensions must be equal, but are
/// 3 and 4"). The graph and the executor add the node, op, input shapes and call site.
public struct ShapeError: Error, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// What a shape function knows about a node being built or run.
///
/// At build time shapes may be partial and input values are known only for constants
/// (and things computed from static shapes); at run time every shape is concrete and
/// every input value is known, so the same function yields the concrete output shapes.
public struct ShapeContext {
    public let inputShapes: [TensorShape]
    public let inputTypes: [DType]
    public let attrs: [String: AttrValue]
    /// Known input values (constants at build time, every input at run time).
    let values: [Tensor?]
    /// Partial knowledge of integer inputs read as shapes (`Shape(x)` of a partial `x`,
    /// `Pack` of some constant scalars).
    let shapeValues: [TensorShape?]
    /// Whether this is the run-time call, every input value final: a `-1` read as a shape
    /// then is an error (TF: "Dimension -1 must be >= 0"), not an unknown dimension.
    let valuesAreFinal: Bool
    /// For `DT_VARIANT` inputs holding TensorLists: what is known of their elements' shape
    /// (TF's handle data), when the compiler knows it.
    let listShapes: [TensorShape?]

    init(inputShapes: [TensorShape], inputTypes: [DType], attrs: [String: AttrValue],
         values: [Tensor?], shapeValues: [TensorShape?], valuesAreFinal: Bool = false, listShapes: [TensorShape?] = []) {
        self.inputShapes = inputShapes
        self.inputTypes = inputTypes
        self.attrs = attrs
        self.values = values
        self.shapeValues = shapeValues
        self.valuesAreFinal = valuesAreFinal
        self.listShapes = listShapes
    }

    /// The element shape known for the list at input `i`, if any.
    func listShape(_ i: Int) -> TensorShape? { i < listShapes.count ? listShapes[i] : nil }

    public var inputCount: Int { inputShapes.count }
    public func shape(_ i: Int) -> TensorShape { inputShapes[i] }
    public func value(_ i: Int) -> Tensor? { values[i] }

    /// The integer elements of input `i`, when its value is known.
    public func intValues(_ i: Int) -> [Int]? { values[i]?.intScalars() }

    /// Input `i`, a rank-1 integer tensor, read as a shape; `-1` elements are unknown.
    public func shapeFromInput(_ i: Int) throws -> TensorShape {
        if let v = intValues(i) {
            guard inputShapes[i].rank ?? 1 <= 1 else {
                throw ShapeError("Shape must be rank 1 but is rank \(inputShapes[i].rank!)")
            }
            return TensorShape(try v.map { d -> Int? in
                if d == -1 && !valuesAreFinal { return nil }
                guard d >= 0 else { throw ShapeError("Dimension \(d) must be >= \(valuesAreFinal ? 0 : -1)") }
                return d
            })
        }
        if let partial = shapeValues[i] { return partial }
        if let n = inputShapes[i][0] ?? nil, inputShapes[i].rank == 1 { return try unknownShape(rank: n) }
        return .unknown
    }

    // MARK: Attributes

    public func int(_ name: String) -> Int { if case .int(let v)? = attrs[name] { v } else { 0 } }
    public func bool(_ name: String) -> Bool { if case .bool(let v)? = attrs[name] { v } else { false } }
    public func ints(_ name: String) -> [Int] { if case .ints(let v)? = attrs[name] { v } else { [] } }
    public func string(_ name: String) -> String { if case .string(let v)? = attrs[name] { v } else { "" } }
    public func type(_ name: String) -> DType? { if case .type(let v)? = attrs[name] { v } else { nil } }
    public func shapeAttr(_ name: String) -> TensorShape {
        if case .shape(let v)? = attrs[name] { v } else { .unknown }
    }

    // MARK: Checks with TF's wording

    /// The dims of input `i`, checking its rank when known; `nil` for unknown rank.
    @discardableResult
    public func withRank(_ i: Int, _ rank: Int) throws -> [Int?]? {
        guard let dims = inputShapes[i].dimensions else { return nil }
        guard dims.count == rank else { throw ShapeError("Shape must be rank \(rank) but is rank \(dims.count)") }
        return dims
    }

    /// The dims of input `i`, checking its rank is at least `rank` when known.
    @discardableResult
    public func withRankAtLeast(_ i: Int, _ rank: Int) throws -> [Int?]? {
        guard let dims = inputShapes[i].dimensions else { return nil }
        guard dims.count >= rank else {
            throw ShapeError("Shape must be at least rank \(rank) but is rank \(dims.count)")
        }
        return dims
    }

    /// Input `i` must be a scalar (or of unknown shape).
    public func scalarInput(_ i: Int) throws { try withRank(i, 0) }
}

/// The largest rank Soma accepts (TF's limit is 254).
let maxRank = 254

/// A shape of `rank` unknown dimensions, where `rank` comes from data.
func unknownShape(rank: Int) throws -> TensorShape {
    guard rank <= maxRank else { throw ShapeError("Rank \(rank) exceeds the maximum of \(maxRank)") }
    return .unknown(rank: rank)
}

/// `a + b` for dimension arithmetic, failing instead of overflowing.
func addDims(_ a: Int, _ b: Int) throws -> Int {
    let (s, overflow) = a.addingReportingOverflow(b)
    guard !overflow else { throw ShapeError("Dimension size overflows: \(a) + \(b)") }
    return s
}

/// `a × b` for dimension arithmetic, failing instead of overflowing.
func multiplyDims(_ a: Int, _ b: Int) throws -> Int {
    let (p, overflow) = a.multipliedReportingOverflow(by: b)
    guard !overflow else { throw ShapeError("Dimension size overflows: \(a) × \(b)") }
    return p
}

/// Merges two dimensions that must be equal; unknown merges with anything.
func mergeDim(_ a: Int?, _ b: Int?) throws -> Int? {
    if let a, let b, a != b { throw ShapeError("Dimensions must be equal, but are \(a) and \(b)") }
    return a ?? b
}

/// Normalises an axis in `[-rank, rank)` to `[0, rank)`.
func canonicalAxis(_ axis: Int, rank: Int, what: String = "axis") throws -> Int {
    guard axis >= -rank && axis < rank else {
        throw ShapeError("\(what) \(axis) is out of range for a tensor of rank \(rank): must be in [\(-rank), \(rank))")
    }
    return axis < 0 ? axis + rank : axis
}
