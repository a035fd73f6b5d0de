/// Optimiser update ops (TF's `training_ops`): each updates its variable — and slot
/// variables such as momentum or Adam's moments — in place and returns the variable.
/// Plus `CheckNumerics`, which stops a run on NaN or Inf.
enum TrainingOps {
    /// Every `Apply*` op: `var`, then TF's inputs in TF's order — slot refs and `grad`
    /// with `var`'s shape, scalar hyper-parameters (names listed in `scalars`). With
    /// `resource`, the `ResourceApply*` twin: variable and slots are handles, no output.
    static func apply(_ name: String, _ inputs: [String], scalars: Set<String>, extra: [AttrDef] = [],
                      resource: Bool = false) -> OpDef {
        let variable = resource ? "resource" : "Ref(T)"
        let specs = ["var: \(variable)"] + inputs.map { scalars.contains($0) || $0 == "grad" || $0 == "delta" ? "\($0): T" : "\($0): \(variable)" }
        return OpDef(resource ? "Resource" + name : name, inputs: specs, outputs: resource ? [] : ["out: Ref(T)"],
                     attrs: [.type("T", DType.floatingPoint), .bool("use_locking", default: false)] + extra,
                     traits: resource ? [.stateful, .writesVariables] : [.stateful], gradient: .undefined) { c in
            var shape = c.shape(0)
            for (k, input) in inputs.enumerated() {
                let s = c.shape(k + 1)
                if scalars.contains(input) {
                    guard s.rank == nil || s.rank == 0 else { throw ShapeError("\(input) is not a scalar: \(s)") }
                    continue
                }
                guard let merged = shape.merged(with: s) else {
                    throw ShapeError("var and \(input) do not have the same shape\(c.shape(0)) \(s)")
                }
                shape = merged
            }
            return resource ? [] : [shape]
        }
    }

    /// The optimisers' updates, each for ref and for resource variables.
    static let updates: [(String, [String], Set<String>, [AttrDef])] = [
        ("ApplyGradientDescent", ["alpha", "delta"], ["alpha"], []),
        ("ApplyMomentum", ["accum", "lr", "grad", "momentum"], ["lr", "momentum"], [.bool("use_nesterov", default: false)]),
        ("ApplyAdam", ["m", "v", "beta1_power", "beta2_power", "lr", "beta1", "beta2", "epsilon", "grad"],
         ["beta1_power", "beta2_power", "lr", "beta1", "beta2", "epsilon"], [.bool("use_nesterov", default: false)]),
        ("ApplyRMSProp", ["ms", "mom", "lr", "rho", "momentum", "epsilon", "grad"], ["lr", "rho", "momentum", "epsilon"], []),
        ("ApplyAdagrad", ["accum", "lr", "grad"], ["lr"], [.bool("update_slots", default: true)]),
    ]

    static let definitions: [OpDef] = updates.flatMap { name, inputs, scalars, extra in
        [apply(name, inputs, scalars: scalars, extra: extra), apply(name, inputs, scalars: scalars, extra: extra, resource: true)]
    } + [
        OpDef("CheckNumerics", inputs: ["tensor: T"], outputs: ["output: T"],
              attrs: [.type("T", DType.floatingPoint), .string("message")], traits: [.stateful, .forwardsInput],
              shape: Shapes.unchanged),
    ]

    /// `CheckNumerics` checks its gradient too (TF's `_CheckNumericsGrad`).
    static let gradients: [String: GradientFunction] = [
        "CheckNumerics": { c in
            let message = (c.node.string("message") ?? "") + " (gradient)"
            return [try c.graph.output("CheckNumerics", [c.grad()], attrs: ["message": .string(message)],
                                       name: "CheckNumerics", file: "", line: 0)]
        },
    ]
}

/// Fails the run when `x` holds a NaN or an infinity, naming the tensor in TF's words
/// (`message : Tensor had NaN values`); otherwise passes `x` through.
public func checkNumerics(_ x: Output, message: String, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try x.graph.output("CheckNumerics", [x], attrs: ["message": .string(message)], name: name, file: file, line: line)
}
