/// A list of tensors of one dtype (TF's `TensorList`), the value a `DT_VARIANT` tensor
/// carries: sequences that loops read element by element or build up (Keras recurrent
/// layers, `while_v2`'s gradient accumulators).
///
/// A value type: an op that changes a list returns a new one (the element tensors are
/// shared, not copied). Elements a `TensorListReserve` made and nothing set yet are `nil`
/// and read as zeros of the element shape.
///
/// Storage: elements set one by one, over a range of elements that are the rows of one
/// tensor (``init(rowsOf:count:elementShape:)``: a list made from a tensor, or the outputs
/// a fused recurrent loop wrote step by step). A row is read in place
/// (``storage(at:)``) or as a view (``subscript(_:)``), so such a list costs one tensor,
/// not one per element; setting an element replaces its row.
public struct TensorList: Sendable {
    /// Elements set one by one (`nil`: a row of ``rows`` where the index is in
    /// ``rowRange``, else never set).
    private var explicit: [Tensor?]
    /// The tensor whose rows (along its first dimension) are the elements in `rowRange`:
    /// storage of its own, each row a whole number of cache lines.
    private var rows: Tensor?
    private var rowRange: Range<Int> = 0..<0
    /// A row's shape and bytes.
    private var rowShape: [Int] = []
    private var rowBytes = 0
    public let elementDType: DType
    /// The shape every element has (partial: what the list was made with).
    public var elementShape: TensorShape
    /// The most elements `PushBack` may add (`-1`: no limit).
    public var maxElements: Int

    public init(elementDType: DType, elementShape: TensorShape, elements: [Tensor?] = [], maxElements: Int = -1) {
        self.explicit = elements
        self.elementDType = elementDType
        self.elementShape = elementShape
        self.maxElements = maxElements
    }

    /// A list whose elements `0..<count` are the rows of `tensor` (`count` ≤ its first
    /// dimension), or `nil` where a row could not be a tensor of its own: `tensor` is a view
    /// (arena memory, gone after the run) or a row is not a whole number of cache lines.
    init?(rowsOf tensor: Tensor, count: Int, elementShape: TensorShape) {
        guard tensor.dtype.isPlain, tensor.rank >= 1, count >= 0, count <= tensor.shape[0] else { return nil }
        self.init(elementDType: tensor.dtype, elementShape: elementShape, elements: Array(repeating: nil, count: count))
        guard adoptRows(tensor, 0..<count) else { return nil }
    }

    /// The number of elements.
    public var count: Int { explicit.count }

    /// Element `index` (`nil`: never set; reads as zeros): a row is returned as a view.
    /// Setting replaces the element; setting `nil` unsets it.
    public subscript(index: Int) -> Tensor? {
        get {
            if let t = explicit[index] { return t }
            guard let rows, rowRange.contains(index) else { return nil }
            return Tensor(dtype: rows.dtype, shape: rowShape,
                          buffer: TensorBuffer(view: rows.rawPointer + index * rowBytes, byteCount: rowBytes, owner: rows.buffer))
        }
        set {
            if newValue == nil && rowRange.contains(index) { detachRows() }
            explicit[index] = newValue
        }
    }

    /// Element `index`'s memory and shape, read in place (`nil`: never set). The list's
    /// tensors keep the memory alive while the list lives.
    func storage(at index: Int) -> (pointer: UnsafeRawPointer, shape: [Int])? {
        if let t = explicit[index] { return (UnsafeRawPointer(t.rawPointer), t.shape) }
        guard let rows, rowRange.contains(index) else { return nil }
        return (UnsafeRawPointer(rows.rawPointer + index * rowBytes), rowShape)
    }

    /// Whether no element is set.
    var isUnset: Bool { rows == nil && explicit.allSatisfy { $0 == nil } }

    /// Adds `element` at the end.
    mutating func append(_ element: Tensor?) { explicit.append(element) }

    /// Removes the last element.
    mutating func removeLast() {
        explicit.removeLast()
        if rowRange.upperBound > explicit.count { rowRange = rowRange.lowerBound..<Swift.max(rowRange.lowerBound, explicit.count) }
    }

