/// Shape and array ops: shapes, reshaping, transposition, joining and splitting, slicing,
/// padding, tiling, filling, ranges, gathering and one-hot encoding.
enum ArrayOps {
    static let definitions: [OpDef] = [
        OpDef("Shape", inputs: ["input: T"], outputs: ["output: out_type"],
              attrs: [.type("T"), .type("out_type", DType.indices, default: .int32)], gradient: .notDifferentiable) { c in
            [TensorShape([c.shape(0).rank])]
        },
        // Where each of N concatenated shapes starts in the result (TF's ConcatV2 gradient):
        // offset[i] is zero except along concat_dim, the sum of the earlier sizes there.
        OpDef("ConcatOffset", inputs: ["concat_dim: int32", "shape: N * shape_type"], outputs: ["offset: N * shape_type"],
              attrs: [.int("N", minimum: 2), .type("shape_type", DType.indices, default: .int32)],
              gradient: .notDifferentiable) { c in
            try c.scalarInput(0)
            return (1..<c.inputCount).map { c.shape($0) }
        },
        // The shapes of N tensors at once (TF's convolution gradients use it).
        OpDef("ShapeN", inputs: ["input: N * T"], outputs: ["output: N * out_type"],
              attrs: [.int("N", minimum: 1), .type("T"), .type("out_type", DType.indices, default: .int32)],
              gradient: .notDifferentiable) { c in
            (0..<c.inputCount).map { TensorShape([c.shape($0).rank]) }
        },
        OpDef("Size", inputs: ["input: T"], outputs: ["output: out_type"],
              attrs: [.type("T"), .type("out_type", DType.indices, default: .int32)], gradient: .notDifferentiable,
              shape: Shapes.scalar),
        OpDef("Rank", inputs: ["input: T"], outputs: ["output: int32"], attrs: [.type("T")],
              gradient: .notDifferentiable, shape: Shapes.scalar),
        OpDef("Reshape", inputs: ["tensor: T", "shape: Tshape"], outputs: ["output: T"],
              attrs: [.type("T"), .type("Tshape", DType.indices, default: .int32)], traits: .forwardsInput, shape: reshapeShape),
        OpDef("ExpandDims", inputs: ["input: T", "dim: Tdim"], outputs: ["output: T"],
              attrs: [.type("T"), .type("Tdim", DType.indices, default: .int32)], traits: .forwardsInput) { c in
            guard let axis = c.intValues(1) else { return [.unknown] }
            guard axis.count == 1 else { throw ShapeError("'dim' input must be a tensor with a single value") }
            guard var dims = c.shape(0).dimensions else { return [.unknown] }
            let a = axis[0]
            guard a >= -dims.count - 1 && a <= dims.count else {
                throw ShapeError("Tried to expand dim index \(a) for tensor with \(dims.count) dimensions.")
            }
            dims.insert(1, at: a < 0 ? a + dims.count + 1 : a)
            return [TensorShape(dims)]
        },
        OpDef("Squeeze", inputs: ["input: T"], outputs: ["output: T"],
              attrs: [.type("T"), .ints("squeeze_dims", default: [])], traits: .forwardsInput) { c in
            guard let dims = c.shape(0).dimensions else { return [.unknown] }
            let requested = try Set(c.ints("squeeze_dims").map {
                try canonicalAxis($0, rank: dims.count, what: "Tried to squeeze dim index")
            })
            var out: [Int?] = []
            for (i, d) in dims.enumerated() {
                if requested.isEmpty {
                    guard let d else { return [.unknown] }
                    if d != 1 { out.append(d) }
                } else if requested.contains(i) {
                    if let d, d != 1 {
                        throw ShapeError("Can not squeeze dim[\(i)], expected a dimension of 1, got \(d)")
                    }
                } else {
                    out.append(d)
                }
            }
            return [TensorShape(out)]
        },
        OpDef("InvertPermutation", inputs: ["x: T"], outputs: ["y: T"], attrs: [.type("T", DType.indices, default: .int32)],
              gradient: .notDifferentiable) { c in
            try c.withRank(0, 1)
            return [c.shape(0)]
        },
        OpDef("Transpose", inputs: ["x: T", "perm: Tperm"], outputs: ["y: T"],
              attrs: [.type("T"), .type("Tperm", DType.indices, default: .int32)]) { c in
            try c.withRank(1, 1)
            let rank = c.shape(0).rank ?? c.shape(1)[0] ?? nil
            guard let perm = c.intValues(1) else { return [try rank.map(unknownShape) ?? .unknown] }
            guard let dims = c.shape(0).dimensions else { return [.unknown(rank: perm.count)] }
            guard perm.count == dims.count else {
                throw ShapeError("Dimension must be \(dims.count) but is \(perm.count)")
            }
            guard Set(perm) == Set(0..<dims.count) else {
                throw ShapeError("perm \(perm) is not a permutation of [0, \(dims.count))")
            }
            return [TensorShape(perm.map { dims[$0] })]
        },
        OpDef("ConcatV2", inputs: ["values: N * T", "axis: Tidx"], outputs: ["output: T"],
              attrs: [.int("N", minimum: 2), .type("T"), .type("Tidx", DType.indices, default: .int32)], shape: concatShape),
        OpDef("Pack", inputs: ["values: N * T"], outputs: ["output: T"],
              attrs: [.int("N", minimum: 1), .type("T", DType.all + [.string]), .int("axis", default: 0)]) { c in
            var merged = c.shape(0)
            for i in 1..<c.inputCount {
                guard let m = merged.merged(with: c.shape(i)) else {
                    throw ShapeError("Shapes of all inputs must match: values[0].shape = \(c.shape(0)) != values[\(i)].shape = \(c.shape(i))")
                }
                merged = m
            }
            guard var dims = merged.dimensions else { return [.unknown] }
            let axis = try canonicalAxis(c.int("axis"), rank: dims.count + 1)
            dims.insert(c.inputCount, at: axis)
            return [TensorShape(dims)]
        },
        OpDef("Unpack", inputs: ["value: T"], outputs: ["output: num * T"],
              attrs: [.int("num", minimum: 0), .type("T"), .int("axis", default: 0)]) { c in
            let num = c.int("num")
            guard var dims = c.shape(0).dimensions else { return Array(repeating: .unknown, count: num) }
            let axis = try canonicalAxis(c.int("axis"), rank: dims.count)
            if let d = dims[axis], d != num { throw ShapeError("Dimension must be \(num) but is \(d)") }
            dims.remove(at: axis)
            return Array(repeating: TensorShape(dims), count: num)
        },
        OpDef("Split", inputs: ["split_dim: int32", "value: T"], outputs: ["output: num_split * T"],
              attrs: [.int("num_split", minimum: 1), .type("T")]) { c in
            let n = c.int("num_split")
            try c.scalarInput(0)
            guard let dims = c.shape(1).dimensions, let axisValue = c.intValues(0)?.first else {
                return Array(repeating: c.shape(1).rank.map { .unknown(rank: $0) } ?? .unknown, count: n)
            }
            let axis = try canonicalAxis(axisValue, rank: dims.count, what: "split_dim")
            var out = dims
            if let d = dims[axis] {
                guard d % n == 0 else { throw ShapeError("Dimension size must be evenly divisible by \(n) but is \(d)") }
                out[axis] = d / n
            }
            return Array(repeating: TensorShape(out), count: n)
        },
        OpDef("SplitV", inputs: ["value: T", "size_splits: Tlen", "split_dim: int32"], outputs: ["output: num_split * T"],
              attrs: [.int("num_split", minimum: 1), .type("T"), .type("Tlen", DType.indices, default: .int64)],
              shape: splitVShape),
        OpDef("Slice", inputs: ["input: T", "begin: Index", "size: Index"], outputs: ["output: T"],
              attrs: [.type("T"), .type("Index", DType.indices)], shape: sliceShape),
        OpDef("StridedSlice", inputs: ["input: T", "begin: Index", "end: Index", "strides: Index"], outputs: ["output: T"],
              attrs: [.type("T"), .type("Index", DType.indices), .int("begin_mask", default: 0), .int("end_mask", default: 0),
                      .int("ellipsis_mask", default: 0), .int("new_axis_mask", default: 0), .int("shrink_axis_mask", default: 0)]) { c in
            guard let b = c.intValues(1), let e = c.intValues(2), let s = c.intValues(3),
                  let dims = c.shape(0).dimensions else { return [.unknown] }
            return [TensorShape(try StridedSliceSpec(inputShape: dims, begin: b, end: e, strides: s, attrs: c.attrs).finalShape)]
        },
        // The gradient of StridedSlice: `dy` scattered into zeros of shape `shape`.
        OpDef("StridedSliceGrad", inputs: ["shape: Index", "begin: Index", "end: Index", "strides: Index", "dy: T"],
              outputs: ["output: T"],
              attrs: [.type("T"), .type("Index", DType.indices), .int("begin_mask", default: 0), .int("end_mask", default: 0),
                      .int("ellipsis_mask", default: 0), .int("new_axis_mask", default: 0), .int("shrink_axis_mask", default: 0)],
              gradient: .notDifferentiable) { c in
            try c.withRank(0, 1)
            return [try c.shapeFromInput(0)]
        },
        OpDef("Pad", inputs: ["input: T", "paddings: Tpaddings"], outputs: ["output: T"],
              attrs: [.type("T"), .type("Tpaddings", DType.indices, default: .int32)], shape: padShape),
        OpDef("PadV2", inputs: ["input: T", "paddings: Tpaddings", "constant_values: T"], outputs: ["output: T"],
              attrs: [.type("T"), .type("Tpaddings", DType.indices, default: .int32)]) { c in
            try c.scalarInput(2)
            return try padShape(c)
        },
        OpDef("Tile", inputs: ["input: T", "multiples: Tmultiples"], outputs: ["output: T"],
              attrs: [.type("T"), .type("Tmultiples", DType.indices, default: .int32)]) { c in
            try c.withRank(1, 1)
            guard let dims = c.shape(0).dimensions else { return [.unknown] }
            guard let m = c.intValues(1) else { return [.unknown(rank: dims.count)] }
            guard m.count == dims.count else {
                throw ShapeError("Expected multiples argument to be a vector of length \(dims.count) but got length \(m.count)")
            }
            for (i, k) in m.enumerated() where k < 0 { throw ShapeError("Expected multiples[\(i)] >= 0, but got \(k)") }
            return [TensorShape(try zip(dims, m).map { d, k in try d.map { try multiplyDims($0, k) } })]
        },
        OpDef("Fill", inputs: ["dims: index_type", "value: T"], outputs: ["output: T"],
              attrs: [.type("T"), .type("index_type", DType.indices, default: .int32)]) { c in
            try c.withRank(0, 1)
            guard c.shape(1).rank ?? 0 == 0 else { throw ShapeError("value must be a scalar") }
            return [try c.shapeFromInput(0)]
        },
        OpDef("ZerosLike", inputs: ["x: T"], outputs: ["y: T"], attrs: [.type("T", DType.all + [.variant])],
              gradient: .notDifferentiable, shape: Shapes.unchanged),
        OpDef("OnesLike", inputs: ["x: T"], outputs: ["y: T"], attrs: [.type("T")],
              gradient: .notDifferentiable, shape: Shapes.unchanged),
        OpDef("Range", inputs: ["start: Tidx", "limit: Tidx", "delta: Tidx"], outputs: ["output: Tidx"],
              attrs: [.type("Tidx", DType.signedNumeric, default: .int32)], gradient: .notDifferentiable) { c in
            for i in 0..<3 where c.shape(i).rank ?? 0 != 0 {
                throw ShapeError("\(["start", "limit", "delta"][i]) must be a scalar, not shape \(c.shape(i))")
            }
            guard let s = c.value(0), let l = c.value(1), let d = c.value(2) else { return [.unknown(rank: 1)] }
            return [TensorShape([try rangeCount(start: s, limit: l, delta: d)])]
        },
        OpDef("GatherV2", inputs: ["params: Tparams", "indices: Tindices", "axis: Taxis"], outputs: ["output: Tparams"],
              attrs: [.int("batch_dims", default: 0), .type("Tparams"), .type("Tindices", DType.indices),
                      .type("Taxis", DType.indices)], shape: gatherShape),
        OpDef("OneHot", inputs: ["indices: TI", "depth: int32", "on_value: T", "off_value: T"], outputs: ["output: T"],
              attrs: [.int("axis", default: -1), .type("T"), .type("TI", [.uint8, .int32, .int64], default: .int64)],
              gradient: .notDifferentiable) { c in
            try c.scalarInput(1); try c.scalarInput(2); try c.scalarInput(3)
            let axis = c.int("axis")
            guard axis >= -1 else { throw ShapeError("axis must be >= -1, but got \(axis)") }
            guard var dims = c.shape(0).dimensions else { return [.unknown] }
            var depth: Int? = nil
            if let d = c.intValues(1)?.first {
                guard d >= 0 else { throw ShapeError("depth must be non-negative, got: \(d)") }
                depth = d
            }
            guard axis <= dims.count else { throw ShapeError("axis \(axis) is out of range for indices of rank \(dims.count)") }
            dims.insert(depth, at: axis == -1 ? dims.count : axis)
            return [TensorShape(dims)]
        },
        OpDef("BroadcastTo", inputs: ["input: T", "shape: Tidx"], outputs: ["output: T"],
              attrs: [.type("T"), .type("Tidx", DType.indices, default: .int32)]) { c in
            let target = try c.shapeFromInput(1)
            guard let t = target.dimensions, let x = c.shape(0).dimensions else { return [target] }
            guard x.count <= t.count else {
                throw ShapeError("Unable to broadcast tensor of shape \(c.shape(0)) to tensor of shape \(target)")
            }
            for (i, d) in x.enumerated() {
                let o = t[t.count - x.count + i]
                if let d, let o, d != o && d != 1 {
                    throw ShapeError("Unable to broadcast tensor of shape \(c.shape(0)) to tensor of shape \(target)")
                }
            }
            return [target]
        },
        // The axes to sum a broadcast gradient over, for each of two shapes:
        // BroadcastGradientArgs([2, 3, 1], [3, 4]) = ([2], [0]).
        OpDef("BroadcastGradientArgs", inputs: ["s0: T", "s1: T"], outputs: ["r0: T", "r1: T"],
              attrs: [.type("T", DType.indices, default: .int32)], gradient: .notDifferentiable) { c in
            try c.withRank(0, 1)
            try c.withRank(1, 1)
            if let a = c.intValues(0), let b = c.intValues(1) {
                let (r0, r1) = try broadcastGradientArgs(a, b)
                return [TensorShape([r0.count]), TensorShape([r1.count])]
            }
            return [.unknown(rank: 1), .unknown(rank: 1)]
        },
    ]

