import SomaSIMD
/// Kernels for elementwise math: one row per op in each table below.
enum MathKernels {
    enum BinaryOp { case add, sub, mul, div, floorDiv, floorMod, maximum, minimum, pow, squaredDifference }
    enum CompareOp { case equal, notEqual, less, lessEqual, greater, greaterEqual }
    enum UnaryOp {
        case neg, abs, sign, exp, log, log1p, sqrt, rsqrt, square, reciprocal, erf, erfc, floor, ceil, round

        /// The work per element in simple operations: a polynomial or a libm call counts 8.
        var cost: Int {
            switch self {
            case .exp, .log, .log1p, .erf, .erfc: 8
            default: 1
            }
        }
    }

    static let table: [String: CPUKernel] = {
        var t: [String: CPUKernel] = [:]
        let binary: [String: BinaryOp] = [
            "AddV2": .add, "Add": .add, "Sub": .sub, "Mul": .mul, "RealDiv": .div, "FloorDiv": .floorDiv,
            "FloorMod": .floorMod, "Maximum": .maximum, "Minimum": .minimum, "Pow": .pow,
            "SquaredDifference": .squaredDifference,
        ]
        for (name, op) in binary {
            t[name] = { ctx in
                let a = ctx.inputs[0], b = ctx.inputs[1], out = try ctx.allocateOutput(0, zeroed: false)
                if isSplittable(out, a, b, ctx) {
                    switch out.dtype {
                    case .float32: splitBinary(op, a, b, out, ctx, Float.self)
                    default: splitBinary(op, a, b, out, ctx, Double.self)
                    }
                } else if let row = rowBroadcast(out, a, b) {
                    switch out.dtype {
                    case .float32: rowBinary(op, a, b, out, row: row, ctx, Float.self)
                    default: rowBinary(op, a, b, out, row: row, ctx, Double.self)
                    }
                } else {
                    try arithmetic(op, a, b, out)
                }
                ctx.setOutput(0, out)
            }
        }
        let compare: [String: CompareOp] = [
            "Equal": .equal, "NotEqual": .notEqual, "Less": .less, "LessEqual": .lessEqual,
            "Greater": .greater, "GreaterEqual": .greaterEqual,
        ]
        for (name, op) in compare {
            t[name] = { ctx in
                let out = try ctx.allocateOutput(0, zeroed: false)
                comparison(op, ctx.inputs[0], ctx.inputs[1], out)
                ctx.setOutput(0, out)
            }
        }
        let unary: [String: UnaryOp] = [
            "Neg": .neg, "Abs": .abs, "Sign": .sign, "Exp": .exp, "Log": .log, "Log1p": .log1p, "Sqrt": .sqrt,
            "Rsqrt": .rsqrt, "Square": .square, "Reciprocal": .reciprocal, "Erf": .erf, "Erfc": .erfc, "Floor": .floor,
            "Ceil": .ceil, "Round": .round,
        ]
        for (name, op) in unary {
            t[name] = { ctx in
                let x = ctx.inputs[0], out = try ctx.allocateOutput(0, zeroed: false)
                let block = splitBlock(cost: op.cost)
                if isSplittable(out, x, x, ctx, block: block) {
                    switch out.dtype {
                    case .float32:
                        let (src, dst) = (x.pointer(as: Float.self), out.mutablePointer(as: Float.self))
                        ctx.parallelFor(out.scalarCount, blockSize: block, sharing: (op, src, dst)) { s, lo, hi in
                            floatUnary(s.0, s.1 + lo, s.2 + lo, count: hi - lo)
                        }
                    default:
                        let (src, dst) = (x.pointer(as: Double.self), out.mutablePointer(as: Double.self))
                        ctx.parallelFor(out.scalarCount, blockSize: block, sharing: (op, src, dst)) { s, lo, hi in
                            floatUnary(s.0, s.1 + lo, s.2 + lo, count: hi - lo)
                        }
                    }
                } else {
                    try unaryMath(op, x, out)
                }
                ctx.setOutput(0, out)
            }
        }
        t["LogicalAnd"] = { ctx in
            let out = try ctx.allocateOutput(0, zeroed: false)
            broadcastMap(ctx.inputs[0], ctx.inputs[1], out) { (x: Bool, y: Bool) in x && y }
            ctx.setOutput(0, out)
        }
        t["LogicalOr"] = { ctx in
            let out = try ctx.allocateOutput(0, zeroed: false)
            broadcastMap(ctx.inputs[0], ctx.inputs[1], out) { (x: Bool, y: Bool) in x || y }
            ctx.setOutput(0, out)
        }
        t["LogicalNot"] = { ctx in
            let out = try ctx.allocateOutput(0, zeroed: false)
            map(ctx.inputs[0], out) { (x: Bool) in !x }
            ctx.setOutput(0, out)
        }
        t["Select"] = { ctx in
            let (cond, a, b) = (ctx.inputs[0], ctx.inputs[1], ctx.inputs[2])
            guard a.shape == b.shape else {
                throw KernelError("'then' and 'else' must have the same size. but received: \(shapeString(a.shape)) vs. \(shapeString(b.shape))")
            }
            // How many consecutive elements one condition element decides.
            let run: Int
            if cond.rank == 0 { run = a.scalarCount }
            else if cond.shape == a.shape { run = 1 }
            else if cond.rank == 1 && a.rank >= 1 && cond.shape[0] == a.shape[0] { run = a.shape.dropFirst().reduce(1, *) }
            else {
                throw KernelError("condition must be a scalar, a vector of the first dimension or of the shape of then: \(shapeString(cond.shape)) vs. \(shapeString(a.shape))")
            }
            let flags = cond.pointer(as: Bool.self)
            if let left = a.byteStrings, let right = b.byteStrings {
                var out: [[UInt8]] = []
                out.reserveCapacity(left.count)
                for i in 0..<left.count { out.append(flags[run == 0 ? 0 : i / run] ? left[i] : right[i]) }
                ctx.setOutput(0, try Tensor(byteStrings: out, shape: a.shape))
                return
            }
            let out = try ctx.allocateOutput(0, zeroed: false)
            let bytes = run * a.dtype.byteSize
            for k in 0..<(run == 0 ? 0 : a.scalarCount / run) {
                let source = flags[k] ? a.rawPointer : b.rawPointer
                (out.rawPointer + k * bytes).copyMemory(from: source + k * bytes, byteCount: bytes)
            }
            ctx.setOutput(0, out)
        }
        t["SelectV2"] = { ctx in
            let out = try ctx.allocateOutput(0, zeroed: false)
            select(ctx.inputs[0], ctx.inputs[1], ctx.inputs[2], out)
            ctx.setOutput(0, out)
        }
        t["AddN"] = { ctx in
            if ctx.inputs[0].dtype == .variant { return try ListKernels.addN(ctx) }
            let out = try ctx.allocateOutput(0, zeroed: false)
            if ctx.inputs.count > 1, out.dtype == .float32, ctx.inputs.allSatisfy({ $0.dtype == .float32 && $0.shape == out.shape }) {
                addN(ctx.inputs, into: out, ctx)
            } else {
                out.rawPointer.copyMemory(from: ctx.inputs[0].rawPointer, byteCount: out.byteCount)
                for input in ctx.inputs.dropFirst() { try arithmetic(.add, out, input, out) }
            }
            ctx.setOutput(0, out)
        }
        t["Cast"] = { ctx in
            let x = ctx.inputs[0]
            if x.dtype == ctx.node.outputTypes[0] { ctx.setOutput(0, x); return }
            let out = try ctx.allocateOutput(0, zeroed: false)
            switch out.dtype {
            case .float32: cast(x, into: out, Float.self)
            case .float64: cast(x, into: out, Double.self)
            case .int32: cast(x, into: out, Int32.self)
            case .int64: cast(x, into: out, Int64.self)
            case .uint8: cast(x, into: out, UInt8.self)
            case .bool: cast(x, into: out, Bool.self)
            case .string, .resource, .variant: throw KernelError("Cast to \(out.dtype) is not supported")
            }
            ctx.setOutput(0, out)
        }
        return t
    }()

