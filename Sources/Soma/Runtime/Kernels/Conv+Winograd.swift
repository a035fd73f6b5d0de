import CXSMM
import SomaSIMD

/// Winograd F(4×4, 3×3), F(2×2, 3×3) and F(2×2, 5×5) float32 convolutions over NHWC images:
/// 3×3 and 5×5 windows at unit stride and dilation with 4 (2.25) and 2.8 times fewer
/// multiplications than the direct sum.
///
/// Each `m × m` block of output positions (a *tile*: ``winogradTile(_:filterPerCall:)``, 4 for
/// a 3×3 window whose transformed filter is small, else 2) reads an `S × S` block of input
/// `d` (`S = m + K − 1`: 6, or 4 for F(2×2, 3×3)); with the transforms `Bᵀ`, `G` and `Aᵀ` of
/// Lavin and Gray (2016) its outputs are `Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`, where the element-wise
/// product, summed over the input channels, is `S²` independent products `M_ξ = V_ξ · U_ξ` —
/// for each of the `S × S` positions `ξ`, the tiles' transformed inputs `V_ξ` (`[tiles, C]`) times the
/// transformed filter `U_ξ` (`[C, OC]`). Those products are LIBXSMM GEMMs; the transforms are
/// additions and subtractions vectorised along the channels (NHWC keeps them contiguous):
/// the tiles' input and output transforms in the per-CPU builds of `SomaSIMD`
/// (``VectorKernels/winogradInputTiles(_:image:into:firstRow:count:level:)``), the filter's
/// here.
///
/// A constant filter is transformed once, in the plan (``WinogradFilterTransform``); any
/// other once per call, in parallel over its input channels. Filter gradients run the same
/// tiles transposed (``winogradFilterGradient(_:_:_:_:_:)``). The tiles
/// run in fixed blocks of whole tile rows of one image (``winogradTileRows(_:tile:)``), each block
/// transformed, multiplied and transformed back by one thread in its cache, so results
/// never depend on the thread count. They differ from the direct sum in rounding only:
/// F(2×2, 3×3)'s coefficients are 0, ±1 and ±½; the 6×6 transforms' up to 8 and ¹⁄₂₄, whose
/// larger sums cost a decimal digit or more (against the float64 sum, within 2.7·10⁻⁶ of the
/// terms' absolute sum for F(4×4, 3×3), 8.6·10⁻⁷ for F(2×2, 5×5), 1.4·10⁻⁷ for F(2×2, 3×3)).
/// Thread-safety: kernels come from LIBXSMM's thread-safe registry; each thread writes its
/// own scratch and its own tiles' outputs.
extension ConvKernels {
    /// Output positions per image below which the direct and im2col paths keep a layer: the
    /// transformed filter is 36/9 (36/25) the filter's size and read once per block of tiles,
    /// so a few positions (late layers of a small image) spend more on it than they save.
    static let minimumWinogradPositions = 144

    /// Target bytes of one block's transformed inputs and products (`P·tiles·(C+OC)` floats,
    /// `P` the transform's positions, ``winogradPositions(_:)``):
    /// about half the core's L2 cache, where the products find them.
    static let winogradBlockBytes = 512 << 10

    /// Whether `g` runs as Winograd tiles: a float32 3×3 or 5×5 window at unit stride and
    /// dilation, channels in multiples of four (the transforms' vectors), at least
    /// ``minimumWinogradPositions`` output positions, sizes within LIBXSMM's 32-bit integers.
    static func fitsWinograd(_ g: Geometry) -> Bool {
        guard LIBXSMM.available, g.kh == g.kw, g.kh == 3 || g.kh == 5, g.sh == 1, g.sw == 1, g.dh == 1, g.dw == 1,
              g.c >= 16, g.oc >= minimumDirectChannels, g.c % 4 == 0, g.oc % 4 == 0,
              let positions = checkedProduct(g.oh, g.ow, 1, 1), positions >= minimumWinogradPositions,
              let filterValues = checkedProduct(36, g.c, g.oc, 1), Int32(exactly: filterValues) != nil else { return false }
        return true
    }

    /// Output positions of a call below which a 3×3 filter transformed on that call keeps
    /// 2×2 tiles: F(4×4, 3×3)'s transformed filter is 36/16 of F(2×2, 3×3)'s, so where few
    /// positions share it — ResNet50's 14²×256 input gradient at a batch of one, its 9 MiB
    /// written on every call (measured before ``maximumFourTileFilterBytes`` kept such
    /// filters on 2×2 tiles) — it costs more than its tiles save (2.10 against 2.70 ms).
    static let minimumFourTilePositions = 256

