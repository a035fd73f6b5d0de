/// Iteration over NumPy-broadcast operands (one to three), allocating nothing.
///
/// Each operand's shape is aligned right to the output's and given stride 0 along the
/// dimensions it broadcasts; adjacent dimensions that move every operand in lock-step are
/// merged, so the innermost loop is as long as possible. `forEachRow` then calls `body`
/// once per innermost row with the operands' starting offsets. Dimensions, strides and
/// the odometer live in one stack allocation: kernels that broadcast (a bias's gradient
/// path, `Select`, `BroadcastTo`) stay allocation-free in steady-state runs.
enum BroadcastIterator {
    /// Calls `body(offsets, outputOffset, rowLength, innerStrides)` per innermost row of
    /// `output`, with one offset and one inner stride per operand shape given.
    @inline(__always)
    static func forEachRow(output: [Int], _ a: [Int], _ b: [Int]? = nil, _ c: [Int]? = nil,
                           _ body: (UnsafeMutableBufferPointer<Int>, Int, Int, UnsafeBufferPointer<Int>) -> Void) {
        let n = c != nil ? 3 : (b != nil ? 2 : 1)
        let r = Swift.max(output.count, 1)
        // Layout: dims[r] · strides[n][r] (operand k's at k·r) · counter[r] · offsets[n] · inner[n].
        withUnsafeTemporaryAllocation(of: Int.self, capacity: r * (n + 2) + 2 * n) { buffer in
            let p = buffer.baseAddress!
            let dims = p, strides = p + r, counter = p + r * (n + 1)
            let offsets = UnsafeMutableBufferPointer(start: p + r * (n + 2), count: n)
            let inner = UnsafeMutableBufferPointer(start: p + r * (n + 2) + n, count: n)
            if output.isEmpty { dims[0] = 1 } else { for d in 0..<r { dims[d] = output[d] } }
            for k in 0..<n {
                let shape = k == 0 ? a : (k == 1 ? b! : c!)
                let s = strides + k * r
                for d in 0..<r { s[d] = 0 }
                var stride = 1
                for i in Swift.stride(from: shape.count - 1, through: 0, by: -1) {
                    s[i + r - shape.count] = shape[i] == 1 ? 0 : stride
                    stride *= shape[i]
                }
            }
            // Merge dimension d into the group after it when every operand's strides allow
            // it, packing the groups at the end: they occupy w..<r.
            var w = r - 1
            for d in Swift.stride(from: r - 2, through: 0, by: -1) {
                var mergeable = true
                for k in 0..<n where strides[k * r + d] != strides[k * r + w] &* dims[w] { mergeable = false }
                if mergeable {
                    dims[w] &*= dims[d]
                } else {
                    w -= 1
                    dims[w] = dims[d]
                    for k in 0..<n { strides[k * r + w] = strides[k * r + d] }
                }
            }
            var total = 1
            for d in w..<r { total &*= dims[d] }
            guard total > 0 else { return }
            let rowLength = dims[r - 1]
            for k in 0..<n { offsets[k] = 0; inner[k] = strides[k * r + r - 1] }
            for d in w..<r { counter[d] = 0 }
            var out = 0
            for _ in 0..<total / rowLength {
                body(offsets, out, rowLength, UnsafeBufferPointer(inner))
                out &+= rowLength
                // Advance the odometer over the outer dimensions.
                var d = r - 2
                while d >= w {
                    counter[d] &+= 1
                    for k in 0..<n { offsets[k] &+= strides[k * r + d] }
                    if counter[d] < dims[d] { break }
                    for k in 0..<n { offsets[k] &-= strides[k * r + d] &* dims[d] }
                    counter[d] = 0
                    d -= 1
                }
            }
        }
    }
}

/// `out[i] = f(a[i], b[i])` with broadcasting.
@inline(__always)
func broadcastMap<T, U>(_ a: Tensor, _ b: Tensor, _ out: Tensor, _ f: (T, T) -> U) {
    let pa = a.pointer(as: T.self), pb = b.pointer(as: T.self), po = out.mutablePointer(as: U.self)
    let n = out.scalarCount
    if a.shape == b.shape {
        for i in 0..<n { po[i] = f(pa[i], pb[i]) }
    } else if b.scalarCount == 1 && a.scalarCount == n {
        let y = pb[0]
        for i in 0..<n { po[i] = f(pa[i], y) }
    } else if a.scalarCount == 1 && b.scalarCount == n {
        let x = pa[0]
        for i in 0..<n { po[i] = f(x, pb[i]) }
    } else {
        BroadcastIterator.forEachRow(output: out.shape, a.shape, b.shape) { offsets, o, length, inner in
            var ia = offsets[0], ib = offsets[1]
            let sa = inner[0], sb = inner[1]
            for j in 0..<length {
                po[o &+ j] = f(pa[ia], pb[ib])
                ia &+= sa
                ib &+= sb
            }
        }
    }
}

/// `out[i] = f(x[i])`.
@inline(__always)
func map<T, U>(_ x: Tensor, _ out: Tensor, _ f: (T) -> U) {
    let px = x.pointer(as: T.self), po = out.mutablePointer(as: U.self)
    for i in 0..<x.scalarCount { po[i] = f(px[i]) }
}

/// `dst[i] = f(src[i])` for `count` elements (in place when `dst == src`).
@inline(__always)
func forEach<T, U>(_ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<U>, _ count: Int, _ f: (T) -> U) {
    for i in 0..<count { dst[i] = f(src[i]) }
}
