import CXSMM
import SomaSIMD
import CBLAS
import Foundation

/// Kernels for convolution and pooling over NHWC images. Float32 convolutions, unstrided
/// input gradients and filter gradients run as direct kernels where those measured faster
/// (`Conv+Direct.swift`). Otherwise — float64, strided input gradients, pointwise, narrow
/// or large filters — convolution is im2col + GEMM: a patch matrix `[OH·OW, KH·KW·C]` (in
/// per-thread scratch) times the HWIO filter viewed as `[KH·KW·C, OC]` (in LIBXSMM where the
/// filter block fits half of L2, which OpenBLAS would pack on every call); its backprops are
/// the transposed products, with col2im for the input gradient. Images or fixed blocks of
/// rows run in parallel; the filter gradient sums fixed groups of images, then the groups
/// in order, so results never depend on the thread count.
enum ConvKernels {
    static let table: [String: CPUKernel] = [
        "Conv2D": { ctx in
            let x = ctx.inputs[0], f = ctx.inputs[1], out = try ctx.allocateOutput(0, zeroed: false)
            let geometry = try ctx.node.convGeometry ?? Geometry(input: x.shape, filter: f.shape, attrs: ctx.node.attrs)
            if x.dtype == .float32 {
                try forward(x, f, out, geometry, ctx, Float.self, panels: ctx.node.weightPanels, winogradFilter: ctx.node.winogradFilter)
            } else {
                try forward(x, f, out, geometry, ctx, Double.self)
            }
            ctx.setOutput(0, out)
        },
        "_SomaFusedConv2D": { ctx in
            let x = ctx.inputs[0], f = ctx.inputs[1], out = try ctx.allocateOutput(0, zeroed: false)
            let geometry = try ctx.node.convGeometry ?? Geometry(input: x.shape, filter: f.shape, attrs: ctx.node.attrs)
            let (biased, activation, swish) = fusedOps(ctx)
            if x.dtype == .float32 {
                let pb = biased ? ctx.inputs[2].pointer(as: Float.self) : nil
                try forward(x, f, out, geometry, ctx, Float.self, panels: ctx.node.weightPanels, winogradFilter: ctx.node.winogradFilter,
                            epilogue: Epilogue(bias: pb, activation: activation, swish: swish, channels: geometry.oc))
            } else {
                let pb = biased ? ctx.inputs[2].pointer(as: Double.self) : nil
                try forward(x, f, out, geometry, ctx, Double.self,
                            epilogue: Epilogue(bias: pb, activation: activation, swish: swish, channels: geometry.oc))
            }
            ctx.setOutput(0, out)
        },
        "Conv2DBackpropInput": { ctx in
            let f = ctx.inputs[1], dy = ctx.inputs[2], out = try ctx.allocateOutput(0, zeroed: false)
            let geometry = try ctx.node.convGeometry ?? Geometry(input: out.shape, filter: f.shape, attrs: ctx.node.attrs)
            try geometry.check(outBackprop: dy.shape)
            if f.dtype == .float32 { try backpropInput(f, dy, out, geometry, ctx, Float.self) } else { try backpropInput(f, dy, out, geometry, ctx, Double.self) }
            ctx.setOutput(0, out)
        },
        "Conv2DBackpropFilter": { ctx in
            let x = ctx.inputs[0], dy = ctx.inputs[2], out = try ctx.allocateOutput(0, zeroed: false)
            let geometry = try ctx.node.convGeometry ?? Geometry(input: x.shape, filter: out.shape, attrs: ctx.node.attrs)
            try geometry.check(outBackprop: dy.shape)
            if x.dtype == .float32 { try backpropFilter(x, dy, out, geometry, ctx, Float.self) } else { try backpropFilter(x, dy, out, geometry, ctx, Double.self) }
            ctx.setOutput(0, out)
        },
        "FusedBatchNormV3": { ctx in
            if ctx.inputs[0].dtype == .float32 { try batchNorm(ctx, Float.self) } else { try batchNorm(ctx, Double.self) }
        },
        "FusedBatchNormGradV3": { ctx in
            if ctx.inputs[0].dtype == .float32 { try batchNormGrad(ctx, Float.self) } else { try batchNormGrad(ctx, Double.self) }
        },
        "DepthwiseConv2dNative": { ctx in
            let x = ctx.inputs[0], f = ctx.inputs[1], out = try ctx.allocateOutput(0, zeroed: false)
            let g = try ctx.node.convGeometry ?? Geometry(input: x.shape, filter: f.shape, attrs: ctx.node.attrs)
            if x.dtype == .float32 { try depthwise(.forward, x: x, f: f, dy: out, g, ctx, Float.self) } else { try depthwise(.forward, x: x, f: f, dy: out, g, ctx, Double.self) }
            ctx.setOutput(0, out)
        },
        "_SomaFusedDepthwiseConv2dNative": { ctx in
            let x = ctx.inputs[0], f = ctx.inputs[1], out = try ctx.allocateOutput(0, zeroed: false)
            let g = try ctx.node.convGeometry ?? Geometry(input: x.shape, filter: f.shape, attrs: ctx.node.attrs)
            let (biased, activation, swish) = fusedOps(ctx)
            let channels = g.c * g.oc
            if x.dtype == .float32 {
                let pb = biased ? ctx.inputs[2].pointer(as: Float.self) : nil
                // No activation or one in vector form (which the unfused op would also run in
                // vectors: a row of at least one vector): in the rows' registers.
                let function = activation.flatMap(NNKernels.floatVectorActivation)
                if !swish, function != nil ? pb != nil || g.ow * channels >= VectorMath.width : activation == nil {
                    try depthwise(.forward, x: x, f: f, dy: out, g, ctx, Float.self, rowEpilogue: RowEpilogue(bias: pb, function: function))
                } else {
                    try depthwise(.forward, x: x, f: f, dy: out, g, ctx, Float.self,
                                  epilogue: Epilogue(bias: pb, activation: activation, swish: swish, channels: channels))
                }
            } else {
                let pb = biased ? ctx.inputs[2].pointer(as: Double.self) : nil
                try depthwise(.forward, x: x, f: f, dy: out, g, ctx, Double.self,
                              epilogue: Epilogue(bias: pb, activation: activation, swish: swish, channels: channels))
            }
            ctx.setOutput(0, out)
        },
        "DepthwiseConv2dNativeBackpropInput": { ctx in
            let f = ctx.inputs[1], dy = ctx.inputs[2], out = try ctx.allocateOutput(0, zeroed: false)
            let g = try ctx.node.convGeometry ?? Geometry(input: out.shape, filter: f.shape, attrs: ctx.node.attrs)
            try g.check(outBackprop: [dy.shape[0], dy.shape[1], dy.shape[2], dy.shape[3] / Swift.max(g.c, 1)])
            if f.dtype == .float32 { try depthwise(.input, x: out, f: f, dy: dy, g, ctx, Float.self) } else { try depthwise(.input, x: out, f: f, dy: dy, g, ctx, Double.self) }
            ctx.setOutput(0, out)
        },
        "DepthwiseConv2dNativeBackpropFilter": { ctx in
            let x = ctx.inputs[0], dy = ctx.inputs[2], out = try ctx.allocateOutput(0, zeroed: false)
            let g = try ctx.node.convGeometry ?? Geometry(input: x.shape, filter: out.shape, attrs: ctx.node.attrs)
            try g.check(outBackprop: [dy.shape[0], dy.shape[1], dy.shape[2], dy.shape[3] / Swift.max(g.c, 1)])
            if x.dtype == .float32 { try depthwise(.filter, x: x, f: out, dy: dy, g, ctx, Float.self) } else { try depthwise(.filter, x: x, f: out, dy: dy, g, ctx, Double.self) }
            ctx.setOutput(0, out)
        },
        "MaxPool": { ctx in try pool(ctx, max: true) },
        "AvgPool": { ctx in try pool(ctx, max: false) },
        "MaxPoolGrad": { ctx in try maxPoolGrad(ctx, reluGrad: false) },
        "_SomaFusedMaxPoolGrad": { ctx in try maxPoolGrad(ctx, reluGrad: true) },
        "AvgPoolGrad": { ctx in
            let g = ctx.inputs[1], out = try ctx.allocateOutput(0)
            let geometry = try ctx.node.convGeometry ?? Geometry(input: out.shape, window: ctx.node.attrs)
            try geometry.check(outBackprop: g.shape)
            if g.dtype == .float32 { avgPoolGrad(g, out, geometry, ctx, Float.self) } else { avgPoolGrad(g, out, geometry, ctx, Double.self) }
            ctx.setOutput(0, out)
        },
    ]

    /// A float32 bias and the function (in vector form) of `function(x + bias)` (without a
    /// bias: `function(x)`), which a depthwise row applies while its sums are in registers.
    struct RowEpilogue {
        let bias: UnsafePointer<Float>?
        let function: UnaryFunction?
    }

    /// A fused convolution's `fused_ops`: whether it adds a bias (its third input), the
    /// activation after it, if any, and whether that is swish (``FusedOps/swish``).
    static func fusedOps(_ ctx: KernelContext) -> (biased: Bool, activation: NNKernels.Activation?, swish: Bool) {
        let ops = ctx.node.strings("fused_ops") ?? []
        return (ops.first == "BiasAdd", ops.last.flatMap { FusedOps.elementwiseActivations[$0] }, ops.last == FusedOps.swish)
    }

    /// A fused convolution's epilogue on `rows` rows of `n` channels at `po`: the bias (when
    /// there is one), the activation, and swish, in the loops the unfused ops run — swish as
    /// `_SomaFusedElementwise` runs `Mul(x, Sigmoid(x))` —, so results are bitwise those of
    /// the separate ops.
    static func fusedEpilogue<T: FloatScalar>(_ po: UnsafeMutablePointer<T>, rows: Int, n: Int, _ bias: UnsafePointer<T>?,
                                              _ activation: NNKernels.Activation?, swish: Bool = false) {
        if let bias {
            FusedKernels.biasActivation(po, rows: rows, n: n, bias, activation, alpha: 0.2)
        } else if let activation {
            NNKernels.activate(activation, UnsafePointer(po), po, count: rows * n, alpha: 0.2)
        }
        guard swish else { return }
        let count = rows * n
        if T.self == Float.self, count >= VectorMath.width {
            let p = UnsafeMutableRawPointer(po).assumingMemoryBound(to: Float.self)
            VectorKernels.swish(p, p, count: count, beta: nil)
        } else {
            // The two loops in stack chunks (epilogues may run inside a kernel's ThreadScratch).
            withUnsafeTemporaryAllocation(of: T.self, capacity: 256) { sigmoid in
                for start in stride(from: 0, to: count, by: 256) {
                    let p = po + start, length = Swift.min(256, count - start)
                    NNKernels.activate(.sigmoid, UnsafePointer(p), sigmoid.baseAddress!, count: length, alpha: T(Double(0.2)))
                    MathKernels.binaryLoop(.mul, UnsafePointer(p), 1, UnsafePointer(sigmoid.baseAddress!), 1, p, count: length)
                }
            }
        }
    }

    /// A fused convolution's epilogue as plain data — ``fusedEpilogue(_:rows:n:_:_:swish:)``
    /// with these arguments —, which a kernel runs on each block of output rows while they
    /// are in cache; ``none`` does nothing. Data rather than a closure, so a kernel lends it
    /// to its helper threads without allocating (``ParallelFor``).
    struct Epilogue<T: FloatScalar> {
        var bias: UnsafePointer<T>? = nil
        var activation: NNKernels.Activation? = nil
        var swish = false
        /// Values per output position.
        var channels = 0