    /// The largest transformed filter (bytes) of F(4×4, 3×3): it is read once per block of
    /// tiles, and beyond the core's L2 cache two threads streaming it wait on memory —
    /// ResNet50's 14²×256 layers (9 MiB) took 1.70–1.83 ms on two threads against F(2×2, 3×3)'s
    /// 0.65–0.67 (on one thread 0.86 against 0.93), its 28²×128 ones (2.3 MiB) 0.56–0.64
    /// against 0.62–0.66; its 56²×64 ones (0.6 MiB) 0.47–0.51 against 0.54–0.58.
    static let maximumFourTileFilterBytes = 1 << 20

    /// The side of a forward tile's block of outputs (filter gradients take 2×2 tiles): 2 for a
    /// 5×5 window (F(2×2, 5×5)); 4 for 3×3 (F(4×4, 3×3)) where its transformed filter is within
    /// ``maximumFourTileFilterBytes`` and — if it is transformed on each call (`filterPerCall`:
    /// not a constant the plan transformed — an input gradient's rotated filter, a variable) —
    /// the call has at least ``minimumFourTilePositions`` positions.
    static func winogradTile(_ g: Geometry, filterPerCall: Bool) -> Int {
        guard g.kh == 3, let bytes = checkedProduct(36, g.c, g.oc, MemoryLayout<Float>.stride), bytes <= maximumFourTileFilterBytes
        else { return 2 }
        guard filterPerCall else { return 4 }
        let positions = checkedProduct(g.n, g.oh, g.ow, 1) ?? .max
        return positions >= minimumFourTilePositions ? 4 : 2
    }

    /// The positions of a `tile`-wide tile's transform for `g`'s window (`(tile + K − 1)²`):
    /// 36 for F(4×4, 3×3) and F(2×2, 5×5), 16 for F(2×2, 3×3).
    static func winogradPositions(_ g: Geometry, tile: Int) -> Int {
        let side = g.kh + tile - 1
        return side * side
    }

    /// The geometry of the IR node `node` where it is a convolution whose kernel runs Winograd
    /// tiles (``fitsWinograd(_:)``), as the plan passes that prepare its filter ask; else nil.
    static func winogradGeometry(_ node: IRNode) -> Geometry? {
        guard node.op == "Conv2D" || node.op == "_SomaFusedConv2D", let input = node.inputs[0].shape.concrete,
              let filter = node.inputs[1].shape.concrete, let g = try? Geometry(input: input, filter: filter, attrs: node.attrs),
              fitsWinograd(g) else { return nil }
        return g
    }

    /// Tile rows per block of `g`'s tiles: blocks of one image, their transformed inputs and
    /// products within ``winogradBlockBytes`` (at least one tile row), balanced, and — where an
    /// image has the tile rows — at least ``minimumForwardTasks`` blocks over the batch.
    /// Fixed by the geometry.
    static func winogradTileRows(_ g: Geometry, tile: Int) -> Int {
        let tileRows = (g.oh + tile - 1) / tile, tilesPerRow = (g.ow + tile - 1) / tile
        // Sizes from a file: a row too wide to count is wider than any block.
        let bytesPerTileRow = checkedProduct(tilesPerRow, winogradPositions(g, tile: tile), g.c + g.oc, MemoryLayout<Float>.stride) ?? .max
        let widest = Swift.max(1, Swift.min(tileRows, winogradBlockBytes / Swift.max(1, bytesPerTileRow)))
        var blocks = (tileRows + widest - 1) / widest
        if g.n < minimumForwardTasks && g.n * blocks < minimumForwardTasks {
            blocks = Swift.min(tileRows, (minimumForwardTasks + g.n - 1) / Swift.max(1, g.n))
        }
        return (tileRows + blocks - 1) / blocks
    }

    /// Tiles a filter gradient's block holds at least (an image's, where it has fewer): each
    /// block's sums are a `[C, OC]` product per position, written and added to its group's
    /// once per block, so with the forward's blocks a deep layer spent its time there —
    /// ResNet50's 14²×256 (blocks of 14 tiles) took 40–48 ms over 16 images against the
    /// direct kernels' 39–40.
    static let minimumFilterGradientTiles = 64

    /// Tile rows per block of `g`'s filter gradient: the forward's bound on a block's bytes
    /// (``winogradBlockBytes``), widened to ``minimumFilterGradientTiles``, balanced. Fixed by
    /// the geometry.
    static func winogradFilterTileRows(_ g: Geometry) -> Int {
        let tileRows = (g.oh + 1) / 2, tilesPerRow = Swift.max(1, (g.ow + 1) / 2)
        let bytesPerTileRow = checkedProduct(tilesPerRow, winogradPositions(g, tile: 2), g.c + g.oc, MemoryLayout<Float>.stride) ?? .max
        let byBytes = winogradBlockBytes / Swift.max(1, bytesPerTileRow), byTiles = (minimumFilterGradientTiles + tilesPerRow - 1) / tilesPerRow
        let widest = Swift.max(1, Swift.min(tileRows, Swift.max(byBytes, byTiles)))
        let blocks = (tileRows + widest - 1) / widest
        return (tileRows + blocks - 1) / blocks
    }

