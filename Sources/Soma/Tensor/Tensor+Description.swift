/// NumPy-like printing: nested brackets, elided with `...` past 1,000 elements.
extension Tensor: CustomStringConvertible {
    /// Elements printed in full up to this count (NumPy's `threshold`).
    static let printThreshold = 1000
    /// Leading and trailing items kept per axis when eliding (NumPy's `edgeitems`).
    static let edgeItems = 3

    public var description: String {
        if let strings {
            let shown = strings.prefix(Tensor.printThreshold).map { "\"\($0.escapingControlCharacters)\"" }
            let body = shown.joined(separator: ", ") + (strings.count > shown.count ? ", ..." : "")
            return "Tensor([\(body)], dtype: string, shape: \(shapeString(shape)))"
        }
        if dtype == .resource { return "Tensor(<resource handle>, shape: \(shapeString(shape)))" }
        let values = doubleScalars()
        let elide = scalarCount > Tensor.printThreshold
        let body = Tensor.format(values, shape: shape, dtype: dtype, offset: 0, depth: 0, elide: elide)
        return "Tensor(\(body), dtype: \(dtype), shape: \(shapeString(shape)))"
    }

    static func formatScalar(_ v: Double, _ dtype: DType) -> String {
        switch dtype {
        case .bool: return v != 0 ? "true" : "false"
        case .int32, .int64, .uint8: return String(Int64(v))
        case .float32:
            if v.isNaN { return "nan" }
            if v.isInfinite { return v > 0 ? "inf" : "-inf" }
            return String(Float(v))
        case .float64:
            if v.isNaN { return "nan" }
            if v.isInfinite { return v > 0 ? "inf" : "-inf" }
            return String(v)
        case .string, .resource, .variant: return "?"
        }
    }

    static func format(
        _ values: [Double], shape: [Int], dtype: DType, offset: Int, depth: Int, elide: Bool
    ) -> String {
        if depth == shape.count { return formatScalar(values[offset], dtype) }
        let n = shape[depth]
        let stride = shape[(depth + 1)...].reduce(1, *)
        var items: [String] = []
        let skip = elide && n > 2 * edgeItems
        for i in 0..<n {
            if skip && i == edgeItems { items.append("..."); continue }
            if skip && i > edgeItems && i < n - edgeItems { continue }
            items.append(format(values, shape: shape, dtype: dtype, offset: offset + i * stride, depth: depth + 1, elide: elide))
        }
        let separator = depth == shape.count - 1 ? ", " : ",\n" + String(repeating: " ", count: depth + 1)
        return "[" + items.joined(separator: separator) + "]"
    }
}
