/// Elementwise math: binary arithmetic with broadcasting, comparisons, logic, selection,
/// unary functions and casts.
enum MathOps {
    static let definitions: [OpDef] = binary + comparisons + logical + unary + unaryGradients + [
        OpDef("SelectV2", inputs: ["condition: bool", "t: T", "e: T"], outputs: ["output: T"],
              attrs: [.type("T")], traits: [.elementwise], shape: Shapes.broadcast),
        // TF1's `tf.where`: `t` and `e` of one shape; the condition a scalar (picks a whole
        // tensor), of that shape, or a vector picking rows.
        OpDef("Select", inputs: ["condition: bool", "t: T", "e: T"], outputs: ["output: T"],
              attrs: [.type("T", DType.any)]) { c in
            guard let shape = c.shape(1).merged(with: c.shape(2)) else {
                throw ShapeError("Shapes must be equal rank, but are \(c.shape(1)) and \(c.shape(2))")
            }
            let condition = c.shape(0)
            guard let cr = condition.rank, let r = shape.rank else { return [shape] }
            if cr == 0 || condition.isCompatible(with: shape) { return [shape] }
            guard cr == 1, r >= 1, condition.isCompatible(with: TensorShape([shape.dimensions![0]])) else {
                throw ShapeError("The condition must be a scalar, a vector of the first dimension, or of the shape of t and e; got \(condition) and \(shape)")
            }
            return [shape]
        },
        // Σ inputs, all of one shape (TF sums gradient contributions with it; for TensorLists —
        // while_v2's gradients — element by element).
        OpDef("AddN", inputs: ["inputs: N * T"], outputs: ["sum: T"], attrs: [.int("N", minimum: 1), .type("T", DType.numeric + [.variant])],
              traits: [.commutative]) { c in
            var shape = c.shape(0)
            for i in 1..<c.inputCount {
                guard let merged = shape.merged(with: c.shape(i)) else {
                    throw ShapeError("Shapes must be equal rank, but are \(shape) and \(c.shape(i)) for inputs 0 and \(i)")
                }
                shape = merged
            }
            return [shape]
        },
        OpDef("Cast", inputs: ["x: SrcT"], outputs: ["y: DstT"],
              attrs: [.type("SrcT"), .type("DstT"), .bool("Truncate", default: false)],
              traits: [.elementwise], shape: Shapes.unchanged),
    ]

    /// `z = f(x, y)` with NumPy broadcasting: `[2, 1, 3] ⊕ [4, 1] → [2, 4, 3]`.
    static func binaryOp(_ name: String, _ types: [DType], _ traits: OpTraits = [],
                         gradient: GradientSlot = .pending) -> OpDef {
        OpDef(name, inputs: ["x: T", "y: T"], outputs: ["z: T"], attrs: [.type("T", types)],
              traits: traits.union(.elementwise), gradient: gradient, shape: Shapes.broadcast)
    }

    static let binary: [OpDef] = [
        binaryOp("AddV2", DType.numeric, .commutative),
        binaryOp("Add", DType.numeric, .commutative),
        binaryOp("Sub", DType.numeric),
        binaryOp("Mul", DType.numeric, .commutative),
        binaryOp("RealDiv", DType.numeric),
        binaryOp("FloorDiv", DType.numeric, gradient: .notDifferentiable),
        binaryOp("FloorMod", DType.numeric),
        binaryOp("Maximum", DType.numeric, .commutative),
        binaryOp("Minimum", DType.numeric, .commutative),
        binaryOp("Pow", DType.signedNumeric),
        binaryOp("SquaredDifference", DType.signedNumeric, .commutative),
    ]

    /// `z = x ⋈ y` as `bool`, with broadcasting.
    static func comparison(_ name: String, _ types: [DType], equality: Bool = false) -> OpDef {
        OpDef(name, inputs: ["x: T", "y: T"], outputs: ["z: bool"],
              attrs: [.type("T", types)] + (equality ? [.bool("incompatible_shape_error", default: true)] : []),
              traits: equality ? [.elementwise, .commutative] : .elementwise,
              gradient: .notDifferentiable, shape: Shapes.broadcast)
    }