    /// Empties the list and refills it with `count` unset elements of `elementShape` — in
    /// its arrays' memory where nothing else shares them (a list op's output kept from run
    /// to run, ``KernelContext/keptList(_:)``).
    mutating func reset(count: Int, elementShape: TensorShape, maxElements: Int = -1) {
        explicit.removeAll(keepingCapacity: true)
        explicit.append(contentsOf: repeatElement(nil, count: count))
        (rows, rowRange, rowBytes) = (nil, 0..<0, 0)  // (`rowShape` stays: adoptRows reuses it)
        self.elementShape = elementShape
        self.maxElements = maxElements
    }

    /// Makes this list (of `other`'s element dtype) a copy of `other`, in its arrays' memory
    /// where nothing else shares them.
    mutating func assign(_ other: TensorList) {
        precondition(other.elementDType == elementDType, "assign: lists of different element dtypes")
        explicit.removeAll(keepingCapacity: true)
        explicit.append(contentsOf: other.explicit)
        (rows, rowRange, rowBytes) = (other.rows, other.rowRange, other.rowBytes)
        if other.rows != nil && rowShape != other.rowShape { rowShape = other.rowShape }  // (read only with rows)
        elementShape = other.elementShape
        maxElements = other.maxElements
    }

    /// Grows the list to `count` elements, the new ones unset.
    mutating func grow(to count: Int) {
        if count > explicit.count { explicit += Array(repeating: nil, count: count - explicit.count) }
    }

    /// Makes `rows`' rows `range` the elements `range` (all unset before), `rows` laid out
    /// as ``init(rowsOf:count:elementShape:)`` requires; `false` (nothing changed) when the
    /// list has rows already, or `rows` does not fit.
    mutating func adoptRows(_ rows: Tensor, _ range: Range<Int>) -> Bool {
        guard self.rows == nil, rows.dtype == elementDType, rows.rank >= 1, !rows.buffer.isView, range.lowerBound >= 0,
              range.upperBound <= Swift.min(explicit.count, rows.shape[0]) else { return false }
        let rowBytes = rows.shape[0] == 0 ? 0 : rows.byteCount / rows.shape[0]
        guard rowBytes % TensorBuffer.alignment == 0 else { return false }
        (self.rows, rowRange, self.rowBytes) = (rows, range, rowBytes)
        if !rowShape.elementsEqual(rows.shape.dropFirst()) { rowShape = Array(rows.shape.dropFirst()) }
        return true
    }

    /// Turns the rows still read through `rows` into explicit views (before an element of
    /// their range is unset).
    private mutating func detachRows() {
        guard let rows else { return }
        for i in rowRange where explicit[i] == nil {
            explicit[i] = Tensor(dtype: rows.dtype, shape: rowShape,
                                 buffer: TensorBuffer(view: rows.rawPointer + i * rowBytes, byteCount: rowBytes, owner: rows.buffer))
        }
        self.rows = nil
        rowRange = 0..<0
    }
}

/// What one element of a `DT_VARIANT` tensor holds.
public enum VariantValue: Sendable {
    case list(TensorList)
    /// TF's `Optional` (the intermediates `cond_v2`'s gradient reads): components, or none.
    case optional([Tensor]?)
}

extension Tensor {
    /// A scalar variant tensor holding `value`.
    public init(variant value: VariantValue) {
        self.init(dtype: .variant, shape: [], buffer: TensorBuffer(variants: [value]))
    }

    /// A scalar variant tensor holding `list`.
    public init(list: TensorList) { self.init(variant: .list(list)) }

    /// What a scalar variant tensor holds (`nil` for other tensors).
    public var variant: VariantValue? {
        guard dtype == .variant, scalarCount == 1 else { return nil }
        return buffer.variants?.first
    }

    /// The list a scalar variant tensor holds (`nil` for other tensors).
    public var list: TensorList? {
        if case .list(let l)? = variant { return l }
        return nil
    }
}
