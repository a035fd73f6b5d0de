/// Recurrent cells for sequences, as graph compositions (the gradients follow from the
/// ops) or, for the LSTM, TF's fused `LSTMBlockCell` op.
public protocol RecurrentCell {
    associatedtype State
    /// The all-zero state for the batch of `input` (`[B, features]`).
    func zeroState(like input: Output) throws -> State
    /// One time step: the output and the next state.
    func callAsFunction(_ input: Output, state: State) throws -> (output: Output, state: State)
}

/// A recurrent state as the tensors a loop carries.
public protocol RecurrentState {
    var tensors: [Output] { get }
    init(tensors: [Output])
}

/// An LSTM's cell state `c` and hidden state `h`, each `[B, units]`.
public struct LSTMState: RecurrentState {
    public let c: Output
    public let h: Output
    public init(c: Output, h: Output) { self.c = c; self.h = h }
    public var tensors: [Output] { [c, h] }
    public init(tensors: [Output]) { self.init(c: tensors[0], h: tensors[1]) }
}

extension Output: RecurrentState {
    public var tensors: [Output] { [self] }
    public init(tensors: [Output]) { self = tensors[0] }
}

/// `[B, units]` zeros for the batch of `input`.
func zeroRows(like input: Output, units: Int) throws -> Output {
    let g = input.graph
    let batch = try stridedSlice(shape(input), begin: [0], end: [1], shrinkAxisMask: 1)
    return try fill(dims: stack([batch, g.constant(Int32(units))]), value: g.constant(Tensor.scalar(0, dtype: input.dtype)))
}

/// An LSTM cell: gates `[x, h] · kernel + bias` in TF's `LSTMBlockCell` order (input,
/// candidate, forget, output), the forget gate biased by `forgetBias`:
/// `c' = σ(f + forgetBias)·c + σ(i)·tanh(ci)`, `h' = σ(o)·tanh(c')`.
/// With `fused`, each step is one `LSTMBlockCell` op (no cell clipping); otherwise the same
/// arithmetic as separate ops.
public struct LSTMCell: RecurrentCell {
    public let units: Int
    public let kernel: Variable
    public let bias: Variable
    public let forgetBias: Double
    public let fused: Bool

    /// Creates the cell's variables `<name>/kernel` `[inputSize + units, 4·units]` and `<name>/bias` `[4·units]`.
    public init(_ graph: Graph, inputSize: Int, units: Int, name: String = "lstm_cell", fused: Bool = true,
                forgetBias: Double = 1, initializer: Initializer = .glorotUniform, dtype: DType = .float32) throws {
        self.units = units
        self.forgetBias = forgetBias
        self.fused = fused
        kernel = try graph.variable("\(name)/kernel", shape: [inputSize + units, 4 * units], dtype: dtype, initializer: initializer)
        bias = try graph.variable("\(name)/bias", shape: [4 * units], dtype: dtype, initializer: .zeros)
    }

    public func zeroState(like input: Output) throws -> LSTMState {
        let zeros = try zeroRows(like: input, units: units)
        return LSTMState(c: zeros, h: zeros)
    }

    public func callAsFunction(_ x: Output, state: LSTMState) throws -> (output: Output, state: LSTMState) {
        let g = x.graph
        if fused {
            let noPeephole = try g.constant(Tensor.scalar(0, dtype: x.dtype))
            let zeros = try fill(dims: g.constant(Tensor([Int32(units)])), value: noPeephole)
            let outs = try g.outputs("LSTMBlockCell", [x, state.c, state.h, kernel.value, zeros, zeros, zeros, bias.value],
                                     attrs: ["forget_bias": .float(Float(forgetBias)), "cell_clip": .float(-1)],
                                     name: "lstm_cell", file: "", line: 0)
            return (outs[6], LSTMState(c: outs[1], h: outs[6]))
        }
        return try g.withNameScope("lstm_cell") {
            let gates = try biasAdd(matmul(concat([x, state.h], axis: 1), kernel.value), bias.value)
            let parts = try split(gates, count: 4, axis: 1)
            let forget = try sigmoid(add(parts[2], x.scalarLike(forgetBias, file: "", line: 0)))
            let c = try add(multiply(forget, state.c), multiply(sigmoid(parts[0]), tanh(parts[1])))
            let h = try multiply(sigmoid(parts[3]), tanh(c))
            return (h, LSTMState(c: c, h: h))
        }
    }
}

/// A GRU cell (TF's `GRUCell`): reset and update gates `r, u = σ([x, h] · W_g + b_g)` (bias
/// starting at 1), candidate `c = tanh([x, r·h] · W_c + b_c)`, `h' = u·h + (1 − u)·c`.
public struct GRUCell: RecurrentCell {
    public let units: Int
    public let gateKernel: Variable, gateBias: Variable, candidateKernel: Variable, candidateBias: Variable

    public init(_ graph: Graph, inputSize: Int, units: Int, name: String = "gru_cell", initializer: Initializer = .glorotUniform,
                dtype: DType = .float32) throws {
        self.units = units
        gateKernel = try graph.variable("\(name)/gates/kernel", shape: [inputSize + units, 2 * units], dtype: dtype, initializer: initializer)
        gateBias = try graph.variable("\(name)/gates/bias", shape: [2 * units], dtype: dtype, initializer: .ones)
        candidateKernel = try graph.variable("\(name)/candidate/kernel", shape: [inputSize + units, units], dtype: dtype,
                                             initializer: initializer)
        candidateBias = try graph.variable("\(name)/candidate/bias", shape: [units], dtype: dtype, initializer: .zeros)
    }

    public func zeroState(like input: Output) throws -> Output { try zeroRows(like: input, units: units) }

