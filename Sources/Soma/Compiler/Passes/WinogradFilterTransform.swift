/// Constant 3×3 and 5×5 filters of convolutions that run Winograd tiles are stored transformed.
///
/// Contract: a float32 NHWC `Conv2D` / `_SomaFusedConv2D` whose geometry the plan fixes and
/// its kernel runs as Winograd tiles (``ConvKernels/fitsWinograd(_:)``) and whose filter is a
/// constant reads instead a new `[S, S, C, OC]` constant (`S` the window's side plus the
/// tile's minus one: 6 for F(4×4, 3×3) and F(2×2, 5×5), 4 for F(2×2, 3×3),
/// ``ConvKernels/winogradTile(_:filterPerCall:)``) holding `G g Gᵀ` per input and output channel
/// (``ConvKernels/transformFilter(_:into:c:oc:window:tile:channels:)``),
/// and is marked with its tile (``IRNode/winogradTile``) so its kernel reads it so: the transform the
/// kernel would repeat on every run (S²·C·OC values; 0.3 of a ResNet50 14²×256 layer's
/// 1.8 ms) is done once. The same values as the kernel's own transform, so the same bits.
/// Plans only: the transformed constant is no TensorFlow tensor. Runs before
/// ``WeightPanelPacking``, which leaves the node alone.
/// Guards: a shared constant stays for its other readers; the node's shapes concrete.
struct WinogradFilterTransform: CompilerPass {
    static let name = "transform_winograd_filters"

    func run(_ ir: IRGraph, _ context: PassContext) throws {
        guard context.forPlan else { return }
        var names = Set(ir.nodes.map(\.name))
        for node in ir.nodes where !node.weightPanels && !node.winogradFilter {
            guard let g = ConvKernels.winogradGeometry(node), node.outputTypes.first == .float32, node.string("data_format") ?? "NHWC" == "NHWC",
                  let filter = KnownValues.constant(node.inputs[1]), filter.dtype == .float32, filter.shape.count == 4 else { continue }
            let (window, c, oc) = (filter.shape[0], filter.shape[2], filter.shape[3]), tile = ConvKernels.winogradTile(g, filterPerCall: false)
            let transformed = Tensor(zeros: .float32, shape: [window + tile - 1, window + tile - 1, c, oc])
            ConvKernels.transformFilter(filter.pointer(as: Float.self), into: transformed.mutablePointer(as: Float.self), c: c, oc: oc,
                                        window: window, tile: tile, channels: 0..<c)
            let constant = ir.insertConstant(transformed, named: "\(node.name)/winograd_filter", before: node, avoiding: &names)
            node.inputs[1] = IRValue(constant, 0)
            node.winogradTile = tile
        }
    }
}
