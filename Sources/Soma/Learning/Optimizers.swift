/// A gradient-descent optimiser in TF1's style: `minimize(loss)` adds the gradient
/// subgraph and one update op per variable (TF's `Apply*` ops, which update in place)
/// and returns the training op to run.
///
/// Slot variables (momentum, Adam's moments) are ordinary non-trainable variables named
/// `<variable>/<Optimizer>`, created on first use and initialised to zeros by
/// `globalVariablesInitializer()` like any other.
///
/// ```swift
/// let step = try g.globalStep()
/// let train = try AdamOptimizer(learningRate: 0.01).minimize(loss, globalStep: step)
/// try session.run(target: g.globalVariablesInitializer())
/// for batch in batches { try session.run(target: train, feeds: [x: batch.x, y: batch.y]) }
/// ```
public class Optimizer {
    public let name: String
    var learningRate: LearningRate
    /// Slot variables by (variable name, slot name).
    private var slots: [String: Variable] = [:]
    /// A step between computing the gradients and applying them, run by
    /// ``computeGradients(_:varList:)``: `SomaDistributed`'s `DistributedOptimizer` sets it
    /// to average the gradients over every process (Horovod's `DistributedOptimizer`).
    public var gradientAggregation: (@Sendable ([(gradient: Output?, variable: Variable)]) throws -> [(gradient: Output?, variable: Variable)])?

    init(name: String, learningRate: LearningRate) {
        self.name = name
        self.learningRate = learningRate
    }

    /// Gradients of `loss` for each variable (`nil` where the loss does not depend on it).
    /// Variables default to the graph's trainable ones.
    public func computeGradients(_ loss: Output, varList: [Variable]? = nil) throws -> [(gradient: Output?, variable: Variable)] {
        let variables = varList ?? loss.graph.trainableVariables
        guard !variables.isEmpty else { throw SomaError.invalidArgument("No variables to optimize") }
        let grads = try loss.graph.gradients(of: [loss], wrt: variables.map(\.value))
        let pairs = Array(zip(grads, variables)).map { (gradient: $0.0, variable: $0.1) }
        return try gradientAggregation?(pairs) ?? pairs
    }

    /// One training op applying every gradient, then incrementing `globalStep` if given.
    public func applyGradients(_ pairs: [(gradient: Output?, variable: Variable)], globalStep: Variable? = nil) throws -> Node {
        let present = pairs.compactMap { p in p.gradient.map { (gradient: $0, variable: p.variable) } }
        guard let graph = present.first?.variable.graph else {
            throw SomaError.invalidArgument("No gradients provided for any variable: \(pairs.map(\.variable.name))")
        }
        return try graph.withNameScope(name) {
            let lr = try learningRate.output(in: graph, dtype: present[0].variable.dtype)
            try prepare(graph, variables: present.map(\.variable))
            var updates: [Node] = []
            for (gradient, variable) in present {
                updates.append(try applyDense(gradient, to: variable, learningRate: lr).node)
            }
            updates += try finish(graph, after: updates)
            if let globalStep {
                let bump = try graph.withControlDependencies(updates) {
                    try globalStep.assignAdd(graph.constant(Tensor.scalar(1, dtype: globalStep.dtype)))
                }
                return try graph.group([bump.node], name: "update")
            }
            return try graph.group(updates, name: "update")
        }
    }

    /// `applyGradients(computeGradients(loss))`, also running the graph's update ops
    /// (``Graph/updateOps``: batch normalisation's moving averages) — what TF1 code gets
    /// with `tf.control_dependencies(tf.get_collection(UPDATE_OPS))` and Keras' `fit` always.
    ///
    /// The gradient and update nodes are located at the call of `minimize`.
    public func minimize(_ loss: Output, varList: [Variable]? = nil, globalStep: Variable? = nil,
                         file: String = #fileID, line: Int = #line) throws -> Node {
        try loss.graph.withCallSite(file: file, line: line) {
            let train = try applyGradients(computeGradients(loss, varList: varList), globalStep: globalStep)
            let updates = loss.graph.collection(Graph.updateOps)
            guard !updates.isEmpty else { return train }
            return try loss.graph.group([train] + updates, name: "\(name)_with_updates")
        }
    }

