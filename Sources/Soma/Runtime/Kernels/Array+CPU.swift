import Foundation

/// Kernels for shape and array ops. Data movement is dtype-agnostic: elements are moved
/// as 1-, 4- or 8-byte bit patterns.
enum ArrayKernels {
    static let table: [String: CPUKernel] = [
        "Shape": { ctx in ctx.setOutput(0, try indexTensor(ctx.inputs[0].shape, ctx.node.outputTypes[0], shape: [ctx.inputs[0].rank])) },
        "Size": { ctx in ctx.setOutput(0, try indexTensor([ctx.inputs[0].scalarCount], ctx.node.outputTypes[0], shape: [])) },
        "Rank": { ctx in ctx.setOutput(0, Tensor(Int32(ctx.inputs[0].rank))) },
        "Reshape": { ctx in ctx.setOutput(0, ctx.forward(0)) },
        "ExpandDims": { ctx in ctx.setOutput(0, ctx.forward(0)) },
        "Squeeze": { ctx in ctx.setOutput(0, ctx.forward(0)) },
        "InvertPermutation": { ctx in
            let perm = ctx.inputs[0].intScalars()!
            var inverse = [Int](repeating: -1, count: perm.count)
            for (i, p) in perm.enumerated() {
                guard p >= 0 && p < perm.count else { throw KernelError("\(p) is not between 0 and \(perm.count)") }
                guard inverse[p] < 0 else { throw KernelError("\(p) is duplicated in the input.") }
                inverse[p] = i
            }
            ctx.setOutput(0, ctx.inputs[0].dtype == .int64 ? try Tensor(inverse.map(Int64.init), shape: [perm.count])
                                                           : try Tensor(inverse.map(Int32.init), shape: [perm.count]))
        },
        "Transpose": { ctx in
            let x = ctx.inputs[0], out = try ctx.allocateOutput(0, zeroed: false)
            let perm = ctx.inputs[1]
            if x.dtype.byteSize == 4, swapsLastTwo(perm, rank: x.rank) {
                transposeMatrices(x, out, ctx)
                ctx.setOutput(0, out)
                return
            }
            switch x.dtype.byteSize {
            case 1: transpose(x, out, perm, UInt8.self)
            case 4: transpose(x, out, perm, UInt32.self)
            default: transpose(x, out, perm, UInt64.self)
            }
            ctx.setOutput(0, out)
        },
        "ConcatV2": { ctx in
            let n = ctx.inputs.count - 1
            let out = try ctx.allocateOutput(0, zeroed: false)
            let axis = canonical(ctx.inputs[n].intScalar(at: 0)!, out.rank)
            concatenate(ctx.inputs[..<n], into: out, axis: axis)
            ctx.setOutput(0, out)
        },
        "Pack": { ctx in
            if ctx.inputs[0].dtype == .string {
                // [outer, N, inner] from N pieces of [outer, inner].
                let shape = ctx.inputs[0].shape, n = ctx.inputs.count
                let axis = canonical(ctx.node.int("axis") ?? 0, shape.count + 1)
                let inner = shape[axis...].reduce(1, *), outer = shape[..<axis].reduce(1, *)
                let pieces = ctx.inputs.map { $0.byteStrings ?? [] }
                var out: [[UInt8]] = []
                out.reserveCapacity(outer * n * inner)
                for o in 0..<outer { for piece in pieces { out += piece[(o * inner)..<((o + 1) * inner)] } }
                ctx.setOutput(0, try Tensor(byteStrings: out, shape: shape.inserting(n, at: axis)))
                return
            }
            let out = try ctx.allocateOutput(0, zeroed: false)
            let axis = canonical(ctx.node.int("axis") ?? 0, out.rank)
            let pieces = ctx.inputs.map { $0.reshaped(to: $0.shape.inserting(1, at: axis)) }
            concatenate(pieces, into: out, axis: axis)
            ctx.setOutput(0, out)
        },
        "Unpack": { ctx in
            let x = ctx.inputs[0]
            let axis = canonical(ctx.node.int("axis") ?? 0, x.rank)
            // Each output is a [..., 1, ...] slab of x, viewed without the axis.
            var slab = x.shape
            slab[axis] = 1
            let outs = try (0..<ctx.node.outputCount).map { try ctx.allocateOutput($0, zeroed: false) }
            split(x, into: outs.map { $0.reshaped(to: slab) }, axis: axis)
            ctx.setOutputs(outs)
        },
        "Split": { ctx in
            let x = ctx.inputs[1]
            try split(x, ctx, axis: canonical(ctx.inputs[0].intScalar(at: 0)!, x.rank))
        },
        "SplitV": { ctx in
            let x = ctx.inputs[0]
            try split(x, ctx, axis: canonical(ctx.inputs[2].intScalar(at: 0)!, x.rank))
        },
        "Slice": { ctx in
            let x = ctx.inputs[0], out = try ctx.allocateOutput(0, zeroed: false)
            if let walk = ctx.node.stridedRead {
                walk.read(x, into: out)
                ctx.setOutput(0, out)
                return
            }
            let begin = ctx.inputs[1].intScalars()!
            stridedCopy(x, out, begin: begin, stride: Array(repeating: 1, count: x.rank), size: out.shape)
            ctx.setOutput(0, out)
        },
        "StridedSlice": { ctx in
            let x = ctx.inputs[0], out = try ctx.allocateOutput(0, zeroed: false)
            if let walk = ctx.node.stridedRead {
                walk.read(x, into: out)
                ctx.setOutput(0, out)
                return
            }
            let spec = try StridedSliceSpec(
                inputShape: x.shape, begin: ctx.inputs[1].intScalars()!, end: ctx.inputs[2].intScalars()!,
                strides: ctx.inputs[3].intScalars()!, attrs: ctx.node.attrs)
            stridedCopy(x, out, begin: spec.begin, stride: spec.stride, size: spec.size.map { $0! })
            ctx.setOutput(0, out)
        },
        "StridedSliceGrad": { ctx in
            let dy = ctx.inputs[4], out = try ctx.allocateOutput(0)
            let spec = try StridedSliceSpec(
                inputShape: out.shape, begin: ctx.inputs[1].intScalars()!, end: ctx.inputs[2].intScalars()!,
                strides: ctx.inputs[3].intScalars()!, attrs: ctx.node.attrs)
            let size = spec.size.map { $0! }
            guard size.reduce(1, *) == dy.scalarCount else {
                throw KernelError("dy has \(dy.scalarCount) elements but the slice of \(shapeString(out.shape)) has \(size.reduce(1, *))")
            }
            let outStrides = strides(of: out.shape)
            let base = zip(spec.begin, outStrides).reduce(0) { $0 + $1.0 * $1.1 }
            let steps = zip(spec.stride, outStrides).map { $0 * $1 }
            switch dy.dtype.byteSize {
            case 1: stridedScatter(dy, out, shape: size, base: base, strides: steps, UInt8.self)
            case 4: stridedScatter(dy, out, shape: size, base: base, strides: steps, UInt32.self)
            default: stridedScatter(dy, out, shape: size, base: base, strides: steps, UInt64.self)
            }
            ctx.setOutput(0, out)
        },
        "Pad": { ctx in ctx.setOutput(0, try pad(ctx, value: nil)) },
        "PadV2": { ctx in ctx.setOutput(0, try pad(ctx, value: ctx.inputs[2])) },
        "Tile": { ctx in
            let x = ctx.inputs[0], out = try ctx.allocateOutput(0, zeroed: false)
            switch x.dtype.byteSize {
            case 1: tile(x, out, UInt8.self)
            case 4: tile(x, out, UInt32.self)
            default: tile(x, out, UInt64.self)
            }
            ctx.setOutput(0, out)
        },
        "Fill": { ctx in
            let out = try ctx.allocateOutput(0, zeroed: false)
            fill(out, with: ctx.inputs[1])
            ctx.setOutput(0, out)
        },
        "ZerosLike": { ctx in
            if ctx.inputs[0].dtype == .variant { return try ListKernels.zerosLike(ctx) }
            ctx.setOutput(0, try ctx.allocateOutput(0))
        },
        "OnesLike": { ctx in
            let out = try ctx.allocateOutput(0, zeroed: false)
            fill(out, with: Tensor.scalar(1, dtype: out.dtype))
            ctx.setOutput(0, out)
        },
        "Range": { ctx in
            let out = try ctx.allocateOutput(0, zeroed: false)
            let start = ctx.inputs[0], delta = ctx.inputs[2]
            switch out.dtype {
            case .float32:
                let s = start.scalar(as: Float.self), d = delta.scalar(as: Float.self), p = out.mutablePointer(as: Float.self)
                for i in 0..<out.scalarCount { p[i] = s + Float(i) * d }
            case .float64:
                let s = start.scalar(as: Double.self), d = delta.scalar(as: Double.self), p = out.mutablePointer(as: Double.self)
                for i in 0..<out.scalarCount { p[i] = s + Double(i) * d }
            case .int32:
                let s = start.scalar(as: Int32.self), d = delta.scalar(as: Int32.self), p = out.mutablePointer(as: Int32.self)
                for i in 0..<out.scalarCount { p[i] = s &+ Int32(truncatingIfNeeded: i) &* d }
            case .int64:
                let s = start.scalar(as: Int64.self), d = delta.scalar(as: Int64.self), p = out.mutablePointer(as: Int64.self)
                for i in 0..<out.scalarCount { p[i] = s &+ Int64(i) &* d }
            default: throw KernelError("Range is not defined for \(out.dtype)")
            }
            ctx.setOutput(0, out)
        },
        "GatherV2": { ctx in ctx.setOutput(0, try gather(ctx)) },
        "OneHot": { ctx in
            let indices = ctx.inputs[0], out = try ctx.allocateOutput(0, zeroed: false)
            let depth = ctx.inputs[1].scalar(as: Int32.self)
            let axisAttr = ctx.node.int("axis") ?? -1
            let axis = axisAttr == -1 ? indices.rank : axisAttr
            let prefix = indices.shape[..<axis].reduce(1, *), suffix = indices.shape[axis...].reduce(1, *)
            let idx = indices.intScalars()!
            let on = ctx.inputs[2], off = ctx.inputs[3], size = out.dtype.byteSize
            fill(out, with: off)
            let dst = out.rawPointer
            for p in 0..<prefix {
                for s in 0..<suffix {
                    let k = idx[p * suffix + s]
                    guard k >= 0 && k < Int(depth) else { continue }
                    memcpy(dst + ((p * Int(depth) + k) * suffix + s) * size, on.rawPointer, size)
                }
            }
            ctx.setOutput(0, out)
        },
        "BroadcastTo": { ctx in
            let x = ctx.inputs[0], out = try ctx.allocateOutput(0, zeroed: false)
            switch x.dtype.byteSize {
            case 1: broadcast(x, out, UInt8.self)
            case 4: broadcast(x, out, UInt32.self)
            default: broadcast(x, out, UInt64.self)
            }
            ctx.setOutput(0, out)
        },
    ]

