/// Fused ops the compiler creates: one kernel doing the work of several nodes.
///
/// `_FusedMatMul` is TensorFlow's own (Grappler's remapper makes it), so graphs optimised
/// by Soma still run in TF. `_SomaFusedElementwise` exists only inside plans.
enum FusedOps {
    /// Activations `_FusedMatMul` may apply after its bias, in plans; graphs saved for TF
    /// use only `tensorFlowActivations`.
    static let activations = ["Relu", "Relu6", "Elu", "Tanh", "Sigmoid"]
    static let tensorFlowActivations = ["Relu", "Relu6", "Elu"]
    /// A fused convolution's `x·sigmoid(x)` (Keras' swish, EfficientNet's activation), from
    /// `Mul(x, Sigmoid(x))`: plans only, no TF op of this name.
    static let swish = "Swish"

    /// Ops `_SomaFusedElementwise` can run, all on float32/float64.
    static let elementwiseUnary: [String: MathKernels.UnaryOp] = [
        "Neg": .neg, "Abs": .abs, "Sign": .sign, "Exp": .exp, "Log": .log, "Log1p": .log1p, "Sqrt": .sqrt,
        "Rsqrt": .rsqrt, "Square": .square, "Reciprocal": .reciprocal, "Erf": .erf, "Erfc": .erfc,
        "Floor": .floor, "Ceil": .ceil, "Round": .round,
    ]
    static let elementwiseActivations: [String: NNKernels.Activation] = [
        "Relu": .relu, "Relu6": .relu6, "LeakyRelu": .leakyRelu, "Elu": .elu, "Selu": .selu, "Softplus": .softplus,
        "Softsign": .softsign, "Sigmoid": .sigmoid, "Tanh": .tanh,
    ]
    static let elementwiseBinary: [String: MathKernels.BinaryOp] = [
        "AddV2": .add, "Add": .add, "Sub": .sub, "Mul": .mul, "RealDiv": .div, "Maximum": .maximum,
        "Minimum": .minimum, "Pow": .pow, "SquaredDifference": .squaredDifference,
    ]

