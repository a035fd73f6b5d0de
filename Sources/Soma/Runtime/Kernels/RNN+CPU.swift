import Foundation

/// The fused LSTM step: `[x, h_prev] · w + b` in one GEMM into per-thread scratch, then
/// the gates and state elementwise.
enum RNNKernels {
    static let table: [String: CPUKernel] = [
        "LSTMBlockCell": { ctx in
            let x = ctx.inputs[0]
            if x.dtype == .float32 { try lstmBlockCell(ctx, Float.self) } else { try lstmBlockCell(ctx, Double.self) }
        },
        "LSTMBlockCellGrad": { ctx in
            if ctx.inputs[0].dtype == .float32 { try lstmBlockCellGrad(ctx, Float.self) } else { try lstmBlockCellGrad(ctx, Double.self) }
        },
    ]

    /// TF's LSTMBlockCellGrad: with `do = dh·co·o(1−o)`,
    /// `dcs = cs_grad + dh·o·(1−co²) [+ do·wco]`, `dci = dcs·i·(1−ci²)`, `di = dcs·ci·i(1−i)`,
    /// `df = dcs·cs_prev·f(1−f)`, `cs_prev_grad = dcs·f [+ di·wci + df·wcf]`; dicfo = [di, dci, df, do].
    static func lstmBlockCellGrad<T: FloatScalar>(_ ctx: KernelContext, _: T.Type) throws {
        let p = (0..<16).map { ctx.inputs[$0].pointer(as: T.self) }
        let (csPrev, wci, wcf, wco) = (p[1], p[4], p[5], p[6])
        let (i, cs, f, o, ci, co, csGrad, hGrad) = (p[8], p[9], p[10], p[11], p[12], p[13], p[14], p[15])
        let peephole = ctx.node.bool("use_peephole") ?? false
        let batch = ctx.inputs[1].shape[0], units = ctx.inputs[1].shape[1]
        let outs = try (0..<5).map { try ctx.allocateOutput($0, zeroed: true) }
        let dcsPrev = outs[0].mutablePointer(as: T.self), dicfo = outs[1].mutablePointer(as: T.self)
        let (dwci, dwcf, dwco) = (outs[2].mutablePointer(as: T.self), outs[3].mutablePointer(as: T.self), outs[4].mutablePointer(as: T.self))
        for r in 0..<batch {
            let row = dicfo + r * 4 * units
            for j in 0..<units {
                let k = r * units + j
                let dO = hGrad[k] * co[k] * o[k] * (1 - o[k])
                var dcs = csGrad[k] + hGrad[k] * o[k] * (1 - co[k] * co[k])
                if peephole { dcs += dO * wco[j] }
                let dci = dcs * i[k] * (1 - ci[k] * ci[k])
                let di = dcs * ci[k] * i[k] * (1 - i[k])
                let df = dcs * csPrev[k] * f[k] * (1 - f[k])
                var prev = dcs * f[k]
                if peephole {
                    prev += di * wci[j] + df * wcf[j]
                    dwci[j] += di * csPrev[k]
                    dwcf[j] += df * csPrev[k]
                    dwco[j] += dO * cs[k]
                }
                dcsPrev[k] = prev
                (row[j], row[units + j], row[2 * units + j], row[3 * units + j]) = (di, dci, df, dO)
            }
        }
        for (k, t) in outs.enumerated() { ctx.setOutput(k, t) }
    }

    /// `1 / (1 + e⁻ˣ)` from `e^(−|x|)` (the same bits as the Sigmoid kernel's scalar form).
    @inline(__always) static func sigmoid<T: FloatScalar>(_ v: T) -> T {
        let e = T.exp(-Swift.abs(v)), s = 1 / (1 + e)
        return v < 0 ? e * s : s
    }

    static func lstmBlockCell<T: FloatScalar>(_ ctx: KernelContext, _: T.Type) throws {
        let (x, csPrev, hPrev, w, b) = (ctx.inputs[0], ctx.inputs[1], ctx.inputs[2], ctx.inputs[3], ctx.inputs[7])
        let batch = x.shape[0], inputs = x.shape[1], units = hPrev.shape[1]
        guard w.shape == [inputs + units, 4 * units], b.shape == [4 * units] else {
            throw KernelError("w \(shapeString(w.shape)) and b \(shapeString(b.shape)) do not fit x \(shapeString(x.shape)) and h \(shapeString(hPrev.shape))")
        }
        let forgetBias = T(Double(ctx.node.float("forget_bias") ?? 1)), clip = T(Double(ctx.node.float("cell_clip") ?? 3))
        let peephole = ctx.node.bool("use_peephole") ?? false
        let outs = try (0..<7).map { try ctx.allocateOutput($0, zeroed: false) }
        let (pi, pcs, pf, po, pci, pco, ph) = (outs[0].mutablePointer(as: T.self), outs[1].mutablePointer(as: T.self),
                                               outs[2].mutablePointer(as: T.self), outs[3].mutablePointer(as: T.self),
                                               outs[4].mutablePointer(as: T.self), outs[5].mutablePointer(as: T.self),
                                               outs[6].mutablePointer(as: T.self))
        let (px, pc, phPrev, pw, pb) = (x.pointer(as: T.self), csPrev.pointer(as: T.self), hPrev.pointer(as: T.self),
                                        w.pointer(as: T.self), b.pointer(as: T.self))
        let (wci, wcf, wco) = (ctx.inputs[4].pointer(as: T.self), ctx.inputs[5].pointer(as: T.self), ctx.inputs[6].pointer(as: T.self))
        let stride = MemoryLayout<T>.stride
        ThreadScratch.withScratch(bytes: batch * (inputs + units + 4 * units) * stride) { raw in
            let xh = raw.assumingMemoryBound(to: T.self), gates = xh + batch * (inputs + units)
            for r in 0..<batch {
                (xh + r * (inputs + units)).update(from: px + r * inputs, count: inputs)
                (xh + r * (inputs + units) + inputs).update(from: phPrev + r * units, count: units)
            }
            ConvKernels.gemm(false, false, batch, 4 * units, inputs + units, xh, inputs + units, pw, 4 * units, beta: 0, gates, 4 * units)
            for r in 0..<batch {
                let row = gates + r * 4 * units
                for j in 0..<units {
                    let k = r * units + j
                    let cPrev = pc[k]
                    var iPre = row[j] + pb[j], fPre = row[2 * units + j] + pb[2 * units + j] + forgetBias
                    if peephole { iPre += cPrev * wci[j]; fPre += cPrev * wcf[j] }
                    let i = sigmoid(iPre), f = sigmoid(fPre), ci = T.tanh(row[units + j] + pb[units + j])
                    var cs = ci * i + cPrev * f
                    if clip > 0 { cs = Swift.min(Swift.max(cs, -clip), clip) }
                    var oPre = row[3 * units + j] + pb[3 * units + j]
                    if peephole { oPre += cs * wco[j] }
                    let o = sigmoid(oPre), co = T.tanh(cs)
                    (pi[k], pcs[k], pf[k], po[k], pci[k], pco[k], ph[k]) = (i, cs, f, o, ci, co, co * o)
                }
            }
        }
        for (k, t) in outs.enumerated() { ctx.setOutput(k, t) }
    }
}
