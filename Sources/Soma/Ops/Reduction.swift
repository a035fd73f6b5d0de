/// Reductions over an axes input, and arg-max/min.
enum ReductionOps {
    static func reduction(_ name: String, _ types: [DType], gradient: GradientSlot = .pending) -> OpDef {
        OpDef(name, inputs: ["input: T", "reduction_indices: Tidx"], outputs: ["output: T"],
              attrs: [.bool("keep_dims", default: false), .type("T", types), .type("Tidx", DType.indices, default: .int32)],
              gradient: gradient, shape: Shapes.reduction)
    }

    static func argReduction(_ name: String) -> OpDef {
        OpDef(name, inputs: ["input: T", "dimension: Tidx"], outputs: ["output: output_type"],
              attrs: [.type("T", DType.numeric + [.bool]), .type("Tidx", DType.indices, default: .int32),
                      .type("output_type", DType.indices, default: .int64)],
              gradient: .notDifferentiable) { c in
            try c.scalarInput(1)
            guard let dims = c.shape(0).dimensions else { return [.unknown] }
            guard let axis = c.intValues(1)?.first else { return [.unknown(rank: max(dims.count - 1, 0))] }
            let a = try canonicalAxis(axis, rank: dims.count, what: "Expected dimension in the range [\(-dims.count), \(dims.count)), but got")
            if let d = dims[a], d == 0 {
                throw ShapeError("Reduction axis \(axis) is empty in shape \(c.shape(0))")
            }
            var out = dims
            out.remove(at: a)
            return [TensorShape(out)]
        }
    }

    static let definitions: [OpDef] = [
        reduction("Sum", DType.numeric),
        reduction("Mean", DType.numeric),
        reduction("Max", DType.numeric),
        reduction("Min", DType.numeric),
        reduction("Prod", DType.numeric),
        OpDef("All", inputs: ["input: bool", "reduction_indices: Tidx"], outputs: ["output: bool"],
              attrs: [.bool("keep_dims", default: false), .type("Tidx", DType.indices, default: .int32)],
              gradient: .notDifferentiable, shape: Shapes.reduction),
        OpDef("Any", inputs: ["input: bool", "reduction_indices: Tidx"], outputs: ["output: bool"],
              attrs: [.bool("keep_dims", default: false), .type("Tidx", DType.indices, default: .int32)],
              gradient: .notDifferentiable, shape: Shapes.reduction),
        argReduction("ArgMax"),
        argReduction("ArgMin"),
    ]
}

// MARK: - Builders

/// The axes constant for a reduction: the given axes, or every axis of `x`.
private func reductionAxes(_ x: Output, _ axis: [Int]?, file: String, line: Int) throws -> Output {
    let g = x.graph
    if let axis { return try g.constant(Tensor(axis.map { Int32($0) }), name: "reduction_indices", file: file, line: line) }
    if let rank = x.shape.rank {
        return try g.constant(Tensor((0..<rank).map { Int32($0) }), name: "Const", file: file, line: line)
    }
    let zero = try g.constant(Int32(0), file: file, line: line), one = try g.constant(Int32(1), file: file, line: line)
    return try range(zero, rank(x, file: file, line: line), one, file: file, line: line)
}

private func reduce(_ op: String, _ x: Output, _ axis: [Int]?, _ keepDims: Bool, _ name: String?, _ file: String, _ line: Int) throws -> Output {
    try x.graph.withNameScope(name ?? op) {
        let axes = try reductionAxes(x, axis, file: file, line: line)
        return try x.graph.output(op, [x, axes], attrs: ["keep_dims": .bool(keepDims)], name: op, file: file, line: line)
    }
}

/// Sum over `axis` (all axes when `nil`) (`Sum`).
public func reduceSum(_ x: Output, axis: [Int]? = nil, keepDims: Bool = false, name: String? = nil,
                      file: String = #fileID, line: Int = #line) throws -> Output {
    try reduce("Sum", x, axis, keepDims, name, file, line)
}
/// Mean over `axis` (all axes when `nil`) (`Mean`); integer means divide truncating.
public func reduceMean(_ x: Output, axis: [Int]? = nil, keepDims: Bool = false, name: String? = nil,
                       file: String = #fileID, line: Int = #line) throws -> Output {
    try reduce("Mean", x, axis, keepDims, name, file, line)
}
/// Maximum over `axis` (`Max`); an empty reduction gives the dtype's lowest value.
public func reduceMax(_ x: Output, axis: [Int]? = nil, keepDims: Bool = false, name: String? = nil,
                      file: String = #fileID, line: Int = #line) throws -> Output {
    try reduce("Max", x, axis, keepDims, name, file, line)
}
/// Minimum over `axis` (`Min`); an empty reduction gives the dtype's highest value.
public func reduceMin(_ x: Output, axis: [Int]? = nil, keepDims: Bool = false, name: String? = nil,
                      file: String = #fileID, line: Int = #line) throws -> Output {
    try reduce("Min", x, axis, keepDims, name, file, line)
}
/// Product over `axis` (`Prod`).
public func reduceProd(_ x: Output, axis: [Int]? = nil, keepDims: Bool = false, name: String? = nil,
                       file: String = #fileID, line: Int = #line) throws -> Output {
    try reduce("Prod", x, axis, keepDims, name, file, line)
}
/// Logical and over `axis` (`All`).
public func reduceAll(_ x: Output, axis: [Int]? = nil, keepDims: Bool = false, name: String? = nil,
                      file: String = #fileID, line: Int = #line) throws -> Output {
    try reduce("All", x, axis, keepDims, name, file, line)
}
/// Logical or over `axis` (`Any`).
public func reduceAny(_ x: Output, axis: [Int]? = nil, keepDims: Bool = false, name: String? = nil,
                      file: String = #fileID, line: Int = #line) throws -> Output {
    try reduce("Any", x, axis, keepDims, name, file, line)
}

