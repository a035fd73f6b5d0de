/// Keras' LSTM and GRU cells → `_SomaFusedLSTMCell` / `_SomaFusedGRUCell`: the step's
/// recurrent GEMM, its gates and its new state in one kernel, tile by tile in cache
/// (`FusedKernels.RecurrentTiling`).
///
/// What it is for: a Keras LSTM layer's loop body (after ``LoopInputProjectionHoisting``)
/// runs a small GEMM and then ten elementwise ops on `[B, H]` slices — eleven kernel calls,
/// each a pass over memory and, split across threads, a hand-over between cores. Measured
/// (frozen Keras LSTM, two threads, A/B medians): batch 32, 32 steps, 64 units 1.10–1.35 →
/// 0.71–0.73 ms; batch 1 and 4, 64 steps, 128 units 0.70 → 0.58 and 0.97 → 0.78–0.81.
///
/// Contract, LSTM: `h = Mul(Sigmoid(o), Tanh(c))` with `c = Add(Mul(Sigmoid(f), c_prev),
/// Mul(Sigmoid(i), Tanh(g)))` (operands of each Mul and Add in either order), where `i`,
/// `f`, `g`, `o` are the four outputs of one `Split` along the last axis of
/// `BiasAdd(Add(x, MatMul(h_prev, U)), b)` — becomes one `_SomaFusedLSTMCell(x, h_prev, U, b,
/// c_prev)` named like the `h` node, whose first output replaces `h` and second `c` (which
/// may be read anywhere: the loop's next state). GRU (`reset_after`, TF 2's default):
/// `h = Add(Mul(z, h_prev), Mul(Sub(1, z), Tanh(Add(x_h, Mul(r, m_h)))))` with
/// `z = Sigmoid(Add(x_z, m_z))`, `r = Sigmoid(Add(x_r, m_r))`, the `x` parts one `Split` in
/// three of `x` and the `m` parts, in the same order, one of `BiasAdd(MatMul(h_prev, U), b)`
/// (or a `SplitV` of three equal parts)
/// — becomes `_SomaFusedGRUCell(x, h_prev, U, b)` in place of `h`. The same operations in the
/// same order on every element, so the same values; the product's rounding is the GEMM's for
/// the tile's shape, which depends on the shapes alone, never on the thread count.
/// Guards: plans only; float32 or float64; every shape in the pattern fully known, the gates
/// `[B, 4H]` (`[B, 3H]`) and `x`, `c_prev`, `b` exactly the shapes the cell reads (no
/// broadcasting); `MatMul` transposes neither operand; every replaced node but `c` and `h`
/// is read only inside the pattern (each split output once, a GRU's `z` twice), is not
/// fetched and has no control edges in or out; `c` and `h` have no control inputs, and no
/// control edge leaves `c`; the GRU's `1` a constant one and its product's left operand the
/// `h_prev` it mixes.
struct RecurrentCellFusion: CompilerPass {
    static let name = "recurrent_cell_fusion"

    /// The pattern's nodes and the fused node's inputs.
    private struct Cell {
        let h: IRNode, c: IRNode
        /// The nodes only the pattern reads.
        let interior: [IRNode]
        let input: IRValue, hPrev: IRValue, kernel: IRValue, bias: IRValue, cPrev: IRValue
        /// The split's outputs that are the input, forget, cell and output gates.
        let order: [Int]
    }

    func run(_ ir: IRGraph, _ context: PassContext) throws {
        guard context.forPlan else { return }
        let consumers = ir.consumerCounts(), fetched = ir.fetchedNodeIDs(), controlSources = ir.controlSources()
        func isInterior(_ node: IRNode, readers: Int = 1) -> Bool {
            consumers[node.id] == readers && !fetched.contains(node.id) && !controlSources.contains(node.id)
                && node.controlInputs.isEmpty
        }
        var replaced = Set<Int>(), fused = false
        for node in ir.nodes where node.op == "Mul" && !replaced.contains(node.id) {
            guard let cell = Self.match(node, isInterior: isInterior),
                  !replaced.contains(cell.c.id), !controlSources.contains(cell.c.id),
                  cell.interior.allSatisfy({ !replaced.contains($0.id) }) else { continue }
            replaced.formUnion([cell.c.id] + cell.interior.map(\.id))
            let dtype = node.outputTypes[0], shape = node.outputShapes[0]
            node.def = OpRegistry.lookup("_SomaFusedLSTMCell")!
            node.inputs = [cell.input, cell.hPrev, cell.kernel, cell.bias, cell.cPrev]
            node.attrs = ["T": .type(dtype), "gate_order": .ints(cell.order)]
            node.outputTypes = [dtype, dtype]
            node.outputShapes = [shape, shape]
            ir.replaceUses(of: IRValue(cell.c, 0), with: IRValue(node, 1))
            fused = true
        }
        for node in ir.nodes where (node.op == "AddV2" || node.op == "Add") && !replaced.contains(node.id) {
            guard let cell = Self.matchGRU(node, isInterior: isInterior), cell.interior.allSatisfy({ !replaced.contains($0.id) })
            else { continue }
            replaced.formUnion(cell.interior.map(\.id))
            let dtype = node.outputTypes[0]
            node.def = OpRegistry.lookup("_SomaFusedGRUCell")!
            node.inputs = [cell.input, cell.hPrev, cell.kernel, cell.bias]
            node.attrs = ["T": .type(dtype), "gate_order": .ints(cell.order)]
        }
        // Readers of `c` placed before `h` now read the fused node.
        if fused { ir.restoreTopologicalOrder() }
    }

