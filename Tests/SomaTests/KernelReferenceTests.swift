import Foundation
import Testing
@testable import Soma
import SomaSIMD

/// Kernels against naive Swift loops on seeded random data larger than the fixtures.
@Suite struct KernelReferenceTests {

    func random(_ shape: [Int], _ rng: inout SplitMix64) -> Tensor {
        try! Tensor((0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) }, shape: shape)
    }

    func naiveMatmul(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { for p in 0..<k { c[i * n + j] += a[i * k + p] * b[p * n + j] } } }
        return c
    }

    @Test(arguments: [(1, 1, 1), (7, 13, 5), (64, 48, 32), (130, 70, 129)])
    func matmulMatchesNaiveLoop(m: Int, k: Int, n: Int) throws {
        var rng = SplitMix64(seed: UInt64(m * 1000 + k * 10 + n))
        let a = random([m, k], &rng), b = random([k, n], &rng)
        let g = Graph()
        let c = try matmul(g.constant(a), g.constant(b))
        let result = try Session(graph: g).run(c)
        let expected = try Tensor(naiveMatmul(a.scalars(), b.scalars(), m: m, k: k, n: n), shape: [m, n])
        #expect(result.isApproximatelyEqual(to: expected, relativeTolerance: 1e-4, absoluteTolerance: 1e-5))
    }

    /// Float32 products on every GEMM path — LIBXSMM's JIT kernels where `B` fits in L2
    /// and is not transposed (``SmallGEMM``), LIBXSMM tiles where a larger `B` is not
    /// transposed (``BlockedGEMM``: `k` a multiple of its slices, with a remainder, shallower
    /// than one; one row; balanced row blocks), either of them over a copy of a transposed
    /// `B` from 16 rows (``LinalgKernels/gemmTransposingB(_:_:_:_:m:n:k:lda:ldc:_:)``; the
    /// last case with rows and columns of `B` no multiple of four, two row blocks),
    /// OpenBLAS otherwise — split into row blocks
    /// (200 rows: four) or, with one row block, into column blocks, with either operand
    /// transposed; one or two rows through a large `B` streamed (``StreamingGEMM``: eight
    /// chunks of `k`, depths that are no multiple of four, `op(A) = Aᵀ`, 70,000 columns in
    /// panels with a single chunk) — against a float64 loop; the same bits on 1, 2 and 3 threads.
    @Test(arguments: [
        (200, 192, 512, false, false), (200, 192, 512, true, false), (32, 5, 3, true, false), (200, 400, 600, false, false),
        (70, 400, 600, true, false), (32, 192, 512, false, false), (32, 192, 520, true, false), (32, 192, 300, false, true),
        (1, 1280, 1000, false, false), (130, 512, 300, false, false), (49, 200, 1000, true, false), (100, 700, 400, false, true),
        (1, 4099, 130, false, false), (2, 701, 300, true, false), (2, 3, 70_000, false, false), (70, 203, 130, true, true),
    ])
    func matmulPathsMatchAFloat64Loop(m: Int, k: Int, n: Int, transposeA: Bool, transposeB: Bool) throws {
        var rng = SplitMix64(seed: UInt64(m + k * 7 + n * 13))
        let a = random(transposeA ? [k, m] : [m, k], &rng), b = random(transposeB ? [n, k] : [k, n], &rng)
        let (pa, pb) = (a.scalars(as: Float.self), b.scalars(as: Float.self))
        var expected = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n {
            var total = 0.0
            for p in 0..<k { total += Double(pa[transposeA ? p * m + i : i * k + p]) * Double(pb[transposeB ? j * k + p : p * n + j]) }
            expected[i * n + j] = Float(total)
        } }
        let small = k * n * 4 <= SmallGEMM.maximumBBytes
        #expect((SmallGEMM.kernel(ta: transposeA, m: m, n: n, k: k, lda: transposeA ? m : k, ldb: n, ldc: n) != nil)
                == (small && LIBXSMM.available))
        #expect((BlockedGEMM.Tiling(ta: transposeA, tb: transposeB, m: m, n: n, k: k, lda: transposeA ? m : k, ldb: transposeB ? k : n,
                                    ldc: n) != nil) == (!small && !transposeB && LIBXSMM.available))
        let streamed = StreamingGEMM.Partition(ta: transposeA, tb: transposeB, m: m, n: n, k: k, lda: transposeA ? m : k,
                                               ldb: transposeB ? k : n, ldc: n)
        #expect((streamed != nil) == (!small && !transposeB && m <= StreamingGEMM.maximumRows))
        if let streamed, n == 70_000 { #expect(streamed.chunks == 1 && streamed.panels == 69 && streamed.partialBytes == 0) }
        if let streamed, k > 512 { #expect(streamed.chunks == StreamingGEMM.maximumChunks && streamed.panels == 1) }
        func result(threads: Int) throws -> [Float] {
            let g = Graph()
            let product = try matmul(g.constant(a), g.constant(b), transposeA: transposeA, transposeB: transposeB)
            var options = SessionOptions()
            options.intraOpThreads = threads
            return try Session(graph: g, options: options).run(product).scalars(as: Float.self)
        }
        let r = try result(threads: 2)
        // Float32 sums of k products drift from the float64 ones as √k (700 deep: 3.8e-5 on values near 20).
        #expect(try Tensor(r, shape: [m, n]).isApproximatelyEqual(to: try Tensor(expected, shape: [m, n]), relativeTolerance: 1e-5,
                                                                  absoluteTolerance: 3e-6 * Double(k).squareRoot()))
        for threads in [1, 3] { #expect(try result(threads: threads) == r) }
    }

    /// Tile against its definition (`out[i] = x[i mod shape]` per axis): the innermost axis
    /// tiled, a middle one with untiled axes after it (Keras' `UpSampling2D`), the outermost,
    /// several at once, none, rank 1 and rank 0; in float32 and int64.
    @Test(arguments: [
        ([2, 3], [1, 3]), ([2, 1, 4, 3], [1, 2, 1, 1]), ([3, 2, 2], [2, 1, 1]), ([2, 3, 2], [3, 2, 2]), ([2, 3], [1, 1]),
        ([5], [3]), ([], []),
    ])
    func tileMatchesItsDefinition(shape: [Int], multiples: [Int]) throws {
        let outShape = zip(shape, multiples).map { $0 * $1 }
        let count = shape.reduce(1, *)
        func index(_ o: Int) -> Int {
            var rest = o, i = 0, step = 1
            for d in stride(from: shape.count - 1, through: 0, by: -1) {
                i += (rest % outShape[d]) % shape[d] * step
                rest /= outShape[d]
                step *= shape[d]
            }
            return i
        }
        let values = (0..<count).map { Float($0) * 0.5 - 1 }
        for dtype in [DType.float32, .int64] {
            let x = dtype == .float32 ? try Tensor(values, shape: shape) : try Tensor(values.map { Int64($0 * 2) }, shape: shape)
            let g = Graph()
            let result = try Session(graph: g).run(try tile(g.constant(x), multiples: multiples))
            #expect(result.shape == outShape)
            let expected = (0..<outShape.reduce(1, *)).map { x.doubleScalars()[index($0)] }
            #expect(result.doubleScalars() == expected, "\(shape) × \(multiples) in \(dtype)")
        }
    }

    /// ``BlockedGEMM`` accumulating into `C` (`beta` 1, as filter gradients sum over groups of
    /// images) with `op(A) = Aᵀ` and leading dimensions wider than the block, against a
    /// float64 loop; the elements outside the block stay as they were.
    @Test func blockedGEMMAccumulatesIntoAStridedBlock() throws {
        let (m, n, k, lda, ldb, ldc) = (75, 300, 600, 80, 310, 305)
        var rng = SplitMix64(seed: 42)
        let a = random([k, lda], &rng).scalars(as: Float.self), b = random([k, ldb], &rng).scalars(as: Float.self)
        var c = random([m, ldc], &rng).scalars(as: Float.self)
        var expected = c
        for i in 0..<m { for j in 0..<n {
            var total = Double(c[i * ldc + j])
            for p in 0..<k { total += Double(a[p * lda + i]) * Double(b[p * ldb + j]) }
            expected[i * ldc + j] = Float(total)
        } }
        guard let tiling = BlockedGEMM.Tiling(ta: true, tb: false, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, beta: 1) else {
            #expect(!LIBXSMM.available)
            return
        }
        #expect(tiling.rowBlocks == 2 && tiling.columnBlocks == 3)
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
            tiling.run(pa.baseAddress!, pb.baseAddress!, pc.baseAddress!)
        } } }
        #expect(try Tensor(c, shape: [m, ldc]).isApproximatelyEqual(to: try Tensor(expected, shape: [m, ldc]), relativeTolerance: 1e-5,
                                                                  absoluteTolerance: 1e-5))
    }

    /// ``BlockedGEMM`` reading `B` in panels (``BlockedGEMM/packPanels(_:k:n:into:)``, as the
    /// compiler stores large constant weights) gives the bits of the unpacked tiles: one row,
    /// a few, balanced row blocks, `op(A) = Aᵀ`, a last panel narrower than the rest, `k` with
    /// and without a remainder of slices; both against a float64 loop.
    @Test(arguments: [(1, 1100, 130, false), (5, 1100, 130, true), (70, 600, 300, false), (3, 4099, 33, false), (130, 512, 257, true)])
    func panelsGiveTheTilesBits(m: Int, k: Int, n: Int, transposeA: Bool) throws {
        var rng = SplitMix64(seed: UInt64(m * 31 + k + n))
        let a = random(transposeA ? [k, m] : [m, k], &rng).scalars(as: Float.self), b = random([k, n], &rng).scalars(as: Float.self)
        let lda = transposeA ? m : k
        guard let plain = BlockedGEMM.Tiling(ta: transposeA, tb: false, m: m, n: n, k: k, lda: lda, ldb: n, ldc: n),
              let panels = BlockedGEMM.Tiling(ta: transposeA, tb: false, m: m, n: n, k: k, lda: lda, ldb: n, ldc: n, panels: true) else {
            #expect(!LIBXSMM.available)
            return
        }
        #expect(panels.columnBlocks == (n + BlockedGEMM.panelColumns - 1) / BlockedGEMM.panelColumns)
        var packed = [Float](repeating: .nan, count: k * n)
        b.withUnsafeBufferPointer { pb in packed.withUnsafeMutableBufferPointer { BlockedGEMM.packPanels(pb.baseAddress!, k: k, n: n, into: $0.baseAddress!) } }
        // Panel j holds columns 32j… row after row.
        let last = (n - 1) / BlockedGEMM.panelColumns * BlockedGEMM.panelColumns, width = n - last
        #expect(packed[last * k + (k - 1) * width + width - 1] == b[(k - 1) * n + n - 1])
        let second = Swift.min(BlockedGEMM.panelColumns, n - BlockedGEMM.panelColumns)
        #expect(packed[BlockedGEMM.panelColumns * k + second] == b[n + BlockedGEMM.panelColumns])
        func product(_ tiling: BlockedGEMM.Tiling, _ b: [Float]) -> [Float] {
            var c = [Float](repeating: .nan, count: m * n)
            a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
                for t in 0..<tiling.count { tiling.run(t, pa.baseAddress!, pb.baseAddress!, pc.baseAddress!) }
            } } }
            return c
        }
        let expected = product(plain, b), actual = product(panels, packed)
        #expect(actual == expected)
        var exact = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n {
            var total = 0.0
            for p in 0..<k { total += Double(a[transposeA ? p * m + i : i * k + p]) * Double(b[p * n + j]) }
            exact[i * n + j] = Float(total)
        } }
        // Sums of up to 4,099 float32 products: absolute errors near 1e-5 where a result is near zero.
        #expect(try Tensor(actual, shape: [m, n]).isApproximatelyEqual(to: try Tensor(exact, shape: [m, n]), relativeTolerance: 1e-4,
                                                                       absoluteTolerance: 1e-4))
    }

    /// Each path of the batched product: a weight shared by every batch (one GEMM of all
    /// rows), a batch smaller than the thread count (products split by rows), broadcast
    /// batches (a block each), with adjoints — from 16 rows a transposed `y` is copied for
    /// LIBXSMM, rows of `y` no multiple of four in the last (attention's `q·kᵀ` per batch);
    /// the same bits on 1, 2 and 3 threads.
    @Test(arguments: [
        ([3, 70, 33], [33, 20], false, false), ([2, 3, 70, 33], [1, 20, 33], false, true),
        ([1, 130, 40], [1, 40, 66], false, false), ([4, 1, 9, 5], [3, 9, 7], true, false),
        ([2, 5, 8], [2, 6, 5], true, true), ([8, 17, 24], [8, 19, 24], false, true),
    ])
    func batchMatMulMatchesNaiveLoops(xShape: [Int], yShape: [Int], adjX: Bool, adjY: Bool) throws {
        var rng = SplitMix64(seed: UInt64(xShape.reduce(1, *) + yShape.reduce(5, *)))
        let x = random(xShape, &rng), y = random(yShape, &rng)
        let (xs, ys) = (x.scalars(as: Float.self), y.scalars(as: Float.self))
        let (xr, yr) = (xShape.count, yShape.count)
        let m = adjX ? xShape[xr - 1] : xShape[xr - 2], k = adjX ? xShape[xr - 2] : xShape[xr - 1]
        let n = adjY ? yShape[yr - 2] : yShape[yr - 1]
        let xBatch = Array(xShape.dropLast(2)), yBatch = Array(yShape.dropLast(2))
        let rank = max(xBatch.count, yBatch.count)
        let xb = Array(repeating: 1, count: rank - xBatch.count) + xBatch, yb = Array(repeating: 1, count: rank - yBatch.count) + yBatch
        let outBatch = zip(xb, yb).map { max($0, $1) }
        var expected: [Float] = []
        for b in 0..<outBatch.reduce(1, *) {
            var rest = b, xi = 0, yi = 0, xStride = 1, yStride = 1
            for d in (0..<rank).reversed() {
                let index = rest % outBatch[d]
                rest /= outBatch[d]
                if xb[d] > 1 { xi += index * xStride }
                if yb[d] > 1 { yi += index * yStride }
                xStride *= xb[d]; yStride *= yb[d]
            }
            for i in 0..<m { for j in 0..<n {
                var total: Double = 0
                for p in 0..<k {
                    let a = xs[xi * m * k + (adjX ? p * m + i : i * k + p)], c = ys[yi * k * n + (adjY ? j * k + p : p * n + j)]
                    total += Double(a) * Double(c)
                }
                expected.append(Float(total))
            } }
        }
        func result(threads: Int) throws -> Tensor {
            let g = Graph()
            let product = try batchMatmul(g.constant(x), g.constant(y), adjointX: adjX, adjointY: adjY)
            var options = SessionOptions()
            options.intraOpThreads = threads
            return try Session(graph: g, options: options).run(product)
        }
        let r = try result(threads: 2)
        #expect(r.shape == outBatch + [m, n])
        #expect(r.isApproximatelyEqual(to: try Tensor(expected, shape: r.shape), relativeTolerance: 1e-5, absoluteTolerance: 1e-5))
        for threads in [1, 3] { #expect(try result(threads: threads).scalars(as: Float.self) == r.scalars(as: Float.self)) }
    }

    /// Softmax and log-softmax rows of every width around the vector width and past one
    /// 1,024-value chunk, against float64; a row with a NaN is all NaN.
    @Test(arguments: [1, 15, 16, 17, 100, 2_500])
    func softmaxMatchesAFloat64Reference(width: Int) throws {
        var rng = SplitMix64(seed: UInt64(width))
        var values = (0..<(3 * width)).map { _ in Float.random(in: -30...30, using: &rng) }
        values[2 * width + width / 2] = .nan
        let x = try Tensor(values, shape: [3, width])
        let g = Graph()
        let c = try g.constant(x)
        let r = try Session(graph: g).run(fetches: [softmax(c), logSoftmax(c)])
        for row in 0..<2 {
            let slice = values[(row * width)..<((row + 1) * width)].map(Double.init)
            let m = slice.max()!, total = slice.reduce(0) { $0 + Foundation.exp($1 - m) }
            let expected = slice.map { Float(Foundation.exp($0 - m) / total) }, expectedLog = slice.map { Float($0 - m - Foundation.log(total)) }
            let (soft, log) = (r[0].scalars(as: Float.self)[(row * width)..<((row + 1) * width)],
                               r[1].scalars(as: Float.self)[(row * width)..<((row + 1) * width)])
            for (a, e) in zip(soft, expected) { #expect(abs(a - e) <= 1e-6 + 1e-5 * e, "softmax \(a) vs \(e)") }
            for (a, e) in zip(log, expectedLog) { #expect(abs(a - e) <= 1e-4 + 1e-6 * abs(e), "log-softmax \(a) vs \(e)") }
        }
        #expect(r[0].scalars(as: Float.self)[(2 * width)...].allSatisfy { $0.isNaN })
        #expect(r[1].scalars(as: Float.self)[(2 * width)...].allSatisfy { $0.isNaN })
    }

    @Test func largeBroadcastAndReductionMatchNaiveLoops() throws {
        var rng = SplitMix64(seed: 7)
        let x = random([33, 17, 9], &rng), bias = random([17, 1], &rng)
        let g = Graph()
        let sum = try add(g.constant(x), g.constant(bias))
        let reduced = try reduceSum(sum, axis: [0, 2])
        let r = try Session(graph: g).run(fetches: [sum, reduced])
        let xs = x.scalars(as: Float.self), bs = bias.scalars(as: Float.self)
        var expectedSum = [Float](), expectedReduced = [Double](repeating: 0, count: 17)
        for i in 0..<33 { for j in 0..<17 { for k in 0..<9 {
            let v = xs[(i * 17 + j) * 9 + k] + bs[j]
            expectedSum.append(v)
            expectedReduced[j] += Double(v)
        } } }
        #expect(r[0].scalars(as: Float.self) == expectedSum)
        #expect(r[1].isApproximatelyEqual(to: Tensor(expectedReduced.map { Float($0) }), relativeTolerance: 1e-4, absoluteTolerance: 1e-4))
    }

    /// `AddN` of many float32 inputs sums block by block in the L1 cache
    /// (``MathKernels/addN(_:into:_:)``): each element is the inputs added in order — a
    /// float32 loop's bits — for a size split across threads and no multiple of the blocks,
    /// two and 33 inputs, on one, two and three threads; a float64 `AddN` keeps its own path.
    @Test func addNSumsInInputOrderOnAnyThreadCount() throws {
        var rng = SplitMix64(seed: 31)
        let shape = [7, 10_001], count = 7 * 10_001
        #expect(count >= 2 * MathKernels.splitBlock && count % MathKernels.addNBlock != 0 && count % MathKernels.splitBlock != 0)
        for inputCount in [2, 33] {
            let inputs = (0..<inputCount).map { _ in random(shape, &rng) }
            var expected = inputs[0].scalars(as: Float.self)
            for input in inputs.dropFirst() { for (i, v) in input.scalars(as: Float.self).enumerated() { expected[i] += v } }
            for threads in [1, 2, 3] {
                let g = Graph()
                let placeholders = try inputs.indices.map { try g.placeholder(.float32, shape: TensorShape(shape), name: "x\($0)") }
                let sum = try g.output("AddN", placeholders, name: nil, file: "", line: 0)
                var options = SessionOptions()
                options.intraOpThreads = threads
                let feeds = Dictionary(uniqueKeysWithValues: zip(placeholders, inputs))
                let values = try Session(graph: g, options: options).run(fetches: [sum], feeds: feeds)[0].scalars(as: Float.self)
                #expect(values == expected, "\(inputCount) inputs, \(threads) threads")
            }
        }
        let g = Graph()
        let doubles = try g.output("AddN", [g.constant(Tensor([1.5, 2.5] as [Double])), g.constant(Tensor([0.25, -2.5] as [Double]))],
                                   name: nil, file: "", line: 0)
        #expect(try Session(graph: g).run(fetches: [doubles])[0].scalars(as: Double.self) == [1.75, 0])
    }

    /// A transpose of the last two dimensions of 4-byte elements runs as blocks of register
    /// tiles (``ArrayKernels/transposeMatrices(_:_:_:)``): float32 and int32 batches of
    /// matrices whose sides are no multiple of the tiles or the blocks, against an index
    /// loop, on one, two and three threads; a NaN's bits move unchanged.
    @Test func matrixTransposesMatchAnIndexLoop() throws {
        var rng = SplitMix64(seed: 41)
        #expect(3 * 117 * 130 >= MathKernels.splitBlock)  // split across threads
        for shape in [[150, 37], [3, 117, 130], [2, 1, 5, 3]] {
            let (rows, columns) = (shape[shape.count - 2], shape[shape.count - 1]), batches = shape.dropLast(2).reduce(1, *)
            let perm = Array(0..<(shape.count - 2)) + [shape.count - 1, shape.count - 2]
            var x = random(shape, &rng)
            var values = x.scalars(as: Float.self)
            values[1] = Float(bitPattern: 0x7FC0_1234)
            x = try Tensor(values, shape: shape)
            let integers = try Tensor(values.indices.map { Int32($0) }, shape: shape)
            var expected = values, expectedIntegers = [Int32](repeating: 0, count: values.count)
            for b in 0..<batches { for r in 0..<rows { for c in 0..<columns {
                expected[(b * columns + c) * rows + r] = values[(b * rows + r) * columns + c]
                expectedIntegers[(b * columns + c) * rows + r] = Int32((b * rows + r) * columns + c)
            } } }
            for threads in [1, 2, 3] {
                let g = Graph()
                let fx = try g.placeholder(.float32, shape: TensorShape(shape), name: "x"), fi = try g.placeholder(.int32, shape: TensorShape(shape), name: "i")
                var options = SessionOptions()
                options.intraOpThreads = threads
                let r = try Session(graph: g, options: options).run(fetches: [transpose(fx, perm: perm), transpose(fi, perm: perm)],
                                                                    feeds: [fx: x, fi: integers])
                #expect(r[0].scalars(as: Float.self).map(\.bitPattern) == expected.map(\.bitPattern), "\(shape), \(threads) threads")
                #expect(r[1].scalars(as: Int32.self) == expectedIntegers, "\(shape), \(threads) threads")
            }
        }
    }

    /// A sequential float32 accumulator stalls at 2^24; TF's tree reductions do not.
    @Test func floatSumsDoNotStallAt2To24() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil], name: "x")
        let grid = try g.placeholder(.float32, shape: [nil, nil], name: "grid")
        let fetches = [try reduceSum(x), try reduceMean(x), try reduceSum(grid), try reduceSum(grid, axis: [0])]
        let ones = Tensor(repeating: Float(1), shape: [1 << 25])
        let r = try Session(graph: g).run(fetches: fetches, feeds: [x: ones, grid: ones.reshaped(to: [1 << 12, 1 << 13])])
        #expect(r[0].scalars(as: Float.self) == [33_554_432])
        #expect(r[1].scalars(as: Float.self) == [1])
        #expect(r[2].scalars(as: Float.self) == [33_554_432])
        #expect(r[3].scalars(as: Float.self).allSatisfy { $0 == 4096 })
    }

    /// Sums and means over the leading axes of a large input (a bias gradient's reduction)
    /// run as fixed chunks of rows on the pool (``ReductionKernels/columnSums(_:_:_:mean:_:)``):
    /// against a float64 loop, for `Sum`, `Mean` and `BiasAddGrad`, with a row count no
    /// multiple of the chunks; the same bits on one, two and three threads.
    @Test func columnSumsMatchAFloat64LoopOnAnyThreadCount() throws {
        var rng = SplitMix64(seed: 77)
        let shape = [3, 50, 61, 40], rows = 3 * 50 * 61
        let x = random(shape, &rng), values = x.scalars(as: Float.self)
        var expected = [Double](repeating: 0, count: 40)
        for r in 0..<rows { for j in 0..<40 { expected[j] += Double(values[r * 40 + j]) } }
        #expect(rows / ReductionKernels.columnSumChunkRows >= 4)
        func results(threads: Int) throws -> [[Float]] {
            let g = Graph()
            let input = try g.placeholder(.float32, shape: TensorShape(shape), name: "x")
            let biasGradient = try g.output("BiasAddGrad", [input], attrs: [:], name: nil, file: "", line: 0)
            var options = SessionOptions()
            options.intraOpThreads = threads
            return try Session(graph: g, options: options).run(fetches: [reduceSum(input, axis: [0, 1, 2]), reduceMean(input, axis: [0, 1, 2]),
                                                                         biasGradient], feeds: [input: x]).map { $0.scalars(as: Float.self) }
        }
        let r = try results(threads: 2)
        for (values, scale) in [(r[0], 1.0), (r[1], 1 / Double(rows)), (r[2], 1.0)] {
            #expect(try Tensor(values, shape: [40]).isApproximatelyEqual(to: try Tensor(expected.map { Float($0 * scale) }, shape: [40]),
                                                                        relativeTolerance: 1e-6, absoluteTolerance: 1e-6))
        }
        for threads in [1, 3] { #expect(try results(threads: threads) == r) }
    }

    /// Sums, means and softmax normalisers of 2^20 random values against a float64 loop
    /// (NumPy's float64 sum is the same reference).
    @Test func largeFloatReductionsMatchAFloat64Reference() throws {
        var rng = SplitMix64(seed: 2025)
        let n = 1 << 20
        let values = (0..<n).map { _ in Float.random(in: 0..<1, using: &rng) }
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [n], name: "x")
        let row = try reshape(x, [1, n])
        let r = try Session(graph: g).run(fetches: [try reduceSum(x), try reduceMean(x), try softmax(row), try logSoftmax(row)],
                                          feeds: [x: try Tensor(values, shape: [n])])
        let exact = values.reduce(0.0) { $0 + Double($1) }
        func relativeError(_ a: Float, _ b: Double) -> Double { abs(Double(a) - b) / abs(b) }
        #expect(relativeError(r[0].scalars(as: Float.self)[0], exact) < 1e-6)
        #expect(relativeError(r[1].scalars(as: Float.self)[0], exact / Double(n)) < 1e-6)
        let m = Double(values.max()!)
        let normaliser = values.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) }
        let softmaxValues = r[2].scalars(as: Float.self), logSoftmaxValues = r[3].scalars(as: Float.self)
        for j in stride(from: 0, to: n, by: 4099) {
            let expected = Foundation.exp(Double(values[j]) - m) / normaliser
            #expect(relativeError(softmaxValues[j], expected) < 1e-5)
            #expect(abs(Double(logSoftmaxValues[j]) - Foundation.log(expected)) < 1e-5)
        }
    }

    /// One depthwise convolution case: NHWC input, [KH, KW, C, M] filter.
    struct DepthwiseCase: Sendable, CustomTestStringConvertible {
        let input: [Int], filter: [Int], stride: Int, dilation: Int, padding: String
        var testDescription: String { "\(input) * \(filter) stride \(stride) dilation \(dilation) \(padding)" }
    }

    /// The depthwise forward pass and both backprops against naive float64 loops, on shapes
    /// with vector tails, strides, dilations, multipliers and both paddings; and bitwise the
    /// same for 1, 2 and 3 intra-op threads.
    @Test(arguments: [
        DepthwiseCase(input: [2, 9, 11, 19], filter: [3, 3, 19, 1], stride: 1, dilation: 1, padding: "SAME"),
        DepthwiseCase(input: [1, 12, 10, 32], filter: [3, 3, 32, 1], stride: 2, dilation: 1, padding: "SAME"),
        DepthwiseCase(input: [3, 8, 8, 5], filter: [5, 5, 5, 3], stride: 1, dilation: 1, padding: "VALID"),
        DepthwiseCase(input: [2, 7, 9, 8], filter: [3, 2, 8, 2], stride: 1, dilation: 2, padding: "SAME"),
        DepthwiseCase(input: [1, 13, 13, 24], filter: [5, 5, 24, 1], stride: 2, dilation: 1, padding: "VALID"),
        // MobileNet's 3×3 rows at wide channel counts: edge columns four blocks of sixteen at
        // a time, interior runs with the filter in registers, a remainder under sixteen.
        DepthwiseCase(input: [1, 10, 14, 83], filter: [3, 3, 83, 1], stride: 1, dilation: 1, padding: "SAME"),
        DepthwiseCase(input: [2, 11, 13, 70], filter: [3, 3, 70, 1], stride: 2, dilation: 1, padding: "SAME"),
        DepthwiseCase(input: [1, 7, 9, 64], filter: [3, 3, 64, 1], stride: 1, dilation: 1, padding: "VALID"),
        // Interiors that are not a multiple of four columns (at stride 1 the last one to three
        // columns a window at a time, at stride 2 the last group ending the interior,
        // computing columns again) and edge columns of one, two, three and six blocks.
        DepthwiseCase(input: [1, 6, 24, 48], filter: [3, 3, 48, 1], stride: 1, dilation: 1, padding: "SAME"),
        DepthwiseCase(input: [1, 8, 21, 16], filter: [3, 3, 16, 1], stride: 2, dilation: 1, padding: "SAME"),
        DepthwiseCase(input: [1, 5, 17, 96], filter: [3, 3, 96, 1], stride: 2, dilation: 1, padding: "SAME"),
        DepthwiseCase(input: [1, 6, 11, 112], filter: [5, 5, 112, 1], stride: 1, dilation: 1, padding: "SAME"),
        // Five-wide at stride 2 on a row of eight: six interior columns, the last group of
        // four computing two again.
        DepthwiseCase(input: [1, 9, 16, 40], filter: [5, 5, 40, 1], stride: 2, dilation: 1, padding: "SAME"),
        DepthwiseCase(input: [1, 5, 11, 37], filter: [3, 3, 37, 1], stride: 1, dilation: 1, padding: "SAME"),
        DepthwiseCase(input: [1, 5, 9, 32], filter: [3, 3, 32, 1], stride: 1, dilation: 1, padding: "SAME"),
        // Stride 2 along the interior in pairs of channel blocks: an odd count of blocks (the
        // last one alone) and of interior columns (the last pair computing one again).
        DepthwiseCase(input: [1, 7, 17, 48], filter: [3, 3, 48, 1], stride: 2, dilation: 1, padding: "SAME"),
        // Rows of fewer than four interior columns (a small image's): each channel block over
        // every position with its filter in registers, windows cut on every side, a remainder.
        DepthwiseCase(input: [1, 6, 6, 192], filter: [3, 3, 192, 1], stride: 2, dilation: 1, padding: "SAME"),
        DepthwiseCase(input: [2, 3, 3, 37], filter: [3, 3, 37, 1], stride: 1, dilation: 1, padding: "SAME"),
        DepthwiseCase(input: [1, 7, 3, 32], filter: [3, 3, 32, 1], stride: 1, dilation: 1, padding: "SAME"),
        DepthwiseCase(input: [1, 9, 8, 35], filter: [3, 3, 35, 1], stride: 2, dilation: 1, padding: "VALID"),
        DepthwiseCase(input: [1, 5, 4, 48], filter: [3, 3, 48, 1], stride: 1, dilation: 1, padding: "SAME"),
        // Rows wider than the level-1 cache: interiors band by band of channels down blocks of rows.
        DepthwiseCase(input: [1, 9, 32, 100], filter: [3, 3, 100, 1], stride: 2, dilation: 1, padding: "SAME"),
        DepthwiseCase(input: [1, 10, 40, 80], filter: [3, 3, 80, 1], stride: 2, dilation: 1, padding: "VALID"),
    ])
    func depthwiseConvolutionMatchesNaiveLoops(_ t: DepthwiseCase) throws {
        var rng = SplitMix64(seed: UInt64(t.input.reduce(7, *) + t.filter.reduce(3, *)))
        let (n, h, w, c) = (t.input[0], t.input[1], t.input[2], t.input[3]), (kh, kw, m) = (t.filter[0], t.filter[1], t.filter[3])
        func outputSize(_ size: Int, _ k: Int) -> (Int, Int) {
            let span = (k - 1) * t.dilation + 1
            if t.padding == "VALID" { return ((size - span) / t.stride + 1, 0) }
            let out = (size + t.stride - 1) / t.stride
            return (out, max((out - 1) * t.stride + span - size, 0) / 2)
        }
        let (oh, top) = outputSize(h, kh), (ow, left) = outputSize(w, kw)
        let x = random(t.input, &rng), f = random(t.filter, &rng), dy = random([n, oh, ow, c * m], &rng)
        let xs = x.scalars(as: Float.self), fs = f.scalars(as: Float.self), dys = dy.scalars(as: Float.self)
        var y = [Double](repeating: 0, count: n * oh * ow * c * m), dx = [Double](repeating: 0, count: xs.count)
        var df = [Double](repeating: 0, count: fs.count)
        for i in 0..<n { for oy in 0..<oh { for ox in 0..<ow { for ky in 0..<kh { for kx in 0..<kw {
            let iy = oy * t.stride - top + ky * t.dilation, ix = ox * t.stride - left + kx * t.dilation
            guard (0..<h).contains(iy) && (0..<w).contains(ix) else { continue }
            for ch in 0..<c { for j in 0..<m {
                let xi = ((i * h + iy) * w + ix) * c + ch, fi = ((ky * kw + kx) * c + ch) * m + j
                let yi = ((i * oh + oy) * ow + ox) * c * m + ch * m + j
                y[yi] += Double(xs[xi]) * Double(fs[fi])
                dx[xi] += Double(dys[yi]) * Double(fs[fi])
                df[fi] += Double(xs[xi]) * Double(dys[yi])
            } }
        } } } } }
        func results(threads: Int) throws -> [Tensor] {
            let g = Graph()
            let attrs: [String: AttrValue] = ["strides": .ints([1, t.stride, t.stride, 1]), "padding": .string(t.padding),
                                              "dilations": .ints([1, t.dilation, t.dilation, 1])]
            let (xc, fc, dyc) = (try g.constant(x), try g.constant(f), try g.constant(dy))
            let fetches = [
                try depthwiseConv2D(xc, filter: fc, strides: [t.stride, t.stride], padding: t.padding, dilations: [t.dilation, t.dilation]),
                try g.output("DepthwiseConv2dNativeBackpropInput", [g.constant(Tensor(t.input.map(Int32.init))), fc, dyc], attrs: attrs,
                             name: nil, file: "", line: 0),
                try g.output("DepthwiseConv2dNativeBackpropFilter", [xc, g.constant(Tensor(t.filter.map(Int32.init))), dyc], attrs: attrs,
                             name: nil, file: "", line: 0),
            ]
            var options = SessionOptions()
            options.intraOpThreads = threads
            return try Session(graph: g, options: options).run(fetches: fetches)
        }
        let r = try results(threads: 2)
        for (result, expected) in zip(r, [y, dx, df]) {
            let reference = try Tensor(expected.map { Float($0) }, shape: result.shape)
            #expect(result.isApproximatelyEqual(to: reference, relativeTolerance: 1e-5, absoluteTolerance: 1e-5))
        }
        for threads in [1, 3] {
            #expect(try results(threads: threads).map { $0.scalars(as: Float.self) } == r.map { $0.scalars(as: Float.self) })
        }
    }

    /// Three-wide rows wider than the level-1 cache run their interiors band by band of
    /// channels down a block of rows (`VectorLoops.takesChannelBands`); every output must keep
    /// the bits it has when each row runs alone, in every build: SAME and VALID, odd block
    /// counts and a remainder, with and without a bias and activation. The naive-loop cases
    /// above check the values.
    @Test(arguments: [(9, 32, 100, 2, "SAME"), (10, 40, 80, 2, "VALID"), (8, 48, 64, 2, "SAME"), (11, 26, 112, 2, "SAME")])
    func depthwiseChannelBandsKeepTheRowsBits(h: Int, w: Int, c: Int, stride: Int, padding: String) throws {
        var rng = SplitMix64(seed: UInt64(h * w * c + stride))
        let x = random([1, h, w, c], &rng), f = random([3, 3, c, 1], &rng), b = random([c], &rng)
        let attrs: [String: AttrValue] = ["strides": .ints([1, stride, stride, 1]), "padding": .string(padding)]
        let g = try ConvKernels.Geometry(input: [1, h, w, c], filter: [3, 3, c, 1], attrs: attrs).depthwise
        #expect(VectorLoops.takesChannelBands(g))
        let xs = x.scalars(as: Float.self), fs = f.scalars(as: Float.self), bs = b.scalars(as: Float.self)
        for level in CPULevel.allCases where level <= CPULevel.detected {
            for (bias, function) in [(false, UnaryFunction?.none), (true, .relu6)] {
                func run(_ blocks: [Range<Int>]) -> [UInt32] {
                    var out = [Float](repeating: .nan, count: g.oh * g.ow * c)
                    xs.withUnsafeBufferPointer { px in fs.withUnsafeBufferPointer { pf in bs.withUnsafeBufferPointer { pb in
                        out.withUnsafeMutableBufferPointer { po in
                            for rows in blocks {
                                VectorKernels.depthwiseForwardRows(g, input: px.baseAddress!, filter: pf.baseAddress!,
                                                                   output: po.baseAddress! + rows.lowerBound * g.ow * c, rows: rows,
                                                                   bias: bias ? pb.baseAddress! : nil, function, level: level)
                            }
                        }
                    } } }
                    return out.map(\.bitPattern)
                }
                let alone = run((0..<g.oh).map { $0..<($0 + 1) })
                #expect(run([0..<g.oh]) == alone, "\(level) bias \(bias)")
                #expect(run([0..<3, 3..<g.oh]) == alone, "\(level) bias \(bias)")
                #expect(!alone.contains(Float.nan.bitPattern))
            }
        }
    }

    /// Einsum against a loop over every label assignment: equations whose matrices are
    /// strided views of the operands (Keras attention's, transposed operands, a transposed
    /// output, labels of size 1, row bands) and ones that need copies (a label summed in one
    /// operand, a product in the wrong order); the same bits on 1, 2 and 3 threads.
    @Test(arguments: [
        ("abc,cde->abde", [2, 5, 4], [4, 3, 6]), ("BTNH,BSNH->BNTS", [2, 5, 3, 4], [2, 6, 3, 4]),
        ("BNTS,BSNH->BTNH", [2, 3, 5, 6], [2, 6, 3, 4]), ("abcd,cde->abe", [2, 5, 3, 4], [3, 4, 6]),
        ("ji,jk->ik", [7, 5], [7, 4]), ("ij,kj->ki", [5, 7], [4, 7]), ("bij,bjk->bik", [3, 1, 4], [3, 4, 1]),
        ("ij,jk->ik", [130, 70], [70, 66]), ("ijk,jl->il", [3, 4, 5], [4, 6]), ("ab,cb->ac", [1, 5], [3, 5]),
        ("bic,bjc->bji", [2, 4, 3], [2, 5, 3]),
    ])
    func einsumMatchesALoopOverLabels(equation: String, xShape: [Int], yShape: [Int]) throws {
        var rng = SplitMix64(seed: UInt64(xShape.reduce(3, *) + yShape.reduce(1, *)))
        let x = random(xShape, &rng), y = random(yShape, &rng)
        let sides = equation.components(separatedBy: "->"), terms = sides[0].components(separatedBy: ",")
        let (xl, yl, ol) = (Array(terms[0]), Array(terms[1]), Array(sides[1]))
        var size: [Character: Int] = [:]
        for (l, d) in zip(xl + yl, xShape + yShape) { size[l] = d }
        let labels = Array(Set(xl + yl)).sorted()
        var expected = [Double](repeating: 0, count: ol.reduce(1) { $0 * size[$1]! })
        let (xs, ys) = (x.scalars(as: Float.self), y.scalars(as: Float.self))
        func offset(_ term: [Character], _ at: [Character: Int]) -> Int { term.reduce(0) { $0 * size[$1]! + at[$1]! } }
        for flat in 0..<labels.reduce(1, { $0 * size[$1]! }) {
            var rest = flat, at: [Character: Int] = [:]
            for l in labels.reversed() { at[l] = rest % size[l]!; rest /= size[l]! }
            expected[offset(ol, at)] += Double(xs[offset(xl, at)]) * Double(ys[offset(yl, at)])
        }
        func result(threads: Int) throws -> Tensor {
            let g = Graph()
            let product = try einsum(equation, [g.constant(x), g.constant(y)])
            var options = SessionOptions()
            options.intraOpThreads = threads
            return try Session(graph: g, options: options).run(product)
        }
        let r = try result(threads: 2)
        #expect(r.shape == ol.map { size[$0]! })
        #expect(r.isApproximatelyEqual(to: try Tensor(expected.map { Float($0) }, shape: r.shape), relativeTolerance: 1e-5, absoluteTolerance: 1e-5))
        for threads in [1, 3] { #expect(try result(threads: threads).scalars(as: Float.self) == r.scalars(as: Float.self)) }
    }

    /// `einsum` without `->` writes TF's explicit equation (as `tf.einsum` does); the op
    /// itself needs the arrow, as TF's does.
    @Test func einsumBuilderMakesImplicitOutputsExplicit() throws {
        var rng = SplitMix64(seed: 12)
        let a = random([3, 4], &rng), b = random([4, 2], &rng)
        let g = Graph()
        let product = try einsum("ij,jk", [g.constant(a), g.constant(b)])
        let transposed = try einsum("ba", [g.constant(a)])
        #expect(product.node.attrs["equation"] == .string("ij,jk->ik") && transposed.node.attrs["equation"] == .string("ba->ab"))
        let r = try Session(graph: g).run(fetches: [product, transposed, matmul(g.constant(a), g.constant(b))])
        #expect(r[0].isApproximatelyEqual(to: r[2], relativeTolerance: 1e-6, absoluteTolerance: 1e-6))
        #expect(r[1].shape == [4, 3] && r[1].scalars(as: Float.self)[1] == a.scalars(as: Float.self)[4])
        #expect(throws: SomaError.self) { try g.output("Einsum", [g.constant(a), g.constant(b)], attrs: ["equation": .string("ij,jk")], name: nil, file: "", line: 0) }
    }

    /// Float32 max pooling (the vector rows, 8 channels at a time and the rest one by one)
    /// equals the definition — the maximum from −∞ over the window's taps inside the image in
    /// scan order, a tap taken where `>=` the maximum so far, so NaNs are passed over and the
    /// later of two zeros wins — at every CPU level, with `SAME` padding, overlapping and
    /// strided windows, on values full of ties, signed zeros and NaNs.
    @Test(arguments: [([2, 2], [2, 2], "VALID", 16), ([3, 3], [2, 2], "SAME", 11), ([3, 3], [1, 1], "SAME", 8), ([1, 4], [1, 3], "SAME", 3)])
    func maxPoolingRowsMatchTheDefinition(_ ksize: [Int], _ strides: [Int], _ padding: String, _ channels: Int) throws {
        let shape = [2, 7, 9, channels]
        let special: [Float] = [.nan, 0, -0.0, 1, -1, 2]
        let values = (0..<shape.reduce(1, *)).map { special[($0 * 7919) % special.count] * Float(($0 * 31) % 3 + 1) }
        let x = try Tensor(values, shape: shape)
        let attrs: [String: AttrValue] = ["ksize": .ints([1] + ksize + [1]), "strides": .ints([1] + strides + [1]), "padding": .string(padding)]
        let g = try ConvKernels.Geometry(input: shape, window: attrs)
        var expected = [Float](repeating: 0, count: g.n * g.oh * g.ow * g.c)
        for i in 0..<g.n { for oy in 0..<g.oh { for ox in 0..<g.ow { for j in 0..<g.c {
            var best = -Float.infinity
            for iy in g.inputRows(oy) { for ix in g.inputColumns(ox) { best = Swift.max(best, values[((i * g.h + iy) * g.w + ix) * g.c + j]) } }
            expected[((i * g.oh + oy) * g.ow + ox) * g.c + j] = best
        } } } }
        let bits = { (v: [Float]) in v.map(\.bitPattern) }
        for level in CPULevel.allCases where level <= CPULevel.detected {
            var pooled = [Float](repeating: 1, count: expected.count)
            values.withUnsafeBufferPointer { px in pooled.withUnsafeMutableBufferPointer { po in
                for row in 0..<g.n * g.oh { VectorKernels.maxPoolRow(g.pooling, input: px.baseAddress!, output: po.baseAddress!, row: row, level: level) }
            } }
            #expect(bits(pooled) == bits(expected), "\(level)")
        }
        let graph = Graph()
        let pooled = try Session(graph: graph).run(maxPool(graph.constant(x), ksize: ksize, strides: strides, padding: padding))
        #expect(bits(pooled.scalars(as: Float.self)) == bits(expected))
        #expect(values.contains { $0.isNaN } && !expected.contains { $0.isNaN })
    }

    /// Float32 max-pool gradients with channels in multiples of 8 take a SIMD path; they must
    /// equal the generic loop's (run in float64) on inputs full of ties — which tap wins is
    /// the first in the window, later ones only when strictly greater — with padding and
    /// overlapping windows. Windows as large as their strides write every element instead of
    /// adding into zeros (``ConvKernels/maxPoolGradTiling(_:_:_:_:row:reluGrad:level:)``), with rows (2×2,
    /// 3×3) or columns (2×4) no window covers — run into a buffer of NaNs, it writes the same,
    /// 16 channels and then 8 at a time, at every CPU level; `SAME` 2×2 pads a row, so it
    /// does not. Values and gradients are small integers, so both are exact.
    @Test(arguments: [([2, 2], [2, 2], "VALID"), ([3, 3], [2, 2], "SAME"), ([3, 3], [1, 1], "SAME"), ([2, 2], [2, 2], "SAME"),
                      ([3, 3], [3, 3], "VALID"), ([2, 4], [2, 4], "VALID")])
    func maxPoolGradientsOfTheSIMDPathEqualTheGenericOnes(_ ksize: [Int], _ strides: [Int], _ padding: String) throws {
        let shape = [2, 5, 6, 24]
        let values = (0..<shape.reduce(1, *)).map { Double(($0 * 7919) % 5) }
        func gradient(_ dtype: DType) throws -> [Double] {
            let g = Graph()
            let x = try g.placeholder(dtype, shape: TensorShape(shape), name: "x")
            let y = try maxPool(x + 0, ksize: ksize, strides: strides, padding: padding)
            let dx = try g.gradients(of: reduceSum(multiply(y, y)), wrt: [x])[0]!
            let feed = dtype == .float32 ? try Tensor(values.map { Float($0) }, shape: shape) : try Tensor(values, shape: shape)
            let t = try Session(graph: g).run(fetches: [dx], feeds: [x: feed])[0]
            return dtype == .float32 ? t.scalars(as: Float.self).map(Double.init) : t.scalars(as: Double.self)
        }
        let simd = try gradient(.float32), generic = try gradient(.float64)
        #expect(simd == generic)
        #expect(simd.contains { $0 != 0 })
        let geometry = try ConvKernels.Geometry(input: shape, window: ["ksize": .ints([1] + ksize + [1]), "strides": .ints([1] + strides + [1]),
                                                                       "padding": .string(padding)])
        let tiles = ksize == strides && (padding == "VALID" || ksize == [1, 1])
        #expect(ConvKernels.writesEveryElement(geometry, .float32) == tiles)
        guard tiles else { return }
        // The pooled values' gradient (2·y), then the tiling rows into NaNs.
        let x = values.map { Float($0) }
        var dy = [Float](repeating: 0, count: geometry.n * geometry.oh * geometry.ow * geometry.c)
        for (k, _) in dy.enumerated() {
            let (pixel, j) = k.quotientAndRemainder(dividingBy: geometry.c)
            let (row, ox) = pixel.quotientAndRemainder(dividingBy: geometry.ow), (i, oy) = row.quotientAndRemainder(dividingBy: geometry.oh)
            var best = -Float.infinity
            for ky in 0..<ksize[0] { for kx in 0..<ksize[1] {
                best = Swift.max(best, x[((i * geometry.h + oy * strides[0] + ky) * geometry.w + ox * strides[1] + kx) * geometry.c + j])
            } }
            dy[k] = 2 * best
        }
        for level in CPULevel.allCases where level <= CPULevel.detected {
            var written = [Float](repeating: .nan, count: x.count)
            x.withUnsafeBufferPointer { px in dy.withUnsafeBufferPointer { pg in written.withUnsafeMutableBufferPointer { po in
                for row in 0..<geometry.n * geometry.oh {
                    ConvKernels.maxPoolGradTiling(px.baseAddress!, pg.baseAddress!, po.baseAddress!, geometry, row: row, level: level)
                }
            } } }
            #expect(written.map(Double.init) == generic, "\(level)")
        }
    }

    /// A convolution case: its attributes, geometry, and a walk over the definition's terms.
    struct Convolution {
        let input: [Int], filter: [Int], attrs: [String: AttrValue], geometry: ConvKernels.Geometry
        var outputShape: [Int] { [input[0], geometry.oh, geometry.ow, filter[3]] }

        init(_ input: [Int], _ filter: [Int], _ strides: [Int], _ dilations: [Int], _ padding: String, _ explicit: [[Int]]) throws {
            attrs = [
                "strides": .ints([1] + strides + [1]), "dilations": .ints([1] + dilations + [1]), "padding": .string(padding),
                "explicit_paddings": .ints([0, 0] + explicit.flatMap { $0 } + [0, 0]),
            ]
            (self.input, self.filter) = (input, filter)
            geometry = try ConvKernels.Geometry(input: input, filter: filter, attrs: attrs)
        }

        /// Calls `body(x, y, f)` for every term `x[n, iy, ix, c]·f[ky, kx, c, o]` of
        /// `y[n, oy, ox, o]` whose input lies inside the image — `iy = oy·s − padTop + ky·d`,
        /// likewise for columns — with the flat indices of `x`, `y` and `f`.
        func forEachTerm(_ body: (Int, Int, Int) -> Void) {
            let g = geometry
            for n in 0..<g.n { for oy in 0..<g.oh { for ox in 0..<g.ow { for ky in 0..<g.kh { for kx in 0..<g.kw {
                let iy = oy * g.sh - g.padTop + ky * g.dh, ix = ox * g.sw - g.padLeft + kx * g.dw
                guard iy >= 0, iy < g.h, ix >= 0, ix < g.w else { continue }
                for c in 0..<g.c { for o in 0..<g.oc {
                    body(((n * g.h + iy) * g.w + ix) * g.c + c, ((n * g.oh + oy) * g.ow + ox) * g.oc + o, ((ky * g.kw + kx) * g.c + c) * g.oc + o)
                } }
            } } } } }
        }
    }

    /// Float32 convolutions (the direct row kernels) against the definition, over paddings
    /// (asymmetric), dilations, strides and one input channel, with the fused bias and ReLU
    /// applied to each block's rows, and a fused ReLU6 with no bias; a pointwise filter and a
    /// narrow one take the GEMM path. The last three have too few row blocks for four tasks
    /// (a batch of one or two small images): the GEMM path splits their output channels into
    /// column blocks (7×7 rows, pointwise) and the direct one shortens its blocks of rows.
    /// Then one or two output positions through a filter beyond L2, streamed
    /// (``StreamingGEMM``: im2col, pointwise), and a window mostly over padding, whose unused
    /// taps the compiler cuts (``PaddingTapPruning``). The last three are Winograd tiles
    /// (odd output sizes, channels not multiples of sixteen, asymmetric padding: see
    /// ``winogradTakesThreeAndFiveWideLayers()``), then the same for 5×5 windows and the
    /// harness CNN's second layer.
    /// Every result is bitwise the same on one, two and three threads.
    @Test(arguments: [
        ([2, 9, 11, 3], [5, 5, 3, 8], [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([3, 28, 28, 1], [5, 5, 1, 8], [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([1, 6, 12, 2], [3, 2, 2, 9], [1, 1], [1, 1], "VALID", [[0, 0], [0, 0]]),
        ([1, 7, 12, 2], [2, 3, 2, 8], [1, 1], [2, 2], "EXPLICIT", [[1, 0], [0, 3]]),
        ([2, 9, 30, 3], [3, 3, 3, 8], [2, 3], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([1, 4, 4, 3], [1, 1, 3, 5], [1, 1], [1, 1], "VALID", [[0, 0], [0, 0]]),
        ([1, 5, 5, 3], [3, 3, 3, 4], [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([1, 7, 7, 16], [3, 3, 16, 200], [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([1, 6, 6, 24], [1, 1, 24, 130], [1, 1], [1, 1], "VALID", [[0, 0], [0, 0]]),
        ([2, 10, 10, 8], [3, 3, 8, 64], [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([1, 3, 3, 128], [3, 3, 128, 128], [1, 1], [1, 1], "VALID", [[0, 0], [0, 0]]),
        ([2, 1, 1, 1024], [1, 1, 1024, 160], [1, 1], [1, 1], "VALID", [[0, 0], [0, 0]]),
        ([1, 1, 2, 64], [3, 5, 64, 96], [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([2, 13, 15, 20], [3, 3, 20, 36], [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([1, 17, 16, 16], [3, 3, 16, 32], [1, 1], [1, 1], "VALID", [[0, 0], [0, 0]]),
        ([1, 13, 13, 32], [3, 3, 32, 24], [1, 1], [1, 1], "EXPLICIT", [[1, 0], [0, 2]]),
        ([2, 13, 15, 20], [5, 5, 20, 36], [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([1, 17, 16, 16], [5, 5, 16, 32], [1, 1], [1, 1], "VALID", [[0, 0], [0, 0]]),
        ([1, 14, 13, 32], [5, 5, 32, 24], [1, 1], [1, 1], "EXPLICIT", [[2, 1], [0, 3]]),
        ([2, 14, 14, 32], [5, 5, 32, 64], [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]),
    ])
    func convolutionsMatchTheDefinition(_ input: [Int], _ filter: [Int], _ strides: [Int], _ dilations: [Int],
                                        _ padding: String, _ explicit: [[Int]]) throws {
        let conv = try Convolution(input, filter, strides, dilations, padding, explicit)
        var rng = SplitMix64(seed: UInt64(input.reduce(0, +) * 17 + filter.reduce(0, +)))
        let x = random(input, &rng), f = random(filter, &rng), bias = random([filter[3]], &rng)
        // Separate sessions, so the compiler fuses the bias and activations into the convolution.
        func results(threads: Int) throws -> [Tensor] {
            let g = Graph()
            let y = try conv2D(g.constant(x), filter: g.constant(f), strides: strides, padding: padding,
                               explicitPaddings: padding == "EXPLICIT" ? explicit : nil, dilations: dilations)
            var options = SessionOptions()
            options.intraOpThreads = threads
            return try [y, relu(biasAdd(y, g.constant(bias))), relu6(y)].map { try Session(graph: g, options: options).run($0) }
        }
        let r = try results(threads: 2)

        // Against the float64 sum: within a rounding error of the terms' magnitudes (Winograd
        // tiles' transforms add a few float32 roundings of sums like the terms': on ResNet50's
        // layers F(4×4, 3×3) measured up to 2.7e-6 of them, F(2×2, 5×5) 8.6e-7, a float32 loop
        // 2.2e-7).
        let xs = x.scalars(as: Float.self), fs = f.scalars(as: Float.self), bs = bias.scalars(as: Float.self)
        var expected = [Double](repeating: 0, count: conv.outputShape.reduce(1, *)), magnitude = expected
        conv.forEachTerm {
            let term = Double(xs[$0]) * Double(fs[$2])
            expected[$1] += term
            magnitude[$1] += Swift.abs(term)
        }
        let expectedBiasReLU = expected.enumerated().map { Swift.max(0, $1 + Double(bs[$0 % filter[3]])) }
        let expectedReLU6 = expected.map { Swift.min(6, Swift.max(0, $0)) }
        let biasMagnitude = magnitude.enumerated().map { $1 + Swift.abs(Double(bs[$0 % filter[3]])) }
        for (result, (values, bound)) in zip(r, [(expected, magnitude), (expectedBiasReLU, biasMagnitude), (expectedReLU6, magnitude)]) {
            #expect(result.shape == conv.outputShape)
            #expect(Self.withinRounding(result.scalars(as: Float.self), values, of: bound))
        }
        for threads in [1, 3] {
            #expect(try results(threads: threads).map { $0.scalars(as: Float.self) } == r.map { $0.scalars(as: Float.self) })
        }
    }

    /// Whether each of `result` is within `4·10⁻⁶` of its `magnitude` (the sum of its terms'
    /// absolute values) from the float64 `exact` value, plus `10⁻⁷`.
    static func withinRounding(_ result: [Float], _ exact: [Double], of magnitude: [Double]) -> Bool {
        result.count == exact.count && result.indices.allSatisfy {
            Swift.abs(Double(result[$0]) - exact[$0]) <= 4e-6 * magnitude[$0] + 1e-7
        }
    }

    /// Which convolutions run as Winograd tiles: float32 3×3 and 5×5 windows at unit stride
    /// and dilation with enough output positions — the last seven cases of
    /// ``convolutionsMatchTheDefinition(_:_:_:_:_:_:)``, ResNet50's 3×3 layers down to 14² and
    /// the harness CNN's 5×5 one — not strided, dilated, 7×7, non-square or 7² ones, nor
    /// three input channels; input gradients likewise, and filter gradients' blocks.
    @Test func winogradTakesThreeAndFiveWideLayers() throws {
        guard LIBXSMM.available else { return }
        func fits(_ input: [Int], _ filter: [Int], strides: [Int] = [1, 1], dilations: [Int] = [1, 1], padding: String = "SAME",
                  explicit: [[Int]] = [[0, 0], [0, 0]]) throws -> Bool {
            ConvKernels.fitsWinograd(try Convolution(input, filter, strides, dilations, padding, explicit).geometry)
        }
        #expect(try fits([2, 13, 15, 20], [3, 3, 20, 36]))
        #expect(try fits([1, 17, 16, 16], [3, 3, 16, 32], padding: "VALID"))
        #expect(try fits([1, 13, 13, 32], [3, 3, 32, 24], padding: "EXPLICIT", explicit: [[1, 0], [0, 2]]))
        for (size, channels) in [(56, 64), (28, 128), (14, 256)] { #expect(try fits([1, size, size, channels], [3, 3, channels, channels])) }
        #expect(try !fits([1, 7, 7, 512], [3, 3, 512, 512]))
        #expect(try !fits([1, 32, 32, 16], [3, 3, 16, 16], strides: [2, 2]))
        #expect(try !fits([1, 32, 32, 16], [3, 3, 16, 16], dilations: [2, 2]))
        #expect(try fits([1, 32, 32, 16], [5, 5, 16, 16]))
        #expect(try fits([64, 14, 14, 32], [5, 5, 32, 64]))
        #expect(try !fits([1, 32, 32, 16], [5, 5, 16, 16], strides: [2, 2]))
        #expect(try !fits([1, 32, 32, 16], [7, 7, 16, 16]))
        #expect(try !fits([1, 32, 32, 16], [3, 5, 16, 16]))
        #expect(try !fits([1, 32, 32, 3], [3, 3, 3, 16]))
        // Unstrided input gradients run the rotated filter's window over `dy`: the last four
        // cases of ``convolutionInputGradientsMatchTheDefinition(_:_:_:_:_:_:)``, not the first.
        func gradientFits(_ input: [Int], _ filter: [Int], padding: String) throws -> Bool {
            try Convolution(input, filter, [1, 1], [1, 1], padding, [[0, 0], [0, 0]]).geometry.inputGradient.map(ConvKernels.fitsWinograd) ?? false
        }
        #expect(try gradientFits([1, 13, 15, 20], [3, 3, 20, 16], padding: "SAME"))
        #expect(try gradientFits([2, 14, 13, 16], [3, 3, 16, 24], padding: "SAME"))
        #expect(try gradientFits([2, 14, 14, 32], [5, 5, 32, 64], padding: "SAME"))
        #expect(try gradientFits([1, 16, 17, 8], [5, 5, 8, 24], padding: "VALID"))
        #expect(try !gradientFits([2, 7, 6, 3], [5, 5, 3, 4], padding: "SAME"))
        // Filter gradients take the forward's geometry, in blocks of at least 64 tiles: an
        // image of 17×17 tiles in two (9 and 8 tile rows), ResNet50's 14²×256 whole (7).
        func filterTileRows(_ input: [Int], _ filter: [Int]) throws -> Int {
            ConvKernels.winogradFilterTileRows(try Convolution(input, filter, [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]).geometry)
        }
        #expect(try filterTileRows([2, 34, 33, 16], [3, 3, 16, 16]) == 9)
        // Forward tiles: 4×4 for a 3×3 window (2×2 where its transformed filter exceeds 1 MiB,
        // or is transformed on a call of fewer than 256 positions), 2×2 for 5×5.
        func tile(_ input: [Int], _ filter: [Int], perCall: Bool) throws -> Int {
            ConvKernels.winogradTile(try Convolution(input, filter, [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]).geometry, filterPerCall: perCall)
        }
        #expect(try tile([1, 56, 56, 64], [3, 3, 64, 64], perCall: false) == 4)
        #expect(try tile([1, 28, 28, 128], [3, 3, 128, 128], perCall: false) == 2)
        #expect(try tile([1, 14, 14, 64], [3, 3, 64, 64], perCall: true) == 2)
        #expect(try tile([2, 14, 14, 64], [3, 3, 64, 64], perCall: true) == 4)
        #expect(try tile([64, 14, 14, 32], [5, 5, 32, 64], perCall: false) == 2)
        #expect(try filterTileRows([16, 14, 14, 256], [3, 3, 256, 256]) == 7)
    }

    /// A constant 3×3 or 5×5 filter the compiler transformed for Winograd tiles once
    /// (``WinogradFilterTransform``) gives the bits of one fed and transformed on every run,
    /// on one and two threads, fused with a bias and ReLU or not.
    @Test(arguments: [3, 5])
    func winogradFilterTransformedOnceGivesTheSameBits(window: Int) throws {
        guard LIBXSMM.available else { return }
        var rng = SplitMix64(seed: 29)
        let x = random([2, 14, 12, 24], &rng), f = random([window, window, 24, 40], &rng), bias = random([40], &rng)
        for threads in [1, 2] {
            var options = SessionOptions()
            options.intraOpThreads = threads
            let g = Graph()
            let fed = try g.placeholder(.float32, shape: TensorShape(f.shape), name: "f")
            let input = try g.placeholder(.float32, shape: TensorShape(x.shape), name: "x")
            var results: [[Float]] = []
            for filter in [try g.constant(f), fed] {
                let y = try conv2D(input, filter: filter, strides: [1, 1], padding: "SAME")
                for output in [y, try relu(biasAdd(y, g.constant(bias)))] {
                    let session = Session(graph: g, options: options)
                    results.append(try session.run(fetches: [output], feeds: [fed: f, input: x])[0].scalars(as: Float.self))
                }
            }
            #expect(results[0] == results[2] && results[1] == results[3])
        }
        let g = Graph(), input = try g.placeholder(.float32, shape: TensorShape(x.shape), name: "x")
        let y = try relu(biasAdd(conv2D(input, filter: g.constant(f), strides: [1, 1], padding: "SAME"), g.constant(bias)))
        let plan = try #require(try Session(graph: g).plan(fetches: [y], feeds: [input: x]))
        #expect(plan.steps.filter(\.node.winogradFilter).map(\.op) == ["_SomaFusedConv2D"])
        var untransformed = SessionOptions()
        untransformed.compileOptions.disabledPasses = [WinogradFilterTransform.name]
        #expect(try Session(graph: g, options: untransformed).run(fetches: [y], feeds: [input: x])[0].scalars(as: Float.self)
            == Session(graph: g).run(fetches: [y], feeds: [input: x])[0].scalars(as: Float.self))
    }

    /// A fused convolution's partition depends on its geometry alone: balanced row blocks —
    /// at least four tasks' worth where images are few, down to 32 rows —, and column blocks
    /// (multiples of 16 channels, at least 64) only where the row blocks are fewer than four
    /// tasks (or the filter is in panels, which keeps whole-image row blocks).
    @Test func forwardTilingSplitsChannelsOnlyForFewRowBlocks() throws {
        func tiling(_ input: [Int], _ filter: [Int], panels: Bool = false) throws -> ConvKernels.ForwardTiling {
            try ConvKernels.ForwardTiling(ConvKernels.Geometry(input: input, filter: filter,
                                                               attrs: ["strides": .ints([1, 1, 1, 1]), "padding": .string("SAME")]),
                                          panels: panels)
        }
        // ResNet50's 14² stage at a batch of one: four blocks of 49 rows; with its filter in
        // panels one block of 196 rows, 256 channels in four.
        let late = try tiling([1, 14, 14, 256], [3, 3, 256, 256])
        #expect((late.blocksPerImage, late.rowsPerBlock, late.columnBlocks, late.columnsPerBlock) == (4, 49, 1, 256))
        let packed = try tiling([1, 14, 14, 256], [3, 3, 256, 256], panels: true)
        #expect((packed.blocksPerImage, packed.rowsPerBlock, packed.columnBlocks, packed.columnsPerBlock) == (1, 196, 4, 64))
        // MobileNetV2's 14² projection to 64 channels: four tasks of 49 rows, not one.
        let projection = try tiling([1, 14, 14, 384], [1, 1, 384, 64])
        #expect((projection.blocksPerImage, projection.rowsPerBlock, projection.columnBlocks) == (4, 49, 1))
        // 28²: four balanced blocks of 196 rows (not 256, 256, 256, 16), channels whole.
        let middle = try tiling([1, 28, 28, 128], [3, 3, 128, 128])
        #expect((middle.blocksPerImage, middle.rowsPerBlock, middle.columnBlocks, middle.columnsPerBlock) == (4, 196, 1, 128))
        // 7² with 2,048 channels: four blocks of 512; with 64 channels, no split below 64.
        let wide = try tiling([1, 7, 7, 512], [1, 1, 512, 2048])
        #expect((wide.columnBlocks, wide.columnsPerBlock) == (4, 512))
        let narrow = try tiling([1, 7, 7, 32], [3, 3, 32, 64])
        #expect((narrow.columnBlocks, narrow.columnsPerBlock) == (1, 64))
        // A batch of 64 has row blocks enough.
        #expect(try tiling([64, 7, 7, 512], [3, 3, 512, 512]).columnBlocks == 1)
    }

    /// Convolution input gradients against the definition (`dx` gathers `dy·f` over the same
    /// terms): unstrided ones run as the direct kernel on the rotated filter (the last four
    /// as Winograd tiles, 3×3 — 2×2 tiles, then over 364 positions 4×4 — and 5×5,
    /// ``ConvKernels/fitsWinograd(_:)``), strided ones,
    /// paddings wider than the window and pointwise filters take col2im or a plain GEMM —
    /// in row blocks for small batches (one with two blocks), an image per task for five
    /// images. The same bits on one, two and three threads.
    @Test(arguments: [
        ([2, 7, 6, 3], [5, 5, 3, 4], [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([1, 6, 7, 2], [3, 2, 2, 5], [1, 1], [1, 1], "VALID", [[0, 0], [0, 0]]),
        ([1, 7, 7, 2], [2, 3, 2, 3], [1, 1], [2, 2], "EXPLICIT", [[1, 0], [0, 3]]),
        ([1, 5, 5, 2], [2, 2, 2, 2], [1, 1], [1, 1], "EXPLICIT", [[2, 1], [1, 0]]),
        ([2, 7, 8, 3], [3, 3, 3, 4], [2, 2], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([1, 4, 4, 3], [1, 1, 3, 5], [1, 1], [1, 1], "VALID", [[0, 0], [0, 0]]),
        ([2, 6, 10, 9], [3, 3, 9, 4], [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([1, 7, 11, 8], [2, 3, 8, 3], [1, 1], [2, 2], "EXPLICIT", [[1, 0], [0, 3]]),
        ([1, 20, 20, 8], [3, 3, 8, 16], [2, 2], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([5, 9, 9, 4], [3, 3, 4, 6], [2, 2], [1, 1], "VALID", [[0, 0], [0, 0]]),
        ([2, 5, 5, 8], [1, 1, 8, 12], [1, 1], [1, 1], "VALID", [[0, 0], [0, 0]]),
        ([1, 13, 15, 20], [3, 3, 20, 16], [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([2, 14, 13, 16], [3, 3, 16, 24], [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([2, 14, 14, 32], [5, 5, 32, 64], [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([1, 16, 17, 8], [5, 5, 8, 24], [1, 1], [1, 1], "VALID", [[0, 0], [0, 0]]),
    ])
    func convolutionInputGradientsMatchTheDefinition(_ input: [Int], _ filter: [Int], _ strides: [Int], _ dilations: [Int],
                                                     _ padding: String, _ explicit: [[Int]]) throws {
        let conv = try Convolution(input, filter, strides, dilations, padding, explicit)
        var rng = SplitMix64(seed: UInt64(input.reduce(0, +) * 31 + filter.reduce(0, +)))
        let f = random(filter, &rng), dy = random(conv.outputShape, &rng)
        let g = Graph()
        let dx = try g.output("Conv2DBackpropInput", [g.constant(Tensor(input.map { Int32($0) })), g.constant(f), g.constant(dy)],
                              attrs: conv.attrs, name: nil, file: "", line: 0)
        func gradient(threads: Int) throws -> Tensor {
            var options = SessionOptions()
            options.intraOpThreads = threads
            return try Session(graph: g, options: options).run(dx)
        }
        let result = try gradient(threads: 2)
        for threads in [1, 3] { #expect(try gradient(threads: threads).scalars(as: Float.self) == result.scalars(as: Float.self)) }

        let fs = f.scalars(as: Float.self), ds = dy.scalars(as: Float.self)
        var expected = [Double](repeating: 0, count: input.reduce(1, *)), magnitude = expected
        conv.forEachTerm {
            let term = Double(ds[$1]) * Double(fs[$2])
            expected[$0] += term
            magnitude[$0] += Swift.abs(term)
        }
        #expect(result.shape == input)
        #expect(Self.withinRounding(result.scalars(as: Float.self), expected, of: magnitude))
    }

    /// Float32 filter gradients (the direct per-tap kernels; below 8 input channels the
    /// direct kernels over unrolled window rows, strided and dilated too; im2col below 8
    /// output channels; the last seven as Winograd tiles, 3×3 and 5×5, odd output sizes and
    /// asymmetric padding, the last in two blocks per image, ``ConvKernels/fitsWinograd(_:)``)
    /// against the float64 definition
    /// (`dF` sums `x·dy` over the same terms), with batches that split into several groups.
    /// The same bits on one, two and three threads.
    @Test(arguments: [
        ([10, 7, 9, 3], [5, 5, 3, 8], [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([4, 10, 16, 7], [3, 5, 7, 16], [1, 2], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([3, 12, 12, 1], [5, 5, 1, 8], [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([2, 6, 11, 2], [3, 2, 2, 9], [1, 1], [1, 1], "VALID", [[0, 0], [0, 0]]),
        ([1, 7, 12, 2], [2, 3, 2, 8], [1, 1], [2, 2], "EXPLICIT", [[1, 0], [0, 3]]),
        ([2, 9, 26, 3], [3, 3, 3, 8], [2, 3], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([2, 5, 5, 3], [3, 3, 3, 4], [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([3, 13, 15, 20], [3, 3, 20, 36], [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([2, 17, 16, 16], [3, 3, 16, 32], [1, 1], [1, 1], "VALID", [[0, 0], [0, 0]]),
        ([1, 13, 13, 32], [3, 3, 32, 24], [1, 1], [1, 1], "EXPLICIT", [[1, 0], [0, 2]]),
        ([9, 14, 14, 16], [5, 5, 16, 32], [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]),
        ([1, 17, 16, 16], [5, 5, 16, 32], [1, 1], [1, 1], "VALID", [[0, 0], [0, 0]]),
        ([2, 14, 13, 32], [5, 5, 32, 24], [1, 1], [1, 1], "EXPLICIT", [[2, 1], [0, 3]]),
        ([2, 34, 33, 16], [3, 3, 16, 16], [1, 1], [1, 1], "SAME", [[0, 0], [0, 0]]),
    ])
    func convolutionFilterGradientsMatchTheDefinition(_ input: [Int], _ filter: [Int], _ strides: [Int], _ dilations: [Int],
                                                      _ padding: String, _ explicit: [[Int]]) throws {
        let conv = try Convolution(input, filter, strides, dilations, padding, explicit)
        var rng = SplitMix64(seed: UInt64(input.reduce(0, +) * 29 + filter.reduce(0, +)))
        let x = random(input, &rng), dy = random(conv.outputShape, &rng)
        let g = Graph()
        let df = try g.output("Conv2DBackpropFilter", [g.constant(x), g.constant(Tensor(filter.map { Int32($0) })), g.constant(dy)],
                              attrs: conv.attrs, name: nil, file: "", line: 0)
        func gradient(threads: Int) throws -> Tensor {
            var options = SessionOptions()
            options.intraOpThreads = threads
            return try Session(graph: g, options: options).run(df)
        }
        let result = try gradient(threads: 2)
        for threads in [1, 3] { #expect(try gradient(threads: threads).scalars(as: Float.self) == result.scalars(as: Float.self)) }

        let xs = x.scalars(as: Float.self), ds = dy.scalars(as: Float.self)
        var expected = [Double](repeating: 0, count: filter.reduce(1, *)), magnitude = expected
        conv.forEachTerm {
            let term = Double(xs[$0]) * Double(ds[$1])
            expected[$2] += term
            magnitude[$2] += Swift.abs(term)
        }
        #expect(result.shape == filter)
        #expect(Self.withinRounding(result.scalars(as: Float.self), expected, of: magnitude))
    }
}