    static func canonical(_ axis: Int, _ rank: Int) -> Int { axis < 0 ? axis + rank : axis }

    /// Sizes as an `int32` or `int64` tensor; int32 cannot hold sizes of 2³¹ or more.
    static func indexTensor(_ values: [Int], _ dtype: DType, shape: [Int]) throws -> Tensor {
        if dtype == .int64 { return try Tensor(values.map { Int64($0) }, shape: shape) }
        return try Tensor(values.map { v -> Int32 in
            guard let narrow = Int32(exactly: v) else {
                throw KernelError("Size \(v) does not fit out_type int32; use int64")
            }
            return narrow
        }, shape: shape)
    }

    /// Joins `pieces` along `axis`: `[outer, pᵢ·inner]` blocks copied in turn.
    static func concatenate<C: Collection<Tensor>>(_ pieces: C, into out: Tensor, axis: Int) {
        let size = out.dtype.byteSize
        let outer = out.shape[..<axis].reduce(1, *)
        let row = out.shape[axis...].reduce(1, *) * size
        var start = 0
        for piece in pieces {
            let chunk = piece.shape[axis...].reduce(1, *) * size
            if chunk > 0 {
                for o in 0..<outer {
                    memcpy(out.rawPointer + o * row + start, piece.rawPointer + o * chunk, chunk)
                }
            }
            start += chunk
        }
    }

