import CXSMM
import Foundation

/// Direct float32 convolutions over NHWC images, without im2col.
///
/// An output row `[OW, OC]` is `Σ_(ky,kx) X_(ky,kx) · F_(ky,kx)`: each tap's `[OW, C]` slice
/// of the (zero-padded) input — pixels `C·stride` apart — times that tap's `[C, OC]` slice of
/// the HWIO filter. That is one batch-reduce GEMM per output row, JIT-compiled by LIBXSMM
/// for the machine's vector width (in its column-major terms `m = OC`, `n = OW`, `k = C`,
/// `lda = OC`, `ldb = C·stride`, `ldc = OC`), with no patch matrix: the input is read in
/// place from a padded band of rows, a few times smaller than im2col's patches, and the
/// first layers' tiny `C` costs no copy per tap. An unstrided input gradient is the same
/// kernel on `dy` with the rotated filter; a filter gradient is, per tap, a batch-reduce
/// over output rows of `dY_rowᵀ·X_row` (transposed-B kernels).
///
/// Work is cut into fixed blocks of output rows per image (``directRowsPerBlock(_:)``) or
/// fixed groups of images (filter gradients), each computed by one thread in one order, so
/// results never depend on the thread count. Each entry point returns false, having written
/// nothing, where no kernel applies; the caller then takes the im2col path.
/// Thread-safety: kernels are looked up in LIBXSMM's thread-safe registry and are then
/// read-only code.
extension ConvKernels {
    /// Output channels below which the im2col path is kept: a row kernel vectorises over
    /// them, so with one channel (the input gradient of a grey-scale first layer) it runs
    /// at a sixteenth of its width — 12.0 ms against im2col's 7.3 on 64×28×28×1, 5×5×32.
    static let minimumDirectChannels: Int32 = 8

    /// The largest filter (bytes) the direct kernels take: each output row streams the whole
    /// filter, so it must stay in the core's L2 cache (1 MiB here, half kept for the band and
    /// the output). Larger filters — ResNet's and MobileNet's late 3×3×256×256 and 1×1×1024
    /// layers — keep im2col + GEMM, which packs the filter once per 256 positions.
    static let maximumDirectFilterBytes = 512 << 10

    /// The narrowest output row the direct kernels take: a row is one kernel call, so rows of
    /// a few pixels spend more on streaming the filter than on arithmetic.
    static let minimumDirectWidth = 8

    /// Whether the direct kernels take `g`: a window wider than one pixel (pointwise
    /// convolutions are one plain GEMM over the image already), rows at least
    /// ``minimumDirectWidth`` wide, a filter within ``maximumDirectFilterBytes``. Measured on
    /// EfficientNetB0 at 64² (batch 1; its 1×1 expansions and projections, rows 2–32 wide):
    /// 47.1 ms with every convolution direct, 35.3 without rows under 8, 30.7 without
    /// pointwise ones either, 28.3 with none — ResNet50 86.8 direct against 96.7.
    private static func fitsDirect(_ g: Geometry) -> Bool {
        guard g.kh * g.kw > 1, g.ow >= minimumDirectWidth,
              let bytes = checkedProduct(g.kh, g.kw, g.c, g.oc, MemoryLayout<Float>.stride) else { return false }
        return bytes <= maximumDirectFilterBytes
    }

    /// LIBXSMM's kernel for one output row of `g` (`C[OC × OW] = Σ_taps F[OC × C]·X[C × OW]`,
    /// column-major), or `nil` where none applies: no JIT for this CPU, fewer than
    /// ``minimumDirectChannels`` output channels, a shape ``fitsDirect(_:)`` refuses, sizes
    /// beyond its 32-bit integers.
    static func directKernel(_ g: Geometry) -> UnsafeRawPointer? { kernel(g, filterGradient: false) }

    /// LIBXSMM's kernel adding one tap's filter gradient over output rows
    /// (`dF[OC × C] += Σ_rows dY[OC × OW]·X[C × OW]ᵀ`, column-major), or `nil` as for
    /// ``directKernel(_:)``.
    static func directFilterKernel(_ g: Geometry) -> UnsafeRawPointer? { kernel(g, filterGradient: true) }

