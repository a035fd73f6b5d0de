/// Filter taps that only ever meet padding are cut from a convolution's constant filter.
///
/// Contract: a `Conv2D` or `DepthwiseConv2dNative` (NHWC) with a constant float filter and an
/// input whose height and width are known, some of whose first or last filter rows or
/// columns fall in the padding for every output position — a 3×3 `SAME` convolution on a
/// 1×1 image reads its centre tap alone, a 7×1 one on 3×3 rows its middle five —, becomes
/// the same convolution with the filter cut to the taps that read the image and `EXPLICIT`
/// padding moved by as many rows and columns, so every output position reads the same
/// image values with the same weights. InceptionV3 at 75² (its last stages run on 3×3 and
/// 1×1 images) reads 26 MB of its 95 MB of weights fewer per image. Values are the same
/// up to the order of the sums, since a product with padding is zero, except where a cut
/// tap holds an infinity or NaN (`0·∞` is NaN): such filters are left alone. The filter is
/// a new constant (a shared one stays for its other readers). Plans only, as TF runs
/// `EXPLICIT` padding on fewer devices.
/// Guards: dilated windows are left alone, as are windows whose new padding would be
/// negative or change the output's size.
struct PaddingTapPruning: CompilerPass {
    static let name = "prune_padding_taps"

    func run(_ ir: IRGraph, _ context: PassContext) throws {
        guard context.forPlan else { return }
        var names = Set(ir.nodes.map(\.name))
        for conv in ir.nodes where (conv.op == "Conv2D" || conv.op == "DepthwiseConv2dNative") && conv.controlInputs.isEmpty {
            guard conv.string("data_format") ?? "NHWC" == "NHWC", let input = conv.inputs[0].shape.concrete, input.count == 4,
                  let filter = KnownValues.constant(conv.inputs[1]), filter.rank == 4, [.float32, .float64].contains(filter.dtype),
                  let window = try? Window(attrs: conv.attrs, kernel: [filter.shape[0], filter.shape[1]]),
                  window.dilations == [1, 1],
                  let rows = Self.usedTaps(size: input[1], kernel: filter.shape[0], window, dimension: 0),
                  let columns = Self.usedTaps(size: input[2], kernel: filter.shape[1], window, dimension: 1),
                  rows.taps.count < filter.shape[0] || columns.taps.count < filter.shape[1] else { continue }
            let (kh, kw, depth) = (filter.shape[0], filter.shape[1], filter.shape[2] * filter.shape[3])
            let values = filter.doubleScalars()
            var kept: [Double] = []
            kept.reserveCapacity(rows.taps.count * columns.taps.count * depth)
            var finite = true
            for ky in 0..<kh {
                for kx in 0..<kw {
                    let tap = values[((ky * kw + kx) * depth)..<((ky * kw + kx + 1) * depth)]
                    if rows.taps.contains(ky) && columns.taps.contains(kx) { kept += tap } else if !tap.allSatisfy(\.isFinite) { finite = false }
                }
            }
            guard finite else { continue }
            let shape = [rows.taps.count, columns.taps.count, filter.shape[2], filter.shape[3]]
            let constant = ir.insertConstant(try BatchNormFolding.tensor(kept, shape: shape, dtype: filter.dtype),
                                             named: "\(conv.name)/pruned_filter", before: conv, avoiding: &names)
            conv.inputs[1] = IRValue(constant, 0)
            conv.attrs["padding"] = .string("EXPLICIT")
            conv.attrs["explicit_paddings"] = .ints([0, 0, rows.before, rows.after, columns.before, columns.after, 0, 0])
        }
    }

    /// The taps of dimension `dimension` (0: height, 1: width) that read the image at some
    /// output position, and the padding that keeps every position's window on the same
    /// image values once the filter is cut to them; `nil` where that is not possible.
    static func usedTaps(size: Int, kernel: Int, _ window: Window, dimension d: Int) -> (taps: Range<Int>, before: Int, after: Int)? {
        guard size > 0, let (outputs, padBefore) = try? window.output(size, dimension: d), outputs > 0 else { return nil }
        let stride = window.strides[d]
        // Output position o reads image position o·stride − padBefore + tap: the first
        // position's window starts highest in the padding, the last one's lowest. (Where a
        // window lies wholly in the padding these bounds keep more taps than needed, never fewer.)
        let lastStart = (outputs - 1) * stride - padBefore
        let first = Swift.max(0, -lastStart), last = Swift.min(kernel - 1, size - 1 + padBefore)
        guard first <= last else { return nil }
        let taps = first..<(last + 1), before = padBefore - first
        let after = Swift.max(0, (outputs - 1) * stride + taps.count - size - before)
        guard before >= 0, size + before + after >= taps.count, (size + before + after - taps.count) / stride + 1 == outputs else { return nil }
        return (taps, before, after)
    }
}