    /// Split's kernel: each output, allocated in turn, filled from consecutive blocks of `x`
    /// along `axis`.
    static func split(_ x: Tensor, _ ctx: KernelContext, axis: Int) throws {
        let size = x.dtype.byteSize
        let outer = x.shape[..<axis].reduce(1, *)
        let row = x.shape[axis...].reduce(1, *) * size
        var start = 0
        for k in 0..<ctx.node.outputCount {
            let piece = try ctx.allocateOutput(k, zeroed: false)
            let chunk = piece.shape[axis...].reduce(1, *) * size
            if chunk > 0 {
                for o in 0..<outer { memcpy(piece.rawPointer + o * chunk, x.rawPointer + o * row + start, chunk) }
            }
            start += chunk
            ctx.setOutput(k, piece)
        }
    }

    /// The inverse of `concatenate`: fills `outs` from consecutive blocks of `x` along `axis`.
    static func split(_ x: Tensor, into outs: [Tensor], axis: Int) {
        let size = x.dtype.byteSize
        let outer = x.shape[..<axis].reduce(1, *)
        let row = x.shape[axis...].reduce(1, *) * size
        var start = 0
        for piece in outs {
            let chunk = piece.shape[axis...].reduce(1, *) * size
            if chunk > 0 {
                for o in 0..<outer {
                    memcpy(piece.rawPointer + o * chunk, x.rawPointer + o * row + start, chunk)
                }
            }
            start += chunk
        }
    }