    /// The reduction axes of BroadcastGradientArgs: for each operand, the output axes
    /// where it was broadcast (absent, or 1 against a larger size).
    static func broadcastGradientArgs(_ a: [Int], _ b: [Int]) throws -> ([Int], [Int]) {
        let rank = Swift.max(a.count, b.count)
        var r0: [Int] = [], r1: [Int] = []
        for i in 0..<rank {
            let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            guard da == db || da == 1 || db == 1 else {
                throw ShapeError("Incompatible shapes: [\(a.map(String.init).joined(separator: ","))] vs. [\(b.map(String.init).joined(separator: ","))]")
            }
            // Axes an operand lacks, or has as 1 against a larger size, are summed over.
            if i < rank - a.count || (da == 1 && db != 1) { r0.append(i) }
            if i < rank - b.count || (db == 1 && da != 1) { r1.append(i) }
        }
        return (r0, r1)
    }

    // MARK: Shape functions

    static func reshapeShape(_ c: ShapeContext) throws -> [TensorShape] {
        let inputCount = c.shape(0).elementCount
        guard let requested = c.intValues(1) else {
            let partial = try c.shapeFromInput(1)
            if let dims = partial.dimensions, let n = inputCount {
                // One unknown dimension can still be solved from the element count.
                let known = dims.compactMap { $0 }
                if dims.count - known.count == 1, let product = checkedProduct(known), product > 0 {
                    return [TensorShape(dims.map { $0 ?? n / product })]
                }
            }
            return [partial]
        }
        try c.withRank(1, 1)
        let wildcards = requested.indices.filter { requested[$0] == -1 }
        guard wildcards.count <= 1 else {
            throw ShapeError("Only one input size may be -1, not both \(wildcards[0]) and \(wildcards[1])")
        }
        for d in requested where d < -1 { throw ShapeError("Size \(d) must be non-negative, not \(d)") }
        guard let knownProduct = checkedProduct(requested.filter { $0 != -1 }) else {
            throw ShapeError("Shape \(shapeString(requested)) has more elements than can be represented")
        }
        guard let n = inputCount else {
            return [TensorShape(requested.map { $0 == -1 ? nil : $0 })]
        }
        if let w = wildcards.first {
            guard knownProduct > 0, n % knownProduct == 0 else {
                throw ShapeError("Cannot reshape a tensor with \(n) elements to shape \(shapeString(requested))"
                                 + " (\(knownProduct) elements)")
            }
            var out = requested
            out[w] = n / knownProduct
            return [TensorShape(out)]
        }
        guard knownProduct == n else {
            throw ShapeError("Cannot reshape a tensor with \(n) elements to shape \(shapeString(requested)) (\(knownProduct) elements)")
        }
        return [TensorShape(requested)]
    }

