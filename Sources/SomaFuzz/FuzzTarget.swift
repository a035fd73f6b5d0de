import Foundation
import Soma

/// What the fuzzer feeds its inputs to: Soma's loaders, and everything a loaded model
/// reaches.
///
/// Besides crashes, hangs and memory growth (which libFuzzer and AddressSanitizer catch),
/// each target checks Soma's own promises about bad input and stops the process when one
/// is broken, so that libFuzzer keeps the input as a finding:
/// - bad input is a `SomaError` of one line (no control characters from a file reach it);
/// - whatever a failed load or run reserved from its memory budget is given back.
enum FuzzTarget: String, CaseIterable {
    /// A GraphDef: load it, compile it for its sinks, and run it once with zeros fed to
    /// every placeholder.
    case graphdef
    /// A `.npy` file: read it, and write back what was read.
    case npy
    /// A TensorBundle checkpoint: a 4-byte little-endian index length, the `.index` file
    /// (a LevelDB table), then the data file. Open it and read every tensor.
    case checkpoint
    /// A checkpoint state file (`checkpoint`, TF's text format): parse it and resolve the
    /// latest checkpoint.
    case checkpointstate
    /// A `saved_model.pb` (no variables): load it — graph, inlined functions, saver, main
    /// op — and run every signature once with zeros fed.
    case savedmodel
    /// A CSV file of numbers: read it as a data set with the first column as labels, as
    /// floats and as class indices.
    case csv
    /// A serialized `Summary` fed as a string: merged with another by `MergeSummary`,
    /// appended to an event file, and the file's records read back and checked; the bytes
    /// are also read as a TFRecord file.
    case summary

    /// Memory one input may hold: small, so that no input can take the fuzzer down, and
    /// every allocation a file controls meets the budget check.
    static let budgetBytes = 64 << 20
    /// Largest placeholder fed (elements).
    static let maxFedElements = 1 << 16

    func run(_ bytes: UnsafeRawBufferPointer) {
        let budget = MemoryBudget(limit: Self.budgetBytes)
        let data = Data(bytes)
        switch self {
        case .graphdef: Self.loadCompileAndRun(data, budget: budget)
        case .npy: Self.readAndWrite(data)
        case .checkpoint: Self.readCheckpoint(data, budget: budget)
        case .checkpointstate: Self.readCheckpointState(data)
        case .savedmodel: Self.loadSavedModel(data, budget: budget)
        case .csv: Self.readCSV(data)
        case .summary: Self.mergeAndWriteSummary(data, budget: budget)
        }
        // Every graph, session and tensor of this input is gone now.
        check(budget.bytesInUse == 0, "\(budget.bytesInUse) bytes of the memory budget were never given back")
    }

    private static func loadCompileAndRun(_ data: Data, budget: MemoryBudget) {
        var limits = GraphDefLimits()
        limits.memoryBudget = budget
        limits.maxTensorBytes = budgetBytes
        limits.maxTotalTensorBytes = budgetBytes
        let graph: Graph
        do {
            graph = try Graph(graphDef: data, limits: limits)
        } catch {
            checkOneLine(error)
            return
        }
        var options = SessionOptions()
        options.memoryBudget = budget
        options.maxTensorBytes = budgetBytes
        options.interOpThreads = 1
        options.intraOpThreads = 1
        let session = Session(graph: graph, options: options)
        var consumed = Set<ObjectIdentifier>()
        for node in graph.nodes {
            for input in node.inputs { consumed.insert(ObjectIdentifier(input.node)) }
            for control in node.controlInputs { consumed.insert(ObjectIdentifier(control)) }
        }
        let sinks = graph.nodes.filter { !consumed.contains(ObjectIdentifier($0)) }
        let fetches = sinks.flatMap { node in (0..<node.outputCount).map { graph.output(of: node, $0) } }.prefix(8)
        let targets = sinks.filter { $0.outputCount == 0 }.prefix(8)
        do {
            var feeds: [Output: Tensor] = [:]
            for node in graph.nodes where node.op == "Placeholder" {
                guard case .type(let dtype)? = node.attrs["dtype"], case .shape(let shape)? = node.attrs["shape"] else { continue }
                feeds[graph.output(of: node)] = try zeros(dtype, shape, budget: budget)
            }
            _ = try session.run(fetches: Array(fetches), feeds: feeds, targets: Array(targets))
        } catch {
            checkOneLine(error)
        }
    }

    /// Zeros of `shape` with unknown dimensions 1, or `nil` when that is over
    /// ``maxFedElements`` or of a dtype without zeros.
    private static func zeros(_ dtype: DType, _ shape: TensorShape, budget: MemoryBudget) throws -> Tensor? {
        let dims = (shape.dimensions ?? []).map { $0 ?? 1 }
        guard dtype.isPlain, dims.allSatisfy({ $0 >= 0 }), let count = checkedProduct(dims), count <= maxFedElements else { return nil }
        return try Tensor(zeros: dtype, shape: dims, budget: budget)
    }

    /// A folder of this process's own for files a target must write.
    private static let scratch: URL = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? URL(fileURLWithPath: "/dev/shm") : FileManager.default.temporaryDirectory
        let url = base.appendingPathComponent("soma-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: FuzzTarget.scratch) }
        return url
    }()