    /// `out[j] = x[begin + j·stride]` per dimension, for `j` in `0..<size`.
    /// Row-major element strides of a shape.
    static func strides(of shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        s.withUnsafeMutableBufferPointer { fillStrides(of: shape, into: $0) }
        return s
    }

    /// Row-major element strides of `shape` written into `s` (`shape.count` elements).
    static func fillStrides(of shape: [Int], into s: UnsafeMutableBufferPointer<Int>) {
        guard !shape.isEmpty else { return }
        s[shape.count - 1] = 1
        for d in Swift.stride(from: shape.count - 2, through: 0, by: -1) { s[d] = s[d + 1] * shape[d + 1] }
    }

    /// `out[j] = x[begin + j·stride]` per dimension, for `j` in `0..<size` (Slice, StridedSlice).
    static func stridedCopy(_ x: Tensor, _ out: Tensor, begin: [Int], stride: [Int], size: [Int]) {
        let inStrides = strides(of: x.shape)
        let base = zip(begin, inStrides).reduce(0) { $0 + $1.0 * $1.1 }
        let steps = zip(stride, inStrides).map { $0 * $1 }
        switch x.dtype.byteSize {
        case 1: stridedRead(x, out, shape: size, base: base, strides: steps, UInt8.self)
        case 4: stridedRead(x, out, shape: size, base: base, strides: steps, UInt32.self)
        default: stridedRead(x, out, shape: size, base: base, strides: steps, UInt64.self)
        }
    }