    static func concatShape(_ c: ShapeContext) throws -> [TensorShape] {
        let n = c.inputCount - 1
        try c.scalarInput(n)
        let ranks = (0..<n).compactMap { c.shape($0).rank }
        guard let axisValue = c.intValues(n)?.first else {
            return [ranks.first.map { .unknown(rank: $0) } ?? .unknown]
        }
        guard let first = (0..<n).first(where: { c.shape($0).rank != nil }) else { return [.unknown] }
        var out = c.shape(first).dimensions!
        guard !out.isEmpty else { throw ShapeError("Can't concatenate scalars (use tf.stack instead)") }
        let axis = try canonicalAxis(axisValue, rank: out.count, what: "ConcatOp : Expected concatenating dimensions in the range [\(-out.count), \(out.count)), but got")
        var total: Int? = 0
        for i in 0..<n {
            guard let dims = c.shape(i).dimensions else { total = nil; continue }
            guard dims.count == out.count else {
                throw ShapeError("Shape must be rank \(out.count) but is rank \(dims.count)")
            }
            for j in dims.indices where j != axis {
                if let a = out[j], let b = dims[j], a != b {
                    throw ShapeError("Dimension \(j) in both shapes must be equal, but are \(a) and \(b). Shapes are \(TensorShape(out)) and \(c.shape(i)).")
                }
                out[j] = out[j] ?? dims[j]
            }
            if let t = total, let d = dims[axis] { total = try addDims(t, d) } else { total = nil }
        }
        out[axis] = total
        return [TensorShape(out)]
    }

