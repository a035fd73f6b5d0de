/// Logging ops (TF's `logging_ops`): `Assert`, which fails a run with its data when its
/// condition is false.
enum LoggingOps {
    static let definitions: [OpDef] = [
        OpDef("Assert", inputs: ["condition: bool", "data: T"], attrs: [.types("T", DType.all + [.string]), .int("summarize", default: 3)],
              traits: [.stateful], gradient: .notDifferentiable) { c in
            guard c.shape(0).rank ?? 0 == 0 else {
                throw ShapeError("In[0] (condition) must be a scalar, but has shape \(c.shape(0))")
            }
            return []
        },
    ]
}

/// An op that fails the run when `condition` is false, with `data` in the message (TF's
/// `tf.debugging.Assert`): `InvalidArgument`, "assertion failed: [data₀] [data₁] …",
/// each tensor showing at most `summarize` elements. Make what must be checked depend on
/// it (`controlInputs`, or run it as a target).
@discardableResult
public func assertThat(_ condition: Output, data: [Output], summarize: Int = 3, name: String? = nil,
                       file: String = #fileID, line: Int = #line) throws -> Node {
    try condition.graph.output("Assert", [condition] + data, attrs: ["summarize": .int(summarize)], name: name ?? "Assert",
                               file: file, line: line).node
}