    /// A strided walk of an input fixed by a plan (StridedSlice with constant bounds): first
    /// element, per-dimension element steps, and the output shape.
    struct StridedRead: Sendable {
        let base: Int
        let steps: [Int]
        let size: [Int]

        init(inputShape: [Int], begin: [Int], stride: [Int], size: [Int]) {
            let inStrides = ArrayKernels.strides(of: inputShape)
            base = zip(begin, inStrides).reduce(0) { $0 + $1.0 * $1.1 }
            steps = zip(stride, inStrides).map { $0 * $1 }
            self.size = size
        }

        func read(_ x: Tensor, into out: Tensor) {
            switch x.dtype.byteSize {
            case 1: stridedRead(x, out, shape: size, base: base, strides: steps, UInt8.self)
            case 4: stridedRead(x, out, shape: size, base: base, strides: steps, UInt32.self)
            default: stridedRead(x, out, shape: size, base: base, strides: steps, UInt64.self)
            }
        }
    }

    /// Whether `perm` swaps the last two of `rank` dimensions and keeps the others: a batch of
    /// matrix transposes.
    static func swapsLastTwo(_ perm: Tensor, rank: Int) -> Bool {
        guard rank >= 2, perm.scalarCount == rank else { return false }
        for d in 0..<(rank - 2) where perm.intScalar(at: d) != d { return false }
        return perm.intScalar(at: rank - 2) == rank - 1 && perm.intScalar(at: rank - 1) == rank - 2
    }

    /// Rows per block of ``transposeMatrices(_:_:_:)``, a multiple of its four-row tiles.
    static let transposeRowBlock = 64

    /// `out[…, j, i] = x[…, i, j]` for 4-byte elements (moved as bits): each matrix in blocks
    /// of ``transposeRowBlock`` rows, each block in 4×4 register tiles
    /// (``LinalgKernels/transpose(_:rows:columns:stride:into:leading:)``) — a strided read
    /// element by element took 0.22 ms for a 192 × 512 weight (its columns 2 KiB apart share
    /// a few cache sets), the tiles 0.018 ms. Blocks are independent, so any thread count
    /// gives the same output.
    static func transposeMatrices(_ x: Tensor, _ out: Tensor, _ ctx: KernelContext) {
        let rows = x.shape[x.rank - 2], columns = x.shape[x.rank - 1], matrix = rows * columns
        guard matrix > 0 else { return }
        let batches = x.scalarCount / matrix, blocksPerMatrix = (rows + transposeRowBlock - 1) / transposeRowBlock
        let source = UnsafePointer(x.rawPointer.assumingMemoryBound(to: Float.self)), target = out.rawPointer.assumingMemoryBound(to: Float.self)
        // One block below a split block of values: run inline.
        let blocks = batches * blocksPerMatrix, splits = x.scalarCount >= MathKernels.splitBlock
        ctx.parallelFor(blocks, blockSize: splits ? 1 : blocks, sharing: (source, target, rows, columns, blocksPerMatrix)) { s, lo, hi in
            let (source, target, rows, columns, blocksPerMatrix) = s, matrix = rows * columns
            for block in lo..<hi {
                let (b, r) = block.quotientAndRemainder(dividingBy: blocksPerMatrix)
                let first = r * transposeRowBlock, last = Swift.min(rows, first + transposeRowBlock)
                LinalgKernels.transpose(source + b * matrix, rows: first..<last, columns: columns, stride: columns, into: target + b * matrix,
                                        leading: rows)
            }
        }
    }

    /// A transpose is a strided read: output dimension i walks input dimension perm[i].
    static func transpose<E: BitPattern>(_ x: Tensor, _ out: Tensor, _ perm: [Int], _: E.Type) {
        transpose(x, out, axis: { perm[$0] }, E.self)
    }

    /// The same with the permutation as the op's (validated) tensor: nothing allocated.
    static func transpose<E: BitPattern>(_ x: Tensor, _ out: Tensor, _ perm: Tensor, _: E.Type) {
        transpose(x, out, axis: { perm.intScalar(at: $0)! }, E.self)
    }

