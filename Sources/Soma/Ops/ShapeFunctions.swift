/// Shape functions shared by many ops.
enum Shapes {
    /// Output 0 has the shape of input 0.
    static let unchanged: ShapeFunction = { c in [c.shape(0)] }

    /// A scalar output.
    static let scalar: ShapeFunction = { _ in [.scalar] }

    /// No outputs.
    static let none: ShapeFunction = { _ in [] }

    /// NumPy broadcasting of all inputs.
    static let broadcast: ShapeFunction = { c in
        var result = c.shape(0)
        for i in 1..<c.inputCount { result = try broadcastShapes(result, c.shape(i)) }
        return [result]
    }

    /// NumPy broadcasting of two partial shapes, with TF's handling of unknown dimensions.
    static func broadcastShapes(_ x: TensorShape, _ y: TensorShape) throws -> TensorShape {
        guard let a = x.dimensions, let b = y.dimensions else { return .unknown }
        let rank = max(a.count, b.count)
        var out: [Int?] = []
        for i in 0..<rank {
            let da: Int? = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let db: Int? = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            switch (da, db) {
            case let (p?, q?):
                if p == q || q == 1 { out.append(p) }
                else if p == 1 { out.append(q) }
                else { throw ShapeError("Dimensions must be equal, but are \(p) and \(q)") }
            case let (p?, nil): out.append(p > 1 ? p : nil)
            case let (nil, q?): out.append(q > 1 ? q : nil)
            case (nil, nil): out.append(nil)
            }
        }
        return TensorShape(out)
    }

    /// Concrete broadcasting (used by kernels); assumes the shapes were checked.
    static func broadcastConcrete(_ a: [Int], _ b: [Int]) throws -> [Int] {
        try broadcastShapes(TensorShape(a), TensorShape(b)).concrete!
    }

    /// The shape after reducing `axes` (input 1) of input 0.
    static func reduction(_ c: ShapeContext) throws -> [TensorShape] {
        let keepDims = c.bool("keep_dims")
        try c.withRankAtLeast(1, 0)
        if let r = c.shape(1).rank, r > 1 {
            throw ShapeError("Shape must be at most rank 1 but is rank \(r)")
        }
        guard let dims = c.shape(0).dimensions else { return [.unknown] }
        guard let axes = c.intValues(1) else {
            // Unknown axes: the rank is known only when dims are kept.
            if keepDims { return [.unknown(rank: dims.count)] }
            if c.shape(1).elementCount == 0 { return [c.shape(0)] }
            return [.unknown]
        }
        var reduced = Set<Int>()
        for a in axes {
            guard a >= -max(dims.count, 1) && a < max(dims.count, 1) else {
                throw ShapeError("Invalid reduction dimension \(a) for input with \(dims.count) dimensions.")
            }
            guard reduced.insert(a < 0 ? a + dims.count : a).inserted else {
                throw ShapeError("Invalid reduction arguments: Axes contains duplicate dimension: \(a < 0 ? a + dims.count : a)")
            }
        }
        var out: [Int?] = []
        for (i, d) in dims.enumerated() {
            if reduced.contains(i) { if keepDims { out.append(1) } } else { out.append(d) }
        }
        return [TensorShape(out)]
    }
}