    static func splitVShape(_ c: ShapeContext) throws -> [TensorShape] {
        let n = c.int("num_split")
        try c.scalarInput(2)
        guard let dims = c.shape(0).dimensions, let axisValue = c.intValues(2)?.first else {
            return Array(repeating: c.shape(0).rank.map { .unknown(rank: $0) } ?? .unknown, count: n)
        }
        let axis = try canonicalAxis(axisValue, rank: dims.count, what: "split_dim")
        guard let sizes = c.intValues(1) else {
            var out = dims
            out[axis] = nil
            return Array(repeating: TensorShape(out), count: n)
        }
        guard sizes.count == n else {
            throw ShapeError("Length of size_splits should be equal to the value of num_split (\(n)), but is \(sizes.count)")
        }
        let wildcards = sizes.indices.filter { sizes[$0] == -1 }
        guard wildcards.count <= 1 else { throw ShapeError("size_splits can contain at most one -1") }
        for s in sizes where s < -1 { throw ShapeError("size_splits must be >= -1, but contains \(s)") }
        var resolved = sizes
        let known = try sizes.filter { $0 != -1 }.reduce(0, addDims)
        if let d = dims[axis] {
            if let w = wildcards.first {
                guard known <= d else {
                    throw ShapeError("Determined shape must either match input shape along split_dim exactly if fully "
                                     + "specified, or be less than the size of the input along split_dim if not fully specified.  Got: \(known)")
                }
                resolved[w] = d - known
            } else if known != d {
                throw ShapeError("Determined shape must either match input shape along split_dim exactly if fully "
                                 + "specified, or be less than the size of the input along split_dim if not fully specified.  Got: \(known)")
            }
        }
        return resolved.map { s in
            var out = dims
            out[axis] = s == -1 ? nil : s
            return TensorShape(out)
        }
    }

    static func sliceShape(_ c: ShapeContext) throws -> [TensorShape] {
        try c.withRank(1, 1)
        try c.withRank(2, 1)
        guard let dims = c.shape(0).dimensions else { return [.unknown] }
        guard let begin = c.intValues(1), let size = c.intValues(2) else { return [.unknown(rank: dims.count)] }
        guard begin.count == dims.count, size.count == dims.count else {
            throw ShapeError("Expected begin and size arguments to be 1-D tensors of size \(dims.count), but got shapes "
                             + "[\(begin.count)] and [\(size.count)] instead.")
        }
        var out: [Int?] = []
        for i in dims.indices {
            let b = begin[i], s = size[i]
            guard let d = dims[i] else { out.append(s == -1 ? nil : s); continue }
            guard b >= 0 && b <= d else { throw ShapeError("Expected begin[\(i)] in [0, \(d)], but got \(b)") }
            let extent = s == -1 ? d - b : s
            guard extent >= 0 && extent <= d - b else {
                throw ShapeError("Expected size[\(i)] in [0, \(d - b)], but got \(s)")
            }
            out.append(extent)
        }
        return [TensorShape(out)]
    }

    static func padShape(_ c: ShapeContext) throws -> [TensorShape] {
        try c.withRank(1, 2)
        guard let dims = c.shape(0).dimensions else { return [.unknown] }
        if let p = c.shape(1).dimensions, let rows = p[0], rows != dims.count || (p[1] ?? 2) != 2 {
            throw ShapeError("The first dimension of paddings must be the rank of inputs\(dims.count), but got paddings \(c.shape(1))")
        }
        guard let pads = c.intValues(1) else { return [.unknown(rank: dims.count)] }
        for v in pads where v < 0 { throw ShapeError("Paddings must be non-negative: \(pads)") }
        return [TensorShape(try dims.enumerated().map { i, d in
            try d.map { try addDims(addDims($0, pads[2 * i]), pads[2 * i + 1]) }
        })]
    }

    static func gatherShape(_ c: ShapeContext) throws -> [TensorShape] {
        try c.scalarInput(2)
        guard let params = c.shape(0).dimensions, let indices = c.shape(1).dimensions,
              let axisValue = c.intValues(2)?.first else { return [.unknown] }
        guard !params.isEmpty else { throw ShapeError("Shape must be at least rank 1 but is rank 0") }
        let axis = try canonicalAxis(axisValue, rank: params.count, what: "Expected axis in the range [\(-params.count), \(params.count)), but got")
        var batchDims = c.int("batch_dims")
        if batchDims < 0 { batchDims += indices.count }
        guard batchDims >= 0 && batchDims <= indices.count else {
            throw ShapeError("batch_dims (\(c.int("batch_dims"))) must be in range [\(-indices.count), \(indices.count)]")
        }
        guard batchDims <= axis else { throw ShapeError("batch_dims (\(batchDims)) must be less than or equal to axis (\(axis))") }
        for i in 0..<batchDims {
            _ = try mergeDim(params[i], indices[i])
        }
        return [TensorShape(Array(params[..<axis]) + Array(indices[batchDims...]) + Array(params[(axis + 1)...]))]
    }

