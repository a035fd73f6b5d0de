/// A strided run of float32 rows: row `r`'s first value at `base + r · rowStride`.
public struct FloatRows {
    public let base: UnsafeMutablePointer<Float>
    public let rowStride: Int

    @inlinable public init(_ base: UnsafeMutablePointer<Float>, rowStride: Int) {
        (self.base, self.rowStride) = (base, rowStride)
    }

    @inlinable public subscript(row: Int) -> UnsafeMutablePointer<Float> { base + row * rowStride }
}

/// A tile of an LSTM step — `rows` rows of `count` units — as the fused cell's loops read it
/// (``CompiledLoopSet/lstmCell(_:)``).
///
/// Gate part `q` (of the four the gates' `[B, 4H]` splits into) of row `r` has its
/// pre-activation `(products[r] + q·productPart) + (inputs[r] + q·inputPart) + (bias + q·biasPart)`;
/// `order` names the parts that are the input, forget, cell and output gates.
public struct LSTMCellTile {
    public let rows: Int, count: Int
    public let order: (Int, Int, Int, Int)
    public let products: FloatRows, productPart: Int
    public let inputs: FloatRows, inputPart: Int
    public let bias: UnsafePointer<Float>, biasPart: Int
    public let cPrev: FloatRows, c: FloatRows, h: FloatRows
    /// `4 · rows · count` floats of working space.
    public let scratch: UnsafeMutablePointer<Float>

    @inlinable public init(rows: Int, count: Int, order: (Int, Int, Int, Int), products: FloatRows, productPart: Int, inputs: FloatRows,
                           inputPart: Int, bias: UnsafePointer<Float>, biasPart: Int, cPrev: FloatRows, c: FloatRows, h: FloatRows,
                           scratch: UnsafeMutablePointer<Float>) {
        (self.rows, self.count, self.order) = (rows, count, order)
        (self.products, self.productPart, self.inputs, self.inputPart, self.bias, self.biasPart) =
            (products, productPart, inputs, inputPart, bias, biasPart)
        (self.cPrev, self.c, self.h, self.scratch) = (cPrev, c, h, scratch)
    }

    /// The scratch block of `rows · count` values holding gate `k` (0 input, 1 forget,
    /// 2 output — the three sigmoids side by side — and 3 cell).
    @inlinable public func block(_ k: Int) -> UnsafeMutablePointer<Float> { scratch + k * rows * count }
}

/// The elementwise parts of an LSTM cell (float32), which the per-CPU builds run between
/// their sigmoid and tanh passes (``CompiledLoopSet/lstmCell(_:)``): Keras' cell with its
/// default activations, `c = σ(f)·c_prev + σ(i)·tanh(g)`, `h = σ(o)·tanh(c)`, after the
/// gates' GEMM.
///
/// The same operations in the same order as the unfused ops (`AddV2`, `BiasAdd`, `Sigmoid`,
/// `Tanh`, `Mul`, `AddV2`), so the same bits: a handful of passes over one tile in L1 where
/// the unfused plan makes eleven over the whole step.
extension VectorLoops {
    /// Each gate's pre-activation, `(product + input) + bias`, into its scratch block
    /// (``LSTMCellTile/block(_:)``).
    @inlinable @inline(__always)
    public static func lstmPreActivations(_ tile: LSTMCellTile) {
        let width = VectorMath.width, n = tile.count
        for k in 0..<4 {
            let part = k == 0 ? tile.order.0 : k == 1 ? tile.order.1 : k == 2 ? tile.order.3 : tile.order.2
            let bias = tile.bias + part * tile.biasPart, block = tile.block(k)
            for r in 0..<tile.rows {
                let p = UnsafePointer(tile.products[r] + part * tile.productPart), x = UnsafePointer(tile.inputs[r] + part * tile.inputPart)
                let out = block + r * n
                var j = 0
                while j + width <= n {
                    VectorMath.store((VectorMath.load(p + j) + VectorMath.load(x + j)) + VectorMath.load(bias + j), out + j)
                    j += width
                }
                while j < n { out[j] = (p[j] + x[j]) + bias[j]; j += 1 }
            }
        }
    }

    /// `c = f·c_prev + i·g` from the activated gates, into `c` and, for the tanh pass that
    /// follows, into the input gate's block (which it no longer needs).
    @inlinable @inline(__always)
    public static func lstmState(_ tile: LSTMCellTile) {
        let width = VectorMath.width, n = tile.count
        let (i, f, g) = (tile.block(0), tile.block(1), tile.block(3))
        for r in 0..<tile.rows {
            let (ir, fr, gr, cp, c) = (i + r * n, f + r * n, g + r * n, UnsafePointer(tile.cPrev[r]), tile.c[r])
            var j = 0
            while j + width <= n {
                let v = VectorMath.load(fr + j) * VectorMath.load(cp + j) + VectorMath.load(ir + j) * VectorMath.load(gr + j)
                VectorMath.store(v, c + j)
                VectorMath.store(v, ir + j)
                j += width
            }
            while j < n { let v = fr[j] * cp[j] + ir[j] * gr[j]; (c[j], ir[j]) = (v, v); j += 1 }
        }
    }

    /// `h = o · tanh(c)`, `tanh(c)` in the input gate's block.
    @inlinable @inline(__always)
    public static func lstmOutput(_ tile: LSTMCellTile) {
        let width = VectorMath.width, n = tile.count
        let (t, o) = (tile.block(0), tile.block(2))
        for r in 0..<tile.rows {
            let (tr, or, h) = (t + r * n, o + r * n, tile.h[r])
            var j = 0
            while j + width <= n {
                VectorMath.store(VectorMath.load(or + j) * VectorMath.load(tr + j), h + j)
                j += width
            }
            while j < n { h[j] = or[j] * tr[j]; j += 1 }
        }
    }
}