    /// The cell whose `h` is `h`, where the guards hold.
    private static func match(_ h: IRNode, isInterior: (IRNode, Int) -> Bool) -> Cell? {
        let dtype = h.outputTypes[0]
        guard dtype == .float32 || dtype == .float64, h.controlInputs.isEmpty, let hShape = h.outputShapes[0].dimensions,
              hShape.count == 2, let units = hShape[1], let batch = hShape[0] else { return nil }
        /// `op(value)` where `value` is output 0 of an interior node of `op`: the node.
        func unary(_ value: IRValue, _ op: String) -> IRNode? {
            value.index == 0 && value.node.op == op && isInterior(value.node, 1) ? value.node : nil
        }
        /// Both orders of a binary node's operands.
        func orders(_ node: IRNode) -> [(IRValue, IRValue)] { [(node.inputs[0], node.inputs[1]), (node.inputs[1], node.inputs[0])] }
        /// `Mul(Sigmoid(a), Tanh(b))`'s two activations, operands in either order.
        func sigmoidTimesTanh(_ product: IRNode) -> (sigmoid: IRNode, tanh: IRNode)? {
            for (a, b) in orders(product) {
                if let s = unary(a, "Sigmoid"), let t = unary(b, "Tanh") { return (s, t) }
            }
            return nil
        }
        // h = σ(o) · tanh(c)
        guard let (sigmoidO, tanhC) = sigmoidTimesTanh(h) else { return nil }
        let c = tanhC.inputs[0].node
        guard tanhC.inputs[0].index == 0, c.op == "AddV2" || c.op == "Add", c.controlInputs.isEmpty,
              c.outputShapes[0] == h.outputShapes[0] else { return nil }
        // c = σ(f) · c_prev + σ(i) · tanh(g): the product of two activations is the input
        // gate's, the other the forget gate's.
        for (first, second) in orders(c) {
            guard first.index == 0, second.index == 0, first.node.op == "Mul", second.node.op == "Mul", first.node !== second.node,
                  isInterior(first.node, 1), isInterior(second.node, 1) else { continue }
            guard let (sigmoidI, tanhG) = sigmoidTimesTanh(second.node) else { continue }
            for (gate, state) in orders(first.node) {
                guard let sigmoidF = unary(gate, "Sigmoid"), state.shape == h.outputShapes[0], state.dtype == dtype else { continue }
                let parts = [sigmoidI, sigmoidF, tanhG, sigmoidO].map(\.inputs[0]), order = parts.map(\.index)
                guard let split = parts.first?.node, parts.allSatisfy({ $0.node === split }), FusedOps.isGateOrder(order),
                      let gates = gatesAndProduct(split, batch: batch, units: units, dtype: dtype, isInterior: isInterior)
                else { continue }
                return Cell(h: h, c: c,
                            interior: [sigmoidO, tanhC, first.node, second.node, sigmoidI, tanhG, sigmoidF, split] + gates.interior,
                            input: gates.input, hPrev: gates.hPrev, kernel: gates.kernel, bias: gates.bias, cPrev: state, order: order)
            }
        }
        return nil
    }

    /// The pattern's nodes and the fused GRU node's inputs.
    private struct GRUCell {
        /// The nodes only the pattern reads.
        let interior: [IRNode]
        let input: IRValue, hPrev: IRValue, kernel: IRValue, bias: IRValue
        /// The splits' outputs that are the update, reset and candidate gates.
        let order: [Int]
    }

