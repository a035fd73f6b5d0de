import Foundation
import Testing
@testable import Soma

/// The hostile-model regression files (`Tools/make_hostile_fixtures.py`): each once
/// crashed, hung or exhausted memory, or was accepted where TF refuses it. Each must now
/// fail with one clear line naming the node, the op and the problem — never a trap.
@Suite struct HostileFixtureTests {
    struct Feed: Decodable, Sendable {
        let dtype: String
        let shape: [Int]
        let values: [Int]?
        let zeros: Bool?
    }
    struct Case: Decodable, CustomTestStringConvertible, Sendable {
        let file: String
        let cls: String
        let stage: String
        let code: String
        let expect: [String]
        let fetch: [String]
        let feeds: [String: Feed]
        let memory_limit: Int?
        var testDescription: String { "\(file) (\(cls))" }
    }

    static let folder = Bundle.module.url(forResource: "hostile", withExtension: nil, subdirectory: "Fixtures")!
    static let cases: [Case] = {
        let data = try! Data(contentsOf: folder.appendingPathComponent("manifest.json"))
        return try! JSONDecoder().decode([Case].self, from: data)
    }()

    @Test(arguments: cases) func failsWithOneClearLine(_ c: Case) throws {
        let budget = MemoryBudget(limit: c.memory_limit ?? MemoryBudget.defaultLimit)
        var limits = GraphDefLimits()
        limits.memoryBudget = budget
        let error: SomaError
        do {
            let graph = try Graph(contentsOf: Self.folder.appendingPathComponent(c.file), limits: limits)
            #expect(c.stage == "run", "loaded, but should fail at load")
            var options = SessionOptions()
            options.memoryBudget = budget
            let session = Session(graph: graph, options: options)
            var feeds: [Output: Tensor] = [:]
            for (name, feed) in c.feeds {
                let dtype: DType = ["int32": .int32, "float64": .float64][feed.dtype] ?? .float32
                feeds[try #require(graph.output(named: name))] = try feed.zeros == true
                    ? Tensor(zeros: dtype, shape: feed.shape, budget: budget)
                    : Tensor(feed.values!.map { Int32($0) }, shape: feed.shape)
            }
            _ = try session.run(fetches: c.fetch.map { graph.output(named: $0)! }, feeds: feeds)
            Issue.record("ran without error")
            return
        } catch let e as SomaError {
            error = e
        }
        #expect(error.code.rawValue.lowercased() == c.code.lowercased(), "\(error)")
        for text in c.expect { #expect(error.message.contains(text), "\(error.message)") }
        #expect(!error.message.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "not one line: \(error.message)")
        // Whatever was reserved for the failed load or run is given back.
        #expect(budget.bytesInUse < 1 << 20, "\(budget)")
    }
}
