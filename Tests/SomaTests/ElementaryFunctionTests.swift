import Foundation
import Testing
@testable import Soma

/// The float32 exp and tanh that kernels use (no libm calls, so loops vectorise), against
/// float64 libm, in ulps of the float32 result.
@Suite struct ElementaryFunctionTests {
    static func ulps(_ value: Float, _ exact: Double) -> Double {
        let rounded = Float(exact)
        guard rounded.isFinite, rounded != 0 else { return value == rounded ? 0 : .infinity }
        return Swift.abs(Double(value) - exact) / Double(rounded.ulp)
    }

    @Test func expIsWithinTwoUlps() {
        var worst = 0.0
        for i in 0...200_000 {
            let x = Float(-87.0 + 175.0 * Double(i) / 200_000)
            worst = Swift.max(worst, Self.ulps(Float.exp(x), Foundation.exp(Double(x))))
        }
        #expect(worst <= 2, "max error \(worst) ulps")
        #expect(Float.exp(100) == .infinity && Float.exp(-100) == 0 && Float.exp(.nan).isNaN && Float.exp(0) == 1)
    }

    @Test func tanhIsWithinTwentyUlps() {
        var worst = 0.0
        for i in 0...200_000 {
            let x = Float(-10.0 + 20.0 * Double(i) / 200_000)
            worst = Swift.max(worst, Self.ulps(Float.tanh(x), Foundation.tanh(Double(x))))
        }
        #expect(worst <= 20, "max error \(worst) ulps")
        #expect(Float.tanh(0) == 0 && Float.tanh(20) == 1 && Float.tanh(-20) == -1 && Float.tanh(.nan).isNaN)
        #expect(Float.tanh(1e-30) == 1e-30)
    }

    /// The SIMD forms kernels use compute the same bits as their scalar twins (which run
    /// the tails of loops), lane by lane, special values included.
    @Test func vectorFormsMatchTheScalarFormsBitwise() {
        var inputs: [Float] = (0...4000).map { Float(-100.0 + 200.0 * Double($0) / 4000) }
        inputs += [0, -0, .nan, .infinity, -.infinity, 1e-30, -1e-30, 88.72283, -87.33654, 0.4, -0.4, 9, -9]
        while inputs.count % VectorMath.width != 0 { inputs.append(0.25) }
        var exp: [Float] = [], tanh: [Float] = [], sigmoid: [Float] = []
        for start in Swift.stride(from: 0, to: inputs.count, by: VectorMath.width) {
            var v = VectorMath.V()
            for k in 0..<VectorMath.width { v[k] = inputs[start + k] }
            let (e, t, s) = (VectorMath.exp(v), VectorMath.tanh(v), VectorMath.sigmoid(v))
            for k in 0..<VectorMath.width { exp.append(e[k]); tanh.append(t[k]); sigmoid.append(s[k]) }
        }
        func same(_ a: Float, _ b: Float) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }
        for (i, x) in inputs.enumerated() {
            #expect(same(exp[i], Float.exp(x)), "exp(\(x))")
            #expect(same(tanh[i], Float.tanh(x)), "tanh(\(x))")
            #expect(same(sigmoid[i], VectorMath.sigmoid(x)), "sigmoid(\(x))")
            if x.isFinite {  // exp flushes below e^-87.3, so subnormal results become 0
                let exact = 1 / (1 + Foundation.exp(-Double(x)))
                #expect(Swift.abs(Double(sigmoid[i]) - exact) <= 4 * Double(Float(exact).ulp) + Double(Float.leastNormalMagnitude), "sigmoid(\(x))")
            }
        }
    }
}
