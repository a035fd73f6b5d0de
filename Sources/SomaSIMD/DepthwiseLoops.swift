/// The fields of a depthwise convolution's geometry the row loops read (NHWC input
/// `[H, W, C]`, filter `[KH, KW, C, 1]`, output `[OH, OW, C]`, strides, dilations, the
/// padding before the first row and column).
public struct DepthwiseGeometry: Sendable {
    public let h, w, c, kh, kw, oh, ow, sh, sw, dh, dw, padTop, padLeft: Int

    public init(h: Int, w: Int, c: Int, kh: Int, kw: Int, oh: Int, ow: Int, sh: Int, sw: Int, dh: Int, dw: Int, padTop: Int,
                padLeft: Int) {
        (self.h, self.w, self.c, self.kh, self.kw, self.oh, self.ow) = (h, w, c, kh, kw, oh, ow)
        (self.sh, self.sw, self.dh, self.dw, self.padTop, self.padLeft) = (sh, sw, dh, dw, padTop, padLeft)
    }
}

/// Depthwise convolution rows (multiplier 1): float32 through the per-CPU builds, float64
/// in Soma itself; the same code, so both keep the order of their sums.
extension VectorLoops {
    // A channel multiplier of 1 (MobileNet's, EfficientNet's, Xception's) keeps each output
    // vector in registers across all its taps: 8 channels at a time, then one at a time.

    /// One output row of a depthwise convolution with multiplier 1: every output vector is
    /// summed over its valid taps in (ky, kx) order, then stored once.
    @inlinable @inline(__always)
    public static func depthwiseForwardRow<T: BinaryFloatingPoint & SIMDScalar>(
        _ g: DepthwiseGeometry, input: UnsafePointer<T>, filter: UnsafePointer<T>, output: UnsafeMutablePointer<T>, row oy: Int
    ) {
        let c = g.c, top = oy * g.sh - g.padTop
        let rows = taps(start: top, dilation: g.dh, kernel: g.kh, size: g.h)
        // Interior columns, whose every tap lies inside the image, run four at a time.
        let interiorStart = Swift.min((g.padLeft + g.sw - 1) / g.sw, g.ow)
        let interiorEnd = Swift.max(interiorStart, Swift.min(g.ow, (g.w - 1 - (g.kw - 1) * g.dw + g.padLeft) / g.sw + 1))
        var ox = 0
        while ox < g.ow {
            guard ox >= interiorStart && ox + 4 <= interiorEnd && c >= 8 else {
                depthwiseForwardColumn(g, input: input, filter: filter, output: output, top: top, rows: rows, column: ox)
                ox += 1
                continue
            }
            var k = 0
            // Sixteen channels at a time (one AVX-512 register), then eight: each lane sums
            // its taps in the same order whatever the width.
            while k + 16 <= c {
                depthwiseInteriorBlock(SIMD16<T>.self, g, input: input, filter: filter, output: output, top: top, rows: rows, column: ox,
                                       channel: k)
                k += 16
            }
            while k + 8 <= c {
                depthwiseInteriorBlock(SIMD8<T>.self, g, input: input, filter: filter, output: output, top: top, rows: rows, column: ox,
                                       channel: k)
                k += 8
            }
            for column in 0..<4 where k < c {
                depthwiseForwardColumn(g, input: input, filter: filter, output: output, top: top, rows: rows, column: ox + column, from: k)
            }
            ox += 4
        }
    }

    /// One float32 output row of a depthwise convolution with multiplier 1, then the fused
    /// epilogue `F(row + bias)` (no `bias`: `F(row)`) in a pass over the row: the geometries
    /// neither ``takesThreeWideRow(_:)`` nor ``takesAnyWindowRow(_:)``.
    @inlinable @inline(__always)
    public static func depthwiseForwardRowThenEpilogue<F: VectorUnary>(
        _: F.Type, _ g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        row oy: Int, bias: UnsafePointer<Float>?
    ) {
        depthwiseForwardRow(g, input: input, filter: filter, output: output, row: oy)
        if let bias { biasActivation(F.self, output, rows: g.ow, n: g.c, bias) }
        else if F.self != VectorFunctions.Identity.self { map(F.self, output, output, count: g.ow &* g.c) }
    }