    static let definitions: [OpDef] = [
        // [M, K] × [K, N] → [M, N], then + bias [N], then an optional activation.
        OpDef("_FusedMatMul", inputs: ["a: T", "b: T", "args: num_args * T"], outputs: ["product: T"],
              attrs: [.bool("transpose_a", default: false), .bool("transpose_b", default: false),
                      .type("T", DType.floatingPoint), .int("num_args", minimum: 0), .strings("fused_ops", default: []),
                      .float("epsilon", default: 0.0001), .float("leakyrelu_alpha", default: 0.2)],
              gradient: .undefined) { c in
            var fused: [String] = []
            if case .strings(let s)? = c.attrs["fused_ops"] { fused = s }
            guard fused.first == "BiasAdd", c.int("num_args") == 1, fused.count <= 2,
                  fused.count == 1 || activations.contains(fused[1]) else {
                throw ShapeError("_FusedMatMul supports fused_ops [BiasAdd] or [BiasAdd, activation] with one argument, not \(fused)")
            }
            let product = try LinalgOps.matmulShape(c)
            try c.withRank(2, 1)
            _ = try mergeDim(product[1], c.shape(2)[0] ?? nil)
            return [TensorShape(product)]
        },
        // Conv2D + per-channel bias and/or activation in one pass, plans only: each image's
        // output rows get their bias and activation while still in cache. `args` is the
        // bias, or empty when `fused_ops` is an activation alone (a batch norm folded into
        // the filter with a zero shift leaves no bias).
        OpDef("_SomaFusedConv2D", inputs: ["input: T", "filter: T", "args: num_args * T"], outputs: ["output: T"],
              attrs: ConvOps.convAttrs + [.int("num_args", minimum: 0), .strings("fused_ops", default: [])], gradient: .undefined) { c in
            try fusedConvolutionShape(c, convolution: "Conv2D")
        },
        // The same for a depthwise convolution (MobileNet's and EfficientNet's blocks once
        // their batch norms are folded): each output row gets its bias and activation in cache.
        OpDef("_SomaFusedDepthwiseConv2dNative", inputs: ["input: T", "filter: T", "args: num_args * T"], outputs: ["output: T"],
              attrs: ConvOps.depthwiseAttrs + [.int("num_args", minimum: 0), .strings("fused_ops", default: [])],
              gradient: .undefined) { c in
            try fusedConvolutionShape(c, convolution: "DepthwiseConv2dNative")
        },
        // MaxPoolGrad whose result only ReluGrad reads, with the pooling's input as the ReLU's
        // output (a conv → ReLU → max-pool layer's backward pass), plans only: the gradient
        // goes to each window's winner where the winner is positive, zero elsewhere.
        OpDef("_SomaFusedMaxPoolGrad", inputs: ["orig_input: T", "orig_output: T", "grad: T"], outputs: ["output: T"],
              attrs: ConvOps.poolAttrs + [.strings("fused_ops", default: [])], gradient: .undefined) { c in
            guard case .strings(["ReluGrad"])? = c.attrs["fused_ops"] else {
                throw ShapeError("_SomaFusedMaxPoolGrad supports fused_ops [ReluGrad], not \(c.attrs["fused_ops"].map { "\($0)" } ?? "none")")
            }
            try c.withRank(0, 4)
            return [c.shape(0)]
        },
        // BatchMatMulV2 whose product only a Transpose keeping the last dimension last reads
        // (attention's heads merged back: [B, T, D] → [T, B, D], [B, H, T, D] → [B, T, H, D]),
        // plans only: each batch's product is written straight into its strided place.
        OpDef("_SomaFusedBatchMatMul", inputs: ["x: T", "y: T"], outputs: ["output: T"],
              attrs: [.type("T", DType.floatingPoint), .bool("adj_x", default: false), .bool("adj_y", default: false),
                      .ints("perm"), .strings("fused_ops", default: [])], gradient: .undefined) { c in
            guard case .strings(["Transpose"])? = c.attrs["fused_ops"] else {
                throw ShapeError("_SomaFusedBatchMatMul supports fused_ops [Transpose], not \(c.attrs["fused_ops"].map { "\($0)" } ?? "none")")
            }
            let product = try LinalgOps.definitions.first { $0.name == "BatchMatMulV2" }!.shapeFunction(c)[0]
            guard let rank = product.rank else { return [.unknown] }
            let perm = c.ints("perm")
            guard LinalgKernels.TransposedProduct.ordersKeepingLast(perm, rank: rank) else {
                throw ShapeError("_SomaFusedBatchMatMul's perm must order the product's \(rank) dimensions and keep the last last, not \(perm)")
            }
            return [TensorShape(perm.map { product.dimensions![$0] })]
        },
        // AddN of float32 products with the same shapes (an unrolled recurrent layer's weight
        // gradient, Σ_t x_tᵀ·dgates_t), plans only (``MatMulSumFusion``): Σᵢ op(aᵢ)·bᵢ, op
        // transposing where `transpose_a`, accumulated in registers with no product stored.
        OpDef("_SomaFusedMatMulSum", inputs: ["a: N * T", "b: N * T"], outputs: ["product: T"],
              attrs: [.int("N", minimum: 1), .type("T", [.float32]), .bool("transpose_a", default: false)], gradient: .undefined) { c in
            let pairs = c.inputCount / 2, ta = c.bool("transpose_a")
            var m: Int? = nil, n: Int? = nil, k: Int? = nil
            for i in 0..<pairs {
                let a = try c.withRank(i, 2), b = try c.withRank(pairs + i, 2)
                m = try mergeDim(m, a.map { ta ? $0[1] : $0[0] } ?? nil)
                k = try mergeDim(mergeDim(k, a.map { ta ? $0[0] : $0[1] } ?? nil), b?[0] ?? nil)
                n = try mergeDim(n, b?[1] ?? nil)
            }
            return [TensorShape([m, n])]
        },
        // Keras' LSTM cell after its gates' GEMM, plans only (``RecurrentCellFusion``): the gates
        // `(input + h_prev · recurrent_kernel) + bias` ([B, 4H], four parts of H along the last
        // axis; `gate_order` names the parts that are the input, forget, cell and output
        // gates), then `c = σ(f)·c_prev + σ(i)·tanh(g)` and `h = σ(o)·tanh(c)`, each [B, H].
        OpDef("_SomaFusedLSTMCell", inputs: ["input: T", "h_prev: T", "recurrent_kernel: T", "bias: T", "c_prev: T"],
              outputs: ["h: T", "c: T"], attrs: [.type("T", DType.floatingPoint), .ints("gate_order")],
              gradient: .undefined) { c in
            guard isGateOrder(c.ints("gate_order")) else {
                throw ShapeError("_SomaFusedLSTMCell's gate_order must order the gates' four parts, not \(c.ints("gate_order"))")
            }
            let input = try c.withRank(0, 2), hPrev = try c.withRank(1, 2), kernel = try c.withRank(2, 2)
            let bias = try c.withRank(3, 1), cPrev = try c.withRank(4, 2)
            let batch = try mergeDim(mergeDim(input?[0] ?? nil, hPrev?[0] ?? nil), cPrev?[0] ?? nil)
            _ = try mergeDim(hPrev?[1] ?? nil, kernel?[0] ?? nil)
            var gates = try mergeDim(mergeDim(input?[1] ?? nil, kernel?[1] ?? nil), bias?[0] ?? nil)
            if let units = cPrev?[1] ?? nil {
                let (four, overflow) = units.multipliedReportingOverflow(by: 4)
                guard !overflow else { throw ShapeError("c_prev's cell size (\(units)) is too large") }
                gates = try mergeDim(gates, four)
            }
            if let gates, gates % 4 != 0 { throw ShapeError("the gates' width (\(gates)) must be 4 × the cell size") }
            let units = try mergeDim(cPrev?[1] ?? nil, gates.map { $0 / 4 })
            return [TensorShape([batch, units]), TensorShape([batch, units])]
        },
        // Keras' GRU cell (`reset_after`, TF 2's default) after its recurrent GEMM, plans only
        // (``RecurrentCellFusion``): `m = h_prev · recurrent_kernel + bias` ([B, 3H], three parts of H;
        // `gate_order` names the parts that are the update, reset and candidate gates, in
        // `input` and `m` alike), `z = σ(x_z + m_z)`, `r = σ(x_r + m_r)`,
        // `h = z·h_prev + (1 − z)·tanh(x_h + r·m_h)` [B, H].
        OpDef("_SomaFusedGRUCell", inputs: ["input: T", "h_prev: T", "recurrent_kernel: T", "bias: T"], outputs: ["h: T"],
              attrs: [.type("T", DType.floatingPoint), .ints("gate_order")], gradient: .undefined) { c in
            guard isGateOrder(c.ints("gate_order"), parts: 3) else {
                throw ShapeError("_SomaFusedGRUCell's gate_order must order the gates' three parts, not \(c.ints("gate_order"))")
            }
            let input = try c.withRank(0, 2), hPrev = try c.withRank(1, 2), kernel = try c.withRank(2, 2), bias = try c.withRank(3, 1)
            let batch = try mergeDim(input?[0] ?? nil, hPrev?[0] ?? nil)
            var units = try mergeDim(hPrev?[1] ?? nil, kernel?[0] ?? nil)
            let gates = try mergeDim(mergeDim(input?[1] ?? nil, kernel?[1] ?? nil), bias?[0] ?? nil)
            if let gates {
                guard gates % 3 == 0 else { throw ShapeError("the gates' width (\(gates)) must be 3 × the cell size") }
                units = try mergeDim(units, gates / 3)
            }
            return [TensorShape([batch, units])]
        },
        // A chain of elementwise ops evaluated in one pass; see `ElementwiseProgram`.
        OpDef("_SomaFusedElementwise", inputs: ["inputs: N * T"], outputs: ["z: T"],
              attrs: [.int("N", minimum: 1), .type("T", DType.floatingPoint), .strings("ops"), .ints("operands"),
                      .floats("alphas")],
              traits: .elementwise, gradient: .undefined) { c in
            _ = try ElementwiseProgram(attrs: c.attrs, inputCount: c.inputCount)
            return try Shapes.broadcast(c)
        },
    ]

