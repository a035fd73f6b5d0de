import Foundation
import Testing
@testable import Soma

/// Each pass: ops counted before and after, outputs unchanged. Then the plan itself.
@Suite struct CompilerTests {
    /// Results of the reference executor, of an unoptimised plan, of the compiler with every
    /// pass that keeps values bitwise (all but `fold_batch_norms`, `prune_padding_taps`,
    /// `pack_weight_panels` and `fuse_matmul_sums`), and of the full compiler.
    static func results(_ g: Graph, _ fetches: [Output], feeds: [Output: Tensor] = [:], targets: [Node] = [])
        throws -> (reference: [Tensor], unoptimized: [Tensor], optimized: [Tensor], folded: [Tensor]) {
        var reference = SessionOptions()
        reference.useCompiler = false
        var plain = SessionOptions()
        plain.compileOptions = .unoptimized
        var exact = SessionOptions()
        exact.compileOptions = CompileOptions(disabledPasses: [BatchNormFolding.name, PaddingTapPruning.name, WeightPanelPacking.name,
                                                                MatMulSumFusion.name])
        func run(_ options: SessionOptions) throws -> [Tensor] {
            let s = Session(graph: g, options: options)
            if !targets.isEmpty { _ = try s.run(fetches: [], feeds: feeds, targets: targets) }
            return try s.run(fetches: fetches, feeds: feeds)
        }
        return (try run(reference), try run(plain), try run(exact), try run(SessionOptions()))
    }

    /// Bitwise equality, except that −0 equals +0 and NaN equals NaN.
    static func identical(_ a: Tensor, _ b: Tensor) -> Bool {
        guard a.dtype == b.dtype, a.shape == b.shape else { return false }
        return zip(a.doubleScalars(), b.doubleScalars()).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
    }