    /// One float32 output row of a three-wide depthwise convolution with multiplier 1 (`g`
    /// where ``takesThreeWideRow(_:)``), with the fused epilogue `F(sum + bias)` applied in
    /// registers (no `bias`: `F(sum)`).
    ///
    /// MobileNet's and EfficientNet's 3×3 layers: interior columns of rows whose three rows
    /// of taps lie inside the image take
    /// ``depthwise3Interior(_:_:input:filter:output:top:columns:channel:bias:)``, channel block
    /// by channel block along the row (at stride 2 two blocks at a time,
    /// ``depthwise3Stride2Interior32(_:_:input:filter:output:top:columns:channel:bias:)``; at
    /// stride 1 the run's last one to three columns and, with one column of padding on either
    /// side, its two edge columns from the same filter vectors,
    /// ``depthwise3Margins(_:_:input:filter:output:top:columns:edges:channel:bias:)``);
    /// those of the first and last rows
    /// ``depthwise3Block(_:_:input:filter:output:top:rows:column:channel:bias:)`` (stride 1)
    /// or ``depthwise3Stride2Block(_:_:input:filter:output:top:rows:column:channel:bias:)``:
    /// sixteen channels at a time, four output columns sharing the input vectors their
    /// windows overlap on (an interior that is not a multiple of four ends with the four
    /// columns that end it); other edge columns
    /// ``depthwiseColumn64(_:_:input:filter:output:top:rows:column:channel:bias:)``, four
    /// channel blocks at a time (under four, all of them at once). Other geometries have loops
    /// of their own, each called from an entry of its own (the optimiser inlines one such loop into a caller, not two):
    /// ``depthwiseForwardRowAnyWindow(_:_:input:filter:output:row:bias:)`` and
    /// ``depthwiseForwardRowThenEpilogue(_:_:input:filter:output:row:bias:)``. Every way each
    /// output lane adds its taps in (ky, kx) order from zero, then the bias, then `F` — the
    /// bits of the unfused ops. With `runDone` the row leaves its interior run's channel
    /// blocks to ``depthwise3ChannelBands(_:_:input:filter:output:rows:bias:)``, which has run
    /// them.
    @inlinable @inline(__always)
    public static func depthwiseForwardRowThreeWide<F: VectorUnary>(
        _: F.Type, _ g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        row oy: Int, bias: UnsafePointer<Float>?, runDone: Bool = false
    ) {
        let c = g.c, top = oy &* g.sh &- g.padTop
        let rows = taps(start: top, dilation: g.dh, kernel: g.kh, size: g.h)
        // Interior columns (every tap inside the image) run four at a time.
        let interior = threeWideInterior(g), interiorStart = interior.lowerBound, interiorEnd = interior.upperBound
        let blocks = c / 16, rest = blocks &* 16
        // A 3×3 window whose three rows of taps lie inside the image: each channel block runs
        // along the row's interior with its nine filter vectors in registers.
        let alongRow = g.kh == 3 && rows == 0..<3 && interiorEnd &- interiorStart >= 4
        // At stride 1 with one column of padding on either side (SAME), the run takes the two
        // edge columns too, each window less its outside tap, with the filter vectors it holds.
        let edges = alongRow && g.sw == 1 && g.padLeft == 1 && g.ow == g.w && interiorStart == 1 && interiorEnd == g.ow &- 1
        let run = edges ? 0..<g.ow : interiorStart..<interiorEnd
        var ox = 0
        while ox < g.ow {
            if alongRow && ox == run.lowerBound {
                // At stride 2, channel blocks in pairs (the last one of an odd count alone);
                // with `runDone` the channel bands have run them.
                let pairs = g.sw == 2 && !runDone ? blocks / 2 : 0
                for pair in 0..<pairs {
                    depthwise3Stride2Interior32(F.self, g, input: input, filter: filter, output: output, top: top, columns: ox..<interiorEnd,
                                                channel: pair &* 32, bias: bias)
                }
                let groups = g.sw == 1 ? interiorStart..<(interiorEnd &- (interiorEnd &- interiorStart) & 3) : interiorStart..<interiorEnd
                for block in (runDone ? blocks : 2 &* pairs)..<blocks {
                    depthwise3Interior(F.self, g, input: input, filter: filter, output: output, top: top,
                                       columns: groups, channel: block &* 16, bias: bias)
                    if g.sw == 1 {
                        depthwise3Margins(F.self, g, input: input, filter: filter, output: output, top: top,
                                          columns: interiorStart..<interiorEnd, edges: edges, channel: block &* 16, bias: bias)
                    }
                }
                if rest < c {
                    for column in run {
                        depthwiseForwardColumn(g, input: input, filter: filter, output: output, top: top, rows: rows, column: column, from: rest)
                        let out = output + column &* c
                        if let bias { for j in rest..<c { out[j] = F.scalar(out[j] + bias[j]) } }
                        else { for j in rest..<c { out[j] = F.scalar(out[j]) } }
                    }
                }
                ox = run.upperBound
                continue
            }
            // Four interior columns at a time; the last one to three take the four that end
            // the interior (computing some columns again, bits unchanged) where each took an
            // edge column's way (a 24-wide row: columns 21 and 22).
            let (group, count) = interiorGroup(column: ox, interior: interiorStart..<interiorEnd)
            if count == 1 {
                // Every channel block of an edge column (or of too few interior columns for a
                // group), the epilogue in registers: four blocks at a time (four independent
                // sums where one block's sum waited on each addition: 14²×384 0.026 → 0.022 ms,
                // 28²×192 at stride 2 0.0178 → 0.0156–0.0162), the last one to three blocks as
                // the last four, computing some again, bits unchanged; under four blocks all
                // at once (48 channels took three sums one after another, then two blocks
                // twice with one again: α 0.35's 24²×48 0.0088 → 0.0084 ms). Written out here:
                // the optimiser left a function holding it outside its callers, shared by the
                // per-CPU builds.
                var first = 0
                while first < blocks {
                    let width = blocks >= 4 ? 4 : blocks, k = Swift.min(first, blocks &- width) &* 16
                    if width == 4 {
                        depthwiseColumn64(F.self, g, input: input, filter: filter, output: output, top: top, rows: rows, column: ox,
                                          channel: k, bias: bias)
                    } else if width == 3 {
                        depthwiseColumn48(F.self, g, input: input, filter: filter, output: output, top: top, rows: rows, column: ox,
                                          channel: k, bias: bias)
                    } else if width == 2 {
                        depthwiseColumn32(F.self, g, input: input, filter: filter, output: output, top: top, rows: rows, column: ox,
                                          channel: k, bias: bias)
                    } else {
                        depthwiseColumn16(F.self, g, input: input, filter: filter, output: output, top: top, rows: rows, column: ox,
                                          channel: k, bias: bias)
                    }
                    first &+= width
                }
            } else {
                for block in 0..<blocks {
                    let k = block &* 16
                    if g.sw == 1 {
                        depthwise3Block(F.self, g, input: input, filter: filter, output: output, top: top, rows: rows, column: group,
                                        channel: k, bias: bias)
                    } else {
                        depthwise3Stride2Block(F.self, g, input: input, filter: filter, output: output, top: top, rows: rows, column: group,
                                               channel: k, bias: bias)
                    }
                }
            }
            if rest < c {
                for column in ox..<(ox &+ count) {
                    depthwiseForwardColumn(g, input: input, filter: filter, output: output, top: top, rows: rows, column: column, from: rest)
                    let out = output + column &* c
                    if let bias { for j in rest..<c { out[j] = F.scalar(out[j] + bias[j]) } }
                    else { for j in rest..<c { out[j] = F.scalar(out[j]) } }
                }
            }
            ox &+= count
        }
    }

    /// Whether a block of three-wide rows (``takesThreeWideRow(_:)``, a 3×3 window) runs its
    /// interiors band by band of channels
    /// (``depthwise3ChannelBands(_:_:input:filter:output:rows:bias:)``): at stride 2, where
    /// the three input rows a row of windows reads exceed the level-1 data cache (32 KiB
    /// here) while two channel blocks' share of them fits in 24 KiB.
    ///
    /// Single ops, one thread, the least of ten medians in alternating processes, µs:
    /// MobileNetV2's 56²×144 at stride 2 39.1 → 34.0, 28²×192 12.6 → 10.8, 14²×576
    /// 10.2 → 9.8, EfficientNetB0's 32²×96 (at 64²) 7.8 → 6.9, 64²×96 32.9 → 28.8; a
    /// microbenchmark of the interior loop alone agreed (32²×96 4.25 → 3.7 ns a vector, 64²×96
    /// 5.2 → 4.6). Wider rows, whose two blocks' band does not fit either, lost (112²×96 in
    /// the microbenchmark 5.3 → 5.8; tiles of 14 to 56 columns won 0–7 %, in the noise). At
    /// stride 1, where each block's run reuses two of its three input rows from the row
    /// before, the microbenchmark's 5–10 % did not survive the margins and edges: 14²×384
    /// 17.2 → 18.0, 56²×144 90.8 → 90.9.
    @inlinable @inline(__always)
    public static func takesChannelBands(_ g: DepthwiseGeometry) -> Bool {
        let threeRows = 3 &* g.w &* MemoryLayout<Float>.size
        return takesThreeWideRow(g) && g.kh == 3 && g.sw == 2 && g.c >= 64 && threeRows &* g.c > 32_768 && threeRows &* 32 <= 24_576
    }

    /// The runs along the interiors of stride-2 rows `rows` (`output` at the first one's
    /// start; rows whose three rows of taps lie inside the image, four interior columns or
    /// more), two channel blocks at a time down the rows
    /// (``depthwise3Stride2Interior32(_:_:input:filter:output:top:columns:channel:bias:)``, an
    /// odd last block alone): the band's input rows are still in the level-1 cache when the
    /// next output row reads them, where a row's other channels had evicted them. What else
    /// the rows hold — edge rows and columns, a channel remainder — is left to
    /// ``depthwiseForwardRowThreeWide(_:_:input:filter:output:row:bias:runDone:)`` with
    /// `runDone`. Every output vector sums as it does row by row, so the bits are the same.
    @inlinable @inline(__always)
    public static func depthwise3ChannelBands<F: VectorUnary>(
        _: F.Type, _ g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        rows: Range<Int>, bias: UnsafePointer<Float>?
    ) {
        let interior = threeWideInterior(g), blocks = g.c / 16
        guard interior.count >= 4 else { return }
        var first = 0
        while first < blocks {
            var out = output
            for oy in rows {
                let top = oy &* g.sh &- g.padTop
                if taps(start: top, dilation: g.dh, kernel: 3, size: g.h) == 0..<3 {
                    if first &+ 2 <= blocks {
                        depthwise3Stride2Interior32(F.self, g, input: input, filter: filter, output: out, top: top, columns: interior,
                                                    channel: first &* 16, bias: bias)
                    } else {
                        depthwise3Interior(F.self, g, input: input, filter: filter, output: out, top: top, columns: interior,
                                           channel: first &* 16, bias: bias)
                    }
                }
                out += g.ow &* g.c
            }
            first &+= 2
        }
    }

