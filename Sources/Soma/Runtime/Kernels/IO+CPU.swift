import Foundation

/// Kernels for the checkpoint ops, over ``CheckpointWriter`` and ``CheckpointReader``.
enum IOKernels {
    static let table: [String: CPUKernel] = [
        "SaveV2": { ctx in
            let (prefix, names) = try prefixAndNames(ctx, count: ctx.inputs.count - 3)
            var writer = CheckpointWriter(prefix: prefix)
            for (k, name) in names.enumerated() {
                do { try writer.add(name, ctx.inputs[3 + k]) } catch let e as SomaError { throw KernelError(e) }
            }
            do { try writer.write() } catch let e as SomaError { throw KernelError(e) }
        },
        "RestoreV2": { ctx in
            let dtypes = ctx.node.outputTypes
            let (prefix, names) = try prefixAndNames(ctx, count: dtypes.count)
            do {
                let reader = try CheckpointReader(prefix: prefix, budget: ctx.state.budget)
                for (k, name) in names.enumerated() {
                    let t = try reader.tensor(name)
                    guard t.dtype == dtypes[k] else {
                        throw KernelError("tensor_name = \(name); expected dtype \(dtypes[k]) does not equal original dtype \(t.dtype)")
                    }
                    ctx.setOutput(k, t)
                }
            } catch let e as SomaError {
                throw KernelError(e)
            }
        },
        "MergeV2Checkpoints": { ctx in
            let sources = ctx.inputs[0].strings ?? [], destination = ctx.inputs[1].strings?.first ?? ""
            let allowMissing = ctx.node.bool("allow_missing_files") ?? false
            do {
                var writer = CheckpointWriter(prefix: destination)
                var merged: [String] = []
                for source in sources {
                    guard FileManager.default.fileExists(atPath: TensorBundle.indexPath(source)) else {
                        if allowMissing { continue }
                        throw SomaError.notFound("MergeV2Checkpoints: '\(source).index' does not exist")
                    }
                    let reader = try CheckpointReader(prefix: source, budget: ctx.state.budget)
                    for name in reader.names { try writer.add(name, try reader.tensor(name)) }
                    merged.append(source)
                }
                try writer.write()
                for source in merged where source != destination {
                    let reader = try CheckpointReader(prefix: source, budget: ctx.state.budget)
                    unlink(TensorBundle.indexPath(source))
                    for shard in 0..<reader.shardCount { unlink(TensorBundle.dataPath(source, shard: shard, of: reader.shardCount)) }
                    if ctx.node.bool("delete_old_dirs") ?? true {
                        rmdir(URL(fileURLWithPath: source).deletingLastPathComponent().path)  // only when empty
                    }
                }
            } catch let e as SomaError {
                throw KernelError(e)
            }
        },
    ]

    /// The scalar prefix and `count` tensor names; slices must be empty (whole tensors).
    static func prefixAndNames(_ ctx: KernelContext, count: Int) throws -> (String, [String]) {
        guard let prefix = ctx.inputs[0].strings, prefix.count == 1 else { throw KernelError("prefix must be a scalar string") }
        guard let names = ctx.inputs[1].strings, names.count == count else {
            throw KernelError("tensor_names must hold \(count) names, one per tensor")
        }
        guard let slices = ctx.inputs[2].strings, slices.count == count else {
            throw KernelError("shape_and_slices must hold \(count) entries, one per tensor")
        }
        if let sliced = slices.firstIndex(where: { !$0.isEmpty }) {
            throw KernelError("tensor '\(names[sliced])' is saved or restored as the slice '\(slices[sliced])'; Soma reads and writes whole tensors only")
        }
        return (prefix[0], names)
    }
}