    /// Values per block of ``addN(_:into:_:)``: 8 KiB of float32, a block of the sum that
    /// stays in L1 while every input is added into it.
    static let addNBlock = 2048

    /// `out = ((x₀ + x₁) + x₂) + …` for float32 inputs of `out`'s shape, block by block: each
    /// block of the sum stays in the L1 cache while the inputs are added in order, so each
    /// input and the sum cross the memory hierarchy once (a pass per input read and wrote
    /// the whole sum each time: an unrolled LSTM's weight gradient, 32 inputs of 384 KiB,
    /// took 0.75 ms). Every element is summed in input order, so the bits are those of the
    /// passes and never depend on the blocks or the thread count.
    static func addN(_ inputs: UnsafeBufferPointer<Tensor>, into out: Tensor, _ ctx: KernelContext) {
        let count = out.scalarCount, po = out.rawPointer.assumingMemoryBound(to: Float.self)
        // Split as the elementwise kernels split an addition: from two blocks of splitBlock.
        ctx.parallelFor(count, blockSize: count >= 2 * splitBlock ? splitBlock : count, sharing: (inputs, po)) { s, lo, hi in
            let (inputs, po) = s
            var start = lo
            while start < hi {
                let n = Swift.min(addNBlock, hi - start)
                @inline(__always) func values(_ k: Int) -> UnsafePointer<Float> {
                    UnsafePointer(inputs[k].rawPointer.assumingMemoryBound(to: Float.self)) + start
                }
                VectorKernels.zip(.add, values(0), 1, values(1), 1, po + start, count: n)
                for k in 2..<inputs.count { VectorKernels.zip(.add, UnsafePointer(po + start), 1, values(k), 1, po + start, count: n) }
                start += n
            }
        }
    }

