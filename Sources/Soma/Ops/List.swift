/// TensorList ops (TF's `list_ops`): lists of tensors carried in `DT_VARIANT` scalars —
/// how Keras recurrent layers and `while_v2` read and build sequences inside loops.
///
/// An `element_shape` input is a shape tensor: `-1` (a scalar) for an unknown rank,
/// otherwise a vector with `-1` for unknown dimensions.
enum ListOps {
    static let definitions: [OpDef] = [
        OpDef("EmptyTensorList", inputs: ["element_shape: shape_type", "max_num_elements: int32"], outputs: ["handle: variant"],
              attrs: [.type("element_dtype", DType.any), .type("shape_type", DType.indices)],
              gradient: .notDifferentiable) { c in
            try c.scalarInput(1)
            return [.scalar]
        },
        OpDef("TensorListReserve", inputs: ["element_shape: shape_type", "num_elements: int32"], outputs: ["handle: variant"],
              attrs: [.type("element_dtype", DType.any), .type("shape_type", DType.indices)],
              gradient: .notDifferentiable) { c in
            try c.scalarInput(1)
            return [.scalar]
        },
        OpDef("TensorListFromTensor", inputs: ["tensor: element_dtype", "element_shape: shape_type"],
              outputs: ["output_handle: variant"],
              attrs: [.type("element_dtype", DType.any), .type("shape_type", DType.indices)]) { c in
            guard c.shape(0).rank ?? 1 >= 1 else { throw ShapeError("Shape must be at least rank 1 but is rank 0") }
            return [.scalar]
        },
        OpDef("TensorListGetItem", inputs: ["input_handle: variant", "index: int32", "element_shape: int32"],
              outputs: ["item: element_dtype"], attrs: [.type("element_dtype", DType.any)]) { c in
            try c.scalarInput(0)
            try c.scalarInput(1)
            return [try c.listElementShape(2, list: 0)]
        },
        OpDef("TensorListSetItem", inputs: ["input_handle: variant", "index: int32", "item: element_dtype"],
              outputs: ["output_handle: variant"],
              attrs: [.type("element_dtype", DType.any), .bool("resize_if_index_out_of_bounds", default: false)]) { c in
            try c.scalarInput(0)
            try c.scalarInput(1)
            return [.scalar]
        },
        OpDef("TensorListStack", inputs: ["input_handle: variant", "element_shape: int32"], outputs: ["tensor: element_dtype"],
              attrs: [.type("element_dtype", DType.any), .int("num_elements", default: -1)]) { c in
            try c.scalarInput(0)
            let element = try c.listElementShape(1, list: 0)
            let n = c.int("num_elements")
            guard let dims = element.dimensions else { return [.unknown] }
            return [TensorShape([n >= 0 ? n : nil] + dims)]
        },
        OpDef("TensorListGather", inputs: ["input_handle: variant", "indices: int32", "element_shape: int32"],
              outputs: ["values: element_dtype"], attrs: [.type("element_dtype", DType.any)]) { c in
            try c.scalarInput(0)
            guard c.shape(1).rank ?? 1 == 1 else { throw ShapeError("indices must be a vector, but has shape \(c.shape(1))") }
            let element = try c.listElementShape(2, list: 0)
            guard let dims = element.dimensions else { return [.unknown] }
            return [TensorShape([c.shape(1).dimensions?.first ?? nil] + dims)]
        },
        OpDef("TensorListScatterIntoExistingList", inputs: ["input_handle: variant", "tensor: element_dtype", "indices: int32"],
              outputs: ["output_handle: variant"], attrs: [.type("element_dtype", DType.any)]) { c in
            try c.scalarInput(0)
            guard c.shape(1).rank ?? 1 >= 1 else { throw ShapeError("Tensor must be at least a vector, but saw shape: []") }
            guard c.shape(2).rank ?? 1 == 1 else { throw ShapeError("indices must be a vector, but has shape \(c.shape(2))") }
            return [.scalar]
        },
        OpDef("TensorListLength", inputs: ["input_handle: variant"], outputs: ["length: int32"],
              gradient: .notDifferentiable) { c in
            try c.scalarInput(0)
            return [.scalar]
        },
        OpDef("TensorListElementShape", inputs: ["input_handle: variant"], outputs: ["element_shape: shape_type"],
              attrs: [.type("shape_type", DType.indices)], gradient: .notDifferentiable) { c in
            try c.scalarInput(0)
            return [.unknown]
        },
        OpDef("TensorListPushBack", inputs: ["input_handle: variant", "tensor: element_dtype"], outputs: ["output_handle: variant"],
              attrs: [.type("element_dtype", DType.any)]) { c in
            try c.scalarInput(0)
            return [.scalar]
        },
        // Optionals (TF's `optional_ops`): how cond_v2's gradient receives the intermediates
        // of whichever branch ran.
        OpDef("OptionalFromValue", inputs: ["components: Toutput_types"], outputs: ["optional: variant"],
              attrs: [.types("Toutput_types", DType.any)]) { _ in [.scalar] },
        OpDef("OptionalNone", outputs: ["optional: variant"], gradient: .notDifferentiable) { _ in [.scalar] },
        OpDef("OptionalHasValue", inputs: ["optional: variant"], outputs: ["has_value: bool"], gradient: .notDifferentiable) { c in
            try c.scalarInput(0)
            return [.scalar]
        },
        OpDef("OptionalGetValue", inputs: ["optional: variant"], outputs: ["components: output_types"],
              attrs: [.types("output_types", DType.any), .shapes("output_shapes")]) { c in
            try c.scalarInput(0)
            guard case .shapes(let shapes)? = c.attrs["output_shapes"], case .types(let types)? = c.attrs["output_types"],
                  shapes.count == types.count else {
                throw ShapeError("output_shapes must give one shape per output type")
            }
            return shapes
        },
        OpDef("TensorListPopBack", inputs: ["input_handle: variant", "element_shape: int32"],
              outputs: ["output_handle: variant", "tensor: element_dtype"], attrs: [.type("element_dtype", DType.any)]) { c in
            try c.scalarInput(0)
            return [.scalar, try c.listElementShape(1, list: 0)]
        },
    ]
}

