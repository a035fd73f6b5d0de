/// Checkpoint ops (TF's `io_ops`): `SaveV2` and `RestoreV2` write and read TensorBundle V2
/// checkpoints, `MergeV2Checkpoints` joins a sharded save into one prefix — so a TF1
/// graph's own saver (its `saver_def`) runs in Soma.
enum IOOps {
    static let definitions: [OpDef] = [
        OpDef("SaveV2", inputs: ["prefix: string", "tensor_names: string", "shape_and_slices: string", "tensors: dtypes"],
              attrs: [.types("dtypes", DType.any.filter { $0 != .resource })], traits: [.stateful], gradient: .notDifferentiable) { c in
            try checkNames(c, count: c.inputCount - 3)
            return []
        },
        OpDef("RestoreV2", inputs: ["prefix: string", "tensor_names: string", "shape_and_slices: string"], outputs: ["tensors: dtypes"],
              attrs: [.types("dtypes", DType.any.filter { $0 != .resource })], traits: [.stateful], gradient: .notDifferentiable) { c in
            guard case .types(let dtypes)? = c.attrs["dtypes"] else { return [] }
            try checkNames(c, count: dtypes.count)
            return Array(repeating: .unknown, count: dtypes.count)
        },
        OpDef("MergeV2Checkpoints", inputs: ["checkpoint_prefixes: string", "destination_prefix: string"],
              attrs: [.bool("delete_old_dirs", default: true), .bool("allow_missing_files", default: false)],
              traits: [.stateful], gradient: .notDifferentiable) { c in
            guard c.shape(0).rank ?? 1 == 1 else { throw ShapeError("checkpoint_prefixes must be a vector, but is \(c.shape(0))") }
            guard c.shape(1).rank ?? 0 == 0 else { throw ShapeError("destination_prefix must be a scalar, but is \(c.shape(1))") }
            return []
        },
    ]

    /// The prefix is a scalar; names and slices are vectors of one entry per tensor.
    static func checkNames(_ c: ShapeContext, count: Int) throws {
        guard c.shape(0).rank ?? 0 == 0 else { throw ShapeError("prefix must be a scalar, but is \(c.shape(0))") }
        for i in 1...2 {
            guard c.shape(i).isCompatible(with: TensorShape([count])) else {
                throw ShapeError("\(i == 1 ? "tensor_names" : "shape_and_slices") must be a vector of \(count) strings, but is \(c.shape(i))")
            }
        }
    }
}