    // MARK: Intra-op splitting

    /// Elements per parallel block of an elementwise kernel of simple operations (an
    /// addition, a comparison).
    static let splitBlock = 1 << 15

    /// Elements per parallel block of an elementwise kernel whose work per element is
    /// `cost` simple operations (``UnaryOp/cost``): a block keeps about the time of one of
    /// ``splitBlock`` simple ones, but at least 4,096 elements. Results never depend on it
    /// (every element is computed alone). Measured: Keras' exact GELU over a transformer's
    /// `[64, 512]` activations (32,768 values, one block of ``splitBlock``) took 43 µs on
    /// one thread of two — see ARCHITECTURE.md.
    static func splitBlock(cost: Int) -> Int { Swift.max(splitBlock / Swift.max(cost, 1), 4096) }

    /// Whether an elementwise kernel may split its work: large, float, several threads,
    /// and every operand either the output's shape or a scalar (no general broadcasting).
    static func isSplittable(_ out: Tensor, _ a: Tensor, _ b: Tensor, _ ctx: KernelContext, block: Int = splitBlock) -> Bool {
        ctx.threads > 1 && out.scalarCount >= 2 * block && out.dtype.isFloatingPoint && a.dtype == out.dtype
            && b.dtype == out.dtype && (a.shape == out.shape || a.scalarCount == 1) && (b.shape == out.shape || b.scalarCount == 1)
    }

    /// For `[…, C] ⊕ [C]` (a bias, a per-channel scale) with float operands, either way
    /// round: the row length `C` (the smaller operand's element count), or nil.
    static func rowBroadcast(_ out: Tensor, _ a: Tensor, _ b: Tensor) -> Int? {
        guard out.dtype.isFloatingPoint, a.dtype == out.dtype, b.dtype == out.dtype else { return nil }
        func trailing(_ small: Tensor) -> Bool {
            let dims = small.shape.drop { $0 == 1 }
            return small.scalarCount > 1 && !dims.isEmpty && out.shape.suffix(dims.count).elementsEqual(dims)
        }
        if a.shape == out.shape && trailing(b) { return b.scalarCount }
        if b.shape == out.shape && trailing(a) { return a.scalarCount }
        return nil
    }

    /// Row by row, the row-shaped operand repeated: the same scalar functions as
    /// `arithmetic` (vectorised), rows in fixed blocks on the intra-op pool.
    static func rowBinary<T: FloatScalar>(_ op: BinaryOp, _ a: Tensor, _ b: Tensor, _ out: Tensor, row: Int, _ ctx: KernelContext, _: T.Type) {
        let pa = a.pointer(as: T.self), pb = b.pointer(as: T.self), po = out.mutablePointer(as: T.self)
        let aIsRow = a.scalarCount == row && a.shape != out.shape
        ctx.parallelFor(out.scalarCount / row, blockSize: Swift.max(1, splitBlock / row), sharing: (op, pa, pb, po, row, aIsRow)) { s, lo, hi in
            let (op, pa, pb, po, row, aIsRow) = s
            for r in lo..<hi {
                let o = r * row
                binaryLoop(op, aIsRow ? pa : pa + o, 1, aIsRow ? pb + o : pb, 1, po + o, count: row)
            }
        }
    }

