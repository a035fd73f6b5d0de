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
            return [try c.listElementShape(2)]
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
            let element = try c.listElementShape(1)
            let n = c.int("num_elements")
            guard let dims = element.dimensions else { return [.unknown] }
            return [TensorShape([n >= 0 ? n : nil] + dims)]
        },
        OpDef("TensorListGather", inputs: ["input_handle: variant", "indices: int32", "element_shape: int32"],
              outputs: ["values: element_dtype"], attrs: [.type("element_dtype", DType.any)]) { c in
            try c.scalarInput(0)
            guard c.shape(1).rank ?? 1 == 1 else { throw ShapeError("indices must be a vector, but has shape \(c.shape(1))") }
            let element = try c.listElementShape(2)
            guard let dims = element.dimensions else { return [.unknown] }
            return [TensorShape([c.shape(1).dimensions?.first ?? nil] + dims)]
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
        OpDef("TensorListPopBack", inputs: ["input_handle: variant", "element_shape: int32"],
              outputs: ["output_handle: variant", "tensor: element_dtype"], attrs: [.type("element_dtype", DType.any)]) { c in
            try c.scalarInput(0)
            return [.scalar, try c.listElementShape(1)]
        },
    ]
}

extension ShapeContext {
    /// Input `i` read as a list element shape: a scalar (`-1`) is an unknown rank.
    func listElementShape(_ i: Int) throws -> TensorShape {
        if shape(i).rank == 0 {
            if let v = intValues(i), v != [-1] { throw ShapeError("element_shape must be -1 or a vector, but is \(v)") }
            return .unknown
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