        static var none: Epilogue { Epilogue() }

        /// Runs the epilogue on `rows` output positions at `po`.
        func callAsFunction(_ po: UnsafeMutablePointer<T>, _ rows: Int) {
            fusedEpilogue(po, rows: rows, n: channels, bias, activation, swish: swish)
        }

        /// The same epilogue over float32 memory; `T` is `Float`.
        var float: Epilogue<Float> {
            Epilogue<Float>(bias: bias.map { UnsafeRawPointer($0).assumingMemoryBound(to: Float.self) }, activation: activation,
                            swish: swish, channels: channels)
        }
    }

    /// The geometry of a convolution or pooling node whose shapes a plan fixes.
    static func preparedGeometry(_ node: IRNode) -> Geometry? {
        func dims(_ k: Int) -> [Int]? { node.inputs[k].shape.concrete }
        func value(_ k: Int) -> [Int]? { KnownValues.constant(node.inputs[k])?.intScalars() }
        switch node.op {
        case "Conv2D", "DepthwiseConv2dNative", "_SomaFusedConv2D", "_SomaFusedDepthwiseConv2dNative":
            guard let x = dims(0), let f = dims(1) else { return nil }
            // A filter transformed for Winograd tiles is [S, S, C, OC]; its window is S − tile + 1 wide.
            let tile = node.winogradTile
            let window = node.winogradFilter && f.count == 4 ? [f[0] - tile + 1, f[1] - tile + 1] + f.suffix(2) : f
            return try? Geometry(input: x, filter: window, attrs: node.attrs)
        case "Conv2DBackpropInput", "DepthwiseConv2dNativeBackpropInput":
            guard let x = value(0), let f = dims(1) else { return nil }
            return try? Geometry(input: x, filter: f, attrs: node.attrs)
        case "Conv2DBackpropFilter", "DepthwiseConv2dNativeBackpropFilter":
            guard let x = dims(0), let f = value(1) else { return nil }
            return try? Geometry(input: x, filter: f, attrs: node.attrs)
        case "MaxPool", "AvgPool", "MaxPoolGrad", "_SomaFusedMaxPoolGrad":
            guard let x = dims(0) else { return nil }
            return try? Geometry(input: x, window: node.attrs)
        case "AvgPoolGrad":
            guard let x = value(0) else { return nil }
            return try? Geometry(input: x, window: node.attrs)
        default: return nil
        }
    }

    /// Concrete sizes of one convolution or pooling window.
    struct Geometry: Sendable {
        let n, h, w, c: Int
        let kh, kw, oc: Int
        let oh, ow, sh, sw, dh, dw, padTop, padLeft: Int
        var patch: Int { kh * kw * c }
        /// The fields the vector loops' depthwise rows read.
        var depthwise: DepthwiseGeometry {
            DepthwiseGeometry(h: h, w: w, c: c, kh: kh, kw: kw, oh: oh, ow: ow, sh: sh, sw: sw, dh: dh, dw: dw, padTop: padTop, padLeft: padLeft)
        }
        /// The fields the vector loops' narrow convolution rows read.
        var narrow: NarrowConvolutionGeometry {
            NarrowConvolutionGeometry(h: h, w: w, c: c, kh: kh, kw: kw, oc: oc, oh: oh, ow: ow, sh: sh, sw: sw, dh: dh, dw: dw, padTop: padTop,
                                      padLeft: padLeft)
        }
        /// The fields the vector loops' pooling rows read.
        var pooling: PoolGeometry {
            PoolGeometry(h: h, w: w, c: c, kh: kh, kw: kw, oh: oh, ow: ow, sh: sh, sw: sw, padTop: padTop, padLeft: padLeft)
        }

        init(input: [Int], filter: [Int], attrs: [String: AttrValue]) throws {
            guard input.count == 4, filter.count == 4 else { throw KernelError("input and filter must be 4-D: \(shapeString(input)), \(shapeString(filter))") }
            guard input[3] == filter[2] else {
                throw KernelError("input depth (\(input[3])) does not match the filter's input depth (\(filter[2]))")
            }
            let window = try Window(attrs: attrs, kernel: [filter[0], filter[1]])
            let (oh, top) = try window.output(input[1], dimension: 0), (ow, left) = try window.output(input[2], dimension: 1)
            (n, h, w, c, kh, kw, oc) = (input[0], input[1], input[2], input[3], filter[0], filter[1], filter[3])
            (self.oh, self.ow, sh, sw, dh, dw, padTop, padLeft) = (oh, ow, window.strides[0], window.strides[1], window.dilations[0],
                                                                   window.dilations[1], top, left)
        }

        init(input: [Int], window attrs: [String: AttrValue]) throws {
            guard case .ints(let ksize)? = attrs["ksize"], ksize.count == 4 else { throw KernelError("ksize must have 4 entries") }
            try self.init(input: input, filter: [ksize[1], ksize[2], input[3], input[3]], attrs: attrs.merging(["dilations": .ints([1, 1, 1, 1])]) { $1 })
        }

        private init(n: Int, h: Int, w: Int, c: Int, kh: Int, kw: Int, oc: Int, oh: Int, ow: Int,
                     dh: Int, dw: Int, padTop: Int, padLeft: Int) {
            (self.n, self.h, self.w, self.c, self.kh, self.kw, self.oc) = (n, h, w, c, kh, kw, oc)
            (self.oh, self.ow, sh, sw, self.dh, self.dw, self.padTop, self.padLeft) = (oh, ow, 1, 1, dh, dw, padTop, padLeft)
        }

        /// An unstrided convolution's input gradient as a forward convolution: input `[N, OH,
        /// OW, OC]` (`dy`), the filter rotated by 180° with its channel axes swapped
        /// (``ConvKernels/rotateFilter(_:into:_:)``), output `[N, H, W, C]`, the same
        /// dilation, and padding `(K−1)·d − pad` before each axis. Since
        /// `dx[iy] = Σ_ky dy[iy + padTop − ky·d]·f[ky]`, substituting `ky = KH−1−ky′` gives
        /// `dy[iy − padTop′ + ky′·d]`: a forward window. `nil` when strided (the gradient then
        /// needs fractional strides) or when the padding exceeds the window.
        var inputGradient: Geometry? {
            let top = (kh - 1) * dh - padTop, left = (kw - 1) * dw - padLeft
            guard sh == 1, sw == 1, top >= 0, left >= 0 else { return nil }
            return Geometry(n: n, h: oh, w: ow, c: oc, kh: kh, kw: kw, oc: c, oh: h, ow: w, dh: dh, dw: dw, padTop: top, padLeft: left)
        }

        /// The input rows inside the image that an undilated (pooling) window at output row
        /// `oy` covers: the loop bounds, so a huge window costs no more than the image.
        func inputRows(_ oy: Int) -> Range<Int> { Self.covered(start: oy * sh - padTop, window: kh, size: h) }
        /// The input columns inside the image that a pooling window at output column `ox` covers.
        func inputColumns(_ ox: Int) -> Range<Int> { Self.covered(start: ox * sw - padLeft, window: kw, size: w) }

        private static func covered(start: Int, window: Int, size: Int) -> Range<Int> {
            let lo = Swift.min(Swift.max(start, 0), size)
            let hi = start >= size ? lo : Swift.max(lo, Swift.min(size, start + Swift.min(window, size - start)))
            return lo..<hi
        }

        func check(outBackprop shape: [Int]) throws {
            guard shape == [n, oh, ow, oc] else {
                throw KernelError("out_backprop has shape \(shapeString(shape)) but the convolution's output has shape \(shapeString([n, oh, ow, oc]))")
            }
        }
    }