/// A tile of a GRU step — `rows` rows of `count` units — as the fused cell's loops read it
/// (``CompiledLoopSet/gruCell(_:)``).
///
/// Gate part `q` (of the three the gates' `[B, 3H]` split into) of row `r`: the recurrent
/// product `products[r] + q·productPart` plus its bias `bias + q·biasPart`, and the input
/// term `inputs[r] + q·inputPart`; `order` names the parts that are the update (`z`), reset
/// (`r`) and candidate gates.
public struct GRUCellTile {
    public let rows: Int, count: Int
    public let order: (Int, Int, Int)
    public let products: FloatRows, productPart: Int
    public let inputs: FloatRows, inputPart: Int
    public let bias: UnsafePointer<Float>, biasPart: Int
    public let hPrev: FloatRows, h: FloatRows
    /// `3 · rows · count` floats of working space.
    public let scratch: UnsafeMutablePointer<Float>

    @inlinable public init(rows: Int, count: Int, order: (Int, Int, Int), products: FloatRows, productPart: Int, inputs: FloatRows,
                           inputPart: Int, bias: UnsafePointer<Float>, biasPart: Int, hPrev: FloatRows, h: FloatRows,
                           scratch: UnsafeMutablePointer<Float>) {
        (self.rows, self.count, self.order) = (rows, count, order)
        (self.products, self.productPart, self.inputs, self.inputPart, self.bias, self.biasPart) =
            (products, productPart, inputs, inputPart, bias, biasPart)
        (self.hPrev, self.h, self.scratch) = (hPrev, h, scratch)
    }

    /// The scratch block of `rows · count` values holding gate `k` (0 update, 1 reset — the
    /// two sigmoids side by side — and 2 candidate).
    @inlinable public func block(_ k: Int) -> UnsafeMutablePointer<Float> { scratch + k * rows * count }
}

/// The elementwise parts of a GRU cell (float32) between the per-CPU builds' sigmoid and
/// tanh passes (``CompiledLoopSet/gruCell(_:)``): Keras' cell with `reset_after` (TF 2's
/// default) and its default activations, `z = σ(x_z + m_z)`, `r = σ(x_r + m_r)`,
/// `h = z·h_prev + (1 − z)·tanh(x_h + r·m_h)` with `m = h_prev·U + b`, after the GEMM — the
/// same operations in the same order as the unfused ops, so the same bits.
extension VectorLoops {
    /// `x_z + m_z` and `x_r + m_r` into blocks 0 and 1, `m_h` into block 2, each `m` the
    /// product plus its bias.
    @inlinable @inline(__always)
    public static func gruPreActivations(_ tile: GRUCellTile) {
        let width = VectorMath.width, n = tile.count
        for k in 0..<3 {
            let part = k == 0 ? tile.order.0 : k == 1 ? tile.order.1 : tile.order.2
            let bias = tile.bias + part * tile.biasPart, block = tile.block(k), addsInput = k < 2
            for r in 0..<tile.rows {
                let p = UnsafePointer(tile.products[r] + part * tile.productPart), x = UnsafePointer(tile.inputs[r] + part * tile.inputPart)
                let out = block + r * n
                var j = 0
                while j + width <= n {
                    let m = VectorMath.load(p + j) + VectorMath.load(bias + j)
                    VectorMath.store(addsInput ? VectorMath.load(x + j) + m : m, out + j)
                    j += width
                }
                while j < n { let m = p[j] + bias[j]; out[j] = addsInput ? x[j] + m : m; j += 1 }
            }
        }
    }

    /// The candidate's pre-activation `x_h + r·m_h`, in block 2.
    @inlinable @inline(__always)
    public static func gruCandidate(_ tile: GRUCellTile) {
        let width = VectorMath.width, n = tile.count, part = tile.order.2
        let (r, m) = (tile.block(1), tile.block(2))
        for row in 0..<tile.rows {
            let (rr, mr, x) = (r + row * n, m + row * n, UnsafePointer(tile.inputs[row] + part * tile.inputPart))
            var j = 0
            while j + width <= n {
                VectorMath.store(VectorMath.load(x + j) + VectorMath.load(rr + j) * VectorMath.load(mr + j), mr + j)
                j += width
            }
            while j < n { mr[j] = x[j] + rr[j] * mr[j]; j += 1 }
        }
    }

    /// `h = z·h_prev + (1 − z)·c` from the update gate (block 0) and the activated candidate
    /// (block 2).
    @inlinable @inline(__always)
    public static func gruOutput(_ tile: GRUCellTile) {
        let width = VectorMath.width, n = tile.count, one = VectorMath.V(repeating: 1)
        let (z, c) = (tile.block(0), tile.block(2))
        for row in 0..<tile.rows {
            let (zr, cr, hp, h) = (z + row * n, c + row * n, UnsafePointer(tile.hPrev[row]), tile.h[row])
            var j = 0
            while j + width <= n {
                let zv = VectorMath.load(zr + j)
                VectorMath.store(zv * VectorMath.load(hp + j) + (one - zv) * VectorMath.load(cr + j), h + j)
                j += width
            }
            while j < n { h[j] = zr[j] * hp[j] + (1 - zr[j]) * cr[j]; j += 1 }
        }
    }
}