    private static func mergeAndWriteSummary(_ data: Data, budget: MemoryBudget) {
        do {
            let g = Graph()
            let fed = try g.placeholder(.string, shape: [], name: "fed")
            let merged = try mergeSummary([fed, scalarSummary("fuzz/known", g.constant(Float(1)))])
            var options = SessionOptions()
            options.memoryBudget = budget
            let value = try Tensor(byteStrings: [[UInt8](data)], shape: [])
            let summary = try Session(graph: g, options: options).run(merged, feeds: [fed: value])
            let writer = try SummaryWriter(logDirectory: scratch.appendingPathComponent("summaries"))
            defer { try? FileManager.default.removeItem(at: writer.fileURL) }
            try writer.add(summary: summary, step: 1)
            try writer.close()
            let records = TFRecord.records(Array(try Data(contentsOf: writer.fileURL)))
            check(records?.count == 2, "an event file Soma wrote does not read back as its two records")
            // The same bytes as a TFRecord file: read, or refused, without a trap.
            _ = TFRecord.records([UInt8](data))
        } catch {
            checkOneLine(error)
        }
    }

    private static func readCSV(_ data: Data) {
        for classCount in [nil, 10] {
            do {
                let set = try Dataset(csv: [UInt8](data), name: "fuzz.csv", labelColumns: [0], classCount: classCount)
                check(set.count == set.labels.shape[0], "a CSV data set's features and labels disagree")
            } catch {
                checkOneLine(error)
            }
        }
    }

    private static func readCheckpoint(_ data: Data, budget: MemoryBudget) {
        let bytes = [UInt8](data)
        guard bytes.count >= 4 else { return }
        let indexLength = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16 | Int(bytes[3]) << 24
        let index = bytes[4...].prefix(indexLength), rest = bytes[(4 + index.count)...]
        let prefix = scratch.appendingPathComponent("ckpt").path
        do {
            try Data(index).write(to: URL(fileURLWithPath: prefix + ".index"))
            try Data(rest).write(to: URL(fileURLWithPath: prefix + ".data-00000-of-00001"))
        } catch {
            return check(false, "cannot write the scratch checkpoint: \(error)")
        }
        do {
            let reader = try CheckpointReader(prefix: prefix, budget: budget)
            for name in reader.names {
                do { _ = try reader.tensor(name) } catch { checkOneLine(error) }
            }
        } catch {
            checkOneLine(error)
        }
    }

    private static func readCheckpointState(_ data: Data) {
        let folder = scratch.appendingPathComponent("state")
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try data.write(to: folder.appendingPathComponent("checkpoint"))
        } catch {
            return check(false, "cannot write the scratch state file: \(error)")
        }
        do {
            if let state = try CheckpointState.read(in: folder) {
                check(!state.latest.isEmpty && state.all.last == state.latest, "a parsed state file has no latest checkpoint last")
            }
            _ = Saver.latestCheckpoint(in: folder)
        } catch {
            checkOneLine(error)
        }
    }

    private static func loadSavedModel(_ data: Data, budget: MemoryBudget) {
        let folder = scratch.appendingPathComponent("saved_model")
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try data.write(to: folder.appendingPathComponent("saved_model.pb"))
        } catch {
            return check(false, "cannot write the scratch SavedModel: \(error)")
        }
        var limits = GraphDefLimits()
        limits.memoryBudget = budget
        limits.maxTensorBytes = budgetBytes
        limits.maxTotalTensorBytes = budgetBytes
        var options = SessionOptions()
        options.memoryBudget = budget
        options.maxTensorBytes = budgetBytes
        options.interOpThreads = 1
        options.intraOpThreads = 1
        do {
            let model = try SavedModel.load(from: folder, options: options, limits: limits)
            for signature in model.signatures.values.prefix(4) {
                var feeds: [String: Tensor] = [:]
                for (key, info) in signature.inputs {
                    guard let dtype = info.dtype, let t = try zeros(dtype, info.shape, budget: budget) else { continue }
                    feeds[key] = t
                }
                do { _ = try signature.run(feeds) } catch { checkOneLine(error) }
            }
        } catch {
            checkOneLine(error)
        }
    }

    private static func readAndWrite(_ data: Data) {
        do {
            let tensor = try Tensor(npy: data)
            let written = tensor.npyBytes()
            let reread = try Tensor(npy: Data(written))
            check(reread.shape == tensor.shape && reread.dtype == tensor.dtype, "a written .npy file reads back differently")
        } catch {
            checkOneLine(error)
        }
    }

    /// Bad input is a ``SomaError`` whose message is one line with nothing a terminal
    /// would act on (``Swift/String/escapingControlCharacters`` would change nothing).
    private static func checkOneLine(_ error: any Error) {
        guard let error = error as? SomaError else { return check(false, "not a SomaError: \(String(reflecting: error))") }
        check(error.message.escapingControlCharacters == error.message,
              "an error is not one clean line: \(error.message.debugDescription)")
    }

    private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        Self.check(condition, message())
    }

    private static func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        guard !condition else { return }
        FileHandle.standardError.write(Data("soma-fuzz: broken promise: \(message())\n".utf8))
        abort()
    }
}