    // MARK: For subclasses

    /// Creates non-slot state before the updates (Adam's β powers).
    func prepare(_ graph: Graph, variables: [Variable]) throws {}

    /// The update op for one variable.
    func applyDense(_ gradient: Output, to variable: Variable, learningRate: Output) throws -> Output {
        preconditionFailure("subclass must implement")
    }

    /// Ops to run after all updates (Adam advances its β powers).
    func finish(_ graph: Graph, after updates: [Node]) throws -> [Node] { [] }

    /// The slot `slotName` of `variable`: a variable of its shape, zeros unless `initializer` says.
    func slot(_ variable: Variable, _ slotName: String, initializer: Initializer = .zeros) throws -> Variable {
        let key = "\(variable.name)/\(slotName)"
        if let existing = slots[key] { return existing }
        guard let dims = variable.shape.dimensions, dims.allSatisfy({ $0 != nil }) else {
            throw SomaError.invalidArgument("Variable \(variable.name) needs a fully defined shape for the \(slotName) slot")
        }
        let g = variable.graph
        let created = try g.withRootScope {
            // Named like TF1's slots: unique, so a second optimiser (or one on a loaded
            // training graph) makes `<variable>/Adam_1` rather than failing.
            try g.variable(initialValue: { try initializer.value(shape: dims.map { $0! }, dtype: variable.dtype, in: g) },
                           name: key, trainable: false)
        }
        slots[key] = created
        return created
    }

    /// The update op's name for `variable`: `update_<variable>` (slashes as underscores).
    func updateName(_ variable: Variable) -> String { "update_" + variable.name.replacingOccurrences(of: "/", with: "_") }

    func scalar(_ value: Double, _ dtype: DType, in graph: Graph) throws -> Output {
        try graph.constant(Tensor.scalar(value, dtype: dtype))
    }
}

/// A learning rate: a number, or a tensor such as a decay schedule of the global step.
public enum LearningRate: Sendable, ExpressibleByFloatLiteral {
    case constant(Double)
    case tensor(Output)

    public init(floatLiteral value: Double) { self = .constant(value) }

    func output(in graph: Graph, dtype: DType) throws -> Output {
        switch self {
        case .constant(let v): return try graph.constant(Tensor.scalar(v, dtype: dtype), name: "learning_rate")
        case .tensor(let t): return t.dtype == dtype ? t : try cast(t, to: dtype)
        }
    }
}

/// `var −= lr · grad` (`ApplyGradientDescent`).
public final class GradientDescentOptimizer: Optimizer {
    public init(learningRate: LearningRate, name: String = "GradientDescent") {
        super.init(name: name, learningRate: learningRate)
    }

    override func applyDense(_ gradient: Output, to variable: Variable, learningRate: Output) throws -> Output {
        try variable.graph.output("ApplyGradientDescent", [variable.ref, learningRate, gradient],
                                  name: updateName(variable), file: "", line: 0)
    }
}

/// `accum = momentum·accum + grad; var −= lr·accum` (or Nesterov's look-ahead) (`ApplyMomentum`).
public final class MomentumOptimizer: Optimizer {
    let momentum: Double, nesterov: Bool

    public init(learningRate: LearningRate, momentum: Double, useNesterov: Bool = false, name: String = "Momentum") {
        self.momentum = momentum
        self.nesterov = useNesterov
        super.init(name: name, learningRate: learningRate)
    }

    override func applyDense(_ gradient: Output, to variable: Variable, learningRate: Output) throws -> Output {
        let g = variable.graph
        return try g.output("ApplyMomentum", [variable.ref, slot(variable, name).ref, learningRate, gradient,
                                              scalar(momentum, variable.dtype, in: g)],
                            attrs: ["use_nesterov": .bool(nesterov)], name: updateName(variable),
                            file: "", line: 0)
    }
}

/// Adam (Kingma & Ba), with TF's bias correction folded into the step size (`ApplyAdam`).
public final class AdamOptimizer: Optimizer {
    let beta1: Double, beta2: Double, epsilon: Double
    private var beta1Power: Variable?, beta2Power: Variable?