    /// The output columns of a three-wide row whose window lies inside the image
    /// (`ox·sw − padLeft ≥ 0` and `ox·sw − padLeft + 2 < w`).
    @inlinable @inline(__always)
    static func threeWideInterior(_ g: DepthwiseGeometry) -> Range<Int> {
        let start = Swift.min((g.padLeft &+ g.sw &- 1) / g.sw, g.ow)
        return start..<Swift.max(start, Swift.min(g.ow, (g.w &- 3 &+ g.padLeft) / g.sw &+ 1))
    }

    /// Whether ``depthwise3FewColumns(_:_:input:filter:output:rows:bias:)`` runs `g`'s rows: a
    /// 3×3 window, undilated, that ``takesThreeWideRow(_:)`` takes, on rows with fewer than
    /// four interior columns — a small image's (MobileNetV2 α 0.35's 6²×192 at stride 2 and
    /// 3²×336, EfficientNetB0's 8²×240 at stride 2 and 4²×480 at 64²), where every column
    /// took the edge columns' way, loading a filter vector for each product — and at least
    /// nine output positions: over fewer, each channel block's set-up (its nine filter
    /// vectors for four positions of four taps each at 2²×1152) cost more than the filter
    /// loads it saves (single ops, one thread, 2.38 → 2.64 µs).
    @inlinable @inline(__always)
    public static func takesFewColumnsRows(_ g: DepthwiseGeometry) -> Bool {
        takesThreeWideRow(g) && g.kh == 3 && g.dh == 1 && g.oh &* g.ow >= 9 && threeWideInterior(g).count < 4
    }

    /// Output rows `rows` (`output`: the first of them) for the geometries
    /// ``takesFewColumnsRows(_:)`` accepts: sixteen channels at a time, the block's nine filter
    /// vectors in registers across every position of the rows, each position summing the taps
    /// inside the image in (ky, kx) order from zero, then the bias, then `F` — the bits of the
    /// edge columns' loops (``depthwiseColumn64(_:_:input:filter:output:top:rows:column:channel:bias:)``
    /// and its narrower twins), which load a filter vector beside each input vector. One sum
    /// per position: consecutive positions' sums are independent, and the processor overlaps
    /// them. A remainder under sixteen channels goes the edge columns' way.
    @inlinable @inline(__always)
    public static func depthwise3FewColumns<F: VectorUnary>(
        _: F.Type, _ g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        rows: Range<Int>, bias: UnsafePointer<Float>?
    ) {
        let c = g.c, blocks = c / 16, rest = blocks &* 16, rowStride = g.w &* c, load = load16
        for block in 0..<blocks {
            let k = block &* 16, taps = filter + k
            let f00 = load(taps), f01 = load(taps + c), f02 = load(taps + 2 &* c)
            let f10 = load(taps + 3 &* c), f11 = load(taps + 4 &* c), f12 = load(taps + 5 &* c)
            let f20 = load(taps + 6 &* c), f21 = load(taps + 7 &* c), f22 = load(taps + 8 &* c)
            let b = bias.map { load($0 + k) }
            var out = output + k
            for oy in rows {
                let top = oy &* g.sh &- g.padTop
                let r0 = top >= 0 && top < g.h, r1 = top >= -1 && top &+ 1 < g.h, r2 = top >= -2 && top &+ 2 < g.h
                for ox in 0..<g.ow {
                    let left = ox &* g.sw &- g.padLeft
                    let c0 = left >= 0 && left < g.w, c1 = left >= -1 && left &+ 1 < g.w, c2 = left >= -2 && left &+ 2 < g.w
                    // The window's first tap, which may lie outside the image: only taps inside are read.
                    var p = input + ((top &* g.w &+ left) &* c &+ k)
                    var s = SIMD16<Float>()
                    if r0 {
                        if c0 { s += load(p) * f00 }
                        if c1 { s += load(p + c) * f01 }
                        if c2 { s += load(p + 2 &* c) * f02 }
                    }
                    p += rowStride
                    if r1 {
                        if c0 { s += load(p) * f10 }
                        if c1 { s += load(p + c) * f11 }
                        if c2 { s += load(p + 2 &* c) * f12 }
                    }
                    p += rowStride
                    if r2 {
                        if c0 { s += load(p) * f20 }
                        if c1 { s += load(p + c) * f21 }
                        if c2 { s += load(p + 2 &* c) * f22 }
                    }
                    if let b { s += b }
                    store16(F.vector(s), out)
                    out += c
                }
            }
        }
        guard rest < c else { return }
        var out = output
        for oy in rows {
            let top = oy &* g.sh &- g.padTop, window = taps(start: top, dilation: 1, kernel: 3, size: g.h)
            for ox in 0..<g.ow {
                depthwiseForwardColumn(g, input: input, filter: filter, output: out, top: top, rows: window, column: ox, from: rest)
                let o = out + ox &* c
                if let bias { for j in rest..<c { o[j] = F.scalar(o[j] + bias[j]) } } else { for j in rest..<c { o[j] = F.scalar(o[j]) } }
            }
            out += g.ow &* c
        }
    }

    /// Where the four-column group that computes output column `column` starts, and how many
    /// columns from `column` it leaves done: four from `column` inside `interior`, the last
    /// four of `interior` for its last one to three columns, and `(column, 1)` outside it or
    /// where it holds fewer than four (an edge column's way).
    @inlinable @inline(__always)
    static func interiorGroup(column ox: Int, interior: Range<Int>) -> (start: Int, count: Int) {
        guard interior.contains(ox) && interior.count >= 4 else { return (ox, 1) }
        return ox &+ 4 <= interior.upperBound ? (ox, 4) : (interior.upperBound &- 4, interior.upperBound &- ox)
    }

