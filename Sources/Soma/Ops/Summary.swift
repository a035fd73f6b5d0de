/// Summary ops (TF1's `summary_ops`: `tf.compat.v1.summary.scalar`, `histogram`, `image`,
/// `text`, `merge`): each outputs a scalar string holding a serialized `Summary`
/// protocol buffer, which a ``SummaryWriter`` appends to a TensorBoard event file.
///
/// Soma takes TF1's graph-mode ops rather than TF2's `WriteScalarSummary` family: those
/// write through a resource (a summary writer living in the session) as a side effect,
/// while TF1's return the summary as a value — the run fetches it, and the writer stays an
/// ordinary Swift object. Graphs from TF1 code with summaries load and run as they are.
enum SummaryOps {
    static let definitions: [OpDef] = [
        OpDef("ScalarSummary", inputs: ["tags: string", "values: T"], outputs: ["summary: string"],
              attrs: [.type("T", DType.numeric)], gradient: .notDifferentiable) { c in
            if let a = c.shape(0).dimensions, let b = c.shape(1).dimensions, a != b {
                throw ShapeError("tags and values not the same shape: \(c.shape(0)) != \(c.shape(1))")
            }
            return [.scalar]
        },
        OpDef("HistogramSummary", inputs: ["tag: string", "values: T"], outputs: ["summary: string"],
              attrs: [.type("T", DType.numeric, default: .float32)], gradient: .notDifferentiable) { c in
            guard c.shape(0).rank ?? 0 == 0 else { throw ShapeError("tag must be a scalar, but has shape \(c.shape(0))") }
            return [.scalar]
        },
        OpDef("ImageSummary", inputs: ["tag: string", "tensor: T"], outputs: ["summary: string"],
              attrs: [.int("max_images", default: 3, minimum: 1), .type("T", [.uint8, .float32, .float64], default: .float32),
                      AttrDef("bad_color", .tensor, default: .tensor(SummaryEncoding.defaultBadColor))],
              gradient: .notDifferentiable) { c in
            guard c.shape(0).rank ?? 0 == 0 else { throw ShapeError("tag must be a scalar, but has shape \(c.shape(0))") }
            if let dims = c.shape(1).dimensions {
                guard dims.count == 4 else { throw ShapeError("Tensor must be 4-D with last dim 1, 3, or 4, not \(c.shape(1))") }
                if let depth = dims[3], ![1, 3, 4].contains(depth) {
                    throw ShapeError("Tensor must be 4-D with last dim 1, 3, or 4, not \(c.shape(1))")
                }
            }
            return [.scalar]
        },
        OpDef("TensorSummaryV2", inputs: ["tag: string", "tensor: T", "serialized_summary_metadata: string"],
              outputs: ["summary: string"], attrs: [.type("T", DType.all + [.string])], gradient: .notDifferentiable) { c in
            guard c.shape(0).rank ?? 0 == 0 else { throw ShapeError("tag must be a scalar, but has shape \(c.shape(0))") }
            return [.scalar]
        },
        OpDef("MergeSummary", inputs: ["inputs: N * string"], outputs: ["summary: string"], attrs: [.int("N", minimum: 1)],
              gradient: .notDifferentiable, shape: Shapes.scalar),
    ]

    /// The ops that make one summary (what ``Graph/mergeAllSummaries(name:file:line:)`` collects).
    static let producers: Set<String> = ["ScalarSummary", "HistogramSummary", "ImageSummary", "TensorSummaryV2"]
}

/// A summary of a scalar (`tf.compat.v1.summary.scalar`): `value`'s one element under `tag`.
public func scalarSummary(_ tag: String, _ value: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    let g = value.graph
    let tags = try g.constant(Tensor(strings: [tag], shape: value.shape.dimensions?.map { $0 ?? 1 } ?? []), file: file, line: line)
    return try g.output("ScalarSummary", [tags, value], name: name ?? tag, file: file, line: line)
}

/// A histogram of `values` under `tag`, in TF's buckets (`tf.compat.v1.summary.histogram`).
/// A NaN or infinity fails the run, as in TF.
public func histogramSummary(_ tag: String, _ values: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    let g = values.graph
    return try g.output("HistogramSummary", [try g.constant(tag, file: file, line: line), values], name: name ?? tag,
                        file: file, line: line)
}

/// Up to `maxImages` images of a `[batch, height, width, channels]` tensor (channels 1, 3
/// or 4) as PNGs under `tag/image` (or `tag/image/0`, `tag/image/1`, …): uint8 as they
/// are, floats scaled per image as TF does (`tf.compat.v1.summary.image`).
public func imageSummary(_ tag: String, _ images: Output, maxImages: Int = 3, name: String? = nil,
                         file: String = #fileID, line: Int = #line) throws -> Output {
    let g = images.graph
    return try g.output("ImageSummary", [try g.constant(tag, file: file, line: line), images],
                        attrs: ["max_images": .int(maxImages)], name: name ?? tag, file: file, line: line)
}

/// Text for TensorBoard's text tab (`tf.compat.v1.summary.text`): a string tensor, each
/// element Markdown.
public func textSummary(_ tag: String, _ text: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    let g = text.graph
    let metadata = try g.constant(Tensor(byteStrings: [SummaryEncoding.pluginMetadata("text")], shape: []), file: file, line: line)
    return try g.output("TensorSummaryV2", [try g.constant(tag, file: file, line: line), text, metadata], name: name ?? tag,
                        file: file, line: line)
}

/// One summary holding every value of `summaries` (`tf.compat.v1.summary.merge`). A tag
/// twice fails the run, as in TF.
public func mergeSummary(_ summaries: [Output], name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    guard let first = summaries.first else { throw SomaError.invalidArgument("mergeSummary needs at least one summary") }
    return try first.graph.output("MergeSummary", summaries, name: name ?? "Merge/MergeSummary", file: file, line: line)
}

extension Graph {
    /// Every summary op of the graph merged into one (`tf.compat.v1.summary.merge_all`), or
    /// `nil` when there is none.
    public func mergeAllSummaries(name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output? {
        let all = nodes.filter { SummaryOps.producers.contains($0.op) }.map { output(of: $0) }
        return all.isEmpty ? nil : try mergeSummary(all, name: name, file: file, line: line)
    }
}
