import Foundation
import Testing
@testable import Soma
import SomaSIMD

/// The float32 exp, tanh, erf and erfc that kernels use (no libm calls, so loops vectorise), against
/// float64 libm, in ulps of the float32 result.
@Suite struct ElementaryFunctionTests {
    static func ulps(_ value: Float, _ exact: Double) -> Double {
        let rounded = Float(exact)
        guard rounded.isFinite, rounded != 0 else { return value == rounded ? 0 : .infinity }
        return Swift.abs(Double(value) - exact) / Double(rounded.ulp)
    }

    @Test func expIsWithinTwoUlps() {
        var worst = 0.0
        for i in 0...200_000 {
            let x = Float(-87.0 + 175.0 * Double(i) / 200_000)
            worst = Swift.max(worst, Self.ulps(Float.exp(x), Foundation.exp(Double(x))))
        }
        #expect(worst <= 2, "max error \(worst) ulps")
        #expect(Float.exp(100) == .infinity && Float.exp(-100) == 0 && Float.exp(.nan).isNaN && Float.exp(0) == 1)
    }

    @Test func tanhIsWithinTwentyUlps() {
        var worst = 0.0
        for i in 0...200_000 {
            let x = Float(-10.0 + 20.0 * Double(i) / 200_000)
            worst = Swift.max(worst, Self.ulps(Float.tanh(x), Foundation.tanh(Double(x))))
        }
        #expect(worst <= 20, "max error \(worst) ulps")
        #expect(Float.tanh(0) == 0 && Float.tanh(20) == 1 && Float.tanh(-20) == -1 && Float.tanh(.nan).isNaN)
        #expect(Float.tanh(1e-30) == 1e-30)
    }

    /// erf and erfc against float64 libm over [−10, 10] (a sweep, and points near 0 and
    /// near the regions' boundary at ½ in ulps of their own): erf within 3 ulp, erfc within
    /// 6 where it is a normal float — its tail, 1.5·10⁻⁴⁴ at 10, is where a rounded `x²`
    /// would cost most — and 0 where it is below.
    @Test func erfAndErfcAreWithinAFewUlps() {
        var inputs = (0...200_000).map { Float(-10.0 + 20.0 * Double($0) / 200_000) }
        for i in 0..<2_000 {
            let near = Float(0.5) + Float(i - 1_000) * Float(0.5).ulp
            inputs += [near, -near, Float(1e-8 * Double(i + 1)), -Float(1e-8 * Double(i + 1))]
        }
        var worstErf = 0.0, worstErfc = 0.0
        for x in inputs {
            worstErf = Swift.max(worstErf, Self.ulps(Float.erf(x), Foundation.erf(Double(x))))
            let exact = Foundation.erfc(Double(x))
            if exact >= Double(Float.leastNormalMagnitude) {
                worstErfc = Swift.max(worstErfc, Self.ulps(Float.erfc(x), exact))
            } else {
                #expect(Float.erfc(x) == 0 || Double(Float.erfc(x)) <= 2 * Double(Float.leastNormalMagnitude), "erfc(\(x))")
            }
        }
        #expect(worstErf <= 3, "erf: max error \(worstErf) ulps")
        #expect(worstErfc <= 6, "erfc: max error \(worstErfc) ulps")
        #expect(Float.erf(.infinity) == 1 && Float.erf(-.infinity) == -1 && Float.erf(.nan).isNaN)
        #expect(Float.erf(-0.0).sign == .minus && Float.erf(0) == 0)
        #expect(Self.ulps(Float.erf(1e-30), 1.1283791670955126e-30) <= 1)
        #expect(Float.erfc(.infinity) == 0 && Float.erfc(-.infinity) == 2 && Float.erfc(.nan).isNaN && Float.erfc(0) == 1)
    }

