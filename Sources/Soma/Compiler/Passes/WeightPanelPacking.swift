/// Large constant weights are stored in the panels their products read.
///
/// Contract: a float32 `MatMul` / `_FusedMatMul` (`B` not transposed) or NHWC `Conv2D` /
/// `_SomaFusedConv2D` whose right operand (the `[K, N]` weight, or the filter as
/// `[KH·KW·C, OC]`) is a constant beyond ``SmallGEMM``'s 512 KiB (a product's weight beyond
/// 64 KiB where LIBXSMM's kernels are AVX2 ones: ``smallestPackedBytes(_:)``) reads it from
/// a new constant of the same shape holding it in ``BlockedGEMM`` panels of 32 columns, each
/// `[K, 32]` block contiguous (``BlockedGEMM/packPanels(_:k:n:into:)``), and is marked
/// (``IRNode/weightPanels``) so its kernel reads them so. Such a product is bound by the
/// memory: a small batch of a large model reads every weight once from DRAM, and a tile's
/// strip of a row-major matrix (128 columns, a row's length apart every 512 bytes) streams
/// slower than one contiguous run. Values are those of the unpacked tiles; products of one
/// or two rows, which would otherwise stream whole rows without fused multiply-adds
/// (``StreamingGEMM``), change in rounding only. Plans only: the packed constant is no
/// TensorFlow tensor. Runs last, so no later pass sees a packed constant.
/// Guards: LIBXSMM must be available (the tiles are its kernels), strides within its 32-bit
/// integers; a shared constant stays for its other readers; a convolution that runs
/// Winograd tiles reads its filter unpacked.
struct WeightPanelPacking: CompilerPass {
    static let name = "pack_weight_panels"

    func run(_ ir: IRGraph, _ context: PassContext) throws {
        guard context.forPlan, LIBXSMM.available else { return }
        var names = Set(ir.nodes.map(\.name))
        for node in ir.nodes where !node.weightPanels && !node.winogradFilter && node.inputs.count >= 2 {
            guard let (k, n) = Self.weightShape(node), let weight = KnownValues.constant(node.inputs[1]), weight.dtype == .float32,
                  k * n * MemoryLayout<Float>.stride > Self.smallestPackedBytes(node),
                  Int32(exactly: BlockedGEMM.depth * MemoryLayout<Float>.stride * Swift.max(k, BlockedGEMM.panelColumns)) != nil,
                  Int32(exactly: Swift.max(k, n)) != nil, ConvKernels.winogradGeometry(node) == nil else { continue }
            let packed = Tensor(zeros: .float32, shape: weight.shape)
            BlockedGEMM.packPanels(weight.pointer(as: Float.self), k: k, n: n, into: packed.mutablePointer(as: Float.self))
            let constant = ir.insertConstant(packed, named: "\(node.name)/weight_panels", before: node, avoiding: &names)
            node.inputs[1] = IRValue(constant, 0)
            node.weightPanels = true
        }
    }

    /// The bytes beyond which `node`'s weight is packed: ``SmallGEMM``'s limit, where one
    /// LIBXSMM kernel reads the weight in place — except a `MatMul`'s weight where LIBXSMM's
    /// kernels are AVX2 ones (``LIBXSMM/hasAVX512Kernels``): there a deep weight beyond
    /// 64 KiB ran far slower in place than in panels. On an AVX2 machine (AMD EPYC Zen 3,
    /// 32 KiB L1, 512 KiB L2; one thread, GFLOP/s, one kernel → panels; OpenBLAS beside):
    /// 256×256·256×256 58 → 86 (76–84), 64×512·512×512 47 → 76 (70–78), 32×192·192×512
    /// (the harness LSTM's gates, in its plan) 47 → 74 (71), while up to 64 KiB one kernel
    /// was the fastest (512×64·64×64 97, OpenBLAS 67). Filters keep the limit: a pointwise
    /// convolution's shallow filter runs well in place (196×96·96×576 74), and the direct
    /// kernels read filters unpacked. The tiles give one kernel's bits.
    static func smallestPackedBytes(_ node: IRNode) -> Int {
        node.op.hasSuffix("MatMul") && !LIBXSMM.hasAVX512Kernels ? 64 << 10 : SmallGEMM.maximumBBytes
    }

    /// The right operand's `(K, N)` where `node` is a float32 product this pass takes.
    static func weightShape(_ node: IRNode) -> (k: Int, n: Int)? {
        guard node.outputTypes.first == .float32, let shape = node.inputs[1].shape.concrete, shape.allSatisfy({ $0 > 0 }) else { return nil }
        switch node.op {
        case "MatMul", "_FusedMatMul":
            guard !(node.bool("transpose_b") ?? false), shape.count == 2 else { return nil }
            return (shape[0], shape[1])
        case "Conv2D", "_SomaFusedConv2D":
            guard node.string("data_format") ?? "NHWC" == "NHWC", shape.count == 4,
                  let k = checkedProduct([shape[0], shape[1], shape[2]]) else { return nil }
            return (k, shape[3])
        default:
            return nil
        }
    }
}