extension ListOps {
    /// Gradients, as TF's `list_grad.py` and `optional_grad.py`: a list's gradient is a
    /// list of its elements' gradients.
    static let gradients: [String: GradientFunction] = [
        "TensorListPushBack": { c in
            let (rest, item) = try tensorListPopBack(c.grad(), dtype: c.inputs[1].dtype, name: "TensorListPopBack")
            return [rest, item]
        },
        "TensorListPopBack": { c in
            [try tensorListPushBack(c.grad(0), c.grad(1), name: "TensorListPushBack"), nil]
        },
        "TensorListStack": { c in
            [try c.graph.output("TensorListFromTensor", [c.grad(), c.inputs[1]], name: "TensorListFromTensor", file: "", line: 0), nil]
        },
        "TensorListFromTensor": { c in
            let n = c.inputs[0].shape.dimensions?.first ?? nil
            return [try c.graph.output("TensorListStack", [c.grad(), listShapeTensor(c.graph, TensorShape(Array((c.inputs[0].shape.dimensions ?? []).dropFirst())))],
                                       attrs: ["element_dtype": .type(c.inputs[0].dtype), "num_elements": .int(n ?? -1)],
                                       name: "TensorListStack", file: "", line: 0), nil]
        },
        "TensorListGetItem": { c in
            let length = try c.graph.output("TensorListLength", [c.inputs[0]], name: "TensorListLength", file: "", line: 0)
            let zeros = try c.graph.output("TensorListReserve", [c.inputs[2], length], attrs: ["element_dtype": .type(c.outputs[0].dtype)],
                                           name: "TensorListReserve", file: "", line: 0)
            return [try c.graph.output("TensorListSetItem", [zeros, c.inputs[1], c.grad()], name: "TensorListSetItem", file: "", line: 0),
                    nil, nil]
        },
        "TensorListSetItem": { c in
            let rest = try c.graph.output("TensorListSetItem", [c.grad(), c.inputs[1], zerosLike(c.inputs[2])], name: "TensorListSetItem",
                                          file: "", line: 0)
            let item = try c.graph.output("TensorListGetItem", [c.grad(), c.inputs[1], listShapeTensor(c.graph, c.inputs[2].shape)],
                                          attrs: ["element_dtype": .type(c.inputs[2].dtype)], name: "TensorListGetItem", file: "", line: 0)
            return [rest, nil, item]
        },
        "TensorListGather": { c in
            // The gradient list: as long as the input, the gathered rows' gradients scattered back.
            let g = c.graph
            let shape = try g.output("TensorListElementShape", [c.inputs[0]], attrs: ["shape_type": .type(.int32)],
                                     name: "TensorListElementShape", file: "", line: 0)
            let length = try g.output("TensorListLength", [c.inputs[0]], name: "TensorListLength", file: "", line: 0)
            let zeros = try g.output("TensorListReserve", [shape, length], attrs: ["element_dtype": .type(c.outputs[0].dtype)],
                                     name: "TensorListReserve", file: "", line: 0)
            return [try g.output("TensorListScatterIntoExistingList", [zeros, c.grad(), c.inputs[1]],
                                 name: "TensorListScatterIntoExistingList", file: "", line: 0), nil, nil]
        },
        "TensorListScatterIntoExistingList": { c in
            let rows = TensorShape(Array((c.inputs[1].shape.dimensions ?? []).dropFirst()))
            let element = c.inputs[1].shape.dimensions == nil ? TensorShape.unknown : rows
            let tensor = try c.graph.output("TensorListGather", [c.grad(), c.inputs[2], listShapeTensor(c.graph, element)],
                                            attrs: ["element_dtype": .type(c.inputs[1].dtype)], name: "TensorListGather",
                                            file: "", line: 0)
            let rest = try c.graph.output("TensorListScatterIntoExistingList", [c.grad(), zerosLike(tensor), c.inputs[2]],
                                          name: "TensorListScatterIntoExistingList", file: "", line: 0)
            return [rest, tensor, nil]
        },
        "OptionalFromValue": { c in
            try c.graph.outputs("OptionalGetValue", [c.grad()],
                                attrs: ["output_types": .types(c.inputs.map(\.dtype)), "output_shapes": .shapes(c.inputs.map(\.shape))],
                                name: "OptionalGetValue", file: "", line: 0)
        },
        "OptionalGetValue": { c in
            [try c.graph.output("OptionalFromValue", try c.outputs.indices.map { try c.grad($0) }, name: "OptionalFromValue", file: "", line: 0)]
        },
    ]
}

