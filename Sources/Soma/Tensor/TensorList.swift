/// A list of tensors of one dtype (TF's `TensorList`), the value a `DT_VARIANT` tensor
/// carries: sequences that loops read element by element or build up (Keras recurrent
/// layers, `while_v2`'s gradient accumulators).
///
/// A value type: an op that changes a list returns a new one (the element tensors are
/// shared, not copied). Elements a `TensorListReserve` made and nothing set yet are `nil`
/// and read as zeros of the element shape.
public struct TensorList: Sendable {
    public var elements: [Tensor?]
    public let elementDType: DType
    /// The shape every element has (partial: what the list was made with).
    public var elementShape: TensorShape
    /// The most elements `PushBack` may add (`-1`: no limit).
    public var maxElements: Int

    public init(elementDType: DType, elementShape: TensorShape, elements: [Tensor?] = [], maxElements: Int = -1) {
        self.elements = elements
        self.elementDType = elementDType
        self.elementShape = elementShape
        self.maxElements = maxElements
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