    /// Whether `order` names each of a cell's gate parts (an LSTM's four, a GRU's three) once.
    static func isGateOrder(_ order: [Int], parts: Int = 4) -> Bool {
        order.count == parts && order.reduce(0) { mask, q in (0..<parts).contains(q) ? mask | 1 << q : 1 << parts } == (1 << parts) - 1
    }

    /// A fused convolution's output shape: the convolution's, its channels merged with the
    /// bias's length; `fused_ops` must be `[BiasAdd]` or `[BiasAdd, activation]` with one
    /// argument (the bias), or `[activation]` with none.
    static func fusedConvolutionShape(_ c: ShapeContext, convolution: String) throws -> [TensorShape] {
        var fused: [String] = []
        if case .strings(let s)? = c.attrs["fused_ops"] { fused = s }
        let biased = fused.first == "BiasAdd"
        guard c.int("num_args") == (biased ? 1 : 0), (biased ? fused.count <= 2 : fused.count == 1),
              fused.count == 1 && biased || (activations + [swish]).contains(fused[fused.count - 1]) else {
            throw ShapeError("a fused \(convolution) supports fused_ops [BiasAdd] or [BiasAdd, activation] with one argument, "
                             + "or [activation] with none, not \(fused)")
        }
        var shape = try ConvOps.definitions.first { $0.name == convolution }!.shapeFunction(c)[0]
        guard biased else { return [shape] }
        try c.withRank(2, 1)
        if var dims = shape.dimensions {
            dims[3] = try mergeDim(dims[3], c.shape(2)[0] ?? nil)
            shape = TensorShape(dims)
        }
        return [shape]
    }
}

