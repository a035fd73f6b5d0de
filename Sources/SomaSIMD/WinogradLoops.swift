/// The fields of a Winograd F(2×2, 3×3) convolution's geometry the tile transforms read
/// (NHWC image `[H, W, C]`, output `[OH, OW, OC]`, the padding before the first row and
/// column); the window is 3×3 at unit stride and dilation.
public struct WinogradGeometry: Sendable {
    public let h, w, c, oc, oh, ow, padTop, padLeft: Int

    public init(h: Int, w: Int, c: Int, oc: Int, oh: Int, ow: Int, padTop: Int, padLeft: Int) {
        (self.h, self.w, self.c, self.oc, self.oh, self.ow, self.padTop, self.padLeft) = (h, w, c, oc, oh, ow, padTop, padLeft)
    }

    /// Tiles (2×2 output blocks) per row of tiles.
    @inlinable public var tilesPerRow: Int { (ow &+ 1) / 2 }
}

/// The input and output transforms of Winograd F(2×2, 3×3) tiles (Lavin and Gray, 2016),
/// vectorised along the channels, which NHWC keeps contiguous. Additions and subtractions
/// in a fixed order, so every build computes the same bits.
extension VectorLoops {
    /// `V[ξ][t][·] = (Bᵀ d B)_ξ` for the `count` tiles from tile row `firstRow` of `image`,
    /// tile `t` at row `firstRow + t / tilesPerRow`, column `t % tilesPerRow`, reading the
    /// 4×4 block of input `d` at rows `2·row − padTop …`, columns `2·column − padLeft …`
    /// (zeros outside the image); `v` is `[16, count, C]`.
    /// `Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]]`. `C` a multiple of 4.
    @inlinable @inline(__always)
    public static func winogradInputTiles(_ g: WinogradGeometry, image: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>,
                                          firstRow: Int, count: Int) {
        let stride = count &* g.c, tilesPerRow = g.tilesPerRow
        // Pixel (r, s) of a tile's block, or nil in the padding.
        var pixels = (UnsafePointer<Float>?.none, UnsafePointer<Float>?.none, UnsafePointer<Float>?.none, UnsafePointer<Float>?.none,
                      UnsafePointer<Float>?.none, UnsafePointer<Float>?.none, UnsafePointer<Float>?.none, UnsafePointer<Float>?.none,
                      UnsafePointer<Float>?.none, UnsafePointer<Float>?.none, UnsafePointer<Float>?.none, UnsafePointer<Float>?.none,
                      UnsafePointer<Float>?.none, UnsafePointer<Float>?.none, UnsafePointer<Float>?.none, UnsafePointer<Float>?.none)
        withUnsafeMutableBytes(of: &pixels) { buffer in
            let at = buffer.baseAddress!.assumingMemoryBound(to: UnsafePointer<Float>?.self)
            for t in 0..<count {
                let top = 2 &* (firstRow &+ t / tilesPerRow) &- g.padTop, left = 2 &* (t % tilesPerRow) &- g.padLeft
                for r in 0..<4 {
                    let y = top &+ r
                    for s in 0..<4 {
                        let x = left &+ s
                        at[r &* 4 &+ s] = y >= 0 && y < g.h && x >= 0 && x < g.w ? image + ((y &* g.w &+ x) &* g.c) : nil
                    }
                }
                let tile = v + (t &* g.c)
                var channel = 0
                while channel &+ 16 <= g.c { winogradInputVector(SIMD16<Float>.self, at, channel, into: tile, stride: stride); channel &+= 16 }
                while channel < g.c { winogradInputVector(SIMD4<Float>.self, at, channel, into: tile, stride: stride); channel &+= 4 }
            }
        }
    }

    @inlinable @inline(__always)
    static func winogradInputVector<V: SIMD>(_: V.Type, _ pixels: UnsafeMutablePointer<UnsafePointer<Float>?>, _ channel: Int,
                                             into v: UnsafeMutablePointer<Float>, stride: Int) where V.Scalar == Float {
        @inline(__always) func d(_ r: Int, _ s: Int) -> V {
            guard let pixel = pixels[r &* 4 &+ s] else { return V() }
            return UnsafeRawPointer(pixel + channel).loadUnaligned(as: V.self)
        }
        // Columns first: t[·][s] = Bᵀ·d[·][s]; then each row i: V[i][·] = Bᵀ·t[i][·].
        let c0 = inputTransform1D(d(0, 0), d(1, 0), d(2, 0), d(3, 0)), c1 = inputTransform1D(d(0, 1), d(1, 1), d(2, 1), d(3, 1))
        let c2 = inputTransform1D(d(0, 2), d(1, 2), d(2, 2), d(3, 2)), c3 = inputTransform1D(d(0, 3), d(1, 3), d(2, 3), d(3, 3))
        @inline(__always) func row(_ i: Int, _ a: V, _ b: V, _ e: V, _ f: V) {
            let x = inputTransform1D(a, b, e, f), base = UnsafeMutableRawPointer(v + (i &* 4 &* stride &+ channel))
            let step = stride &* MemoryLayout<Float>.stride
            base.storeBytes(of: x.0, as: V.self); (base + step).storeBytes(of: x.1, as: V.self)
            (base + 2 &* step).storeBytes(of: x.2, as: V.self); (base + 3 &* step).storeBytes(of: x.3, as: V.self)
        }
        row(0, c0.0, c1.0, c2.0, c3.0); row(1, c0.1, c1.1, c2.1, c3.1); row(2, c0.2, c1.2, c2.2, c3.2); row(3, c0.3, c1.3, c2.3, c3.3)
    }

