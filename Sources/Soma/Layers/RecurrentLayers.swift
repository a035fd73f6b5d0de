/// What the recurrent layers share (Keras' `RNN` over a cell): weights in Keras' layout,
/// `<name>/<cell>/kernel [F, G·units]` (Glorot uniform), `recurrent_kernel [units,
/// G·units]` (orthogonal) and `bias`, with G gates; the sequence `[B, T, F]` (batch-major)
/// run from a zero state — unrolled over its T steps when T is known, else in one `While`
/// loop body (``dynamicRNN(_:over:sequenceLength:initialState:file:line:)``).
///
/// The input's contribution to every gate of every step is one GEMM before the loop
/// (`[B·T, F] · [F, G·units]`, bias included), so a step costs one `[B, units] ·
/// [units, G·units]` product and the element-wise gate arithmetic.
///
/// Output: the last step's `[B, units]`, or with `returnSequences` every step's
/// `[B, T, units]`.
public class RecurrentLayer: Layer {
    public let units: Int
    public let returnSequences: Bool
    let gates: Int
    let cellName: String
    public private(set) var kernel: Variable?
    public private(set) var recurrentKernel: Variable?
    public internal(set) var bias: Variable?

    init(kind: String, cellName: String, gates: Int, units: Int, returnSequences: Bool, name: String?) {
        self.units = units
        self.returnSequences = returnSequences
        self.gates = gates
        self.cellName = cellName
        super.init(kind: kind, name: name)
    }

    override public func build(_ inputs: [Output]) throws {
        let x = inputs[0]
        let features = try dimensions(x, rank: 3)[2]
        guard features > 0 else {
            throw SomaError.invalidArgument("\(kind) '\(name)': the feature dimension of \(x.name) must be known")
        }
        let width = gates * units
        kernel = try addWeight("\(cellName)/kernel", shape: [features, width], dtype: x.dtype, initializer: .glorotUniform)
        recurrentKernel = try addWeight("\(cellName)/recurrent_kernel") { g, full in
            try g.orthogonalVariable(full, shape: [units, width], dtype: x.dtype)
        }
        try buildBias(dtype: x.dtype)
    }

    /// Creates ``bias`` (a subclass's layout).
    func buildBias(dtype: DType) throws {
        bias = try addWeight("\(cellName)/bias", shape: [gates * units], dtype: dtype, initializer: .zeros)
    }

    /// The bias added to the input projection.
    func inputBias() throws -> Output { bias!.value }

    /// One step: the projected input `[B, G·units]` and state → the output and next state.
    func step(_ projected: Output, state: [Output]) throws -> (output: Output, state: [Output]) {
        preconditionFailure("subclass must implement step")
    }

    /// How many `[B, units]` tensors the state holds.
    var stateCount: Int { 1 }

    override public func call(_ inputs: [Output]) throws -> Output {
        let x = inputs[0]
        let dims = try dimensions(x, rank: 3)
        let (steps, features) = (dims[1], dims[2])
        let flat = try reshape(x, [-1, features])
        let projectedRows = try biasAdd(matmul(flat, kernel!.value), inputBias())
        guard steps > 0 else {
            // Sequences of varying length: one loop body (a `While` over the steps, as
            // Keras' RNN layers build in TF), the input projection still one GEMM.
            let projected = try reshape(projectedRows, shapeReplacingLast(of: x, with: [gates * units]))
            let (outputs, state) = try dynamicRNN(StepCell(layer: self), over: projected)
            return returnSequences ? try reshape(outputs, shapeReplacingLast(of: x, with: [units])) : state.tensors[0]
        }
        let projected = try reshape(projectedRows, [-1, steps, gates * units])
        let perStep = try unstack(projected, axis: 1)
        let zeros = try zeroRows(like: perStep[0], units: units)
        var state = [Output](repeating: zeros, count: stateCount), outputs: [Output] = []
        for t in 0..<steps {
            let (output, next) = try step(perStep[t], state: state)
            outputs.append(output)
            state = next
        }
        return returnSequences ? try stack(outputs, axis: 1) : outputs[steps - 1]
    }
}

/// A recurrent layer's step as a ``RecurrentCell`` over projected inputs, for `dynamicRNN`.
private struct StepCell: RecurrentCell {
    struct State: RecurrentState {
        let tensors: [Output]
        init(tensors: [Output]) { self.tensors = tensors }
    }