    /// Output dimension `d` walks input dimension `axis(d)`; the strides live on the stack.
    private static func transpose<E: BitPattern>(_ x: Tensor, _ out: Tensor, axis: (Int) -> Int, _: E.Type) {
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * x.rank) { buffer in
            let inStrides = UnsafeMutableBufferPointer(rebasing: buffer[..<x.rank])
            let walk = UnsafeMutableBufferPointer(rebasing: buffer[x.rank...])
            fillStrides(of: x.shape, into: inStrides)
            for d in 0..<x.rank { walk[d] = inStrides[axis(d)] }
            stridedRead(x, out, shape: out.shape, base: 0, strides: UnsafeBufferPointer(walk), E.self)
        }
    }

    /// Walks `shape` in row-major order, calling `row(contiguous, strided, count)` for each
    /// innermost row: the row's first contiguous index, its first strided index
    /// `base + Σ jᵢ·strides[i]`, and its length (the strided index steps by the last stride).
    /// Inner dimensions the strides lay out evenly are one row (a slice of whole rows of a
    /// matrix is one run, not a call per row). The odometer over the outer dimensions lives
    /// on the stack: no allocation per call.
    @inline(__always)
    static func stridedWalk<Strides: RandomAccessCollection<Int>>(shape: [Int], base: Int, strides: Strides,
                                                                   _ row: (Int, Int, Int) -> Void) where Strides.Index == Int {
        let rank = shape.count, total = shape.reduce(1, *)
        guard total > 0 else { return }
        guard rank > 0 else { row(0, base, 1); return }
        let step = strides[rank - 1]
        var inner = shape[rank - 1], outer = rank - 1  // dimensions 0..<outer are walked
        while outer > 0 && strides[outer - 1] == inner &* step {
            inner *= shape[outer - 1]
            outer -= 1
        }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: rank) { counter in
            counter.initialize(repeating: 0)
            var offset = base, o = 0
            for _ in 0..<(total / inner) {
                row(o, offset, inner)
                o &+= inner
                var d = outer - 1
                while d >= 0 {
                    counter[d] += 1
                    offset += strides[d]
                    if counter[d] < shape[d] { break }
                    offset -= strides[d] * shape[d]
                    counter[d] = 0
                    d -= 1
                }
            }
        }
    }

    /// `out[j₀…jₙ] = x[base + Σ jᵢ·strides[i]]` over `shape` (out's elements in row-major order).
    static func stridedRead<E: BitPattern, Strides: RandomAccessCollection<Int>>(_ x: Tensor, _ out: Tensor, shape: [Int], base: Int,
                                                                                 strides: Strides, _: E.Type) where Strides.Index == Int {
        let px = x.pointer(as: E.self), po = out.mutablePointer(as: E.self), step = strides.last ?? 0
        stridedWalk(shape: shape, base: base, strides: strides) { o, p, n in
            if step == 1 { (po + o).update(from: px + p, count: n); return }
            for k in 0..<n { po[o &+ k] = px[p &+ k &* step] }
        }
    }

    /// The inverse of ``stridedRead``: contiguous `src` written to strided places of `out`.
    static func stridedScatter<E: BitPattern, Strides: RandomAccessCollection<Int>>(_ src: Tensor, _ out: Tensor, shape: [Int], base: Int,
                                                                                    strides: Strides, _: E.Type) where Strides.Index == Int {
        let ps = src.pointer(as: E.self), po = out.mutablePointer(as: E.self), step = strides.last ?? 0
        stridedWalk(shape: shape, base: base, strides: strides) { s, p, n in
            if step == 1 { (po + p).update(from: ps + s, count: n); return }
            for k in 0..<n { po[p &+ k &* step] = ps[s &+ k] }
        }
    }

    /// `out` as `x` repeated along each axis, copied in runs: dimensions after the last
    /// tiled one are one contiguous block, so each output row along that axis is `x`'s row
    /// copied `multiples` times (Keras' `UpSampling2D` tiles a `[…, 2, W, C]` view: runs of
    /// `W·C` values, not single elements).
    static func tile<E: BitPattern>(_ x: Tensor, _ out: Tensor, _: E.Type) {
        let rank = x.rank, total = out.scalarCount
        let px = x.pointer(as: E.self), po = out.mutablePointer(as: E.self)
        guard total > 0 else { return }
        guard rank > 0 else { po[0] = px[0]; return }
        var axis = rank - 1
        while axis > 0 && out.shape[axis] == x.shape[axis] { axis -= 1 }
        // Sizes of a non-empty output (and so of x) within the tensor's own bounds.
        let block = x.shape[(axis + 1)...].reduce(1, *), run = x.shape[axis] * block
        let copies = out.shape[axis] / x.shape[axis], rows = total / (copies * run)
        // Input strides and the output odometer over the axes before `axis`, on the stack.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * Swift.max(axis, 1)) { buffer in
            let strides = buffer.baseAddress!, counter = strides + axis
            var s = run
            for d in Swift.stride(from: axis - 1, through: 0, by: -1) { strides[d] = s; s *= x.shape[d]; counter[d] = 0 }
            var target = po
            for _ in 0..<rows {
                var source = 0
                for d in 0..<axis { source += (counter[d] % x.shape[d]) * strides[d] }
                for _ in 0..<copies {
                    target.update(from: px + source, count: run)
                    target += run
                }
                var d = axis - 1
                while d >= 0 {
                    counter[d] += 1
                    if counter[d] < out.shape[d] { break }
                    counter[d] = 0
                    d -= 1
                }
            }
        }
    }

    static func broadcast<E: BitPattern>(_ x: Tensor, _ out: Tensor, _: E.Type) {
        let px = x.pointer(as: E.self), po = out.mutablePointer(as: E.self)
        BroadcastIterator.forEachRow(output: out.shape, x.shape) { off, o, n, inner in
            var p = off[0]
            for j in 0..<n { po[o &+ j] = px[p]; p &+= inner[0] }
        }
    }

    /// Every element of `out` set to the scalar `value` (same dtype).
    static func fill(_ out: Tensor, with value: Tensor) {
        let size = out.dtype.byteSize
        for i in 0..<out.scalarCount { memcpy(out.rawPointer + i * size, value.rawPointer, size) }
    }

    static func pad(_ ctx: KernelContext, value: Tensor?) throws -> Tensor {
        let x = ctx.inputs[0], out = try ctx.allocateOutput(0, zeroed: value == nil)
        if let value { fill(out, with: value) }
        let pads = ctx.inputs[1]
        guard x.scalarCount > 0 else { return out }
        // Write x into the block of out that starts at the `before` paddings (strides on the stack).
        withUnsafeTemporaryAllocation(of: Int.self, capacity: out.rank) { outStrides in
            fillStrides(of: out.shape, into: outStrides)
            let base = (0..<out.rank).reduce(0) { $0 + pads.intScalar(at: 2 * $1)! * outStrides[$1] }
            let strides = UnsafeBufferPointer(outStrides)
            switch x.dtype.byteSize {
            case 1: stridedScatter(x, out, shape: x.shape, base: base, strides: strides, UInt8.self)
            case 4: stridedScatter(x, out, shape: x.shape, base: base, strides: strides, UInt32.self)
            default: stridedScatter(x, out, shape: x.shape, base: base, strides: strides, UInt64.self)
            }
        }
        return out
    }

    /// `[batch, outer, n, inner]` params, `[batch, k]` indices → `[batch, outer, k, inner]`.
    static func gather(_ ctx: KernelContext) throws -> Tensor {
        let params = ctx.inputs[0], indices = ctx.inputs[1], out = try ctx.allocateOutput(0, zeroed: false)
        let axis = canonical(ctx.inputs[2].intScalars()![0], params.rank)
        var batchDims = ctx.node.int("batch_dims") ?? 0
        if batchDims < 0 { batchDims += indices.rank }
        try gather(params: params, indices: indices, axis: axis, batchDims: batchDims, into: out)
        return out
    }

    /// `out[b, u, j, v] = params[b, u, indices[b, j], v]` for GatherV2 and ResourceGather.
    static func gather(params: Tensor, indices: Tensor, axis: Int, batchDims: Int, into out: Tensor) throws {
        let batch = params.shape[..<batchDims].reduce(1, *)
        let outer = params.shape[batchDims..<axis].reduce(1, *)
        let n = params.shape[axis], inner = params.shape[(axis + 1)...].reduce(1, *)
        let k = indices.shape[batchDims...].reduce(1, *)
        let idx = indices.intScalars()!
        for (i, v) in idx.enumerated() where v < 0 || v >= n {
            throw KernelError("indices[\(i)] = \(v) is not in [0, \(n))")
        }
        let size = params.dtype.byteSize, chunk = inner * size
        guard chunk > 0 else { return }
        var o = 0
        for b in 0..<batch {
            for u in 0..<outer {
                let src = params.rawPointer + ((b * outer + u) * n) * chunk
                for j in 0..<k {
                    memcpy(out.rawPointer + o, src + idx[b * k + j] * chunk, chunk)
                    o += chunk
                }
            }
        }
    }
}