    /// Sixteen channels from `channel` of the interior output columns `columns` (at least
    /// four; four at a time) of a 3×3 window whose three rows of taps all lie inside
    /// the image, strides of 1 or 2 along the row: the nine filter vectors are loaded once for the run,
    /// so each group of four columns loads only its input vectors (six per row of taps at
    /// stride 1, nine at stride 2). Each lane adds its taps in (ky, kx) order from zero, as
    /// ``depthwise3Block(_:_:input:filter:output:top:rows:column:channel:bias:)`` does.
    /// At stride 2 the last group ends at the run's end, computing again up to three columns
    /// (bits unchanged); at stride 1 the last one to three columns are left to
    /// ``depthwise3Margins(_:_:input:filter:output:top:columns:edges:channel:bias:)``.
    /// Measured against four columns at a time across the channel blocks (one thread, bias
    /// and ReLU6, ms): 112²×96 at stride 2 0.143–0.150 → 0.130–0.132, 56²×144 0.143–0.149 →
    /// 0.138–0.145. The rows of taps run as a loop over a pointer that moves down the image,
    /// the groups over pointers that move along it: written out as three calls on offsets
    /// from each group's start, the compiler loaded all of a group's inputs first and kept
    /// products and filter vectors on the stack (a kernel alone, in cache, one thread: 16
    /// channels at stride 2 52 → 67–70 GFLOP/s, 48 at stride 1 90 → 97).
    @inlinable @inline(__always)
    static func depthwise3Interior<F: VectorUnary>(
        _: F.Type, _ g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        top: Int, columns: Range<Int>, channel k: Int, bias: UnsafePointer<Float>?
    ) {
        let c = g.c, load = load16, taps = filter + k
        let f00 = load(taps), f01 = load(taps + c), f02 = load(taps + 2 &* c)
        let f10 = load(taps + 3 &* c), f11 = load(taps + 4 &* c), f12 = load(taps + 5 &* c)
        let f20 = load(taps + 6 &* c), f21 = load(taps + 7 &* c), f22 = load(taps + 8 &* c)
        let rowStride = g.dh &* g.w &* c, b = bias.map { $0 + k }
        var line = input + ((top &* g.w &+ columns.lowerBound &* g.sw &- g.padLeft) &* c &+ k)
        var out = output + (columns.lowerBound &* c &+ k)
        var left = columns.count
        if g.sw == 1 {
            while left > 0 {
                if left < 4 { (line, out, left) = (line - (4 &- left) &* c, out - (4 &- left) &* c, 4) }
                var s0 = SIMD16<Float>(), s1 = SIMD16<Float>(), s2 = SIMD16<Float>(), s3 = SIMD16<Float>()
                var row = line
                for ky in 0..<3 {
                    let (f0, f1, f2) = ky == 0 ? (f00, f01, f02) : ky == 1 ? (f10, f11, f12) : (f20, f21, f22)
                    threeWideStride1(row, c, f0, f1, f2, &s0, &s1, &s2, &s3)
                    row += rowStride
                }
                storeFourColumns(F.self, s0, s1, s2, s3, to: out, columnStride: c, bias: b)
                line += 4 &* c
                out += 4 &* c
                left &-= 4
            }
        } else {
            while left > 0 {
                if left < 4 { (line, out, left) = (line - (4 &- left) &* 2 &* c, out - (4 &- left) &* c, 4) }
                var s0 = SIMD16<Float>(), s1 = SIMD16<Float>(), s2 = SIMD16<Float>(), s3 = SIMD16<Float>()
                var row = line
                for ky in 0..<3 {
                    let (f0, f1, f2) = ky == 0 ? (f00, f01, f02) : ky == 1 ? (f10, f11, f12) : (f20, f21, f22)
                    threeWideStride2(row, c, f0, f1, f2, &s0, &s1, &s2, &s3)
                    row += rowStride
                }
                storeFourColumns(F.self, s0, s1, s2, s3, to: out, columnStride: c, bias: b)
                line += 8 &* c
                out += 4 &* c
                left &-= 4
            }
        }
    }

    /// Sixteen channels from `channel` of the output columns a stride-1 run of
    /// ``depthwise3Interior(_:_:input:filter:output:top:columns:channel:bias:)`` over `columns`
    /// leaves: its last `columns.count % 4`, and with `edges` (one column of padding on
    /// either side) the columns just before and after `columns`, whose windows lose their
    /// outside taps. Each window sums in (ky, kx) order from zero, as the other loops do.
    ///
    /// These columns took the edge columns' way, loading a filter vector for every product
    /// (``depthwiseColumn48(_:_:input:filter:output:top:rows:column:channel:bias:)``), and a
    /// last group of four ending the run (a 22-column interior computed 24). As single ops,
    /// one thread, medians of five in alternating processes: α 0.35's 24²×48 0.0083 → 0.0076
    /// ms, 56²×144 0.1027 → 0.0964, 14²×384 0.0185 → 0.0174.
    ///
    /// Written out, without loops over the taps or local functions, and apart from the
    /// interior: a function of more than 64 blocks is not inlined into a large caller
    /// whatever its attribute, nor were local functions capturing `F` specialised — either
    /// left the row a call to generic code (56²×144 0.10 → 0.12–0.15 ms). And the interior's
    /// groups end at a multiple of four by the columns they are given: its loop ending there
    /// itself (`while left >= 4`) changed how the compiler addressed the loads (130
    /// instructions where 112) and cost 56²×144 6 %.
    @inlinable @inline(__always)
    static func depthwise3Margins<F: VectorUnary>(
        _: F.Type, _ g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        top: Int, columns: Range<Int>, edges: Bool, channel k: Int, bias: UnsafePointer<Float>?
    ) {
        let tail = columns.count & 3
        guard edges || tail > 0 else { return }
        let c = g.c, load = load16, taps = filter + k, r = g.dh &* g.w &* c
        let f00 = load(taps), f01 = load(taps + c), f02 = load(taps + 2 &* c)
        let f10 = load(taps + 3 &* c), f11 = load(taps + 4 &* c), f12 = load(taps + 5 &* c)
        let f20 = load(taps + 6 &* c), f21 = load(taps + 7 &* c), f22 = load(taps + 8 &* c)
        // A zero bias leaves a sum's bits: a sum from +0 is never −0.
        let b = bias.map { load($0 + k) } ?? SIMD16<Float>()
        // Output column `column`'s window starts at input column `column − padLeft`.
        let line = (top &* g.w &- g.padLeft) &* c &+ k, out = output + k
        var column = columns.upperBound &- tail
        while column < columns.upperBound {
            let p = input + (line &+ column &* c)
            var s = SIMD16<Float>()
            s += load(p) * f00; s += load(p + c) * f01; s += load(p + 2 &* c) * f02
            s += load(p + r) * f10; s += load(p + (r &+ c)) * f11; s += load(p + (r &+ 2 &* c)) * f12
            s += load(p + 2 &* r) * f20; s += load(p + (2 &* r &+ c)) * f21; s += load(p + (2 &* r &+ 2 &* c)) * f22
            store16(F.vector(s + b), out + column &* c)
            column &+= 1
        }
        if edges {
            // Before the run: the window's last two taps of each row, on the image's first two columns.
            let p = input + (line &+ columns.lowerBound &* c)
            var s = SIMD16<Float>()
            s += load(p) * f01; s += load(p + c) * f02
            s += load(p + r) * f11; s += load(p + (r &+ c)) * f12
            s += load(p + 2 &* r) * f21; s += load(p + (2 &* r &+ c)) * f22
            store16(F.vector(s + b), out + (columns.lowerBound &- 1) &* c)
            // After the run: the first two taps, on the image's last two columns.
            let q = input + (line &+ columns.upperBound &* c)
            var t = SIMD16<Float>()
            t += load(q) * f00; t += load(q + c) * f01
            t += load(q + r) * f10; t += load(q + (r &+ c)) * f11
            t += load(q + 2 &* r) * f20; t += load(q + (2 &* r &+ c)) * f21
            store16(F.vector(t + b), out + columns.upperBound &* c)
        }
    }