    /// The GRU cell whose new state is `h`, where the guards hold: `h = Add(Mul(z, h_prev),
    /// Mul(Sub(1, z), Tanh(Add(x_h, Mul(r, m_h)))))`, `z = Sigmoid(Add(x_z, m_z))`,
    /// `r = Sigmoid(Add(x_r, m_r))`, the `x` parts one `Split` in three of `x`, the `m` parts one
    /// of `BiasAdd(MatMul(h_prev, U), b)`, in the same order (operands of each Mul and Add
    /// in either order).
    private static func matchGRU(_ h: IRNode, isInterior: (IRNode, Int) -> Bool) -> GRUCell? {
        let dtype = h.outputTypes[0]
        guard dtype == .float32 || dtype == .float64, h.controlInputs.isEmpty, let hShape = h.outputShapes[0].dimensions,
              hShape.count == 2, let units = hShape[1], let batch = hShape[0] else { return nil }
        func orders(_ node: IRNode) -> [(IRValue, IRValue)] { [(node.inputs[0], node.inputs[1]), (node.inputs[1], node.inputs[0])] }
        /// Output 0 of an interior node of `op` (one reader, or `readers`).
        func interior(_ value: IRValue, _ ops: Set<String>, readers: Int = 1) -> IRNode? {
            value.index == 0 && ops.contains(value.node.op) && isInterior(value.node, readers) ? value.node : nil
        }
        let adds: Set<String> = ["AddV2", "Add"]
        /// `σ(Add(x_q, m_q))`'s addition's operands: a part of one split and a part of another.
        func gate(_ sigmoid: IRNode) -> (add: IRNode, x: IRValue, m: IRValue)? {
            guard let add = interior(sigmoid.inputs[0], adds) else { return nil }
            return (add, add.inputs[0], add.inputs[1])
        }
        for (mix, rest) in orders(h) {
            // mix = z · h_prev; rest = (1 − z) · tanh(x_h + r · m_h)
            guard let mixNode = interior(mix, ["Mul"]), let restNode = interior(rest, ["Mul"]) else { continue }
            for (zValue, hPrev) in orders(mixNode) {
                guard let z = interior(zValue, ["Sigmoid"], readers: 2), hPrev.shape == h.outputShapes[0], hPrev.dtype == dtype
                else { continue }
                for (oneMinusZ, candidateValue) in orders(restNode) {
                    guard let sub = interior(oneMinusZ, ["Sub"]), sub.inputs[1] == IRValue(z, 0),
                          let one = KnownValues.constant(sub.inputs[0]), one.scalarCount == 1, one.dtype == dtype,
                          one.dtype == .float32 ? one.scalars(as: Float.self) == [1] : one.scalars(as: Double.self) == [1],
                          let tanh = interior(candidateValue, ["Tanh"]), let inner = interior(tanh.inputs[0], adds) else { continue }
                    for (xh, product) in orders(inner) {
                        guard let resetProduct = interior(product, ["Mul"]) else { continue }
                        for (rValue, mh) in orders(resetProduct) {
                            guard let r = interior(rValue, ["Sigmoid"]), let zGate = gate(z), let rGate = gate(r) else { continue }
                            // Each gate's addition: the x part first or the m part first.
                            for zParts in [(zGate.x, zGate.m), (zGate.m, zGate.x)] {
                                for rParts in [(rGate.x, rGate.m), (rGate.m, rGate.x)] {
                                    let xs = [zParts.0, rParts.0, xh], ms = [zParts.1, rParts.1, mh]
                                    guard let xSplit = xs.first?.node, xs.allSatisfy({ $0.node === xSplit }),
                                          let mSplit = ms.first?.node, ms.allSatisfy({ $0.node === mSplit }), xSplit !== mSplit,
                                          xs.map(\.index) == ms.map(\.index), FusedOps.isGateOrder(xs.map(\.index), parts: 3),
                                          let x = split(xSplit, parts: 3, batch: batch, units: units, isInterior: isInterior),
                                          let m = split(mSplit, parts: 3, batch: batch, units: units, isInterior: isInterior),
                                          x.dtype == dtype,
                                          let recurrent = biasedProduct(m, parts: 3, units: units, dtype: dtype, isInterior: isInterior),
                                          recurrent.hPrev == hPrev else { continue }
                                    let interiorNodes = [mixNode, restNode, z, sub, tanh, inner, resetProduct, r, zGate.add, rGate.add,
                                                         xSplit, mSplit] + recurrent.interior
                                    return GRUCell(interior: interiorNodes, input: x, hPrev: hPrev,
                                                   kernel: recurrent.kernel, bias: recurrent.bias, order: xs.map(\.index))
                                }
                            }
                        }
                    }
                }
            }
        }
        return nil
    }

