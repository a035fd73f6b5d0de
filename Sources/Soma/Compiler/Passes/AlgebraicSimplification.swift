/// Algebraic simplification: removes work that does not change values.
///
/// Contract: each rule below replaces a node by one of its inputs (or an input by a
/// shorter path to the same value) when shapes and dtypes show the result is identical.
/// Guards: single-output nodes without control edges in or out; a fetched node keeps its
/// name by becoming an `Identity` of the replacement. An `IdentityN` without control
/// edges (an inlined function call's results) is bypassed output by output — when
/// optimising a graph to save, only if it is not fetched (its name is the result's name).
struct AlgebraicSimplification: CompilerPass {
    static let name = "arithmetic_optimizer"

    /// A rule: the value that may replace `node`'s output, if any. Rules that shorten a
    /// path instead rewrite `node` in place and return `nil`.
    typealias Rule = @Sendable (IRNode, IRGraph, PassContext) -> IRValue?

    /// The rules, tried in order (each a named function below).
    static let rules: [Rule] = [
        identity, multiplyByOne, addZero, divideByOne, doubleNegation, sameTypeCast,
        reshapeOfReshape, noOpReshape, transposeOfTranspose, identityTranspose, transposeIntoMatMul,
    ]

    func run(_ ir: IRGraph, _ context: PassContext) throws {
        let fetched = ir.fetchedNodeIDs(), controlSources = ir.controlSources()
        var replacements: [IRValue: IRValue] = [:]
        for node in ir.nodes {
            node.inputs = node.inputs.map { replacements[$0] ?? $0 }
            // IdentityN (an inlined call's results): consumers read its inputs directly.
            if node.op == "IdentityN", node.controlInputs.isEmpty, !controlSources.contains(node.id),
               context.forPlan || !fetched.contains(node.id) {
                for k in node.inputs.indices { replacements[IRValue(node, k)] = node.inputs[k] }
                continue
            }
            guard node.outputTypes.count == 1, node.controlInputs.isEmpty, !controlSources.contains(node.id),
                  !node.isStateful else { continue }
            for rule in Self.rules {
                guard let replacement = rule(node, ir, context) else { continue }
                guard replacement.dtype == node.outputTypes[0] else { continue }
                if fetched.contains(node.id) {
                    if node.op != "Identity" { node.becomeIdentity(of: replacement) }
                } else {
                    replacements[IRValue(node, 0)] = replacement
                }
                break
            }
        }
        ir.fetches = ir.fetches.map { replacements[$0] ?? $0 }
    }

    // MARK: Rules

    /// Identity(x) → x; also StopGradient(x) → x in plans (gradients are built already).
    static func identity(_ node: IRNode, _ ir: IRGraph, _ context: PassContext) -> IRValue? {
        node.op == "Identity" || (context.forPlan && node.op == "StopGradient") ? node.inputs[0] : nil
    }

    /// x·1 → x and 1·x → x, when the ones do not enlarge x by broadcasting.
    static func multiplyByOne(_ node: IRNode, _ ir: IRGraph, _ context: PassContext) -> IRValue? {
        guard node.op == "Mul" else { return nil }
        return operand(of: node, besideConstant: 1)
    }

    /// x+0, 0+x, x−0 → x.
    static func addZero(_ node: IRNode, _ ir: IRGraph, _ context: PassContext) -> IRValue? {
        switch node.op {
        case "AddV2", "Add": return operand(of: node, besideConstant: 0)
        case "Sub": return operand(of: node, besideConstant: 0, constantOnRightOnly: true)
        default: return nil
        }
    }

    /// x/1 → x.
    static func divideByOne(_ node: IRNode, _ ir: IRGraph, _ context: PassContext) -> IRValue? {
        node.op == "RealDiv" ? operand(of: node, besideConstant: 1, constantOnRightOnly: true) : nil
    }

    /// −(−x) → x.
    static func doubleNegation(_ node: IRNode, _ ir: IRGraph, _ context: PassContext) -> IRValue? {
        guard node.op == "Neg", node.inputs[0].node.op == "Neg" else { return nil }
        return node.inputs[0].node.inputs[0]
    }

    /// Cast(x) to x's own dtype → x.
    static func sameTypeCast(_ node: IRNode, _ ir: IRGraph, _ context: PassContext) -> IRValue? {
        node.op == "Cast" && node.inputs[0].dtype == node.outputTypes[0] ? node.inputs[0] : nil
    }

    /// Reshape(Reshape(x, s₁), s₂) → Reshape(x, s₂).
    static func reshapeOfReshape(_ node: IRNode, _ ir: IRGraph, _ context: PassContext) -> IRValue? {
        if node.op == "Reshape", node.inputs[0].node.op == "Reshape" { node.inputs[0] = node.inputs[0].node.inputs[0] }
        return nil
    }