    /// The number of elements `Range(start, limit, delta)` produces.
    static func rangeCount(start: Tensor, limit: Tensor, delta: Tensor) throws -> Int {
        let s = start.doubleScalars()[0], l = limit.doubleScalars()[0], d = delta.doubleScalars()[0]
        guard d != 0 else { throw ShapeError("Requires delta != 0: \(d)") }
        if d > 0 { guard s <= l else { throw ShapeError("Requires start <= limit when delta > 0: \(s)/\(l)") } }
        else { guard s >= l else { throw ShapeError("Requires start >= limit when delta < 0: \(s)/\(l)") } }
        // Estimate in floating point first, so the exact integer arithmetic cannot overflow.
        let estimate = ((l - s) / d).rounded(.up)
        guard estimate.isFinite, estimate < Double(Int32.max) else {
            throw ShapeError("Requires the range to be finite and have fewer than 2^31 elements")
        }
        if start.dtype.isInteger {
            // The span as a magnitude: exact even when `limit - start` overflows Int64.
            let si = start.intScalars()![0], li = limit.intScalars()![0], di = delta.intScalars()![0]
            let span = di > 0 ? UInt64(bitPattern: Int64(li) &- Int64(si)) : UInt64(bitPattern: Int64(si) &- Int64(li))
            let step = Int64(di).magnitude
            let count = span / step + (span % step == 0 ? 0 : 1)
            guard count < UInt64(Int32.max) else {
                throw ShapeError("Requires the range to be finite and have fewer than 2^31 elements")
            }
            return Int(count)
        }
        return Int(estimate)
    }
}

/// TF's strided-slice canonicalisation: the sparse spec (with ellipsis, new axes and
/// shrinks) made dense over the input's dimensions, each dimension's begin, stride and
/// element count resolved, and the final shape.
struct StridedSliceSpec {
    /// Per input dimension: first index, stride, and element count (`nil` if unknown).
    var begin: [Int] = []
    var stride: [Int] = []
    var size: [Int?] = []
    var finalShape: [Int?] = []

    private static let newAxis = -1, shrinkAxis = -2

    init(inputShape: [Int?], begin sparseBegin: [Int], end sparseEnd: [Int], strides sparseStrides: [Int],
         attrs: [String: AttrValue]) throws {
        func mask(_ n: String) -> Int { if case .int(let v)? = attrs[n] { v } else { 0 } }
        let beginMask = mask("begin_mask"), endMask = mask("end_mask"), newAxisMask = mask("new_axis_mask")
        let shrinkMask = mask("shrink_axis_mask")
        var ellipsisMask = mask("ellipsis_mask")
        guard sparseBegin.count == sparseEnd.count, sparseEnd.count == sparseStrides.count else {
            throw ShapeError("Expected begin, end, and strides to be 1D equal size tensors, but got shapes "
                             + "[\(sparseBegin.count)], [\(sparseEnd.count)], and [\(sparseStrides.count)] instead.")
        }
        var sparseDims = sparseBegin.count
        let ellipsisBits = ellipsisMask & ((1 << sparseDims) - 1)
        guard ellipsisBits & (ellipsisBits - 1) == 0 else { throw ShapeError("Multiple ellipses in slice spec not allowed") }
        if ellipsisBits == 0 {
            // No ellipsis: one is implied at the end.
            ellipsisMask |= 1 << sparseDims
            sparseDims += 1
        }
        var addAxesAfterEllipsis = 0
        var seenEllipsis = false
        for i in 0..<sparseDims {
            if seenEllipsis && (newAxisMask >> i) & 1 == 1 { addAxesAfterEllipsis += 1 }
            if (ellipsisMask >> i) & 1 == 1 { seenEllipsis = true }
        }

        let rank = inputShape.count
        var dBegin = Array(repeating: 0, count: rank), dEnd = dBegin, dStride = Array(repeating: 1, count: rank)
        var dBeginMasked = Array(repeating: false, count: rank), dEndMasked = dBeginMasked, dShrink = dBeginMasked
        var gather: [Int] = []
        var full = 0
        for i in 0..<sparseDims {
            if (ellipsisMask >> i) & 1 == 1 {
                let next = min(rank - (sparseDims - i) + 1 + addAxesAfterEllipsis, rank)
                while full < next {
                    dBeginMasked[full] = true; dEndMasked[full] = true
                    gather.append(full)
                    full += 1
                }
            } else if (newAxisMask >> i) & 1 == 1 {
                gather.append(Self.newAxis)
            } else {
                guard full < rank else {
                    throw ShapeError("Index out of range using input dim \(full); input has only \(rank) dims")
                }
                dBegin[full] = sparseBegin[i]; dEnd[full] = sparseEnd[i]; dStride[full] = sparseStrides[i]
                dBeginMasked[full] = (beginMask >> i) & 1 == 1
                dEndMasked[full] = (endMask >> i) & 1 == 1
                if (shrinkMask >> i) & 1 == 1 {
                    dShrink[full] = true
                    gather.append(Self.shrinkAxis)
                } else {
                    gather.append(full)
                }
                full += 1
            }
        }

        for i in 0..<rank {
            let s = dStride[i]
            guard s != 0 else { throw ShapeError("strides[\(i)] must be non-zero") }
            guard let dim = inputShape[i] else {
                begin.append(0); stride.append(s); size.append(dShrink[i] ? 1 : nil)
                continue
            }
            if dShrink[i] {
                let b = dBegin[i] < 0 ? dim + dBegin[i] : dBegin[i]
                guard b >= 0 && b < dim else { throw ShapeError("slice index \(dBegin[i]) of dimension \(i) out of bounds.") }
                begin.append(b); stride.append(1); size.append(1)
                continue
            }
            let low = s > 0 ? 0 : -1, high = s > 0 ? dim : dim - 1
            func canonical(_ x: Int, masked: Bool, isBegin: Bool) -> Int {
                if masked { return (s > 0) == isBegin ? low : high }
                let fwd = x < 0 ? dim + x : x
                return Swift.min(Swift.max(fwd, low), high)
            }
            let b = canonical(dBegin[i], masked: dBeginMasked[i], isBegin: true)
            let e = canonical(dEnd[i], masked: dEndMasked[i], isBegin: false)
            let interval = e - b
            let count: Int
            if interval == 0 || (interval < 0) != (s < 0) { count = 0 }
            else { count = interval / s + (interval % s != 0 ? 1 : 0) }
            begin.append(b); stride.append(s); size.append(count)
        }
        finalShape = gather.compactMap { g in
            if g == Self.newAxis { return 1 }
            if g == Self.shrinkAxis { return nil as Int?? }
            return size[g]
        }
    }
}

