import Foundation

/// A concrete n-dimensional value: a ``DType``, a shape and row-major contiguous storage.
///
/// Tensors are values: the storage is shared between copies (and between a tensor and its
/// reshapes) but never mutated once the tensor exists. Storage is 64-byte aligned.
///
/// ```swift
/// let m = try Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
/// let s = Tensor(Float(3))            // a scalar
/// m.scalars(as: Float.self)           // [1, 2, 3, 4, 5, 6]
/// ```
///
/// Thread-safety: a `Tensor` may be read from any number of threads at once.
public struct Tensor: Sendable {
    public let dtype: DType
    /// Concrete dimensions; `[]` for a scalar. Dimensions may be zero.
    public let shape: [Int]
    @usableFromInline private(set) var buffer: TensorBuffer

    /// The number of elements: the product of the dimensions (1 for a scalar).
    public var scalarCount: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }
    public var byteCount: Int { scalarCount * dtype.byteSize }

    /// A zero-filled tensor.
    public init(zeros dtype: DType, shape: [Int]) {
        self.init(dtype: dtype, shape: shape, zeroed: true)
    }

    /// A zero-filled tensor whose bytes are reserved from `budget`: for a shape read from a
    /// model file or a feed.
    /// - Throws: `InvalidArgument` for a negative dimension; `ResourceExhausted` when the
    ///   budget or the system refuses the bytes.
    public init(zeros dtype: DType, shape: [Int], budget: MemoryBudget) throws(SomaError) {
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw SomaError.invalidArgument("Tensor shape \(shapeString(shape)) has a negative dimension")
        }
        try self.init(dtype: dtype, shape: shape, zeroed: true, budget: budget,
                      for: "a \(dtype) tensor of shape \(shapeString(shape))")
    }

    /// A tensor whose storage is zero-filled, or left uninitialised for a kernel that
    /// writes every element.
    init(dtype: DType, shape: [Int], zeroed: Bool) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.dtype = dtype
        self.shape = shape
        if dtype == .string {
            // Strings start empty, as TF's zeros of DT_STRING do.
            self.buffer = try! TensorBuffer(strings: Array(repeating: [], count: shape.reduce(1, *)), budget: nil, for: "")
        } else if dtype == .variant {
            self.buffer = TensorBuffer(variants: Array(repeating: .optional(nil), count: shape.reduce(1, *)))
        } else {
            self.buffer = TensorBuffer(byteCount: shape.reduce(1, *) * dtype.byteSize, zeroed: zeroed)
        }
    }

    /// A tensor whose storage is reserved from `budget`: for tensors whose shape a model
    /// or a feed decides. The caller has checked `shape` (non-negative, no overflow).
    /// - Throws: `ResourceExhausted` naming `what` when the budget or the system says no.
    init(dtype: DType, shape: [Int], zeroed: Bool, budget: MemoryBudget, for what: @autoclosure () -> String) throws(SomaError) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        guard let count = checkedProduct(shape), count <= Int.max / Swift.max(dtype.byteSize, 1) else {
            throw SomaError(.resourceExhausted, "\(what()): a \(dtype) tensor of shape \(shapeString(shape)) has more bytes than can be addressed")
        }
        self.dtype = dtype
        self.shape = shape
        if dtype == .string {
            self.buffer = try TensorBuffer(strings: Array(repeating: [], count: count), budget: budget, for: what())
        } else if dtype == .variant {
            self.buffer = TensorBuffer(variants: Array(repeating: .optional(nil), count: count))
        } else if count == 0 {
            self.buffer = .empty
        } else {
            self.buffer = try TensorBuffer(byteCount: count * dtype.byteSize, zeroed: zeroed, budget: budget, for: what())
        }
    }

    /// This tensor with storage of its own: itself, or a copy when it views memory that a
    /// run will reuse (a plan's arena). A copy is reserved from `budget` when one is given.
    func owned(budget: MemoryBudget? = nil) throws(SomaError) -> Tensor {
        guard buffer.isView else { return self }
        let copy = if let budget {
            try Tensor(dtype: dtype, shape: shape, zeroed: false, budget: budget, for: "a fetched \(dtype) tensor of shape \(shapeString(shape))")
        } else {
            Tensor(dtype: dtype, shape: shape, zeroed: false)
        }
        copy.rawPointer.copyMemory(from: rawPointer, byteCount: byteCount)
        return copy
    }

    /// What an executor hands a kernel for an input it reaches by key — a variable the
    /// kernel writes (``OpDef/variableTargets(_:)``) — instead of the variable's value.
    static let variableTarget = Tensor(dtype: .resource, shape: [0], buffer: TensorBuffer(byteCount: 0))

    /// Makes this tensor's storage its own and nobody else's, copying it when it is shared
    /// (another holder — a fetch, a pending read — keeps the value it had) or views memory
    /// that is not its own: writing through it afterwards changes no other holder's value.
    /// Numeric tensors only.
    mutating func makeUniquelyOwned() {
        if isUniquelyOwnedInPlace() { return }
        let copy = Tensor(dtype: dtype, shape: shape, zeroed: false)
        copy.rawPointer.copyMemory(from: rawPointer, byteCount: byteCount)
        self = copy
    }

    /// Whether this tensor's storage is its own and no other tensor holds it.
    mutating func isUniquelyOwnedInPlace() -> Bool { !buffer.isView && isKnownUniquelyReferenced(&buffer) }

    init(dtype: DType, shape: [Int], buffer: TensorBuffer) {
        self.dtype = dtype
        self.shape = shape
        self.buffer = buffer
    }

    /// A tensor with the given scalars in row-major order.
    /// - Throws: ``SomaError`` when `scalars.count` is not the product of `shape`.
    public init<T: TensorScalar>(_ scalars: [T], shape: [Int]) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw SomaError.invalidArgument("Tensor shape \(shapeString(shape)) has a negative dimension")
        }
        let count = shape.reduce(1, *)
        guard count == scalars.count else {
            throw SomaError.invalidArgument(
                "Tensor of shape \(shapeString(shape)) needs \(count) scalars, but \(scalars.count) were given")
        }
        self.init(zeros: T.dtype, shape: shape)
        scalars.withUnsafeBufferPointer { src in
            guard let base = src.baseAddress else { return }
            buffer.data.copyMemory(from: base, byteCount: count * MemoryLayout<T>.stride)
        }
    }

    /// A rank-1 tensor.
    public init<T: TensorScalar>(_ scalars: [T]) {
        // A 1-D shape always matches its array.
        try! self.init(scalars, shape: [scalars.count])
    }

    /// A rank-0 tensor.
    public init<T: TensorScalar>(_ scalar: T) {
        try! self.init([scalar], shape: [])
    }

    /// A tensor whose every element is `value`.
    public init<T: TensorScalar>(repeating value: T, shape: [Int]) {
        self.init(zeros: T.dtype, shape: shape)
        let p = buffer.data.bindMemory(to: T.self, capacity: scalarCount)
        p.update(repeating: value, count: scalarCount)
    }

    /// The same storage viewed with another shape of the same element count.
    func reshaped(to newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == scalarCount)
        return Tensor(dtype: dtype, shape: newShape, buffer: buffer)
    }

    // MARK: Typed access

    /// The elements in row-major order.
    /// - Precondition: `T.dtype == dtype`.
    public func scalars<T: TensorScalar>(as type: T.Type = T.self) -> [T] {
        withUnsafeBufferPointer(as: T.self) { Array($0) }
    }

    /// The single element of a tensor with one element (a scalar, `[1]`, `[1, 1]`, …).
    /// - Precondition: `T.dtype == dtype` and `scalarCount == 1`.
    public func scalar<T: TensorScalar>(as type: T.Type = T.self) -> T {
        precondition(scalarCount == 1, "scalar(as:) on a tensor of shape \(shapeString(shape))")
        return withUnsafeBufferPointer(as: T.self) { $0[0] }
    }

    /// Calls `body` with the elements as a typed buffer.
    /// - Precondition: `T.dtype == dtype`.
    @inlinable
    public func withUnsafeBufferPointer<T: TensorScalar, R>(
        as type: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R
    ) rethrows -> R {
        precondition(T.dtype == dtype, "tensor of dtype \(dtype) read as \(T.dtype)")
        let p = buffer.data.assumingMemoryBound(to: T.self)
        return try body(UnsafeBufferPointer(start: p, count: scalarCount))
    }

    /// Typed pointer to the elements, for kernels writing a tensor they just allocated.
    @inlinable
    func mutablePointer<T>(as type: T.Type) -> UnsafeMutablePointer<T> {
        buffer.data.assumingMemoryBound(to: T.self)
    }

    /// Typed pointer to the elements, for kernels reading their inputs.
    @inlinable
    func pointer<T>(as type: T.Type) -> UnsafePointer<T> {
        UnsafePointer(buffer.data.assumingMemoryBound(to: T.self))
    }

    var rawPointer: UnsafeMutableRawPointer { buffer.data }

    /// The elements converted to `Double` (any dtype).
    public func doubleScalars() -> [Double] {
        switch dtype {
        case .float32: scalars(as: Float.self).map(\.doubleValue)
        case .float64: scalars(as: Double.self)
        case .int32: scalars(as: Int32.self).map(\.doubleValue)
        case .int64: scalars(as: Int64.self).map(\.doubleValue)
        case .uint8: scalars(as: UInt8.self).map(\.doubleValue)
        case .bool: scalars(as: Bool.self).map(\.doubleValue)
        case .string, .resource, .variant: []
        }
    }

    /// Whether every element equals `value` (stops at the first that does not).
    func isFilled(with value: Double) -> Bool {
        func check<T: TensorScalar>(_: T.Type) -> Bool {
            withUnsafeBufferPointer(as: T.self) { $0.allSatisfy { $0.doubleValue == value } }
        }
        switch dtype {
        case .float32: return check(Float.self)
        case .float64: return check(Double.self)
        case .int32: return check(Int32.self)
        case .int64: return check(Int64.self)
        case .uint8: return check(UInt8.self)
        case .bool: return check(Bool.self)
        case .string, .resource, .variant: return false
        }
    }

    /// The elements of an integer tensor as `Int`, or `nil` for other dtypes.
    /// Element `i` of an integer tensor as `Int`, without copying the tensor (nil for
    /// non-integer dtypes).
    func intScalar(at i: Int) -> Int? {
        switch dtype {
        case .int32: Int(pointer(as: Int32.self)[i])
        case .int64: Int(pointer(as: Int64.self)[i])
        case .uint8: Int(pointer(as: UInt8.self)[i])
        default: nil
        }
    }

    public func intScalars() -> [Int]? {
        switch dtype {
        case .int32: scalars(as: Int32.self).map { Int($0) }
        case .int64: scalars(as: Int64.self).map { Int($0) }
        case .uint8: scalars(as: UInt8.self).map { Int($0) }
        default: nil
        }
    }
}