/// The program of a `_SomaFusedElementwise` node: instructions over the node's inputs
/// (`0..<N`) and earlier results (`N + j`); the last instruction's result is the output.
struct ElementwiseProgram {
    enum Instruction {
        case unary(MathKernels.UnaryOp, Int)
        case activation(NNKernels.Activation, Int, alpha: Float)
        case binary(MathKernels.BinaryOp, Int, Int)
        /// `x·sigmoid(β·x)` (swish, SiLU) in one pass, in place of `Mul(β, x)` (none without
        /// `beta`), `Sigmoid` and `Mul(x, ·)`, which become ``skip``.
        case swish(Int, beta: Int?)
        /// Work a later ``swish`` does.
        case skip
    }

    let instructions: [Instruction]
    /// The scratch block each instruction writes (the last writes the output instead):
    /// blocks are reused once a result is dead, so a chain of any length needs one or two.
    let scratchBlock: [Int]
    /// Scratch blocks needed.
    let scratchBlocks: Int
    /// A block no result uses, where a ``Instruction/swish(_:beta:)`` that cannot take its
    /// one-pass loop computes its sigmoid (its output block may be its input's).
    let spareBlock: Int

    /// The work per element in simple operations (``MathKernels/UnaryOp/cost``), which sizes
    /// the parallel blocks: summed once here, not on every run (4 % of a 1,000-op chain's
    /// profile samples; its median, 15.7 µs, did not move).
    let cost: Int