    /// Thirty-two channels from `channel` (two blocks of sixteen) of the interior output
    /// columns `columns` (at least two; two at a time, the last pair ending at the run's end
    /// and computing again one column, bits unchanged) of a 3×3 window with strides of 2
    /// along the row whose three rows of taps all lie inside the image: eighteen filter
    /// vectors in registers for the run, five input vectors per block and row of taps for
    /// six products. Each lane adds its taps in (ky, kx) order from zero, as
    /// ``depthwise3Interior(_:_:input:filter:output:top:columns:channel:bias:)`` does. The
    /// strided layers read their input from the last-level cache: two blocks read 128
    /// contiguous bytes per position where one block read 64 bytes six lines apart
    /// (kernel alone, 112²×96 in L3, one thread: 54–56 → 58–59 GFLOP/s; 64 channels 51–55 →
    /// 54–59; MobileNetV2's 112²×96 as a single op 0.104 → 0.0995 ms).
    @inlinable @inline(__always)
    static func depthwise3Stride2Interior32<F: VectorUnary>(
        _: F.Type, _ g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        top: Int, columns: Range<Int>, channel k: Int, bias: UnsafePointer<Float>?
    ) {
        let c = g.c, load = load16, taps = filter + k, high = filter + (k &+ 16)
        let f00 = load(taps), f01 = load(taps + c), f02 = load(taps + 2 &* c)
        let f10 = load(taps + 3 &* c), f11 = load(taps + 4 &* c), f12 = load(taps + 5 &* c)
        let f20 = load(taps + 6 &* c), f21 = load(taps + 7 &* c), f22 = load(taps + 8 &* c)
        let h00 = load(high), h01 = load(high + c), h02 = load(high + 2 &* c)
        let h10 = load(high + 3 &* c), h11 = load(high + 4 &* c), h12 = load(high + 5 &* c)
        let h20 = load(high + 6 &* c), h21 = load(high + 7 &* c), h22 = load(high + 8 &* c)
        let rowStride = g.dh &* g.w &* c
        let lowBias = bias.map { load16($0 + k) } ?? SIMD16<Float>(), highBias = bias.map { load16($0 + (k &+ 16)) } ?? SIMD16<Float>()
        var line = input + ((top &* g.w &+ columns.lowerBound &* 2 &- g.padLeft) &* c &+ k)
        var out = output + (columns.lowerBound &* c &+ k)
        var left = columns.count
        while left > 0 {
            if left < 2 { (line, out, left) = (line - 2 &* c, out - c, 2) }
            var s0 = SIMD16<Float>(), s1 = SIMD16<Float>(), t0 = SIMD16<Float>(), t1 = SIMD16<Float>()
            var row = line
            for ky in 0..<3 {
                let (f0, f1, f2) = ky == 0 ? (f00, f01, f02) : ky == 1 ? (f10, f11, f12) : (f20, f21, f22)
                let (h0, h1, h2) = ky == 0 ? (h00, h01, h02) : ky == 1 ? (h10, h11, h12) : (h20, h21, h22)
                twoWideStride2(row, c, f0, f1, f2, &s0, &s1)
                twoWideStride2(row + 16, c, h0, h1, h2, &t0, &t1)
                row += rowStride
            }
            if bias != nil {
                (s0, s1, t0, t1) = (s0 + lowBias, s1 + lowBias, t0 + highBias, t1 + highBias)
            }
            store16(F.vector(s0), out)
            store16(F.vector(t0), out + 16)
            store16(F.vector(s1), out + c)
            store16(F.vector(t1), out + (c &+ 16))
            line += 4 &* c
            out += 2 &* c
            left &-= 2
        }
    }

    /// One row of taps of two stride-2 windows from `line`: five input vectors, six products.
    @inlinable @inline(__always)
    static func twoWideStride2(_ line: UnsafePointer<Float>, _ c: Int, _ f0: SIMD16<Float>, _ f1: SIMD16<Float>, _ f2: SIMD16<Float>,
                               _ s0: inout SIMD16<Float>, _ s1: inout SIMD16<Float>) {
        let x0 = load16(line), x1 = load16(line + c), x2 = load16(line + 2 &* c)
        s0 += x0 * f0; s0 += x1 * f1; s0 += x2 * f2
        let x3 = load16(line + 3 &* c), x4 = load16(line + 4 &* c)
        s1 += x2 * f0; s1 += x3 * f1; s1 += x4 * f2
    }

    /// One row of taps of four stride-1 windows from `line`: six input vectors, twelve products.
    @inlinable @inline(__always)
    static func threeWideStride1(_ line: UnsafePointer<Float>, _ c: Int, _ f0: SIMD16<Float>, _ f1: SIMD16<Float>, _ f2: SIMD16<Float>,
                                 _ s0: inout SIMD16<Float>, _ s1: inout SIMD16<Float>, _ s2: inout SIMD16<Float>,
                                 _ s3: inout SIMD16<Float>) {
        let x0 = load16(line), x1 = load16(line + c), x2 = load16(line + 2 &* c)
        let x3 = load16(line + 3 &* c), x4 = load16(line + 4 &* c), x5 = load16(line + 5 &* c)
        s0 += x0 * f0; s0 += x1 * f1; s0 += x2 * f2
        s1 += x1 * f0; s1 += x2 * f1; s1 += x3 * f2
        s2 += x2 * f0; s2 += x3 * f1; s2 += x4 * f2
        s3 += x3 * f0; s3 += x4 * f1; s3 += x5 * f2
    }

    /// One row of taps of four stride-2 windows from `line`: nine input vectors, twelve products.
    @inlinable @inline(__always)
    static func threeWideStride2(_ line: UnsafePointer<Float>, _ c: Int, _ f0: SIMD16<Float>, _ f1: SIMD16<Float>, _ f2: SIMD16<Float>,
                                 _ s0: inout SIMD16<Float>, _ s1: inout SIMD16<Float>, _ s2: inout SIMD16<Float>,
                                 _ s3: inout SIMD16<Float>) {
        let x0 = load16(line), x1 = load16(line + c), x2 = load16(line + 2 &* c)
        s0 += x0 * f0; s0 += x1 * f1; s0 += x2 * f2
        let x3 = load16(line + 3 &* c), x4 = load16(line + 4 &* c)
        s1 += x2 * f0; s1 += x3 * f1; s1 += x4 * f2
        let x5 = load16(line + 5 &* c), x6 = load16(line + 6 &* c)
        s2 += x4 * f0; s2 += x5 * f1; s2 += x6 * f2
        let x7 = load16(line + 7 &* c), x8 = load16(line + 8 &* c)
        s3 += x6 * f0; s3 += x7 * f1; s3 += x8 * f2
    }

    /// Whether the three-wide row loop runs `g`'s rows: sixteen channels or more, a window
    /// three wide and undilated along the row, strides of 1 or 2 along it.
    @inlinable @inline(__always)
    public static func takesThreeWideRow(_ g: DepthwiseGeometry) -> Bool {
        g.c >= 16 && g.kw == 3 && g.dw == 1 && (g.sw == 1 || g.sw == 2)
    }

    /// Whether ``depthwiseForwardRowAnyWindow(_:_:input:filter:output:row:bias:)`` runs `g`'s
    /// rows: sixteen channels or more, a window the three-wide loop does not take, and unit
    /// strides along the row, fewer than eight columns, or an undilated five-wide window at
    /// stride 2. Measured against the generic loop and a pass of the epilogue (one thread,
    /// with swish): 5×5 over 7²×1152 0.195 → 0.115 ms, over 28²×240 0.239 → 0.224, over
    /// 14²×672 at stride 2 0.062 → 0.053; other wide strided rows went the other way. With
    /// ``fiveWideStride2(_:_:_:_:_:_:_:)``, single ops without epilogue: 5×5 at stride 2
    /// over 16²×144 0.0182 → 0.0110 ms, over 56²×144 0.148 → 0.110.
    @inlinable @inline(__always)
    public static func takesAnyWindowRow(_ g: DepthwiseGeometry) -> Bool {
        g.c >= 16 && (g.sw == 1 || g.ow < 8 || g.kw == 5 && g.sw == 2 && g.dw == 1) && !takesThreeWideRow(g)
    }

