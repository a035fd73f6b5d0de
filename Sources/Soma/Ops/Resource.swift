/// Resource variables (TF2's, and TF1's `use_resource=True`): a `VarHandleOp` names a
/// variable in the session; reads and writes take its handle.
///
/// In Soma a handle's shape is its variable's shape (TF keeps that as the handle's
/// "handle data"), so reads infer exact shapes and graphs over resource variables compile
/// to static plans. At run time a handle input is resolved like a `VariableV2` ref: the
/// consumer gets the variable's current value, or its session key when it writes.
enum ResourceOps {
    static let definitions: [OpDef] = [
        OpDef("VarHandleOp", outputs: ["resource: resource"],
              attrs: [.string("container", default: ""), .string("shared_name", default: ""), .string("debug_name", default: ""),
                      .type("dtype"), .shape("shape"), .strings("allowed_devices", default: [])],
              traits: [.stateful, .variable], gradient: .notDifferentiable) { c in [c.shapeAttr("shape")] },
        // A snapshot of the variable's value (values are immutable once stored). Gradients
        // stop here: Soma differentiates with respect to the value read, never a handle.
        OpDef("ReadVariableOp", inputs: ["resource: resource"], outputs: ["value: dtype"], attrs: [.type("dtype")],
              traits: [.forwardsInput], gradient: .notDifferentiable, shape: Shapes.unchanged),
        OpDef("AssignVariableOp", inputs: ["resource: Ref(resource)", "value: dtype"],
              attrs: [.type("dtype"), .bool("validate_shape", default: false)],
              traits: [.stateful], gradient: .notDifferentiable) { c in
            guard c.shape(0).isCompatible(with: c.shape(1)) else {
                throw ShapeError("Shapes must be equal, but are \(c.shape(0)) and \(c.shape(1))")
            }
            return []
        },
        OpDef("AssignAddVariableOp", inputs: ["resource: resource", "value: dtype"], attrs: [.type("dtype", DType.numeric)],
              traits: [.stateful, .writesVariables], gradient: .notDifferentiable, shape: updateShape),
        OpDef("AssignSubVariableOp", inputs: ["resource: resource", "value: dtype"], attrs: [.type("dtype", DType.numeric)],
              traits: [.stateful, .writesVariables], gradient: .notDifferentiable, shape: updateShape),
        OpDef("VarIsInitializedOp", inputs: ["resource: Ref(resource)"], outputs: ["is_initialized: bool"],
              traits: [.stateful], gradient: .notDifferentiable, shape: Shapes.scalar),
        OpDef("IsVariableInitialized", inputs: ["ref: Ref(dtype)"], outputs: ["is_initialized: bool"],
              attrs: [.type("dtype", DType.any)], traits: [.stateful], gradient: .notDifferentiable, shape: Shapes.scalar),
        // Copy-on-read is how TF shares buffers; Soma's values are immutable, so nothing to do.
        OpDef("DisableCopyOnRead", inputs: ["resource: Ref(resource)"], traits: [.stateful], gradient: .notDifferentiable,
              shape: Shapes.none),
        OpDef("ResourceGather", inputs: ["resource: resource", "indices: Tindices"], outputs: ["output: dtype"],
              attrs: [.int("batch_dims", default: 0), .bool("validate_indices", default: true), .type("dtype"),
                      .type("Tindices", DType.indices)],
              gradient: .notDifferentiable) { c in
            let params = c.shape(0), indices = c.shape(1)
            guard c.int("batch_dims") == 0 else { throw ShapeError("ResourceGather supports batch_dims = 0 only") }
            guard let p = params.dimensions, let i = indices.dimensions else { return [.unknown] }
            guard !p.isEmpty else { throw ShapeError("params must be at least 1 dimensional") }
            return [TensorShape(i + p.dropFirst())]
        },
    ]

    static let updateShape: ShapeFunction = { c in
        guard c.shape(0).isCompatible(with: c.shape(1)) else {
            throw ShapeError("Shapes must be equal, but are \(c.shape(0)) and \(c.shape(1))")
        }
        return []
    }

}