    /// Reshape(x, shape of x) → x (and ExpandDims/Squeeze that change nothing).
    static func noOpReshape(_ node: IRNode, _ ir: IRGraph, _ context: PassContext) -> IRValue? {
        guard ["Reshape", "ExpandDims", "Squeeze"].contains(node.op), let from = node.inputs[0].shape.concrete,
              let to = node.outputShapes[0].concrete, from == to else { return nil }
        return node.inputs[0]
    }

    /// Transpose(Transpose(x, p), q) → Transpose(x, p∘q), or x when that is the identity.
    static func transposeOfTranspose(_ node: IRNode, _ ir: IRGraph, _ context: PassContext) -> IRValue? {
        guard node.op == "Transpose" else { return nil }
        let inner = node.inputs[0].node
        guard inner.op == "Transpose", let q = node.inputs[1].node.constantValue?.intScalars(),
              let p = inner.inputs[1].node.constantValue?.intScalars(), p.count == q.count else { return nil }
        let composed = q.map { p[$0] }
        if composed == Array(0..<composed.count) { return inner.inputs[0] }
        let perm = ir.makeNode(name: "\(node.name)/perm_folded", def: OpRegistry.lookup("Const")!, inputs: [], attrs: [:],
                               outputTypes: [], outputShapes: [])
        perm.becomeConstant(Tensor(composed.map { Int32($0) }))
        ir.insert(perm, before: node)
        node.inputs = [inner.inputs[0], IRValue(perm, 0)]
        node.attrs["Tperm"] = .type(.int32)
        return nil
    }

    /// Transpose(x, [0, 1, …]) → x.
    static func identityTranspose(_ node: IRNode, _ ir: IRGraph, _ context: PassContext) -> IRValue? {
        guard node.op == "Transpose", let perm = node.inputs[1].node.constantValue?.intScalars(),
              perm == Array(0..<perm.count) else { return nil }
        return node.inputs[0]
    }

    /// MatMul(Transpose(a, swap last two), b) → MatMul(a, b) with `transpose_a` flipped (and
    /// likewise for `b`, and for BatchMatMulV2's `adj_x`/`adj_y`): the GEMM reads the
    /// operand transposed in place (TF's `FoldTransposeIntoMatMul`). Plans only: the GEMM
    /// may then sum in another order, so saved graphs keep TF's nodes.
    static func transposeIntoMatMul(_ node: IRNode, _ ir: IRGraph, _ context: PassContext) -> IRValue? {
        let flags = ["MatMul": ("transpose_a", "transpose_b"), "BatchMatMulV2": ("adj_x", "adj_y")]
        guard context.forPlan, let (flagA, flagB) = flags[node.op] else { return nil }
        for (i, flag) in [(0, flagA), (1, flagB)] {
            let transpose = node.inputs[i].node
            guard transpose.op == "Transpose", transpose.controlInputs.isEmpty,
                  let perm = transpose.inputs[1].node.constantValue?.intScalars(), perm.count >= 2,
                  node.op == "BatchMatMulV2" || perm.count == 2 else { continue }
            let r = perm.count
            guard perm == Array(0..<(r - 2)) + [r - 1, r - 2] else { continue }
            node.inputs[i] = transpose.inputs[0]
            node.attrs[flag] = .bool(!(node.bool(flag) ?? false))
        }
        return nil
    }

    /// For a binary node with one operand a constant filled with `value` that broadcasts
    /// into the other without enlarging it, the other operand.
    static func operand(of node: IRNode, besideConstant value: Double, constantOnRightOnly: Bool = false) -> IRValue? {
        for (c, x) in constantOnRightOnly ? [(1, 0)] : [(1, 0), (0, 1)] {
            guard let constant = node.inputs[c].node.constantValue, constant.dtype == node.inputs[x].dtype,
                  constant.scalarCount > 0, constant.isFilled(with: value),
                  broadcastsWithoutEnlarging(constant.shape, into: node.inputs[x].shape),
                  node.outputShapes[0] == node.inputs[x].shape else { continue }
            return node.inputs[x]
        }
        return nil
    }

    /// Whether broadcasting `small` against `shape` leaves `shape` unchanged.
    static func broadcastsWithoutEnlarging(_ small: [Int], into shape: TensorShape) -> Bool {
        guard let dims = shape.dimensions, small.count <= dims.count else { return false }
        return zip(small.reversed(), dims.reversed()).allSatisfy { s, d in s == 1 || s == d }
    }
}

extension IRNode {
    /// Turns this node into `Identity(value)`, keeping its name.
    func becomeIdentity(of value: IRValue) {
        def = OpRegistry.lookup("Identity")!
        inputs = [value]
        attrs = ["T": .type(value.dtype)]
        outputShapes = [value.shape]
    }
}