    /// `g`'s convolution of images `px` with filter `pf` (HWIO, or already `[S, S, C, OC]` from
    /// ``transformFilter(_:into:c:oc:window:channels:)`` where `transformedFilter`) into `po` as
    /// Winograd tiles; `epilogue(rows, count)` runs on each block's output rows while they are
    /// in cache. Returns false, having written nothing, where ``fitsWinograd(_:)`` refuses `g`
    /// or LIBXSMM has no kernel.
    static func winogradForward(_ px: UnsafePointer<Float>, _ pf: UnsafePointer<Float>, _ po: UnsafeMutablePointer<Float>, _ g: Geometry,
                                _ ctx: KernelContext, transformedFilter: Bool,
                                epilogue: Epilogue<Float>) throws -> Bool {
        guard g.n > 0, fitsWinograd(g) else { return false }
        let tile = winogradTile(g, filterPerCall: !transformedFilter), tileRows = (g.oh + tile - 1) / tile, tilesPerRow = (g.ow + tile - 1) / tile
        let rowsPerBlock = winogradTileRows(g, tile: tile), blocksPerImage = (tileRows + rowsPerBlock - 1) / rowsPerBlock
        let positions = winogradPositions(g, tile: tile), tiles = rowsPerBlock * tilesPerRow
        let lastTiles = (tileRows - (blocksPerImage - 1) * rowsPerBlock) * tilesPerRow
        // fitsWinograd bounds positions·C·OC by Int32; a block's tiles are at most an image's.
        guard let m = Int32(exactly: g.oc), let k = Int32(exactly: g.c), let n = Int32(exactly: tiles), let nLast = Int32(exactly: lastTiles),
              let kernel = soma_xsmm_gemm_kernel(m, n, k, m, k, m, 0), let lastKernel = soma_xsmm_gemm_kernel(m, nLast, k, m, k, m, 0),
              let blockValues = checkedProduct(positions, tiles, g.c + g.oc, 1),
              let threadBytes = checkedProduct(blockValues, MemoryLayout<Float>.stride, 1, 1),
              let filterBytes = transformedFilter ? 0 : checkedProduct(positions, g.c, g.oc, MemoryLayout<Float>.stride),
              let reserved = checkedProduct(threadBytes, Swift.max(1, ctx.threads), 1, 1),
              case let (total, overflow) = reserved.addingReportingOverflow(filterBytes), !overflow else { return false }
        let (c, oc) = (g.c, g.oc)
        let tileGeometry = WinogradGeometry(h: g.h, w: g.w, c: c, oc: oc, oh: g.oh, ow: g.ow, padTop: g.padTop, padLeft: g.padLeft,
                                            window: g.kh, tile: tile)
        try ctx.withScratchReserved(total, "a Winograd convolution's transformed filter and tiles") {
            SharedScratch.withScratch(bytes: filterBytes) { raw in
                var u = pf
                if !transformedFilter {
                    let transformed = raw.bindMemory(to: Float.self, capacity: positions * c * oc)
                    ctx.parallelFor(c, blockSize: Swift.max(1, 4096 / oc), sharing: (pf, transformed, c, oc, g.kh, tile)) { s, lo, hi in
                        transformFilter(s.0, into: s.1, c: s.2, oc: s.3, window: s.4, tile: s.5, channels: lo..<hi)
                    }
                    u = UnsafePointer(transformed)
                }
                let shared = ((px, u, po, g, tileGeometry, epilogue), (kernel, lastKernel, threadBytes, blockValues),
                              (positions, tiles, rowsPerBlock, tileRows, tilesPerRow, blocksPerImage))
                ctx.parallelFor(g.n * blocksPerImage, blockSize: 1, sharing: shared) { s, lo, hi in
                    let ((px, u, po, g, tileGeometry, epilogue), (kernel, lastKernel, threadBytes, blockValues),
                         (positions, tiles, rowsPerBlock, tileRows, tilesPerRow, blocksPerImage)) = s, (c, oc) = (g.c, g.oc)
                    ThreadScratch.withScratch(bytes: threadBytes) { raw in
                        let v = raw.bindMemory(to: Float.self, capacity: blockValues), products = v + positions * tiles * c
                        for block in lo..<hi {
                            let (i, b) = block.quotientAndRemainder(dividingBy: blocksPerImage)
                            let firstRow = b * rowsPerBlock, lastRow = Swift.min(tileRows, firstRow + rowsPerBlock)
                            let count = (lastRow - firstRow) * tilesPerRow
                            let image = px + i * g.h * g.w * c, output = po + i * g.oh * g.ow * oc
                            VectorKernels.winogradInputTiles(tileGeometry, image: image, into: v, firstRow: firstRow, count: count)
                            let gemm = count == tiles ? kernel : lastKernel
                            for xi in 0..<positions {
                                soma_xsmm_gemm(gemm, u + xi * c * oc, v + xi * count * c, products + xi * count * oc, LIBXSMM.clearsUpperHalves)
                            }
                            VectorKernels.winogradOutputTiles(tileGeometry, products: products, into: output, firstRow: firstRow, count: count)
                            let firstOutput = tileGeometry.tile * firstRow, outputRows = Swift.min(g.oh, tileGeometry.tile * lastRow) - firstOutput
                            epilogue(output + firstOutput * g.ow * oc, outputRows * g.ow)
                        }
                    }
                }
            }
        }
        return true
    }