    /// The SIMD forms kernels use compute the same bits as their scalar twins (which run
    /// the tails of loops), lane by lane, special values included.
    @Test func vectorFormsMatchTheScalarFormsBitwise() {
        var inputs: [Float] = (0...4000).map { Float(-100.0 + 200.0 * Double($0) / 4000) }
        inputs += [0, -0, .nan, .infinity, -.infinity, 1e-30, -1e-30, 88.72283, -87.33654, 0.4, -0.4, 9, -9, 0.5, -0.5, 9.3454, 10, -10]
        while inputs.count % VectorMath.width != 0 { inputs.append(0.25) }
        var exp: [Float] = [], tanh: [Float] = [], sigmoid: [Float] = [], erf: [Float] = [], erfc: [Float] = []
        for start in Swift.stride(from: 0, to: inputs.count, by: VectorMath.width) {
            var v = VectorMath.V()
            for k in 0..<VectorMath.width { v[k] = inputs[start + k] }
            let (e, t, s) = (VectorMath.exp(v), VectorMath.tanh(v), VectorMath.sigmoid(v))
            let (f, c) = (VectorMath.erf(v), VectorMath.erfc(v))
            for k in 0..<VectorMath.width {
                exp.append(e[k]); tanh.append(t[k]); sigmoid.append(s[k]); erf.append(f[k]); erfc.append(c[k])
            }
        }
        func same(_ a: Float, _ b: Float) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }
        for (i, x) in inputs.enumerated() {
            #expect(same(exp[i], Float.exp(x)), "exp(\(x))")
            #expect(same(tanh[i], Float.tanh(x)), "tanh(\(x))")
            #expect(same(sigmoid[i], VectorMath.sigmoid(x)), "sigmoid(\(x))")
            #expect(same(erf[i], Float.erf(x)), "erf(\(x))")
            #expect(same(erfc[i], Float.erfc(x)), "erfc(\(x))")
            if x.isFinite {  // exp flushes below e^-87.3, so subnormal results become 0
                let exact = 1 / (1 + Foundation.exp(-Double(x)))
                #expect(Swift.abs(Double(sigmoid[i]) - exact) <= 4 * Double(Float(exact).ulp) + Double(Float.leastNormalMagnitude), "sigmoid(\(x))")
            }
        }
    }

    /// Inputs for the loop tests: a sweep, special values, and an odd count so that every
    /// loop has a scalar tail.
    static let loopInputs: [Float] = (0..<1003).map { Float(-12.0 + 24.0 * Double($0) / 1003) }
        + [0, -Float(0), .nan, -.nan, .infinity, -.infinity, 1e-30, -1e-30, 88.72283, -87.33654, 0.4, -0.4, 6, 9, -9]

    /// Where `a` and `b` first differ in bits ("none" when they do not; NaNs of either
    /// sign count as equal only with the same bits).
    static func firstDifference(_ a: [Float], _ b: [Float]) -> String {
        guard let i = a.indices.first(where: { a[$0].bitPattern != b[$0].bitPattern }) else { return "none" }
        return "at \(i): \(a[i]) (\(String(a[i].bitPattern, radix: 16))) vs \(b[i]) (\(String(b[i].bitPattern, radix: 16)))"
    }

    /// Every build of the vector loops this CPU runs (baseline, AVX2, AVX-512) gives the
    /// same bits for every function, and those are the scalar functions' bits, element by
    /// element (independent of where the vector part ends).
    @Test(arguments: CPULevel.allCases.filter { $0 <= CPULevel.detected })
    func everyBuildOfTheLoopsGivesTheScalarBits(level: CPULevel) {
        let x = Self.loopInputs, y = x.reversed().map { $0 * 0.5 + 0.25 }
        for f in UnaryFunction.allCases {
            var out = [Float](repeating: 0, count: x.count)
            VectorKernels.map(f, x, &out, count: x.count, level: level)
            let expected = x.map { v -> Float in
                var one: Float = 0
                withUnsafePointer(to: v) { VectorKernels.map(f, $0, &one, count: 1, level: .baseline) }  // the scalar twin alone
                return one
            }
            #expect(Self.firstDifference(out, expected) == "none", "\(f) at \(level)")
        }
        for f in BinaryFunction.allCases {
            for (sa, sb) in [(1, 1), (0, 1), (1, 0)] {
                var out = [Float](repeating: 0, count: x.count)
                VectorKernels.zip(f, x, sa, y, sb, &out, count: x.count, level: level)
                var expected = [Float](repeating: 0, count: x.count)
                for i in 0..<x.count {
                    withUnsafePointer(to: x[i * sa]) { a in
                        withUnsafePointer(to: y[i * sb]) { b in VectorKernels.zip(f, a, 0, b, 0, &expected[i], count: 1, level: .baseline) }
                    }
                }
                #expect(Self.firstDifference(out, expected) == "none", "\(f) strides (\(sa), \(sb)) at \(level)")
            }
        }
        // Bias and activation rows: the addition, then the function, in one pass.
        for f in [nil] + UnaryFunction.allCases.map(Optional.some) {
            let (rows, n) = (3, 37)
            let bias = Array(y.prefix(n))
            var out = Array(x.prefix(rows * n)), expected = out
            VectorKernels.biasActivation(f, &out, rows: rows, n: n, bias, level: level)
            for r in 0..<rows {
                expected.withUnsafeMutableBufferPointer { e in
                    let row = e.baseAddress! + r * n
                    VectorKernels.zip(.add, row, 1, bias, 1, row, count: n, level: .baseline)
                    if let f { VectorKernels.map(f, row, row, count: n, level: .baseline) }
                }
            }
            #expect(Self.firstDifference(out, expected) == "none", "bias + \(f.map { "\($0)" } ?? "nothing") at \(level)")
        }
        // Depthwise rows (3×3, stride 2, padding 1 on both sides, 27 channels: 16-, 8-wide and
        // scalar channels, interior and border columns) against the baseline build.
        let g = DepthwiseGeometry(h: 9, w: 11, c: 27, kh: 3, kw: 3, oh: 5, ow: 6, sh: 2, sw: 2, dh: 1, dw: 1, padTop: 1, padLeft: 1)
        let image = (0..<(9 * 11 * 27)).map { Float(sin(Double($0))) }, filter = (0..<(9 * 27)).map { Float(cos(Double($0))) }
        var rowsOut = [Float](repeating: 0, count: 5 * 6 * 27), reference = rowsOut
        for (out, rowLevel) in [(0, level), (1, CPULevel.baseline)] {
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: 5 * 6 * 27)
            defer { buffer.deallocate() }
            // All rows in one call at the level under test, one call per row at the baseline's.
            if out == 0 { VectorKernels.depthwiseForwardRows(g, input: image, filter: filter, output: buffer, rows: 0..<5, level: rowLevel) }
            for oy in 0..<5 where out == 1 {
                VectorKernels.depthwiseForwardRows(g, input: image, filter: filter, output: buffer + oy * 6 * 27, rows: oy..<(oy + 1),
                                                   level: rowLevel)
            }
            if out == 0 { rowsOut = Array(UnsafeBufferPointer(start: buffer, count: 5 * 6 * 27)) }
            else { reference = Array(UnsafeBufferPointer(start: buffer, count: 5 * 6 * 27)) }
        }
        #expect(Self.firstDifference(rowsOut, reference) == "none", "depthwise rows at \(level)")
        // Three-wide rows at strides 1 and 2 with the bias and function in registers
        // (four-column blocks that share loads, edge columns, 16-wide channel blocks and a
        // scalar rest, rows in the padding, dilated rows; dilated and five-wide rows in their
        // own blocks) against the generic row loop and the bias-activation loop, bit for bit.
        for h in [
            DepthwiseGeometry(h: 7, w: 13, c: 48, kh: 3, kw: 3, oh: 7, ow: 13, sh: 1, sw: 1, dh: 1, dw: 1, padTop: 1, padLeft: 1),
            DepthwiseGeometry(h: 7, w: 13, c: 37, kh: 3, kw: 3, oh: 5, ow: 11, sh: 1, sw: 1, dh: 1, dw: 1, padTop: 0, padLeft: 0),
            DepthwiseGeometry(h: 9, w: 11, c: 27, kh: 3, kw: 3, oh: 5, ow: 6, sh: 2, sw: 2, dh: 1, dw: 1, padTop: 1, padLeft: 1),
            DepthwiseGeometry(h: 9, w: 14, c: 16, kh: 3, kw: 3, oh: 5, ow: 14, sh: 2, sw: 1, dh: 2, dw: 1, padTop: 2, padLeft: 1),
            DepthwiseGeometry(h: 6, w: 9, c: 32, kh: 5, kw: 5, oh: 6, ow: 9, sh: 1, sw: 1, dh: 1, dw: 1, padTop: 2, padLeft: 2),
            // No four interior columns: four-block and one-block columns and a scalar rest.
            DepthwiseGeometry(h: 7, w: 7, c: 88, kh: 5, kw: 5, oh: 7, ow: 7, sh: 1, sw: 1, dh: 1, dw: 1, padTop: 2, padLeft: 2),
            // Strided and dilated along the row, interior blocks and edges.
            DepthwiseGeometry(h: 12, w: 15, c: 80, kh: 3, kw: 3, oh: 6, ow: 7, sh: 2, sw: 2, dh: 1, dw: 1, padTop: 0, padLeft: 0),
            DepthwiseGeometry(h: 12, w: 21, c: 80, kh: 3, kw: 3, oh: 6, ow: 10, sh: 2, sw: 2, dh: 1, dw: 1, padTop: 0, padLeft: 0),
            // Stride 2 with padding on the left (interior blocks from the second column) and a
            // window past the right edge (TF's SAME on an even width: padding after only).
            DepthwiseGeometry(h: 11, w: 23, c: 48, kh: 3, kw: 3, oh: 6, ow: 12, sh: 2, sw: 2, dh: 1, dw: 1, padTop: 1, padLeft: 1),
            DepthwiseGeometry(h: 10, w: 18, c: 35, kh: 3, kw: 3, oh: 5, ow: 9, sh: 2, sw: 2, dh: 1, dw: 1, padTop: 0, padLeft: 0),
            DepthwiseGeometry(h: 5, w: 19, c: 64, kh: 3, kw: 3, oh: 5, ow: 19, sh: 1, sw: 1, dh: 1, dw: 2, padTop: 1, padLeft: 2),
        ] {
            let image = (0..<(h.h * h.w * h.c)).map { Float(sin(Double($0) * 0.7)) }
            let filter = (0..<(h.kh * h.kw * h.c)).map { Float(cos(Double($0))) }, bias = (0..<h.c).map { Float(sin(Double($0) * 3)) }
            let size = h.oh * h.ow * h.c
            for f in [nil] + UnaryFunction.allCases.map(Optional.some) {
                for biased in [true, false] {
                    var fused = [Float](repeating: .nan, count: size), expected = fused
                    // The first row alone, the rest in one call.
                    for rows in [0..<1, 1..<h.oh] {
                        fused.withUnsafeMutableBufferPointer { out in
                            bias.withUnsafeBufferPointer { b in
                                VectorKernels.depthwiseForwardRows(h, input: image, filter: filter,
                                                                   output: out.baseAddress! + rows.lowerBound * h.ow * h.c, rows: rows,
                                                                   bias: biased ? b.baseAddress! : nil, f, level: level)
                            }
                        }
                    }
                    for oy in 0..<h.oh {
                        expected.withUnsafeMutableBufferPointer { out in
                            let row = out.baseAddress! + oy * h.ow * h.c
                            VectorLoops.depthwiseForwardRow(h, input: image, filter: filter, output: row, row: oy)
                            if biased { VectorKernels.biasActivation(f, row, rows: h.ow, n: h.c, bias, level: .baseline) }
                            else if let f { VectorKernels.map(f, row, row, count: h.ow * h.c, level: .baseline) }
                        }
                    }
                    #expect(Self.firstDifference(fused, expected) == "none",
                            "depthwise rows \(h.kh)×\(h.kw) stride \(h.sw) with \(biased ? "bias" : "no bias") + \(f.map { "\($0)" } ?? "nothing") at \(level)")
                }
            }
        }
        // Spot check against a direct sum: output (2, 3), channel 4.
        var sum: Float = 0
        for ky in 0..<3 { for kx in 0..<3 {
            let (iy, ix) = (2 * 2 - 1 + ky, 3 * 2 - 1 + kx)
            if iy >= 0 && iy < 9 && ix >= 0 && ix < 11 { sum += image[(iy * 11 + ix) * 27 + 4] * filter[(ky * 3 + kx) * 27 + 4] }
        } }
        #expect(Swift.abs(rowsOut[(2 * 6 + 3) * 27 + 4] - sum) <= 1e-5)
        // Narrow convolution rows (few output channels, dot products along 37 input
        // channels: two vectors and a rest): interior blocks of four columns, edge columns,
        // strides, dilations, a window wider than the rows' interior — against the baseline
        // build bit for bit, and against a float64 sum.
        for h in [
            NarrowConvolutionGeometry(h: 7, w: 13, c: 37, kh: 3, kw: 3, oc: 3, oh: 7, ow: 13, sh: 1, sw: 1, dh: 1, dw: 1, padTop: 1, padLeft: 1),
            NarrowConvolutionGeometry(h: 9, w: 15, c: 37, kh: 3, kw: 3, oc: 1, oh: 4, ow: 7, sh: 2, sw: 2, dh: 1, dw: 1, padTop: 0, padLeft: 0),
            NarrowConvolutionGeometry(h: 6, w: 11, c: 37, kh: 3, kw: 3, oc: 5, oh: 6, ow: 11, sh: 1, sw: 1, dh: 2, dw: 2, padTop: 2, padLeft: 2),
            NarrowConvolutionGeometry(h: 5, w: 5, c: 37, kh: 5, kw: 5, oc: 7, oh: 5, ow: 5, sh: 1, sw: 1, dh: 1, dw: 1, padTop: 2, padLeft: 2),
        ] {
            let image = (0..<(h.h * h.w * h.c)).map { Float(sin(Double($0) * 0.3)) }
            let filter = (0..<(h.oc * h.kh * h.kw * h.c)).map { Float(cos(Double($0) * 0.7)) }
            var out = [Float](repeating: .nan, count: h.oh * h.ow * h.oc), reference = out
            for oy in 0..<h.oh {
                out.withUnsafeMutableBufferPointer {
                    VectorKernels.narrowConvolutionRow(h, input: image, filter: filter, output: $0.baseAddress! + oy * h.ow * h.oc, row: oy,
                                                       level: level)
                }
                reference.withUnsafeMutableBufferPointer {
                    VectorKernels.narrowConvolutionRow(h, input: image, filter: filter, output: $0.baseAddress! + oy * h.ow * h.oc, row: oy,
                                                       level: .baseline)
                }
            }
            #expect(Self.firstDifference(out, reference) == "none", "narrow rows \(h.kh)×\(h.kw) stride \(h.sw) at \(level)")
            for oy in 0..<h.oh { for ox in 0..<h.ow { for o in 0..<h.oc {
                var sum = 0.0
                for ky in 0..<h.kh { for kx in 0..<h.kw {
                    let (iy, ix) = (oy * h.sh - h.padTop + ky * h.dh, ox * h.sw - h.padLeft + kx * h.dw)
                    guard iy >= 0 && iy < h.h && ix >= 0 && ix < h.w else { continue }
                    for c in 0..<h.c {
                        sum += Double(image[(iy * h.w + ix) * h.c + c]) * Double(filter[((o * h.kh + ky) * h.kw + kx) * h.c + c])
                    }
                } }
                #expect(Swift.abs(Double(out[(oy * h.ow + ox) * h.oc + o]) - sum) <= 1e-4, "narrow \(oy), \(ox), \(o)")
            } } }
        }
        // Column sums: 37 columns (four vectors of eight and a rest) over 5 rows, each column
        // summed in float64 in row order — the plain loop's bits at every level.
        do {
            let (n, rows) = (37, 5)
            let input = (0..<(n * rows)).map { x[($0 * 5) % x.count].isFinite ? x[($0 * 5) % x.count] : 2 }
            var sums = [Double](repeating: 0.5, count: n), expected = sums
            VectorKernels.addRows(input, n: n, rows: 1..<rows, into: &sums, level: level)
            for r in 1..<rows { for j in 0..<n { expected[j] += Double(input[r * n + j]) } }
            #expect(sums == expected, "column sums at \(level)")
        }
        // Short and long rows, several at once and one by one.
        for log in [false, true] { for (n, rows) in [(203, 3), (64, 11), (1500, 2)] {
            let input = (0..<(n * rows)).map { x[($0 * 7) % x.count].isFinite ? x[($0 * 7) % x.count] : 1 }
            var out = [Float](repeating: 0, count: n * rows), reference = out, single = out
            VectorKernels.softmaxRows(input, &out, n: n, rows: 0..<rows, log: log, level: level)
            VectorKernels.softmaxRows(input, &reference, n: n, rows: 0..<rows, log: log, level: .baseline)
            for r in 0..<rows { VectorKernels.softmaxRows(input, &single, n: n, rows: r..<(r + 1), log: log, level: level) }
            #expect(Self.firstDifference(out, reference) == "none", "softmax (log: \(log)) \(rows)×\(n) at \(level)")
            #expect(Self.firstDifference(out, single) == "none", "softmax (log: \(log)) \(rows)×\(n) row by row at \(level)")
            for r in 0..<rows {
                let row = input[(r * n)..<((r + 1) * n)].map(Double.init), m = row.max()!
                let sum = row.reduce(0) { $0 + Foundation.exp($1 - m) }
                for j in 0..<n {
                    let exact = log ? row[j] - m - Foundation.log(sum) : Foundation.exp(row[j] - m) / sum
                    #expect(Swift.abs(Double(out[r * n + j]) - exact) <= 1e-5 * Swift.max(1, Swift.abs(exact)))
                }
            }
        } }
        // Streamed rows (3 rows of `a`, transposed, through 11 rows of `b` — two groups of
        // four and three single rows — and 37 columns: a 32-wide step, none of 16, a scalar
        // rest) against the baseline build and a float64 sum.
        let (m, n, k) = (3, 37, 11)
        let a = Array(x.prefix(m * k)).map { $0.isFinite ? $0 : 1 }, b = (0..<(k * 40)).map { Float(sin(Double($0))) }
        var streamed = [Float](repeating: 0, count: m * 40), baseline = streamed
        VectorKernels.streamRows(m: m, n: n, k: k, a: a, rowStride: 1, depthStride: m, b: b, ldb: 40, c: &streamed, ldc: 40, level: level)
        VectorKernels.streamRows(m: m, n: n, k: k, a: a, rowStride: 1, depthStride: m, b: b, ldb: 40, c: &baseline, ldc: 40, level: .baseline)
        #expect(Self.firstDifference(streamed, baseline) == "none", "streamed rows at \(level)")
        for i in 0..<m { for j in 0..<n {
            let exact = (0..<k).reduce(0.0) { $0 + Double(a[$1 * m + i]) * Double(b[$1 * 40 + j]) }
            #expect(Swift.abs(Double(streamed[i * 40 + j]) - exact) <= 1e-4 * Swift.max(1, Swift.abs(exact)))
        } }
        #expect(streamed[37..<40].allSatisfy { $0 == 0 }, "columns past n are left alone")
    }

    /// Winograd F(2×2, 3×3), F(4×4, 3×3) and F(2×2, 5×5) tile transforms give the same bits in
    /// every build and match their definition: `Bᵀ d B` of each tile's 4×4 (6×6) input block
    /// (zeros in the padding), `Aᵀ M A` of its products written where the outputs lie inside the image —
    /// tiles of a whole image and of its tile rows from the second, channels in vectors of
    /// sixteen and four, a last tile row and column half outside the output; and the filter
    /// gradient's `A dY Aᵀ` of each tile's 2×2 block of `dy` (zeros beyond the output).
    @Test(arguments: CPULevel.allCases.filter { $0 <= CPULevel.detected }, [(3, 2), (3, 4), (5, 2)])
    func winogradTransformsAreTheSameBitsInEveryBuild(level: CPULevel, tiles: (window: Int, tile: Int)) {
        let (window, tile) = tiles, pad = window / 2, side = window + tile - 1, positions = side * side
        let g = WinogradGeometry(h: 7, w: 9, c: 20, oc: 24, oh: 7, ow: 9, padTop: pad, padLeft: pad, window: window, tile: tile)
        let image = (0..<(g.h * g.w * g.c)).map { Float(sin(Double($0) * 0.37)) }
        let bt: [[Double]] = side == 4 ? [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
            : [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
        let at: [[Double]] = side == 4 ? [[1, 1, 1, 0], [0, 1, -1, -1]]
            : tile == 4 ? [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]
            : [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 1]]
        // Float32 sums of up to 36 terms with coefficients up to 25: their rounding.
        let tolerance = side == 4 ? 1e-5 : 1e-4
        let tileRows = (g.oh + tile - 1) / tile
        for (firstRow, count) in [(0, tileRows * g.tilesPerRow), (1, (tileRows - 1) * g.tilesPerRow)] {
            var v = [Float](repeating: .nan, count: positions * count * g.c), reference = v
            VectorKernels.winogradInputTiles(g, image: image, into: &v, firstRow: firstRow, count: count, level: level)
            VectorKernels.winogradInputTiles(g, image: image, into: &reference, firstRow: firstRow, count: count, level: .baseline)
            #expect(Self.firstDifference(v, reference) == "none", "Winograd input tiles from row \(firstRow) at \(level)")
            for t in 0..<count { for channel in 0..<g.c {
                let top = tile * (firstRow + t / g.tilesPerRow) - g.padTop, left = tile * (t % g.tilesPerRow) - g.padLeft
                func d(_ r: Int, _ s: Int) -> Double {
                    let (y, x) = (top + r, left + s)
                    return y >= 0 && y < g.h && x >= 0 && x < g.w ? Double(image[(y * g.w + x) * g.c + channel]) : 0
                }
                for i in 0..<side { for j in 0..<side {
                    var exact = 0.0
                    for r in 0..<side { for s in 0..<side { exact += bt[i][r] * d(r, s) * bt[j][s] } }
                    #expect(Swift.abs(Double(v[((i * side + j) * count + t) * g.c + channel]) - exact) <= tolerance, "V[\(i)][\(j)] of tile \(t)")
                } }
            } }
            let products = (0..<(positions * count * g.oc)).map { Float(cos(Double($0) * 0.11)) }
            var out = [Float](repeating: .nan, count: g.oh * g.ow * g.oc), expected = out
            VectorKernels.winogradOutputTiles(g, products: products, into: &out, firstRow: firstRow, count: count, level: level)
            VectorKernels.winogradOutputTiles(g, products: products, into: &expected, firstRow: firstRow, count: count, level: .baseline)
            #expect(Self.firstDifference(out, expected) == "none", "Winograd output tiles from row \(firstRow) at \(level)")
            for t in 0..<count { for o in 0..<g.oc {
                let (y, x) = (tile * (firstRow + t / g.tilesPerRow), tile * (t % g.tilesPerRow))
                for a in 0..<tile { for b in 0..<tile where y + a < g.oh && x + b < g.ow {
                    var exact = 0.0
                    for i in 0..<side { for j in 0..<side {
                        exact += at[a][i] * Double(products[((i * side + j) * count + t) * g.oc + o]) * at[b][j]
                    } }
                    #expect(Swift.abs(Double(out[((y + a) * g.ow + x + b) * g.oc + o]) - exact) <= tolerance, "Y[\(a)][\(b)] of tile \(t)")
                } }
            } }
            let rows = tile * firstRow..<Swift.min(g.oh, tile * (firstRow + count / g.tilesPerRow))
            #expect(out.indices.allSatisfy { rows.contains($0 / (g.ow * g.oc)) != out[$0].isNaN }, "only the tiles' rows are written")

            // The filter gradient's transform of dy's 2×2 tiles: A dY Aᵀ, zeros beyond the output.
            guard tile == 2 else { continue }
            let dy = (0..<(g.oh * g.ow * g.oc)).map { Float(sin(Double($0) * 0.23)) }
            var w = [Float](repeating: .nan, count: positions * count * g.oc), baselineW = w
            VectorKernels.winogradGradientTiles(g, outBackprop: dy, into: &w, firstRow: firstRow, count: count, level: level)
            VectorKernels.winogradGradientTiles(g, outBackprop: dy, into: &baselineW, firstRow: firstRow, count: count, level: .baseline)
            #expect(Self.firstDifference(w, baselineW) == "none", "Winograd gradient tiles from row \(firstRow) at \(level)")
            for t in 0..<count { for o in 0..<g.oc {
                let (y, x) = (2 * (firstRow + t / g.tilesPerRow), 2 * (t % g.tilesPerRow))
                func gradient(_ a: Int, _ b: Int) -> Double { y + a < g.oh && x + b < g.ow ? Double(dy[((y + a) * g.ow + x + b) * g.oc + o]) : 0 }
                for i in 0..<side { for j in 0..<side {
                    var exact = 0.0
                    for a in 0..<2 { for b in 0..<2 { exact += at[a][i] * gradient(a, b) * at[b][j] } }
                    #expect(Swift.abs(Double(w[((i * side + j) * count + t) * g.oc + o]) - exact) <= tolerance, "W[\(i)][\(j)] of tile \(t)")
                } }
            } }
        }
    }
}