    let layer: RecurrentLayer

    func zeroState(like input: Output) throws -> State {
        let zeros = try zeroRows(like: input, units: layer.units)
        return State(tensors: Array(repeating: zeros, count: layer.stateCount))
    }

    func callAsFunction(_ input: Output, state: State) throws -> (output: Output, state: State) {
        let (output, next) = try layer.step(input, state: state.tensors)
        return (output, State(tensors: next))
    }
}

/// Long short-term memory (Keras' `LSTM`): gates in Keras' order input, forget, cell,
/// output; `c' = σ(f)·c + σ(i)·tanh(g)`, `h' = σ(o)·tanh(c')`. The bias starts at zeros
/// with the forget gate's quarter at ones (Keras' `unit_forget_bias`).
public final class LSTM: RecurrentLayer {
    public init(_ units: Int, returnSequences: Bool = false, name: String? = nil) {
        super.init(kind: "lstm", cellName: "lstm_cell", gates: 4, units: units, returnSequences: returnSequences, name: name)
    }

    override func buildBias(dtype: DType) throws {
        let values = (0..<(4 * units)).map { $0 / units == 1 ? 1.0 : 0.0 }
        let initial = dtype == .float64 ? try Tensor(values, shape: [4 * units])
            : try Tensor(values.map { Float($0) }, shape: [4 * units])
        bias = try addWeight("\(cellName)/bias") { g, full in try g.variable(full, initialValue: initial) }
    }

    override var stateCount: Int { 2 }

    override func step(_ projected: Output, state: [Output]) throws -> (output: Output, state: [Output]) {
        let (h, c) = (state[0], state[1])
        let z = try split(add(projected, matmul(h, recurrentKernel!.value)), count: 4, axis: 1)
        let cNext = try sigmoid(z[1]) * c + sigmoid(z[0]) * tanh(z[2])
        let hNext = try sigmoid(z[3]) * tanh(cNext)
        return (hNext, [hNext, cNext])
    }
}

/// Gated recurrent unit (Keras' `GRU`, `reset_after=True` as in Keras 3 and cuDNN): gates
/// update z, reset r, candidate; bias `[2, 3·units]` (input row, recurrent row);
/// `z = σ(xz + hz)`, `r = σ(xr + hr)`, `ĥ = tanh(xh + r·hh)`, `h' = z·h + (1 − z)·ĥ`, where
/// `h· = h · recurrent_kernel + bias[1]`.
public final class GRU: RecurrentLayer {
    public init(_ units: Int, returnSequences: Bool = false, name: String? = nil) {
        super.init(kind: "gru", cellName: "gru_cell", gates: 3, units: units, returnSequences: returnSequences, name: name)
    }

    override func buildBias(dtype: DType) throws {
        bias = try addWeight("\(cellName)/bias", shape: [2, 3 * units], dtype: dtype, initializer: .zeros)
    }

    private var biasRows: [Output] = []

    override func inputBias() throws -> Output {
        biasRows = try unstack(bias!.value, axis: 0)
        return biasRows[0]
    }

    override func step(_ projected: Output, state: [Output]) throws -> (output: Output, state: [Output]) {
        let h = state[0]
        let x = try split(projected, count: 3, axis: 1)
        let r = try split(biasAdd(matmul(h, recurrentKernel!.value), biasRows[1]), count: 3, axis: 1)
        let update = try sigmoid(x[0] + r[0]), reset = try sigmoid(x[1] + r[1])
        let candidate = try tanh(x[2] + reset * r[2])
        let next = try update * h + (1 - update) * candidate
        return (next, [next])
    }
}

/// A fully connected recurrence (Keras' `SimpleRNN`): `h' = tanh(x·W + h·U + b)`.
public final class SimpleRNN: RecurrentLayer {
    public init(_ units: Int, returnSequences: Bool = false, name: String? = nil) {
        super.init(kind: "simple_rnn", cellName: "simple_rnn_cell", gates: 1, units: units,
                   returnSequences: returnSequences, name: name)
    }

    override func step(_ projected: Output, state: [Output]) throws -> (output: Output, state: [Output]) {
        let next = try tanh(add(projected, matmul(state[0], recurrentKernel!.value)))
        return (next, [next])
    }
}
