/// A matrix several float32 products read transposed is transposed once, so each product
/// takes the untransposed GEMM path — one LIBXSMM kernel instead of OpenBLAS packing the
/// operand on every call (plans only; TF lacks it — it is the reverse of
/// `FoldTransposeIntoMatMul` for shared operands).
///
/// Contract: where two or more `MatMul`/`_FusedMatMul` nodes read the same float32 value
/// `b` (`[n, k]`, fully defined, small enough for ``SmallGEMM``) as their right operand with
/// `transpose_b`, one `Transpose(b, [1, 0])` is added after `b`'s producer and those products
/// read it with `transpose_b` false. Values are the same products, summed by another kernel
/// (hence plans only). An unrolled LSTM's input gradients — 32 products with the same
/// weights, `dgates · Wᵀ` — are the case it is for.
struct SharedTransposeMaterialization: CompilerPass {
    static let name = "shared_transpose"

    func run(_ ir: IRGraph, _ context: PassContext) throws {
        guard context.forPlan else { return }
        var readers: [IRValue: [IRNode]] = [:]
        var order: [IRValue] = []
        for node in ir.nodes where (node.op == "MatMul" || node.op == "_FusedMatMul") && node.bool("transpose_b") == true {
            let b = node.inputs[1]
            guard b.dtype == .float32, let dims = b.shape.dimensions, dims.count == 2, let n = dims[0], let k = dims[1],
                  n > 0, k > 0, n * k * MemoryLayout<Float>.stride <= SmallGEMM.maximumBBytes else { continue }
            if readers[b] == nil { order.append(b) }
            readers[b, default: []].append(node)
        }
        for b in order {
            guard let products = readers[b], products.count >= 2, let first = products.first,
                  let dims = b.shape.dimensions, let n = dims[0], let k = dims[1] else { continue }
            let name = "\(b.node.name)\(b.index == 0 ? "" : "_\(b.index)")/transposed_for_gemm"
            let perm = ir.makeNode(name: "\(name)/perm", def: OpRegistry.lookup("Const")!, inputs: [],
                                   attrs: [:], outputTypes: [], outputShapes: [])
            perm.becomeConstant(Tensor([Int32(1), Int32(0)]))
            let transpose = ir.makeNode(name: name, def: OpRegistry.lookup("Transpose")!,
                                        inputs: [b, IRValue(perm, 0)], attrs: ["T": .type(.float32), "Tperm": .type(.int32)],
                                        outputTypes: [.float32], outputShapes: [TensorShape([k, n])])
            // Before the first reader, which follows b's producer in the plan's order.
            ir.insert(perm, before: first)
            ir.insert(transpose, before: first)
            for product in products {
                product.inputs[1] = IRValue(transpose, 0)
                product.attrs["transpose_b"] = .bool(false)
            }
        }
    }
}