    static let comparisons: [OpDef] = [
        comparison("Equal", DType.all, equality: true),
        comparison("NotEqual", DType.all, equality: true),
        comparison("Less", DType.numeric),
        comparison("LessEqual", DType.numeric),
        comparison("Greater", DType.numeric),
        comparison("GreaterEqual", DType.numeric),
    ]

    static let logical: [OpDef] = [
        OpDef("LogicalAnd", inputs: ["x: bool", "y: bool"], outputs: ["z: bool"],
              traits: [.elementwise, .commutative], gradient: .notDifferentiable, shape: Shapes.broadcast),
        OpDef("LogicalOr", inputs: ["x: bool", "y: bool"], outputs: ["z: bool"],
              traits: [.elementwise, .commutative], gradient: .notDifferentiable, shape: Shapes.broadcast),
        OpDef("LogicalNot", inputs: ["x: bool"], outputs: ["y: bool"],
              traits: .elementwise, gradient: .notDifferentiable, shape: Shapes.unchanged),
    ]

    /// `y = f(x)` elementwise; shape unchanged.
    static func unaryOp(_ name: String, _ types: [DType], gradient: GradientSlot = .pending) -> OpDef {
        OpDef(name, inputs: ["x: T"], outputs: ["y: T"], attrs: [.type("T", types)],
              traits: .elementwise, gradient: gradient, shape: Shapes.unchanged)
    }

    static let unary: [OpDef] = [
        unaryOp("Neg", DType.signedNumeric),
        unaryOp("Abs", DType.signedNumeric),
        unaryOp("Sign", DType.signedNumeric),
        unaryOp("Exp", DType.floatingPoint),
        unaryOp("Log", DType.floatingPoint),
        unaryOp("Log1p", DType.floatingPoint),
        unaryOp("Sqrt", DType.floatingPoint),
        unaryOp("Rsqrt", DType.floatingPoint),
        unaryOp("Square", DType.numeric),
        unaryOp("Reciprocal", DType.signedNumeric),
        unaryOp("Erf", DType.floatingPoint),
        unaryOp("Erfc", DType.floatingPoint),
        unaryOp("Floor", DType.floatingPoint, gradient: .notDifferentiable),
        unaryOp("Ceil", DType.floatingPoint, gradient: .notDifferentiable),
        unaryOp("Round", DType.signedNumeric, gradient: .notDifferentiable),
    ]
}

extension MathOps {
    /// `z = f'(y)·dy` from an op's output `y` and its incoming gradient `dy` (TF's
    /// `SigmoidGrad`, `TanhGrad`, `SqrtGrad`, `RsqrtGrad`, `ReciprocalGrad`).
    static func unaryGradient(_ name: String) -> OpDef {
        OpDef(name, inputs: ["y: T", "dy: T"], outputs: ["z: T"], attrs: [.type("T", DType.floatingPoint)],
              traits: .elementwise, gradient: .notDifferentiable, shape: Shapes.broadcast)
    }

    static let unaryGradients: [OpDef] = ["SigmoidGrad", "TanhGrad", "SqrtGrad", "RsqrtGrad", "ReciprocalGrad"].map(unaryGradient)