    /// One float32 output row, with the epilogue in registers, for the geometries
    /// ``takesAnyWindowRow(_:)`` accepts (EfficientNet's 5×5 layers, short strided rows):
    /// interior columns four at a time, sixteen channels per block (one filter vector per tap
    /// for four products); other columns one at a time, four channel blocks together (four
    /// independent sums over the column's valid taps: at 7×7 a 5×5 window leaves no four
    /// interior columns). Each lane adds its taps in (ky, kx) order from zero, then the bias,
    /// then `F`: the bits of ``depthwiseForwardRow(_:input:filter:output:row:)`` and the
    /// bias-activation loop.
    @inlinable @inline(__always)
    public static func depthwiseForwardRowAnyWindow<F: VectorUnary>(
        _: F.Type, _ g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        row oy: Int, bias: UnsafePointer<Float>?
    ) {
        let c = g.c, top = oy &* g.sh &- g.padTop
        let rows = taps(start: top, dilation: g.dh, kernel: g.kh, size: g.h)
        let interiorStart = Swift.min((g.padLeft &+ g.sw &- 1) / g.sw, g.ow)
        let interiorEnd = Swift.max(interiorStart, Swift.min(g.ow, (g.w &- 1 &- (g.kw &- 1) &* g.dw &+ g.padLeft) / g.sw &+ 1))
        let blocks = c / 16, rest = blocks &* 16
        var ox = 0
        while ox < g.ow {
            let (group, count) = interiorGroup(column: ox, interior: interiorStart..<interiorEnd)
            if count == 1 {
                // Every channel block, as the three-wide row's edge columns take them.
                var first = 0
                while first < blocks {
                    let width = blocks >= 4 ? 4 : blocks, k = Swift.min(first, blocks &- width) &* 16
                    if width == 4 {
                        depthwiseColumn64(F.self, g, input: input, filter: filter, output: output, top: top, rows: rows, column: ox,
                                          channel: k, bias: bias)
                    } else if width == 3 {
                        depthwiseColumn48(F.self, g, input: input, filter: filter, output: output, top: top, rows: rows, column: ox,
                                          channel: k, bias: bias)
                    } else if width == 2 {
                        depthwiseColumn32(F.self, g, input: input, filter: filter, output: output, top: top, rows: rows, column: ox,
                                          channel: k, bias: bias)
                    } else {
                        depthwiseColumn16(F.self, g, input: input, filter: filter, output: output, top: top, rows: rows, column: ox,
                                          channel: k, bias: bias)
                    }
                    first &+= width
                }
            } else {
                for block in 0..<blocks {
                    depthwiseInterior16(F.self, g, input: input, filter: filter, output: output, top: top, rows: rows, column: group,
                                        channel: block &* 16, bias: bias)
                }
            }
            if rest < c {
                for column in ox..<(ox &+ count) {
                    depthwiseForwardColumn(g, input: input, filter: filter, output: output, top: top, rows: rows, column: column, from: rest)
                    let out = output + column &* c
                    if let bias { for j in rest..<c { out[j] = F.scalar(out[j] + bias[j]) } }
                    else { for j in rest..<c { out[j] = F.scalar(out[j]) } }
                }
            }
            ox &+= count
        }
    }

    /// Sixteen channels from `channel` of four interior output columns from `column`, any
    /// window, strides and dilations, the epilogue in registers. Five-wide windows at unit
    /// dilation and strides of 1 or 2 along the row (EfficientNet's 5×5 layers) load the
    /// eight or eleven input vectors under the four windows once per row of taps for the
    /// twenty products (``fiveWideStride1(_:_:_:_:_:_:_:)``,
    /// ``fiveWideStride2(_:_:_:_:_:_:_:)``) where the general loop loads four per tap.
    @inlinable @inline(__always)
    static func depthwiseInterior16<F: VectorUnary>(
        _: F.Type, _ g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        top: Int, rows: Range<Int>, column ox: Int, channel k: Int, bias: UnsafePointer<Float>?
    ) {
        let c = g.c, left = ox &* g.sw &- g.padLeft, step = g.sw &* c, out = output + (ox &* c &+ k)
        var s0 = SIMD16<Float>(), s1 = SIMD16<Float>(), s2 = SIMD16<Float>(), s3 = SIMD16<Float>()
        if g.kw == 5 && g.dw == 1 && (g.sw == 1 || g.sw == 2) {
            // A loop per stride: one loop choosing per row of taps kept the pointers of both on
            // the stack.
            var line = input + (((top &+ rows.lowerBound &* g.dh) &* g.w &+ left) &* c &+ k)
            var taps = filter + (rows.lowerBound &* 5 &* c &+ k)
            let down = g.dh &* g.w &* c
            if g.sw == 1 {
                for _ in rows {
                    fiveWideStride1(line, taps, c, &s0, &s1, &s2, &s3)
                    line += down
                    taps += 5 &* c
                }
            } else {
                for _ in rows {
                    fiveWideStride2(line, taps, c, &s0, &s1, &s2, &s3)
                    line += down
                    taps += 5 &* c
                }
            }
            storeFourColumns(F.self, s0, s1, s2, s3, to: out, columnStride: c, bias: bias.map { $0 + k })
            return
        }
        for ky in rows {
            let line = input + (((top &+ ky &* g.dh) &* g.w &+ left) &* c &+ k), taps = filter + (ky &* g.kw &* c &+ k)
            for kx in 0..<g.kw {
                let f = load16(taps + kx &* c), p = line + kx &* g.dw &* c
                s0 += load16(p) * f
                s1 += load16(p + step) * f
                s2 += load16(p + 2 &* step) * f
                s3 += load16(p + 3 &* step) * f
            }
        }
        storeFourColumns(F.self, s0, s1, s2, s3, to: out, columnStride: c, bias: bias.map { $0 + k })
    }

    /// One row of taps of four stride-1 five-wide windows from `line` (filter row `taps`):
    /// eight input vectors and five filter vectors, twenty products, each lane's in tap order.
    @inlinable @inline(__always)
    static func fiveWideStride1(_ line: UnsafePointer<Float>, _ taps: UnsafePointer<Float>, _ c: Int, _ s0: inout SIMD16<Float>,
                                _ s1: inout SIMD16<Float>, _ s2: inout SIMD16<Float>, _ s3: inout SIMD16<Float>) {
        let x0 = load16(line), x1 = load16(line + c), x2 = load16(line + 2 &* c), x3 = load16(line + 3 &* c)
        let f0 = load16(taps), f1 = load16(taps + c), f2 = load16(taps + 2 &* c), f3 = load16(taps + 3 &* c)
        let f4 = load16(taps + 4 &* c)
        let x4 = load16(line + 4 &* c), x5 = load16(line + 5 &* c), x6 = load16(line + 6 &* c), x7 = load16(line + 7 &* c)
        s0 += x0 * f0; s0 += x1 * f1; s0 += x2 * f2; s0 += x3 * f3; s0 += x4 * f4
        s1 += x1 * f0; s1 += x2 * f1; s1 += x3 * f2; s1 += x4 * f3; s1 += x5 * f4
        s2 += x2 * f0; s2 += x3 * f1; s2 += x4 * f2; s2 += x5 * f3; s2 += x6 * f4
        s3 += x3 * f0; s3 += x4 * f1; s3 += x5 * f2; s3 += x6 * f3; s3 += x7 * f4
    }