// MARK: - Builders

extension ArrayOps {
    private static func constantInts(_ c: GradientContext, _ input: Int) throws -> [Int] {
        guard let values = KnownValues.constant(c.node.inputs[input])?.intScalars() else {
            throw SomaError.unimplemented(
                "The gradient of '\(c.node.name)' (op: '\(c.node.op)') needs input \(input) to be a constant")
        }
        return values
    }

    /// Gradients (TF's `array_grad.py`).
    static let gradients: [String: GradientFunction] = [
        "Reshape": { c in [try reshape(c.grad(), shape(c.inputs[0])), nil] },
        "ExpandDims": { c in [try reshape(c.grad(), shape(c.inputs[0])), nil] },
        "Squeeze": { c in [try reshape(c.grad(), shape(c.inputs[0]))] },
        "Transpose": { c in
            let perm = try constantInts(c, 1)
            var inverse = perm
            for (i, p) in perm.enumerated() { inverse[p] = i }
            return [try transpose(c.grad(), perm: inverse), nil]
        },
        "ConcatV2": { c in
            let n = c.inputs.count - 1
            let axis = try constantInts(c, n)[0]
            let rank = c.outputs[0].shape.rank ?? 0
            let a = axis < 0 ? axis + rank : axis
            // Each input's extent along the axis, then SplitV.
            let sizes = try concat(c.inputs[..<n].map { try slice(shape($0), begin: [a], size: [1]) }, axis: 0)
            let pieces = try c.graph.outputs("SplitV", [c.grad(), sizes, c.graph.constant(Int32(a))],
                                             attrs: ["num_split": .int(n)], name: "split", file: "", line: 0)
            return pieces.map { Optional($0) } + [nil]
        },
        "Pack": { c in
            try unstack(c.grad(), axis: c.node.int("axis") ?? 0).map { Optional($0) }
        },
        "Unpack": { c in
            [try stack((0..<c.outputs.count).map { try c.grad($0) }, axis: c.node.int("axis") ?? 0)]
        },
        "Split": { c in
            [nil, try concat((0..<c.outputs.count).map { try c.grad($0) }, axis: constantInts(c, 0)[0])]
        },
        "SplitV": { c in
            [try concat((0..<c.outputs.count).map { try c.grad($0) }, axis: constantInts(c, 2)[0]), nil, nil]
        },
        "Slice": { c in
            // Pad the gradient back: before = begin, after = shape(x) − begin − shape(y).
            let x = c.inputs[0], begin = try cast(c.inputs[1], to: .int32)
            let after = try subtract(subtract(shape(x), begin), shape(c.outputs[0]))
            let paddings = try stack([begin, after], axis: 1)
            return [try c.graph.output("Pad", [c.grad(), paddings], name: "Pad", file: "", line: 0), nil, nil]
        },
        "Pad": { c in [try padGradient(c), nil] },
        "PadV2": { c in [try padGradient(c), nil, try reduceSum(subtract(c.grad(), padGradientEmbedded(c)))] },
        "Tile": { c in
            // [m₀d₀, m₁d₁, …] → reshape [m₀, d₀, m₁, d₁, …] → sum over the m axes.
            let multiples = try constantInts(c, 1)
            guard let dims = c.inputs[0].shape.dimensions, dims.allSatisfy({ $0 != nil }) else {
                throw SomaError.unimplemented("The gradient of '\(c.node.name)' (op: 'Tile') needs a static input shape")
            }
            let split = zip(multiples, dims).flatMap { [$0, $1!] }
            let axes = (0..<multiples.count).map { 2 * $0 }
            return [try reduceSum(reshape(c.grad(), split), axis: axes), nil]
        },
        "BroadcastTo": { c in [try c.reduce(c.grad(), toShapeOf: c.inputs[0]), nil] },
        "StridedSlice": { c in
            let x = c.inputs[0], index = c.inputs[1].dtype
            let attrs = c.attrs.filter { $0.key.hasSuffix("_mask") }
            return [try c.graph.output("StridedSliceGrad", [shape(x, outType: index), c.inputs[1], c.inputs[2], c.inputs[3], c.grad()],
                                       attrs: attrs, name: "StridedSliceGrad", file: "", line: 0), nil, nil, nil]
        },
        "GatherV2": { c in
            // Dense form of TF's IndexedSlices gradient: one_hot(indices)ᵀ · grad, which sums
            // the rows of repeated indices.
            // (The depth is shape(params)[0] when the first dimension is not static, as for
            // a time-major sequence read step by step in a loop.)
            let params = c.inputs[0]
            guard try constantInts(c, 2) == [0], (c.node.int("batch_dims") ?? 0) == 0, params.shape.rank ?? 0 >= 1 else {
                throw SomaError.unimplemented(
                    "The gradient of '\(c.node.name)' (op: 'GatherV2') needs axis 0, batch_dims 0 and params of known rank")
            }
            let flat = try reshape(c.inputs[1], [-1])
            let hot: Output
            if let rows = params.shape.dimensions?.first ?? nil {
                hot = try oneHot(flat, depth: rows, dtype: params.dtype)
            } else {
                let g = c.graph
                let rows = try stridedSlice(shape(params), begin: [0], end: [1], shrinkAxisMask: 1)
                hot = try g.output("OneHot", [flat, rows, g.constant(Tensor.scalar(1, dtype: params.dtype)),
                                              g.constant(Tensor.scalar(0, dtype: params.dtype))],
                                   attrs: ["axis": .int(-1)], name: "one_hot", file: "", line: 0)
            }
            // One row per index, every trailing dimension flattened: [indices, ∏ params.shape[1...]].
            let rowsOfGrad = try reshape(c.grad(), stack([size(flat), c.graph.constant(Int32(-1))]))
            return [try reshape(matmul(hot, rowsOfGrad, transposeA: true), shape(params)), nil, nil]
        },
        "Fill": { c in [nil, try reduceSum(c.grad())] },
    ]

    /// Pad's gradient: the slice of the gradient where the input sits.
    static func padGradient(_ c: GradientContext) throws -> Output {
        let rank = c.inputs[0].shape.rank ?? 0
        let before = try reshape(slice(cast(c.inputs[1], to: .int32), begin: [0, 0], size: [rank, 1]), [-1])
        return try c.graph.output("Slice", [c.grad(), before, shape(c.inputs[0])], name: "Slice", file: "", line: 0)
    }

