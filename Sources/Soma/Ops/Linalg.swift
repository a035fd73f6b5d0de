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
        // Sums of products over labelled dimensions ("abc,cde->abde"): one or two operands,
        // an optional ellipsis; lowered at run time to transposes, one batched GEMM and sums.
        OpDef("Einsum", inputs: ["inputs: N * T"], outputs: ["output: T"],
              attrs: [.string("equation"), .int("N", minimum: 1), .type("T", [.float32, .float64])]) { c in
            let equation = try EinsumEquation(c.string("equation"), ranks: (0..<c.inputCount).map { c.shape($0).rank })
            guard let equation else { return [.unknown] }
            let sizes = try equation.labelSizes((0..<c.inputCount).map { c.shape($0).dimensions ?? [] })
            return [TensorShape(equation.output.map { sizes[$0] ?? nil })]
        },
    ]
}

/// A parsed `Einsum` equation with its labels numbered: letters are `0..<52`, and the
/// dimensions an ellipsis stands for are `52 + j`, `j` counted from the right.
///
/// Supported as TF's `Einsum` on one or two operands, explicit (`->`) or implicit output;
/// not supported (a clear error): a label repeated within one term (a diagonal), and an
/// ellipsis whose dimensions differ between operands (broadcasting).
struct EinsumEquation: Sendable {
    /// Each operand's labels, and the output's.
    let operands: [[Int]]
    let output: [Int]
    /// The equation's terms as written, the output term made explicit (for gradients).
    let terms: [String]
    let outputTerm: String

    static let ellipsis = 52

    /// Parses `text` for operands of the given ranks; `nil` when an ellipsis needs a rank
    /// that is unknown. The op needs exactly one `->`, as TF's does; `tf.einsum`'s implicit
    /// output (no `->`) is for the builder, which writes the explicit equation.
    init?(_ text: String, ranks: [Int?], implicitOutput: Bool = false) throws {
        let sides = text.replacingOccurrences(of: " ", with: "").components(separatedBy: "->")
        guard sides.count == 2 || (implicitOutput && sides.count == 1) else {
            throw ShapeError("Expecting exactly one '->' in einsum equation: \(text)")
        }
        let terms = sides[0].components(separatedBy: ",")
        guard terms.count == ranks.count, (1...2).contains(terms.count) else {
            throw ShapeError("Einsum equation '\(text)' has \(terms.count) input terms for \(ranks.count) operands (1 or 2 supported)")
        }
        func letters(_ term: String) throws -> (before: [Int], after: [Int]?) {
            let parts = term.components(separatedBy: "...")
            guard parts.count <= 2 else { throw ShapeError("Einsum term '\(term)' has more than one ellipsis") }
            let numbered = try parts.map { part in
                try part.map { ch -> Int in
                    guard let v = ch.asciiValue, ch.isLetter else { throw ShapeError("Einsum term '\(term)' has an invalid label") }
                    return v >= 97 ? Int(v) - 97 : Int(v) - 65 + 26
                }
            }
            return (numbered[0], parts.count == 2 ? numbered[1] : nil)
        }
        let parsed = try terms.map(letters)
        // The ellipsis stands for the same number of dimensions everywhere: the most any operand has.
        var ellipsisRank = 0
        for (term, rank) in zip(parsed, ranks) where term.after != nil {
            guard let rank else { return nil }
            let explicit = term.before.count + term.after!.count
            guard rank >= explicit else { throw ShapeError("Einsum term has \(explicit) labels but its operand has rank \(rank)") }
            ellipsisRank = Swift.max(ellipsisRank, rank - explicit)
        }
        func expand(_ term: (before: [Int], after: [Int]?), rank: Int?) throws -> [Int] {
            guard let after = term.after else {
                if let rank, rank != term.before.count {
                    throw ShapeError("Einsum term has \(term.before.count) labels but its operand has rank \(rank)")
                }
                return term.before
            }
            let count = rank.map { $0 - term.before.count - after.count } ?? ellipsisRank
            return term.before + (0..<count).reversed().map { Self.ellipsis + $0 } + after
        }
        operands = try zip(parsed, ranks).map { try expand($0, rank: $1) }
        for labels in operands where Set(labels).count != labels.count {
            throw ShapeError("Einsum equation '\(text)' repeats a label within one operand (diagonals are not supported)")
        }
        if sides.count == 2 {
            let out = try letters(sides[1])
            output = try expand(out, rank: nil)
            outputTerm = sides[1]
        } else {
            // Implicit output: the ellipsis, then the letters used once, in alphabetical order.
            let all = operands.flatMap { $0 }
            let once = Set(all.filter { l in l < Self.ellipsis && all.filter { $0 == l }.count == 1 })
            let sortedOnce = once.sorted { Self.letter($0) < Self.letter($1) }
            output = (0..<ellipsisRank).reversed().map { Self.ellipsis + $0 } + sortedOnce
            outputTerm = (ellipsisRank > 0 ? "..." : "") + String(sortedOnce.map(Self.letter))
        }
        guard Set(output).count == output.count, Set(output).isSubset(of: Set(operands.flatMap { $0 })) else {
            throw ShapeError("Einsum equation '\(text)' has an output label repeated or absent from the inputs")
        }
        self.terms = terms
    }

