/// Recurrent cells as ops (TF's `rnn_ops`): `LSTMBlockCell`, one fused LSTM time step.
enum RNNOps {
    static let definitions: [OpDef] = [
        // x [B, I], cs_prev [B, H], h_prev [B, H], w [I + H, 4H], wci/wcf/wco [H], b [4H]
        // → i, cs, f, o, ci, co, h, each [B, H]. Gates in TF's order: i, ci, f, o.
        OpDef("LSTMBlockCell", inputs: ["x: T", "cs_prev: T", "h_prev: T", "w: T", "wci: T", "wcf: T", "wco: T", "b: T"],
              outputs: ["i: T", "cs: T", "f: T", "o: T", "ci: T", "co: T", "h: T"],
              attrs: [.float("forget_bias", default: 1), .float("cell_clip", default: 3), .bool("use_peephole", default: false),
                      .type("T", DType.floatingPoint)]) { c in
            let x = try c.withRank(0, 2), cs = try c.withRank(1, 2), h = try c.withRank(2, 2), w = try c.withRank(3, 2)
            try c.withRank(7, 1)
            for i in 4...6 { try c.withRank(i, 1) }
            var batch = try mergeDim(x?[0] ?? nil, cs?[0] ?? nil)
            batch = try mergeDim(batch, h?[0] ?? nil)
            var units = try mergeDim(cs?[1] ?? nil, h?[1] ?? nil)
            if let w, let fourH = w[1] {
                guard fourH % 4 == 0 else { throw ShapeError("w's second dimension (\(fourH)) must be 4 × the cell size") }
                units = try mergeDim(units, fourH / 4)
            }
            if let w, let rows = w[0], let inputs = x?[1] ?? nil, let u = units, rows != inputs + u {
                throw ShapeError("w has \(rows) rows but x [?, \(inputs)] and h [?, \(u)] need \(inputs + u)")
            }
            if let u = units, let b = c.shape(7).dimensions?[0] ?? nil, b != 4 * u {
                throw ShapeError("b has \(b) elements but the cell needs 4 × \(u)")
            }
            return Array(repeating: TensorShape([batch, units]), count: 7)
        },
        // LSTMBlockCell's gradient for one step: from the forward inputs and gate outputs and
        // the gradients of cs and h → cs_prev_grad [B, H], dicfo (the pre-activation gate
        // gradients, [B, 4H]) and the peephole gradients [H].
        OpDef("LSTMBlockCellGrad",
              inputs: ["x: T", "cs_prev: T", "h_prev: T", "w: T", "wci: T", "wcf: T", "wco: T", "b: T", "i: T", "cs: T", "f: T",
                       "o: T", "ci: T", "co: T", "cs_grad: T", "h_grad: T"],
              outputs: ["cs_prev_grad: T", "dicfo: T", "wci_grad: T", "wcf_grad: T", "wco_grad: T"],
              attrs: [AttrDef("use_peephole", .bool), .type("T", DType.floatingPoint)], gradient: .undefined) { c in
            let cs = c.shape(1)
            let batch = cs.dimensions?[0] ?? nil, units = cs.dimensions?[1] ?? nil
            return [cs, TensorShape([batch, units.map { 4 * $0 }]), TensorShape([units]), TensorShape([units]), TensorShape([units])]
        },
    ]

    /// The gradient of `LSTMBlockCell` (TF's `_LSTMBlockCellGrad`): `LSTMBlockCellGrad`
    /// gives the gate gradients, and the products with `w` give the rest.
    static let gradients: [String: GradientFunction] = [
        "LSTMBlockCell": { c in
            let (x, hPrev, w) = (c.inputs[0], c.inputs[2], c.inputs[3])
            let grads = try c.graph.outputs("LSTMBlockCellGrad", c.inputs + c.outputs.prefix(6) + [c.grad(1), c.grad(6)],
                                            attrs: ["use_peephole": .bool(c.node.bool("use_peephole") ?? false)],
                                            name: "LSTMBlockCellGrad", file: "", line: 0)
            let dicfo = grads[1]
            let dxh = try matmul(dicfo, w, transposeB: true)
            let inputSize = try slice(shape(x), begin: [1], size: [1]), units = try slice(shape(hPrev), begin: [1], size: [1])
            let parts = try c.graph.outputs("SplitV", [dxh, concat([inputSize, units], axis: 0), c.graph.constant(Int32(1))],
                                            attrs: ["num_split": .int(2)], name: "split", file: "", line: 0)
            let dw = try matmul(concat([x, hPrev], axis: 1), dicfo, transposeA: true)
            let db = try reduceSum(dicfo, axis: [0])
            return [parts[0], grads[0], parts[1], dw, grads[2], grads[3], grads[4], db]
        },
    ]
}