    /// Gradients, with TF's formulas (`math_grad.py`).
    static let gradients: [String: GradientFunction] = [
        "AddV2": { c in try c.reduce(c.grad(), to: c.inputs[0], broadcastWith: c.inputs[1]) },
        "Add": { c in try c.reduce(c.grad(), to: c.inputs[0], broadcastWith: c.inputs[1]) },
        "Sub": { c in try c.reducePair(c.grad(), negative(c.grad()), c.inputs[0], c.inputs[1]) },
        "Mul": { c in
            let g = try c.grad(), (x, y) = (c.inputs[0], c.inputs[1])
            return try c.reducePair(multiply(g, y), multiply(x, g), x, y)
        },
        "RealDiv": { c in
            let g = try c.grad(), (x, y) = (c.inputs[0], c.inputs[1])
            return try c.reducePair(divide(g, y), multiply(g, divide(divide(negative(x), y), y)), x, y)
        },
        "FloorMod": { c in
            let g = try c.grad(), (x, y) = (c.inputs[0], c.inputs[1])
            return try c.reducePair(g, multiply(g, negative(floorDiv(x, y))), x, y)
        },
        "Maximum": { c in try minMaxGradient(c, keepX: greaterEqual) },
        "Minimum": { c in try minMaxGradient(c, keepX: lessEqual) },
        "Pow": { c in
            let g = try c.grad(), (x, y, z) = (c.inputs[0], c.inputs[1], c.outputs[0])
            let one = try x.scalarLike(1, file: "", line: 0), zero = try x.scalarLike(0, file: "", line: 0)
            let gx = try multiply(g, multiply(y, pow(x, subtract(y, one))))
            // log(x) where x > 0, else 0 (TF's convention).
            let safeLog = try `where`(greater(x, zero), log(`where`(greater(x, zero), x, onesLike(x))), zerosLike(x))
            return try c.reducePair(gx, multiply(g, multiply(z, safeLog)), x, y)
        },
        "SquaredDifference": { c in
            let g = try c.grad(), (x, y) = (c.inputs[0], c.inputs[1])
            let gx = try multiply(multiply(g, x.scalarLike(2, file: "", line: 0)), subtract(x, y))
            return try c.reducePair(gx, negative(gx), x, y)
        },
        "AddN": { c in try c.inputs.map { _ in try c.grad() } },
        "Neg": { c in [try negative(c.grad())] },
        "Abs": { c in [try multiply(c.grad(), sign(c.inputs[0]))] },
        "Sign": { c in [try zerosLike(c.inputs[0])] },
        "Exp": { c in [try multiply(c.grad(), c.outputs[0])] },
        "Log": { c in [try multiply(c.grad(), reciprocal(c.inputs[0]))] },
        "Log1p": { c in [try multiply(c.grad(), reciprocal(add(c.inputs[0], c.inputs[0].scalarLike(1, file: "", line: 0))))] },
        "Sqrt": { c in [try c.graph.output("SqrtGrad", [c.outputs[0], c.grad()], name: "SqrtGrad", file: "", line: 0)] },
        "Rsqrt": { c in [try c.graph.output("RsqrtGrad", [c.outputs[0], c.grad()], name: "RsqrtGrad", file: "", line: 0)] },
        "Reciprocal": { c in [try c.graph.output("ReciprocalGrad", [c.outputs[0], c.grad()], name: "ReciprocalGrad", file: "", line: 0)] },
        "Square": { c in [try multiply(c.grad(), multiply(c.inputs[0], c.inputs[0].scalarLike(2, file: "", line: 0)))] },
        "Erf": { c in
            let x = c.inputs[0], k = try x.scalarLike(2 / Double.pi.squareRoot(), file: "", line: 0)
            return [try multiply(c.grad(), multiply(k, exp(negative(square(x)))))]
        },
        "Erfc": { c in
            let x = c.inputs[0], k = try x.scalarLike(-2 / Double.pi.squareRoot(), file: "", line: 0)
            return [try multiply(c.grad(), multiply(k, exp(negative(square(x)))))]
        },
        "Select": { c in
            let g = try c.grad(), zeros = try zerosLike(g), cond = c.inputs[0]
            return [nil, try select(cond, g, zeros), try select(cond, zeros, g)]
        },
        "SelectV2": { c in
            let g = try c.grad(), (cond, t, e) = (c.inputs[0], c.inputs[1], c.inputs[2])
            let zeros = try zerosLike(g)
            return [nil, try c.reduce(`where`(cond, g, zeros), toShapeOf: t), try c.reduce(`where`(cond, zeros, g), toShapeOf: e)]
        },
        "Cast": { c in
            let src = c.inputs[0].dtype, dst = c.outputs[0].dtype
            guard src.isFloatingPoint && dst.isFloatingPoint else { return [nil] }
            return [try cast(c.grad(), to: src)]
        },
    ]

