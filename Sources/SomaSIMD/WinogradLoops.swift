/// The fields of a Winograd F(2×2, 3×3), F(4×4, 3×3) or F(2×2, 5×5) convolution's geometry
/// the tile transforms read (NHWC image `[H, W, C]`, output `[OH, OW, OC]`, the padding
/// before the first row and column, the window's side, the tile's); the window is square at
/// unit stride and dilation.
public struct WinogradGeometry: Sendable {
    public let h, w, c, oc, oh, ow, padTop, padLeft: Int
    /// The window's side: 3 or 5.
    public let window: Int
    /// The side of a tile's block of outputs: 2, or 4 for a 3×3 window.
    public let tile: Int

    public init(h: Int, w: Int, c: Int, oc: Int, oh: Int, ow: Int, padTop: Int, padLeft: Int, window: Int = 3, tile: Int = 2) {
        (self.h, self.w, self.c, self.oc, self.oh, self.ow, self.padTop, self.padLeft) = (h, w, c, oc, oh, ow, padTop, padLeft)
        (self.window, self.tile) = (window, tile)
    }

    /// Tiles (`tile × tile` output blocks) per row of tiles.
    @inlinable public var tilesPerRow: Int { (ow &+ tile &- 1) / tile }
    /// The side of a tile's input block and of its transforms: 4 for F(2×2, 3×3), 6 for
    /// F(4×4, 3×3) and F(2×2, 5×5).
    @inlinable public var side: Int { window &+ tile &- 1 }
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
    /// F(4×4, 3×3) and F(2×2, 5×5) tiles read 6×6 blocks (rows `tile` apart) into `v`
    /// `[36, count, C]` (``winograd5InputVector(_:_:_:into:stride:)``).
    @inlinable @inline(__always)
    public static func winogradInputTiles(_ g: WinogradGeometry, image: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>,
                                          firstRow: Int, count: Int) {
        let stride = count &* g.c, six = g.side == 6
        forEachTileBlock(g, image: image, firstRow: firstRow, count: count) { pixels, t in
            let tile = v + (t &* g.c)
            // Sixteen channels at a time, then four; no generic helper here, whose
            // specialisations the per-CPU builds would each define (check-cpu-dispatch.sh).
            var channel = 0
            if six {
                while channel &+ 16 <= g.c { winograd5InputVector(SIMD16<Float>.self, pixels, channel, into: tile, stride: stride); channel &+= 16 }
                while channel < g.c { winograd5InputVector(SIMD4<Float>.self, pixels, channel, into: tile, stride: stride); channel &+= 4 }
            } else {
                while channel &+ 16 <= g.c { winogradInputVector(SIMD16<Float>.self, pixels, channel, into: tile, stride: stride); channel &+= 16 }
                while channel < g.c { winogradInputVector(SIMD4<Float>.self, pixels, channel, into: tile, stride: stride); channel &+= 4 }
            }
        }
    }

    /// Calls `body(pixels, t)` for each of the `count` tiles from tile row `firstRow` of
    /// `image` — tile `t` at row `firstRow + t / tilesPerRow`, column `t % tilesPerRow` —
    /// with `pixels` the pointers to the `side × side` pixels of its input block, row by row
    /// from row `tile·row − padTop`, column `tile·column − padLeft` (nil in the padding).
    @inlinable @inline(__always)
    static func forEachTileBlock(_ g: WinogradGeometry, image: UnsafePointer<Float>, firstRow: Int, count: Int,
                                 _ body: (UnsafeMutablePointer<UnsafePointer<Float>?>, Int) -> Void) {
        let side = g.side, tilesPerRow = g.tilesPerRow
        // On the stack: at most 6×6 pointers.
        withUnsafeTemporaryAllocation(of: UnsafePointer<Float>?.self, capacity: 36) { buffer in
            let pixels = buffer.baseAddress!
            for t in 0..<count {
                let top = g.tile &* (firstRow &+ t / tilesPerRow) &- g.padTop, left = g.tile &* (t % tilesPerRow) &- g.padLeft
                for r in 0..<side {
                    let y = top &+ r
                    for s in 0..<side {
                        let x = left &+ s
                        pixels[r &* side &+ s] = y >= 0 && y < g.h && x >= 0 && x < g.w ? image + ((y &* g.w &+ x) &* g.c) : nil
                    }
                }
                body(pixels, t)
            }
        }
    }