    /// One row of taps of four stride-2 five-wide windows from `line` (filter row `taps`):
    /// eleven input vectors and five filter vectors, twenty products, each lane's in tap order.
    @inlinable @inline(__always)
    static func fiveWideStride2(_ line: UnsafePointer<Float>, _ taps: UnsafePointer<Float>, _ c: Int, _ s0: inout SIMD16<Float>,
                                _ s1: inout SIMD16<Float>, _ s2: inout SIMD16<Float>, _ s3: inout SIMD16<Float>) {
        let f0 = load16(taps), f1 = load16(taps + c), f2 = load16(taps + 2 &* c), f3 = load16(taps + 3 &* c)
        let f4 = load16(taps + 4 &* c)
        let x0 = load16(line), x1 = load16(line + c), x2 = load16(line + 2 &* c), x3 = load16(line + 3 &* c)
        let x4 = load16(line + 4 &* c)
        s0 += x0 * f0; s0 += x1 * f1; s0 += x2 * f2; s0 += x3 * f3; s0 += x4 * f4
        let x5 = load16(line + 5 &* c), x6 = load16(line + 6 &* c)
        s1 += x2 * f0; s1 += x3 * f1; s1 += x4 * f2; s1 += x5 * f3; s1 += x6 * f4
        let x7 = load16(line + 7 &* c), x8 = load16(line + 8 &* c)
        s2 += x4 * f0; s2 += x5 * f1; s2 += x6 * f2; s2 += x7 * f3; s2 += x8 * f4
        let x9 = load16(line + 9 &* c), x10 = load16(line + 10 &* c)
        s3 += x6 * f0; s3 += x7 * f1; s3 += x8 * f2; s3 += x9 * f3; s3 += x10 * f4
    }

    /// Sixty-four channels from `channel` (four blocks of sixteen) of one output column, over
    /// the taps inside the image, the epilogue in registers.
    @inlinable @inline(__always)
    static func depthwiseColumn64<F: VectorUnary>(
        _: F.Type, _ g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        top: Int, rows: Range<Int>, column ox: Int, channel k: Int, bias: UnsafePointer<Float>?
    ) {
        let c = g.c, left = ox &* g.sw &- g.padLeft, columns = taps(start: left, dilation: g.dw, kernel: g.kw, size: g.w)
        var s0 = SIMD16<Float>(), s1 = SIMD16<Float>(), s2 = SIMD16<Float>(), s3 = SIMD16<Float>()
        for ky in rows {
            let line = input + (((top &+ ky &* g.dh) &* g.w &+ left) &* c &+ k), taps = filter + (ky &* g.kw &* c &+ k)
            for kx in columns {
                let p = line + kx &* g.dw &* c, f = taps + kx &* c
                s0 += load16(p) * load16(f)
                s1 += load16(p + 16) * load16(f + 16)
                s2 += load16(p + 32) * load16(f + 32)
                s3 += load16(p + 48) * load16(f + 48)
            }
        }
        if let bias {
            let b = bias + k
            s0 = F.vector(s0 + load16(b)); s1 = F.vector(s1 + load16(b + 16))
            s2 = F.vector(s2 + load16(b + 32)); s3 = F.vector(s3 + load16(b + 48))
        } else {
            s0 = F.vector(s0); s1 = F.vector(s1); s2 = F.vector(s2); s3 = F.vector(s3)
        }
        let out = output + (ox &* c &+ k)
        store16(s0, out)
        store16(s1, out + 16)
        store16(s2, out + 32)
        store16(s3, out + 48)
    }

    /// Forty-eight channels from `channel` (three blocks of sixteen) of one output column, over
    /// the taps inside the image, the epilogue in registers.
    @inlinable @inline(__always)
    static func depthwiseColumn48<F: VectorUnary>(
        _: F.Type, _ g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        top: Int, rows: Range<Int>, column ox: Int, channel k: Int, bias: UnsafePointer<Float>?
    ) {
        let c = g.c, left = ox &* g.sw &- g.padLeft, columns = taps(start: left, dilation: g.dw, kernel: g.kw, size: g.w)
        var s0 = SIMD16<Float>(), s1 = SIMD16<Float>(), s2 = SIMD16<Float>()
        for ky in rows {
            let line = input + (((top &+ ky &* g.dh) &* g.w &+ left) &* c &+ k), taps = filter + (ky &* g.kw &* c &+ k)
            for kx in columns {
                let p = line + kx &* g.dw &* c, f = taps + kx &* c
                s0 += load16(p) * load16(f)
                s1 += load16(p + 16) * load16(f + 16)
                s2 += load16(p + 32) * load16(f + 32)
            }
        }
        if let bias {
            let b = bias + k
            s0 = F.vector(s0 + load16(b)); s1 = F.vector(s1 + load16(b + 16)); s2 = F.vector(s2 + load16(b + 32))
        } else {
            s0 = F.vector(s0); s1 = F.vector(s1); s2 = F.vector(s2)
        }
        let out = output + (ox &* c &+ k)
        store16(s0, out)
        store16(s1, out + 16)
        store16(s2, out + 32)
    }

    /// Thirty-two channels from `channel` (two blocks of sixteen) of one output column, over
    /// the taps inside the image, the epilogue in registers.
    @inlinable @inline(__always)
    static func depthwiseColumn32<F: VectorUnary>(
        _: F.Type, _ g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        top: Int, rows: Range<Int>, column ox: Int, channel k: Int, bias: UnsafePointer<Float>?
    ) {
        let c = g.c, left = ox &* g.sw &- g.padLeft, columns = taps(start: left, dilation: g.dw, kernel: g.kw, size: g.w)
        var s0 = SIMD16<Float>(), s1 = SIMD16<Float>()
        for ky in rows {
            let line = input + (((top &+ ky &* g.dh) &* g.w &+ left) &* c &+ k), taps = filter + (ky &* g.kw &* c &+ k)
            for kx in columns {
                let p = line + kx &* g.dw &* c, f = taps + kx &* c
                s0 += load16(p) * load16(f)
                s1 += load16(p + 16) * load16(f + 16)
            }
        }
        if let bias {
            s0 = F.vector(s0 + load16(bias + k)); s1 = F.vector(s1 + load16(bias + (k &+ 16)))
        } else {
            s0 = F.vector(s0); s1 = F.vector(s1)
        }
        store16(s0, output + (ox &* c &+ k))
        store16(s1, output + (ox &* c &+ k &+ 16))
    }

    /// Sixteen channels from `channel` of one output column, over the taps inside the image,
    /// the epilogue in registers.
    @inlinable @inline(__always)
    static func depthwiseColumn16<F: VectorUnary>(
        _: F.Type, _ g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        top: Int, rows: Range<Int>, column ox: Int, channel k: Int, bias: UnsafePointer<Float>?
    ) {
        let c = g.c, left = ox &* g.sw &- g.padLeft, columns = taps(start: left, dilation: g.dw, kernel: g.kw, size: g.w)
        var sum = SIMD16<Float>()
        for ky in rows {
            let line = input + (((top &+ ky &* g.dh) &* g.w &+ left) &* c &+ k), taps = filter + (ky &* g.kw &* c &+ k)
            for kx in columns { sum += load16(line + kx &* g.dw &* c) * load16(taps + kx &* c) }
        }
        store16(F.vector(bias.map { sum + load16($0 + k) } ?? sum), output + (ox &* c &+ k))
    }