    /// What a `Split` — or a `SplitV` of equal sizes (Keras' GRU writes `[H, H, −1]`) — in
    /// `parts` along the last axis of `[batch, parts·units]`, interior with one reader per
    /// part, splits.
    private static func split(_ node: IRNode, parts: Int, batch: Int, units: Int, isInterior: (IRNode, Int) -> Bool) -> IRValue? {
        let (width, overflow) = units.multipliedReportingOverflow(by: parts)
        guard !overflow, node.int("num_split") == parts, isInterior(node, parts) else { return nil }
        let value: IRValue, axis: IRValue
        switch node.op {
        case "Split": (value, axis) = (node.inputs[1], node.inputs[0])
        case "SplitV":
            guard let sizes = KnownValues.constant(node.inputs[1])?.intScalars(), sizes.count == parts,
                  sizes.allSatisfy({ $0 == units || $0 == -1 }), sizes.filter({ $0 == -1 }).count <= 1 else { return nil }
            (value, axis) = (node.inputs[0], node.inputs[2])
        default: return nil
        }
        guard let dimension = KnownValues.constant(axis)?.intScalars(), dimension == [1] || dimension == [-1],
              value.shape == TensorShape([batch, width]) else { return nil }
        return value
    }

    /// `BiasAdd(MatMul(h_prev, U), b)` (interior, `U` not transposed): its nodes and operands.
    private static func biasedProduct(_ value: IRValue, parts: Int, units: Int, dtype: DType, isInterior: (IRNode, Int) -> Bool)
        -> (interior: [IRNode], hPrev: IRValue, kernel: IRValue, bias: IRValue)? {
        let biasAdd = value.node, product = biasAdd.inputs[0].node
        guard value.index == 0, biasAdd.op == "BiasAdd", isInterior(biasAdd, 1), biasAdd.string("data_format") ?? "NHWC" == "NHWC",
              biasAdd.inputs[1].shape == TensorShape([parts * units]), biasAdd.inputs[1].dtype == dtype,
              biasAdd.inputs[0].index == 0, product.op == "MatMul", isInterior(product, 1), product.bool("transpose_a") != true,
              product.bool("transpose_b") != true, product.inputs[1].shape == TensorShape([units, parts * units]) else { return nil }
        return ([biasAdd, product], product.inputs[0], product.inputs[1], biasAdd.inputs[1])
    }

    /// `Split(axis, BiasAdd(Add(x, MatMul(h_prev, U)), b))` in four along the last axis of
    /// `[batch, 4·units]`: the nodes up to the product and the fused node's inputs.
    private static func gatesAndProduct(_ split: IRNode, batch: Int, units: Int, dtype: DType, isInterior: (IRNode, Int) -> Bool)
        -> (interior: [IRNode], input: IRValue, hPrev: IRValue, kernel: IRValue, bias: IRValue)? {
        let (width, overflow) = units.multipliedReportingOverflow(by: 4), gatesShape = TensorShape([batch, width])
        guard !overflow, split.op == "Split", split.int("num_split") == 4, isInterior(split, 4),
              let axis = KnownValues.constant(split.inputs[0])?.intScalars(), axis == [1] || axis == [-1] else { return nil }
        let biasAdd = split.inputs[1].node
        guard split.inputs[1].index == 0, biasAdd.op == "BiasAdd", isInterior(biasAdd, 1), biasAdd.outputShapes[0] == gatesShape,
              biasAdd.string("data_format") ?? "NHWC" == "NHWC", biasAdd.inputs[1].shape == TensorShape([width]),
              biasAdd.inputs[1].dtype == dtype, biasAdd.inputs[0].index == 0 else { return nil }
        let add = biasAdd.inputs[0].node
        guard add.op == "AddV2" || add.op == "Add", isInterior(add, 1), add.outputShapes[0] == gatesShape else { return nil }
        for (x, p) in [(add.inputs[0], add.inputs[1]), (add.inputs[1], add.inputs[0])] {
            let product = p.node
            guard p.index == 0, product.op == "MatMul", isInterior(product, 1), product.bool("transpose_a") != true,
                  product.bool("transpose_b") != true, product.outputShapes[0] == gatesShape, x.shape == gatesShape, x.dtype == dtype,
                  product.inputs[0].shape.dimensions?.allSatisfy({ $0 != nil }) == true else { continue }
            return ([biasAdd, add, product], x, product.inputs[0], product.inputs[1], biasAdd.inputs[1])
        }
        return nil
    }
}