    static func expectSameResults(_ g: Graph, _ fetches: [Output], feeds: [Output: Tensor] = [:],
                                  sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        let r = try results(g, fetches, feeds: feeds)
        for i in fetches.indices {
            #expect(identical(r.reference[i], r.unoptimized[i]), "unoptimised plan differs for \(fetches[i].name)",
                    sourceLocation: sourceLocation)
            #expect(identical(r.reference[i], r.optimized[i]), "optimised plan differs for \(fetches[i].name)",
                    sourceLocation: sourceLocation)
            #expect(r.folded[i].isApproximatelyEqual(to: r.reference[i], relativeTolerance: 1e-5, absoluteTolerance: 1e-5),
                    "plan with folded scales differs for \(fetches[i].name)", sourceLocation: sourceLocation)
        }
    }

    /// Op counts of the plan a session compiles.
    static func planOps(_ g: Graph, _ fetches: [Output], feeds: [Output: Tensor] = [:], options: CompileOptions = .init()) throws -> [String: Int] {
        var o = SessionOptions()
        o.compileOptions = options
        let plan = try #require(try Session(graph: g, options: o).plan(fetches: fetches, feeds: feeds))
        return Dictionary(plan.steps.map { ($0.op, 1) }, uniquingKeysWith: +)
    }

    static func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SplitMix64(seed: seed)
        return try! Tensor((0..<shape.reduce(1, *)).map { _ in Float.random(in: -2...2, using: &rng) }, shape: shape)
    }

    /// Inference batch norms and constant per-channel scales fold into the weights of the
    /// convolution or product before them; values agree within rounding.
    @Test func batchNormsAndScalesFoldIntoWeights() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 6, 6, 3], name: "x")
        func vector(_ n: Int, _ seed: UInt64, offset: Float = 0) throws -> Output {
            try g.constant(Tensor(Self.random([n], seed: seed).scalars(as: Float.self).map { $0 + offset }, shape: [n]))
        }
        let conv = try conv2D(x, filter: g.constant(Self.random([3, 3, 3, 4], seed: 60)), padding: "SAME")
        let normed = try fusedBatchNorm(conv, scale: vector(4, 61), offset: vector(4, 62), mean: vector(4, 63),
                                        variance: vector(4, 64, offset: 2.5), isTraining: false).y
        let h = try relu(normed)
        let depthwise = try depthwiseConv2D(h, filter: g.constant(Self.random([3, 3, 4, 2], seed: 65)), padding: "SAME")
        let scaled = try depthwise * g.constant(Tensor(Self.random([8], seed: 66).scalars(as: Float.self), shape: [1, 1, 1, 8]))
        // MobileNet's block: depthwise, batch norm, ReLU6 — one fused depthwise step.
        let block = try relu6(fusedBatchNorm(depthwiseConv2D(scaled, filter: g.constant(Self.random([3, 3, 8, 1], seed: 72)), padding: "SAME"),
                                             scale: vector(8, 73), offset: vector(8, 74), mean: vector(8, 75),
                                             variance: vector(8, 76, offset: 2.5), isTraining: false).y)
        let flat = try reshape(block, [-1, 6 * 6 * 8])
        let dense = try biasAdd(matmul(flat, g.constant(Self.random([288, 5], seed: 67))), vector(5, 68)) * 0.5
        let feeds = [x: Self.random([2, 6, 6, 3], seed: 69)]
        let ops = try Self.planOps(g, [dense], feeds: feeds)
        #expect(ops["FusedBatchNormV3"] == nil && ops["Mul"] == nil && ops["_SomaFusedElementwise"] == nil, "\(ops)")
        #expect(ops["_SomaFusedConv2D"] == 1 && ops["_FusedMatMul"] == 1 && ops["DepthwiseConv2dNative"] == 1, "\(ops)")
        #expect(ops["_SomaFusedDepthwiseConv2dNative"] == 1, "\(ops)")
        try Self.expectSameResults(g, [dense], feeds: feeds)
        // Depthwise + BiasAdd + ReLU6 fuse without folding too, bitwise like the ops it replaces.
        let direct = try relu6(biasAdd(depthwiseConv2D(x, filter: g.constant(Self.random([3, 3, 3, 2], seed: 77)), strides: [2, 2],
                                                       padding: "SAME"), vector(6, 78)))
        let unfolded = try Self.planOps(g, [direct], feeds: feeds, options: CompileOptions(disabledPasses: [BatchNormFolding.name]))
        #expect(unfolded["_SomaFusedDepthwiseConv2dNative"] == 1, "\(unfolded)")
        try Self.expectSameResults(g, [direct], feeds: feeds)
        // A filter shared with an unscaled use is copied, not changed.
        let shared = try g.constant(Self.random([4, 2], seed: 70)), v = try g.placeholder(.float32, shape: [nil, 4], name: "v")
        let plain = try matmul(v, shared), doubled = try matmul(v, shared) * 2
        try Self.expectSameResults(g, [plain, doubled], feeds: [v: Self.random([3, 4], seed: 71)])
    }

    /// Depthwise + BiasAdd + ReLU6 at MobileNet's channel counts (three-wide rows: edge
    /// columns four or three channel blocks at a time, interior runs with the filter in
    /// registers — at stride 1 with their edge columns and a last one to three columns, at
    /// stride 2 two blocks at a time, an odd one alone, their last group ending the
    /// interior —, a remainder under sixteen channels)
    /// is bitwise the ops it replaces, at strides 1 and 2; likewise five-wide windows (the
    /// input vectors of four columns loaded once per row of taps: eight at stride 1, eleven
    /// at stride 2, on rows of six and ten columns), and rows of fewer than four interior
    /// columns (each channel block over every position, its filter in registers).
    @Test(arguments: [(14, 83, 3), (13, 48, 3), (12, 32, 3), (11, 40, 5), (19, 40, 5), (4, 53, 3)])
    func wideDepthwiseBlocksFuseBitwise(width: Int, channels: Int, window: Int) throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 11, width, channels], name: "x")
        let feeds = [x: Self.random([2, 11, width, channels], seed: 90)]
        for (stride, seed) in [(1, UInt64(91)), (2, 93)] {
            let filter = try g.constant(Self.random([window, window, channels, 1], seed: seed))
            let bias = try g.constant(Tensor(Self.random([channels], seed: seed + 1).scalars(as: Float.self), shape: [channels]))
            let block = try relu6(biasAdd(depthwiseConv2D(x, filter: filter, strides: [stride, stride], padding: "SAME"), bias))
            #expect(try Self.planOps(g, [block], feeds: feeds)["_SomaFusedDepthwiseConv2dNative"] == 1)
            try Self.expectSameResults(g, [block], feeds: feeds)
        }
    }

    @Test func constantFoldingRunsTheRealKernels() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 4], name: "x")
        let w = try matmul(g.constant(Self.random([4, 4], seed: 1)), g.constant(Self.random([4, 4], seed: 2)))
        let scale = try exp(g.constant(Float(0.5))) * 2
        let y = try matmul(x, w) * scale
        let feeds = [x: Self.random([3, 4], seed: 3)]
        let before = try Self.planOps(g, [y], feeds: feeds, options: .unoptimized)
        let after = try Self.planOps(g, [y], feeds: feeds)
        #expect(before["MatMul"] == 2 && before["Exp"] == 1)
        #expect(after["MatMul"] == 1 && after["Exp"] == nil, "\(after)")
        try Self.expectSameResults(g, [y], feeds: feeds)
    }

    @Test func foldingSkipsOverCapStatefulAndFailingNodes() throws {
        let g = Graph()
        let big = try g.fill(shape: [1 << 12, 1 << 10], value: Tensor(Float(1)))   // 16 MiB > 10 MiB cap
        let total = try reduceSum(big)
        let v = try g.variable(Tensor(Float(2)), name: "v")
        let usesVariable = try v.value * 3
        let ops = try Self.planOps(g, [total, usesVariable])
        #expect(ops["Fill"] == 1, "a 16 MiB constant is not folded")
        #expect(ops["Mul"] == 1, "a variable's value is never folded")
        let zero = try floorDiv(g.constant(Int32(1)), g.constant(Int32(0)), name: "div0")
        let s = Session(graph: g)
        let error = #expect(throws: SomaError.self) { try s.run(zero) }
        #expect(error?.message.hasPrefix("Integer division by zero for 'div0' (op: 'FloorDiv')") == true)
        let shapeOnly = try shape(g.placeholder(.float32, shape: [nil, 5], name: "p"))
        #expect(try Self.planOps(g, [shapeOnly], feeds: [g.output(named: "p")!: Tensor(zeros: .float32, shape: [2, 5])]).isEmpty,
                "Shape of a fed, fully known shape folds to a constant")
    }

    @Test func commonSubexpressionsMerge() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [2, 3], name: "x")
        let w = try g.constant(Self.random([3, 3], seed: 4))
        let a = try relu(matmul(x, w)), b = try relu(matmul(x, w))
        let y = try a + b
        let feeds = [x: Self.random([2, 3], seed: 5)]
        var options = CompileOptions()
        options.disabledPasses = [MatMulBiasActivationFusion.name, ElementwiseFusion.name]
        let before = try Self.planOps(g, [y], feeds: feeds, options: .unoptimized)
        let after = try Self.planOps(g, [y], feeds: feeds, options: options)
        #expect(before["MatMul"] == 2 && before["Relu"] == 2)
        #expect(after["MatMul"] == 1 && after["Relu"] == 1)
        try Self.expectSameResults(g, [y], feeds: feeds)
    }

    @Test func algebraicSimplifications() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [2, 3], name: "x")
        var y = try x * 1
        y = try y + 0
        y = try y - 0
        y = try y / 1
        y = try -(-y)
        y = try identity(identity(y))
        y = try cast(y, to: .float32)
        y = try reshape(reshape(y, [3, 2]), [2, 3])
        y = try transpose(transpose(y, perm: [1, 0]), perm: [1, 0])
        y = try transpose(y, perm: [0, 1])
        let out = try exp(y, name: "out")
        let feeds = [x: Self.random([2, 3], seed: 6)]
        let before = try Self.planOps(g, [out], feeds: feeds, options: .unoptimized)
        let after = try Self.planOps(g, [out], feeds: feeds)
        #expect(before.values.reduce(0, +) >= 15)
        #expect(after == ["Exp": 1], "\(after)")
        try Self.expectSameResults(g, [out], feeds: feeds)
        // Broadcasting ones enlarge x: not removed.
        let small = try g.placeholder(.float32, shape: [3], name: "small")
        let widened = try small * g.constant(Tensor(repeating: Float(1), shape: [2, 3]))
        #expect(try Self.planOps(g, [widened], feeds: [small: Self.random([3], seed: 7)])["Mul"] == 1)
        // A fetched node keeps its name.
        let fetchedIdentity = try g.withNameScope("keep") { try x * 1 }
        let r = try Session(graph: g).run(fetchedIdentity, feeds: feeds)
        #expect(r == feeds[x]!)
    }

    @Test func matmulBiasActivationFuses() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 8], name: "x")
        let h = try relu(biasAdd(matmul(x, g.constant(Self.random([8, 16], seed: 8))), g.constant(Self.random([16], seed: 9))))
        let t = try tanh(biasAdd(matmul(h, g.constant(Self.random([16, 4], seed: 10))), g.constant(Self.random([4], seed: 11))))
        let feeds = [x: Self.random([5, 8], seed: 12)]
        var noElementwise = CompileOptions()
        noElementwise.disabledPasses = [ElementwiseFusion.name]
        let ops = try Self.planOps(g, [t], feeds: feeds, options: noElementwise)
        #expect(ops == ["_FusedMatMul": 2], "\(ops)")
        try Self.expectSameResults(g, [t], feeds: feeds)
        // Guard: a fetched intermediate keeps the pattern apart.
        let partial = try Self.planOps(g, [t, h], feeds: feeds, options: noElementwise)
        #expect(partial["_FusedMatMul"] == 2, "h is the last node of its pattern, so it may be fused")
        let pre = try matmul(x, g.constant(Self.random([8, 2], seed: 13)))
        let post = try relu(biasAdd(pre, g.constant(Self.random([2], seed: 14))))
        let guarded = try Self.planOps(g, [post, pre], feeds: feeds, options: noElementwise)
        #expect(guarded["MatMul"] == 1 && guarded["_FusedMatMul"] == nil)
        try Self.expectSameResults(g, [post, pre], feeds: feeds)
    }

    @Test func convolutionBiasActivationFusesInPlans() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 6, 6, 3], name: "x")
        let f1 = try g.constant(Self.random([3, 3, 3, 4], seed: 20)), b1 = try g.constant(Self.random([4], seed: 21))
        let f2 = try g.constant(Self.random([1, 1, 4, 2], seed: 22)), b2 = try g.constant(Self.random([2], seed: 23))
        let h = try relu(add(conv2D(x, filter: f1, padding: "SAME"), b1))          // AddV2 bias, as TF users write it
        let y = try tanh(biasAdd(conv2D(h, filter: f2), b2))                         // BiasAdd, 1×1
        let feeds = [x: Self.random([2, 6, 6, 3], seed: 24)]
        var noElementwise = CompileOptions()
        noElementwise.disabledPasses = [ElementwiseFusion.name]
        #expect(try Self.planOps(g, [y], feeds: feeds, options: noElementwise) == ["_SomaFusedConv2D": 2])
        try Self.expectSameResults(g, [y], feeds: feeds)
        // An activation straight on a convolution (a batch norm folded with a zero shift leaves
        // no bias) fuses too, with no bias argument.
        let bare = try relu6(depthwiseConv2D(elu(conv2D(x, filter: f1, padding: "SAME")),
                                             filter: g.constant(Self.random([3, 3, 4, 1], seed: 25)), padding: "SAME"))
        #expect(try Self.planOps(g, [bare], feeds: feeds, options: noElementwise)
                == ["_SomaFusedConv2D": 1, "_SomaFusedDepthwiseConv2dNative": 1])
        try Self.expectSameResults(g, [bare], feeds: feeds)
        // Saved graphs keep TF's ops: the fusion is for plans only.
        let (optimized, _) = try g.optimized(for: [y])
        #expect(!optimized.nodes.contains { $0.op == "_SomaFusedConv2D" })
    }

    /// Zero padding of rows and columns before a convolution (Keras' `ZeroPadding2D`) becomes
    /// the convolution's explicit padding; other pads stay.
    @Test func zeroPaddingFoldsIntoConvolutions() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 7, 7, 3], name: "x")
        let padded = try pad(x, paddings: [[0, 0], [0, 1], [0, 1], [0, 0]])
        let strided = try depthwiseConv2D(padded, filter: g.constant(Self.random([3, 3, 3, 2], seed: 80)), strides: [2, 2], padding: "VALID")
        let explicit = try conv2D(pad(strided, paddings: [[0, 0], [2, 1], [1, 0], [0, 0]]), filter: g.constant(Self.random([3, 3, 6, 4], seed: 81)),
                                  padding: "EXPLICIT", explicitPaddings: [[1, 0], [0, 1]])
        // Not folded: a nonzero fill, channel padding, SAME padding.
        let ones = try conv2D(pad(explicit, paddings: [[0, 0], [1, 1], [1, 1], [0, 0]], constantValue: 1),
                              filter: g.constant(Self.random([2, 2, 4, 2], seed: 82)), padding: "VALID")
        let channels = try conv2D(pad(ones, paddings: [[0, 0], [0, 0], [0, 0], [0, 2]]), filter: g.constant(Self.random([1, 1, 4, 2], seed: 83)),
                                  padding: "VALID")
        let same = try conv2D(pad(channels, paddings: [[0, 0], [1, 1], [1, 1], [0, 0]]), filter: g.constant(Self.random([3, 3, 2, 2], seed: 84)),
                              padding: "SAME")
        let feeds = [x: Self.random([2, 7, 7, 3], seed: 85)]
        var noFusion = CompileOptions()
        noFusion.disabledPasses = [MatMulBiasActivationFusion.name, ElementwiseFusion.name]
        let ops = try Self.planOps(g, [same], feeds: feeds, options: noFusion)
        #expect(ops == ["DepthwiseConv2dNative": 1, "Conv2D": 4, "PadV2": 1, "Pad": 2], "\(ops)")
        var unfolded = noFusion
        unfolded.disabledPasses.insert(PadFolding.name)
        #expect(try Self.planOps(g, [same], feeds: feeds, options: unfolded)["Pad"] == 4)
        try Self.expectSameResults(g, [same], feeds: feeds)
    }

    /// Filter taps that only ever meet padding are cut and the padding made explicit: a 3×3
    /// `SAME` convolution of a 1×1 image keeps its centre, a 7×1 one of 3×3 images its middle
    /// five rows, a strided 5×5 depthwise one of 1×2 images one row and three columns; a
    /// window that reads the image everywhere, and a filter with an infinity in a cut tap,
    /// stay whole. Values agree within rounding.
    @Test func paddingTapsArePruned() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [2, 1, 1, 8], name: "x")
        let y = try g.placeholder(.float32, shape: [2, 3, 3, 4], name: "y")
        let z = try g.placeholder(.float32, shape: [1, 1, 2, 6], name: "z")
        let centre = try conv2D(x, filter: g.constant(Self.random([3, 3, 8, 6], seed: 90)), padding: "SAME", name: "centre")
        let tall = try conv2D(y, filter: g.constant(Self.random([7, 1, 4, 5], seed: 91)), padding: "SAME", name: "tall")
        let depthwise = try depthwiseConv2D(z, filter: g.constant(Self.random([5, 5, 6, 1], seed: 92)), strides: [2, 1], padding: "SAME",
                                            name: "depthwise")
        let whole = try conv2D(y, filter: g.constant(Self.random([3, 3, 4, 2], seed: 93)), padding: "SAME", name: "whole")
        var infinite = Self.random([3, 3, 8, 2], seed: 94).scalars(as: Float.self)
        infinite[0] = .infinity
        let kept = try conv2D(x, filter: g.constant(Tensor(infinite, shape: [3, 3, 8, 2])), padding: "SAME", name: "kept")
        let fetches = [centre, tall, depthwise, whole, kept]
        let feeds = [x: Self.random([2, 1, 1, 8], seed: 95), y: Self.random([2, 3, 3, 4], seed: 96), z: Self.random([1, 1, 2, 6], seed: 97)]
        var noFusion = SessionOptions()
        noFusion.compileOptions.disabledPasses = [MatMulBiasActivationFusion.name]
        let plan = try #require(try Session(graph: g, options: noFusion).plan(fetches: fetches, feeds: feeds))
        func window(_ name: String) throws -> (kh: Int, kw: Int, pads: [Int]?) {
            let step = try #require(plan.steps.first { $0.name == name })
            let geometry = try #require(step.node.convGeometry)
            return (geometry.kh, geometry.kw, step.node.string("padding") == "EXPLICIT" ? step.node.ints("explicit_paddings") : nil)
        }
        #expect(try window("centre") == (1, 1, [0, 0, 0, 0, 0, 0, 0, 0]))
        #expect(try window("tall") == (5, 1, [0, 0, 2, 2, 0, 0, 0, 0]))
        #expect(try window("depthwise") == (1, 3, [0, 0, 0, 0, 1, 1, 0, 0]))
        #expect(try window("whole") == (3, 3, nil))
        #expect(try window("kept") == (3, 3, nil))
        var unpruned = SessionOptions()
        unpruned.compileOptions.disabledPasses = [PaddingTapPruning.name]
        let expected = try Session(graph: g, options: unpruned).run(fetches: fetches, feeds: feeds)
        let actual = try Session(graph: g).run(fetches: fetches, feeds: feeds)
        for (a, e) in zip(actual, expected) { #expect(a.isApproximatelyEqual(to: e, relativeTolerance: 1e-5, absoluteTolerance: 1e-5)) }
        try Self.expectSameResults(g, fetches, feeds: feeds)
    }

    /// Constant weights beyond 512 KiB (a product's beyond 64 KiB where LIBXSMM's kernels are
    /// AVX2 ones) are packed in panels for their products: dense layers
    /// (one row, three, seventy; fused with a bias and ReLU), 3×3 convolutions with few row
    /// blocks (every tile a task) and with four (a block per task), a pointwise one, a
    /// filter two convolutions share (each packs its own). Transposed weights stay, and so
    /// does a 469 KiB one where LIBXSMM's kernels are AVX-512 ones (with AVX2 kernels it is
    /// packed). Values agree with the unpacked plan within rounding (one row otherwise
    /// streams without fused multiply-adds), the same bits on one, two and three threads.
    @Test func largeWeightsArePackedInPanels() throws {
        let g = Graph()
        let w = try g.constant(Self.random([600, 300], seed: 60)), bias = try g.constant(Self.random([300], seed: 61))
        let filter = try g.constant(Self.random([3, 3, 128, 160], seed: 62))
        var fetches: [Output] = [], feeds: [Output: Tensor] = [:]
        for (k, rows) in [1, 3, 70].enumerated() {
            let x = try g.placeholder(.float32, shape: [rows, 600], name: "x\(k)")
            feeds[x] = Self.random([rows, 600], seed: 63 + UInt64(k))
            fetches.append(try relu(biasAdd(matmul(x, w), bias), name: "dense\(k)"))
        }
        for (k, shape) in [[1, 5, 5, 128], [4, 5, 5, 128]].enumerated() {
            let x = try g.placeholder(.float32, shape: TensorShape(shape), name: "image\(k)")
            feeds[x] = Self.random(shape, seed: 70 + UInt64(k))
            fetches.append(try conv2D(x, filter: filter, padding: "SAME", name: "conv\(k)"))
        }
        let pointwiseInput = try g.placeholder(.float32, shape: [1, 3, 3, 512], name: "pointwise_input")
        feeds[pointwiseInput] = Self.random([1, 3, 3, 512], seed: 72)
        fetches.append(try conv2D(pointwiseInput, filter: g.constant(Self.random([1, 1, 512, 300], seed: 73)), name: "pointwise"))
        let small = try matmul(feeds.keys.first { $0.name == "x1:0" }!, g.constant(Self.random([600, 200], seed: 74)), name: "small")
        let transposed = try matmul(feeds.keys.first { $0.name == "x1:0" }!, g.constant(Self.random([300, 600], seed: 75)),
                                    transposeB: true, name: "transposed")
        fetches += [small, transposed]

        let plan = try #require(try Session(graph: g).plan(fetches: fetches, feeds: feeds))
        let packed = Set(plan.steps.filter(\.node.weightPanels).map(\.name))
        // Under ThreadSanitizer LIBXSMM is off, and so is the pass.
        let smallPacked = LIBXSMM.hasAVX512Kernels ? [] : ["small"]
        #expect(packed == (LIBXSMM.available ? Set(["dense0", "dense1", "dense2", "conv0", "conv1", "pointwise"] + smallPacked) : []))
        #expect(plan.steps.first { $0.name == "dense1" }?.op == "_FusedMatMul")
        var unpacked = SessionOptions()
        unpacked.compileOptions.disabledPasses = [WeightPanelPacking.name]
        let expected = try Session(graph: g, options: unpacked).run(fetches: fetches, feeds: feeds)
        func results(threads: Int) throws -> [[Float]] {
            var options = SessionOptions()
            options.intraOpThreads = threads
            return try Session(graph: g, options: options).run(fetches: fetches, feeds: feeds).map { $0.scalars(as: Float.self) }
        }
        let actual = try results(threads: 2)
        for (a, e) in zip(actual, expected) {
            #expect(try Tensor(a, shape: e.shape).isApproximatelyEqual(to: e, relativeTolerance: 1e-5, absoluteTolerance: 1e-5))
        }
        for threads in [1, 3] { #expect(try results(threads: threads) == actual) }
    }

    /// Swish on a convolution — `Mul(y, Sigmoid(y))`, either operand order — fuses into the
    /// convolution's epilogue (`fused_ops` ending in `Swish`): a plain Conv2D (a batch norm
    /// folded into its filter with a zero shift), one with a bias, and a depthwise one with a
    /// bias, row widths with vector tails; the same bits as the unfused ops and the reference
    /// interpreter. A convolution something else also reads keeps its Sigmoid and Mul.
    @Test func swishFusesIntoConvolutions() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [2, 9, 7, 5], name: "x")
        let plain = try conv2D(x, filter: g.constant(Self.random([3, 3, 5, 16], seed: 90)), padding: "SAME")
        let swished = try multiply(plain, sigmoid(plain))
        let biased = try biasAdd(conv2D(swished, filter: g.constant(Self.random([1, 1, 16, 12], seed: 91)), padding: "SAME"),
                                 g.constant(Self.random([12], seed: 92)))
        let second = try multiply(sigmoid(biased), biased)
        let depthwise = try biasAdd(depthwiseConv2D(second, filter: g.constant(Self.random([3, 3, 12, 1], seed: 93)), strides: [1, 1],
                                                    padding: "SAME"), g.constant(Self.random([12], seed: 94)))
        let out = try multiply(depthwise, sigmoid(depthwise))
        let feeds = [x: Self.random([2, 9, 7, 5], seed: 95)]
        let ops = try Self.planOps(g, [out], feeds: feeds)
        #expect(ops["_SomaFusedConv2D"] == 2 && ops["_SomaFusedDepthwiseConv2dNative"] == 1 && ops["Sigmoid"] == nil
                && ops["_SomaFusedElementwise"] == nil, "\(ops)")
        try Self.expectSameResults(g, [out], feeds: feeds)

        let shared = try conv2D(x, filter: g.constant(Self.random([3, 3, 5, 8], seed: 96)), padding: "SAME")
        let both = try add(multiply(shared, sigmoid(shared)), shared)
        #expect(try Self.planOps(g, [both], feeds: feeds)["Conv2D"] == 1)
        try Self.expectSameResults(g, [both], feeds: feeds)

        // Float64 (the epilogue's scalar loops, in chunks).
        let d = Graph()
        let x64 = try d.placeholder(.float64, shape: [1, 5, 4, 2], name: "x")
        let filter = try Tensor(Self.random([3, 3, 2, 3], seed: 97).scalars(as: Float.self).map(Double.init), shape: [3, 3, 2, 3])
        let y64 = try conv2D(x64, filter: d.constant(filter), padding: "SAME")
        let out64 = try multiply(sigmoid(y64), y64)
        let feeds64 = [x64: try Tensor(Self.random([1, 5, 4, 2], seed: 98).scalars(as: Float.self).map(Double.init), shape: [1, 5, 4, 2])]
        #expect(try Self.planOps(d, [out64], feeds: feeds64)["_SomaFusedConv2D"] == 1)
        try Self.expectSameResults(d, [out64], feeds: feeds64)
    }

    /// The backward pass of conv → bias → ReLU → max pooling fuses the pooling gradient with
    /// the ReLU's (`_SomaFusedMaxPoolGrad`): windows that tile the image (2×2, stride 2, eight
    /// and 24 channels: the one-pass kernel, with a row no window covers) and overlapping ones (3×3,
    /// stride 2, `SAME`, six channels); the same bits as the unfused ops and the reference
    /// interpreter. A ReluGrad of other features stays.
    @Test(arguments: [([2, 2], "VALID", 8), ([2, 2], "VALID", 24), ([3, 3], "SAME", 6)])
    func poolingGradientsFuseWithReluGradients(ksize: [Int], padding: String, channels: Int) throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [2, 7, 6, 3], name: "x")
        let activation = try relu(biasAdd(conv2D(x, filter: g.constant(Self.random([3, 3, 3, channels], seed: 80)), padding: "SAME"),
                                          g.constant(Self.random([channels], seed: 81))))
        let pooled = try maxPool(activation, ksize: ksize, strides: [2, 2], padding: padding)
        let dx = try #require(try g.gradients(of: reduceSum(multiply(pooled, pooled)), wrt: [x])[0])
        let feeds = [x: Self.random([2, 7, 6, 3], seed: 82)]
        let ops = try Self.planOps(g, [dx], feeds: feeds)
        #expect(ops["_SomaFusedMaxPoolGrad"] == 1 && ops["MaxPoolGrad"] == nil && ops["ReluGrad"] == nil, "\(ops)")
        var unfused = CompileOptions()
        unfused.disabledPasses = [MatMulBiasActivationFusion.name]
        #expect(try Self.planOps(g, [dx], feeds: feeds, options: unfused)["MaxPoolGrad"] == 1)
        try Self.expectSameResults(g, [dx], feeds: feeds)
        #expect(try Session(graph: g).run(fetches: [dx], feeds: feeds)[0].scalars(as: Float.self).contains { $0 != 0 })

        let other = try g.placeholder(.float32, shape: [2, 7, 6, channels], name: "other")
        let kept = try g.output("ReluGrad", [g.output("MaxPoolGrad", [activation, pooled, pooled], attrs: pooled.node.attrs, name: nil,
                                                      file: "", line: 0), other], attrs: [:], name: nil, file: "", line: 0)
        let otherFeeds = [x: feeds[x]!, other: Self.random([2, 7, 6, channels], seed: 83)]
        #expect(try Self.planOps(g, [kept], feeds: otherFeeds)["ReluGrad"] == 1)
    }

    /// A batched product only a Transpose reads, the last dimension kept last, writes each
    /// batch's product in its strided place (`_SomaFusedBatchMatMul`): heads merged back as
    /// attention does (`[B, T, D]` → `[T, B, D]`, `[B, H, T, D]` → `[B, T, H, D]`), adjoint
    /// operands, broadcast batches, one batch and two (each split by rows on three threads);
    /// the same bits as the unfused ops and the reference interpreter on one, two and three
    /// threads. A permutation that moves the last dimension, a product something else reads
    /// and a weight every batch shares stay unfused.
    @Test func transposedBatchProductsWriteInPlace() throws {
        let g = Graph()
        var fetches: [Output] = [], feeds: [Output: Tensor] = [:]
        func input(_ shape: [Int], _ seed: UInt64) throws -> Output {
            let x = try g.placeholder(.float32, shape: TensorShape(shape), name: "in\(seed)")
            feeds[x] = Self.random(shape, seed: seed)
            return x
        }
        let scores = try batchMatmul(input([3, 65, 24], 90), input([3, 24, 70], 91))
        fetches.append(try transpose(scores, perm: [1, 0, 2]))
        let heads = try batchMatmul(input([2, 4, 9, 16], 92), input([2, 4, 9, 16], 93), adjointX: true)
        fetches.append(try transpose(heads, perm: [0, 2, 1, 3]))
        let broadcast = try batchMatmul(input([1, 3, 7, 5], 94), input([2, 1, 6, 5], 95), adjointY: true)
        fetches.append(try transpose(broadcast, perm: [2, 1, 0, 3]))
        let single = try batchMatmul(input([1, 200, 64], 96), input([1, 64, 300], 97))
        fetches.append(try transpose(single, perm: [1, 0, 2]))
        let pair = try batchMatmul(input([2, 150, 64], 104), input([2, 64, 260], 105))  // fewer batches than three threads
        fetches.append(try transpose(pair, perm: [1, 0, 2]))
        let ops = try Self.planOps(g, fetches, feeds: feeds)
        #expect(ops["_SomaFusedBatchMatMul"] == 5 && ops["Transpose"] == nil && ops["BatchMatMulV2"] == nil, "\(ops)")
        try Self.expectSameResults(g, fetches, feeds: feeds)
        func results(threads: Int) throws -> [Tensor] {
            var options = SessionOptions()
            options.intraOpThreads = threads
            return try Session(graph: g, options: options).run(fetches: fetches, feeds: feeds)
        }
        let two = try results(threads: 2)
        for threads in [1, 3] {
            for (a, b) in zip(try results(threads: threads), two) {
                let same = a.scalars(as: Float.self) == b.scalars(as: Float.self)
                #expect(same, "\(threads) threads")
            }
        }

        let moved = try transpose(batchMatmul(input([2, 5, 4], 98), input([2, 4, 3], 99)), perm: [0, 2, 1])
        let shared = try transpose(batchMatmul(input([2, 5, 4], 100), g.constant(Self.random([4, 3], seed: 101))), perm: [1, 0, 2])
        let read = try batchMatmul(input([2, 5, 4], 102), input([2, 4, 3], 103))
        let kept = [moved, shared, try transpose(read, perm: [1, 0, 2]), try reduceSum(read)]
        #expect(try Self.planOps(g, kept, feeds: feeds)["BatchMatMulV2"] == 3)
        try Self.expectSameResults(g, kept, feeds: feeds)

        // The layout a plan prepares from the output's shape undoes the permutation; a
        // repeated axis is no permutation.
        let layout = try #require(LinalgKernels.TransposedProduct(outputShape: [9, 2, 4, 16], perm: [2, 0, 1, 3]))
        #expect(layout.productShape == [2, 4, 9, 16] && layout.rowStride == 2 * 4 * 16)
        #expect(LinalgKernels.TransposedProduct(outputShape: [2, 3, 4], perm: [0, 0, 2]) == nil)

        // A graph file's own fused op with a permutation that moves the last dimension: an
        // error at construction where shapes are known, at run time where they are not.
        let attrs: [String: AttrValue] = ["T": .type(.float32), "perm": .ints([2, 0, 1]), "fused_ops": .strings(["Transpose"])]
        let known = try [input([2, 3, 4], 106), input([2, 4, 5], 107)]
        #expect(throws: (any Error).self) { try g.output("_SomaFusedBatchMatMul", known, attrs: attrs, name: nil, file: "", line: 0) }
        let unknown = try [g.placeholder(.float32, name: "unknown0"), g.placeholder(.float32, name: "unknown1")]
        let bad = try g.output("_SomaFusedBatchMatMul", unknown, attrs: attrs, name: nil, file: "", line: 0)
        #expect(throws: (any Error).self) {
            try Session(graph: g).run(fetches: [bad], feeds: [unknown[0]: Self.random([2, 3, 4], seed: 108), unknown[1]: Self.random([2, 4, 5], seed: 109)])
        }
    }

    /// A sum of products with the same shapes runs as one `_SomaFusedMatMulSum`: an unrolled
    /// layer's weight gradient (Soma's gradients add `x_tᵀ·dy_t` one by one; three blocks of
    /// output rows, the last short), and an AddN of products behind TF's gradient tuples (an
    /// Identity waiting on a NoOp that waits on the product) — within rounding of the unfused
    /// sum, the same bits on one, two and three threads. Products of other shapes, or read
    /// elsewhere, stay unfused.
    @Test func sumsOfProductsAccumulateInOneKernel() throws {
        let g = Graph()
        var feeds: [Output: Tensor] = [:]
        func input(_ shape: [Int], _ seed: UInt64) throws -> Output {
            let x = try g.placeholder(.float32, shape: TensorShape(shape), name: "in\(seed)")
            feeds[x] = Self.random(shape, seed: seed)
            return x
        }
        let w = try input([40, 24], 120)
        var loss: Output? = nil
        for t in 0..<5 {
            let y = try tanh(matmul(input([35, 40], 121 + UInt64(t)), w))
            let term = try reduceSum(multiply(y, y))
            loss = try loss.map { try add($0, term) } ?? term
        }
        let total = try #require(loss)
        let dw = try #require(try g.gradients(of: total, wrt: [w])[0])
        var tupled: [Output] = []
        for i in 0..<3 {
            let product = try matmul(input([37, 20], 130 + UInt64(i)), input([20, 30], 140 + UInt64(i)))
            let deps = try g.group([product.node])
            tupled.append(try g.output("Identity", [product], name: nil, controlInputs: [deps], file: "", line: 0))
        }
        let sum = try g.output("AddN", tupled, name: nil, file: "", line: 0)
        let fetches = [dw, sum]
        let ops = try Self.planOps(g, fetches, feeds: feeds)
        #expect(ops["_SomaFusedMatMulSum"] == 2 && ops["AddN"] == nil && ops["MatMul"] == 5, "\(ops)")  // the forward products stay
        var unfused = SessionOptions()
        unfused.compileOptions = CompileOptions(disabledPasses: [MatMulSumFusion.name])
        let expected = try Session(graph: g, options: unfused).run(fetches: fetches, feeds: feeds)
        func results(threads: Int) throws -> [Tensor] {
            var options = SessionOptions()
            options.intraOpThreads = threads
            return try Session(graph: g, options: options).run(fetches: fetches, feeds: feeds)
        }
        let two = try results(threads: 2)
        for (a, b) in zip(two, expected) { #expect(a.isApproximatelyEqual(to: b, relativeTolerance: 1e-5, absoluteTolerance: 1e-4)) }
        for threads in [1, 3] {
            for (a, b) in zip(try results(threads: threads), two) { #expect(a.scalars(as: Float.self) == b.scalars(as: Float.self), "\(threads) threads") }
        }
        try Self.expectSameResults(g, fetches, feeds: feeds)

        let h = try g.placeholder(.float32, shape: [5, 6], name: "h")
        feeds[h] = Self.random([5, 6], seed: 150)
        let shared = try matmul(h, input([6, 4], 151))
        let mixed = try g.output("AddN", [shared, matmul(input([5, 3], 152), input([3, 4], 153))], name: nil, file: "", line: 0)
        let read = try g.output("AddN", [shared, matmul(input([5, 6], 154), input([6, 4], 155))], name: nil, file: "", line: 0)
        let kept = [mixed, read, try reduceSum(shared)]
        #expect(try Self.planOps(g, kept, feeds: feeds)["_SomaFusedMatMulSum"] == nil)

        // A graph file's own fused sum whose pairs disagree: an error at construction where
        // shapes are known, one line at run time where they are not.
        let attrs: [String: AttrValue] = ["N": .int(2), "T": .type(.float32), "transpose_a": .bool(false)]
        let known = try [input([4, 3], 160), input([4, 5], 161), input([3, 2], 162), input([3, 2], 163)]
        #expect(throws: (any Error).self) { try g.output("_SomaFusedMatMulSum", known, attrs: attrs, name: nil, file: "", line: 0) }
        let unknown = try (0..<4).map { try g.placeholder(.float32, name: "unknown_sum\($0)") }
        let bad = try g.output("_SomaFusedMatMulSum", unknown, attrs: attrs, name: nil, file: "", line: 0)
        let badFeeds = [unknown[0]: Self.random([4, 3], seed: 164), unknown[1]: Self.random([4, 5], seed: 165),
                        unknown[2]: Self.random([3, 2], seed: 166), unknown[3]: Self.random([5, 2], seed: 167)]
        #expect(throws: (any Error).self) { try Session(graph: g).run(fetches: [bad], feeds: badFeeds) }
    }

    @Test func transposesFoldIntoMatrixProducts() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [2, 5, 4], name: "x")
        let w = try g.constant(Self.random([3, 4], seed: 50))
        let kernelT = try transpose(w)
        let keys = try matmul(reshape(x, [10, 4]), kernelT)                           // MatMul(x, wᵀ)
        let scores = try batchMatmul(x, transpose(x, perm: [0, 2, 1]))              // x·xᵀ per batch
        let moved = try batchMatmul(transpose(x, perm: [1, 0, 2]), g.constant(Self.random([5, 4, 3], seed: 51)))  // not the last two
        let feeds = [x: Self.random([2, 5, 4], seed: 52)]
        #expect(try Self.planOps(g, [keys, scores], feeds: feeds) == ["MatMul": 1, "BatchMatMulV2": 1, "Reshape": 1],
                "no Transpose step is left for the last-two swaps")
        #expect(try Self.planOps(g, [moved], feeds: feeds)["Transpose"] == 1)
        var off = CompileOptions()
        off.disabledPasses = [AlgebraicSimplification.name]
        #expect(try Self.planOps(g, [keys, scores], feeds: feeds, options: off)["Transpose"] == 1, "the constant wᵀ is folded anyway")
        var unoptimized = SessionOptions()
        unoptimized.compileOptions = off
        let expected = try Session(graph: g, options: unoptimized).run(fetches: [keys, scores, moved], feeds: feeds)
        let actual = try Session(graph: g).run(fetches: [keys, scores, moved], feeds: feeds)
        for (a, e) in zip(actual, expected) { #expect(a.isApproximatelyEqual(to: e, relativeTolerance: 1e-6, absoluteTolerance: 1e-6)) }
    }

    /// Several products reading one matrix transposed (an unrolled RNN's input gradients)
    /// share one Transpose step and run untransposed; one product alone keeps its flag.
    @Test func sharedTransposedOperandsAreTransposedOnce() throws {
        let g = Graph()
        let w = try g.placeholder(.float32, shape: [6, 4], name: "w")
        let xs = try (0..<3).map { try g.placeholder(.float32, shape: [5, 4], name: "x\($0)") }
        let products = try xs.map { try matmul($0, w, transposeB: true) }
        var feeds = [w: Self.random([6, 4], seed: 60)]
        for (k, x) in xs.enumerated() { feeds[x] = Self.random([5, 4], seed: UInt64(61 + k)) }
        #expect(try Self.planOps(g, products, feeds: feeds) == ["MatMul": 3, "Transpose": 1])
        #expect(try Self.planOps(g, [products[0]], feeds: feeds) == ["MatMul": 1])
        var off = SessionOptions()
        off.compileOptions = CompileOptions(disabledPasses: [SharedTransposeMaterialization.name])
        #expect(try Self.planOps(g, products, feeds: feeds, options: off.compileOptions) == ["MatMul": 3])
        let expected = try Session(graph: g, options: off).run(fetches: products, feeds: feeds)
        let actual = try Session(graph: g).run(fetches: products, feeds: feeds)
        for (a, e) in zip(actual, expected) { #expect(a.isApproximatelyEqual(to: e, relativeTolerance: 1e-6, absoluteTolerance: 1e-6)) }
    }

    @Test func elementwiseChainsFuseIntoOneLoop() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [1000], name: "x")
        let b = try g.placeholder(.float32, shape: [1000], name: "b")
        let y = try sigmoid(exp(x) * 2 + b) - square(x)
        let feeds = [x: Self.random([1000], seed: 15), b: Self.random([1000], seed: 16)]
        let ops = try Self.planOps(g, [y], feeds: feeds)
        #expect(ops == ["_SomaFusedElementwise": 1], "\(ops)")
        try Self.expectSameResults(g, [y], feeds: feeds)
        let step = try #require(try Session(graph: g).plan(fetches: [y], feeds: feeds)?.steps.first)
        #expect(step.name == y.node.name, "the fused node keeps the root's name")
    }

    /// A per-channel scale and shift before an activation (DenseNet's pre-activation batch
    /// norm once folded: `Mul` by `[C]`, `Add` of `[1, 1, 1, C]`, `Relu`) is one loop, the same
    /// bits as the broadcasting ops; `Maximum` by a per-channel operand and a broadcast over
    /// rows stay unfused.
    @Test func perChannelOperandsFuse() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [2, 5, 7, 83], name: "x")
        let scale = try g.constant(Tensor(Self.random([83], seed: 30).scalars(as: Float.self), shape: [83]))
        let shift = try g.constant(Self.random([1, 1, 1, 83], seed: 31))
        let y = try relu(x * scale + shift)
        let feeds = [x: Self.random([2, 5, 7, 83], seed: 32)]
        #expect(try Self.planOps(g, [y], feeds: feeds) == ["_SomaFusedElementwise": 1])
        try Self.expectSameResults(g, [y], feeds: feeds)
        let maximum = try relu(maximum(x, scale)), overRows = try relu(x * g.constant(Self.random([2, 5, 7, 1], seed: 33)))
        #expect(try Self.planOps(g, [maximum, overRows], feeds: feeds) == ["Maximum": 1, "Mul": 1, "Relu": 2])
        try Self.expectSameResults(g, [maximum, overRows], feeds: feeds)
    }

    /// Swish — `x·sigmoid(x)`, `x·sigmoid(β·x)` with either operand order (Keras' `silu`,
    /// EfficientNet's activation) — runs as one instruction of a fused program, the same bits
    /// as the three ops in the reference interpreter: float32 in blocks of whole vectors and a
    /// tail (1,000 elements: the one-pass loop), a block shorter than a vector and float64 (the
    /// three loops it replaces), and an input that swish overwrites in place.
    @Test(arguments: [(DType.float32, 1000), (.float32, 10), (.float64, 1000)])
    func swishRunsAsOneInstruction(dtype: DType, count: Int) throws {
        let g = Graph()
        let x = try g.placeholder(dtype, shape: [count], name: "x"), b = try g.placeholder(dtype, shape: [count], name: "b")
        func scalar(_ v: Double) throws -> Output { dtype == .float32 ? try g.constant(Float(v)) : try g.constant(v) }
        let z = try x + b
        let plain = try z * sigmoid(z)
        let scaled = try x * sigmoid(scalar(1.5) * x)
        let flipped = try sigmoid(x * scalar(-0.75)) * x
        let other = try sigmoid(x * scalar(0.5)) * (x - b)  // not x: no swish
        func feed(_ seed: UInt64) throws -> Tensor {
            let values = Self.random([count], seed: seed)
            return dtype == .float32 ? values : try Tensor(values.scalars(as: Float.self).map(Double.init), shape: [count])
        }
        let feeds = [x: try feed(17), b: try feed(18)], fetches = [plain, scaled, flipped, other]
        let plan = try #require(try Session(graph: g).plan(fetches: fetches, feeds: feeds))
        let programs = plan.steps.compactMap(\.node.program)
        let swishes = programs.flatMap(\.instructions).filter { if case .swish = $0 { true } else { false } }
        #expect(swishes.count == 3, "\(programs.map(\.instructions))")
        try Self.expectSameResults(g, fetches, feeds: feeds)
    }

    @Test func planReusesMemory() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [64, 64], name: "x")
        var h = x
        for i in 0..<8 { h = try matmul(h, g.constant(Self.random([64, 64], seed: 20 + UInt64(i)))) }
        let y = try reduceSum(h)
        let feeds = [x: Self.random([64, 64], seed: 30)]
        let plan = try #require(try Session(graph: g).plan(fetches: [y], feeds: feeds))
        #expect(plan.noReuseBytes == 8 * 64 * 64 * 4)
        #expect(plan.lowerBoundBytes == 2 * 64 * 64 * 4)
        #expect(plan.arenaBytes == plan.lowerBoundBytes)
        #expect(plan.values[plan.fetches[0]].storage == .owned, "fetched values live outside the arena")
        try Self.expectSameResults(g, [y], feeds: feeds)
    }

    /// `BiasAdd` writes over its value where the value dies at it, as the elementwise ops do:
    /// a transposed convolution's bias and ReLU (a conv autoencoder's decoder, which TF's
    /// graphs leave unfused) keep one buffer of the convolution's output, in both layouts.
    @Test(arguments: ["NHWC", "NCHW"])
    func biasAddRunsInPlace(dataFormat: String) throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [1, 16, 16, 8], name: "x")
        let up = try conv2DTranspose(x, filter: g.constant(Self.random([3, 3, 16, 8], seed: 83)), outputShape: [1, 32, 32, 16],
                                     strides: [2, 2], padding: "SAME")
        let value = dataFormat == "NHWC" ? up : try transpose(up, perm: [0, 3, 1, 2])
        let y = try relu(biasAdd(value, g.constant(Tensor(Self.random([16], seed: 84).scalars(as: Float.self), shape: [16])),
                                 dataFormat: dataFormat))
        let out = try reduceSum(y, axis: [1, 2, 3])
        let feeds = [x: Self.random([1, 16, 16, 8], seed: 85)]
        let plan = try #require(try Session(graph: g).plan(fetches: [out], feeds: feeds))
        let step = try #require(plan.steps.first { $0.op == "BiasAdd" })
        #expect(plan.values[step.outputs[0]].storage == plan.values[step.inputs[0]].storage, "the output is the value's buffer")
        try Self.expectSameResults(g, [out], feeds: feeds)
    }

    /// A training step's updates return the variables they write: their outputs take no
    /// arena bytes, so the step's arena holds the activations and gradients alone — here the
    /// gradient of the [256, 256] weight (the largest value) and two [8, 256] activations,
    /// not a second buffer of the weight's size for the update's output — and the update
    /// runs as soon as it may, freeing its gradient.
    @Test func trainingUpdatesTakeNoArena() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [8, 256], name: "x")
        let w = try g.variable(Self.random([256, 256], seed: 80), name: "w")
        let v = try g.variable(Self.random([256, 4], seed: 81), name: "v")
        let loss = try reduceSum(square(matmul(tanh(matmul(x, w.value)), v.value)))
        let train = try GradientDescentOptimizer(learningRate: 1e-4).minimize(loss)
        let session = Session(graph: g)
        try session.run(target: g.globalVariablesInitializer())
        let feeds = [x: Self.random([8, 256], seed: 82)]
        let plan = try #require(try session.plan(fetches: [loss], feeds: feeds, targets: [train]))
        let updates = plan.steps.filter { $0.op == "ApplyGradientDescent" }
        #expect(updates.count == 2)
        for step in updates { #expect(step.outputs.allSatisfy { plan.values[$0].storage == .owned }, "\(step.name)") }
        let weightBytes = 256 * 256 * 4
        #expect(plan.lowerBoundBytes < weightBytes + weightBytes / 2, "bound \(plan.lowerBoundBytes)")
        #expect(plan.arenaBytes == plan.lowerBoundBytes)
        // The step still trains: the loss falls.
        let before = try session.run(loss, feeds: feeds).scalar(as: Float.self)
        for _ in 0..<3 { try session.run(target: train, feeds: feeds) }
        #expect(try session.run(loss, feeds: feeds).scalar(as: Float.self) < before)
    }

    /// The parallel executor's layout reuses memory, but only between values that no order
    /// the dependencies allow keeps alive together: every pair of overlapping regions is
    /// checked against ancestry worked out here from the steps' successors. The execution
    /// windows' layout writes nothing in place, so on these residual blocks (with a side
    /// branch free to run beside them or without) it needs over 5 % more than the sequential
    /// layout, which parallel runs then keep, with waits; with no limit on the slack, the
    /// windows' own layout.
    @Test(arguments: [(false, 0.05), (true, 0.05), (false, .infinity), (true, .infinity)])
    func parallelLayoutSharesOnlyAcrossDependencies(sideBranch: Bool, slack: Double) throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [32, 32], name: "x")
        var h = x, side = try tanh(matmul(x, g.constant(Self.random([32, 32], seed: 40))))
        for i in 0..<6 {
            h = try relu(matmul(h, g.constant(Self.random([32, 32], seed: 41 + UInt64(i))))) + h
            if i < 3 { side = try sigmoid(matmul(side, g.constant(Self.random([32, 32], seed: 50 + UInt64(i))))) }
        }
        let y = sideBranch ? try reduceSum(h) + reduceSum(side) : try reduceSum(h)
        let feeds = [x: Self.random([32, 32], seed: 60)]
        var options = SessionOptions()
        options.compileOptions.parallelMemorySlack = slack
        let plan = try #require(try Session(graph: g, options: options).plan(fetches: [y, h], feeds: feeds))
        #expect(plan.hasParallelism)
        #expect(plan.lowerBoundBytes <= plan.parallelArenaBytes && plan.parallelArenaBytes < plan.noReuseBytes,
                "parallel \(plan.parallelArenaBytes), sequential \(plan.arenaBytes), no reuse \(plan.noReuseBytes)")
        // Waits beyond the data dependencies wherever the windows' layout is over the slack.
        let producerStep = Dictionary(plan.steps.enumerated().flatMap { i, step in step.outputs.map { ($0, i) } }, uniquingKeysWith: { a, _ in a })
        let waits = plan.steps.contains { $0.dependencyCount > Set($0.inputs.compactMap { producerStep[$0] }).count }
        #expect(waits == (slack < 1))
        if waits { #expect(plan.parallelArenaBytes == plan.arenaBytes) }

        // Ancestors of every step, by a walk over the successors.
        var ancestors = [Set<Int>](repeating: [], count: plan.steps.count)
        for i in plan.steps.indices {
            var stack = [i], seen = Set<Int>()
            while let s = stack.popLast() {
                for next in plan.steps[s].successors where seen.insert(next).inserted { stack.append(next) }
            }
            for d in seen { ancestors[d].insert(i) }
        }
        func root(_ v: Int) -> Int { if case .alias(let of) = plan.values[v].storage { root(of) } else { v } }
        var readers = [Int: [Int]]()
        for (i, step) in plan.steps.enumerated() { for v in step.inputs { readers[root(v), default: []].append(i) } }
        let fetched = Set(plan.fetches.map(root))
        var regions: [(value: Int, producer: Int, range: Range<Int>)] = []
        for (i, step) in plan.steps.enumerated() {
            for (v, offset) in zip(step.outputs, step.parallelOutputOffsets) {
                guard let offset, case .arena(_, let bytes) = plan.values[v].storage else { continue }
                regions.append((v, i, offset..<(offset + bytes)))
            }
        }
        #expect(regions.count > 10)
        /// Whether `u` is dead, in every order, before `v`'s producer starts — or that producer
        /// reads it last and writes over it (an elementwise step in place: the same bytes).
        func deadBefore(_ u: (value: Int, producer: Int, range: Range<Int>), _ v: (value: Int, producer: Int, range: Range<Int>)) -> Bool {
            let inPlace = u.range == v.range && plan.steps[v.producer].inputs.contains(u.value)
            return !fetched.contains(u.value) && ([u.producer] + readers[u.value, default: []]).allSatisfy {
                ancestors[v.producer].contains($0) || (inPlace && $0 == v.producer)
            }
        }
        var shared = 0
        for a in regions.indices {
            for b in regions.indices where a < b && regions[a].range.overlaps(regions[b].range) {
                shared += 1
                #expect(deadBefore(regions[a], regions[b]) || deadBefore(regions[b], regions[a]),
                        "\(plan.values[regions[a].value].name) and \(plan.values[regions[b].value].name) share bytes")
            }
        }
        #expect(shared > 0)
        try Self.expectSameResults(g, [y, h], feeds: feeds)
    }

    @Test func elementwiseOpsRunInPlace() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [256], name: "x")
        let y = try reduceSum(relu(matmul(expandDims(x, axis: 0), g.constant(Self.random([256, 256], seed: 31)))))
        var options = SessionOptions()
        options.compileOptions.disabledPasses = [MatMulBiasActivationFusion.name, ElementwiseFusion.name]
        let plan = try #require(try Session(graph: g, options: options).plan(fetches: [y], feeds: [x: Self.random([256], seed: 32)]))
        let storages = plan.steps.flatMap { $0.outputs.map { plan.values[$0].storage } }
        let relu = plan.steps.first { $0.op == "Relu" }!, product = plan.steps.first { $0.op == "MatMul" }!
        #expect(plan.values[relu.outputs[0]].storage == plan.values[product.outputs[0]].storage, "\(storages)")
    }

    @Test func plansAreCachedPerSignature() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 2], name: "x")
        let y = try x * 2
        var options = SessionOptions()
        options.planCacheCapacity = 2
        let s = Session(graph: g, options: options)
        for batch in [1, 2, 1, 3, 4] { _ = try s.run(y, feeds: [x: Tensor(repeating: Float(1), shape: [batch, 2])]) }
        #expect(s.plans.count == 2, "bounded")
        let p1 = try s.plan(fetches: [y], feeds: [x: Tensor(repeating: Float(1), shape: [5, 2])])
        #expect(p1?.values[p1!.fetches[0]].shape == [5, 2], "a new batch size compiles a new plan")
    }

    @Test func valueDependentShapesBecomeDynamicSteps() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [6], name: "x")
        let target = try g.placeholder(.int32, shape: [2], name: "target")
        let y = try reshape(x, target) * 2
        let z = try reduceSum(y, axis: [1]) + 1
        let s = Session(graph: g)
        let feeds = [x: Tensor((0..<6).map { Float($0) }), target: Tensor([Int32(3), 2])]
        let plan = try #require(try s.plan(fetches: [z], feeds: feeds))
        // The reshape and what depends on its shape infer shapes as they run; the rest is planned.
        #expect(plan.steps.filter(\.isDynamic).map(\.op).sorted() == ["AddV2", "Mul", "Reshape", "Sum"], "\(plan.listing)")
        #expect(try s.run(z, feeds: feeds).scalars(as: Float.self) == [3, 11, 19])
        #expect(try s.run(z, feeds: [x: feeds[x]!, target: Tensor([Int32(2), 3])]).scalars(as: Float.self) == [7, 25])
    }

    @Test func concreteShapeConflictsNameTheNode() throws {
        let g = Graph()
        let a = try g.placeholder(.float32, shape: [nil, 3], name: "a")
        let b = try g.placeholder(.float32, shape: [nil, 3], name: "b")
        let sum = try add(a, b, name: "sum")
        let error = #expect(throws: SomaError.self) {
            try Session(graph: g).run(sum, feeds: [a: Tensor(zeros: .float32, shape: [2, 3]), b: Tensor(zeros: .float32, shape: [4, 3])])
        }
        #expect(error?.message.hasPrefix("Dimensions must be equal, but are 2 and 4 for 'sum' (op: 'AddV2') with input shapes: [2,3], [4,3]") == true)
    }

    /// A side-effect-free node that only control edges leave is not computed (Grappler's
    /// `dependency_optimizer`), as TF's gradient groups leave a first layer's input gradient:
    /// its inputs still run before what it ordered, a stateful node stays, values agree.
    @Test func unreadNodesThatOnlyOrderOthersAreNotComputed() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [4, 3], name: "x")
        let w = try g.variable(Self.random([3, 2], seed: 7), name: "w")
        let y = try matmul(x, w.value, name: "y")
        let unread = try matmul(y, w.value, transposeB: true, name: "unread")
        let read = try matmul(x, y, transposeA: true, name: "read")
        let stateful = try g.randomUniform(shape: [2], name: "stateful")
        let gate = try g.group([unread.node, read.node, stateful.node], name: "group_deps")
        let gated = try g.withControlDependencies([gate]) { try identity(read, name: "gated") }
        let feeds = [x: Self.random([4, 3], seed: 8)]
        let session = Session(graph: g)
        try session.run(target: w.initializer!)
        let plan = try #require(try session.plan(fetches: [gated], feeds: feeds))
        let ops = Dictionary(plan.steps.map { ($0.name, $0.op) }, uniquingKeysWith: { a, _ in a })
        // The unread nodes became NoOps, and the NoOps were bypassed: `gated` waits for their inputs itself.
        #expect(ops["unread"] == nil && ops["stateful/AddV2"] == nil && ops["group_deps"] == nil, "\(ops)")
        #expect(ops["y"] == "MatMul" && ops["read"] == "MatMul" && ops["stateful/RandomUniform"] == "RandomUniform", "\(ops)")
        let index = Dictionary(plan.steps.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        for before in ["y", "read", "stateful/RandomUniform"] {
            #expect(plan.steps[index[before]!].successors.contains(index["gated"]!), "\(before) before gated")
        }
        var options = SessionOptions()
        options.compileOptions.disabledPasses = [DependencyOptimization.name]
        let reference = Session(graph: g, options: options)
        try reference.run(target: w.initializer!)
        #expect(try session.run(gated, feeds: feeds) == reference.run(gated, feeds: feeds))
        #expect(try reference.plan(fetches: [gated], feeds: feeds)!.steps.contains { $0.name == "unread" && $0.op == "MatMul" })
    }

    /// A frozen Keras model orders a `NoOp` after every weight's read (each a constant by
    /// then): the constants' control edges go, the `NoOp`s they leave are bypassed, and what
    /// a `NoOp` ordered — an update before a read — stays ordered.
    @Test func noOpsThatOnlyRelayOrderAreBypassed() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [2], name: "x")
        let weights = try (0..<20).map { try identity(g.constant(Tensor([Float($0), 1])), name: "read\($0)") }
        let sink = try g.group(weights.map(\.node), name: "NoOp")
        let y = try reduceSum(x * weights[3], name: "y")
        let v = try g.variable(Tensor([Float(1), 2]), name: "v")
        let update = try v.assign(x, name: "update")
        let updated = try g.group([update.node], name: "updated")
        let read = try g.withControlDependencies([updated]) { try identity(v.value * 2, name: "read") }
        let session = Session(graph: g)
        try session.run(target: v.initializer!)
        let feeds = [x: Tensor([Float(5), 7])]
        let plan = try #require(try session.plan(fetches: [y, read], feeds: feeds, targets: [sink]))
        #expect(plan.steps.filter { $0.op == "NoOp" }.map(\.name) == ["NoOp"], "the target alone: \(plan.listing)")
        #expect(plan.steps.count < 8, "\(plan.listing)")
        let results = try session.run(fetches: [y, read], feeds: feeds, targets: [sink])
        #expect(results[0].scalars(as: Float.self) == [22])
        #expect(results[1].scalars(as: Float.self) == [10, 14], "the update still runs before the read")
    }

    @Test func optimizedGraphsSaveLoadAndRunTheSame() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 8], name: "x")
        let w = try g.variable(Self.random([8, 4], seed: 40), name: "w")
        let h = try relu(biasAdd(matmul(x, w.value), g.constant(Self.random([4], seed: 41))) * 1, name: "h")
        let y = try softmax(h, name: "probs")
        let (optimized, report) = try g.optimized(for: [y], targets: [w.initializer!])
        #expect(report.map(\.pass) == ["pruning", "shape_specialization", "constant_folding", "list_length_inference",
                                        "common_subexpression_elimination",
                                        "arithmetic_optimizer", "constant_folding", "common_subexpression_elimination",
                                        "dependency_optimizer", "remapper"])
        #expect(optimized.nodes.contains { $0.op == "_FusedMatMul" })
        #expect(report[1].description.hasPrefix("shape_specialization: "))
        let reloaded = try Graph(graphDef: optimized.graphDef())
        let feeds: (Graph) -> [Output: Tensor] = { [$0.output(named: "x")!: Self.random([3, 8], seed: 42)] }
        func run(_ graph: Graph) throws -> Tensor {
            let s = Session(graph: graph)
            try s.run(target: graph.node(named: "w/Assign")!)
            return try s.run(graph.output(named: "probs")!, feeds: feeds(graph))
        }
        #expect(Self.identical(try run(g), try run(reloaded)))
    }
}