    /// Both kernels have `m = OC`, `lda = ldc = OC`, `ldb = C·stride`; the row kernel is
    /// `OW` wide and `C` deep (C overwritten), the filter-gradient kernel `C` wide and `OW`
    /// deep with `B` transposed (C accumulated). Where ``unrollsWindowRows(_:)``, the
    /// filter-gradient kernel is `KW·C` wide instead, `B` not transposed and `ldb = OW`: it
    /// reads rows of the band unrolled (``unrollWindowRows(_:into:_:rows:columns:)``).
    private static func kernel(_ g: Geometry, filterGradient: Bool) -> UnsafeRawPointer? {
        guard LIBXSMM.available, fitsDirect(g), let ldb = checkedProduct(g.c, g.sw), let lb = Int32(exactly: ldb),
              let m = Int32(exactly: g.oc), let ow = Int32(exactly: g.ow), let c = Int32(exactly: g.c),
              m >= minimumDirectChannels, ow > 0, c > 0 else { return nil }
        guard filterGradient else { return soma_xsmm_reduce_batch_kernel(m, ow, c, m, lb, m, 1, 0) }
        guard unrollsWindowRows(g) else { return soma_xsmm_reduce_batch_kernel(m, c, ow, m, lb, m, 0, 1) }
        guard let taps = Int32(exactly: g.kw * g.c) else { return nil }
        return soma_xsmm_reduce_batch_kernel(m, taps, ow, m, ow, m, 0, 0)
    }

    /// Whether a filter gradient sums a whole window row's taps in one kernel call, over the
    /// band's rows unrolled: with a few input channels (a first layer's grey or RGB image) a
    /// per-tap kernel is `C` wide — at one channel a matrix-vector product. Measured on
    /// 64×28×28×1, 5×5×32 (see ARCHITECTURE.md; the forward pass gains nothing from it).
    static func unrollsWindowRows(_ g: Geometry) -> Bool { g.c < unrolledChannels && g.kw > 1 }

    /// Input channels below which filter gradients unroll window rows.
    static let unrolledChannels = 8

    /// Each row `r` of the padded band (`[rows, columns, C]`) unrolled to `[KW·C, OW]` — in
    /// the kernel's column-major terms the `OW × KW·C` matrix `B` of one window row:
    /// `unrolled[r][kx·C + c][ox] = padded[r][ox·SW + kx·DW][c]`.
    private static func unrollWindowRows(_ padded: UnsafePointer<Float>, into unrolled: UnsafeMutablePointer<Float>, _ g: Geometry,
                                         rows: Int, columns: Int) {
        let rowValues = g.ow * g.kw * g.c
        for r in 0..<rows {
            let source = padded + r * columns * g.c, target = unrolled + r * rowValues
            for kx in 0..<g.kw {
                for c in 0..<g.c {
                    let from = source + kx * g.dw * g.c + c, to = target + (kx * g.c + c) * g.ow
                    for ox in 0..<g.ow { to[ox] = from[ox * g.sw * g.c] }
                }
            }
        }
    }

    /// The bytes of `rows` band rows unrolled (``unrollWindowRows(_:into:_:rows:columns:)``)
    /// plus alignment, 0 where ``unrollsWindowRows(_:)`` is false; `nil` when that overflows.
    private static func unrolledBytes(_ g: Geometry, rows: Int) -> Int? {
        guard unrollsWindowRows(g) else { return 0 }
        guard let bytes = checkedProduct(rows, g.ow, g.kw, g.c, MemoryLayout<Float>.stride), bytes < Int.max - 64 else { return nil }
        return bytes + 64
    }

    /// The unrolled rows' place in a thread's scratch: after its padded band of `bandValues`.
    private static func unrolledRows(after padded: UnsafeMutablePointer<Float>, bandValues: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer(padded + bandValues).alignedUp(toMultipleOf: 64).assumingMemoryBound(to: Float.self)
    }