    /// The same scalar functions as `arithmetic`, in fixed blocks on several threads.
    static func splitBinary<T: FloatScalar>(_ op: BinaryOp, _ a: Tensor, _ b: Tensor, _ out: Tensor, _ ctx: KernelContext, _: T.Type) {
        let pa = a.pointer(as: T.self), pb = b.pointer(as: T.self), po = out.mutablePointer(as: T.self)
        let sa = a.scalarCount == 1 ? 0 : 1, sb = b.scalarCount == 1 ? 0 : 1
        ctx.parallelFor(out.scalarCount, blockSize: splitBlock, sharing: (op, pa, pb, po, sa, sb)) { s, lo, hi in
            let (op, pa, pb, po, sa, sb) = s
            binaryLoop(op, pa + lo * sa, sa, pb + lo * sb, sb, po + lo, count: hi - lo)
        }
    }

    // MARK: Binary arithmetic

    static func arithmetic(_ op: BinaryOp, _ a: Tensor, _ b: Tensor, _ out: Tensor) throws {
        switch a.dtype {
        case .float32: try arithmetic(op, a, b, out, Float.self)
        case .float64: try arithmetic(op, a, b, out, Double.self)
        case .int32: try arithmetic(op, a, b, out, Int32.self)
        case .int64: try arithmetic(op, a, b, out, Int64.self)
        case .uint8: try arithmetic(op, a, b, out, UInt8.self)
        case .bool: throw KernelError("arithmetic on bool tensors is not supported")
        case .string, .resource, .variant: throw KernelError("arithmetic on \(a.dtype) tensors is not supported")
        }
    }

    static func arithmetic<T: NumericScalar>(_ op: BinaryOp, _ a: Tensor, _ b: Tensor, _ out: Tensor, _: T.Type) throws {
        if !T.dtype.isFloatingPoint {
            switch op {
            case .div, .floorDiv, .floorMod:
                if b.withUnsafeBufferPointer(as: T.self, { $0.contains(T.zero) }) {
                    throw KernelError("Integer division by zero")
                }
            case .pow:
                if b.withUnsafeBufferPointer(as: T.self, { $0.contains { $0 < T.zero } }) {
                    throw KernelError("Integers to negative integer powers are not allowed")
                }
            default: break
            }
        }
        // Operands of the output's size or scalars: the vector loops (float32) or plain ones.
        let n = out.scalarCount
        if T.dtype.isFloatingPoint, n > 1, a.scalarCount == n || a.scalarCount == 1, b.scalarCount == n || b.scalarCount == 1 {
            binaryLoop(op, a.pointer(as: T.self), a.scalarCount == 1 ? 0 : 1, b.pointer(as: T.self), b.scalarCount == 1 ? 0 : 1,
                       out.mutablePointer(as: T.self), count: n)
            return
        }
        switch op {
        case .add: broadcastMap(a, b, out) { (x: T, y: T) in T.add(x, y) }
        case .sub: broadcastMap(a, b, out) { (x: T, y: T) in T.sub(x, y) }
        case .mul: broadcastMap(a, b, out) { (x: T, y: T) in T.mul(x, y) }
        case .div: broadcastMap(a, b, out) { (x: T, y: T) in T.div(x, y) }
        case .floorDiv: broadcastMap(a, b, out) { (x: T, y: T) in T.floorDiv(x, y) }
        case .floorMod: broadcastMap(a, b, out) { (x: T, y: T) in T.floorMod(x, y) }
        case .maximum: broadcastMap(a, b, out) { (x: T, y: T) in T.maxPropagatingNaN(x, y) }
        case .minimum: broadcastMap(a, b, out) { (x: T, y: T) in T.minPropagatingNaN(x, y) }
        case .pow: broadcastMap(a, b, out) { (x: T, y: T) in T.power(x, y) }
        case .squaredDifference: broadcastMap(a, b, out) { (x: T, y: T) in T.squaredDifference(x, y) }
        }
    }

