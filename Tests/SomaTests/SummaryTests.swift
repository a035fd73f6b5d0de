import Foundation
import SomaProto
import Testing
@testable import Soma

/// Event files and summaries, decoded with protobuf-c's code generated from `Schemas/`
/// (independent of Soma's hand encoding). `Tools/check_tensorboard.py` reads the same
/// files with TensorBoard's own reader and compares with TF's summary ops.
@Suite struct SummaryTests {
    struct Value {
        var tag: String
        var simple: Float?
        var histogram: (num: Double, sum: Double, limits: [Double], counts: [Double])?
        var image: (width: Int, height: Int, channels: Int, png: [UInt8])?
        var strings: [String]?
        var plugin: String?
    }
    struct Event {
        var step: Int
        var fileVersion: String?
        var graphBytes: Int?
        var values: [Value] = []
    }

    static func decodeSummary(_ s: UnsafePointer<Tensorflow__Summary>) -> [Value] {
        (0..<s.pointee.n_value).map { i in
            let v = s.pointee.value[i]!.pointee
            var value = Value(tag: String(cString: v.tag))
            if let m = v.metadata, let p = m.pointee.plugin_data { value.plugin = String(cString: p.pointee.plugin_name) }
            switch v.value_case {
            case TENSORFLOW__SUMMARY__VALUE__VALUE_SIMPLE_VALUE: value.simple = v.simple_value
            case TENSORFLOW__SUMMARY__VALUE__VALUE_HISTO:
                let h = v.histo.pointee
                value.histogram = (h.num, h.sum, Array(UnsafeBufferPointer(start: h.bucket_limit, count: h.n_bucket_limit)),
                                   Array(UnsafeBufferPointer(start: h.bucket, count: h.n_bucket)))
            case TENSORFLOW__SUMMARY__VALUE__VALUE_IMAGE:
                let im = v.image.pointee
                value.image = (Int(im.width), Int(im.height), Int(im.colorspace),
                               Array(UnsafeBufferPointer(start: im.encoded_image_string.data, count: im.encoded_image_string.len)))
            case TENSORFLOW__SUMMARY__VALUE__VALUE_TENSOR:
                let t = v.tensor.pointee
                value.strings = (0..<t.n_string_val).map {
                    String(decoding: UnsafeBufferPointer(start: t.string_val[$0].data, count: t.string_val[$0].len), as: UTF8.self)
                }
            default: break
            }
            return value
        }
    }

    /// The events of a file: records checked (lengths and masked CRC-32Cs), then unpacked.
    static func events(_ url: URL) throws -> [Event] {
        let records = try #require(TFRecord.records(Array(Data(contentsOf: url))), "the TFRecord framing checks out")
        return try records.map { bytes in
            let event = try #require(bytes.withUnsafeBufferPointer { tensorflow__event__unpack(nil, $0.count, $0.baseAddress) })
            defer { tensorflow__event__free_unpacked(event, nil) }
            var out = Event(step: Int(event.pointee.step))
            switch event.pointee.what_case {
            case TENSORFLOW__EVENT__WHAT_FILE_VERSION: out.fileVersion = String(cString: event.pointee.file_version)
            case TENSORFLOW__EVENT__WHAT_GRAPH_DEF: out.graphBytes = event.pointee.graph_def.len
            case TENSORFLOW__EVENT__WHAT_SUMMARY: out.values = decodeSummary(event.pointee.summary)
            default: break
            }
            return out
        }
    }

    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("soma-summaries-\(UUID())")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func summaryOpsRunAndTheWriterFramesEvents() throws {
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [2, 3, 4, 1], name: "x")
        let mean = try reduceMean(x, name: "mean")
        _ = try scalarSummary("loss", mean)
        _ = try histogramSummary("values", x)
        _ = try imageSummary("digits", x, maxImages: 1)
        _ = try textSummary("note", g.constant("hello"))
        let merged = try #require(try g.mergeAllSummaries())
        let session = Session(graph: g)
        let writer = try SummaryWriter(logDirectory: folder, graph: g)
        let values: [Float] = (0..<24).map { Float($0) - 4 }
        let summary = try session.run(merged, feeds: [x: Tensor(values, shape: [2, 3, 4, 1])])
        try writer.add(summary: summary, step: 7)
        try writer.addScalar("direct", 0, step: 8)
        try writer.close()
        #expect(throws: SomaError.self) { try writer.addScalar("late", 1, step: 9) }