/// Every TF fixture graph plans statically, within 5% of its memory lower bound.
@Suite struct FixturePlanTests {
    @Test(arguments: TensorFlowFixtureTests.models)
    func fixtureGraphsPlanNearTheLowerBound(model: String) throws {
        let folder = TensorFlowFixtureTests.root.appendingPathComponent(model)
        let manifest = try TensorFlowFixtureTests.manifest(model)
        let graph = try Graph(contentsOf: folder.appendingPathComponent("model.pb"))
        var feeds: [Output: Tensor] = [:]
        for (name, file) in manifest.inputs {
            feeds[graph.output(named: name)!] = try Tensor(contentsOfNPY: folder.appendingPathComponent(file))
        }
        let fetches = manifest.fetches.map { graph.output(named: $0.name)! }
        do {
            let ir = try IRGraph(graph: graph, fetches: fetches.map(\.endpoint), targets: [],
                                 feeds: Dictionary(uniqueKeysWithValues: feeds.map { ($0.key.endpoint, TensorShape($0.value.shape)) }),
                                 requireFeeds: true)
            _ = try Passes.run(Passes.pipeline(disabled: [], forPlan: true), on: ir, context: PassContext(forPlan: true))
            // Values read out of TensorLists (and TF1 TensorArrays, loaded as lists) have shapes
            // known only at run time (dynamic steps).
            if !manifest.ops.contains(where: { $0.hasPrefix("TensorList") || $0.hasPrefix("TensorArray") }) {
                let partial = ir.nodes.filter { $0.outputShapes.contains { !$0.isFullyDefined } }.map { "\($0.name) (\($0.op)) \($0.outputShapes)" }
                #expect(partial.isEmpty, "\(model): shapes left partial: \(partial)")
            }
        }
        let plan = try #require(try Session(graph: graph).plan(fetches: fetches, feeds: feeds))
        #expect(Double(plan.arenaBytes) <= 1.05 * Double(plan.lowerBoundBytes), "\(model): \(plan.arenaBytes) vs \(plan.lowerBoundBytes)")
    }
}

