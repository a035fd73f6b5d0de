/// A JSON scalar of a fixture manifest: a number, a boolean or a string.
enum JSONValue: Decodable {
    case number(Double), bool(Bool), string(String)

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else { self = .string(try c.decode(String.self)) }
    }

    /// The number, or NaN for a boolean or string.
    var number: Double { if case .number(let d) = self { d } else { .nan } }
}