    /// The padded band of input rows one block of `rows` output rows reads, and its width
    /// (`[bandRows, bandColumns, C]`); `nil` when that overflows (sizes from a file).
    private static func band(_ g: Geometry, rows: Int) -> (rows: Int, columns: Int)? {
        func span(_ count: Int, _ step: Int, _ k: Int, _ dilation: Int) -> Int? {
            guard let a = checkedProduct(count - 1, step), let b = checkedProduct(k - 1, dilation) else { return nil }
            let (sum, overflow) = a.addingReportingOverflow(b)
            return overflow || sum == .max ? nil : sum + 1
        }
        guard let bandRows = span(rows, g.sh, g.kh, g.dh), let columns = span(g.ow, g.sw, g.kw, g.dw) else { return nil }
        return (bandRows, columns)
    }

    /// The scratch one thread holds: a padded band of `rows` output rows' input plus two
    /// arrays of `addresses` pointers; `nil` when that overflows.
    private static func directScratchBytes(_ g: Geometry, rows: Int, addresses: Int) -> Int? {
        guard let (bandRows, columns) = band(g, rows: rows), let values = checkedProduct(bandRows, columns, g.c, MemoryLayout<Float>.stride),
              let pointers = checkedProduct(2, addresses, MemoryLayout<UnsafePointer<Float>?>.stride) else { return nil }
        let (sum, overflow) = values.addingReportingOverflow(pointers + 64)
        return overflow ? nil : sum
    }

    /// Fills `padded` (`[bandRows, columns, C]`) with input rows `top..<top+bandRows` and
    /// columns `−padLeft..<columns−padLeft` of `image`, zeros outside the image.
    private static func fillBand(_ padded: UnsafeMutablePointer<Float>, from image: UnsafePointer<Float>, _ g: Geometry,
                                 top: Int, rows bandRows: Int, columns: Int) {
        let rowValues = columns * g.c
        let inside = Swift.max(0, Swift.min(g.padLeft, columns))..<Swift.max(0, Swift.min(columns, g.w + g.padLeft))
        for r in 0..<bandRows {
            let target = padded + r * rowValues, iy = top + r
            guard iy >= 0 && iy < g.h, !inside.isEmpty else {
                target.update(repeating: 0, count: rowValues)
                continue
            }
            target.update(repeating: 0, count: inside.lowerBound * g.c)
            (target + inside.lowerBound * g.c).update(from: image + (iy * g.w + inside.lowerBound - g.padLeft) * g.c, count: inside.count * g.c)
            (target + inside.upperBound * g.c).update(repeating: 0, count: (columns - inside.upperBound) * g.c)
        }
    }

    /// The padded band and the two address arrays inside one thread's scratch.
    private static func carve(_ raw: UnsafeMutableRawPointer, addresses: Int, bytes: Int)
        -> (UnsafeMutablePointer<UnsafePointer<Float>?>, UnsafeMutablePointer<UnsafePointer<Float>?>, UnsafeMutablePointer<Float>) {
        let first = raw.bindMemory(to: UnsafePointer<Float>?.self, capacity: 2 * addresses)
        let padded = (raw + 2 * addresses * MemoryLayout<UnsafePointer<Float>?>.stride).alignedUp(toMultipleOf: 64)
            .bindMemory(to: Float.self, capacity: bytes / MemoryLayout<Float>.stride)
        return (first, first + addresses, padded)
    }

    /// Output rows per block of a direct forward convolution: at most ``forwardRowBlock``
    /// positions, an image's blocks balanced, and — where the image has the rows — enough
    /// blocks over the batch for ``minimumForwardTasks`` tasks (DenseNet121's 3×3 layers at
    /// 14², a batch of one, were one block on one thread). Fixed by the geometry.
    static func directRowsPerBlock(_ g: Geometry) -> Int {
        let oh = Swift.max(1, g.oh), widest = Swift.max(1, Swift.min(oh, forwardRowBlock / Swift.max(g.ow, 1)))
        var blocks = (oh + widest - 1) / widest
        if g.n * blocks < minimumForwardTasks { blocks = Swift.min(oh, (minimumForwardTasks + g.n - 1) / Swift.max(g.n, 1)) }
        return (oh + blocks - 1) / blocks
    }