/// Reads and writes of one variable keep their build order in plans.
@Suite struct VariableOrderingTests {
    @Test(arguments: [false, true])
    func readsSeeWritesInBuildOrder(compiled: Bool) throws {
        var options = SessionOptions()
        options.useCompiler = compiled
        let g = Graph()
        let v = try g.variable(Tensor([Float(1)]), name: "v")
        let before = try v.value * 2, bump = try v.assignAdd(g.constant([Float(10)], shape: [1]))
        let after = try g.withNameScope("after") { try v.value * 2 }
        let s = Session(graph: g, options: options)
        try s.run(target: v.initializer!)
        let r = try s.run(fetches: [before, after], targets: [bump.node])
        #expect(r[0].scalars(as: Float.self) == [2] && r[1].scalars(as: Float.self) == [22])
    }
}

/// The arena placement: no two buffers live at once share bytes, and the placement reaches
/// the peak of live bytes where largest-first does not.
@Suite struct ArenaPlacementTests {
    typealias Buffer = (bytes: Int, first: Int, last: Int)

    static func arena(_ buffers: [Buffer], _ offsets: [Int]) -> Int {
        zip(buffers, offsets).map { $0.bytes + $1 }.max() ?? 0
    }

    static func overlapping(_ buffers: [Buffer], _ offsets: [Int]) -> [(Int, Int)] {
        var pairs: [(Int, Int)] = []
        for a in buffers.indices {
            for b in buffers.indices where a < b {
                let liveTogether = buffers[a].first <= buffers[b].last && buffers[b].first <= buffers[a].last
                let shareBytes = offsets[a] < offsets[b] + buffers[b].bytes && offsets[b] < offsets[a] + buffers[a].bytes
                if liveTogether && shareBytes { pairs.append((a, b)) }
            }
        }
        return pairs
    }

