/// An op output whose producer can be examined: a built graph's ``NodeOutput`` or a
/// compiler IR value.
protocol ValueSource {
    var producerOp: String { get }
    var producerAttrs: [String: AttrValue] { get }
    var producerInputs: [Self] { get }
    var shape: TensorShape { get }
    /// Which output of its producer this is.
    var index: Int { get }
    /// The first output up a chain of `Identity`/`StopGradient` that is not one (itself
    /// when it is not one).
    var throughIdentities: Self { get }
}

extension ValueSource {
    /// A loop, so a chain of any length costs no stack.
    var throughIdentities: Self {
        var current = self
        while current.producerOp == "Identity" || current.producerOp == "StopGradient" { current = current.producerInputs[0] }
        return current
    }
}

/// Values known without running anything, which shape functions use to give exact shapes.
enum KnownValues {
    /// The value of an output when it is known statically: constants, identities of them,
    /// and shapes, sizes and ranks of statically shaped tensors.
    ///
    /// - Parameter resolve: finds the first output up a chain of identities
    ///   (``ValueSource/throughIdentities`` unless the caller keeps a memo of chains).
    static func constant<S: ValueSource>(_ output: S, resolve: (S) -> S = { $0.throughIdentities }) -> Tensor? {
        let output = resolve(output)
        switch output.producerOp {
        case "Const":
            if case .tensor(let t)? = output.producerAttrs["value"] { return t }
            return nil
        case "Shape":
            guard let dims = output.producerInputs[0].shape.concrete else { return nil }
            return try? ArrayKernels.indexTensor(dims, outType(output), shape: [dims.count])
        case "ShapeN":
            guard let dims = output.producerInputs[output.index].shape.concrete else { return nil }
            return try? ArrayKernels.indexTensor(dims, outType(output), shape: [dims.count])
        case "Size":
            guard let n = output.producerInputs[0].shape.elementCount else { return nil }
            return try? ArrayKernels.indexTensor([n], outType(output), shape: [])
        case "Rank":
            return output.producerInputs[0].shape.rank.map { Tensor(Int32($0)) }
        default:
            return nil
        }
    }

    private static func outType<S: ValueSource>(_ output: S) -> DType {
        if case .type(let t)? = output.producerAttrs["out_type"] { return t }
        return .int32
    }

    /// What is known of an integer output read as a shape: `Shape(x)` of a partial `x`,
    /// or a `Pack` of scalars some of which are constant.
    static func partialShape<S: ValueSource>(_ output: S, resolve: (S) -> S = { $0.throughIdentities }) -> TensorShape? {
        let output = resolve(output)
        switch output.producerOp {
        case "Shape":
            return output.producerInputs[0].shape
        case "ShapeN":
            return output.producerInputs[output.index].shape
        case "Pack":
            let inputs = output.producerInputs
            guard case .int(0)? = output.producerAttrs["axis"], inputs.allSatisfy({ $0.shape.rank == 0 }) else { return nil }
            return TensorShape(inputs.map { input -> Int? in
                guard let v = constant(input, resolve: resolve)?.intScalars()?.first, v >= 0 else { return nil }
                return v
            })
        default:
            return nil
        }
    }
}

extension NodeOutput: ValueSource {
    var producerOp: String { node.op }
    var producerAttrs: [String: AttrValue] { node.attrs }
    var producerInputs: [NodeOutput] { node.inputs }
    /// O(1): each identity node records its resolved source when it is added.
    var throughIdentities: NodeOutput { node.identitySource ?? self }
}