    /// `Maximum`/`Minimum`: the gradient goes to the side that was selected (`x` on ties).
    static func minMaxGradient(_ c: GradientContext, keepX: (Output, Output, String?, String, Int) throws -> Output) throws -> [Output?] {
        let g = try c.grad(), (x, y) = (c.inputs[0], c.inputs[1])
        let zeros = try zerosLike(g), mask = try keepX(x, y, nil, "", 0)
        return try c.reducePair(`where`(mask, g, zeros), `where`(mask, zeros, g), x, y)
    }
}

// MARK: - Builders (TF Python names)

@inline(__always)
private func binary(_ op: String, _ x: some TensorOperand, _ y: some TensorOperand, _ name: String?, _ file: String,
                    _ line: Int) throws -> Output {
    let (a, b): (Output, Output)
    switch (x as? Output, y as? Output) {
    case let (l?, r?): (a, b) = (l, r)
    case let (l?, nil): (a, b) = (l, try y.constant(like: l, file: file, line: line))
    case let (nil, r?): (a, b) = (try x.constant(like: r, file: file, line: line), r)
    case (nil, nil):
        throw SomaError.invalidArgument("\(op) needs a tensor on at least one side, got \(x) and \(y) (at \(file):\(line))")
    }
    return try a.graph.output(op, [a, b], name: name, file: file, line: line)
}

/// An operand of the binary op builders: a tensor, or a Swift number or Bool that becomes
/// a scalar constant of the other operand's dtype (`greater(x, 0)`, `multiply(0.5, x)`).
public protocol TensorOperand {
    /// The operand as a tensor to combine with `other`.
    func constant(like other: Output, file: String, line: Int) throws -> Output
}

extension Output: TensorOperand {
    public func constant(like other: Output, file: String, line: Int) throws -> Output { self }
}

extension Double: TensorOperand {
    public func constant(like other: Output, file: String, line: Int) throws -> Output {
        try other.scalarLike(self, file: file, line: line)
    }
}

extension Float: TensorOperand {
    public func constant(like other: Output, file: String, line: Int) throws -> Output {
        try other.scalarLike(Double(self), file: file, line: line)
    }
}

extension Int: TensorOperand {
    public func constant(like other: Output, file: String, line: Int) throws -> Output {
        try other.scalarLike(Double(self), file: file, line: line)
    }
}

extension Bool: TensorOperand {
    public func constant(like other: Output, file: String, line: Int) throws -> Output {
        try other.graph.constant(self, file: file, line: line)
    }
}

@inline(__always)
private func unary(_ op: String, _ x: Output, _ name: String?, _ file: String, _ line: Int) throws -> Output {
    try x.graph.output(op, [x], name: name, file: file, line: line)
}