extension Tensor: Equatable {
    /// Exact equality: same dtype, same shape, bitwise-equal elements.
    public static func == (a: Tensor, b: Tensor) -> Bool {
        guard a.dtype == b.dtype && a.shape == b.shape else { return false }
        if a.dtype == .string { return a.byteStrings == b.byteStrings }
        return a.buffer === b.buffer || memcmp(a.buffer.data, b.buffer.data, a.byteCount) == 0
    }
}

extension Tensor {
    /// Whether every element is within `absoluteTolerance + relativeTolerance × |b|` of the
    /// other tensor's, with equal dtypes and shapes. NaNs match NaNs; infinities match
    /// infinities of the same sign.
    public func isApproximatelyEqual(
        to other: Tensor, relativeTolerance: Double = 1e-5, absoluteTolerance: Double = 1e-6
    ) -> Bool {
        guard dtype == other.dtype, shape == other.shape else { return false }
        return maxMismatch(other, relativeTolerance: relativeTolerance, absoluteTolerance: absoluteTolerance) == nil
    }

    /// The first element index where the tensors differ beyond the tolerance, if any.
    public func maxMismatch(
        _ other: Tensor, relativeTolerance: Double = 1e-5, absoluteTolerance: Double = 1e-6
    ) -> (index: Int, value: Double, expected: Double)? {
        let a = doubleScalars(), b = other.doubleScalars()
        for i in a.indices {
            let x = a[i], y = b[i]
            if x.isNaN && y.isNaN { continue }
            if x == y { continue }
            if !x.isFinite || !y.isFinite || abs(x - y) > absoluteTolerance + relativeTolerance * abs(y) {
                return (i, x, y)
            }
        }
        return nil
    }
}

