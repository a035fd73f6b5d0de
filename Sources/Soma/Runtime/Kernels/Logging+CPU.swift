import Foundation

/// Kernels for the logging ops.
enum LoggingKernels {
    static let table: [String: CPUKernel] = [
        "Assert": { ctx in
            guard ctx.inputs[0].scalarCount == 1 else { throw KernelError("In[0] (condition) must be a scalar") }
            guard !ctx.inputs[0].pointer(as: Bool.self)[0] else { return }
            let summarize = ctx.node.int("summarize") ?? 3
            let data = ctx.inputs.dropFirst().map { "[" + summary($0, summarize: summarize) + "]" }
            throw KernelError("assertion failed: " + data.joined(separator: " "))
        },
    ]

    /// TF's `SummarizeValue`: the first `summarize` elements (all when negative), in
    /// nested brackets for rank 2 and up, `...` where elements were left out; numbers as
    /// TF prints them (`2`, `-1.5`, booleans `1`/`0`), strings as they are (escaped).
    static func summary(_ t: Tensor, summarize: Int) -> String {
        let count = t.scalarCount
        let limit = summarize < 0 ? count : Swift.min(summarize, count)
        let elements = strings(t, limit)
        guard t.rank > 1 else {
            return elements.joined(separator: " ") + (limit < count ? "..." : "")
        }
        // TF's nested walk, with an explicit stack of outer dimensions (index, bracket open),
        // stopping once `limit` elements are out: after that only open brackets close.
        let innermost = t.rank - 1
        var out = "", index = 0
        func row() {
            for i in 0..<t.shape[innermost] {
                if index >= limit { out += "..."; return }
                if i > 0 { out += " " }
                out += elements[index]
                index += 1
            }
        }
        var stack: [(dim: Int, i: Int, open: Bool)] = [(0, 0, false)]
        while let top = stack.last {
            if index >= limit || top.i == t.shape[top.dim] {
                stack.removeLast()
                if let p = stack.indices.last {
                    if index < limit || stack[p].open { out += "]" }
                    stack[p].open = false
                    stack[p].i += 1
                }
                continue
            }
            out += "["
            stack[stack.count - 1].open = true
            if top.dim + 1 == innermost {
                row()
                out += "]"
                stack[stack.count - 1].open = false
                stack[stack.count - 1].i += 1
            } else {
                stack.append((top.dim + 1, 0, false))
            }
        }
        return out + (limit < count ? "..." : "")
    }

    /// The first `limit` elements, each as TF prints it: floats in the shortest of `%g`
    /// at 6 (float) or 15 (double) digits that reads back, else 9 or 17; strings C-escaped.
    private static func strings(_ t: Tensor, _ limit: Int) -> [String] {
        func float(_ v: Float) -> String {
            let short = String(format: "%.6g", Double(v))
            return Float(short) == v || v.isNaN ? short : String(format: "%.9g", Double(v))
        }
        func double(_ v: Double) -> String {
            let short = String(format: "%.15g", v)
            return Double(short) == v || v.isNaN ? short : String(format: "%.17g", v)
        }
        switch t.dtype {
        case .string: return (t.byteStrings ?? []).prefix(limit).map(cEscaped)
        case .bool: return t.scalars(as: Bool.self).prefix(limit).map { $0 ? "1" : "0" }
        case .float32: return t.scalars(as: Float.self).prefix(limit).map(float)
        case .float64: return t.scalars(as: Double.self).prefix(limit).map(double)
        case .int32: return t.scalars(as: Int32.self).prefix(limit).map { String($0) }
        case .int64: return t.scalars(as: Int64.self).prefix(limit).map { String($0) }
        case .uint8: return t.scalars(as: UInt8.self).prefix(limit).map { String($0) }
        case .resource: return Array(repeating: "<resource>", count: limit)
        case .variant: return Array(repeating: "<variant>", count: limit)
        }
    }

    /// TF's `CEscape`: `\n \r \t \" \' \\`, and other bytes outside printable ASCII as
    /// three octal digits — so file data cannot drive a terminal either.
    static func cEscaped(_ bytes: [UInt8]) -> String {
        var out = ""
        for b in bytes {
            switch b {
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x22: out += "\\\""
            case 0x27: out += "\\'"
            case 0x5C: out += "\\\\"
            case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(b))
            default: out += "\\" + String(b, radix: 8).leftPadded(to: 3)
            }
        }
        return out
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: Swift.max(0, width - count)) + self }
}