    /// Sixteen channels from `channel` of four interior output columns from `column`, for
    /// a three-wide window with unit strides along the row: the six input vectors under the
    /// four windows are loaded once per row of taps for the twelve products, and four
    /// independent sums hide the additions' latency.
    @inlinable @inline(__always)
    static func depthwise3Block<F: VectorUnary>(
        _: F.Type, _ g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        top: Int, rows: Range<Int>, column ox: Int, channel k: Int, bias: UnsafePointer<Float>?
    ) {
        let c = g.c, left = ox &- g.padLeft, out = output + (ox &* c &+ k)
        let load = load16
        var s0 = SIMD16<Float>(), s1 = SIMD16<Float>(), s2 = SIMD16<Float>(), s3 = SIMD16<Float>()
        for ky in rows {
            let line = input + (((top &+ ky &* g.dh) &* g.w &+ left) &* c &+ k), taps = filter + (ky &* 3 &* c &+ k)
            threeWideStride1(line, c, load(taps), load(taps + c), load(taps + 2 &* c), &s0, &s1, &s2, &s3)
        }
        storeFourColumns(F.self, s0, s1, s2, s3, to: out, columnStride: c, bias: bias.map { $0 + k })
    }

    /// Sixteen channels from `channel` of four interior output columns from `column`, for
    /// a three-wide window with strides of 2 along the row: the four windows cover nine
    /// input vectors per row of taps, three of them shared by two windows, loaded once for
    /// the twelve products. (One block for both strides, the stride a constant where it is
    /// inlined, measured slower at stride 2: 0.175 against 0.157 ms over 112²×96.)
    @inlinable @inline(__always)
    static func depthwise3Stride2Block<F: VectorUnary>(
        _: F.Type, _ g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        top: Int, rows: Range<Int>, column ox: Int, channel k: Int, bias: UnsafePointer<Float>?
    ) {
        let c = g.c, left = ox &* 2 &- g.padLeft, out = output + (ox &* c &+ k)
        let load = load16
        var s0 = SIMD16<Float>(), s1 = SIMD16<Float>(), s2 = SIMD16<Float>(), s3 = SIMD16<Float>()
        for ky in rows {
            let line = input + (((top &+ ky &* g.dh) &* g.w &+ left) &* c &+ k), taps = filter + (ky &* 3 &* c &+ k)
            threeWideStride2(line, c, load(taps), load(taps + c), load(taps + 2 &* c), &s0, &s1, &s2, &s3)
        }
        storeFourColumns(F.self, s0, s1, s2, s3, to: out, columnStride: c, bias: bias.map { $0 + k })
    }

    /// `F(sum + bias)` (no bias: `F(sum)`) of four columns' sixteen-channel sums, stored
    /// `columnStride` values apart from `out`.
    @inlinable @inline(__always)
    static func storeFourColumns<F: VectorUnary>(_: F.Type, _ s0: SIMD16<Float>, _ s1: SIMD16<Float>, _ s2: SIMD16<Float>,
                                                 _ s3: SIMD16<Float>, to out: UnsafeMutablePointer<Float>, columnStride c: Int,
                                                 bias: UnsafePointer<Float>?) {
        let b = bias.map { load16($0) } ?? SIMD16<Float>()
        if bias != nil {
            store16(F.vector(s0 + b), out)
            store16(F.vector(s1 + b), out + c)
            store16(F.vector(s2 + b), out + 2 &* c)
            store16(F.vector(s3 + b), out + 3 &* c)
        } else {
            store16(F.vector(s0), out)
            store16(F.vector(s1), out + c)
            store16(F.vector(s2), out + 2 &* c)
            store16(F.vector(s3), out + 3 &* c)
        }
    }

    /// Channels `channel..<channel + V.scalarCount` of four interior output columns from
    /// `column`: four independent sums hide the latency of the additions.
    @inlinable @inline(__always)
    static func depthwiseInteriorBlock<V: SIMD>(
        _: V.Type, _ g: DepthwiseGeometry, input: UnsafePointer<V.Scalar>, filter: UnsafePointer<V.Scalar>,
        output: UnsafeMutablePointer<V.Scalar>, top: Int, rows: Range<Int>, column ox: Int, channel k: Int
    ) where V.Scalar: BinaryFloatingPoint {
        let c = g.c, left = ox * g.sw - g.padLeft, step = g.sw * c, out = output + ox * c + k
        @inline(__always) func load(_ p: UnsafePointer<V.Scalar>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        @inline(__always) func store(_ v: V, _ p: UnsafeMutablePointer<V.Scalar>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }
        var s0 = V(), s1 = V(), s2 = V(), s3 = V()
        for ky in rows {
            let line = input + ((top + ky * g.dh) * g.w + left) * c + k, taps = filter + ky * g.kw * c + k
            for kx in 0..<g.kw {
                let f = load(taps + kx * c), p = line + kx * g.dw * c
                s0 += load(p) * f
                s1 += load(p + step) * f
                s2 += load(p + 2 * step) * f
                s3 += load(p + 3 * step) * f
            }
        }
        store(s0, out)
        store(s1, out + c)
        store(s2, out + 2 * c)
        store(s3, out + 3 * c)
    }

    /// One output column (channels `from…`) of a depthwise convolution with multiplier 1.
    @inlinable @inline(__always)
    static func depthwiseForwardColumn<T: BinaryFloatingPoint & SIMDScalar>(
        _ g: DepthwiseGeometry, input: UnsafePointer<T>, filter: UnsafePointer<T>, output: UnsafeMutablePointer<T>, top: Int,
        rows: Range<Int>, column ox: Int, from first: Int = 0
    ) {
        let c = g.c
        let left = ox * g.sw - g.padLeft
        let columns = taps(start: left, dilation: g.dw, kernel: g.kw, size: g.w), out = output + ox * c
        var k = first
        while k + 8 <= c {
            var sum = SIMD8<T>()
            for ky in rows {
                let line = input + ((top + ky * g.dh) * g.w + left) * c + k, taps = filter + ky * g.kw * c + k
                for kx in columns { sum += load8(line + kx * g.dw * c) * load8(taps + kx * c) }
            }
            store8(sum, out + k)
            k += 8
        }
        while k < c {
            var sum = T(0)
            for ky in rows {
                let line = input + ((top + ky * g.dh) * g.w + left) * c + k, taps = filter + ky * g.kw * c + k
                for kx in columns { sum += line[kx * g.dw * c] * taps[kx * c] }
            }
            out[k] = sum
            k += 1
        }
    }

    /// The taps `k` of a window starting at `start` whose positions `start + k·dilation` lie in `0..<size`.
    @inlinable @inline(__always)
    public static func taps(start: Int, dilation: Int, kernel: Int, size: Int) -> Range<Int> {
        let first = start >= 0 ? 0 : (-start + dilation - 1) / dilation
        let last = size - 1 - start < 0 ? -1 : Swift.min(kernel - 1, (size - 1 - start) / dilation)
        return first..<Swift.max(first, last + 1)
    }

    @inlinable @inline(__always)
    static func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }

    @inlinable @inline(__always)
    static func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
    }

    @inlinable @inline(__always)
    static func load8<T: SIMDScalar>(_ p: UnsafePointer<T>) -> SIMD8<T> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<T>.self) }

    @inlinable @inline(__always)
    static func store8<T: SIMDScalar>(_ v: SIMD8<T>, _ p: UnsafeMutablePointer<T>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<T>.self)
    }
}