// MARK: Strings

extension Tensor {
    /// A string tensor (TF's `DT_STRING`) holding byte strings in row-major order.
    /// - Throws: ``SomaError`` when `byteStrings.count` is not the product of `shape`.
    public init(byteStrings: [[UInt8]], shape: [Int]) throws {
        guard shape.allSatisfy({ $0 >= 0 }), checkedProduct(shape) == byteStrings.count else {
            throw SomaError.invalidArgument(
                "String tensor of shape \(shapeString(shape)) cannot hold \(byteStrings.count) strings")
        }
        self.init(dtype: .string, shape: shape, buffer: try TensorBuffer(strings: byteStrings, budget: nil, for: ""))
    }

    /// A string tensor of UTF-8 strings.
    public init(strings: [String], shape: [Int]) throws {
        try self.init(byteStrings: strings.map { Array($0.utf8) }, shape: shape)
    }

    /// A scalar string tensor.
    public init(_ string: String) {
        try! self.init(strings: [string], shape: [])  // one string fits a scalar
    }

    /// The elements of a string tensor as bytes (`nil` for other dtypes).
    public var byteStrings: [[UInt8]]? {
        guard dtype == .string else { return nil }
        return buffer.strings ?? Array(repeating: [], count: scalarCount)
    }

    /// The elements of a string tensor decoded as UTF-8 (invalid bytes replaced).
    public var strings: [String]? { byteStrings?.map { String(decoding: $0, as: UTF8.self) } }
}