extension ListOps {
    /// What is known of the element shape of each list a node outputs (TF's handle data),
    /// from its inputs: the compiler propagates it so that reading a list whose elements'
    /// shapes are known has a static shape.
    static func outputListShapes(op: String, _ c: ShapeContext, outputs: Int) -> [TensorShape?] {
        func merged(_ a: TensorShape?, _ b: TensorShape?) -> TensorShape? {
            guard let a else { return b }
            guard let b else { return a }
            return a.merged(with: b)
        }
        switch op {
        case "EmptyTensorList", "TensorListReserve": return [try? c.listElementShape(0)]
        case "TensorListFromTensor":
            let rows = c.shape(0).dimensions.map { TensorShape(Array($0.dropFirst())) } ?? .unknown
            return [merged(rows, try? c.listElementShape(1))]
        case "TensorListSetItem": return [merged(c.listShape(0), c.shape(2))]
        case "TensorListScatterIntoExistingList":
            return [merged(c.listShape(0), c.shape(1).dimensions.map { TensorShape(Array($0.dropFirst())) })]
        case "TensorListPushBack": return [merged(c.listShape(0), c.shape(1))]
        case "TensorListPopBack": return [c.listShape(0), nil]
        case "Identity", "StopGradient": return [c.listShape(0)]
        case "IdentityN": return (0..<outputs).map { c.listShape($0) }
        case "While", "StatelessWhile":
            // As `while_v2` copies the body's results' handle data to the loop's: for a loop
            // whose shapes hold from one iteration to the next, each list's elements are what
            // the body leaves in it (a Keras layer's outputs: `[?, units]` before the loop
            // with the batch unknown, `[B, units]` as the body sets them), so that what reads
            // the lists after the loop plans statically.
            let inputs = (0..<outputs).map { c.listShape($0) }
            guard inputs.contains(where: { $0 != nil }), let body = try? c.function("body"),
                  (try? body.outputShapes(for: c.inputShapes)) == c.inputShapes,
                  let results = try? body.outputListShapes(for: c.inputShapes, listShapes: inputs), results.count == outputs
            else { return [] }
            return results
        default: return []
        }
    }
}

