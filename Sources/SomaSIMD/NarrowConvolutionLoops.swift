/// The fields of a convolution's geometry the narrow row loop reads (NHWC input `[H, W, C]`,
/// the filter transposed to `[OC, KH, KW, C]`, output `[OH, OW, OC]`, strides, dilations,
/// the padding before the first row and column).
public struct NarrowConvolutionGeometry: Sendable {
    public let h, w, c, kh, kw, oc, oh, ow, sh, sw, dh, dw, padTop, padLeft: Int

    public init(h: Int, w: Int, c: Int, kh: Int, kw: Int, oc: Int, oh: Int, ow: Int, sh: Int, sw: Int, dh: Int, dw: Int, padTop: Int,
                padLeft: Int) {
        (self.h, self.w, self.c, self.kh, self.kw, self.oc, self.oh, self.ow) = (h, w, c, kh, kw, oc, oh, ow)
        (self.sh, self.sw, self.dh, self.dw, self.padTop, self.padLeft) = (sh, sw, dh, dw, padTop, padLeft)
    }
}

/// Convolution rows into a few output channels (a decoder's last layer to RGB), where a
/// GEMM would vectorise over those few channels: each output value is a dot product over
/// its window, in vectors along the input channels.
extension VectorLoops {
    /// One output row `[OW, OC]` of a float32 convolution with the filter transposed to
    /// `[OC, KH, KW, C]`: each output value sums, over the taps inside the image in (ky, kx)
    /// order, sixteen-channel products into one vector (the channels' rest in a scalar), then
    /// the vector as a tree plus the rest. Interior columns run four at a time (four
    /// independent sums). The same bits at every CPU level.
    @inlinable @inline(__always)
    public static func narrowConvolutionRow(_ g: NarrowConvolutionGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>,
                                            output: UnsafeMutablePointer<Float>, row oy: Int) {
        let top = oy &* g.sh &- g.padTop
        let rows = taps(start: top, dilation: g.dh, kernel: g.kh, size: g.h)
        let interiorStart = Swift.min((g.padLeft &+ g.sw &- 1) / g.sw, g.ow)
        let interiorEnd = Swift.max(interiorStart, Swift.min(g.ow, (g.w &- 1 &- (g.kw &- 1) &* g.dw &+ g.padLeft) / g.sw &+ 1))
        var ox = 0
        while ox < g.ow {
            guard ox >= interiorStart && ox &+ 4 <= interiorEnd else {
                let left = ox &* g.sw &- g.padLeft, columns = taps(start: left, dilation: g.dw, kernel: g.kw, size: g.w)
                for o in 0..<g.oc {
                    output[ox &* g.oc &+ o] = narrowDot(g, input: input, filter: filter, top: top, left: left, rows: rows, columns: columns,
                                                        channel: o)
                }
                ox &+= 1
                continue
            }
            for o in 0..<g.oc { narrowDot4(g, input: input, filter: filter, output: output, top: top, rows: rows, column: ox, channel: o) }
            ox &+= 4
        }
    }

    /// Output channel `o` at one column whose window starts at input column `left`, over the
    /// taps `rows × columns` inside the image.
    @inlinable @inline(__always)
    static func narrowDot(_ g: NarrowConvolutionGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, top: Int, left: Int,
                          rows: Range<Int>, columns: Range<Int>, channel o: Int) -> Float {
        let c = g.c, vectors = c & ~15
        var sum = SIMD16<Float>(), rest: Float = 0
        for ky in rows {
            for kx in columns {
                let p = input + (((top &+ ky &* g.dh) &* g.w &+ left &+ kx &* g.dw) &* c)
                let f = filter + (((o &* g.kh &+ ky) &* g.kw &+ kx) &* c)
                var j = 0
                while j < vectors { sum += load16(p + j) * load16(f + j); j &+= 16 }
                while j < c { rest += p[j] * f[j]; j &+= 1 }
            }
        }
        return VectorMath.horizontalSum(sum) + rest
    }

    /// Output channel `o` at four interior columns from `column` (every tap inside the
    /// image): four independent sums, each as ``narrowDot(_:input:filter:top:left:rows:columns:channel:)``.
    @inlinable @inline(__always)
    static func narrowDot4(_ g: NarrowConvolutionGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>,
                           output: UnsafeMutablePointer<Float>, top: Int, rows: Range<Int>, column ox: Int, channel o: Int) {
        let c = g.c, vectors = c & ~15, step = g.sw &* c, left = ox &* g.sw &- g.padLeft
        var s0 = SIMD16<Float>(), s1 = SIMD16<Float>(), s2 = SIMD16<Float>(), s3 = SIMD16<Float>()
        var r0: Float = 0, r1: Float = 0, r2: Float = 0, r3: Float = 0
        for ky in rows {
            for kx in 0..<g.kw {
                let p = input + (((top &+ ky &* g.dh) &* g.w &+ left &+ kx &* g.dw) &* c)
                let f = filter + (((o &* g.kh &+ ky) &* g.kw &+ kx) &* c)
                var j = 0
                while j < vectors {
                    let w = load16(f + j)
                    s0 += load16(p + j) * w
                    s1 += load16(p + (step &+ j)) * w
                    s2 += load16(p + (2 &* step &+ j)) * w
                    s3 += load16(p + (3 &* step &+ j)) * w
                    j &+= 16
                }
                while j < c {
                    let w = f[j]
                    r0 += p[j] * w
                    r1 += p[step &+ j] * w
                    r2 += p[2 &* step &+ j] * w
                    r3 += p[3 &* step &+ j] * w
                    j &+= 1
                }
            }
        }
        let out = output + (ox &* g.oc &+ o)
        out[0] = VectorMath.horizontalSum(s0) + r0
        out[g.oc] = VectorMath.horizontalSum(s1) + r1
        out[2 &* g.oc] = VectorMath.horizontalSum(s2) + r2
        out[3 &* g.oc] = VectorMath.horizontalSum(s3) + r3
    }
}
