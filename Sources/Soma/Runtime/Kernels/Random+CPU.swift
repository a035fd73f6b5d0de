import Foundation

/// Kernels for random ops. A node's stream is fixed by its `(seed, seed2)` attributes and
/// the number of times it has run in the session, so a graph with seeds is bit-reproducible
/// (though not the same numbers as TF's Philox generator). Seedless nodes (`0, 0`) draw
/// from the session's own entropy.
enum RandomKernels {
    static let table: [String: CPUKernel] = [
        // 24 random bits: exactly representable in float32, so a sample is never rounded up to 1.
        "RandomUniform": { ctx in try fill(ctx) { rng in Double(rng.next() >> 40) * 0x1p-24 } },
        "RandomStandardNormal": { ctx in try fill(ctx) { rng in normal(&rng) } },
        "TruncatedNormal": { ctx in
            try fill(ctx) { rng in
                while true {
                    let z = normal(&rng)
                    if Swift.abs(z) <= 2 { return z }
                }
            }
        },
    ]

    /// A standard normal sample (Box–Muller).
    static func normal(_ rng: inout SplitMix64) -> Double {
        let u1 = (Double(rng.next() >> 11) + 1) * 0x1p-53, u2 = Double(rng.next() >> 11) * 0x1p-53
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }

    static func fill(_ ctx: KernelContext, _ sample: (inout SplitMix64) -> Double) throws {
        let out = try ctx.allocateOutput(0, zeroed: false)
        let seed = UInt64(truncatingIfNeeded: ctx.node.int("seed") ?? 0), seed2 = UInt64(truncatingIfNeeded: ctx.node.int("seed2") ?? 0)
        let run = ctx.state.nextRandomRun(ctx.node.name)
        var mixer = SplitMix64(seed: seed == 0 && seed2 == 0 ? ctx.state.sessionEntropy ^ UInt64(truncatingIfNeeded: ctx.node.name.hashValue)
                                                              : seed &* 0x9E37_79B9_7F4A_7C15 ^ seed2)
        var rng = SplitMix64(seed: mixer.next() ^ (run &* 0xD1B5_4A32_D192_ED03))
        switch out.dtype {
        case .float32:
            let p = out.mutablePointer(as: Float.self)
            for i in 0..<out.scalarCount { p[i] = Float(sample(&rng)) }
        case .float64:
            let p = out.mutablePointer(as: Double.self)
            for i in 0..<out.scalarCount { p[i] = sample(&rng) }
        default: throw KernelError("\(ctx.node.op) is not defined for \(out.dtype)")
        }
        ctx.setOutput(0, out)
    }
}
