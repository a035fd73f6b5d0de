/// Multi-head scaled dot-product attention (Keras' `MultiHeadAttention`), called on
/// `[query, value]` or `[query, value, key]` (key defaults to value; one input attends to
/// itself), or with an attention mask through ``callAsFunction(query:value:key:attentionMask:file:line:)``: each of `numHeads` heads projects query and key to `keyDim` and value to
/// `valueDim`, weighs the values by `softmax(q·kᵀ / √keyDim)`, and the heads' results are
/// projected back to the query's width.
///
/// Shapes: query `[B, Tq, dq]`, value `[B, Tv, dv]`, key `[B, Tv, dk]` (sequence lengths
/// and widths known) → `[B, Tq, dq]`. Weights in Keras' layout: `query/kernel [dq, H, K]`,
/// `query/bias [H, K]`, likewise `key`, `value` (`[dv, H, V]`), `attention_output/kernel
/// [H, V, dq]` and `attention_output/bias [dq]`. With `causal`, position i attends only to
/// positions ≤ i (Keras' `use_causal_mask`); an attention mask `[B, Tq, Tv]` (true or 1
/// where a query may attend) removes the other positions, as Keras does, by adding −10⁹
/// to their scores; `dropout` applies to the attention weights while training.
public final class MultiHeadAttention: Layer {
    public let numHeads: Int
    public let keyDim: Int
    public let valueDim: Int
    public let dropout: Double
    public let causal: Bool
    private var weights: [String: Variable] = [:]

    public init(numHeads: Int, keyDim: Int, valueDim: Int? = nil, dropout: Double = 0, causal: Bool = false,
                name: String? = nil) {
        self.numHeads = numHeads
        self.keyDim = keyDim
        self.valueDim = valueDim ?? keyDim
        self.dropout = dropout
        self.causal = causal
        super.init(kind: "multi_head_attention", name: name)
    }

    /// Attention of `query` over `value` (and `key`, by default `value`), where
    /// `attentionMask` (`[B, Tq, Tv]`, bool or numbers) allows it (Keras' `attention_mask`).
    public func callAsFunction(query: Output, value: Output, key: Output? = nil, attentionMask: Output? = nil,
                               file: String = #fileID, line: Int = #line) throws -> Output {
        try self([query, value, key ?? value] + (attentionMask.map { [$0] } ?? []), file: file, line: line)
    }

    /// `[query, value, key, mask?]` with the defaults filled in.
    private func roles(_ inputs: [Output]) throws -> (query: Output, value: Output, key: Output, mask: Output?) {
        guard (1...4).contains(inputs.count) else {
            throw SomaError.invalidArgument("multi_head_attention '\(name)' takes [query, value, key?, mask?], got \(inputs.count) inputs")
        }
        let value = inputs.count > 1 ? inputs[1] : inputs[0]
        return (inputs[0], value, inputs.count > 2 ? inputs[2] : value, inputs.count > 3 ? inputs[3] : nil)
    }

    override public func build(_ inputs: [Output]) throws {
        let (query, value, key, _) = try roles(inputs)
        let dq = try lastDimension(query), dk = try lastDimension(key), dv = try lastDimension(value)
        for (part, width, depth) in [("query", dq, keyDim), ("key", dk, keyDim), ("value", dv, valueDim)] {
            weights["\(part)/kernel"] = try addWeight("\(part)/kernel", shape: [width, numHeads, depth], initializer: .glorotUniform)
            weights["\(part)/bias"] = try addWeight("\(part)/bias", shape: [numHeads, depth], initializer: .zeros)
        }
        weights["attention_output/kernel"] = try addWeight("attention_output/kernel", shape: [numHeads, valueDim, dq],
                                                           initializer: .glorotUniform)
        weights["attention_output/bias"] = try addWeight("attention_output/bias", shape: [dq], initializer: .zeros)
    }

    /// `x [B, T, d]` projected by `part` to the heads: `[B, H, T, depth]`.
    private func heads(_ x: Output, _ part: String, depth: Int) throws -> Output {
        let dims = try dimensions(x, rank: 3)
        guard dims[1] > 0 else {
            throw SomaError.invalidArgument("multi_head_attention '\(name)': the sequence length of \(x.name) must be known, "
                                            + "but its shape is \(x.shape)")
        }
        let kernel = try reshape(weights["\(part)/kernel"]!.value, [dims[2], numHeads * depth])
        let bias = try reshape(weights["\(part)/bias"]!.value, [numHeads * depth])
        let projected = try biasAdd(matmul(reshape(x, [-1, dims[2]]), kernel), bias)
        return try transpose(reshape(projected, [-1, dims[1], numHeads, depth]), perm: [0, 2, 1, 3])
    }

    override public func call(_ inputs: [Output]) throws -> Output {
        let (query, value, key, mask) = try roles(inputs)
        let g = query.graph
        let (tq, dq) = try (dimensions(query, rank: 3)[1], lastDimension(query))
        let q = try heads(query, "query", depth: keyDim) * (1 / Double(keyDim).squareRoot())
        let k = try heads(key, "key", depth: keyDim), v = try heads(value, "value", depth: valueDim)
        var scores = try batchMatmul(q, k, adjointY: true)                       // [B, H, Tq, Tk]
        if causal {
            let tk = try dimensions(key, rank: 3)[1]
            let mask = (0..<(tq * tk)).map { i -> Float in i % tk > i / tk ? -1e9 : 0 }
            scores = try add(scores, g.constant(Tensor(mask, shape: [tq, tk]), name: "causal_mask"))
        }
        if let mask {
            let allowed = try expandDims(cast(mask, to: scores.dtype), axis: 1)          // [B, 1, Tq, Tk]
            scores = try add(scores, (1 - allowed) * -1e9)
        }
        var attention = try softmax(scores)
        if dropout > 0 { attention = try Soma.dropout(attention, rate: dropout, training: trainingSwitch(in: g)) }
        let context = try transpose(batchMatmul(attention, v), perm: [0, 2, 1, 3])  // [B, Tq, H, V]
        let out = try matmul(reshape(context, [-1, numHeads * valueDim]),
                             reshape(weights["attention_output/kernel"]!.value, [numHeads * valueDim, dq]))
        return try reshape(biasAdd(out, weights["attention_output/bias"]!.value), [-1, tq, dq])
    }
}