    /// `dst[i] = a[i·sa] ⊕ b[i·sb]` with strides 0 (a scalar) or 1, for fused kernels: the
    /// same scalar functions as `arithmetic`, so results are bitwise identical.
    @inline(__always)
    static func binaryLoop<T: NumericScalar>(_ op: BinaryOp, _ a: UnsafePointer<T>, _ sa: Int, _ b: UnsafePointer<T>,
                                             _ sb: Int, _ dst: UnsafeMutablePointer<T>, count: Int) {
        @inline(__always) func loop(_ f: (T, T) -> T) {
            var i = 0, j = 0
            for k in 0..<count { dst[k] = f(a[i], b[j]); i &+= sa; j &+= sb }
        }
        if T.self == Float.self, count >= VectorMath.width, sa <= 1, sb <= 1, let f = floatVectorBinary(op) {
            VectorKernels.zip(f, UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), sa,
                              UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), sb,
                              UnsafeMutableRawPointer(dst).assumingMemoryBound(to: Float.self), count: count)
            return
        }
        // Closure literals (not method references) so each loop inlines its function.
        switch op {
        case .add: loop { T.add($0, $1) }
        case .sub: loop { T.sub($0, $1) }
        case .mul: loop { T.mul($0, $1) }
        case .div: loop { T.div($0, $1) }
        case .floorDiv: loop { T.floorDiv($0, $1) }
        case .floorMod: loop { T.floorMod($0, $1) }
        case .maximum: loop { T.maxPropagatingNaN($0, $1) }
        case .minimum: loop { T.minPropagatingNaN($0, $1) }
        case .pow: loop { T.power($0, $1) }
        case .squaredDifference: loop { T.squaredDifference($0, $1) }
        }
    }

    // MARK: Comparisons

    static func comparison(_ op: CompareOp, _ a: Tensor, _ b: Tensor, _ out: Tensor) {
        switch a.dtype {
        case .float32: comparison(op, a, b, out, Float.self)
        case .float64: comparison(op, a, b, out, Double.self)
        case .int32: comparison(op, a, b, out, Int32.self)
        case .int64: comparison(op, a, b, out, Int64.self)
        case .uint8: comparison(op, a, b, out, UInt8.self)
        case .bool:
            // Only Equal and NotEqual accept bool (false < true otherwise).
            switch op {
            case .equal: broadcastMap(a, b, out) { (x: Bool, y: Bool) in x == y }
            default: broadcastMap(a, b, out) { (x: Bool, y: Bool) in x != y }
            }
        case .string, .resource, .variant: break  // comparisons admit plain types only
        }
    }

    static func comparison<T: NumericScalar>(_ op: CompareOp, _ a: Tensor, _ b: Tensor, _ out: Tensor, _: T.Type) {
        switch op {
        case .equal: broadcastMap(a, b, out) { (x: T, y: T) in x == y }
        case .notEqual: broadcastMap(a, b, out) { (x: T, y: T) in x != y }
        case .less: broadcastMap(a, b, out) { (x: T, y: T) in x < y }
        case .lessEqual: broadcastMap(a, b, out) { (x: T, y: T) in x <= y }
        case .greater: broadcastMap(a, b, out) { (x: T, y: T) in x > y }
        case .greaterEqual: broadcastMap(a, b, out) { (x: T, y: T) in x >= y }
        }
    }

    // MARK: Unary

    static func unaryMath(_ op: UnaryOp, _ x: Tensor, _ out: Tensor) throws {
        switch x.dtype {
        case .float32: floatUnary(op, x, out, Float.self)
        case .float64: floatUnary(op, x, out, Double.self)
        case .int32: try integerUnary(op, x, out, Int32.self)
        case .int64: try integerUnary(op, x, out, Int64.self)
        case .uint8: try integerUnary(op, x, out, UInt8.self)
        case .bool: throw KernelError("math on bool tensors is not supported")
        case .string, .resource, .variant: throw KernelError("math on \(x.dtype) tensors is not supported")
        }
    }

    static func floatUnary<T: FloatScalar>(_ op: UnaryOp, _ x: Tensor, _ out: Tensor, _: T.Type) {
        floatUnary(op, x.pointer(as: T.self), out.mutablePointer(as: T.self), count: x.scalarCount)
    }

    /// `dst[i] = f(src[i])` for `count` elements; `dst` may be `src`. Fused kernels call
    /// this same loop, so fused and unfused results are bitwise identical.
    @inline(__always)
    static func floatUnary<T: FloatScalar>(_ op: UnaryOp, _ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>, count: Int) {
        if T.self == Float.self, count >= VectorMath.width, let f = floatVectorUnary(op) {
            VectorKernels.map(f, UnsafeRawPointer(src).assumingMemoryBound(to: Float.self),
                              UnsafeMutableRawPointer(dst).assumingMemoryBound(to: Float.self), count: count)
            return
        }
        switch op {
        case .neg: forEach(src, dst, count) { (v: T) in -v }
        case .abs: forEach(src, dst, count) { (v: T) in Swift.abs(v) }
        case .sign: forEach(src, dst, count) { (v: T) in T.signum(v) }
        case .exp: forEach(src, dst, count) { (v: T) in T.exp(v) }
        case .log: forEach(src, dst, count) { (v: T) in T.log(v) }
        case .log1p: forEach(src, dst, count) { (v: T) in T.log1p(v) }
        case .sqrt: forEach(src, dst, count) { (v: T) in v.squareRoot() }
        case .rsqrt: forEach(src, dst, count) { (v: T) in 1 / v.squareRoot() }
        case .square: forEach(src, dst, count) { (v: T) in v * v }
        case .reciprocal: forEach(src, dst, count) { (v: T) in 1 / v }
        case .erf: forEach(src, dst, count) { (v: T) in T.erf(v) }
        case .erfc: forEach(src, dst, count) { (v: T) in T.erfc(v) }
        case .floor: forEach(src, dst, count) { (v: T) in v.rounded(.down) }
        case .ceil: forEach(src, dst, count) { (v: T) in v.rounded(.up) }
        case .round: forEach(src, dst, count) { (v: T) in v.rounded(.toNearestOrEven) }
        }
    }

    /// The explicitly vectorised float32 form of a unary op, where there is one.
    @inline(__always)
    static func floatVectorUnary(_ op: UnaryOp) -> UnaryFunction? {
        switch op {
        case .neg: .neg
        case .abs: .abs
        case .exp: .exp
        case .sqrt: .sqrt
        case .rsqrt: .rsqrt
        case .square: .square
        case .reciprocal: .reciprocal
        case .erf: .erf
        case .erfc: .erfc
        default: nil
        }
    }

    /// The explicitly vectorised float32 form of a binary op, where there is one.
    @inline(__always)
    static func floatVectorBinary(_ op: BinaryOp) -> BinaryFunction? {
        switch op {
        case .add: .add
        case .sub: .sub
        case .mul: .mul
        case .div: .div
        case .maximum: .maximum
        case .minimum: .minimum
        case .squaredDifference: .squaredDifference
        default: nil
        }
    }

    static func integerUnary<T: NumericScalar>(_ op: UnaryOp, _ x: Tensor, _ out: Tensor, _: T.Type) throws {
        switch op {
        case .neg: map(x, out) { (v: T) in T.negate(v) }
        case .abs: map(x, out) { (v: T) in T.absolute(v) }
        case .sign: map(x, out) { (v: T) in T.signum(v) }
        case .square: map(x, out) { (v: T) in T.mul(v, v) }
        case .round: map(x, out) { (v: T) in v }
        case .reciprocal:
            if x.withUnsafeBufferPointer(as: T.self, { $0.contains(T.zero) }) { throw KernelError("Integer division by zero") }
            map(x, out) { (v: T) in T.div(T.one, v) }
        default: throw KernelError("\(op) is not defined for \(T.dtype)")
        }
    }

    // MARK: Select and cast

    static func select(_ c: Tensor, _ t: Tensor, _ e: Tensor, _ out: Tensor) {
        func run<E>(_: E.Type) {
            let pc = c.pointer(as: Bool.self), pt = t.pointer(as: E.self), pe = e.pointer(as: E.self)
            let po = out.mutablePointer(as: E.self)
            BroadcastIterator.forEachRow(output: out.shape, c.shape, t.shape, e.shape) { off, o, n, inner in
                var ic = off[0], it = off[1], ie = off[2]
                for j in 0..<n {
                    po[o &+ j] = pc[ic] ? pt[it] : pe[ie]
                    ic &+= inner[0]; it &+= inner[1]; ie &+= inner[2]
                }
            }
        }
        switch t.dtype.byteSize {
        case 1: run(UInt8.self)
        case 4: run(UInt32.self)
        default: run(UInt64.self)
        }
    }

    static func cast<D: CastTarget>(_ x: Tensor, into out: Tensor, _: D.Type) {
        switch x.dtype {
        case .float32: map(x, out) { (v: Float) in D(castingDouble: Double(v)) }
        case .float64: map(x, out) { (v: Double) in D(castingDouble: v) }
        case .int32: map(x, out) { (v: Int32) in D(castingInt64: Int64(v)) }
        case .int64: map(x, out) { (v: Int64) in D(castingInt64: v) }
        case .uint8: map(x, out) { (v: UInt8) in D(castingInt64: Int64(v)) }
        case .bool: map(x, out) { (v: Bool) in D(castingInt64: v ? 1 : 0) }
        case .string, .resource, .variant: break  // Cast's signature admits plain types only
        }
    }
}