/// `x + y` with broadcasting (`AddV2`).
public func add(_ x: some TensorOperand, _ y: some TensorOperand, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try binary("AddV2", x, y, name, file, line)
}
/// `x - y` with broadcasting (`Sub`).
public func subtract(_ x: some TensorOperand, _ y: some TensorOperand, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try binary("Sub", x, y, name, file, line)
}
/// `x * y` with broadcasting (`Mul`).
public func multiply(_ x: some TensorOperand, _ y: some TensorOperand, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try binary("Mul", x, y, name, file, line)
}
/// `x / y` with broadcasting (`RealDiv`; integer inputs divide truncating toward zero).
public func divide(_ x: some TensorOperand, _ y: some TensorOperand, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try binary("RealDiv", x, y, name, file, line)
}
/// `floor(x / y)` (`FloorDiv`).
public func floorDiv(_ x: some TensorOperand, _ y: some TensorOperand, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try binary("FloorDiv", x, y, name, file, line)
}
/// `x - floor(x / y) * y`, with the sign of `y` (`FloorMod`, Python's `%`).
public func floorMod(_ x: some TensorOperand, _ y: some TensorOperand, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try binary("FloorMod", x, y, name, file, line)
}
/// `max(x, y)` elementwise (`Maximum`); NaN propagates.
public func maximum(_ x: some TensorOperand, _ y: some TensorOperand, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try binary("Maximum", x, y, name, file, line)
}
/// `min(x, y)` elementwise (`Minimum`); NaN propagates.
public func minimum(_ x: some TensorOperand, _ y: some TensorOperand, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try binary("Minimum", x, y, name, file, line)
}
/// `x ** y` (`Pow`).
public func pow(_ x: some TensorOperand, _ y: some TensorOperand, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try binary("Pow", x, y, name, file, line)
}
/// `(x - y)²` (`SquaredDifference`).
public func squaredDifference(_ x: some TensorOperand, _ y: some TensorOperand, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try binary("SquaredDifference", x, y, name, file, line)
}

/// `x == y` as bool (`Equal`).
public func equal(_ x: some TensorOperand, _ y: some TensorOperand, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try binary("Equal", x, y, name, file, line)
}
/// `x != y` as bool (`NotEqual`).
public func notEqual(_ x: some TensorOperand, _ y: some TensorOperand, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try binary("NotEqual", x, y, name, file, line)
}
/// `x < y` as bool (`Less`).
public func less(_ x: some TensorOperand, _ y: some TensorOperand, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try binary("Less", x, y, name, file, line)
}
/// `x <= y` as bool (`LessEqual`).
public func lessEqual(_ x: some TensorOperand, _ y: some TensorOperand, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try binary("LessEqual", x, y, name, file, line)
}
/// `x > y` as bool (`Greater`).
public func greater(_ x: some TensorOperand, _ y: some TensorOperand, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try binary("Greater", x, y, name, file, line)
}
/// `x >= y` as bool (`GreaterEqual`).
public func greaterEqual(_ x: some TensorOperand, _ y: some TensorOperand, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try binary("GreaterEqual", x, y, name, file, line)
}
/// `x && y` (`LogicalAnd`).
public func logicalAnd(_ x: some TensorOperand, _ y: some TensorOperand, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try binary("LogicalAnd", x, y, name, file, line)
}
/// `x || y` (`LogicalOr`).
public func logicalOr(_ x: some TensorOperand, _ y: some TensorOperand, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try binary("LogicalOr", x, y, name, file, line)
}
/// `!x` (`LogicalNot`).
public func logicalNot(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try unary("LogicalNot", x, name, file, line)
}

/// `condition ? x : y` elementwise, all three broadcast together (`SelectV2`, TF2's `tf.where`).
public func `where`(_ condition: Output, _ x: Output, _ y: Output, name: String? = nil,
                    file: String = #fileID, line: Int = #line) throws -> Output {
    try condition.graph.output("SelectV2", [condition, x, y], name: name, file: file, line: line)
}

/// TF1's `tf.where(condition, x, y)` (`Select`): `x` and `y` of one shape; `condition` a
/// scalar, of that shape, or a vector choosing rows.
public func select(_ condition: Output, _ x: Output, _ y: Output, name: String? = nil,
                   file: String = #fileID, line: Int = #line) throws -> Output {
    try condition.graph.output("Select", [condition, x, y], name: name, file: file, line: line)
}

/// `x` converted to `dtype` (`Cast`): floats to integers truncate toward zero and
/// saturate (NaN becomes 0); integers wrap; nonzero becomes `true`.
public func cast(_ x: Output, to dtype: DType, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try x.graph.output("Cast", [x], attrs: ["DstT": .type(dtype)], name: name, file: file, line: line)
}