    /// `C = op(A)·op(B) + beta·C` on raw row-major buffers: float32 products in LIBXSMM where
    /// ``SmallGEMM`` (a filter block within half of L2, `B` not transposed, `beta` 0 — the
    /// forward pass) or ``BlockedGEMM`` (larger `B`, `beta` 0 or 1) takes them, the rest with
    /// `cblas_?gemm`. A float32 `B` in ``BlockedGEMM`` panels (`panels`) runs as its tiles:
    /// the caller has checked that they take the product (``panelTiling(rows:_:)``).
    static func gemm<T: FloatScalar>(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<T>, _ lda: Int,
                                     _ b: UnsafePointer<T>, _ ldb: Int, beta: T, _ c: UnsafeMutablePointer<T>, _ ldc: Int,
                                     panels: Bool = false) {
        _ = LinalgKernels.configureBLAS
        guard m > 0, n > 0, k > 0 else { return }
        let transA = ta ? CblasTrans : CblasNoTrans, transB = tb ? CblasTrans : CblasNoTrans
        if T.self == Float.self {
            let (pa, pb) = (UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), UnsafeRawPointer(b).assumingMemoryBound(to: Float.self))
            let pc = UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self)
            if panels {
                guard let tiling = BlockedGEMM.Tiling(ta: ta, tb: tb, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc,
                                                      beta: Float(Double(beta)), panels: true) else {
                    preconditionFailure("a product in panels that its caller did not check")
                }
                return tiling.run(pa, pb, pc)
            }
            if !tb, beta == .zero, let kernel = SmallGEMM.kernel(ta: ta, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc) {
                return soma_xsmm_gemm(kernel, pb, pa, pc, LIBXSMM.clearsUpperHalves)
            }
            if let tiling = BlockedGEMM.Tiling(ta: ta, tb: tb, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, beta: Float(Double(beta))) {
                return tiling.run(pa, pb, pc)
            }
            cblas_sgemm(CblasRowMajor, transA, transB, Int32(m), Int32(n), Int32(k), 1, pa, Int32(lda), pb, Int32(ldb),
                        Float(Double(beta)), pc, Int32(ldc))
        } else {
            cblas_dgemm(CblasRowMajor, transA, transB, Int32(m), Int32(n), Int32(k), 1,
                        UnsafeRawPointer(a).assumingMemoryBound(to: Double.self), Int32(lda),
                        UnsafeRawPointer(b).assumingMemoryBound(to: Double.self), Int32(ldb), Double(beta),
                        UnsafeMutableRawPointer(c).assumingMemoryBound(to: Double.self), Int32(ldc))
        }
    }

    /// Image `x` (`[H, W, C]`) unrolled into patches `[OH·OW, KH·KW·C]` (output positions
    /// `rows` only, the first at `p`), zeros where the window hangs over the padding.
    static func im2col<T: FloatScalar>(_ x: UnsafePointer<T>, _ p: UnsafeMutablePointer<T>, _ g: Geometry, rows: Range<Int>? = nil) {
        var row = p
        let run = g.kw * g.c, size = MemoryLayout<T>.stride
        for position in rows ?? 0..<(g.oh * g.ow) {
            let (oy, ox) = position.quotientAndRemainder(dividingBy: g.ow)
            var dst = row
            let ix0 = ox * g.sw - g.padLeft
            // Undilated windows inside the row copy one contiguous run of KW·C values.
            let inside = g.dw == 1 && ix0 >= 0 && ix0 + g.kw <= g.w
            for ky in 0..<g.kh {
                let iy = oy * g.sh - g.padTop + ky * g.dh
                guard iy >= 0 && iy < g.h else {
                    copyShort(to: dst, from: nil, bytes: run * size)
                    dst += run
                    continue
                }
                if inside {
                    copyShort(to: dst, from: x + (iy * g.w + ix0) * g.c, bytes: run * size)
                    dst += run
                    continue
                }
                for kx in 0..<g.kw {
                    let ix = ix0 + kx * g.dw
                    copyShort(to: dst, from: ix >= 0 && ix < g.w ? x + (iy * g.w + ix) * g.c : nil, bytes: g.c * size)
                    dst += g.c
                }
            }
            row += g.patch
        }
    }

    /// Copies `bytes` bytes from `source` (zeros when `nil`) to the disjoint `target`. Runs
    /// of up to 64 bytes — the window rows of first layers, 1 to 3 channels wide — are moved
    /// in two overlapping loads and stores each: a call to `memmove` costs more than that.
    @inline(__always)
    static func copyShort(to target: UnsafeMutableRawPointer, from source: UnsafeRawPointer?, bytes: Int) {
        @inline(__always) func pair<V: BitwiseCopyable>(_: V.Type, zero: V) {
            let tail = bytes - MemoryLayout<V>.size
            let head = source?.loadUnaligned(as: V.self) ?? zero, last = source?.loadUnaligned(fromByteOffset: tail, as: V.self) ?? zero
            target.storeBytes(of: head, as: V.self)
            target.storeBytes(of: last, toByteOffset: tail, as: V.self)
        }
        switch bytes {
        case 0: return
        case 4..<8: pair(UInt32.self, zero: 0)
        case 8..<16: pair(UInt64.self, zero: 0)
        case 16..<32: pair(SIMD4<UInt32>.self, zero: .zero)
        case 32...64: pair(SIMD8<UInt32>.self, zero: .zero)
        default:
            if let source { target.copyMemory(from: source, byteCount: bytes) } else { target.initializeMemory(as: UInt8.self, repeating: 0, count: bytes) }
        }
    }

    /// Patches `[OH·OW, KH·KW·C]` added back into image `dx` (`[H, W, C]`).
    static func col2im<T: FloatScalar>(_ p: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, _ g: Geometry) {
        var row = p
        let run = g.kw * g.c
        for oy in 0..<g.oh {
            for ox in 0..<g.ow {
                var src = row
                let ix0 = ox * g.sw - g.padLeft
                // Undilated windows inside the row add one contiguous run of KW·C values.
                let inside = g.dw == 1 && ix0 >= 0 && ix0 + g.kw <= g.w
                for ky in 0..<g.kh {
                    let iy = oy * g.sh - g.padTop + ky * g.dh
                    guard iy >= 0 && iy < g.h else {
                        src += run
                        continue
                    }
                    if inside {
                        let d = dx + (iy * g.w + ix0) * g.c
                        for j in 0..<run { d[j] += src[j] }
                        src += run
                        continue
                    }
                    for kx in 0..<g.kw {
                        let ix = ix0 + kx * g.dw
                        if ix >= 0 && ix < g.w {
                            let d = dx + (iy * g.w + ix) * g.c
                            for j in 0..<g.c { d[j] += src[j] }
                        }
                        src += g.c
                    }
                }
                row += g.patch
            }
        }
    }

    /// Whether patches are the image itself (1×1 kernel, stride 1, no padding).
    static func isPointwise(_ g: Geometry) -> Bool { g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.oh == g.h && g.ow == g.w }

    /// The most output positions per forward block: an image's `[OH·OW, OC]` result is
    /// computed in fixed blocks of at most this many rows, so patches stay in cache and
    /// results never depend on the thread count.
    static let forwardRowBlock = 256

    /// The fewest tasks a forward convolution is cut into. Late layers of a batch of one
    /// (ResNet50's 14² and 7² stages at 224², half its arithmetic) have a single block of
    /// rows, so their output channels are split too, or one thread would do all the work.
    static let minimumForwardTasks = 4

    /// The narrowest block of output channels (a multiple of 16, the widest vector).
    static let minimumForwardColumns = 64

    /// The fewest output positions per forward block that ``ForwardTiling`` cuts below
    /// ``forwardRowBlock`` to make ``minimumForwardTasks`` tasks: MobileNetV2's 1×1
    /// projections at 14² (196 positions, 64–160 channels) were one task, 112 GFLOP/s on one
    /// thread where ONNX Runtime ran them at 189 on two.
    static let minimumForwardRows = 32

    /// A forward convolution's fixed partition of its output `[N·OH·OW, OC]`: blocks of
    /// `rowsPerBlock` positions per image (balanced: an image's blocks differ by at most one
    /// row), each cut into `columnBlocks` blocks of `columnsPerBlock` output channels (the
    /// last narrower) when the row blocks alone are fewer than ``minimumForwardTasks``. It
    /// depends on the geometry alone, so results never depend on the thread count.
    struct ForwardTiling: Equatable {
        let blocksPerImage: Int, rowsPerBlock: Int
        let columnBlocks: Int, columnsPerBlock: Int

        init(_ g: Geometry, panels: Bool = false) {
            let rows = Swift.max(1, g.oh * g.ow)
            var blocks = (rows + forwardRowBlock - 1) / forwardRowBlock
            if g.n * blocks < minimumForwardTasks && !panels {
                // Few images of few positions (a batch of one at 14²): smaller row blocks
                // first, so a narrow filter is not one task on one thread (a filter in
                // panels runs as tiles of the whole product instead).
                let wanted = (minimumForwardTasks + Swift.max(g.n, 1) - 1) / Swift.max(g.n, 1)
                blocks = Swift.max(blocks, Swift.min(wanted, rows / minimumForwardRows))
            }
            blocksPerImage = blocks
            rowsPerBlock = (rows + blocksPerImage - 1) / blocksPerImage
            let rowBlocks = Swift.max(1, g.n * blocksPerImage)
            var columns = g.oc
            if rowBlocks < minimumForwardTasks {
                let wanted = (minimumForwardTasks + rowBlocks - 1) / rowBlocks
                columns = Swift.max(minimumForwardColumns, ((g.oc + wanted - 1) / wanted + 15) / 16 * 16)
            }
            columnsPerBlock = Swift.max(1, Swift.min(columns, g.oc))
            columnBlocks = Swift.max(1, (g.oc + columnsPerBlock - 1) / columnsPerBlock)
        }

        /// Output positions `first..<first+count` of block `b` of an image with `rows` positions.
        func rows(ofBlock b: Int, of rows: Int) -> (first: Int, count: Int) {
            let first = b * rowsPerBlock
            return (first, Swift.max(0, Swift.min(rowsPerBlock, rows - first)))
        }
    }

    /// The convolution in blocks of output rows (see ``ForwardTiling``); `epilogue(result,
    /// rows)` then runs on each block's output while it is in cache (the fused bias and
    /// activation) — after all its column blocks where those are split.
    ///
    /// A float32 filter the compiler stored in panels (`panels`, ``WeightPanelPacking``) runs
    /// im2col + ``BlockedGEMM`` tiles one panel wide: per block of rows where there are at
    /// least ``minimumForwardTasks`` blocks, otherwise every tile of the whole batch's
    /// product is a task.
    static func forward<T: FloatScalar>(_ x: Tensor, _ f: Tensor, _ out: Tensor, _ g: Geometry, _ ctx: KernelContext, _: T.Type,
                                        panels: Bool = false, winogradFilter: Bool = false,
                                        epilogue: Epilogue<T> = .none) throws {
        if winogradFilter {
            // Element by element: an array literal here would allocate on every run.
            let shape = f.shape
            let side = g.kh + winogradTile(g, filterPerCall: false) - 1
            guard T.self == Float.self, shape.count == 4, shape[0] == side, shape[1] == side, shape[2] == g.c, shape[3] == g.oc,
                  try winogradForward(
                x.pointer(as: Float.self), f.pointer(as: Float.self), out.mutablePointer(as: Float.self), g, ctx, transformedFilter: true,
                epilogue: epilogue.float)
            else { throw KernelError("a filter transformed for Winograd tiles needs a float32 3×3 or 5×5 convolution they take, not \(shapeString(f.shape))") }
            return
        }
        if panels {
            guard T.self == Float.self else { throw KernelError("a filter in panels must be float32") }
        } else {
            if T.self == Float.self,
               try winogradForward(x.pointer(as: Float.self), f.pointer(as: Float.self), out.mutablePointer(as: Float.self), g, ctx,
                                   transformedFilter: false, epilogue: epilogue.float) { return }
            if T.self == Float.self,
               try directForward(x.pointer(as: Float.self), f.pointer(as: Float.self), out.mutablePointer(as: Float.self), g, ctx,
                                 epilogue: epilogue.float) { return }
            if T.self == Float.self,
               try narrowForward(x.pointer(as: Float.self), f.pointer(as: Float.self), out.mutablePointer(as: Float.self), g, ctx,
                                 epilogue: epilogue.float) { return }
            if T.self == Float.self, try streamedForward(x, f, out, g, ctx, epilogue: epilogue.float) { return }
        }
        let tiling = ForwardTiling(g, panels: panels)
        if tiling.columnBlocks > 1 || panels && g.n * tiling.blocksPerImage < minimumForwardTasks {
            let whole = panels ? try panelTiling(rows: g.n * g.oh * g.ow, g) : nil
            return try forwardInColumnBlocks(x, f, out, g, tiling, ctx, T.self, panels: whole, epilogue: epilogue)
        }
        // Every block's product is one of at most rowsPerBlock rows: LIBXSMM takes it if it takes that one.
        if panels { _ = try panelTiling(rows: tiling.rowsPerBlock, g) }
        let px = x.pointer(as: T.self), pf = f.pointer(as: T.self), po = out.mutablePointer(as: T.self)
        try ctx.withScratchReserved(try patchScratchBytes(g, ctx, T.self), "im2col patches") {
        ctx.parallelFor(g.n * tiling.blocksPerImage, blockSize: 1, sharing: (px, pf, po, g, tiling, panels, epilogue)) { s, lo, hi in
            let (px, pf, po, g, tiling, panels, epilogue) = s, rows = g.oh * g.ow
            for block in lo..<hi {
                let (i, b) = block.quotientAndRemainder(dividingBy: tiling.blocksPerImage)
                let (first, count) = tiling.rows(ofBlock: b, of: rows)
                guard count > 0 else { continue }
                let image = px + i * g.h * g.w * g.c, result = po + (i * rows + first) * g.oc
                if isPointwise(g) {
                    gemm(false, false, count, g.oc, g.patch, image + first * g.patch, g.patch, pf, g.oc, beta: 0, result, g.oc, panels: panels)
                } else {
                    ThreadScratch.withScratch(bytes: count * g.patch * MemoryLayout<T>.stride) { raw in
                        let patches = raw.assumingMemoryBound(to: T.self)
                        im2col(image, patches, g, rows: first..<(first + count))
                        gemm(false, false, count, g.oc, g.patch, patches, g.patch, pf, g.oc, beta: 0, result, g.oc, panels: panels)
                    }
                }
                epilogue(result, count)
            }
        }
        }
    }

    /// The ``BlockedGEMM`` tiling of `rows` output positions times a filter in panels, or an
    /// error where LIBXSMM does not take the product (the filter cannot then be read).
    static func panelTiling(rows: Int, _ g: Geometry) throws -> BlockedGEMM.Tiling {
        guard let tiling = BlockedGEMM.Tiling(ta: false, tb: false, m: Swift.max(1, rows), n: g.oc, k: g.patch, lda: g.patch, ldb: g.oc,
                                              ldc: g.oc, panels: true) else {
            throw KernelError("a filter in panels needs a product LIBXSMM takes, not \(rows)×\(g.patch)·\(g.patch)×\(g.oc)")
        }
        return tiling
    }

    /// A float32 convolution with a few output positions over the whole batch (late layers
    /// of a small image, a batch of one) and a large filter, as one ``StreamingGEMM`` of its
    /// patches: the filter is read once, in order, by all threads. False, having written
    /// nothing, where that does not apply.
    private static func streamedForward(_ x: Tensor, _ f: Tensor, _ out: Tensor, _ g: Geometry, _ ctx: KernelContext,
                                        epilogue: Epilogue<Float>) throws -> Bool {
        guard let rows = checkedProduct(g.n, g.oh, g.ow), rows <= StreamingGEMM.maximumRows,
              let partition = StreamingGEMM.Partition(ta: false, tb: false, m: rows, n: g.oc, k: g.patch, lda: g.patch, ldb: g.oc, ldc: g.oc)
        else { return false }
        let pointwise = isPointwise(g), px = x.pointer(as: Float.self), po = out.mutablePointer(as: Float.self)
        // At most maximumRows positions: no overflow past the geometry's own checks.
        let patchBytes = pointwise ? 0 : (rows * g.patch * MemoryLayout<Float>.stride + 63) / 64 * 64
        let bytes = patchBytes + partition.partialBytes
        try ctx.withScratchReserved(bytes, "a streamed convolution's patches and partial sums") {
            SharedScratch.withScratch(bytes: bytes) { raw in
                let patches = raw.assumingMemoryBound(to: Float.self)
                if !pointwise {
                    for i in 0..<g.n { im2col(px + i * g.h * g.w * g.c, patches + i * g.oh * g.ow * g.patch, g) }
                }
                let partials = (raw + patchBytes).assumingMemoryBound(to: Float.self)
                partition.run(pointwise ? px : UnsafePointer(patches), f.pointer(as: Float.self), po, partials: partials, threads: ctx.threads)
                epilogue(po, rows)
            }
        }
        return true
    }

    /// Output channels below which a float32 convolution of at least ``narrowMinimumChannels``
    /// input channels runs as dot products along the input channels
    /// (``VectorLoops/narrowConvolutionRow(_:input:filter:output:row:)``): a GEMM vectorises
    /// over the output channels, and a decoder's last layer to RGB has three. Measured on a
    /// 3×3 32 → 3 layer over 64² (the zoo's autoencoder), one thread: 0.55 ms through
    /// im2col (13 GFLOP/s).
    static let narrowOutputChannels = 8, narrowMinimumChannels = 16

    /// Multiply-adds per parallel block of narrow rows.
    static let narrowBlockWork = 1 << 18

    /// `g`'s float32 convolution as narrow rows, the filter transposed to `[OC, KH, KW, C]`
    /// once per call; fixed blocks of output rows on the pool, `epilogue(rows, count)` on
    /// each block. False, having written nothing, outside ``narrowOutputChannels`` and
    /// ``narrowMinimumChannels``.
    static func narrowForward(_ px: UnsafePointer<Float>, _ pf: UnsafePointer<Float>, _ po: UnsafeMutablePointer<Float>, _ g: Geometry,
                              _ ctx: KernelContext, epilogue: Epilogue<Float>) throws -> Bool {
        guard g.oc > 0, g.oc < narrowOutputChannels, g.c >= narrowMinimumChannels, g.n > 0, g.oh > 0, g.ow > 0,
              let values = checkedProduct(g.patch, g.oc, 1, 1), let bytes = checkedProduct(values, MemoryLayout<Float>.stride, 1, 1),
              let rowWork = checkedProduct(g.ow, g.oc, g.patch, 1) else { return false }
        let rowsPerBlock = Swift.max(1, narrowBlockWork / Swift.max(rowWork, 1)), narrow = g.narrow
        try ctx.withScratchReserved(bytes, "a narrow convolution's transposed filter") {
            SharedScratch.withScratch(bytes: bytes) { raw in
                let transposed = raw.bindMemory(to: Float.self, capacity: values)
                for o in 0..<g.oc {
                    for t in 0..<g.patch { transposed[o * g.patch + t] = pf[t * g.oc + o] }
                }
                ctx.parallelFor(g.n * g.oh, blockSize: rowsPerBlock, sharing: (px, UnsafePointer(transposed), po, g, narrow, epilogue)) { s, lo, hi in
                    let (px, transposed, po, g, narrow, epilogue) = s
                    for row in lo..<hi {
                        let (i, oy) = row.quotientAndRemainder(dividingBy: g.oh)
                        VectorKernels.narrowConvolutionRow(narrow, input: px + i * g.h * g.w * g.c, filter: transposed,
                                                           output: po + row * g.ow * g.oc, row: oy)
                    }
                    epilogue(po + lo * g.ow * g.oc, (hi - lo) * g.ow)
                }
            }
        }
        return true
    }

    /// ``forward(_:_:_:_:_:_:panels:epilogue:)`` for few row blocks: the row blocks' patches
    /// are unrolled once into shared scratch (in parallel), then every (row block, column
    /// block) product is a task — or, for a filter in panels, every tile of `panels` (the
    /// whole batch's product) —, then the epilogue runs per row block.
    private static func forwardInColumnBlocks<T: FloatScalar>(_ x: Tensor, _ f: Tensor, _ out: Tensor, _ g: Geometry, _ tiling: ForwardTiling,
                                                              _ ctx: KernelContext, _: T.Type, panels: BlockedGEMM.Tiling?,
                                                              epilogue: Epilogue<T>) throws {
        let px = x.pointer(as: T.self), pf = f.pointer(as: T.self), po = out.mutablePointer(as: T.self)
        let rows = g.oh * g.ow, rowBlocks = g.n * tiling.blocksPerImage, pointwise = isPointwise(g)
        // Few row blocks, so at most minimumForwardTasks images' patches: no overflow past the geometry's own checks.
        guard let bytes = checkedProduct(g.n, rows, g.patch, MemoryLayout<T>.stride) else {
            throw KernelError("OOM when allocating im2col patches: \(g.n)×\(rows) positions × \(g.patch) values overflow", code: .resourceExhausted)
        }
        try ctx.withScratchReserved(pointwise ? 0 : bytes, "im2col patches") {
            SharedScratch.withScratch(bytes: pointwise ? 0 : bytes) { raw in
                let patches = raw.assumingMemoryBound(to: T.self)
                if !pointwise {
                    ctx.parallelFor(rowBlocks, blockSize: 1, sharing: (px, patches, g, tiling)) { s, lo, hi in
                        let (px, patches, g, tiling) = s, rows = g.oh * g.ow
                        for block in lo..<hi {
                            let (i, b) = block.quotientAndRemainder(dividingBy: tiling.blocksPerImage)
                            let (first, count) = tiling.rows(ofBlock: b, of: rows)
                            im2col(px + i * g.h * g.w * g.c, patches + (i * rows + first) * g.patch, g, rows: first..<(first + count))
                        }
                    }
                }
                if let panels, T.self == Float.self {
                    let a = UnsafeRawPointer(pointwise ? px : UnsafePointer(patches)).assumingMemoryBound(to: Float.self)
                    let (pf, po) = (f.pointer(as: Float.self), out.mutablePointer(as: Float.self))
                    ctx.parallelFor(panels.count, blockSize: 1, sharing: (panels, a, pf, po)) { s, lo, hi in
                        for tile in lo..<hi { s.0.run(tile, s.1, s.2, s.3) }
                    }
                } else {
                    ctx.parallelFor(rowBlocks * tiling.columnBlocks, blockSize: 1, sharing: (px, pf, po, patches, g, tiling, pointwise)) { s, lo, hi in
                        let (px, pf, po, patches, g, tiling, pointwise) = s, rows = g.oh * g.ow
                        for task in lo..<hi {
                            let (block, column) = task.quotientAndRemainder(dividingBy: tiling.columnBlocks)
                            let (i, b) = block.quotientAndRemainder(dividingBy: tiling.blocksPerImage)
                            let (first, count) = tiling.rows(ofBlock: b, of: rows)
                            let c0 = column * tiling.columnsPerBlock, columns = Swift.min(tiling.columnsPerBlock, g.oc - c0)
                            guard count > 0, columns > 0 else { continue }
                            let a = pointwise ? px + (i * g.h * g.w + first) * g.c : UnsafePointer(patches + (i * rows + first) * g.patch)
                            gemm(false, false, count, columns, g.patch, a, g.patch, pf + c0, g.oc, beta: 0, po + (i * rows + first) * g.oc + c0, g.oc)
                        }
                    }
                }
                ctx.parallelFor(rowBlocks, blockSize: 1, sharing: (po, g, tiling, epilogue)) { s, lo, hi in
                    let (po, g, tiling, epilogue) = s, rows = g.oh * g.ow
                    for block in lo..<hi {
                        let (i, b) = block.quotientAndRemainder(dividingBy: tiling.blocksPerImage)
                        let (first, count) = tiling.rows(ofBlock: b, of: rows)
                        if count > 0 { epilogue(po + (i * rows + first) * g.oc, count) }
                    }
                }
            }
        }
    }

    /// The input gradient: each image's `dy·Fᵀ` patches added back by col2im into a zeroed
    /// `dx` (pointwise convolutions write `dy·Fᵀ` straight into `dx`). Float32 filters are
    /// transposed once into scratch, so the products run untransposed in LIBXSMM (OpenBLAS
    /// took `Fᵀ` itself: 0.45 ms for a Keras `Conv2DTranspose` of 16²×64 into 32²×32 at a
    /// batch of one, against ONNX Runtime's whole 0.9 ms model). Batches smaller than
    /// ``minimumForwardTasks`` compute their patches in fixed blocks of
    /// ``LinalgKernels/rowBlock`` rows on every thread — a batch of one used one — then add
    /// them back image by image; larger batches take an image per task.
    static func backpropInput<T: FloatScalar>(_ f: Tensor, _ dy: Tensor, _ out: Tensor, _ g: Geometry, _ ctx: KernelContext, _: T.Type) throws {
        if T.self == Float.self, !isPointwise(g),
           try inputGradientAsForward(f.pointer(as: Float.self), dy.pointer(as: Float.self), out.mutablePointer(as: Float.self), g, ctx) { return }
        let pf = f.pointer(as: T.self), pdy = dy.pointer(as: T.self), po = out.mutablePointer(as: T.self)
        let pointwise = isPointwise(g), rows = g.oh * g.ow, transposing = T.self == Float.self
        if !pointwise { po.update(repeating: 0, count: g.n * g.h * g.w * g.c) }
        // The filter's size is the geometry's, checked when it was prepared.
        // The transposed filter, then (blocked) every image's patches from a 64-byte boundary.
        let filterBytes = transposing ? (g.patch * g.oc * MemoryLayout<T>.stride + 63) / 64 * 64 : 0
        let blocked = g.n < minimumForwardTasks && !pointwise
        let patchBytes = blocked ? checkedProduct(g.n, rows, g.patch, MemoryLayout<T>.stride) : try patchScratchBytes(g, ctx, T.self)
        guard let patchBytes, case let (total, false) = patchBytes.addingReportingOverflow(filterBytes) else {
            throw KernelError("OOM when allocating col2im patches: \(g.n)×\(rows) positions × \(g.patch) values overflow", code: .resourceExhausted)
        }
        try ctx.withScratchReserved(total, "col2im patches and the transposed filter") {
            SharedScratch.withScratch(bytes: blocked ? total : filterBytes) { raw in
                let product: InputGradientProduct<T>
                if transposing {
                    let transposed = raw.assumingMemoryBound(to: T.self)
                    for p in 0..<g.patch { for o in 0..<g.oc { transposed[o * g.patch + p] = pf[p * g.oc + o] } }
                    product = InputGradientProduct(g: g, pdy: pdy, filter: UnsafePointer(transposed), transposed: true)
                } else {
                    product = InputGradientProduct(g: g, pdy: pdy, filter: pf, transposed: false)
                }
                if blocked {
                    let patches = (raw + filterBytes).assumingMemoryBound(to: T.self)
                    let blocksPerImage = (rows + LinalgKernels.rowBlock - 1) / LinalgKernels.rowBlock
                    ctx.parallelFor(g.n * blocksPerImage, blockSize: 1, sharing: (product, patches, blocksPerImage)) { s, lo, hi in
                        let (product, patches, blocksPerImage) = s, g = product.g, rows = g.oh * g.ow
                        for block in lo..<hi {
                            let (i, b) = block.quotientAndRemainder(dividingBy: blocksPerImage)
                            let first = b * LinalgKernels.rowBlock, count = Swift.min(LinalgKernels.rowBlock, rows - first)
                            product(i, first, count, patches + (i * rows + first) * g.patch)
                        }
                    }
                    ctx.parallelFor(g.n, blockSize: 1, sharing: (UnsafePointer(patches), po, g)) { s, lo, hi in
                        let (patches, po, g) = s, rows = g.oh * g.ow
                        for i in lo..<hi { col2im(patches + i * rows * g.patch, po + i * g.h * g.w * g.c, g) }
                    }
                    return
                }
                ctx.parallelFor(g.n, blockSize: 1, sharing: (product, po, pointwise)) { s, lo, hi in
                    let (product, po, pointwise) = s, g = product.g, rows = g.oh * g.ow
                    for i in lo..<hi {
                        let image = po + i * g.h * g.w * g.c
                        if pointwise {
                            product(i, 0, rows, image)
                            continue
                        }
                        ThreadScratch.withScratch(bytes: rows * g.patch * MemoryLayout<T>.stride) { raw in
                            let patches = raw.assumingMemoryBound(to: T.self)
                            product(i, 0, rows, patches)
                            col2im(patches, image, g)
                        }
                    }
                }
            }
        }
    }

    /// `dy·Fᵀ` for output rows `first..<first+count` of image `i` into `target` (rows
    /// `g.patch` apart): with `filter` the filter transposed to `[OC, KH·KW·C]` (`transposed`)
    /// or the filter itself, read transposed.
    struct InputGradientProduct<T: FloatScalar> {
        let g: Geometry, pdy: UnsafePointer<T>, filter: UnsafePointer<T>, transposed: Bool

        func callAsFunction(_ i: Int, _ first: Int, _ count: Int, _ target: UnsafeMutablePointer<T>) {
            let dy = pdy + (i * g.oh * g.ow + first) * g.oc
            if transposed { gemm(false, false, count, g.patch, g.oc, dy, g.oc, filter, g.patch, beta: 0, target, g.patch) }
            else { gemm(false, true, count, g.patch, g.oc, dy, g.oc, filter, g.oc, beta: 0, target, g.patch) }
        }
    }

    /// The most filter-gradient groups: the batch is cut into at most this many groups of
    /// `⌈N / groups⌉` consecutive images — a number that depends on the shape alone — each
    /// summing its images in order into its own buffer; the groups are then summed in
    /// order. So a small batch still spreads over the threads, and a large one holds no
    /// more partial filters than this.
    static let filterGroups = 8

    /// The images of a batch of `n` per filter-gradient group, and the number of groups.
    static func filterGrouping(_ n: Int) -> (size: Int, count: Int) {
        let size = Swift.max(1, (n + filterGroups - 1) / filterGroups)
        return (size, (n + size - 1) / size)
    }

    /// Writes the sum of `count` partial filters of `size` values each into `filter`, added
    /// in group order (so the result never depends on which thread filled which group).
    static func sumPartialFilters<T: FloatScalar>(_ partials: UnsafePointer<T>, count: Int, size: Int, into filter: UnsafeMutablePointer<T>) {
        guard count > 0 else { return filter.update(repeating: 0, count: size) }
        filter.update(from: partials, count: size)
        for group in 1..<count {
            let sum = partials + group * size
            for j in 0..<size { filter[j] += sum[j] }
        }
    }

    static func backpropFilter<T: FloatScalar>(_ x: Tensor, _ dy: Tensor, _ out: Tensor, _ g: Geometry, _ ctx: KernelContext, _: T.Type) throws {
        if T.self == Float.self {
            let (px, pdy, po) = (x.pointer(as: Float.self), dy.pointer(as: Float.self), out.mutablePointer(as: Float.self))
            if try winogradFilterGradient(px, pdy, po, g, ctx) || directFilterGradient(px, pdy, po, g, ctx) { return }
        }
        let px = x.pointer(as: T.self), pdy = dy.pointer(as: T.self), po = out.mutablePointer(as: T.self)
        let size = g.patch * g.oc
        let (groupSize, groups) = filterGrouping(g.n)
        guard let partialBytes = checkedProduct(groups, size, MemoryLayout<T>.stride) else {
            throw KernelError("the filter gradient's partial sums overflow", code: .resourceExhausted)
        }
        try ctx.withScratchReserved(try patchScratchBytes(g, ctx, T.self) + partialBytes, "filter-gradient scratch") {
        SharedScratch.withScratch(bytes: partialBytes) { raw in
        let partials = raw.bindMemory(to: T.self, capacity: groups * size)
        partials.initialize(repeating: 0, count: groups * size)
        ctx.parallelFor(groups, blockSize: 1, sharing: (px, pdy, partials, g, groupSize)) { s, lo, hi in
            let (px, pdy, partials, g, groupSize) = s, rows = g.oh * g.ow, size = g.patch * g.oc
            for group in lo..<hi {
                let sum = partials + group * size
                ThreadScratch.withScratch(bytes: rows * g.patch * MemoryLayout<T>.stride) { raw in
                    let patches = raw.assumingMemoryBound(to: T.self)
                    for i in (group * groupSize)..<Swift.min(g.n, (group + 1) * groupSize) {
                        let image = px + i * g.h * g.w * g.c, grad = pdy + i * rows * g.oc
                        let source: UnsafePointer<T>
                        if isPointwise(g) { source = image } else { im2col(image, patches, g); source = UnsafePointer(patches) }
                        gemm(true, false, g.patch, g.oc, rows, source, g.patch, grad, g.oc, beta: 1, sum, g.oc)
                    }
                }
            }
        }
        sumPartialFilters(partials, count: groups, size: size, into: po)
        }
        }
    }

    /// The im2col scratch a convolution holds at once: one `[OH·OW, KH·KW·C]` patch matrix
    /// per thread at work (none for pointwise convolutions), checked for overflow.
    static func patchScratchBytes<T>(_ g: Geometry, _ ctx: KernelContext, _: T.Type) throws -> Int {
        guard !isPointwise(g) else { return 0 }
        let threads = Swift.max(1, Swift.min(ctx.threads, g.n))
        guard let bytes = checkedProduct(g.oh, g.ow, g.kh, g.kw, g.c, MemoryLayout<T>.stride, threads), bytes < Int.max / 2 else {
            throw KernelError("OOM when allocating im2col patches: \(g.oh)×\(g.ow) positions × \(g.kh)×\(g.kw)×\(g.c) values overflow",
                              code: .resourceExhausted)
        }
        return bytes
    }

    // MARK: Depthwise convolution

    enum DepthwisePass { case forward, input, filter }

    /// The three depthwise passes (`g.oc` is the channel multiplier M; output channel
    /// `c·M + j` reads input channel `c`). Each walks whole rows of NHWC memory, with the
    /// channel loop innermost and contiguous so it vectorises, and never tests bounds
    /// inside it: every tap's valid output columns are computed once per row.
    /// - forward: output rows in parallel, each summed over its taps in (ky, kx) order.
    /// - input: input rows in parallel, each gathering from the output rows that read it.
    /// - filter: fixed blocks of output rows (their number depends on the shape alone)
    ///   each sum into their own partial filter; the partials are added in block order.
    /// So every result is bitwise identical for any thread count.
    /// `epilogue(row, count)` runs on each forward output row (`[OW, C·M]`) while it is in
    /// cache (the fused bias and activation); a float32 `rowEpilogue` instead runs in the row
    /// loop's registers where the multiplier is 1.
    static func depthwise<T: FloatScalar>(_ pass: DepthwisePass, x: Tensor, f: Tensor, dy: Tensor, _ g: Geometry, _ ctx: KernelContext,
                                          _: T.Type, rowEpilogue: RowEpilogue? = nil,
                                          epilogue: Epilogue<T> = .none) throws {
        let width = g.c * g.oc
        switch pass {
        case .forward:
            let px = x.pointer(as: T.self), pf = f.pointer(as: T.self), py = dy.mutablePointer(as: T.self)
            ctx.parallelFor(g.n * g.oh, blockSize: depthwiseForwardRowBlock(g), sharing: (px, pf, py, g, rowEpilogue, epilogue)) { s, lo, hi in
                let (px, pf, py, g, rowEpilogue, epilogue) = s, width = g.c * g.oc
                var row = lo
                while row < hi {
                    let (i, oy) = row.quotientAndRemainder(dividingBy: g.oh)
                    let yRow = py + row * g.ow * width
                    if g.oc == 1 {
                        let image = px + i * g.h * g.w * g.c
                        if T.self == Float.self {
                            // The block's rows of this image in one call.
                            let count = Swift.min(hi - row, g.oh - oy)
                            VectorKernels.depthwiseForwardRows(g.depthwise, input: UnsafeRawPointer(image).assumingMemoryBound(to: Float.self),
                                                               filter: UnsafeRawPointer(pf).assumingMemoryBound(to: Float.self),
                                                               output: UnsafeMutableRawPointer(yRow).assumingMemoryBound(to: Float.self),
                                                               rows: oy..<(oy + count), bias: rowEpilogue?.bias, rowEpilogue?.function)
                            for k in 0..<count { epilogue(yRow + k * g.ow * width, g.ow) }
                            row += count
                            continue
                        }
                        VectorLoops.depthwiseForwardRow(g.depthwise, input: image, filter: pf, output: yRow, row: oy)
                    } else {
                        yRow.update(repeating: 0, count: g.ow * width)
                        forEachDepthwiseTap(g, input: px, image: i, row: oy) { xLine, t, offset in
                            for ox in depthwiseColumns(g, offset: offset) {
                                depthwiseMultiplyAdd(yRow + ox * width, xLine + (ox * g.sw + offset) * g.c, pf + t * width, g.c, g.oc)
                            }
                        }
                    }
                    if let rowEpilogue, T.self == Float.self {
                        let values = UnsafeMutableRawPointer(yRow).assumingMemoryBound(to: Float.self)
                        if let bias = rowEpilogue.bias { VectorKernels.biasActivation(rowEpilogue.function, values, rows: g.ow, n: width, bias) }
                        else if let function = rowEpilogue.function { VectorKernels.map(function, values, values, count: g.ow * width) }
                    }
                    epilogue(yRow, g.ow)
                    row += 1
                }
            }
        case .input:
            let pf = f.pointer(as: T.self), pdy = dy.pointer(as: T.self), px = x.mutablePointer(as: T.self)
            ctx.parallelFor(g.n * g.h, blockSize: depthwiseRowBlock(g), sharing: (pf, pdy, px, g)) { s, lo, hi in
                let (pf, pdy, px, g) = s, width = g.c * g.oc
                for row in lo..<hi {
                    let (i, iy) = row.quotientAndRemainder(dividingBy: g.h)
                    let xRow = px + row * g.w * g.c
                    if g.oc == 1 {
                        depthwiseInputRow(g, outBackprop: pdy + i * g.oh * g.ow * g.c, filter: pf, inputGradient: xRow, row: iy)
                        continue
                    }
                    xRow.update(repeating: 0, count: g.w * g.c)
                    for ky in 0..<g.kh {
                        let t = iy + g.padTop - ky * g.dh
                        guard t >= 0 && t % g.sh == 0 && t / g.sh < g.oh else { continue }
                        let dyLine = pdy + (i * g.oh + t / g.sh) * g.ow * width
                        for kx in 0..<g.kw {
                            let tap = pf + (ky * g.kw + kx) * width, offset = kx * g.dw - g.padLeft
                            for ox in depthwiseColumns(g, offset: offset) {
                                depthwiseGather(xRow + (ox * g.sw + offset) * g.c, dyLine + ox * width, tap, g.c, g.oc)
                            }
                        }
                    }
                }
            }
        case .filter:
            let px = x.pointer(as: T.self), pdy = dy.pointer(as: T.self), pf = f.mutablePointer(as: T.self)
            let rows = g.n * g.oh, block = Swift.max(1, (rows + depthwiseFilterBlocks - 1) / depthwiseFilterBlocks)
            let blocks = (rows + block - 1) / block, size = g.kh * g.kw * width
            guard let bytes = checkedProduct(blocks, size, MemoryLayout<T>.stride) else {
                throw KernelError("the depthwise filter gradient's partial sums overflow", code: .resourceExhausted)
            }
            try ctx.withScratchReserved(bytes, "depthwise filter-gradient partial sums") {
                SharedScratch.withScratch(bytes: bytes) { raw in
                let partials = raw.bindMemory(to: T.self, capacity: blocks * size)
                partials.initialize(repeating: 0, count: blocks * size)
                ctx.parallelFor(rows, blockSize: block, sharing: (px, pdy, partials, g, block)) { s, lo, hi in
                    let (px, pdy, partials, g, block) = s, width = g.c * g.oc, size = g.kh * g.kw * width
                    for row in lo..<hi {
                        // Each block's rows into its own partial filter, also when one thread runs them all.
                        let sum = partials + (row / block) * size
                        let (i, oy) = row.quotientAndRemainder(dividingBy: g.oh)
                        let dyRow = pdy + row * g.ow * width
                        forEachDepthwiseTap(g, input: px, image: i, row: oy) { xLine, t, offset in
                            let tap = sum + t * width, columns = depthwiseColumns(g, offset: offset)
                            if g.oc == 1 {
                                return depthwiseFilterTap(tap, input: xLine, outBackprop: dyRow, columns: columns, offset: offset, g)
                            }
                            for ox in columns {
                                depthwiseMultiplyAdd(tap, xLine + (ox * g.sw + offset) * g.c, dyRow + ox * width, g.c, g.oc)
                            }
                        }
                    }
                }
                sumPartialFilters(partials, count: blocks, size: size, into: pf)
                }
            }
        }
    }

    /// Calls `body(inputRow, tap, offset)` for every tap `(ky, kx)` of output row `oy` of
    /// image `i` whose input row lies inside the image: the input row's start, the tap's
    /// index `ky·KW + kx`, and its column offset `kx·dw − padLeft`.
    @inline(__always)
    private static func forEachDepthwiseTap<T>(_ g: Geometry, input px: UnsafePointer<T>, image i: Int, row oy: Int,
                                               _ body: (UnsafePointer<T>, Int, Int) -> Void) {
        for ky in 0..<g.kh {
            let iy = oy * g.sh - g.padTop + ky * g.dh
            guard iy >= 0 && iy < g.h else { continue }
            let line = px + (i * g.h + iy) * g.w * g.c
            for kx in 0..<g.kw { body(line, ky * g.kw + kx, kx * g.dw - g.padLeft) }
        }
    }

    /// Partial filter sums of a depthwise filter gradient: at most this many row blocks.
    static let depthwiseFilterBlocks = 32

    /// Output (or input) rows per parallel block: about 32 KB of output values.
    private static func depthwiseRowBlock(_ g: Geometry) -> Int { Swift.max(1, 8192 / Swift.max(g.ow * g.c * g.oc, 1)) }

    /// Output rows per parallel block of a forward pass: ``depthwiseRowBlock(_:)``, and at
    /// least four where a block's rows run band by band of channels
    /// (`VectorLoops.takesChannelBands`: rows wider than the level-1 cache), whose gain is in
    /// the rows after a block's first.
    private static func depthwiseForwardRowBlock(_ g: Geometry) -> Int {
        let rows = depthwiseRowBlock(g)
        return g.oc == 1 && VectorLoops.takesChannelBands(g.depthwise) ? Swift.max(rows, 4) : rows
    }

    /// The output columns `ox` whose input column `ox·sw + offset` lies inside the image.
    @inline(__always)
    private static func depthwiseColumns(_ g: Geometry, offset: Int) -> Range<Int> {
        // ox·sw + offset ≥ 0  ⇔  ox ≥ ceil(−offset / sw);  ox·sw + offset < w  ⇔  ox ≤ (w − 1 − offset) / sw.
        let first = offset >= 0 ? 0 : (-offset + g.sw - 1) / g.sw
        let last = g.w - 1 - offset < 0 ? -1 : Swift.min(g.ow - 1, (g.w - 1 - offset) / g.sw)
        return first..<Swift.max(first, last + 1)
    }

    /// One input-gradient row of a depthwise convolution with multiplier 1: every input
    /// vector gathers `dy · f` from the taps that read it, in (ky, kx) order.
    @inline(__always)
    private static func depthwiseInputRow<T: FloatScalar>(_ g: Geometry, outBackprop dy: UnsafePointer<T>, filter: UnsafePointer<T>,
                                                          inputGradient dx: UnsafeMutablePointer<T>, row iy: Int) {
        let c = g.c
        /// The output index that reads input index `i` through tap `k`, if any.
        @inline(__always) func source(_ i: Int, _ k: Int, pad: Int, dilation: Int, stride: Int, count: Int) -> Int? {
            let t = i + pad - k * dilation
            guard t >= 0 && t % stride == 0 && t / stride < count else { return nil }
            return t / stride
        }
        for ix in 0..<g.w {
            let out = dx + ix * c
            /// Calls `body(dy, f)` with the output-gradient and filter vectors of every tap reading `(iy, ix)`.
            @inline(__always) func forEachTap(_ body: (UnsafePointer<T>, UnsafePointer<T>) -> Void) {
                for ky in 0..<g.kh {
                    guard let oy = source(iy, ky, pad: g.padTop, dilation: g.dh, stride: g.sh, count: g.oh) else { continue }
                    for kx in 0..<g.kw {
                        guard let ox = source(ix, kx, pad: g.padLeft, dilation: g.dw, stride: g.sw, count: g.ow) else { continue }
                        body(dy + (oy * g.ow + ox) * c, filter + (ky * g.kw + kx) * c)
                    }
                }
            }
            var k = 0
            while k + 8 <= c {
                var sum = SIMD8<T>()
                forEachTap { grad, taps in sum += vector(grad + k) * vector(taps + k) }
                store(sum, out + k)
                k += 8
            }
            while k < c {
                var sum = T.zero
                forEachTap { grad, taps in sum += grad[k] * taps[k] }
                out[k] = sum
                k += 1
            }
        }
    }

    /// One tap's filter gradient from one output row, multiplier 1: `Σ_ox x · dy` per
    /// channel, summed in registers over the row and added to the tap once.
    @inline(__always)
    private static func depthwiseFilterTap<T: FloatScalar>(_ tap: UnsafeMutablePointer<T>, input line: UnsafePointer<T>,
                                                           outBackprop dyRow: UnsafePointer<T>, columns: Range<Int>, offset: Int,
                                                           _ g: Geometry) {
        let c = g.c
        var k = 0
        while k + 8 <= c {
            var sum = SIMD8<T>()
            for ox in columns {
                let xv: SIMD8<T> = vector(line + ((ox * g.sw + offset) * c + k)), dyv: SIMD8<T> = vector(dyRow + (ox * c + k))
                sum += xv * dyv
            }
            store(vector(tap + k) + sum, tap + k)
            k += 8
        }
        while k < c {
            var sum = T.zero
            for ox in columns { sum += line[(ox * g.sw + offset) * c + k] * dyRow[ox * c + k] }
            tap[k] += sum
            k += 1
        }
    }

    @inline(__always)
    private static func vector<T: FloatScalar>(_ p: UnsafePointer<T>) -> SIMD8<T> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<T>.self) }
    @inline(__always)
    private static func vector<T: FloatScalar>(_ p: UnsafeMutablePointer<T>) -> SIMD8<T> { vector(UnsafePointer(p)) }
    @inline(__always)
    private static func store<T: FloatScalar>(_ v: SIMD8<T>, _ p: UnsafeMutablePointer<T>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<T>.self) }

    /// `y[c·M + j] += x[c] · f[c·M + j]` over `c` channels and `M` multipliers (also the
    /// filter gradient's `df += x · dy`, with `dy` in `f`'s place).
    @inline(__always)
    private static func depthwiseMultiplyAdd<T: FloatScalar>(_ y: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>, _ f: UnsafePointer<T>,
                                                             _ channels: Int, _ multiplier: Int) {
        if multiplier == 1 {
            for c in 0..<channels { y[c] += x[c] * f[c] }
        } else {
            for c in 0..<channels { for j in 0..<multiplier { y[c * multiplier + j] += x[c] * f[c * multiplier + j] } }
        }
    }

    /// `dx[c] += Σⱼ dy[c·M + j] · f[c·M + j]`: the input gradient of one tap.
    @inline(__always)
    private static func depthwiseGather<T: FloatScalar>(_ dx: UnsafeMutablePointer<T>, _ dy: UnsafePointer<T>, _ f: UnsafePointer<T>,
                                                        _ channels: Int, _ multiplier: Int) {
        if multiplier == 1 {
            for c in 0..<channels { dx[c] += dy[c] * f[c] }
        } else {
            for c in 0..<channels {
                var sum = dx[c]
                for j in 0..<multiplier { sum += dy[c * multiplier + j] * f[c * multiplier + j] }
                dx[c] = sum
            }
        }
    }

    // MARK: Batch normalisation

    /// Rows per batch-norm block: statistics are summed per block, then the blocks in order,
    /// so results do not depend on the thread count.
    static let normRows = 256

    /// Per-channel sums over `rows` rows of `width` accumulators, written to `total`
    /// (`width` Doubles): `accumulate(state, row, sums)` adds row `row`'s contributions into
    /// `sums`. Fixed row blocks run on the intra-op pool, each into its own partial sums (also
    /// when one thread runs them all), which are added in block order. `accumulate` captures
    /// nothing (``ParallelFor``); the partials are shared scratch, so a steady-state call
    /// allocates nothing.
    static func channelSums<State>(rows: Int, width: Int, _ ctx: KernelContext, into total: UnsafeMutablePointer<Double>,
                                   sharing state: State,
                                   _ accumulate: @escaping (State, Int, UnsafeMutablePointer<Double>) -> Void) {
        let blocks = Swift.max((rows + normRows - 1) / normRows, 1)
        SharedScratch.withScratch(bytes: blocks * width * MemoryLayout<Double>.stride) { raw in
            let partials = raw.bindMemory(to: Double.self, capacity: blocks * width)
            partials.initialize(repeating: 0, count: blocks * width)
            let sums = ChannelSums(state: state, accumulate: accumulate, partials: partials, width: width)
            ctx.parallelFor(rows, blockSize: normRows, sharing: sums) { sums, lo, hi in
                for r in lo..<hi { sums.accumulate(sums.state, r, sums.partials + (r / normRows) * sums.width) }
            }
            total.initialize(repeating: 0, count: width)
            for b in 0..<blocks { for j in 0..<width { total[j] += partials[b * width + j] } }
        }
    }

    /// What ``channelSums(rows:width:_:into:sharing:_:)`` shares with its helpers: a struct,
    /// so `accumulate` keeps its own abstraction inside ``ParallelFor``'s state.
    private struct ChannelSums<State> {
        let state: State
        let accumulate: (State, Int, UnsafeMutablePointer<Double>) -> Void
        let partials: UnsafeMutablePointer<Double>
        let width: Int
    }

    /// Throws unless input `index` (`name`) has `channels` elements.
    private static func requireChannels(_ ctx: KernelContext, _ index: Int, _ name: String, _ channels: Int) throws {
        guard ctx.inputs[index].scalarCount == channels else {
            throw KernelError("\(name) must have \(channels) elements (the channels of x), but has \(ctx.inputs[index].scalarCount)")
        }
    }

    /// Statistics accumulate in Double per channel over the N·H·W rows, in fixed row blocks
    /// on the intra-op pool; the normalisation runs on the pool too. The per-channel
    /// statistics and coefficients live in shared scratch: a steady-state call allocates
    /// nothing.
    static func batchNorm<T: FloatScalar>(_ ctx: KernelContext, _: T.Type) throws {
        let x = ctx.inputs[0]
        guard ctx.inputs[1...4].allSatisfy({ $0.dtype == x.dtype }) else {
            throw KernelError("FusedBatchNormV3: scale, offset, mean and variance must have x's dtype \(x.dtype)")
        }
        let c = x.shape[3], rows = x.scalarCount / Swift.max(c, 1)
        let training = ctx.node.bool("is_training") ?? true
        let epsilon = Double(ctx.node.float("epsilon") ?? 0.0001), factor = Double(ctx.node.float("exponential_avg_factor") ?? 1)
        try requireChannels(ctx, 1, "scale", c)
        try requireChannels(ctx, 2, "offset", c)
        if !training || factor != 1 {
            try requireChannels(ctx, 3, "mean", c)
            try requireChannels(ctx, 4, "variance", c)
        }
        if training && rows == 0 { throw KernelError("FusedBatchNormV3 in training needs a nonempty batch") }
        let (px, scale, offset, meanIn, varIn) = (x.pointer(as: T.self), ctx.inputs[1].pointer(as: T.self), ctx.inputs[2].pointer(as: T.self),
                                                  ctx.inputs[3].pointer(as: T.self), ctx.inputs[4].pointer(as: T.self))
        let outY = try ctx.allocateOutput(0, zeroed: false), outMean = try ctx.allocateOutput(1, zeroed: false),
            outVar = try ctx.allocateOutput(2, zeroed: false), outSaved1 = try ctx.allocateOutput(3, zeroed: false),
            outSaved2 = try ctx.allocateOutput(4, zeroed: false), outSaved3 = try ctx.allocateOutput(5, zeroed: false)
        let y = outY.mutablePointer(as: T.self)
        // Per channel: the mean and variance used, then y = x·a + b with a = scale/σ and
        // b = offset − μ·a.
        SharedScratch.withScratch(bytes: 4 * c * MemoryLayout<Double>.stride) { raw in
            let mean = raw.bindMemory(to: Double.self, capacity: 4 * c), variance = mean + c, a = mean + 2 * c, b = mean + 3 * c
            if training {
                channelSums(rows: rows, width: c, ctx, into: mean, sharing: (px, c)) { s, r, sums in
                    let (px, c) = s
                    for j in 0..<c { sums[j] += Double(px[r * c + j]) }
                }
                for j in 0..<c { mean[j] /= Double(rows) }
                channelSums(rows: rows, width: c, ctx, into: variance, sharing: (px, c, UnsafePointer(mean))) { s, r, sums in
                    let (px, c, m) = s
                    for j in 0..<c { let d = Double(px[r * c + j]) - m[j]; sums[j] += d * d }
                }
                for j in 0..<c { variance[j] /= Double(rows) }
            } else {
                for j in 0..<c { (mean[j], variance[j]) = (Double(meanIn[j]), Double(varIn[j])) }
            }
            for j in 0..<c {
                a[j] = Double(scale[j]) / (variance[j] + epsilon).squareRoot()
                b[j] = Double(offset[j]) - mean[j] * a[j]
            }
            ctx.parallelFor(rows, blockSize: normRows, sharing: (px, y, c, UnsafePointer(a), UnsafePointer(b))) { s, lo, hi in
                let (px, y, c, a, b) = s
                for r in lo..<hi { for j in 0..<c { y[r * c + j] = T(Double(px[r * c + j]) * a[j] + b[j]) } }
            }
            let (batchMean, batchVar, r1, r2) = (outMean.mutablePointer(as: T.self), outVar.mutablePointer(as: T.self),
                                                 outSaved1.mutablePointer(as: T.self), outSaved2.mutablePointer(as: T.self))
            for j in 0..<c {
                if training {
                    let corrected = rows > 1 ? variance[j] * Double(rows) / Double(rows - 1) : variance[j]
                    batchMean[j] = T(factor == 1 ? mean[j] : (1 - factor) * Double(meanIn[j]) + factor * mean[j])
                    batchVar[j] = T(factor == 1 ? corrected : (1 - factor) * Double(varIn[j]) + factor * corrected)
                } else {
                    (batchMean[j], batchVar[j]) = (meanIn[j], varIn[j])
                }
                (r1[j], r2[j]) = (T(mean[j]), T(variance[j]))
            }
        }
        ctx.setOutput(0, outY)
        ctx.setOutput(1, outMean)
        ctx.setOutput(2, outVar)
        ctx.setOutput(3, outSaved1)
        ctx.setOutput(4, outSaved2)
        ctx.setOutput(5, outSaved3)
    }
    /// With `x̂ = (x − μ)/σ`: offset_grad = Σdy, scale_grad = Σdy·x̂; in training
    /// `dx = scale/(σ·m)·(m·dy − Σdy − x̂·Σdy·x̂)`, in inference `dx = dy·scale/σ`. The
    /// per-channel sums live in shared scratch: a steady-state call allocates nothing.
    static func batchNormGrad<T: FloatScalar>(_ ctx: KernelContext, _: T.Type) throws {
        let dy = ctx.inputs[0], x = ctx.inputs[1]
        let c = x.shape[3], rows = x.scalarCount / Swift.max(c, 1)
        guard dy.shape == x.shape else { throw KernelError("y_backprop \(shapeString(dy.shape)) and x \(shapeString(x.shape)) differ") }
        for i in 2...4 {
            let name = i == 2 ? "scale" : i == 3 ? "reserve_space_1" : "reserve_space_2"
            guard ctx.inputs[i].dtype == x.dtype else { throw KernelError("\(name) must have x's dtype \(x.dtype), but is \(ctx.inputs[i].dtype)") }
            try requireChannels(ctx, i, name, c)
        }
        let training = ctx.node.bool("is_training") ?? true
        let epsilon = Double(ctx.node.float("epsilon") ?? 0.0001)
        let (pdy, px, scale, mean, variance) = (dy.pointer(as: T.self), x.pointer(as: T.self), ctx.inputs[2].pointer(as: T.self),
                                                ctx.inputs[3].pointer(as: T.self), ctx.inputs[4].pointer(as: T.self))
        let outDx = try ctx.allocateOutput(0, zeroed: false), outScale = try ctx.allocateOutput(1, zeroed: false),
            outOffset = try ctx.allocateOutput(2, zeroed: false), outSaved1 = try ctx.allocateOutput(3, zeroed: false),
            outSaved2 = try ctx.allocateOutput(4, zeroed: false)
        let dx = outDx.mutablePointer(as: T.self), dScale = outScale.mutablePointer(as: T.self), dOffset = outOffset.mutablePointer(as: T.self)
        SharedScratch.withScratch(bytes: 3 * c * MemoryLayout<Double>.stride) { raw in
            // 1/σ, then Σdy and Σdy·x̂ per channel.
            let invStd = raw.bindMemory(to: Double.self, capacity: 3 * c), sumDy = invStd + c, sumDyXhat = invStd + 2 * c
            for j in 0..<c { invStd[j] = 1 / (Double(variance[j]) + epsilon).squareRoot() }
            channelSums(rows: rows, width: 2 * c, ctx, into: sumDy, sharing: (pdy, px, mean, UnsafePointer(invStd), c)) { s, r, acc in
                let (pdy, px, mean, invStd, c) = s
                for j in 0..<c {
                    let k = r * c + j
                    acc[j] += Double(pdy[k])
                    acc[c + j] += Double(pdy[k]) * (Double(px[k]) - Double(mean[j])) * invStd[j]
                }
            }
            let m = Double(Swift.max(rows, 1))
            let shared = (pdy, px, dx, scale, mean, UnsafePointer(invStd), UnsafePointer(sumDy), UnsafePointer(sumDyXhat), c, m, training)
            ctx.parallelFor(rows, blockSize: normRows, sharing: shared) { s, lo, hi in
                let (pdy, px, dx, scale, mean, invStd, sumDy, sumDyXhat, c, m, training) = s
                for r in lo..<hi {
                    for j in 0..<c {
                        let k = r * c + j
                        let g = Double(scale[j]) * invStd[j]
                        if training {
                            let xhat = (Double(px[k]) - Double(mean[j])) * invStd[j]
                            dx[k] = T(g / m * (m * Double(pdy[k]) - sumDy[j] - xhat * sumDyXhat[j]))
                        } else {
                            dx[k] = T(Double(pdy[k]) * g)
                        }
                    }
                }
            }
            for j in 0..<c { (dScale[j], dOffset[j]) = (T(sumDyXhat[j]), T(sumDy[j])) }
        }
        ctx.setOutput(0, outDx)
        ctx.setOutput(1, outScale)
        ctx.setOutput(2, outOffset)
        ctx.setOutput(3, outSaved1)
        ctx.setOutput(4, outSaved2)
    }

    // MARK: Pooling

    static func pool(_ ctx: KernelContext, max: Bool) throws {
        let x = ctx.inputs[0], out = try ctx.allocateOutput(0, zeroed: false)
        let g = try ctx.node.convGeometry ?? Geometry(input: x.shape, window: ctx.node.attrs)
        if max && x.dtype == .float32 {
            let px = x.pointer(as: Float.self), po = out.mutablePointer(as: Float.self)
            ctx.parallelFor(g.n * g.oh, blockSize: 8, sharing: (g.pooling, px, po)) { s, lo, hi in
                for row in lo..<hi { VectorKernels.maxPoolRow(s.0, input: s.1, output: s.2, row: row) }
            }
            return ctx.setOutput(0, out)
        }
        func run<T: FloatScalar>(_: T.Type) {
            let px = x.pointer(as: T.self), po = out.mutablePointer(as: T.self)
            ctx.parallelFor(g.n * g.oh, blockSize: 8, sharing: (px, po, g, max)) { s, lo, hi in
                let (px, po, g, max) = s
                for r in lo..<hi {
                    let i = r / g.oh, oy = r % g.oh
                    for ox in 0..<g.ow {
                        let o = po + ((i * g.oh + oy) * g.ow + ox) * g.c
                        for j in 0..<g.c { o[j] = max ? -T.infinity : 0 }
                        var count = 0
                        for iy in g.inputRows(oy) {
                            for ix in g.inputColumns(ox) {
                                let s = px + ((i * g.h + iy) * g.w + ix) * g.c
                                if max { for j in 0..<g.c { o[j] = Swift.max(o[j], s[j]) } } else { for j in 0..<g.c { o[j] += s[j] } }
                                count += 1
                            }
                        }
                        if !max { let k = T(Double(Swift.max(count, 1))); for j in 0..<g.c { o[j] /= k } }
                    }
                }
            }
        }
        if x.dtype == .float32 { run(Float.self) } else { run(Double.self) }
        ctx.setOutput(0, out)
    }

    /// `MaxPoolGrad` (with `reluGrad`, `_SomaFusedMaxPoolGrad`) on the kernel's inputs.
    static func maxPoolGrad(_ ctx: KernelContext, reluGrad: Bool) throws {
        let x = ctx.inputs[0], g = ctx.inputs[2]
        let geometry = try ctx.node.convGeometry ?? Geometry(input: x.shape, window: ctx.node.attrs)
        try geometry.check(outBackprop: g.shape)
        // Tiling windows write every element; the others add into zeros.
        let out = try ctx.allocateOutput(0, zeroed: !writesEveryElement(geometry, x.dtype))
        if x.dtype == .float32 { maxPoolGrad(x, g, out, geometry, ctx, Float.self, reluGrad: reluGrad) } else {
            maxPoolGrad(x, g, out, geometry, ctx, Double.self, reluGrad: reluGrad)
        }
        ctx.setOutput(0, out)
    }

    /// Each window's gradient goes to its maximum (the first one, in scan order, on ties).
    /// Windows are scanned position by position with all channels at once (contiguous in
    /// NHWC), keeping each channel's best value and index in per-thread scratch.
    ///
    /// With `reluGrad` (``_SomaFusedMaxPoolGrad``, `x` being a ReLU's output) the result is
    /// then `ReluGrad(result, x)`: kept where `x > 0`, zero elsewhere — bitwise the two ops'.
    static func maxPoolGrad<T: FloatScalar>(_ x: Tensor, _ grad: Tensor, _ out: Tensor, _ g: Geometry, _ ctx: KernelContext, _: T.Type,
                                            reluGrad: Bool = false) {
        let px = x.pointer(as: T.self), pg = grad.pointer(as: T.self), po = out.mutablePointer(as: T.self)
        let c = g.c
        if writesEveryElement(g, x.dtype) {
            let px = x.pointer(as: Float.self), pg = grad.pointer(as: Float.self), po = out.mutablePointer(as: Float.self)
            return ctx.parallelFor(g.n * g.oh, blockSize: 4, sharing: (px, pg, po, g, reluGrad)) { s, lo, hi in
                let (px, pg, po, g, reluGrad) = s
                for row in lo..<hi { maxPoolGradTiling(px, pg, po, g, row: row, reluGrad: reluGrad) }
            }
        }
        defer {
            // ReluGrad's own loops, in place.
            if reluGrad, T.self == Float.self, let f = NNKernels.floatVectorGradient(.relu) {
                let (px, po) = (x.pointer(as: Float.self), out.mutablePointer(as: Float.self))
                ctx.parallelFor(out.scalarCount, blockSize: MathKernels.splitBlock, sharing: (f, px, po)) { s, lo, hi in
                    let (f, px, po) = s
                    VectorKernels.zip(f, UnsafePointer(po + lo), 1, px + lo, 1, po + lo, count: hi - lo)
                }
            } else if reluGrad {
                NNKernels.gradient(.relu, out, x, out, alpha: T(Double(0.2)))
            }
        }
        if T.self == Float.self && c % 8 == 0 && g.h * g.w <= Int(Int32.max) {
            let px = x.pointer(as: Float.self), pg = grad.pointer(as: Float.self), po = out.mutablePointer(as: Float.self)
            return ctx.parallelFor(g.n, blockSize: 1, sharing: (px, pg, po, g)) { s, lo, hi in
                let (px, pg, po, g) = s
                for i in lo..<hi { maxPoolGradFloat8(px, pg, po, g, image: i) }
            }
        }
        ctx.parallelFor(g.n, blockSize: 1, sharing: (px, pg, po, g)) { s, lo, hi in
            let (px, pg, po, g) = s, c = g.c
            ThreadScratch.withScratch(bytes: c * (MemoryLayout<T>.stride + MemoryLayout<Int>.stride) + 64) { raw in
                let best = raw.bindMemory(to: T.self, capacity: c)
                let at = (raw + c * MemoryLayout<T>.stride).alignedUp(for: Int.self).bindMemory(to: Int.self, capacity: c)
                for i in lo..<hi {
                    for oy in 0..<g.oh {
                        for ox in 0..<g.ow {
                            // The first tap is taken as is, later ones when strictly greater
                            // (TF's rule; a NaN first tap stays): selects, not branches.
                            var empty = true
                            for iy in g.inputRows(oy) {
                                for ix in g.inputColumns(ox) {
                                    let base = ((i * g.h + iy) * g.w + ix) * c
                                    if empty {
                                        for j in 0..<c { best[j] = px[base + j]; at[j] = base + j }
                                        empty = false
                                        continue
                                    }
                                    for j in 0..<c {
                                        let v = px[base + j], greater = v > best[j]
                                        best[j] = greater ? v : best[j]
                                        at[j] = greater ? base + j : at[j]
                                    }
                                }
                            }
                            guard !empty else { continue }
                            let o = ((i * g.oh + oy) * g.ow + ox) * c
                            for j in 0..<c { po[at[j]] += pg[o + j] }
                        }
                    }
                }
            }
        }
    }

    /// `maxPoolGrad` for float32 with channels in multiples of 8, one image: each window's
    /// winners are found eight channels at a time in SIMD registers (the value and the tap
    /// number, replaced where strictly greater: TF's rule, as in the generic loop), then the
    /// gradient goes to each winner — in the same order per element, so bitwise identical.
    static func maxPoolGradFloat8(_ px: UnsafePointer<Float>, _ pg: UnsafePointer<Float>, _ po: UnsafeMutablePointer<Float>,
                                  _ g: Geometry, image i: Int) {
        let c = g.c
        for oy in 0..<g.oh {
            let rows = g.inputRows(oy)
            for ox in 0..<g.ow {
                let columns = g.inputColumns(ox)
                guard !rows.isEmpty && !columns.isEmpty else { continue }
                let o = ((i * g.oh + oy) * g.ow + ox) * c
                for j in stride(from: 0, to: c, by: 8) {
                    // The winners as pixel numbers in the image (iy·W + ix), so the scatter
                    // needs no division.
                    var best = SIMD8<Float>(), tap = SIMD8<Int32>(), first = true
                    for iy in rows {
                        for ix in columns {
                            let pixel = iy * g.w + ix
                            let v = UnsafeRawPointer(px + (i * g.h * g.w + pixel) * c + j).loadUnaligned(as: SIMD8<Float>.self)
                            if first {
                                (best, tap, first) = (v, SIMD8(repeating: Int32(truncatingIfNeeded: pixel)), false)
                            } else {
                                let greater = v .> best
                                best.replace(with: v, where: greater)
                                tap.replace(with: Int32(truncatingIfNeeded: pixel), where: greater)
                            }
                        }
                    }
                    let image = po + i * g.h * g.w * c + j
                    for l in 0..<8 { image[Int(tap[l]) * c + l] += pg[o + j + l] }
                }
            }
        }
    }

    /// Whether ``maxPoolGradTiling(_:_:_:_:row:reluGrad:level:)`` takes a max-pooling gradient: float32,
    /// channels in multiples of 8, windows as large as their strides and inside the image
    /// (2×2 pooling with stride 2, `VALID`, or `SAME` where no padding results), so every
    /// input element lies in at most one window.
    static func writesEveryElement(_ g: Geometry, _ dtype: DType) -> Bool {
        dtype == .float32 && g.c % 8 == 0 && g.kh == g.sh && g.kw == g.sw && g.padTop == 0 && g.padLeft == 0 && g.oh > 0 && g.ow > 0
            && g.kh <= g.h / g.oh && g.kw <= g.w / g.ow && g.h * g.w <= Int(Int32.max)
    }

    /// The max-pooling gradient for windows that tile the input, output row `row` (`i·OH +
    /// oy`), in the CPU's vector build (``VectorLoops/maxPoolGradTilingRow(_:input:gradient:output:row:reluGrad:)``):
    /// each window's winners found as in ``maxPoolGradFloat8(_:_:_:_:image:)`` (the first tap,
    /// then strictly greater ones), then every input under the window written once — its
    /// gradient at the winner, zero elsewhere — and the columns no window covers zeroed, so
    /// the result needs no zeroed buffer beforehand and no read-modify-write adds. The last
    /// output row of an image also zeroes the input rows below every window. With `reluGrad`,
    /// a winner that is not positive gets zero (``_SomaFusedMaxPoolGrad``).
    static func maxPoolGradTiling(_ px: UnsafePointer<Float>, _ pg: UnsafePointer<Float>, _ po: UnsafeMutablePointer<Float>,
                                  _ g: Geometry, row: Int, reluGrad: Bool = false, level: CPULevel? = nil) {
        VectorKernels.maxPoolGradTilingRow(g.pooling, input: px, gradient: pg, output: po, row: row, reluGrad: reluGrad, level: level)
    }

    /// Each window's gradient shared equally among its in-bounds inputs.
    static func avgPoolGrad<T: FloatScalar>(_ grad: Tensor, _ out: Tensor, _ g: Geometry, _ ctx: KernelContext, _: T.Type) {
        let pg = grad.pointer(as: T.self), po = out.mutablePointer(as: T.self)
        ctx.parallelFor(g.n, blockSize: 1, sharing: (pg, po, g)) { s, lo, hi in
            let (pg, po, g) = s
            for i in lo..<hi {
                for oy in 0..<g.oh {
                    for ox in 0..<g.ow {
                        let rows = g.inputRows(oy), columns = g.inputColumns(ox)
                        let count = Swift.max(rows.count * columns.count, 1)
                        let src = pg + ((i * g.oh + oy) * g.ow + ox) * g.c
                        let k = T(Double(count))
                        for iy in rows {
                            for ix in columns {
                                let d = po + ((i * g.h + iy) * g.w + ix) * g.c
                                for j in 0..<g.c { d[j] += src[j] / k }
                            }
                        }
                    }
                }
            }
        }
    }
}
