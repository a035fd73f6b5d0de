/// Iteration over NumPy-broadcast operands.
///
/// Each operand's shape is aligned right to the output's and given stride 0 along the
/// dimensions it broadcasts; adjacent dimensions that move every operand in lock-step are
/// merged, so the innermost loop is as long as possible. `forEachRow` then calls `body`
/// once per innermost row with the operands' starting offsets.
struct BroadcastIterator {
    /// Collapsed output dimensions.
    let dims: [Int]
    /// `strides[k][d]`: operand k's element stride along collapsed dimension d.
    let strides: [[Int]]

    init(output: [Int], operands: [[Int]]) {
        let rank = output.count
        var strides: [[Int]] = operands.map { shape in
            var s = [Int](repeating: 0, count: rank)
            var stride = 1
            for i in Swift.stride(from: shape.count - 1, through: 0, by: -1) {
                let d = i + rank - shape.count
                s[d] = shape[i] == 1 ? 0 : stride
                stride *= shape[i]
            }
            return s
        }
        // Merge dimension d into d+1 when every operand's strides allow it.
        var dims = output
        var d = rank - 2
        while d >= 0 {
            let mergeable = strides.allSatisfy { $0[d] == $0[d + 1] * dims[d + 1] }
            if mergeable {
                dims[d + 1] *= dims[d]
                dims.remove(at: d)
                for k in strides.indices { strides[k].remove(at: d) }
            }
            d -= 1
        }
        // Size-1 leading dims are noise.
        self.dims = dims.isEmpty ? [1] : dims
        self.strides = strides.map { $0.isEmpty ? [0] : $0 }
    }

    /// Calls `body(offsets, outputOffset, rowLength, innerStrides)` per innermost row.
    @inline(__always)
    func forEachRow(_ body: (UnsafeMutableBufferPointer<Int>, Int, Int, UnsafeBufferPointer<Int>) -> Void) {
        let rank = dims.count, n = strides.count
        let total = dims.reduce(1, *)
        guard total > 0 else { return }
        let rowLength = dims[rank - 1]
        let offsets = UnsafeMutableBufferPointer<Int>.allocate(capacity: n)
        let inner = UnsafeMutableBufferPointer<Int>.allocate(capacity: n)
        let counter = UnsafeMutableBufferPointer<Int>.allocate(capacity: rank)
        defer { offsets.deallocate(); inner.deallocate(); counter.deallocate() }
        for k in 0..<n { offsets[k] = 0; inner[k] = strides[k][rank - 1] }
        for d in 0..<rank { counter[d] = 0 }
        var out = 0
        let rows = total / rowLength
        for _ in 0..<rows {
            body(offsets, out, rowLength, UnsafeBufferPointer(inner))
            out &+= rowLength
            // Advance the odometer over the outer dimensions.
            var d = rank - 2
            while d >= 0 {
                counter[d] &+= 1
                for k in 0..<n { offsets[k] &+= strides[k][d] }
                if counter[d] < dims[d] { break }
                for k in 0..<n { offsets[k] &-= strides[k][d] &* dims[d] }
                counter[d] = 0
                d -= 1
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
        BroadcastIterator(output: out.shape, operands: [a.shape, b.shape]).forEachRow { offsets, o, length, inner in
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
