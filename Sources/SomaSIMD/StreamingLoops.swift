/// Products of a few rows with a large matrix, streaming the matrix once (float32; the
/// per-CPU builds compile them, ``CompiledLoopSet/streamRows(m:n:k:a:rowStride:depthStride:b:ldb:c:ldc:)``).
extension VectorLoops {
    /// `c[i·ldc + j] = Σ_p a[i·ra + p·ca] · b[p·ldb + j]` for rows `i < m`, columns `j < n`,
    /// depth `p < k`: `b`'s rows are read once, in order, four at a time.
    ///
    /// A matrix–vector product (a batch of one through a dense layer or a convolution with one
    /// output position) reads every weight once for two flops, so its speed is the memory's:
    /// walking whole rows of `b` — one contiguous stream — is what the hardware prefetchers
    /// serve fastest, where a GEMM kernel's column tiles jump a row's length every few cache
    /// lines. Each output element is `((c + (x₀b₀ + x₁b₁)) + (x₂b₂ + x₃b₃))` per four rows
    /// (single rows at the end), lane by lane, so its bits never depend on the vector width
    /// or on where `n` is cut. `c` is overwritten.
    @inlinable @inline(__always)
    public static func streamRows(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, rowStride ra: Int, depthStride ca: Int,
                                  b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
        typealias V = SIMD16<Float>
        @inline(__always) func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        @inline(__always) func store(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }
        for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) }
        var p = 0
        while p + 4 <= k {
            let b0 = b + p * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb
            for i in 0..<m {
                let x = a + i * ra + p * ca, row = c + i * ldc
                let (s0, s1, s2, s3) = (x[0], x[ca], x[2 * ca], x[3 * ca])
                let (v0, v1, v2, v3) = (V(repeating: s0), V(repeating: s1), V(repeating: s2), V(repeating: s3))
                var j = 0
                while j + 32 <= n {
                    let lower = (load(b0 + j) * v0 + load(b1 + j) * v1) + (load(b2 + j) * v2 + load(b3 + j) * v3)
                    let upper = (load(b0 + j + 16) * v0 + load(b1 + j + 16) * v1) + (load(b2 + j + 16) * v2 + load(b3 + j + 16) * v3)
                    store(load(row + j) + lower, row + j)
                    store(load(row + j + 16) + upper, row + j + 16)
                    j += 32
                }
                while j + 16 <= n {
                    store(load(row + j) + ((load(b0 + j) * v0 + load(b1 + j) * v1) + (load(b2 + j) * v2 + load(b3 + j) * v3)), row + j)
                    j += 16
                }
                while j < n {
                    row[j] = row[j] + ((b0[j] * s0 + b1[j] * s1) + (b2[j] * s2 + b3[j] * s3))
                    j += 1
                }
            }
            p += 4
        }
        while p < k {
            let b0 = b + p * ldb
            for i in 0..<m {
                let s0 = a[i * ra + p * ca], v0 = V(repeating: s0), row = c + i * ldc
                var j = 0
                while j + 16 <= n {
                    store(load(row + j) + load(b0 + j) * v0, row + j)
                    j += 16
                }
                while j < n {
                    row[j] = row[j] + b0[j] * s0
                    j += 1
                }
            }
            p += 1
        }
    }
}