/// Index of the largest value along `axis` (`ArgMax`); ties give the first index.
public func argmax(_ x: Output, axis: Int, outputType: DType = .int64, name: String? = nil,
                   file: String = #fileID, line: Int = #line) throws -> Output {
    let a = try x.graph.constant(Int32(axis), name: "dimension", file: file, line: line)
    return try x.graph.output("ArgMax", [x, a], attrs: ["output_type": .type(outputType)], name: name, file: file, line: line)
}
/// Index of the smallest value along `axis` (`ArgMin`); ties give the first index.
public func argmin(_ x: Output, axis: Int, outputType: DType = .int64, name: String? = nil,
                   file: String = #fileID, line: Int = #line) throws -> Output {
    let a = try x.graph.constant(Int32(axis), name: "dimension", file: file, line: line)
    return try x.graph.output("ArgMin", [x, a], attrs: ["output_type": .type(outputType)], name: name, file: file, line: line)
}

extension ReductionOps {
    /// Gradients (TF's `_SumGrad`, `_MeanGrad`, `_MinOrMaxGrad`, `_ProdGrad`): the output
    /// gradient broadcast back over the reduced axes, which must be constants.
    static let gradients: [String: GradientFunction] = [
        "Sum": { c in [try c.broadcastReduced(c.grad()), nil] },
        "Mean": { c in
            let x = c.inputs[0], y = c.outputs[0]
            let count = try cast(floorDiv(size(x), maximum(size(y), c.graph.constant(Int32(1)))), to: x.dtype)
            return [try divide(c.broadcastReduced(c.grad()), count), nil]
        },
        "Max": { c in [try minMaxReductionGradient(c), nil] },
        "Min": { c in [try minMaxReductionGradient(c), nil] },
        "Prod": { c in
            // ∂/∂xᵢ Π x = Π_{j≠i} xⱼ: prod / xᵢ where xᵢ ≠ 0; where xᵢ = 0, the product of
            // the others if it is the slice's only zero, else 0. (TF gets the same values
            // from exclusive cumulative products.)
            let x = c.inputs[0]
            let y = try c.broadcastReduced(c.outputs[0]), g = try c.broadcastReduced(c.grad())
            let zero = try x.scalarLike(0, file: "", line: 0)
            let isZero = try equal(x, zero)
            let safeX = try `where`(isZero, onesLike(x), x)
            // Product of the others where x = 0: the product with that zero replaced by one.
            let axes = c.inputs[1]
            let others = try c.broadcastReduced(c.graph.output("Prod", [safeX, axes], attrs: ["keep_dims": .bool(false)],
                                                               name: "Prod", file: "", line: 0), keepDimsFrom: c.node)
            let zerosInSlice = try c.broadcastReduced(c.graph.output("Sum", [cast(isZero, to: x.dtype), axes],
                                                                     attrs: ["keep_dims": .bool(false)], name: "Sum", file: "", line: 0),
                                                      keepDimsFrom: c.node)
            let one = try x.scalarLike(1, file: "", line: 0)
            let atZero = try `where`(equal(zerosInSlice, one), others, zerosLike(x))
            return [try multiply(g, `where`(isZero, atZero, divide(y, safeX))), nil]
        },
    ]

    /// `Max`/`Min`: the gradient is shared equally among the elements equal to the extreme.
    static func minMaxReductionGradient(_ c: GradientContext) throws -> Output {
        let x = c.inputs[0]
        let y = try c.broadcastReduced(c.outputs[0]), g = try c.broadcastReduced(c.grad())
        let indicators = try cast(equal(x, y), to: x.dtype)
        let count = try c.broadcastReduced(c.graph.output("Sum", [indicators, c.inputs[1]], attrs: ["keep_dims": .bool(false)],
                                                          name: "Sum", file: "", line: 0), keepDimsFrom: c.node)
        return try multiply(divide(indicators, count), g)
    }
}

extension GradientContext {
    /// A reduction's output-shaped tensor broadcast back to the input's shape: the reduced
    /// axes re-inserted (unless the node kept them), then `BroadcastTo(Shape(input))`.
    func broadcastReduced(_ t: Output, keepDimsFrom source: Node? = nil) throws -> Output {
        let reduction = source ?? node
        let x = inputs[0]
        var expanded = t
        if !(reduction.bool("keep_dims") ?? false) {
            guard let rank = x.shape.rank, let axesTensor = KnownValues.constant(node.inputs[1]),
                  let axes = axesTensor.intScalars() else {
                throw SomaError.unimplemented(
                    "The gradient of '\(node.name)' (op: '\(node.op)') needs constant reduction axes and a known input rank")
            }
            for a in Set(axes.map { $0 < 0 ? $0 + rank : $0 }).sorted() { expanded = try expandDims(expanded, axis: a) }
        }
        return try graph.output("BroadcastTo", [expanded, shape(x)], name: "BroadcastTo", file: "", line: 0)
    }
}
