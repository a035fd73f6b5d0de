/// Matrix products through BLAS.
enum LinalgOps {
    static let matmulTypes: [DType] = [.float32, .float64, .int32, .int64]

    /// `[m, n]` of `op(a) × op(b)` for inputs 0 and 1 with `transpose_a`/`transpose_b`.
    static func matmulShape(_ c: ShapeContext) throws -> [Int?] {
        let a = try c.withRank(0, 2), b = try c.withRank(1, 2)
        let ta = c.bool("transpose_a"), tb = c.bool("transpose_b")
        let m = a.map { ta ? $0[1] : $0[0] } ?? nil, ka = a.map { ta ? $0[0] : $0[1] } ?? nil
        let kb = b.map { tb ? $0[1] : $0[0] } ?? nil, n = b.map { tb ? $0[0] : $0[1] } ?? nil
        _ = try mergeDim(ka, kb)
        return [m, n]
    }

    static let definitions: [OpDef] = [
        // [M, K] × [K, N] → [M, N], either operand optionally transposed.
        OpDef("MatMul", inputs: ["a: T", "b: T"], outputs: ["product: T"],
              attrs: [.type("T", matmulTypes), .bool("transpose_a", default: false), .bool("transpose_b", default: false)]) { c in
            [TensorShape(try matmulShape(c))]
        },
        // [..., M, K] × [..., K, N] → [..., M, N], batch dimensions broadcast.
        OpDef("BatchMatMulV2", inputs: ["x: T", "y: T"], outputs: ["output: T"],
              attrs: [.type("T", matmulTypes), .bool("adj_x", default: false), .bool("adj_y", default: false)]) { c in
            guard let x = try c.withRankAtLeast(0, 2), let y = try c.withRankAtLeast(1, 2) else { return [.unknown] }
            let ax = c.bool("adj_x"), ay = c.bool("adj_y")
            let m = ax ? x[x.count - 1] : x[x.count - 2], kx = ax ? x[x.count - 2] : x[x.count - 1]
            let ky = ay ? y[y.count - 1] : y[y.count - 2], n = ay ? y[y.count - 2] : y[y.count - 1]
            _ = try mergeDim(kx, ky)
            let batch = try Shapes.broadcastShapes(TensorShape(Array(x.dropLast(2))), TensorShape(Array(y.dropLast(2))))
            return [TensorShape(batch.dimensions! + [m, n])]
        },
    ]
}

/// Matrix product `a × b` (`MatMul`): `[M, K] × [K, N] → [M, N]`.
public func matmul(_ a: Output, _ b: Output, transposeA: Bool = false, transposeB: Bool = false,
                   name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try a.graph.output("MatMul", [a, b], attrs: ["transpose_a": .bool(transposeA), "transpose_b": .bool(transposeB)],
                       name: name, file: file, line: line)
}

/// Batched matrix product (`BatchMatMulV2`): `[..., M, K] × [..., K, N] → [..., M, N]`,
/// batch dimensions broadcast.
public func batchMatmul(_ x: Output, _ y: Output, adjointX: Bool = false, adjointY: Bool = false,
                        name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try x.graph.output("BatchMatMulV2", [x, y], attrs: ["adj_x": .bool(adjointX), "adj_y": .bool(adjointY)],
                       name: name, file: file, line: line)
}

extension LinalgOps {
    /// Gradients (TF's `_MatMulGrad`, `_BatchMatMulV2Grad`).
    static let gradients: [String: GradientFunction] = [
        "MatMul": { c in
            let g = try c.grad(), (a, b) = (c.inputs[0], c.inputs[1])
            switch (c.bool("transpose_a"), c.bool("transpose_b")) {
            case (false, false): return [try matmul(g, b, transposeB: true), try matmul(a, g, transposeA: true)]
            case (false, true): return [try matmul(g, b), try matmul(g, a, transposeA: true)]
            case (true, false): return [try matmul(b, g, transposeB: true), try matmul(a, g)]
            case (true, true): return [try matmul(b, g, transposeA: true, transposeB: true),
                                       try matmul(g, a, transposeA: true, transposeB: true)]
            }
        },
        "BatchMatMulV2": { c in
            let g = try c.grad(), (x, y) = (c.inputs[0], c.inputs[1])
            let gx: Output, gy: Output
            switch (c.bool("adj_x"), c.bool("adj_y")) {
            case (false, false): (gx, gy) = (try batchMatmul(g, y, adjointY: true), try batchMatmul(x, g, adjointX: true))
            case (false, true): (gx, gy) = (try batchMatmul(g, y), try batchMatmul(g, x, adjointX: true))
            case (true, false): (gx, gy) = (try batchMatmul(y, g, adjointY: true), try batchMatmul(x, g))
            case (true, true): (gx, gy) = (try batchMatmul(y, g, adjointX: true, adjointY: true),
                                           try batchMatmul(g, x, adjointX: true, adjointY: true))
            }
            // Broadcast batch dimensions sum back to each operand's shape.
            return [try c.reduceBatch(gx, to: x), try c.reduceBatch(gy, to: y)]
        },
    ]
}

extension GradientContext {
    /// `g` (with `x`'s matrix dimensions) summed over the batch dimensions `x` was broadcast along.
    func reduceBatch(_ g: Output, to x: Output) throws -> Output {
        if x.shape.isFullyDefined && x.shape == g.shape { return g }
        let sx = try shape(x), sg = try shape(g)
        let args = try graph.outputs("BroadcastGradientArgs", [sx, sg], name: "BroadcastGradientArgs", file: "", line: 0)
        return try reshape(graph.output("Sum", [g, args[0]], name: "Sum", file: "", line: 0), sx)
    }
}
