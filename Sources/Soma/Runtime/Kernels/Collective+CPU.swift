import Foundation

/// Kernels for the collective ops: copies into the outputs, then the installed
/// ``CollectiveBackend`` works on them in place.
enum CollectiveKernels {
    static let table: [String: CPUKernel] = [
        "HorovodAllreduce": { ctx in
            let backend = try backendOrError()
            let out = try ctx.allocateOutput(0, zeroed: false)
            let input = ctx.inputs[0]
            out.rawPointer.copyMemory(from: input.rawPointer, byteCount: input.byteCount)
            let pre = ctx.node.float("prescale_factor") ?? 1, post = ctx.node.float("postscale_factor") ?? 1
            try scale(out, by: Double(pre))
            try run { try backend.allreduce(out.rawPointer, count: out.scalarCount, dtype: out.dtype,
                                            average: ctx.node.int("reduce_op") == CollectiveOps.average) }
            try scale(out, by: Double(post))
            ctx.setOutput(0, out)
        },
        "_SomaFusedAllreduce": { ctx in
            // Horovod's fusion buffer: every input packed into one buffer, one collective,
            // the sums unpacked into the outputs.
            let backend = try backendOrError()
            let total = ctx.inputs.reduce(0) { $0 + $1.scalarCount }
            let dtype = ctx.inputs[0].dtype
            try ctx.withScratchReserved(total * dtype.byteSize, "the fusion buffer") {
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(total * dtype.byteSize, 1), alignment: 64)
                defer { buffer.deallocate() }
                var offset = 0
                for input in ctx.inputs {
                    (buffer + offset).copyMemory(from: input.rawPointer, byteCount: input.byteCount)
                    offset += input.byteCount
                }
                try run { try backend.allreduce(buffer, count: total, dtype: dtype, average: ctx.node.int("reduce_op") == CollectiveOps.average) }
                offset = 0
                for k in ctx.inputs.indices {
                    let out = try ctx.allocateOutput(k, zeroed: false)
                    out.rawPointer.copyMemory(from: buffer + offset, byteCount: out.byteCount)
                    offset += out.byteCount
                    ctx.setOutput(k, out)
                }
            }
        },
        "HorovodAllgather": { ctx in
            let backend = try backendOrError()
            let input = ctx.inputs[0]
            guard input.rank >= 1 else { throw KernelError("HorovodAllgather needs a tensor of rank 1 or more, not a scalar") }
            let rows = try run { try backend.allgatherCounts(input.shape[0]) }
            let rowBytes = input.shape[0] > 0 ? input.byteCount / input.shape[0] : input.shape.dropFirst().reduce(1, *) * input.dtype.byteSize
            let shape = [rows.reduce(0, +)] + input.shape.dropFirst()
            let out: Tensor
            do { out = try Tensor(zeros: input.dtype, shape: shape, budget: ctx.state.budget) } catch let error as SomaError { throw KernelError(error) }
            try run {
                try backend.allgather(UnsafeRawBufferPointer(start: input.rawPointer, count: input.byteCount),
                                      into: UnsafeMutableRawBufferPointer(start: out.rawPointer, count: out.byteCount),
                                      byteCounts: rows.map { $0 * rowBytes })
            }
            ctx.setOutput(0, out)
        },
        "HorovodBroadcast": { ctx in
            let backend = try backendOrError()
            let root = ctx.node.int("root_rank") ?? 0
            guard (0..<backend.size).contains(root) else {
                throw KernelError("root_rank \(root) is not a rank of the \(backend.size) processes")
            }
            let out = try ctx.allocateOutput(0, zeroed: false)
            out.rawPointer.copyMemory(from: ctx.inputs[0].rawPointer, byteCount: out.byteCount)
            try run { try backend.broadcast(UnsafeMutableRawBufferPointer(start: out.rawPointer, count: out.byteCount), root: root) }
            ctx.setOutput(0, out)
        },
    ]

    private static func backendOrError() throws -> any CollectiveBackend {
        do { return try Collectives.current() } catch let error as SomaError { throw KernelError(error) }
    }

    /// A backend's failure as the kernel's.
    private static func run<R>(_ body: () throws -> R) throws -> R {
        do { return try body() } catch let error as SomaError { throw KernelError(error) }
    }

    private static func scale(_ t: Tensor, by factor: Double) throws {
        guard factor != 1 else { return }
        switch t.dtype {
        case .float32:
            let p = t.rawPointer.assumingMemoryBound(to: Float.self)
            for i in 0..<t.scalarCount { p[i] *= Float(factor) }
        case .float64:
            let p = t.rawPointer.assumingMemoryBound(to: Double.self)
            for i in 0..<t.scalarCount { p[i] *= factor }
        default:
            throw KernelError("scale factors apply to float32 and float64 tensors, not \(t.dtype)")
        }
    }
}