    init(attrs: [String: AttrValue], inputCount n: Int) throws {
        guard case .strings(let ops)? = attrs["ops"], case .ints(let operands)? = attrs["operands"],
              case .floats(let alphas)? = attrs["alphas"], !ops.isEmpty, operands.count == 2 * ops.count,
              alphas.count == ops.count else {
            throw ShapeError("_SomaFusedElementwise needs ops, operands (two per op) and alphas (one per op)")
        }
        var instructions: [Instruction] = []
        for (k, op) in ops.enumerated() {
            let a = operands[2 * k], b = operands[2 * k + 1]
            guard a >= 0 && a < n + k, b >= -1 && b < n + k else { throw ShapeError("bad operand of instruction \(k)") }
            if let u = FusedOps.elementwiseUnary[op], b == -1 {
                instructions.append(.unary(u, a))
            } else if let act = FusedOps.elementwiseActivations[op], b == -1 {
                instructions.append(.activation(act, a, alpha: alphas[k]))
            } else if let bin = FusedOps.elementwiseBinary[op], b >= 0 {
                instructions.append(.binary(bin, a, b))
            } else {
                throw ShapeError("_SomaFusedElementwise cannot run op '\(op)' with these operands")
            }
        }
        self.instructions = Self.fusingSwish(instructions, inputCount: n)
        // Liveness: a result's block is free after the last instruction reading it.
        var lastUse = Array(repeating: -1, count: instructions.count)
        for k in ops.indices {
            for ref in [operands[2 * k], operands[2 * k + 1]] where ref >= n { lastUse[ref - n] = k }
        }
        var free: [Int] = [], blockOf = Array(repeating: -1, count: instructions.count), blocks = 0
        for k in ops.indices {
            // Operands dying here may be overwritten by this instruction's own result
            // (elementwise loops read element i before writing it).
            for ref in Set([operands[2 * k], operands[2 * k + 1]]) where ref >= n && lastUse[ref - n] == k {
                free.append(blockOf[ref - n])
            }
            guard k < ops.count - 1 else { break }
            if let reused = free.popLast() { blockOf[k] = reused } else { blockOf[k] = blocks; blocks += 1 }
        }
        scratchBlock = blockOf
        cost = self.instructions.reduce(0) { total, instruction in
            switch instruction {
            case .unary(let op, _): total + op.cost
            case .activation(let op, _, _): total + op.cost
            case .binary: total + 1
            case .swish: total + 10
            case .skip: total
            }
        }
        let swish = self.instructions.contains { if case .swish = $0 { true } else { false } }
        (spareBlock, scratchBlocks) = (blocks, swish ? blocks + 1 : blocks)
    }

    /// `Mul(x, Sigmoid(Mul(β, x)))` — operands in either order, `β` an input, the inner
    /// results read only there, or `Mul(x, Sigmoid(x))` — as one ``Instruction/swish(_:beta:)``
    /// (EfficientNet's activation: three passes over a block become one).
    static func fusingSwish(_ program: [Instruction], inputCount n: Int) -> [Instruction] {
        var instructions = program, readers = Array(repeating: 0, count: program.count)
        func operands(_ instruction: Instruction) -> [Int] {
            switch instruction {
            case .unary(_, let a), .activation(_, let a, _): [a]
            case .binary(_, let a, let b): a == b ? [a] : [a, b]
            case .swish(let a, let beta): [a] + (beta.map { [$0] } ?? [])
            case .skip: []
            }
        }
        for instruction in program { for ref in operands(instruction) where ref >= n { readers[ref - n] += 1 } }
        for (k, instruction) in program.enumerated() {
            guard case .binary(.mul, let a, let b) = instruction else { continue }
            for (product, x) in [(a, b), (b, a)] where product >= n && readers[product - n] == 1 {
                guard case .activation(.sigmoid, let t, _) = instructions[product - n] else { continue }
                if t == x {
                    (instructions[k], instructions[product - n]) = (.swish(x, beta: nil), .skip)
                    break
                }
                guard t >= n, readers[t - n] == 1, case .binary(.mul, let p, let q) = instructions[t - n], p == x || q == x else { continue }
                let beta = p == x ? q : p
                guard beta < n, beta != x else { continue }
                (instructions[k], instructions[product - n], instructions[t - n]) = (.swish(x, beta: beta), .skip, .skip)
                break
            }
        }
        return instructions
    }
}