    /// `Bᵀ·(d0, d1, d2, d3)`: `(d0 − d2, d1 + d2, d2 − d1, d1 − d3)`.
    @inlinable @inline(__always)
    static func inputTransform1D<V: SIMD>(_ d0: V, _ d1: V, _ d2: V, _ d3: V) -> (V, V, V, V) where V.Scalar == Float {
        (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
    }

    /// The outputs `Aᵀ M A` of the `count` tiles from tile row `firstRow`
    /// (``winogradInputTiles(_:image:into:firstRow:count:)``'s order) from their products
    /// `m` (`[16, count, OC]`), written where they lie inside the image's `[OH, OW, OC]`
    /// `output`. `Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]`. `OC` a multiple of 4.
    @inlinable @inline(__always)
    public static func winogradOutputTiles(_ g: WinogradGeometry, products m: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>,
                                           firstRow: Int, count: Int) {
        let stride = count &* g.oc, tilesPerRow = g.tilesPerRow
        for t in 0..<count {
            let y = 2 &* (firstRow &+ t / tilesPerRow), x = 2 &* (t % tilesPerRow)
            let rows = Swift.min(2, g.oh &- y), columns = Swift.min(2, g.ow &- x)
            let offset: Int = (y &* g.ow &+ x) &* g.oc
            let target = output + offset, tile = m + t &* g.oc
            var o = 0
            while o &+ 16 <= g.oc {
                winogradOutputVector(SIMD16<Float>.self, tile, stride: stride, o, g, into: target, rows: rows, columns: columns); o &+= 16
            }
            while o < g.oc { winogradOutputVector(SIMD4<Float>.self, tile, stride: stride, o, g, into: target, rows: rows, columns: columns); o &+= 4 }
        }
    }

    @inlinable @inline(__always)
    static func winogradOutputVector<V: SIMD>(_: V.Type, _ m: UnsafePointer<Float>, stride: Int, _ o: Int, _ g: WinogradGeometry,
                                              into target: UnsafeMutablePointer<Float>, rows: Int, columns: Int) where V.Scalar == Float {
        @inline(__always) func p(_ i: Int, _ j: Int) -> V { UnsafeRawPointer(m + ((i &* 4 &+ j) &* stride &+ o)).loadUnaligned(as: V.self) }
        @inline(__always) func store(_ value: V, _ offset: Int) { UnsafeMutableRawPointer(target + (offset &+ o)).storeBytes(of: value, as: V.self) }
        // Columns first: s[·][j] = Aᵀ·M[·][j]; then each row a: Y[a][·] = Aᵀ·s[a][·].
        let s0 = outputTransform1D(p(0, 0), p(1, 0), p(2, 0), p(3, 0)), s1 = outputTransform1D(p(0, 1), p(1, 1), p(2, 1), p(3, 1))
        let s2 = outputTransform1D(p(0, 2), p(1, 2), p(2, 2), p(3, 2)), s3 = outputTransform1D(p(0, 3), p(1, 3), p(2, 3), p(3, 3))
        let top = outputTransform1D(s0.0, s1.0, s2.0, s3.0), bottom = outputTransform1D(s0.1, s1.1, s2.1, s3.1)
        store(top.0, 0)
        if columns > 1 { store(top.1, g.oc) }
        if rows > 1 {
            store(bottom.0, g.ow &* g.oc)
            if columns > 1 { store(bottom.1, (g.ow &+ 1) &* g.oc) }
        }
    }

    /// `Aᵀ·(m0, m1, m2, m3)`: `(m0 + m1 + m2, m1 − m2 − m3)`.
    @inlinable @inline(__always)
    static func outputTransform1D<V: SIMD>(_ m0: V, _ m1: V, _ m2: V, _ m3: V) -> (V, V) where V.Scalar == Float {
        ((m0 + m1) + m2, (m1 - m2) - m3)
    }
}