    /// `g`'s convolution of images `px` with filter `pf` into `po`, run as direct row
    /// kernels; `epilogue(rows, count)` runs on each block's output while it is in cache.
    /// Returns false, having written nothing, when no kernel is available (the caller then
    /// takes the im2col path).
    static func directForward(_ px: UnsafePointer<Float>, _ pf: UnsafePointer<Float>, _ po: UnsafeMutablePointer<Float>, _ g: Geometry,
                              _ ctx: KernelContext, epilogue: Epilogue<Float>) throws -> Bool {
        let rowsPerBlock = directRowsPerBlock(g), taps = g.kh * g.kw
        guard g.n > 0, g.oh > 0, let kernel = directKernel(g), let scratch = directScratchBytes(g, rows: rowsPerBlock, addresses: taps),
              let reserved = checkedProduct(scratch, Swift.max(1, ctx.threads)) else { return false }
        let blocksPerImage = (g.oh + rowsPerBlock - 1) / rowsPerBlock
        // Bands of fewer rows than the first (the last block's) fit in its scratch.
        let columns = band(g, rows: rowsPerBlock)!.columns
        try ctx.withScratchReserved(reserved, "a direct convolution's padded rows") {
            let shared = ((px, pf, po, g, epilogue), (kernel, scratch, rowsPerBlock, blocksPerImage, columns))
            ctx.parallelFor(g.n * blocksPerImage, blockSize: 1, sharing: shared) { s, lo, hi in
                let ((px, pf, po, g, epilogue), (kernel, scratch, rowsPerBlock, blocksPerImage, columns)) = s
                let taps = g.kh * g.kw, rowValues = columns * g.c
                ThreadScratch.withScratch(bytes: scratch) { raw in
                    let (filters, inputs, padded) = carve(raw, addresses: taps, bytes: scratch)
                    for t in 0..<taps { filters[t] = pf + t * g.c * g.oc }
                    for block in lo..<hi {
                        let (i, b) = block.quotientAndRemainder(dividingBy: blocksPerImage)
                        let first = b * rowsPerBlock, last = Swift.min(g.oh, first + rowsPerBlock)
                        fillBand(padded, from: px + i * g.h * g.w * g.c, g, top: first * g.sh - g.padTop,
                                 rows: band(g, rows: last - first)!.rows, columns: columns)
                        for oy in first..<last {
                            let row = padded + (oy - first) * g.sh * rowValues, target = po + (i * g.oh + oy) * g.ow * g.oc
                            // Window rows wholly in the padding add nothing: only the others' taps run.
                            let rows = windowRows(g, outputRow: oy), skipped = rows.lowerBound * g.kw
                            guard !rows.isEmpty else {
                                target.update(repeating: 0, count: g.ow * g.oc)
                                continue
                            }
                            for ky in rows {
                                for kx in 0..<g.kw { inputs[ky * g.kw + kx] = UnsafePointer(row + (ky * g.dh * columns + kx * g.dw) * g.c) }
                            }
                            soma_xsmm_reduce_batch(kernel, filters + skipped, inputs + skipped, target, UInt64(rows.count * g.kw),
                                                   LIBXSMM.clearsUpperHalves)
                        }
                        epilogue(po + (i * g.oh + first) * g.ow * g.oc, (last - first) * g.ow)
                    }
                }
            }
        }
        return true
    }