/// `-x` (`Neg`).
public func negative(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try unary("Neg", x, name, file, line)
}
/// `|x|` (`Abs`).
public func abs(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try unary("Abs", x, name, file, line)
}
/// `-1`, `0` or `1` by the sign of `x` (`Sign`) — also the classic *sign* activation.
public func sign(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try unary("Sign", x, name, file, line)
}
/// `eˣ` (`Exp`).
public func exp(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try unary("Exp", x, name, file, line)
}
/// `ln x` (`Log`).
public func log(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try unary("Log", x, name, file, line)
}
/// `ln(1 + x)`, accurate near zero (`Log1p`).
public func log1p(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try unary("Log1p", x, name, file, line)
}
/// `√x` (`Sqrt`).
public func sqrt(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try unary("Sqrt", x, name, file, line)
}
/// `1/√x` (`Rsqrt`).
public func rsqrt(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try unary("Rsqrt", x, name, file, line)
}
/// `x²` (`Square`).
public func square(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try unary("Square", x, name, file, line)
}
/// `1/x` (`Reciprocal`).
public func reciprocal(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try unary("Reciprocal", x, name, file, line)
}
/// The Gauss error function (`Erf`).
public func erf(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try unary("Erf", x, name, file, line)
}
/// The complementary error function `1 − erf(x)`, accurate where erf(x) ≈ 1 (`Erfc`).
public func erfc(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try unary("Erfc", x, name, file, line)
}
/// `⌊x⌋` (`Floor`).
public func floor(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try unary("Floor", x, name, file, line)
}
/// `⌈x⌉` (`Ceil`).
public func ceil(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try unary("Ceil", x, name, file, line)
}
/// `x` rounded to the nearest integer, ties to even (`Round`).
public func round(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try unary("Round", x, name, file, line)
}

// MARK: - Operators

/// Operators on symbolic tensors. Swift operators cannot see their call site, so nodes
/// they create carry no source location; use the named functions for that.
extension Output {
    public static func + (x: Output, y: Output) throws -> Output { try add(x, y, name: "add", file: "", line: 0) }
    public static func - (x: Output, y: Output) throws -> Output { try subtract(x, y, name: "sub", file: "", line: 0) }
    public static func * (x: Output, y: Output) throws -> Output { try multiply(x, y, name: "mul", file: "", line: 0) }
    public static func / (x: Output, y: Output) throws -> Output { try divide(x, y, name: "truediv", file: "", line: 0) }
    public static prefix func - (x: Output) throws -> Output { try negative(x, name: "Neg", file: "", line: 0) }

    // A Swift number on either side becomes a constant of the other operand's dtype.
    public static func + (x: Output, y: Double) throws -> Output { try add(x, x.scalarLike(y, file: "", line: 0), name: "add", file: "", line: 0) }
    public static func + (x: Double, y: Output) throws -> Output { try add(y.scalarLike(x, file: "", line: 0), y, name: "add", file: "", line: 0) }
    public static func - (x: Output, y: Double) throws -> Output { try subtract(x, x.scalarLike(y, file: "", line: 0), name: "sub", file: "", line: 0) }
    public static func - (x: Double, y: Output) throws -> Output { try subtract(y.scalarLike(x, file: "", line: 0), y, name: "sub", file: "", line: 0) }
    public static func * (x: Output, y: Double) throws -> Output { try multiply(x, x.scalarLike(y, file: "", line: 0), name: "mul", file: "", line: 0) }
    public static func * (x: Double, y: Output) throws -> Output { try multiply(y.scalarLike(x, file: "", line: 0), y, name: "mul", file: "", line: 0) }
    public static func / (x: Output, y: Double) throws -> Output { try divide(x, x.scalarLike(y, file: "", line: 0), name: "truediv", file: "", line: 0) }
    public static func / (x: Double, y: Output) throws -> Output { try divide(y.scalarLike(x, file: "", line: 0), y, name: "truediv", file: "", line: 0) }
}
