/// A sum of float32 matrix products with the same shapes — an unrolled recurrent layer's
/// weight gradient, `AddN` over the steps of `x_tᵀ·dgates_t` — becomes one
/// `_SomaFusedMatMulSum` that accumulates the products in registers (plans only: the sum
/// rounds differently; TF has no such op).
///
/// Contract: `AddN(p₁, …, p_N)` or a tree of `AddV2`/`Add` nodes over them, each read only
/// by the next (Soma's gradients add a weight's parts one by one), `N ≥ 2`, each `pᵢ` a
/// `MatMul(aᵢ, bᵢ)` — directly or through `Identity` nodes (TF's
/// `gradients/…/tuple/control_dependency`) that only the sum reads — with float32 operands,
/// `transpose_b` false, one `transpose_a` for all, and the same fully-defined operand
/// shapes, becomes `_SomaFusedMatMulSum(a₁…a_N, b₁…b_N)` named like the
/// AddN (the last addition). Each product and identity is read only by the sum and not
/// fetched, and no node waits on an identity. The identities' control inputs move to the sum
/// (but those on fused products: the sum reads their operands), and any other node waiting
/// on a product — TF's `tuple/group_deps`, or the tuple's other identity once the dependency
/// optimizer bypassed the group — waits on its operands' producers instead: the product is
/// pure, so waiting for its inputs orders the same effects. No product stays stored: an
/// unrolled LSTM's 32 weight-gradient products of `[192, 512]` (12 MiB written, then read by
/// the AddN) become one pass in cache.
struct MatMulSumFusion: CompilerPass {
    static let name = "fuse_matmul_sums"

    func run(_ ir: IRGraph, _ context: PassContext) throws {
        guard context.forPlan else { return }
        let consumers = ir.consumerCounts(), fetched = ir.fetchedNodeIDs()
        // Who waits on each node by a control edge.
        var waiters: [Int: [IRNode]] = [:]
        for node in ir.nodes { for source in node.controlInputs { waiters[source.id, default: []].append(node) } }
        /// Read once by data and not fetched.
        func isReadOnce(_ node: IRNode) -> Bool { consumers[node.id] == 1 && !fetched.contains(node.id) }
        let additions: Set<String> = ["AddV2", "Add"]
        /// An addition read only by the next, with no control edges, of its output's shape.
        func isInteriorAddition(_ value: IRValue) -> Bool {
            let node = value.node
            return additions.contains(node.op) && isReadOnce(node) && node.controlInputs.isEmpty && (waiters[node.id] ?? []).isEmpty
                && node.outputTypes[0] == .float32 && node.inputs.allSatisfy { $0.shape == node.outputShapes[0] }
        }
        /// What `sum` adds: an AddN's inputs, or the leaves of a tree of additions (Soma's
        /// gradients sum a weight's parts as `((p₁ + p₂) + p₃) + …`), left to right. No
        /// recursion: a file sets the depth.
        func terms(of sum: IRNode) -> [IRValue] {
            guard sum.op != "AddN" else { return sum.inputs }
            var leaves: [IRValue] = [], pending = Array(sum.inputs.reversed())
            while let value = pending.popLast() {
                if isInteriorAddition(value) { pending += value.node.inputs.reversed() } else { leaves.append(value) }
            }
            return leaves
        }
        var absorbed = Set<Int>()  // additions inside a tree already rewritten
        for sum in ir.nodes.reversed() where (sum.op == "AddN" || additions.contains(sum.op)) && !absorbed.contains(sum.id)
            && sum.outputTypes.first == .float32 && sum.outputShapes.first?.rank == 2 {
            let terms = terms(of: sum)
            guard terms.count >= 2 else { continue }
            var products: [IRNode] = [], identities: [IRNode] = []
            for input in terms {
                var value = input
                while value.node.op == "Identity", isReadOnce(value.node), (waiters[value.node.id] ?? []).isEmpty {
                    identities.append(value.node)
                    value = value.node.inputs[0]
                }
                let product = value.node
                guard product.op == "MatMul", value.index == 0, isReadOnce(product), product.controlInputs.isEmpty,
                      product.bool("transpose_b") != true, product.outputTypes[0] == .float32 else { break }
                products.append(product)
            }
            let fused = Set(products.map(\.id)), chain = Set(identities.map(\.id))
            guard products.count == terms.count, fused.count == products.count,
                  let first = products.first, let aShape = first.inputs[0].shape.concrete, let bShape = first.inputs[1].shape.concrete
            else { continue }
            let transposeA = first.bool("transpose_a") ?? false
            guard products.allSatisfy({
                ($0.bool("transpose_a") ?? false) == transposeA && $0.inputs[0].shape.concrete == aShape && $0.inputs[1].shape.concrete == bShape
            }) else { continue }
            // A node waiting on a product (TF's group_deps, or once the dependency optimizer
            // bypassed it, the tuple's identities) waits on its operands' producers instead.
            for product in products {
                for waiter in waiters[product.id] ?? [] where !chain.contains(waiter.id) {
                    waiter.controlInputs.removeAll { $0 === product }
                    for operand in product.inputs where !waiter.controlInputs.contains(where: { $0 === operand.node }) {
                        waiter.controlInputs.append(operand.node)
                    }
                }
            }
            // The identities' other waits move to the sum; on a fused product the sum waits
            // already, reading its operands.
            for identity in identities {
                for control in identity.controlInputs where !fused.contains(control.id) && !sum.controlInputs.contains(where: { $0 === control }) {
                    sum.controlInputs.append(control)
                }
            }
            var pending = sum.op == "AddN" ? [] : sum.inputs
            while let value = pending.popLast() {
                guard isInteriorAddition(value) else { continue }
                absorbed.insert(value.node.id)
                pending += value.node.inputs
            }
            sum.def = OpRegistry.lookup("_SomaFusedMatMulSum")!
            sum.inputs = products.map { $0.inputs[0] } + products.map { $0.inputs[1] }
            sum.attrs = ["N": .int(products.count), "T": .type(.float32), "transpose_a": .bool(transposeA)]
        }
    }
}
