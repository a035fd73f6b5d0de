import Foundation
import Testing
@testable import Soma

/// TF1's naming and reuse rules for variables, numbers as operands, and errors that point at
/// the user's code.
@Suite struct BuildingErgonomicsTests {
    func message(_ body: () throws -> Void) -> String {
        do { try body() } catch { return "\(error)" }
        return ""
    }

    @Test func variablesFollowGetVariableNamingAndReuse() throws {
        let g = Graph()
        let kernel = try g.variable("enc/kernel", shape: [2, 3], initializer: .zeros)
        let again = message { _ = try g.variable("enc/kernel", shape: [2, 3], initializer: .zeros) }
        #expect(again.contains("Variable enc/kernel already exists") && again.contains("reuse: .reuse or .autoReuse"), "\(again)")
        #expect(try g.variable("enc/kernel", shape: [2, 3], initializer: .zeros, reuse: .reuse).ref == kernel.ref)
        #expect(try g.variable("enc/kernel", shape: [2, 3], initializer: .zeros, reuse: .autoReuse).ref == kernel.ref)
        let fresh = try g.variable("enc/bias", shape: [3], initializer: .zeros, reuse: .autoReuse)
        #expect(fresh.name == "enc/bias")
        #expect(message { _ = try g.variable("dec/kernel", shape: [1], initializer: .zeros, reuse: .reuse) }.contains("does not exist"))
        #expect(message { _ = try g.variable("enc/kernel", shape: [3, 3], initializer: .zeros, reuse: .reuse) }
            .contains("Trying to share variable enc/kernel, but specified shape [3,3] and found shape [2,3]"))
        // Name scopes do not prefix get_variable names (TF's rule), so no enc1/enc1/kernel.
        let scoped = try g.withNameScope("enc1") { try g.variable("enc1/kernel", shape: [1], initializer: .ones) }
        #expect(scoped.name == "enc1/kernel")
        // tf.Variable-style variables still take unique names.
        let a = try g.variable(Tensor(Float(1)), name: "v"), b = try g.variable(Tensor(Float(2)), name: "v")
        #expect(a.name == "v" && b.name == "v_1")
    }

    @Test func numbersAreOperandsOfEveryBinaryOp() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [3], name: "x")
        let n = try g.placeholder(.int64, shape: [3], name: "n")
        let fetches = [
            try cast(greater(x, 0), to: .float32), try multiply(0.5, x), try maximum(x, 1), try pow(x, 2),
            try cast(equal(n, 3), to: .float32), try cast(logicalAnd(greater(x, -1), true), to: .float32), try subtract(10, x),
        ]
        let s = Session(graph: g)
        let r = try s.run(fetches: fetches, feeds: [x: Tensor([-2, 0.5, 4] as [Float]), n: Tensor([3, 4, 3] as [Int64])])
        #expect(r.map { $0.scalars(as: Float.self) } == [[0, 1, 1], [-1, 0.25, 2], [1, 1, 4], [4, 0.25, 16], [1, 0, 1], [0, 1, 1],
                                                         [12, 9.5, 6]])
        #expect(message { _ = try add(1, 2) }.contains("needs a tensor on at least one side"))
    }

    @Test func errorsPointAtTheUsersLines() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 2], name: "x")
        let y = try g.placeholder(.float32, shape: [nil, 1], name: "y")
        let w = try g.variable("w", shape: [2, 1], initializer: .ones)
        let lossLine = #line + 1
        let loss = try Losses.meanSquaredError(labels: y, predictions: matmul(x, w.value))
        #expect(loss.node.location?.line == lossLine && loss.node.location?.fileID.hasSuffix("BuildingErgonomicsTests.swift") == true)
        let trainLine = #line + 1
        let train = try GradientDescentOptimizer(learningRate: 0.1).minimize(loss)
        #expect(train.location?.line == trainLine)
        let gradientNodes = g.nodes.filter { $0.name.hasPrefix("gradients") }
        #expect(!gradientNodes.isEmpty && gradientNodes.allSatisfy { $0.location?.line == trainLine })

        let s = Session(graph: g)
        // Uninitialised: TF's message, and what to do about it.
        let uninitialized = message { _ = try s.run(loss, feeds: [x: Tensor(zeros: .float32, shape: [1, 2]), y: Tensor(zeros: .float32, shape: [1, 1])]) }
        #expect(uninitialized.contains("Attempting to use uninitialized value w") && uninitialized.contains("globalVariablesInitializer"))
        try s.run(target: g.globalVariablesInitializer())
        // A bad feed names the placeholder's line and the run's.
        let runLine = #line + 1
        let badFeed = message { _ = try s.run(loss, feeds: [x: Tensor(zeros: .int32, shape: [1, 2]), y: Tensor(zeros: .float32, shape: [1, 1])]) }
        #expect(badFeed.contains("Cannot feed value of dtype int32 for 'x:0'") && badFeed.contains("in the run at BuildingErgonomicsTests.swift:\(runLine)"),
                "\(badFeed)")
    }
}