    public func callAsFunction(_ x: Output, state h: Output) throws -> (output: Output, state: Output) {
        try x.graph.withNameScope("gru_cell") {
            let gates = try sigmoid(biasAdd(matmul(concat([x, h], axis: 1), gateKernel.value), gateBias.value))
            let parts = try split(gates, count: 2, axis: 1)
            let (r, u) = (parts[0], parts[1])
            let candidate = try tanh(biasAdd(matmul(concat([x, multiply(r, h)], axis: 1), candidateKernel.value), candidateBias.value))
            let next = try add(multiply(u, h), multiply(subtract(x.scalarLike(1, file: "", line: 0), u), candidate))
            return (next, next)
        }
    }
}

/// Runs `cell` over the `steps` time steps of `sequence` (`[B, T, F]`, batch-major), from
/// `initialState` (zeros by default): each step's output, and the final state — a
/// fixed-length unrolled graph, like TF's `static_rnn`.
public func unroll<Cell: RecurrentCell>(_ cell: Cell, over sequence: Output, steps: Int, initialState: Cell.State? = nil)
    throws -> (outputs: [Output], state: Cell.State) {
    guard steps > 0 else { throw SomaError.invalidArgument("unroll needs at least one step, got \(steps)") }
    if let t = sequence.shape.dimensions?.dropFirst().first ?? nil, t != steps {
        throw SomaError.invalidArgument("unroll: sequence \(sequence.name) has \(t) steps, not \(steps)")
    }
    let g = sequence.graph
    return try g.withNameScope("rnn") {
        var outputs: [Output] = []
        let first = try stridedSlice(sequence, begin: [0, 0, 0], end: [0, 1, 0], beginMask: 5, endMask: 5, shrinkAxisMask: 2)
        var state = try initialState ?? cell.zeroState(like: first)
        for t in 0..<steps {
            let x = t == 0 ? first
                : try stridedSlice(sequence, begin: [0, t, 0], end: [0, t + 1, 0], beginMask: 5, endMask: 5, shrinkAxisMask: 2)
            let (output, next) = try cell(x, state: state)
            outputs.append(output)
            state = next
        }
        return (outputs, state)
    }
}

/// Runs `cell` over `sequence` (`[B, T, F]`, batch-major) in a `whileLoop` — one loop
/// body however long the sequences (TF's `tf.compat.v1.nn.dynamic_rnn`). With
/// `sequenceLength` (`[B]` int32), row `b` stops after its length: later outputs are
/// zeros and its state is carried through unchanged, so the final state is each row's
/// state at its own last step.
///
/// - Returns: the outputs `[B, T, units]` (collected in a `TensorList`) and the final state.
/// Gradients flow to the inputs, the initial state and the cell's variables (while_v2's
/// gradient loop).
public func dynamicRNN<Cell: RecurrentCell>(
    _ cell: Cell, over sequence: Output, sequenceLength: Output? = nil, initialState: Cell.State? = nil,
    file: String = #fileID, line: Int = #line
) throws -> (outputs: Output, state: Cell.State) where Cell.State: RecurrentState {
    guard sequence.shape.rank ?? 3 == 3 else {
        throw SomaError.invalidArgument("dynamicRNN: sequence must be [batch, time, features], but has shape \(sequence.shape)")
    }
    let g = sequence.graph
    return try g.withNameScope("rnn") {
        let timeMajor = try transpose(sequence, perm: [1, 0, 2])                                 // [T, B, F]
        let steps = try stridedSlice(shape(timeMajor), begin: [0], end: [1], shrinkAxisMask: 1)
        let zero = try g.constant(Int32(0))
        let initial = try initialState ?? cell.zeroState(like: gather(timeMajor, indices: zero))
        let count = initial.tensors.count
        let outputs = try g.output("TensorListReserve", [listShapeTensor(g, .unknown), steps],
                                   attrs: ["element_dtype": .type(sequence.dtype)], name: "outputs", file: file, line: line)
        let final = try whileLoop(cond: { v in try less(v[0], steps) }, body: { v in
            let t = v[0]
            let state = Cell.State(tensors: Array(v[1...count]))
            var (output, next) = try cell(gather(timeMajor, indices: t), state: state)
            var nextTensors = next.tensors
            if let sequenceLength {
                // Rows past their length: zero output, state carried through (row-wise Select).
                let finished = try greaterEqual(t, sequenceLength)
                output = try select(finished, zerosLike(output), output)
                nextTensors = try zip(state.tensors, nextTensors).map { try select(finished, $0, $1) }
                next = Cell.State(tensors: nextTensors)
            }
            let list = try g.output("TensorListSetItem", [v[count + 1], t, output], name: "TensorListSetItem", file: file, line: line)
            return [try add(t, g.constant(Int32(1)))] + next.tensors + [list]
        }, loopVars: [zero] + initial.tensors + [outputs], name: "while", file: file, line: line)
        let stacked = try g.output("TensorListStack", [final[count + 1], listShapeTensor(g, .unknown)],
                                   attrs: ["element_dtype": .type(sequence.dtype)], name: "stack", file: file, line: line)
        return (try transpose(stacked, perm: [1, 0, 2]), Cell.State(tensors: Array(final[1...count])))
    }
}

/// Rows of `params` (`[vocabulary, dim]`) for integer `ids` (TF's `embedding_lookup`, a
/// `GatherV2`): `[…ids, dim]`. Its gradient sums into the rows that were looked up.
public func embeddingLookup(_ params: Output, ids: Output, name: String? = nil) throws -> Output {
    try gather(params, indices: ids, name: name ?? "embedding_lookup")
}