    /// `g`'s float32 filter gradient (HWIO, into `po`) from images `px` and output gradient
    /// `pdy` as Winograd tiles: F(3×3, 2×2) and F(5×5, 2×2), the forward tile transposed in
    /// its filter — `dG = Gᵀ [Σ_tiles (Bᵀ d B) ⊙ (A dY Aᵀ)] G`. Per block of tiles
    /// (``winogradFilterTileRows(_:)``) the input transform is the forward's, `A dY Aᵀ` is
    /// ``VectorKernels/winogradGradientTiles(_:outBackprop:into:firstRow:count:level:)``, and
    /// the sum over the block's tiles is, for each of the `P` positions `ξ`, one GEMM
    /// `V_ξᵀ·W_ξ` (`[C, OC]`, `tiles` deep); `Gᵀ·G` runs once, on the sums. Images form the
    /// fixed groups of the other filter-gradient paths (``filterGrouping(_:)``), each summing
    /// its blocks' products, in order, into its own `[P, C, OC]`; the final transform adds the
    /// groups in group order — results never depend on the thread count. Each block's
    /// product is summed apart before it joins its group's (the transformed terms are larger
    /// than the filter's, and one long float32 sum over a group's tiles lost a decimal digit).
    /// Returns false, having written nothing, where ``fitsWinograd(_:)`` refuses `g` or
    /// LIBXSMM has no kernel.
    static func winogradFilterGradient(_ px: UnsafePointer<Float>, _ pdy: UnsafePointer<Float>, _ po: UnsafeMutablePointer<Float>,
                                       _ g: Geometry, _ ctx: KernelContext) throws -> Bool {
        guard g.n > 0, fitsWinograd(g) else { return false }
        let tileRows = (g.oh + 1) / 2, tilesPerRow = (g.ow + 1) / 2, rowsPerBlock = winogradFilterTileRows(g)
        let blocksPerImage = (tileRows + rowsPerBlock - 1) / rowsPerBlock
        let positions = winogradPositions(g, tile: 2), tiles = rowsPerBlock * tilesPerRow
        let lastTiles = (tileRows - (blocksPerImage - 1) * rowsPerBlock) * tilesPerRow
        let (groupSize, groups) = filterGrouping(g.n)
        // In LIBXSMM's column-major terms M_ξ (OC × C) = W_ξ (OC × tiles) · V_ξ (C × tiles)ᵀ.
        guard let m = Int32(exactly: g.oc), let n = Int32(exactly: g.c), let k = Int32(exactly: tiles), let kLast = Int32(exactly: lastTiles),
              let kernel = soma_xsmm_gemm_kernel(m, n, k, m, n, m, 1), let lastKernel = soma_xsmm_gemm_kernel(m, n, kLast, m, n, m, 1),
              let blockValues = checkedProduct(positions, tiles, g.c + g.oc, 1), let product = checkedProduct(g.c, g.oc, 1, 1),
              case let (threadValues, overflow) = blockValues.addingReportingOverflow(product), !overflow,
              let threadBytes = checkedProduct(threadValues, MemoryLayout<Float>.stride, 1, 1),
              let reserved = checkedProduct(threadBytes, Swift.max(1, ctx.threads), 1, 1),
              let partialBytes = checkedProduct(groups, positions, product, MemoryLayout<Float>.stride),
              case let (total, totalOverflow) = reserved.addingReportingOverflow(partialBytes), !totalOverflow else { return false }
        let tileGeometry = WinogradGeometry(h: g.h, w: g.w, c: g.c, oc: g.oc, oh: g.oh, ow: g.ow, padTop: g.padTop, padLeft: g.padLeft,
                                            window: g.kh)
        try ctx.withScratchReserved(total, "a Winograd filter gradient's tiles and partial sums") {
            SharedScratch.withScratch(bytes: partialBytes) { raw in
                let partials = raw.bindMemory(to: Float.self, capacity: groups * positions * product)
                let shared = ((px, pdy, partials, g, tileGeometry), (kernel, lastKernel, threadBytes, threadValues),
                              (positions, tiles, rowsPerBlock, tileRows, blocksPerImage, groupSize))
                ctx.parallelFor(groups, blockSize: 1, sharing: shared) { s, lo, hi in
                    let ((px, pdy, partials, g, tileGeometry), (kernel, lastKernel, threadBytes, threadValues),
                         (positions, tiles, rowsPerBlock, tileRows, blocksPerImage, groupSize)) = s
                    let (c, oc, size) = (g.c, g.oc, g.c * g.oc), tilesPerRow = (g.ow + 1) / 2
                    ThreadScratch.withScratch(bytes: threadBytes) { raw in
                        let v = raw.bindMemory(to: Float.self, capacity: threadValues)
                        let w = v + positions * tiles * c, product = w + positions * tiles * oc
                        for group in lo..<hi {
                            let sum = partials + group * positions * size, images = (group * groupSize)..<Swift.min(g.n, (group + 1) * groupSize)
                            for i in images {
                                for b in 0..<blocksPerImage {
                                    let firstRow = b * rowsPerBlock, count = (Swift.min(tileRows, firstRow + rowsPerBlock) - firstRow) * tilesPerRow
                                    VectorKernels.winogradInputTiles(tileGeometry, image: px + i * g.h * g.w * c, into: v, firstRow: firstRow, count: count)
                                    VectorKernels.winogradGradientTiles(tileGeometry, outBackprop: pdy + i * g.oh * g.ow * oc, into: w,
                                                                        firstRow: firstRow, count: count)
                                    let gemm = count == tiles ? kernel : lastKernel, first = i == images.lowerBound && b == 0
                                    for xi in 0..<positions {
                                        // The group's first block writes its sums; the others add theirs.
                                        let target = sum + xi * size
                                        soma_xsmm_gemm(gemm, w + xi * count * oc, v + xi * count * c, first ? target : product,
                                                       LIBXSMM.clearsUpperHalves)
                                        if !first { for j in 0..<size { target[j] += product[j] } }
                                    }
                                }
                            }
                        }
                    }
                }
                ctx.parallelFor(g.c, blockSize: Swift.max(1, 4096 / g.oc), sharing: (UnsafePointer(partials), po, groups, g.c, g.oc, g.kh)) { s, lo, hi in
                    filterGradient(fromProducts: s.0, groups: s.2, into: s.1, c: s.3, oc: s.4, window: s.5, channels: lo..<hi)
                }
            }
        }
        return true
    }