    @Test func reachesTheBoundWhereLargestFirstDoesNot() {
        // Largest-first puts the two 2-byte buffers on top of each other's neighbours: 8 bytes.
        let buffers: [Buffer] = [(2, 1, 3), (4, 0, 1), (3, 4, 5), (2, 3, 4)]
        let bound = PlanBuilder.peakLiveBytes(buffers, steps: 6)
        #expect(bound == 6)
        let largestFirst = PlanBuilder.bestFitOffsets(buffers, order: [1, 2, 0, 3])
        #expect(Self.arena(buffers, largestFirst) == 8)
        let offsets = PlanBuilder.assignOffsets(buffers, lowerBound: bound)
        #expect(Self.arena(buffers, offsets) == bound)
        #expect(Self.overlapping(buffers, offsets).isEmpty)
    }

    @Test func randomLifetimesNeverShareLiveBytes() {
        var rng = SplitMix64(seed: 99)
        for _ in 0..<200 {
            let buffers: [Buffer] = (0..<Int.random(in: 1...40, using: &rng)).map { _ in
                let first = Int.random(in: 0..<30, using: &rng)
                return (Int.random(in: 1...16, using: &rng) * 64, first, first + Int.random(in: 0..<10, using: &rng))
            }
            let bound = PlanBuilder.peakLiveBytes(buffers, steps: 40)
            let offsets = PlanBuilder.assignOffsets(buffers, lowerBound: bound)
            let largestFirst = PlanBuilder.bestFitOffsets(
                buffers, order: buffers.indices.sorted { buffers[$0].bytes != buffers[$1].bytes ? buffers[$0].bytes > buffers[$1].bytes : $0 < $1 })
            #expect(Self.overlapping(buffers, offsets).isEmpty, "\(buffers) → \(offsets)")
            #expect(Self.arena(buffers, offsets) >= bound)
            #expect(Self.arena(buffers, offsets) <= Self.arena(buffers, largestFirst), "never worse than largest-first")
        }
    }
}
