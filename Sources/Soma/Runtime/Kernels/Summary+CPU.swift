import Foundation

/// Kernels for the summary ops: each writes one serialized `Summary` (a string scalar).
enum SummaryKernels {
    static let table: [String: CPUKernel] = [
        "ScalarSummary": { ctx in
            let tags = ctx.inputs[0].byteStrings ?? [], values = ctx.inputs[1]
            guard ctx.inputs[0].shape == values.shape else {
                throw KernelError("tags and values not the same shape: \(shapeString(ctx.inputs[0].shape)) != \(shapeString(values.shape))")
            }
            let pairs = zip(tags, values.doubleScalars()).map { (tag: String(decoding: $0, as: UTF8.self), value: Float($1)) }
            ctx.setOutput(0, try summaryTensor(SummaryEncoding.scalars(pairs)))
        },
        "HistogramSummary": { ctx in
            let tag = try scalarString(ctx.inputs[0], "tag")
            guard let summary = SummaryEncoding.histogram(tag: tag, values: ctx.inputs[1].doubleScalars()) else {
                throw KernelError(SummaryEncoding.nonFiniteHistogram(tag: tag))
            }
            ctx.setOutput(0, try summaryTensor(summary))
        },
        "ImageSummary": { ctx in
            let tag = try scalarString(ctx.inputs[0], "tag")
            let badColor = ctx.node.tensor("bad_color") ?? SummaryEncoding.defaultBadColor
            do {
                ctx.setOutput(0, try summaryTensor(SummaryEncoding.images(tag: tag, ctx.inputs[1], maxImages: ctx.node.int("max_images") ?? 3,
                                                                         badColor: badColor)))
            } catch let error as SomaError {
                throw KernelError(error.message)
            }
        },
        "TensorSummaryV2": { ctx in
            let tag = try scalarString(ctx.inputs[0], "tag")
            let metadata = ctx.inputs[2].byteStrings?.first ?? []
            ctx.setOutput(0, try summaryTensor(SummaryEncoding.tensor(tag: tag, ctx.inputs[1], metadata: metadata)))
        },
        "MergeSummary": { ctx in
            var merged: [UInt8] = []
            var seen = Set<String>()
            for input in ctx.inputs {
                for summary in input.byteStrings ?? [] {
                    guard let tags = SummaryEncoding.tags(of: summary) else {
                        throw KernelError("Could not parse one of the summary inputs")
                    }
                    for tag in tags where !seen.insert(tag).inserted {
                        throw KernelError("Duplicate tag \(tag.escapingControlCharacters) found in summary inputs")
                    }
                    merged += summary
                }
            }
            ctx.setOutput(0, try summaryTensor(merged))
        },
    ]

    private static func summaryTensor(_ bytes: [UInt8]) throws -> Tensor { try Tensor(byteStrings: [bytes], shape: []) }

    private static func scalarString(_ t: Tensor, _ what: String) throws -> String {
        guard t.scalarCount == 1, let s = t.byteStrings?.first else {
            throw KernelError("\(what) must be a scalar, but has shape \(shapeString(t.shape))")
        }
        return String(decoding: s, as: UTF8.self)
    }
}