    /// The input-sized part of PadV2's gradient, padded back with zeros (the rest belongs
    /// to the constant value).
    static func padGradientEmbedded(_ c: GradientContext) throws -> Output {
        try c.graph.output("Pad", [padGradient(c), cast(c.inputs[1], to: .int32)], name: "Pad", file: "", line: 0)
    }
}

extension Graph {
    /// An `int32` constant vector (for shapes, axes, permutations).
    func indexConstant(_ values: [Int], name: String, file: String, line: Int) throws -> Output {
        try constant(Tensor(values.map { Int32($0) }), name: name, file: file, line: line)
    }

    /// A tensor of `shape` filled with `value` (`Fill`).
    public func fill(shape: [Int], value: Tensor, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
        let dims = try indexConstant(shape, name: "dims", file: file, line: line)
        let v = try constant(value, name: "value", file: file, line: line)
        return try output("Fill", [dims, v], name: name, file: file, line: line)
    }

    /// Zeros of `shape` (TF's `tf.zeros`, a `Fill`).
    public func zeros(shape: [Int], dtype: DType = .float32, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
        try fill(shape: shape, value: Tensor.scalar(0, dtype: dtype), name: name ?? "zeros", file: file, line: line)
    }

    /// Ones of `shape` (TF's `tf.ones`, a `Fill`).
    public func ones(shape: [Int], dtype: DType = .float32, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
        try fill(shape: shape, value: Tensor.scalar(1, dtype: dtype), name: name ?? "ones", file: file, line: line)
    }

    /// `[start, start + delta, …)` up to `limit` (`Range`), in `dtype`.
    public func range(_ start: Double, _ limit: Double, _ delta: Double = 1, dtype: DType = .int32, name: String? = nil,
                      file: String = #fileID, line: Int = #line) throws -> Output {
        let s = try constant(Tensor.scalar(start, dtype: dtype), name: "start", file: file, line: line)
        let l = try constant(Tensor.scalar(limit, dtype: dtype), name: "limit", file: file, line: line)
        let d = try constant(Tensor.scalar(delta, dtype: dtype), name: "delta", file: file, line: line)
        return try output("Range", [s, l, d], name: name, file: file, line: line)
    }
}