    public init(learningRate: LearningRate = 0.001, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
                name: String = "Adam") {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        super.init(name: name, learningRate: learningRate)
    }

    override func prepare(_ graph: Graph, variables: [Variable]) throws {
        guard beta1Power == nil else { return }
        let dtype = variables[0].dtype
        beta1Power = try graph.withRootScope {
            try graph.variable(Tensor.scalar(beta1, dtype: dtype), name: "beta1_power", trainable: false)
        }
        beta2Power = try graph.withRootScope {
            try graph.variable(Tensor.scalar(beta2, dtype: dtype), name: "beta2_power", trainable: false)
        }
    }

    override func applyDense(_ gradient: Output, to variable: Variable, learningRate: Output) throws -> Output {
        let g = variable.graph, t = variable.dtype
        return try g.output("ApplyAdam", [
            variable.ref, slot(variable, name).ref, slot(variable, "\(name)_1").ref, beta1Power!.value, beta2Power!.value,
            learningRate, scalar(beta1, t, in: g), scalar(beta2, t, in: g), scalar(epsilon, t, in: g), gradient,
        ], name: updateName(variable), file: "", line: 0)
    }

    override func finish(_ graph: Graph, after updates: [Node]) throws -> [Node] {
        try graph.withControlDependencies(updates) {
            let t = beta1Power!.dtype
            let a = try beta1Power!.assign(multiply(beta1Power!.value, scalar(beta1, t, in: graph)), name: "update_beta1_power")
            let b = try beta2Power!.assign(multiply(beta2Power!.value, scalar(beta2, t, in: graph)), name: "update_beta2_power")
            return [a.node, b.node]
        }
    }
}

/// RMSProp: `ms = ρ·ms + (1−ρ)·g²; mom = μ·mom + lr·g/√(ms + ε); var −= mom` (`ApplyRMSProp`);
/// as in TF1, the mean square starts at 1.
public final class RMSPropOptimizer: Optimizer {
    let decay: Double, momentum: Double, epsilon: Double

    public init(learningRate: LearningRate, decay: Double = 0.9, momentum: Double = 0, epsilon: Double = 1e-10,
                name: String = "RMSProp") {
        self.decay = decay
        self.momentum = momentum
        self.epsilon = epsilon
        super.init(name: name, learningRate: learningRate)
    }

    override func applyDense(_ gradient: Output, to variable: Variable, learningRate: Output) throws -> Output {
        let g = variable.graph, t = variable.dtype
        return try g.output("ApplyRMSProp", [
            variable.ref, slot(variable, name, initializer: .ones).ref, slot(variable, "\(name)_1").ref, learningRate,
            scalar(decay, t, in: g), scalar(momentum, t, in: g), scalar(epsilon, t, in: g), gradient,
        ], name: updateName(variable), file: "", line: 0)
    }
}

/// Adagrad: `accum += g²; var −= lr·g/√accum` (`ApplyAdagrad`); TF starts `accum` at 0.1.
public final class AdagradOptimizer: Optimizer {
    let initialAccumulator: Double

    public init(learningRate: LearningRate, initialAccumulatorValue: Double = 0.1, name: String = "Adagrad") {
        self.initialAccumulator = initialAccumulatorValue
        super.init(name: name, learningRate: learningRate)
    }

    override func applyDense(_ gradient: Output, to variable: Variable, learningRate: Output) throws -> Output {
        let accumulator = try slot(variable, name, initializer: .constant(initialAccumulator))
        return try variable.graph.output("ApplyAdagrad", [variable.ref, accumulator.ref, learningRate, gradient],
                                         name: updateName(variable), file: "", line: 0)
    }
}

extension Graph {
    /// The int64 `global_step` variable (created at zero on first call), which
    /// `minimize(_:globalStep:)` increments once per training step.
    public func globalStep() throws -> Variable {
        if let existing = variables.first(where: { $0.name == "global_step" }) { return existing }
        return try withRootScope { try variable(Tensor(Int64(0)), name: "global_step", trainable: false) }
    }
}