    /// `g`'s float32 filter gradient from images `px` and `dy` into `po` (HWIO): per tap, one
    /// batch-reduce over an image's output rows of `dY_rowᵀ·X_row`, read in place from the
    /// padded image. Images form the same fixed groups as the im2col path (at most
    /// ``filterGroups``), each summing into its own partial filter, added in group order.
    /// Returns false, having written nothing, when no kernel is available.
    static func directFilterGradient(_ px: UnsafePointer<Float>, _ pdy: UnsafePointer<Float>, _ po: UnsafeMutablePointer<Float>,
                                     _ g: Geometry, _ ctx: KernelContext) throws -> Bool {
        let unrolls = unrollsWindowRows(g)
        guard g.n > 0, g.oh > 0, let kernel = directFilterKernel(g), let bandBytes = directScratchBytes(g, rows: g.oh, addresses: g.oh),
              let (bandRows, columns) = band(g, rows: g.oh), let unrolledBytes = unrolledBytes(g, rows: bandRows),
              case let (scratch, unrolledOverflow) = bandBytes.addingReportingOverflow(unrolledBytes), !unrolledOverflow,
              let reserved = checkedProduct(scratch, Swift.max(1, ctx.threads)) else { return false }
        let (groupSize, groups) = filterGrouping(g.n)
        let size = g.patch * g.oc
        guard let partialBytes = checkedProduct(groups, size, MemoryLayout<Float>.stride) else { return false }
        let (total, overflow) = reserved.addingReportingOverflow(partialBytes)
        guard !overflow else { return false }
        try ctx.withScratchReserved(total, "a direct filter gradient's padded images and partial sums") {
            SharedScratch.withScratch(bytes: partialBytes) { raw in
                let partials = raw.bindMemory(to: Float.self, capacity: groups * size)
                partials.initialize(repeating: 0, count: groups * size)
                let shared = ((px, pdy, partials, g), (kernel, scratch, bandBytes, bandRows, columns, groupSize, unrolls))
                ctx.parallelFor(groups, blockSize: 1, sharing: shared) { s, lo, hi in
                    let ((px, pdy, partials, g), (kernel, scratch, bandBytes, bandRows, columns, groupSize, unrolls)) = s
                    let size = g.patch * g.oc, rowValues = columns * g.c, unrolledRowValues = g.ow * g.kw * g.c
                    ThreadScratch.withScratch(bytes: scratch) { raw in
                        let (gradients, inputs, padded) = carve(raw, addresses: g.oh, bytes: bandBytes)
                        let unrolled = unrolledRows(after: padded, bandValues: bandRows * rowValues)
                        for group in lo..<hi {
                            let sum = partials + group * size
                            for i in (group * groupSize)..<Swift.min(g.n, (group + 1) * groupSize) {
                                fillBand(padded, from: px + i * g.h * g.w * g.c, g, top: -g.padTop, rows: bandRows, columns: columns)
                                if unrolls { unrollWindowRows(padded, into: unrolled, g, rows: bandRows, columns: columns) }
                                for oy in 0..<g.oh { gradients[oy] = pdy + (i * g.oh + oy) * g.ow * g.oc }
                                for ky in 0..<g.kh {
                                    // Output rows whose window row ky lies in the padding add nothing.
                                    let rows = outputRows(g, windowRow: ky)
                                    guard !rows.isEmpty else { continue }
                                    if unrolls {
                                        // The whole window row: [KW, C, OC] of the HWIO gradient at once.
                                        for oy in rows { inputs[oy] = UnsafePointer(unrolled + (oy * g.sh + ky * g.dh) * unrolledRowValues) }
                                        soma_xsmm_reduce_batch(kernel, gradients + rows.lowerBound, inputs + rows.lowerBound,
                                                               sum + ky * g.kw * g.c * g.oc, UInt64(rows.count), LIBXSMM.clearsUpperHalves)
                                        continue
                                    }
                                    for kx in 0..<g.kw {
                                        let tap = padded + (ky * g.dh * columns + kx * g.dw) * g.c
                                        for oy in rows { inputs[oy] = UnsafePointer(tap + oy * g.sh * rowValues) }
                                        soma_xsmm_reduce_batch(kernel, gradients + rows.lowerBound, inputs + rows.lowerBound,
                                                               sum + (ky * g.kw + kx) * g.c * g.oc, UInt64(rows.count), LIBXSMM.clearsUpperHalves)
                                    }
                                }
                            }
                        }
                    }
                }
                sumPartialFilters(partials, count: groups, size: size, into: po)
            }
        }
        return true
    }