extension ShapeContext {
    /// Input `i` read as a list element shape, refined by what is known of the list at
    /// input `list`'s elements.
    func listElementShape(_ i: Int, list: Int) throws -> TensorShape {
        let declared = try listElementShape(i)
        guard let known = listShape(list) else { return declared }
        return declared.merged(with: known) ?? declared
    }

    /// Input `i` read as a list element shape: a scalar (`-1`) is an unknown rank.
    func listElementShape(_ i: Int) throws -> TensorShape {
        if shape(i).rank == 0 {
            if let v = intValues(i), v != [-1] { throw ShapeError("element_shape must be -1 or a vector, but is \(v)") }
            return .unknown
        }
        // `-1` stays an unknown dimension even at run time (unlike a Reshape target).
        if let v = intValues(i) {
            return TensorShape(try v.map { d -> Int? in
                guard d >= -1 else { throw ShapeError("element_shape has dimension \(d)") }
                return d == -1 ? nil : d
            })
        }
        return try shapeFromInput(i)
    }
}

// MARK: - Builders

/// A list with no elements (TF's `EmptyTensorList`) whose elements will be `dtype` tensors
/// of `elementShape` (partial allowed); `maxElements` `-1` for no limit.
public func emptyTensorList(_ graph: Graph, dtype: DType, elementShape: TensorShape, maxElements: Int = -1,
                            name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try graph.output("EmptyTensorList", [try listShapeTensor(graph, elementShape), graph.constant(Int32(maxElements))],
                     attrs: ["element_dtype": .type(dtype)], name: name ?? "EmptyTensorList", file: file, line: line)
}

/// `list` with `tensor` appended (TF's `TensorListPushBack`).
public func tensorListPushBack(_ list: Output, _ tensor: Output, name: String? = nil, file: String = #fileID,
                               line: Int = #line) throws -> Output {
    try list.graph.output("TensorListPushBack", [list, tensor], name: name ?? "TensorListPushBack", file: file, line: line)
}

/// `(list without its last element, that element)` (TF's `TensorListPopBack`).
public func tensorListPopBack(_ list: Output, dtype: DType, elementShape: TensorShape = .unknown, name: String? = nil,
                              file: String = #fileID, line: Int = #line) throws -> (list: Output, tensor: Output) {
    let outputs = try list.graph.outputs("TensorListPopBack", [list, listShapeTensor(list.graph, elementShape)],
                                         attrs: ["element_dtype": .type(dtype)], name: name ?? "TensorListPopBack",
                                         file: file, line: line)
    return (outputs[0], outputs[1])
}

/// `element_shape` as the shape tensor list ops take.
func listShapeTensor(_ graph: Graph, _ shape: TensorShape) throws -> Output {
    guard let dims = shape.dimensions else { return try graph.constant(Int32(-1), file: "", line: 0) }
    return try graph.constant(dims.map { Int32($0 ?? -1) }, shape: [dims.count], file: "", line: 0)
}

// MARK: - TensorArray

/// A sequence of tensors of one dtype, written and read by index — TF's `tf.TensorArray`,
/// built (as TF2 builds it) on the TensorList ops, so loops that read or build sequences
/// run, differentiate and export like TF's.
///
/// A value: `write`, `scatter` and `unstack` return a new array whose ``flow`` (the list,
/// a `DT_VARIANT` scalar) carries the change. In a ``whileLoop(cond:body:loopVars:shapeInvariants:maximumIterations:parallelIterations:file:line:)``,
/// pass `flow` as a loop variable and rewrap it in the body with ``withFlow(_:)``.
/// Reading an element never written gives zeros when the element shape is fully known.
///
/// ```swift
/// let squares = TensorArray(g, dtype: .float32, size: n, elementShape: [3])
/// let out = try whileLoop(cond: { v in try less(v[0], n) },
///                         body: { v in
///                             let ta = squares.withFlow(v[1])
///                             return [v[0] + 1, try ta.write(v[0], square(x)).flow]
///                         },
///                         loopVars: [g.constant(Int32(0)), squares.flow])
/// let stacked = try squares.withFlow(out[1]).stack()   // [n, 3]
/// ```
public struct TensorArray {
    /// The list the array's contents travel in (TF's `flow`).
    public let flow: Output
    public let dtype: DType
    /// The shape every element has (partial allowed).
    public let elementShape: TensorShape
    /// Whether writes past the end grow the array.
    public let dynamicSize: Bool