/// Unsigned integers used to move elements by their bit pattern (1, 4 or 8 bytes).
protocol BitPattern {}
extension UInt8: BitPattern {}
extension UInt32: BitPattern {}
extension UInt64: BitPattern {}

extension Array where Element == Int {
    func inserting(_ value: Int, at index: Int) -> [Int] {
        var copy = self
        copy.insert(value, at: index)
        return copy
    }
}

extension ArrayKernels {
    /// `BroadcastGradientArgs`: reduction axes for both operands of a broadcast.
    static let gradientTable: [String: CPUKernel] = [
        "ConcatOffset": { ctx in
            let shapes = ctx.inputs.dropFirst().map { $0.intScalars()! }
            let rank = shapes[0].count
            let axis = ctx.inputs[0].intScalars()![0]
            guard axis >= -rank && axis < rank else { throw KernelError("Concat dim is out of range: \(axis) vs. \(rank)") }
            let a = axis < 0 ? axis + rank : axis
            var offset = 0
            for (k, shape) in shapes.enumerated() {
                guard shape.count == rank else {
                    throw KernelError("input \(k) should contain \(rank) elements, but got \(shape.count)")
                }
                for d in 0..<rank where d != a && shape[d] != shapes[0][d] {
                    throw KernelError("All dimensions except \(a) must match. Input \(k) has shape [\(shape.map(String.init).joined(separator: ","))]")
                }
                var result = [Int](repeating: 0, count: rank)
                result[a] = offset
                offset += shape[a]
                ctx.setOutput(k, try indexTensor(result, ctx.node.outputTypes[k], shape: [rank]))
            }
        },
        "ShapeN": { ctx in
            for (k, x) in ctx.inputs.enumerated() { ctx.setOutput(k, try indexTensor(x.shape, ctx.node.outputTypes[k], shape: [x.rank])) }
        },
        "BroadcastGradientArgs": { ctx in
            let (r0, r1) = try ArrayOps.broadcastGradientArgs(ctx.inputs[0].intScalars()!, ctx.inputs[1].intScalars()!)
            let dtype = ctx.node.outputTypes[0]
            ctx.setOutput(0, try indexTensor(r0, dtype, shape: [r0.count]))
            ctx.setOutput(1, try indexTensor(r1, dtype, shape: [r1.count]))
        },
    ]
}