/// The shape of `x` as a vector (`Shape`).
public func shape(_ x: Output, outType: DType = .int32, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try x.graph.output("Shape", [x], attrs: ["out_type": .type(outType)], name: name, file: file, line: line)
}
/// The number of elements of `x` (`Size`).
public func size(_ x: Output, outType: DType = .int32, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try x.graph.output("Size", [x], attrs: ["out_type": .type(outType)], name: name, file: file, line: line)
}
/// The rank of `x` as an `int32` scalar (`Rank`).
public func rank(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try x.graph.output("Rank", [x], name: name, file: file, line: line)
}
/// `x` with a new shape of the same element count; one dimension may be `-1` (`Reshape`).
public func reshape(_ x: Output, _ shape: [Int], name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    let s = try x.graph.indexConstant(shape, name: "shape", file: file, line: line)
    return try reshape(x, s, name: name, file: file, line: line)
}
/// `x` reshaped to the shape held by the integer vector `shape` (`Reshape`).
public func reshape(_ x: Output, _ shape: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try x.graph.output("Reshape", [x, shape], name: name, file: file, line: line)
}
/// `x` with a size-1 dimension inserted at `axis` (`ExpandDims`).
public func expandDims(_ x: Output, axis: Int, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    let a = try x.graph.constant(Int32(axis), name: "dim", file: file, line: line)
    return try x.graph.output("ExpandDims", [x, a], name: name, file: file, line: line)
}
/// `x` without the size-1 dimensions `axis` (all of them when empty) (`Squeeze`).
public func squeeze(_ x: Output, axis: [Int] = [], name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try x.graph.output("Squeeze", [x], attrs: ["squeeze_dims": .ints(axis)], name: name, file: file, line: line)
}
/// `x` with dimensions permuted: output dim `i` is input dim `perm[i]`; reversed when
/// `perm` is `nil` (`Transpose`).
public func transpose(_ x: Output, perm: [Int]? = nil, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    guard let p = perm ?? x.shape.rank.map({ Array((0..<$0).reversed()) }) else {
        throw SomaError.invalidArgument("transpose without perm needs a tensor of known rank, but \(x.name) has unknown rank")
    }
    let permutation = try x.graph.indexConstant(p, name: "perm", file: file, line: line)
    return try x.graph.output("Transpose", [x, permutation], name: name, file: file, line: line)
}
/// The tensors joined along `axis` (`ConcatV2`).
public func concat(_ values: [Output], axis: Int, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    guard let first = values.first else { throw SomaError.invalidArgument("concat needs at least one tensor") }
    if values.count == 1 { return try identity(first, name: name ?? "concat", file: file, line: line) }
    let a = try first.graph.constant(Int32(axis), name: "axis", file: file, line: line)
    return try first.graph.output("ConcatV2", values + [a], name: name ?? "concat", file: file, line: line)
}
/// The tensors stacked along a new dimension `axis` (`Pack`, TF's `tf.stack`).
public func stack(_ values: [Output], axis: Int = 0, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    guard let first = values.first else { throw SomaError.invalidArgument("stack needs at least one tensor") }
    return try first.graph.output("Pack", values, attrs: ["axis": .int(axis)], name: name ?? "stack", file: file, line: line)
}
/// The slices of `x` along `axis` (`Unpack`, TF's `tf.unstack`).
public func unstack(_ x: Output, axis: Int = 0, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> [Output] {
    guard let dims = x.shape.dimensions, let num = dims[axis < 0 ? axis + dims.count : axis] else {
        throw SomaError.invalidArgument("unstack needs the size of axis \(axis) of \(x.name), which has shape \(x.shape)")
    }
    return try x.graph.outputs("Unpack", [x], attrs: ["num": .int(num), "axis": .int(axis)], name: name ?? "unstack",
                               file: file, line: line)
}
/// `x` split into `count` equal parts along `axis` (`Split`).
public func split(_ x: Output, count: Int, axis: Int = 0, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> [Output] {
    let a = try x.graph.constant(Int32(axis), name: "split_dim", file: file, line: line)
    return try x.graph.outputs("Split", [a, x], attrs: ["num_split": .int(count)], name: name ?? "split", file: file, line: line)
}
/// `x` split along `axis` into parts of the given sizes, one of which may be `-1` (`SplitV`).
public func split(_ x: Output, sizes: [Int], axis: Int = 0, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> [Output] {
    let s = try x.graph.constant(Tensor(sizes.map { Int64($0) }), name: "size_splits", file: file, line: line)
    let a = try x.graph.constant(Int32(axis), name: "split_dim", file: file, line: line)
    return try x.graph.outputs("SplitV", [x, s, a], attrs: ["num_split": .int(sizes.count)], name: name ?? "split",
                               file: file, line: line)
}
/// The block of `x` starting at `begin` of extent `size` (`-1`: to the end) (`Slice`).
public func slice(_ x: Output, begin: [Int], size: [Int], name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    let b = try x.graph.indexConstant(begin, name: "begin", file: file, line: line)
    let s = try x.graph.indexConstant(size, name: "size", file: file, line: line)
    return try x.graph.output("Slice", [x, b, s], name: name, file: file, line: line)
}
/// NumPy-style strided slicing with TF's five masks (`StridedSlice`).
public func stridedSlice(
    _ x: Output, begin: [Int], end: [Int], strides: [Int]? = nil, beginMask: Int = 0, endMask: Int = 0,
    ellipsisMask: Int = 0, newAxisMask: Int = 0, shrinkAxisMask: Int = 0, name: String? = nil,
    file: String = #fileID, line: Int = #line
) throws -> Output {
    let g = x.graph
    let b = try g.indexConstant(begin, name: "stack", file: file, line: line)
    let e = try g.indexConstant(end, name: "stack_1", file: file, line: line)
    let s = try g.indexConstant(strides ?? Array(repeating: 1, count: begin.count), name: "stack_2", file: file, line: line)
    return try g.output("StridedSlice", [x, b, e, s], attrs: [
        "begin_mask": .int(beginMask), "end_mask": .int(endMask), "ellipsis_mask": .int(ellipsisMask),
        "new_axis_mask": .int(newAxisMask), "shrink_axis_mask": .int(shrinkAxisMask),
    ], name: name ?? "strided_slice", file: file, line: line)
}
/// `x` padded with `paddings[i] = [before, after]` elements per dimension, filled with
/// `constantValue` (`Pad`, or `PadV2` for a nonzero value).
public func pad(_ x: Output, paddings: [[Int]], constantValue: Double = 0, name: String? = nil,
                file: String = #fileID, line: Int = #line) throws -> Output {
    let p = try x.graph.constant(Tensor(paddings.flatMap { $0.map { Int32($0) } }, shape: [paddings.count, 2]),
                                 name: "paddings", file: file, line: line)
    if constantValue == 0 { return try x.graph.output("Pad", [x, p], name: name, file: file, line: line) }
    let v = try x.scalarLike(constantValue, file: file, line: line)
    return try x.graph.output("PadV2", [x, p, v], name: name, file: file, line: line)
}
/// `x` repeated `multiples[i]` times along each dimension (`Tile`).
public func tile(_ x: Output, multiples: [Int], name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    let m = try x.graph.indexConstant(multiples, name: "multiples", file: file, line: line)
    return try x.graph.output("Tile", [x, m], name: name, file: file, line: line)
}
/// A tensor of the shape `dims` (an integer vector) filled with the scalar `value` (`Fill`).
public func fill(dims: Output, value: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try dims.graph.output("Fill", [dims, value], name: name, file: file, line: line)
}
/// Zeros shaped and typed like `x` (`ZerosLike`).
public func zerosLike(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try x.graph.output("ZerosLike", [x], name: name, file: file, line: line)
}
/// Ones shaped and typed like `x` (`OnesLike`).
public func onesLike(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try x.graph.output("OnesLike", [x], name: name, file: file, line: line)
}
/// `[start, start + delta, …)` up to `limit`, from scalar tensors (`Range`).
public func range(_ start: Output, _ limit: Output, _ delta: Output, name: String? = nil,
                  file: String = #fileID, line: Int = #line) throws -> Output {
    try start.graph.output("Range", [start, limit, delta], name: name, file: file, line: line)
}
/// Slices of `params` along `axis` picked by `indices` (`GatherV2`):
/// `params[:axis] + indices[batchDims:] + params[axis+1:]`.
public func gather(_ params: Output, indices: Output, axis: Int = 0, batchDims: Int = 0, name: String? = nil,
                   file: String = #fileID, line: Int = #line) throws -> Output {
    let a = try params.graph.constant(Int32(axis), name: "axis", file: file, line: line)
    return try params.graph.output("GatherV2", [params, indices, a], attrs: ["batch_dims": .int(batchDims)],
                                   name: name ?? "GatherV2", file: file, line: line)
}
/// One-hot vectors of length `depth` along `axis` (`OneHot`); out-of-range indices give
/// all-`offValue` vectors.
public func oneHot(_ indices: Output, depth: Int, onValue: Double = 1, offValue: Double = 0, axis: Int = -1,
                   dtype: DType = .float32, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    let g = indices.graph
    let d = try g.constant(Int32(depth), name: "depth", file: file, line: line)
    let on = try g.constant(Tensor.scalar(onValue, dtype: dtype), name: "on_value", file: file, line: line)
    let off = try g.constant(Tensor.scalar(offValue, dtype: dtype), name: "off_value", file: file, line: line)
    return try g.output("OneHot", [indices, d, on, off], attrs: ["axis": .int(axis)], name: name ?? "one_hot",
                        file: file, line: line)
}
/// `x` broadcast to `shape` (`BroadcastTo`).
public func broadcastTo(_ x: Output, shape: [Int], name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    let s = try x.graph.indexConstant(shape, name: "shape", file: file, line: line)
    return try x.graph.output("BroadcastTo", [x, s], name: name, file: file, line: line)
}