    /// An array of `size` elements, none written yet (TF's `TensorArray(dtype, size, …)`).
    public init(_ graph: Graph, dtype: DType, size: Output, dynamicSize: Bool = false, elementShape: TensorShape = .unknown,
                name: String? = nil, file: String = #fileID, line: Int = #line) throws {
        let flow = try graph.output("TensorListReserve", [listShapeTensor(graph, elementShape), size],
                                    attrs: ["element_dtype": .type(dtype)], name: name ?? "TensorArrayV2", file: file, line: line)
        self.init(flow: flow, dtype: dtype, elementShape: elementShape, dynamicSize: dynamicSize)
    }

    /// An array of `size` elements, none written yet.
    public init(_ graph: Graph, dtype: DType, size: Int, dynamicSize: Bool = false, elementShape: TensorShape = .unknown,
                name: String? = nil, file: String = #fileID, line: Int = #line) throws {
        try self.init(graph, dtype: dtype, size: graph.constant(Int32(clamping: size), file: file, line: line),
                      dynamicSize: dynamicSize, elementShape: elementShape, name: name, file: file, line: line)
    }

    /// The array whose contents `flow` carries.
    public init(flow: Output, dtype: DType, elementShape: TensorShape = .unknown, dynamicSize: Bool = false) {
        self.flow = flow
        self.dtype = dtype
        self.elementShape = elementShape
        self.dynamicSize = dynamicSize
    }

    /// This array with its contents taken from `flow` — inside a loop body, from the loop
    /// variable that carries it.
    public func withFlow(_ flow: Output) -> TensorArray {
        TensorArray(flow: flow, dtype: dtype, elementShape: elementShape, dynamicSize: dynamicSize)
    }

    /// The array with element `index` (an int32 scalar) set to `value`.
    public func write(_ index: Output, _ value: Output, name: String? = nil, file: String = #fileID,
                      line: Int = #line) throws -> TensorArray {
        withFlow(try flow.graph.output("TensorListSetItem", [flow, index, value],
                                       attrs: ["resize_if_index_out_of_bounds": .bool(dynamicSize)],
                                       name: name ?? "TensorArrayV2Write", file: file, line: line))
    }

    /// Element `index` (an int32 scalar).
    public func read(_ index: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
        try flow.graph.output("TensorListGetItem", [flow, index, listShapeTensor(flow.graph, elementShape)],
                              attrs: ["element_dtype": .type(dtype)], name: name ?? "TensorArrayV2Read", file: file, line: line)
    }

    /// Every element stacked along a new first dimension: `[size] + elementShape`.
    public func stack(name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
        try flow.graph.output("TensorListStack", [flow, listShapeTensor(flow.graph, elementShape)],
                              attrs: ["element_dtype": .type(dtype)], name: name ?? "TensorArrayV2Stack", file: file, line: line)
    }

    /// The elements at `indices` (an int32 vector) stacked: `[indices.count] + elementShape`.
    public func gather(_ indices: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
        try flow.graph.output("TensorListGather", [flow, indices, listShapeTensor(flow.graph, elementShape)],
                              attrs: ["element_dtype": .type(dtype)], name: name ?? "TensorArrayV2Gather", file: file, line: line)
    }

    /// The array holding the rows of `value` (its first dimension becomes the size).
    public func unstack(_ value: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> TensorArray {
        withFlow(try flow.graph.output("TensorListFromTensor", [value, listShapeTensor(flow.graph, elementShape)],
                                       name: name ?? "TensorArrayV2Unstack", file: file, line: line))
    }

    /// The array with row `k` of `value` written at `indices[k]` (an int32 vector);
    /// indices past the end grow the array.
    public func scatter(_ indices: Output, _ value: Output, name: String? = nil, file: String = #fileID,
                        line: Int = #line) throws -> TensorArray {
        withFlow(try flow.graph.output("TensorListScatterIntoExistingList", [flow, value, indices],
                                       name: name ?? "TensorArrayV2Scatter", file: file, line: line))
    }

    /// The number of elements (an int32 scalar).
    public func size(name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
        try flow.graph.output("TensorListLength", [flow], name: name ?? "TensorArrayV2Size", file: file, line: line)
    }
}