        let events = try Self.events(writer.fileURL)
        #expect(events.count == 4)
        #expect(events[0].fileVersion == "brain.Event:2")
        #expect((events[1].graphBytes ?? 0) > 0)
        let logged = events[2].values
        #expect(events[2].step == 7)
        #expect(logged.map(\.tag) == ["loss", "values", "digits/image", "note"])
        #expect(logged[0].simple == values.reduce(0, +) / 24)
        let histogram = try #require(logged[1].histogram)
        #expect(histogram.num == 24 && histogram.sum == Double(values.reduce(0, +)))
        #expect(histogram.counts.reduce(0, +) == 24)
        #expect(histogram.limits == histogram.limits.sorted())
        let image = try #require(logged[2].image)
        #expect(image.width == 4 && image.height == 3 && image.channels == 1)
        #expect(Array(image.png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(logged[3].strings == ["hello"] && logged[3].plugin == "text")
        // A zero scalar is written (a oneof member has presence).
        #expect(events[3].values.first?.simple == 0 && events[3].step == 8)
    }

    @Test func histogramsUseTFsBuckets() throws {
        // TF's default limits: ±1e-12 · 1.1ⁿ below 1e20, ±DBL_MAX and 0.
        #expect(Histogram.defaultLimits.count == 1551)
        #expect(Histogram.defaultLimits[775] == 0 && Histogram.defaultLimits.last == .greatestFiniteMagnitude)
        var h = Histogram()
        for v in [0.0, 1.0, 1.0, -3.5] { h.add(v) }
        // A value goes to the first bucket whose limit exceeds it.
        for (value, index) in [(0.0, 776), (1.0, h.counts.firstIndex { $0 == 2 }!), (-3.5, h.counts.firstIndex { $0 == 1 }!)] {
            #expect(Histogram.defaultLimits[index] > value && Histogram.defaultLimits[index - 1] <= value)
        }
        #expect(h.counts[776] == 1 && h.min == -3.5 && h.max == 1 && h.sumSquares == 14.25)
    }

    @Test func mergeAndScalarFailuresSpeakTFsWords() throws {
        let g = Graph()
        let a = try scalarSummary("same", g.constant(Float(1)))
        let b = try scalarSummary("same", g.constant(Float(2)), name: "other")
        let merged = try mergeSummary([a, b])
        let error = #expect(throws: SomaError.self) { try Session(graph: g).run(merged) }
        #expect(error?.message.contains("Duplicate tag same found in summary inputs") == true)
        let nan = try histogramSummary("h", g.constant([1, .nan] as [Float], shape: [2]))
        let nanError = #expect(throws: SomaError.self) { try Session(graph: g).run(nan) }
        #expect(nanError?.message.contains("Nan in summary histogram for: h") == true)
        #expect(throws: SomaError.self) {
            _ = try g.output("ScalarSummary", [g.constant(Tensor(strings: ["a", "b"], shape: [2])), g.constant(Float(1))],
                             name: "bad", file: "", line: 0)
        }
        let garbage = try mergeSummary([g.constant(Tensor(byteStrings: [[0xFF, 0xFF]], shape: []))])
        #expect(throws: SomaError.self) { try Session(graph: g).run(garbage) }
    }

    /// What a model file controls — an image tensor's rank and depth, `bad_color`,
    /// `max_images` — fails with one line naming the node, never a trap.
    @Test func hostileImageSummariesFailClearly() throws {
        let g = Graph()
        let rank3 = try g.placeholder(.float32, shape: .unknown, name: "rank3")
        let bad = try imageSummary("bad", rank3)
        let s = Session(graph: g)
        let error = #expect(throws: SomaError.self) { try s.run(bad, feeds: [rank3: Tensor(repeating: Float(1), shape: [2, 2, 2])]) }
        #expect(error?.message.contains("Tensor must be 4-D with last dim 1, 3, or 4, not [2,2,2]") == true)
        #expect(error?.message.contains("for 'bad' (op: 'ImageSummary')") == true)
        #expect(throws: SomaError.self) { try s.run(bad, feeds: [rank3: Tensor(repeating: Float(1), shape: [1, 2, 2, 2])]) }
        let colour = try g.output("ImageSummary", [g.constant("c"), g.constant(Tensor(repeating: Float(1), shape: [1, 2, 2, 3]))],
                                  attrs: ["bad_color": .tensor(Tensor([1, 2] as [Float]))], name: "colour", file: "", line: 0)
        let colourError = #expect(throws: SomaError.self) { try s.run(colour) }
        #expect(colourError?.message.contains("bad_color must be a uint8 vector of at least 3 elements") == true)
        // An enormous max_images takes what there is.
        let many = try g.output("ImageSummary", [g.constant("m"), g.constant(Tensor(repeating: UInt8(9), shape: [2, 1, 1, 1]))],
                                attrs: ["max_images": .int(Int.max)], name: "many", file: "", line: 0)
        #expect(SummaryEncoding.tags(of: try s.run(many).byteStrings![0]) == ["m/image/0", "m/image/1"])
    }

    @Test func pngChecksumsMatchTheirStandards() {
        // The standards' check values: CRC-32 of "123456789", Adler-32 of "Wikipedia".
        #expect(PNG.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(PNG.adler32(Array("Wikipedia".utf8)) == 0x11E6_0398)
        // More than one stored block: 70,000 bytes need two (65,535 at most each).
        let stream = PNG.zlibStored([UInt8](repeating: 7, count: 70_000))
        #expect(stream.count == 2 + 2 * 5 + 70_000 + 4)
        #expect(stream[2] == 0 && stream[2 + 5 + 65_535] == 1, "BFINAL only on the last block")
    }

    @Test func tensorBoardCallbackWritesKerasLayout() throws {
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let g = Graph()
        g.randomSeed = 1
        let model = try Sequential(inputShape: [2], [Dense(1)], name: "line", graph: g)
        try model.compile(optimizer: GradientDescentOptimizer(learningRate: 0.1), loss: .meanSquaredError)
        let x = try Tensor((0..<32).map { Float($0 % 5) / 5 }, shape: [16, 2])
        let y = try Tensor((0..<16).map { Float($0 % 3) }, shape: [16, 1])
        let history = try model.fit(x: x, y: y, batchSize: 4, epochs: 2, validationSplit: 0.25, seed: 2,
                                    callbacks: [TensorBoard(logDirectory: folder, histogramFrequency: 1, batchFrequency: 2)],
                                    verbose: false)
        func file(_ sub: String) throws -> URL {
            let dir = folder.appendingPathComponent(sub)
            let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("events.out.tfevents.") }
            #expect(names.count == 1)
            return dir.appendingPathComponent(try #require(names.first))
        }
        let train = try Self.events(file("train")), validation = try Self.events(file("validation"))
        #expect(train.contains { $0.graphBytes != nil })
        let epochLoss = train.flatMap { e in e.values.filter { $0.tag == "epoch_loss" }.map { (e.step, $0.simple!) } }
        #expect(epochLoss.map(\.0) == [0, 1])
        #expect(epochLoss.map(\.1) == history["loss"].map { Float($0) })
        let valLoss = validation.flatMap { e in e.values.filter { $0.tag == "epoch_loss" }.map(\.simple!) }
        #expect(valLoss == history["val_loss"].map { Float($0) })
        #expect(train.flatMap(\.values).filter { $0.tag == "batch_loss" }.count == 3, "batches 0, 2, 4 of 6")
        let histogramTags = Set(train.flatMap(\.values).filter { $0.histogram != nil }.map(\.tag))
        #expect(histogramTags == Set(model.variables.map(\.name)))
    }
}