    /// `dG[ky][kx][channel][·] = (Gᵀ M G)[ky][kx]` for `channels` of a `[K, K, C, OC]` HWIO
    /// filter gradient `po` (`K` = `window`), where `M_ξ` is the sum, in group order, of the
    /// `groups` partial products `partials[group][ξ][channel][·]` (each `[S·S, C, OC]`).
    /// `G` as in ``transformFilter(_:into:c:oc:window:channels:)``. `OC` a multiple of four.
    static func filterGradient(fromProducts partials: UnsafePointer<Float>, groups: Int, into po: UnsafeMutablePointer<Float>,
                               c: Int, oc: Int, window: Int, channels: Range<Int>) {
        for channel in channels {
            var o = 0
            if window == 5 {
                while o + 16 <= oc { filterGradient5(SIMD16<Float>.self, partials, groups: groups, into: po, c: c, oc: oc, channel: channel, o); o += 16 }
                while o < oc { filterGradient5(SIMD4<Float>.self, partials, groups: groups, into: po, c: c, oc: oc, channel: channel, o); o += 4 }
            } else {
                while o + 16 <= oc { filterGradient3(SIMD16<Float>.self, partials, groups: groups, into: po, c: c, oc: oc, channel: channel, o); o += 16 }
                while o < oc { filterGradient3(SIMD4<Float>.self, partials, groups: groups, into: po, c: c, oc: oc, channel: channel, o); o += 4 }
            }
        }
    }

    /// `M[ξ][channel][o…]` summed over the groups' partials (`S·S` positions each), in order.
    @inline(__always)
    private static func groupSum<V: SIMD>(_: V.Type, _ partials: UnsafePointer<Float>, groups: Int, positions: Int, c: Int, oc: Int,
                                          _ xi: Int, _ channel: Int, _ o: Int) -> V where V.Scalar == Float {
        let p = partials + (xi * c + channel) * oc + o, stride = positions * c * oc
        var sum = load(V.self, p)
        for group in 1..<Swift.max(1, groups) { sum += load(V.self, p + group * stride) }
        return sum
    }

