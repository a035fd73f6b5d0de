import Foundation

/// Kernels for the string ops.
enum StringKernels {
    static let table: [String: CPUKernel] = [
        "StringJoin": { ctx in
            let separator = Array((ctx.node.string("separator") ?? "").utf8)
            let lists = ctx.inputs.map { $0.byteStrings ?? [] }
            let shape = ctx.inputs.first { $0.rank != 0 }?.shape ?? []
            for input in ctx.inputs where input.rank != 0 && input.shape != shape {
                throw KernelError("Input shapes do not match: \(shapeString(shape)) vs. \(shapeString(input.shape))")
            }
            let count = shape.reduce(1, *)
            var out: [[UInt8]] = []
            out.reserveCapacity(count)
            var total = 0
            for i in 0..<count {
                var s: [UInt8] = []
                for (k, list) in lists.enumerated() {
                    if k > 0 { s += separator }
                    s += list.count == 1 ? list[0] : list[i]
                }
                total += s.count
                out.append(s)
            }
            try ctx.state.budget.reserve(total, for: "OOM when joining strings")
            defer { ctx.state.budget.release(total) }
            ctx.setOutput(0, try Tensor(byteStrings: out, shape: shape))
        },
        "ShardedFilename": { ctx in
            let base = ctx.inputs[0].strings?.first ?? "", shard = Int(ctx.inputs[1].pointer(as: Int32.self)[0])
            let shards = Int(ctx.inputs[2].pointer(as: Int32.self)[0])
            ctx.setOutput(0, Tensor(base + String(format: "-%05d-of-%05d", shard, shards)))
        },
        "ShardedFilespec": { ctx in
            let base = ctx.inputs[0].strings?.first ?? "", shards = Int(ctx.inputs[1].pointer(as: Int32.self)[0])
            ctx.setOutput(0, Tensor(base + String(format: "-?????-of-%05d", shards)))
        },
        "StaticRegexFullMatch": { ctx in
            let regex: ByteRegex
            do { regex = try ByteRegex(ctx.node.string("pattern") ?? "") } catch let e as ByteRegex.SyntaxError {
                throw KernelError("Invalid pattern: \(e.message)")
            }
            try fullMatch(ctx, regex)
        },
        "RegexFullMatch": { ctx in
            let pattern = ctx.inputs[1].strings?.first ?? ""
            let regex: ByteRegex
            do { regex = try ByteRegex(pattern) } catch let e as ByteRegex.SyntaxError {
                throw KernelError("Invalid pattern: \(pattern), error: \(e.message)")
            }
            try fullMatch(ctx, regex)
        },
    ]

    static func fullMatch(_ ctx: KernelContext, _ regex: ByteRegex) throws {
        let input = ctx.inputs[0]
        let out = try ctx.allocateOutput(0, zeroed: false)
        let p = out.mutablePointer(as: Bool.self)
        for (i, s) in (input.byteStrings ?? []).enumerated() { p[i] = regex.fullMatch(s) }
        ctx.setOutput(0, out)
    }
}
