/// A possibly partial shape: known or unknown rank, each dimension known or unknown.
///
/// `[nil, 3]` is a matrix with an unknown number of rows and three columns (TF prints it
/// `[?,3]`); ``TensorShape/unknown`` has unknown rank. Placeholders and build-time shape
/// inference use partial shapes; concrete tensors have `[Int]` shapes.
public struct TensorShape: Sendable, Hashable, ExpressibleByArrayLiteral, CustomStringConvertible {
    /// The dimensions, `nil` where unknown; `nil` as a whole when the rank is unknown.
    public var dimensions: [Int?]?

    public init(_ dimensions: [Int?]?) { self.dimensions = dimensions }
    public init(_ concrete: [Int]) { self.dimensions = concrete.map { $0 } }
    public init(arrayLiteral elements: Int?...) { self.dimensions = elements }

    /// A shape of unknown rank.
    public static let unknown = TensorShape(nil as [Int?]?)
    /// The shape of a scalar.
    public static let scalar = TensorShape([Int]())

    /// A shape of known rank whose every dimension is unknown.
    public static func unknown(rank: Int) -> TensorShape {
        TensorShape(Array(repeating: nil as Int?, count: rank))
    }

    public var rank: Int? { dimensions?.count }
    public var isFullyDefined: Bool { dimensions.map { $0.allSatisfy { $0 != nil } } ?? false }
    /// The concrete dimensions when the shape is fully defined.
    public var concrete: [Int]? {
        guard let dims = dimensions, dims.allSatisfy({ $0 != nil }) else { return nil }
        return dims.map { $0! }
    }
    /// The number of elements, when fully defined (and representable).
    public var elementCount: Int? { concrete.flatMap(checkedProduct) }

    public subscript(_ axis: Int) -> Int? { dimensions?[axis] }

    /// Whether a concrete shape is an instance of this partial shape.
    public func isCompatible(with shape: [Int]) -> Bool { isCompatible(with: shape[...]) }

    /// Whether the concrete shape `shape` (part of an array: no copy) is an instance of this one.
    public func isCompatible(with shape: ArraySlice<Int>) -> Bool {
        guard let dims = dimensions else { return true }
        guard dims.count == shape.count else { return false }
        return zip(dims, shape).allSatisfy { $0 == nil || $0 == $1 }
    }

    /// Whether some concrete shape is an instance of both partial shapes.
    public func isCompatible(with other: TensorShape) -> Bool {
        guard let a = dimensions, let b = other.dimensions else { return true }
        guard a.count == b.count else { return false }
        return zip(a, b).allSatisfy { $0 == nil || $1 == nil || $0 == $1 }
    }

    /// The most specific shape compatible with both, or `nil` when they conflict.
    public func merged(with other: TensorShape) -> TensorShape? {
        guard let a = dimensions else { return other }
        guard let b = other.dimensions else { return self }
        guard a.count == b.count else { return nil }
        var out: [Int?] = []
        for (x, y) in zip(a, b) {
            if let x, let y, x != y { return nil }
            out.append(x ?? y)
        }
        return TensorShape(out)
    }

    /// TF's notation: `[?,3]`, `[]`, `<unknown>`.
    public var description: String {
        guard let dims = dimensions else { return "<unknown>" }
        return "[" + dims.map { $0.map(String.init) ?? "?" }.joined(separator: ",") + "]"
    }
}

/// The product of two to seven sizes, or `nil` on overflow: ``checkedProduct(_:)`` without
/// an array, for kernels that must not allocate.
func checkedProduct(_ a: Int, _ b: Int, _ c: Int = 1, _ d: Int = 1, _ e: Int = 1, _ f: Int = 1, _ g: Int = 1) -> Int? {
    let (ab, o1) = a.multipliedReportingOverflow(by: b), (abc, o2) = ab.multipliedReportingOverflow(by: c)
    let (abcd, o3) = abc.multipliedReportingOverflow(by: d), (abcde, o4) = abcd.multipliedReportingOverflow(by: e)
    let (abcdef, o5) = abcde.multipliedReportingOverflow(by: f), (product, o6) = abcdef.multipliedReportingOverflow(by: g)
    return o1 || o2 || o3 || o4 || o5 || o6 ? nil : product
}

/// The product of `values`, or `nil` when it overflows `Int`.
public func checkedProduct(_ values: [Int]) -> Int? {
    var product = 1
    for v in values {
        let (p, overflow) = product.multipliedReportingOverflow(by: v)
        if overflow { return nil }
        product = p
    }
    return product
}

/// Formats a concrete shape as TF does: `[2,3]`.
func shapeString(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ",") + "]"
}