    @inline(__always)
    private static func filterGradient3<V: SIMD>(_: V.Type, _ partials: UnsafePointer<Float>, groups: Int, into po: UnsafeMutablePointer<Float>,
                                                 c: Int, oc: Int, channel: Int, _ o: Int) where V.Scalar == Float {
        @inline(__always) func m(_ a: Int, _ b: Int) -> V { groupSum(V.self, partials, groups: groups, positions: 16, c: c, oc: oc, a * 4 + b, channel, o) }
        // Rows: r_a = Gᵀ·M[a][·]; then each column kx: dG[·][kx] = Gᵀ·(r_0kx, …, r_3kx).
        let r0 = gradientTransform3(m(0, 0), m(0, 1), m(0, 2), m(0, 3)), r1 = gradientTransform3(m(1, 0), m(1, 1), m(1, 2), m(1, 3))
        let r2 = gradientTransform3(m(2, 0), m(2, 1), m(2, 2), m(2, 3)), r3 = gradientTransform3(m(3, 0), m(3, 1), m(3, 2), m(3, 3))
        @inline(__always) func column(_ kx: Int, _ a: V, _ b: V, _ d: V, _ e: V) {
            let x = gradientTransform3(a, b, d, e), base = po + (kx * c + channel) * oc + o, step = 3 * c * oc
            store(x.0, base); store(x.1, base + step); store(x.2, base + 2 * step)
        }
        column(0, r0.0, r1.0, r2.0, r3.0); column(1, r0.1, r1.1, r2.1, r3.1); column(2, r0.2, r1.2, r2.2, r3.2)
    }

    /// `Gᵀ·(m0, m1, m2, m3)` for 3×3: `(m0 + s, d, s + m3)` with `s = (m1 + m2)/2`, `d = (m1 − m2)/2`.
    @inline(__always)
    private static func gradientTransform3<V: SIMD>(_ m0: V, _ m1: V, _ m2: V, _ m3: V) -> (V, V, V) where V.Scalar == Float {
        let s = (m1 + m2) * 0.5, d = (m1 - m2) * 0.5
        return (m0 + s, d, s + m3)
    }