    static func letter(_ label: Int) -> Character { Character(UnicodeScalar(UInt8(label < 26 ? 97 + label : 65 + label - 26))) }

    /// Every label's size (`nil` when unknown), checked for agreement between operands.
    func labelSizes(_ shapes: [[Int?]]) throws -> [Int: Int?] {
        var sizes: [Int: Int?] = [:]
        for (labels, dims) in zip(operands, shapes) where dims.count == labels.count {
            for (label, dim) in zip(labels, dims) {
                guard let known = sizes[label] else { sizes[label] = dim; continue }
                do { sizes[label] = try mergeDim(known, dim) } catch {
                    let name = label < Self.ellipsis ? "label '\(Self.letter(label))'" : "an ellipsis dimension"
                    throw ShapeError("Einsum \(name) has size \(known.map(String.init) ?? "?") in one operand and \(dim.map(String.init) ?? "?") in another")
                }
            }
        }
        return sizes
    }
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

/// Einstein summation (`Einsum`, TF's `tf.einsum`) of one or two operands:
/// `einsum("abc,cde->abde", [x, kernel])`. Labels in both operands and absent from the
/// output are summed; an ellipsis stands for the leading dimensions. Without `->` the output
/// is implicit, as in `tf.einsum`: the ellipsis, then the labels used once, alphabetically.
public func einsum(_ equation: String, _ operands: [Output], name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    guard let first = operands.first else { throw SomaError.invalidArgument("einsum needs at least one operand (at \(file):\(line))") }
    var explicit = equation
    if !equation.contains("->") {
        do {
            if let parsed = try EinsumEquation(equation, ranks: operands.map(\.shape.rank), implicitOutput: true) {
                explicit = parsed.terms.joined(separator: ",") + "->" + parsed.outputTerm
            }
        } catch let error as ShapeError {
            throw SomaError.invalidArgument("\(error.message) (at \(file):\(line))")
        }
    }
    return try first.graph.output("Einsum", operands, attrs: ["equation": .string(explicit)], name: name, file: file, line: line)
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
        // TF's _EinsumGrad: each operand's gradient is an einsum of the output gradient with
        // the other operand, into the operand's own term.
        "Einsum": { c in
            let text = c.node.string("equation") ?? ""
            guard let equation = try EinsumEquation(text, ranks: c.inputs.map(\.shape.rank)) else {
                throw SomaError.unimplemented("The gradient of '\(c.node.name)' (op: 'Einsum', equation '\(text)') needs its operands' ranks")
            }
            let g = try c.grad(), output = Set(equation.output)
            return try (0..<equation.operands.count).map { i in
                let others = equation.operands.indices.filter { $0 != i }
                let reachable = others.reduce(output) { $0.union(equation.operands[$1]) }
                guard Set(equation.operands[i]).isSubset(of: reachable) else {
                    throw SomaError.unimplemented(
                        "The gradient of '\(c.node.name)' (op: 'Einsum', equation '\(text)') is not supported: operand \(i) has a label summed within it")
                }
                let terms = [equation.outputTerm] + others.map { equation.terms[$0] }
                return try einsum("\(terms.joined(separator: ","))->\(equation.terms[i])", [g] + others.map { c.inputs[$0] }, file: "", line: 0)
            }
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
