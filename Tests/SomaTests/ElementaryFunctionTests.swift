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
}
