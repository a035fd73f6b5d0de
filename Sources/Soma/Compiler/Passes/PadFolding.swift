/// A zero `Pad` of an image's rows and columns feeding a convolution becomes the
/// convolution's own explicit padding (plans only; oneDNN's pad fusion; Keras writes
/// `ZeroPadding2D` before MobileNet's, EfficientNet's and ResNet's strided layers).
///
/// Contract: `Conv2D`/`DepthwiseConv2dNative(Pad(x, p), f)` — `p` a constant `[[0, 0], [t,
/// b], [l, r], [0, 0]]` (`Pad`, or `PadV2` with a constant zero), the convolution NHWC with
/// `VALID` or `EXPLICIT` padding — becomes the convolution of `x` with `EXPLICIT` padding
/// `[[0, 0], [t, b], [l, r], [0, 0]]` added to its own, named as before. The padded image is
/// never written: one pass over memory fewer, and one buffer. Values are the same — the
/// kernels read zeros where the window leaves the image, or skip those taps, and adding a
/// zero product changes no sum — except where a filter holds an infinity or NaN (`0·∞` in
/// the padded image is NaN). Plans only, as TF runs `EXPLICIT` padding on fewer devices
/// than `Pad`. Guards: the `Pad` has one consumer, is not fetched, has no control edges in
/// or out; amounts whose sum overflows are left alone.
struct PadFolding: CompilerPass {
    static let name = "fold_padding"

    func run(_ ir: IRGraph, _ context: PassContext) throws {
        guard context.forPlan else { return }
        let consumers = ir.consumerCounts(), fetched = ir.fetchedNodeIDs(), controlSources = ir.controlSources()
        for conv in ir.nodes where conv.op == "Conv2D" || conv.op == "DepthwiseConv2dNative" {
            let pad = conv.inputs[0].node
            guard pad.op == "Pad" || pad.op == "PadV2", consumers[pad.id] == 1, !fetched.contains(pad.id),
                  !controlSources.contains(pad.id), pad.controlInputs.isEmpty,
                  conv.string("data_format") ?? "NHWC" == "NHWC", let added = Self.imagePadding(pad),
                  let own = Self.explicitPadding(conv) else { continue }
            let sums = zip(own, added).map { $0.addingReportingOverflow($1) }
            guard !sums.contains(where: \.overflow) else { continue }
            conv.inputs[0] = pad.inputs[0]
            conv.attrs["padding"] = .string("EXPLICIT")
            conv.attrs["explicit_paddings"] = .ints(sums.map(\.partialValue))
        }
    }

    /// A pad's eight amounts (`[before, after]` per NHWC dimension) where it pads rows and
    /// columns only, with zeros.
    private static func imagePadding(_ pad: IRNode) -> [Int]? {
        guard pad.inputs[0].shape.rank == 4, let amounts = KnownValues.constant(pad.inputs[1])?.intScalars(), amounts.count == 8,
              amounts.allSatisfy({ $0 >= 0 }), amounts[0] == 0, amounts[1] == 0, amounts[6] == 0, amounts[7] == 0 else { return nil }
        if pad.op == "PadV2" {
            guard let value = KnownValues.constant(pad.inputs[2]), value.scalarCount == 1, value.doubleScalars() == [0] else { return nil }
        }
        return amounts
    }

    /// A convolution's own padding as eight explicit amounts, where it is `VALID` or `EXPLICIT`.
    private static func explicitPadding(_ conv: IRNode) -> [Int]? {
        switch conv.string("padding") {
        case "VALID": return Array(repeating: 0, count: 8)
        case "EXPLICIT":
            guard case .ints(let amounts)? = conv.attrs["explicit_paddings"], amounts.count == 8 else { return nil }
            return amounts
        default: return nil
        }
    }
}
