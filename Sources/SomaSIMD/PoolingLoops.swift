/// A pooling over `[N, H, W, C]` NHWC images: `KH × KW` windows `SH, SW` apart, the first
/// at `(−padTop, −padLeft)`, into `[N, OH, OW, C]`.
public struct PoolGeometry: Sendable {
    public let h, w, c, kh, kw, oh, ow, sh, sw, padTop, padLeft: Int

    public init(h: Int, w: Int, c: Int, kh: Int, kw: Int, oh: Int, ow: Int, sh: Int, sw: Int, padTop: Int, padLeft: Int) {
        (self.h, self.w, self.c, self.kh, self.kw, self.oh, self.ow) = (h, w, c, kh, kw, oh, ow)
        (self.sh, self.sw, self.padTop, self.padLeft) = (sh, sw, padTop, padLeft)
    }
}

extension VectorLoops {
    /// Output row `row` (`i·OH + oy`) of a max pooling: each window's maximum over its taps
    /// inside the image, in (ky, kx) order from −∞, a tap kept where it is `>=` the maximum
    /// so far (`Swift.max`'s rule: a NaN tap is passed over) — 8 channels at a time in
    /// registers, the rest one at a time. A window wholly in the padding gives −∞.
    @inlinable @inline(__always)
    public static func maxPoolRow(_ g: PoolGeometry, input px: UnsafePointer<Float>, output po: UnsafeMutablePointer<Float>, row: Int) {
        let (i, oy) = row.quotientAndRemainder(dividingBy: g.oh), c = g.c, vectors = c / 8 * 8
        let top = oy * g.sh - g.padTop, rows = taps(start: top, dilation: 1, kernel: g.kh, size: g.h)
        let image = px + i * g.h * g.w * c
        for ox in 0..<g.ow {
            let left = ox * g.sw - g.padLeft, columns = taps(start: left, dilation: 1, kernel: g.kw, size: g.w)
            let o = po + (row * g.ow + ox) * c, corner = (top * g.w + left) * c  // an offset: it may lie before the image
            var j = 0
            while j < vectors {
                var best = SIMD8<Float>(repeating: -.infinity)
                for ky in rows {
                    for kx in columns {
                        let v = UnsafeRawPointer(image + corner + (ky * g.w + kx) * c + j).loadUnaligned(as: SIMD8<Float>.self)
                        best.replace(with: v, where: v .>= best)
                    }
                }
                UnsafeMutableRawPointer(o + j).storeBytes(of: best, as: SIMD8<Float>.self)
                j += 8
            }
            while j < c {
                var best = -Float.infinity
                for ky in rows {
                    for kx in columns { best = Swift.max(best, image[corner + (ky * g.w + kx) * c + j]) }
                }
                o[j] = best
                j += 1
            }
        }
    }

    /// The max-pooling gradient of output row `row` (`i·OH + oy`) of windows that tile the
    /// input: each window's gradient goes to its maximum — the first tap, then strictly
    /// greater ones (TF's rule; a NaN first tap stays) — and every input under the row's
    /// windows is written once, the gradient at the winner and zero elsewhere; the columns
    /// (and after the last row, the rows) no window covers are zeroed. With `reluGrad`
    /// (`x` being a ReLU's output) the winners keep the gradient only where `x > 0`:
    /// bitwise `ReluGrad(MaxPoolGrad(…), x)`. Channels 8 at a time.
    @inlinable @inline(__always)
    public static func maxPoolGradTilingRow(_ g: PoolGeometry, input px: UnsafePointer<Float>, gradient pg: UnsafePointer<Float>,
                                            output po: UnsafeMutablePointer<Float>, row: Int, reluGrad: Bool) {
        let (i, oy) = row.quotientAndRemainder(dividingBy: g.oh), c = g.c
        let top = i * g.h + oy * g.kh, covered = g.ow * g.kw
        for ox in 0..<g.ow {
            let o = pg + (row * g.ow + ox) * c, corner = (top * g.w + ox * g.kw) * c
            for j in stride(from: 0, to: c, by: 8) {
                maxPoolGradWindow(g, px + corner + j, o + j, po + corner + j, reluGrad: reluGrad)
            }
        }
        if covered < g.w {
            for ky in 0..<g.kh { (po + ((top + ky) * g.w + covered) * c).update(repeating: 0, count: (g.w - covered) * c) }
        }
        if oy == g.oh - 1, g.oh * g.kh < g.h {
            (po + (top + g.kh) * g.w * c).update(repeating: 0, count: (g.h - g.oh * g.kh) * g.w * c)
        }
    }

    /// Eight channels of one window: the winners' tap numbers (small integers, exact as
    /// floats) found in a first pass over the window, each tap's vector stored in a second.
    /// (Concrete lanes: generic `SIMD` comparisons compile lane by lane.)
    @inlinable @inline(__always)
    static func maxPoolGradWindow(_ g: PoolGeometry, _ x: UnsafePointer<Float>, _ gradient: UnsafePointer<Float>,
                                  _ out: UnsafeMutablePointer<Float>, reluGrad: Bool) {
        typealias V = SIMD8<Float>
        var best = UnsafeRawPointer(x).loadUnaligned(as: V.self), winner = V(repeating: 0), tap: Float = 0
        for ky in 0..<g.kh {
            for kx in 0..<g.kw where ky > 0 || kx > 0 {
                tap += 1
                let v = UnsafeRawPointer(x + (ky * g.w + kx) * g.c).loadUnaligned(as: V.self), greater = v .> best
                best.replace(with: v, where: greater)
                winner.replace(with: tap, where: greater)
            }
        }
        var value = UnsafeRawPointer(gradient).loadUnaligned(as: V.self)
        if reluGrad { value.replace(with: 0, where: .!(best .> 0)) }
        tap = 0
        for ky in 0..<g.kh {
            for kx in 0..<g.kw {
                let stored = V(repeating: 0).replacing(with: value, where: winner .== V(repeating: tap))
                UnsafeMutableRawPointer(out + (ky * g.w + kx) * g.c).storeBytes(of: stored, as: V.self)
                tap += 1
            }
        }
    }
}