    /// Channels `channel…` of a block's pixel, zeros in the padding (`nil`).
    @inlinable @inline(__always)
    static func blockPixel<V: SIMD>(_: V.Type, _ pixel: UnsafePointer<Float>?, _ channel: Int) -> V where V.Scalar == Float {
        guard let pixel else { return V() }
        return UnsafeRawPointer(pixel + channel).loadUnaligned(as: V.self)
    }

    @inlinable @inline(__always)
    static func winogradInputVector<V: SIMD>(_: V.Type, _ pixels: UnsafeMutablePointer<UnsafePointer<Float>?>, _ channel: Int,
                                             into v: UnsafeMutablePointer<Float>, stride: Int) where V.Scalar == Float {
        @inline(__always) func d(_ r: Int, _ s: Int) -> V { blockPixel(V.self, pixels[r &* 4 &+ s], channel) }
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
    /// A 5×5 window's products are `[36, count, OC]`, `Aᵀ` 2×6
    /// (``winograd5OutputVector(_:_:stride:_:_:into:rows:columns:)``); F(4×4, 3×3)'s
    /// `[36, count, OC]`, `Aᵀ` 4×6 (``winograd4OutputVector(_:_:stride:_:_:into:rows:columns:)``).
    @inlinable @inline(__always)
    public static func winogradOutputTiles(_ g: WinogradGeometry, products m: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>,
                                           firstRow: Int, count: Int) {
        let stride = count &* g.oc, tilesPerRow = g.tilesPerRow, five = g.window == 5, four = g.tile == 4
        for t in 0..<count {
            let y = g.tile &* (firstRow &+ t / tilesPerRow), x = g.tile &* (t % tilesPerRow)
            let rows = Swift.min(g.tile, g.oh &- y), columns = Swift.min(g.tile, g.ow &- x)
            let offset: Int = (y &* g.ow &+ x) &* g.oc
            let target = output + offset, tile = m + t &* g.oc
            @inline(__always) func outputs<V: SIMD>(_: V.Type, _ o: Int) where V.Scalar == Float {
                if four {
                    winograd4OutputVector(V.self, tile, stride: stride, o, g, into: target, rows: rows, columns: columns)
                } else if five {
                    winograd5OutputVector(V.self, tile, stride: stride, o, g, into: target, rows: rows, columns: columns)
                } else {
                    winogradOutputVector(V.self, tile, stride: stride, o, g, into: target, rows: rows, columns: columns)
                }
            }
            var o = 0
            while o &+ 16 <= g.oc { outputs(SIMD16<Float>.self, o); o &+= 16 }
            while o < g.oc { outputs(SIMD4<Float>.self, o); o &+= 4 }
        }
    }

    @inlinable @inline(__always)
    static func winogradOutputVector<V: SIMD>(_: V.Type, _ m: UnsafePointer<Float>, stride: Int, _ o: Int, _ g: WinogradGeometry,
                                              into target: UnsafeMutablePointer<Float>, rows: Int, columns: Int) where V.Scalar == Float {
        @inline(__always) func p(_ i: Int, _ j: Int) -> V { UnsafeRawPointer(m + ((i &* 4 &+ j) &* stride &+ o)).loadUnaligned(as: V.self) }
        // Columns first: s[·][j] = Aᵀ·M[·][j]; then each row a: Y[a][·] = Aᵀ·s[a][·].
        let s0 = outputTransform1D(p(0, 0), p(1, 0), p(2, 0), p(3, 0)), s1 = outputTransform1D(p(0, 1), p(1, 1), p(2, 1), p(3, 1))
        let s2 = outputTransform1D(p(0, 2), p(1, 2), p(2, 2), p(3, 2)), s3 = outputTransform1D(p(0, 3), p(1, 3), p(2, 3), p(3, 3))
        storeTile(outputTransform1D(s0.0, s1.0, s2.0, s3.0), outputTransform1D(s0.1, s1.1, s2.1, s3.1), o, g,
                  into: target, rows: rows, columns: columns)
    }

    /// A tile's 2×2 outputs (`top`, `bottom`: its rows) at `target`, channel `o`, those
    /// inside the output (`rows`, `columns`: 1 or 2). `bottom` is computed only when stored.
    @inlinable @inline(__always)
    static func storeTile<V: SIMD>(_ top: (V, V), _ bottom: @autoclosure () -> (V, V), _ o: Int, _ g: WinogradGeometry,
                                   into target: UnsafeMutablePointer<Float>, rows: Int, columns: Int) where V.Scalar == Float {
        @inline(__always) func store(_ value: V, _ offset: Int) { UnsafeMutableRawPointer(target + (offset &+ o)).storeBytes(of: value, as: V.self) }
        store(top.0, 0)
        if columns > 1 { store(top.1, g.oc) }
        if rows > 1 {
            let bottom = bottom()
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

/// The input and output transforms of Winograd F(2×2, 5×5) tiles: the Toom-Cook
/// construction at the points 0, ±1, ±2 and ∞ (Lavin and Gray's for F(4×4, 3×3), whose
/// `Bᵀ` it shares), 36 products per tile where the direct sum takes 100. Vectorised along
/// the channels, additions, subtractions and multiplications by 2, 4 and 5 in a fixed order,
/// so every build computes the same bits.
extension VectorLoops {
    /// A tile's `V[ξ][·] = (Bᵀ d B)_ξ` at `channel` from the pixels of its 6×6 input block
    /// (``forEachTileBlock(_:image:firstRow:count:_:)``) into `v` (rows `stride` apart).
    /// `Bᵀ = [[4, 0, −5, 0, 1, 0], [0, −4, −4, 1, 1, 0], [0, 4, −4, −1, 1, 0],
    /// [0, −2, −1, 2, 1, 0], [0, 2, −1, −2, 1, 0], [0, 4, 0, −5, 0, 1]]`.
    @inlinable @inline(__always)
    static func winograd5InputVector<V: SIMD>(_: V.Type, _ pixels: UnsafeMutablePointer<UnsafePointer<Float>?>, _ channel: Int,
                                              into v: UnsafeMutablePointer<Float>, stride: Int) where V.Scalar == Float {
        @inline(__always) func d(_ r: Int, _ s: Int) -> V { blockPixel(V.self, pixels[r &* 6 &+ s], channel) }
        @inline(__always) func at(_ i: Int, _ j: Int) -> UnsafeMutableRawPointer {
            UnsafeMutableRawPointer(v + ((i &* 6 &+ j) &* stride &+ channel))
        }
        // Columns first, into V's own slots: t[·][s] = Bᵀ·d[·][s]; then each row i in place:
        // V[i][·] = Bᵀ·t[i][·] (the slots are this tile's and channel's, in cache).
        for s in 0..<6 {
            let x = inputTransform6(d(0, s), d(1, s), d(2, s), d(3, s), d(4, s), d(5, s))
            at(0, s).storeBytes(of: x.0, as: V.self); at(1, s).storeBytes(of: x.1, as: V.self)
            at(2, s).storeBytes(of: x.2, as: V.self); at(3, s).storeBytes(of: x.3, as: V.self)
            at(4, s).storeBytes(of: x.4, as: V.self); at(5, s).storeBytes(of: x.5, as: V.self)
        }
        for i in 0..<6 {
            @inline(__always) func t(_ j: Int) -> V { at(i, j).load(as: V.self) }
            let x = inputTransform6(t(0), t(1), t(2), t(3), t(4), t(5))
            at(i, 0).storeBytes(of: x.0, as: V.self); at(i, 1).storeBytes(of: x.1, as: V.self)
            at(i, 2).storeBytes(of: x.2, as: V.self); at(i, 3).storeBytes(of: x.3, as: V.self)
            at(i, 4).storeBytes(of: x.4, as: V.self); at(i, 5).storeBytes(of: x.5, as: V.self)
        }
    }

    /// `Bᵀ·(d0, …, d5)`: `(4d0 − 5d2 + d4, a + b, a − b, e + f, e − f, 4d1 − 5d3 + d5)` with
    /// `a = d4 − 4d2`, `b = d3 − 4d1`, `e = d4 − d2`, `f = 2(d3 − d1)`.
    @inlinable @inline(__always)
    static func inputTransform6<V: SIMD>(_ d0: V, _ d1: V, _ d2: V, _ d3: V, _ d4: V, _ d5: V) -> (V, V, V, V, V, V)
    where V.Scalar == Float {
        let a = d4 - d2 * 4, b = d3 - d1 * 4, e = d4 - d2, f = (d3 - d1) * 2
        return ((d0 * 4 - d2 * 5) + d4, a + b, a - b, e + f, e - f, (d1 * 4 - d3 * 5) + d5)
    }

    /// A tile's outputs `Aᵀ M A` at channel `o` from its products `m` (`[36, count, OC]`, rows
    /// `stride` apart), those inside the output written at `target`.
    /// `Aᵀ = [[1, 1, 1, 1, 1, 0], [0, 1, −1, 2, −2, 1]]`.
    @inlinable @inline(__always)
    static func winograd5OutputVector<V: SIMD>(_: V.Type, _ m: UnsafePointer<Float>, stride: Int, _ o: Int, _ g: WinogradGeometry,
                                               into target: UnsafeMutablePointer<Float>, rows: Int, columns: Int) where V.Scalar == Float {
        @inline(__always) func p(_ i: Int, _ j: Int) -> V { UnsafeRawPointer(m + ((i &* 6 &+ j) &* stride &+ o)).loadUnaligned(as: V.self) }
        @inline(__always) func column(_ j: Int) -> (V, V) { outputTransform6(p(0, j), p(1, j), p(2, j), p(3, j), p(4, j), p(5, j)) }
        // Columns first: s[·][j] = Aᵀ·M[·][j]; then each row a: Y[a][·] = Aᵀ·s[a][·].
        let s0 = column(0), s1 = column(1), s2 = column(2), s3 = column(3), s4 = column(4), s5 = column(5)
        storeTile(outputTransform6(s0.0, s1.0, s2.0, s3.0, s4.0, s5.0), outputTransform6(s0.1, s1.1, s2.1, s3.1, s4.1, s5.1), o, g,
                  into: target, rows: rows, columns: columns)
    }

    /// `Aᵀ·(m0, …, m5)`: `(m0 + (m1 + m2) + (m3 + m4), (m1 − m2) + 2(m3 − m4) + m5)`.
    @inlinable @inline(__always)
    static func outputTransform6<V: SIMD>(_ m0: V, _ m1: V, _ m2: V, _ m3: V, _ m4: V, _ m5: V) -> (V, V) where V.Scalar == Float {
        ((m0 + (m1 + m2)) + (m3 + m4), ((m1 - m2) + (m3 - m4) * 2) + m5)
    }
}

/// The transform of an output gradient's 2×2 tiles for Winograd filter gradients
/// (F(3×3, 2×2) and F(5×5, 2×2)): a filter gradient is, per tile, the correlation of the
/// tile's input block `d` with its 2×2 block of `dy`, and transposing the forward tile
/// `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A` in `g` gives `dG = Gᵀ [(Bᵀ d B) ⊙ (A dY Aᵀ)] G` — the
/// forward's input transform, this one (`A dY Aᵀ`), and `Gᵀ·G` once per call on the sum over
/// tiles. Additions, subtractions and doublings in a fixed order, so every build computes the
/// same bits.
extension VectorLoops {
    /// `W[ξ][t][·] = (A dY Aᵀ)_ξ` for the `count` tiles from tile row `firstRow` of an image's
    /// output gradient `dy` (`[OH, OW, OC]`; ``winogradInputTiles(_:image:into:firstRow:count:)``'s
    /// order, 2×2 tiles: `g.tile` 2), zeros beyond the output; `w` is `[16, count, OC]` for a 3×3 window
    /// (`A = Aᵀᵀ`, `Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]`), `[36, count, OC]` for 5×5
    /// (`Aᵀ = [[1, 1, 1, 1, 1, 0], [0, 1, −1, 2, −2, 1]]`). `OC` a multiple of 4.
    @inlinable @inline(__always)
    public static func winogradGradientTiles(_ g: WinogradGeometry, outBackprop dy: UnsafePointer<Float>, into w: UnsafeMutablePointer<Float>,
                                             firstRow: Int, count: Int) {
        let stride = count &* g.oc, tilesPerRow = g.tilesPerRow, five = g.window == 5
        for t in 0..<count {
            let y = 2 &* (firstRow &+ t / tilesPerRow), x = 2 &* (t % tilesPerRow)
            let top = dy + (y &* g.ow &+ x) &* g.oc, right = x &+ 1 < g.ow, below = y &+ 1 < g.oh
            let pixels = (top, right ? top + g.oc : nil, below ? top + g.ow &* g.oc : nil,
                          right && below ? top + (g.ow &+ 1) &* g.oc : nil)
            let tile = w + t &* g.oc
            // As in winogradInputTiles: no generic local helper.
            var o = 0
            if five {
                while o &+ 16 <= g.oc { winograd5GradientVector(SIMD16<Float>.self, pixels, o, into: tile, stride: stride); o &+= 16 }
                while o < g.oc { winograd5GradientVector(SIMD4<Float>.self, pixels, o, into: tile, stride: stride); o &+= 4 }
            } else {
                while o &+ 16 <= g.oc { winogradGradientVector(SIMD16<Float>.self, pixels, o, into: tile, stride: stride); o &+= 16 }
                while o < g.oc { winogradGradientVector(SIMD4<Float>.self, pixels, o, into: tile, stride: stride); o &+= 4 }
            }
        }
    }

    /// A tile's `(A dY Aᵀ)_ξ` for a 3×3 window at channel `o`, from its 2×2 pixels
    /// (top left, top right, bottom left, bottom right; nil beyond the output), into `w`
    /// (rows `stride` apart).
    @inlinable @inline(__always)
    static func winogradGradientVector<V: SIMD>(_: V.Type, _ pixels: GradientTilePixels, _ o: Int, into w: UnsafeMutablePointer<Float>,
                                                stride: Int) where V.Scalar == Float {
        let y00: V = blockPixel(V.self, pixels.0, o), y01: V = blockPixel(V.self, pixels.1, o)
        let y10: V = blockPixel(V.self, pixels.2, o), y11: V = blockPixel(V.self, pixels.3, o)
        // Columns first: t[·][b] = A·(y0b, y1b); then each row i: W[i][·] = A·(t[i][0], t[i][1]).
        let c0 = gradientTransform4(y00, y10), c1 = gradientTransform4(y01, y11)
        @inline(__always) func row(_ i: Int, _ a: V, _ b: V) {
            let x = gradientTransform4(a, b), base = UnsafeMutableRawPointer(w + (i &* 4 &* stride &+ o))
            let step = stride &* MemoryLayout<Float>.stride
            base.storeBytes(of: x.0, as: V.self); (base + step).storeBytes(of: x.1, as: V.self)
            (base + 2 &* step).storeBytes(of: x.2, as: V.self); (base + 3 &* step).storeBytes(of: x.3, as: V.self)
        }
        row(0, c0.0, c1.0); row(1, c0.1, c1.1); row(2, c0.2, c1.2); row(3, c0.3, c1.3)
    }

    /// `A·(y0, y1)` for a 3×3 window: `(y0, y0 + y1, y0 − y1, −y1)`.
    @inlinable @inline(__always)
    static func gradientTransform4<V: SIMD>(_ y0: V, _ y1: V) -> (V, V, V, V) where V.Scalar == Float {
        (y0, y0 + y1, y0 - y1, V() - y1)
    }

    /// A tile's `(A dY Aᵀ)_ξ` for a 5×5 window, as ``winogradGradientVector(_:_:_:into:stride:)``.
    @inlinable @inline(__always)
    static func winograd5GradientVector<V: SIMD>(_: V.Type, _ pixels: GradientTilePixels, _ o: Int, into w: UnsafeMutablePointer<Float>,
                                                 stride: Int) where V.Scalar == Float {
        let y00: V = blockPixel(V.self, pixels.0, o), y01: V = blockPixel(V.self, pixels.1, o)
        let y10: V = blockPixel(V.self, pixels.2, o), y11: V = blockPixel(V.self, pixels.3, o)
        let c0 = gradientTransform6(y00, y10), c1 = gradientTransform6(y01, y11)
        @inline(__always) func row(_ i: Int, _ a: V, _ b: V) {
            let x = gradientTransform6(a, b), base = UnsafeMutableRawPointer(w + (i &* 6 &* stride &+ o))
            let step = stride &* MemoryLayout<Float>.stride
            base.storeBytes(of: x.0, as: V.self); (base + step).storeBytes(of: x.1, as: V.self)
            (base + 2 &* step).storeBytes(of: x.2, as: V.self); (base + 3 &* step).storeBytes(of: x.3, as: V.self)
            (base + 4 &* step).storeBytes(of: x.4, as: V.self); (base + 5 &* step).storeBytes(of: x.5, as: V.self)
        }
        row(0, c0.0, c1.0); row(1, c0.1, c1.1); row(2, c0.2, c1.2); row(3, c0.3, c1.3); row(4, c0.4, c1.4); row(5, c0.5, c1.5)
    }

    /// `A·(y0, y1)` for a 5×5 window: `(y0, y0 + y1, y0 − y1, y0 + 2y1, y0 − 2y1, y1)`.
    @inlinable @inline(__always)
    static func gradientTransform6<V: SIMD>(_ y0: V, _ y1: V) -> (V, V, V, V, V, V) where V.Scalar == Float {
        let twice = y1 + y1
        return (y0, y0 + y1, y0 - y1, y0 + twice, y0 - twice, y1)
    }
}

/// The pixels of an output gradient's 2×2 tile: top left, top right, bottom left, bottom
/// right (nil beyond the output).
public typealias GradientTilePixels = (UnsafePointer<Float>, UnsafePointer<Float>?, UnsafePointer<Float>?, UnsafePointer<Float>?)

/// The output transform of Winograd F(4×4, 3×3) tiles: 4×4 outputs from the 6×6 input
/// blocks of F(2×2, 5×5) (the same points 0, ±1, ±2, ∞ and the same `Bᵀ`, Lavin and Gray's),
/// 36 products per 16 outputs where F(2×2, 3×3) takes 64. Additions, subtractions and
/// multiplications by 2, 4 and 8 in a fixed order, so every build computes the same bits.
extension VectorLoops {
    /// A tile's outputs `Aᵀ M A` at channel `o` from its products `m` (`[36, count, OC]`, rows
    /// `stride` apart), those inside the output (`rows`, `columns`: 1 to 4) written at `target`.
    /// `Aᵀ = [[1, 1, 1, 1, 1, 0], [0, 1, −1, 2, −2, 0], [0, 1, 1, 4, 4, 0], [0, 1, −1, 8, −8, 1]]`.
    @inlinable @inline(__always)
    static func winograd4OutputVector<V: SIMD>(_: V.Type, _ m: UnsafePointer<Float>, stride: Int, _ o: Int, _ g: WinogradGeometry,
                                               into target: UnsafeMutablePointer<Float>, rows: Int, columns: Int) where V.Scalar == Float {
        @inline(__always) func p(_ i: Int, _ j: Int) -> V { UnsafeRawPointer(m + ((i &* 6 &+ j) &* stride &+ o)).loadUnaligned(as: V.self) }
        @inline(__always) func column(_ j: Int) -> (V, V, V, V) { outputTransform4(p(0, j), p(1, j), p(2, j), p(3, j), p(4, j), p(5, j)) }
        // Columns first: s[·][j] = Aᵀ·M[·][j]; then each row a: Y[a][·] = Aᵀ·s[a][·].
        let s0 = column(0), s1 = column(1), s2 = column(2), s3 = column(3), s4 = column(4), s5 = column(5)
        @inline(__always) func store(_ a: Int, _ y: (V, V, V, V)) {
            let row = target + (a &* g.ow &* g.oc &+ o)
            @inline(__always) func put(_ b: Int, _ value: V) { UnsafeMutableRawPointer(row + b &* g.oc).storeBytes(of: value, as: V.self) }
            put(0, y.0)
            if columns > 1 { put(1, y.1) }
            if columns > 2 { put(2, y.2) }
            if columns > 3 { put(3, y.3) }
        }
        store(0, outputTransform4(s0.0, s1.0, s2.0, s3.0, s4.0, s5.0))
        if rows > 1 { store(1, outputTransform4(s0.1, s1.1, s2.1, s3.1, s4.1, s5.1)) }
        if rows > 2 { store(2, outputTransform4(s0.2, s1.2, s2.2, s3.2, s4.2, s5.2)) }
        if rows > 3 { store(3, outputTransform4(s0.3, s1.3, s2.3, s3.3, s4.3, s5.3)) }
    }

    /// `Aᵀ·(m0, …, m5)` for F(4×4, 3×3): `(m0 + a + c, b + 2d, a + 4c, (b + 8d) + m5)` with
    /// `a = m1 + m2`, `b = m1 − m2`, `c = m3 + m4`, `d = m3 − m4`.
    @inlinable @inline(__always)
    static func outputTransform4<V: SIMD>(_ m0: V, _ m1: V, _ m2: V, _ m3: V, _ m4: V, _ m5: V) -> (V, V, V, V) where V.Scalar == Float {
        let a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4
        return ((m0 + a) + c, b + d * 2, a + c * 4, (b + d * 8) + m5)
    }
}