    @inline(__always)
    private static func filterGradient5<V: SIMD>(_: V.Type, _ partials: UnsafePointer<Float>, groups: Int, into po: UnsafeMutablePointer<Float>,
                                                 c: Int, oc: Int, channel: Int, _ o: Int) where V.Scalar == Float {
        @inline(__always) func m(_ a: Int, _ b: Int) -> V { groupSum(V.self, partials, groups: groups, positions: 36, c: c, oc: oc, a * 6 + b, channel, o) }
        @inline(__always) func row(_ a: Int) -> (V, V, V, V, V) { gradientTransform5(m(a, 0), m(a, 1), m(a, 2), m(a, 3), m(a, 4), m(a, 5)) }
        // Rows: r_a = Gᵀ·M[a][·]; then each column kx: dG[·][kx] = Gᵀ·(r_0kx, …, r_5kx).
        let r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3), r4 = row(4), r5 = row(5)
        @inline(__always) func column(_ kx: Int, _ a: V, _ b: V, _ d: V, _ e: V, _ f: V, _ h: V) {
            let x = gradientTransform5(a, b, d, e, f, h), base = po + (kx * c + channel) * oc + o, step = 5 * c * oc
            store(x.0, base); store(x.1, base + step); store(x.2, base + 2 * step); store(x.3, base + 3 * step); store(x.4, base + 4 * step)
        }
        column(0, r0.0, r1.0, r2.0, r3.0, r4.0, r5.0); column(1, r0.1, r1.1, r2.1, r3.1, r4.1, r5.1)
        column(2, r0.2, r1.2, r2.2, r3.2, r4.2, r5.2); column(3, r0.3, r1.3, r2.3, r3.3, r4.3, r5.3)
        column(4, r0.4, r1.4, r2.4, r3.4, r4.4, r5.4)
    }

    /// `Gᵀ·(m0, …, m5)` for 5×5: `(m0/4 + (p/4 − s)/6, (q/2 − d)/6, (p − s)/6, (2q − d)/6,
    /// (4p − s)/6 + m5)` with `s = m1 + m2`, `d = m1 − m2`, `p = m3 + m4`, `q = m3 − m4`.
    @inline(__always)
    private static func gradientTransform5<V: SIMD>(_ m0: V, _ m1: V, _ m2: V, _ m3: V, _ m4: V, _ m5: V) -> (V, V, V, V, V)
    where V.Scalar == Float {
        let s = m1 + m2, d = m1 - m2, p = m3 + m4, q = m3 - m4, sixth: Float = 1 / 6
        return (m0 * 0.25 + (p * 0.25 - s) * sixth, (q * 0.5 - d) * sixth, (p - s) * sixth, (q * 2 - d) * sixth, (p * 4 - s) * sixth + m5)
    }

    /// `U[ξ][channel][·] = (G g Gᵀ)_ξ` for `channels` of a `[K, K, C, OC]` HWIO filter `pf`
    /// (`K` = `window`, 3 or 5) for tiles of `tile × tile` outputs; `u` is `[S·S, C, OC]`
    /// (`[S, S, C, OC]`, `S = K + tile − 1`). For F(2×2, 3×3)
    /// `G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]]`, for F(4×4, 3×3)
    /// `G = [[¼, 0, 0], −⅙·[1, 1, 1], −⅙·[1, −1, 1], ⅙·[¼, ½, 1], ⅙·[¼, −½, 1], [0, 0, 1]]`, for F(2×2, 5×5)
    /// `G = [[¼, 0, 0, 0, 0], −⅙·[1, 1, 1, 1, 1], −⅙·[1, −1, 1, −1, 1], ¹⁄₂₄·[1, 2, 4, 8, 16],
    /// ¹⁄₂₄·[1, −2, 4, −8, 16], [0, 0, 0, 0, 1]]`. `OC` a multiple of four (``fitsWinograd(_:)``).
    static func transformFilter(_ pf: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>, c: Int, oc: Int, window: Int, tile: Int,
                                channels: Range<Int>) {
        for channel in channels {
            if window == 5 { transformFilter5(pf, into: u, c: c, oc: oc, channel: channel) } else if tile == 4 {
                transformFilter4(pf, into: u, c: c, oc: oc, channel: channel)
            } else {
                transformFilter(pf, into: u, c: c, oc: oc, channel: channel)
            }
        }
    }

    private static func transformFilter4(_ pf: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>, c: Int, oc: Int, channel: Int) {
        @inline(__always) func run<V: SIMD>(_: V.Type, _ o: Int) where V.Scalar == Float {
            @inline(__always) func tap(_ ky: Int, _ kx: Int) -> V { load(V.self, pf + ((ky * 3 + kx) * c + channel) * oc + o) }
            // Rows: r_ky = G·g[ky][·]; then each column j of the rows: U[·][j] = G·(r_0j, r_1j, r_2j).
            let r0 = filterTransform4(tap(0, 0), tap(0, 1), tap(0, 2)), r1 = filterTransform4(tap(1, 0), tap(1, 1), tap(1, 2))
            let r2 = filterTransform4(tap(2, 0), tap(2, 1), tap(2, 2))
            @inline(__always) func column(_ j: Int, _ a: V, _ b: V, _ d: V) {
                let x = filterTransform4(a, b, d), base = u + (j * c + channel) * oc + o, step = 6 * c * oc
                store(x.0, base); store(x.1, base + step); store(x.2, base + 2 * step)
                store(x.3, base + 3 * step); store(x.4, base + 4 * step); store(x.5, base + 5 * step)
            }
            column(0, r0.0, r1.0, r2.0); column(1, r0.1, r1.1, r2.1); column(2, r0.2, r1.2, r2.2)
            column(3, r0.3, r1.3, r2.3); column(4, r0.4, r1.4, r2.4); column(5, r0.5, r1.5, r2.5)
        }
        var o = 0
        while o + 16 <= oc { run(SIMD16<Float>.self, o); o += 16 }
        while o < oc { run(SIMD4<Float>.self, o); o += 4 }
    }

    /// `G·(g0, g1, g2)` for F(4×4, 3×3): `(g0/4, −(e + g1)/6, −(e − g1)/6, (p + q)/6, (p − q)/6, g2)`
    /// with `e = g0 + g2`, `p = g0/4 + g2`, `q = g1/2`.
    @inline(__always)
    private static func filterTransform4<V: SIMD>(_ g0: V, _ g1: V, _ g2: V) -> (V, V, V, V, V, V) where V.Scalar == Float {
        let even = g0 + g2, p = g0 * 0.25 + g2, q = g1 * 0.5, sixth: Float = 1 / 6
        return (g0 * 0.25, (even + g1) * -sixth, (even - g1) * -sixth, (p + q) * sixth, (p - q) * sixth, g2)
    }

    private static func transformFilter(_ pf: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>, c: Int, oc: Int, channel: Int) {
        @inline(__always) func run<V: SIMD>(_: V.Type, _ o: Int) where V.Scalar == Float {
            @inline(__always) func tap(_ ky: Int, _ kx: Int) -> V { load(V.self, pf + ((ky * 3 + kx) * c + channel) * oc + o) }
            // Rows: r_ky = G·g[ky][·]; then each column j of the rows: U[·][j] = G·(r_0j, r_1j, r_2j).
            let r0 = filterTransform1D(tap(0, 0), tap(0, 1), tap(0, 2)), r1 = filterTransform1D(tap(1, 0), tap(1, 1), tap(1, 2))
            let r2 = filterTransform1D(tap(2, 0), tap(2, 1), tap(2, 2))
            @inline(__always) func column(_ j: Int, _ a: V, _ b: V, _ d: V) {
                let x = filterTransform1D(a, b, d), base = u + (j * c + channel) * oc + o, step = 4 * c * oc
                store(x.0, base); store(x.1, base + step); store(x.2, base + 2 * step); store(x.3, base + 3 * step)
            }
            column(0, r0.0, r1.0, r2.0); column(1, r0.1, r1.1, r2.1); column(2, r0.2, r1.2, r2.2); column(3, r0.3, r1.3, r2.3)
        }
        var o = 0
        while o + 16 <= oc { run(SIMD16<Float>.self, o); o += 16 }
        while o < oc { run(SIMD4<Float>.self, o); o += 4 }
    }

    /// `G·(g0, g1, g2)`: `(g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2)`.
    @inline(__always)
    private static func filterTransform1D<V: SIMD>(_ g0: V, _ g1: V, _ g2: V) -> (V, V, V, V) where V.Scalar == Float {
        let outer = g0 + g2
        return (g0, (outer + g1) * 0.5, (outer - g1) * 0.5, g2)
    }

    private static func transformFilter5(_ pf: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>, c: Int, oc: Int, channel: Int) {
        @inline(__always) func run<V: SIMD>(_: V.Type, _ o: Int) where V.Scalar == Float {
            @inline(__always) func tap(_ ky: Int, _ kx: Int) -> V { load(V.self, pf + ((ky * 5 + kx) * c + channel) * oc + o) }
            @inline(__always) func row(_ ky: Int) -> (V, V, V, V, V, V) {
                filterTransform6(tap(ky, 0), tap(ky, 1), tap(ky, 2), tap(ky, 3), tap(ky, 4))
            }
            // Rows: r_ky = G·g[ky][·]; then each column j of the rows: U[·][j] = G·(r_0j, …, r_4j).
            let r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3), r4 = row(4)
            @inline(__always) func column(_ j: Int, _ a: V, _ b: V, _ d: V, _ e: V, _ f: V) {
                let x = filterTransform6(a, b, d, e, f), base = u + (j * c + channel) * oc + o, step = 6 * c * oc
                store(x.0, base); store(x.1, base + step); store(x.2, base + 2 * step)
                store(x.3, base + 3 * step); store(x.4, base + 4 * step); store(x.5, base + 5 * step)
            }
            column(0, r0.0, r1.0, r2.0, r3.0, r4.0); column(1, r0.1, r1.1, r2.1, r3.1, r4.1)
            column(2, r0.2, r1.2, r2.2, r3.2, r4.2); column(3, r0.3, r1.3, r2.3, r3.3, r4.3)
            column(4, r0.4, r1.4, r2.4, r3.4, r4.4); column(5, r0.5, r1.5, r2.5, r3.5, r4.5)
        }
        var o = 0
        while o + 16 <= oc { run(SIMD16<Float>.self, o); o += 16 }
        while o < oc { run(SIMD4<Float>.self, o); o += 4 }
    }

    /// `G·(g0, …, g4)` for 5×5: `(g0/4, −(e + d)/6, −(e − d)/6, (p + q)/24, (p − q)/24, g4)` with
    /// `e = g0 + g2 + g4`, `d = g1 + g3`, `p = g0 + 4g2 + 16g4`, `q = 2g1 + 8g3`.
    @inline(__always)
    private static func filterTransform6<V: SIMD>(_ g0: V, _ g1: V, _ g2: V, _ g3: V, _ g4: V) -> (V, V, V, V, V, V)
    where V.Scalar == Float {
        let even = (g0 + g2) + g4, odd = g1 + g3, p = (g0 + g2 * 4) + g4 * 16, q = g1 * 2 + g3 * 8
        let sixth: Float = -1 / 6, twentyFourth: Float = 1 / 24
        return (g0 * 0.25, (even + odd) * sixth, (even - odd) * sixth, (p + q) * twentyFourth, (p - q) * twentyFourth, g4)
    }

    @inline(__always)
    private static func load<V: SIMD>(_: V.Type, _ p: UnsafePointer<Float>) -> V where V.Scalar == Float {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    @inline(__always)
    private static func store<V: SIMD>(_ value: V, _ p: UnsafeMutablePointer<Float>) where V.Scalar == Float {
        UnsafeMutableRawPointer(p).storeBytes(of: value, as: V.self)
    }
}