    /// The window rows `ky` of output row `oy` that read the image (`0 ≤ oy·SH − padTop +
    /// ky·DH < H`): an interval, as the input row grows with `ky`. The direct kernels skip
    /// the others — a 5×5 `SAME` layer on 14² has a tenth of its taps in padding rows — which
    /// changes no sum but the sign of a zero (and `0·∞`, which the definition skips as well).
    static func windowRows(_ g: Geometry, outputRow oy: Int) -> Range<Int> {
        let start = oy * g.sh - g.padTop  // input row of ky = 0
        // ky·DH ≥ −start, and ky·DH ≤ H − 1 − start.
        let first = start >= 0 ? 0 : (-start + g.dh - 1) / g.dh
        let last = start > g.h - 1 ? -1 : Swift.min(g.kh - 1, (g.h - 1 - start) / g.dh)
        return first <= last ? first..<(last + 1) : 0..<0
    }

    /// The output rows `oy` whose window row `ky` reads the image (`0 ≤ oy·SH − padTop +
    /// ky·DH < H`): an interval, skipped as in ``windowRows(_:outputRow:)``.
    static func outputRows(_ g: Geometry, windowRow ky: Int) -> Range<Int> {
        let offset = ky * g.dh - g.padTop  // input row of oy = 0
        let first = offset >= 0 ? 0 : (-offset + g.sh - 1) / g.sh
        let last = offset > g.h - 1 ? -1 : Swift.min(g.oh - 1, (g.h - 1 - offset) / g.sh)
        return first <= last ? first..<(last + 1) : 0..<0
    }

    /// HWIO filter `f` (`[KH, KW, C, OC]`) rotated by 180° with its channel axes swapped:
    /// `rotated[KH−1−ky, KW−1−kx, o, c] = f[ky, kx, c, o]` — the filter of
    /// ``Geometry/inputGradient``.
    static func rotateFilter<T>(_ f: UnsafePointer<T>, into rotated: UnsafeMutablePointer<T>, _ g: Geometry) {
        for ky in 0..<g.kh {
            for kx in 0..<g.kw {
                let source = f + (ky * g.kw + kx) * g.c * g.oc
                let target = rotated + ((g.kh - 1 - ky) * g.kw + (g.kw - 1 - kx)) * g.oc * g.c
                for c in 0..<g.c {
                    for o in 0..<g.oc { target[o * g.c + c] = source[c * g.oc + o] }
                }
            }
        }
    }

    /// An unstrided float32 input gradient as the forward convolution of `dy` with the rotated
    /// filter (``Geometry/inputGradient``) — Winograd tiles where they take it
    /// (``fitsWinograd(_:)``), else direct; false, having written nothing, when neither
    /// applies (strided, or no kernel).
    static func inputGradientAsForward(_ pf: UnsafePointer<Float>, _ pdy: UnsafePointer<Float>, _ po: UnsafeMutablePointer<Float>,
                                    _ g: Geometry, _ ctx: KernelContext) throws -> Bool {
        guard let transposed = g.inputGradient, fitsWinograd(transposed) || directKernel(transposed) != nil else { return false }
        let size = g.patch * g.oc, bytes = size * MemoryLayout<Float>.stride
        return try ctx.withScratchReserved(bytes, "the rotated filter") {
            try SharedScratch.withScratch(bytes: bytes) { raw in
                let rotated = raw.bindMemory(to: Float.self, capacity: size)
                rotateFilter(pf, into: rotated, g)
                if try winogradForward(pdy, UnsafePointer(rotated), po, transposed, ctx, transformedFilter: false, epilogue: .none) {
                    return true
                }
                return try directForward(pdy, UnsafePointer(rotated), po, transposed, ctx, epilogue: .none)
            }
        }
    }
}
