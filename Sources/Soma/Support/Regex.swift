/// A small regular-expression matcher for TF's regex ops, linear in the input whatever
/// the pattern (a Thompson NFA simulated over state sets, as RE2 guarantees) — patterns
/// come from model files, so a backtracking matcher would let a file hang the process.
///
/// Syntax: literals, `.`, escapes (`\.`, `\d`, `\w`, `\s` and their negations), classes
/// (`[a-z_]`, `[^/]`), groups `( )` and `(?: )`, alternation `|`, quantifiers `*`, `+`, `?`,
/// and `^`/`$` at the ends (full matches are anchored anyway). Matching is over bytes
/// (UTF-8), as RE2's Latin-1-free byte mode does for ASCII patterns.
struct ByteRegex: Sendable {
    private indirect enum Node: Sendable {
        case set([Bool])              // 256 entries: which bytes match
        case concat([Node])
        case alternation([Node])
        case repeated(Node, min: Int, unbounded: Bool)  // *, +, ?
        case empty
    }

    private enum State: Sendable {
        case byte([Bool], next: Int)
        case split(Int, Int)
        case match
    }

    private let states: [State]
    private let start: Int

    struct SyntaxError: Error { let message: String }

    /// Compiles `pattern`. - Throws: ``SyntaxError`` naming the position of a construct the
    /// matcher does not support or cannot parse.
    init(_ pattern: String) throws {
        var parser = Parser(bytes: Array(pattern.utf8))
        let node = try parser.parseAlternation()
        guard parser.position == parser.bytes.count else {
            throw SyntaxError(message: "unexpected '\(Character(Unicode.Scalar(parser.bytes[parser.position])))' at \(parser.position)")
        }
        var builder = Builder()
        let match = builder.add(.match)
        start = builder.compile(node, next: match)
        states = builder.states
    }

    /// Whether the whole of `input` matches.
    func fullMatch(_ input: [UInt8]) -> Bool {
        var current = Set<Int>(), next = Set<Int>()
        func addClosure(_ s: Int, to set: inout Set<Int>) {
            var stack = [s]
            while let x = stack.popLast() {
                guard set.insert(x).inserted else { continue }
                if case .split(let a, let b) = states[x] { stack.append(a); stack.append(b) }
            }
        }
        addClosure(start, to: &current)
        for byte in input {
            next.removeAll(keepingCapacity: true)
            for s in current {
                if case .byte(let accepted, let target) = states[s], accepted[Int(byte)] { addClosure(target, to: &next) }
            }
            swap(&current, &next)
            if current.isEmpty { return false }
        }
        return current.contains { if case .match = states[$0] { true } else { false } }
    }

    private struct Builder {
        var states: [State] = []

        mutating func add(_ s: State) -> Int {
            states.append(s)
            return states.count - 1
        }

        /// States matching `node` then continuing at `next`; returns the entry state.
        mutating func compile(_ node: Node, next: Int) -> Int {
            switch node {
            case .empty: return next
            case .set(let accepted): return add(.byte(accepted, next: next))
            case .concat(let parts):
                var entry = next
                for part in parts.reversed() { entry = compile(part, next: entry) }
                return entry
            case .alternation(let options):
                var entry = compile(options.last!, next: next)
                for option in options.dropLast().reversed() { entry = add(.split(compile(option, next: next), entry)) }
                return entry
            case .repeated(let body, let min, let unbounded):
                if unbounded {
                    // A loop: split → (body → split) | next.
                    let loop = add(.split(-1, next))
                    let bodyEntry = compile(body, next: loop)
                    states[loop] = .split(bodyEntry, next)
                    return min == 0 ? loop : bodyEntry
                }
                let bodyEntry = compile(body, next: next)
                return add(.split(bodyEntry, next))  // optional
            }
        }
    }

    private struct Parser {
        let bytes: [UInt8]
        var position = 0
        var depth = 0

        mutating func parseAlternation() throws -> Node {
            var options = [try parseConcat()]
            while position < bytes.count && bytes[position] == UInt8(ascii: "|") {
                position += 1
                options.append(try parseConcat())
            }
            return options.count == 1 ? options[0] : .alternation(options)
        }

        mutating func parseConcat() throws -> Node {
            var parts: [Node] = []
            while position < bytes.count && bytes[position] != UInt8(ascii: "|") && bytes[position] != UInt8(ascii: ")") {
                var atom = try parseAtom()
                if position < bytes.count, let q = [UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "?")].first(where: { $0 == bytes[position] }) {
                    position += 1
                    if position < bytes.count && [UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "?")].contains(bytes[position]) {
                        throw SyntaxError(message: "bad repetition operator at \(position)")
                    }
                    switch q {
                    case UInt8(ascii: "*"): atom = .repeated(atom, min: 0, unbounded: true)
                    case UInt8(ascii: "+"): atom = .repeated(atom, min: 1, unbounded: true)
                    default: atom = .repeated(atom, min: 0, unbounded: false)
                    }
                }
                parts.append(atom)
            }
            return parts.count == 1 ? parts[0] : (parts.isEmpty ? .empty : .concat(parts))
        }

        mutating func parseAtom() throws -> Node {
            let c = bytes[position]
            position += 1
            switch c {
            case UInt8(ascii: "^") where position == 1, UInt8(ascii: "$") where position == bytes.count: return .empty
            case UInt8(ascii: "."): return .set((0..<256).map { $0 != 10 })
            case UInt8(ascii: "("):
                depth += 1
                guard depth <= 100 else { throw SyntaxError(message: "groups nested deeper than 100") }
                if bytes[position...].starts(with: [UInt8(ascii: "?"), UInt8(ascii: ":")]) { position += 2 }
                else if position < bytes.count && bytes[position] == UInt8(ascii: "?") {
                    throw SyntaxError(message: "unsupported group syntax at \(position - 1)")
                }
                let inner = try parseAlternation()
                guard position < bytes.count && bytes[position] == UInt8(ascii: ")") else {
                    throw SyntaxError(message: "missing ')' for the group at \(position)")
                }
                position += 1
                depth -= 1
                return inner
            case UInt8(ascii: "["): return .set(try parseClass())
            case UInt8(ascii: "\\"): return .set(try parseEscape())
            case UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "?"), UInt8(ascii: "{"), UInt8(ascii: "^"), UInt8(ascii: "$"):
                throw SyntaxError(message: "unsupported or misplaced '\(Character(Unicode.Scalar(c)))' at \(position - 1)")
            default:
                return .set((0..<256).map { $0 == Int(c) })
            }
        }

        mutating func parseEscape() throws -> [Bool] {
            guard position < bytes.count else { throw SyntaxError(message: "trailing backslash") }
            let e = bytes[position]
            position += 1
            func set(_ f: (Int) -> Bool) -> [Bool] { (0..<256).map(f) }
            let digit = { (b: Int) in b >= 48 && b <= 57 }
            let word = { (b: Int) in digit(b) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95 }
            let space = { (b: Int) in b == 32 || (b >= 9 && b <= 13) }
            switch e {
            case UInt8(ascii: "d"): return set(digit)
            case UInt8(ascii: "D"): return set { !digit($0) }
            case UInt8(ascii: "w"): return set(word)
            case UInt8(ascii: "W"): return set { !word($0) }
            case UInt8(ascii: "s"): return set(space)
            case UInt8(ascii: "S"): return set { !space($0) }
            case UInt8(ascii: "n"): return set { $0 == 10 }
            case UInt8(ascii: "t"): return set { $0 == 9 }
            default:
                guard !word(Int(e)) else { throw SyntaxError(message: "unsupported escape '\\\(Character(Unicode.Scalar(e)))'") }
                return set { $0 == Int(e) }
            }
        }

        mutating func parseClass() throws -> [Bool] {
            var accepted = [Bool](repeating: false, count: 256)
            var negate = false
            if position < bytes.count && bytes[position] == UInt8(ascii: "^") { negate = true; position += 1 }
            var first = true
            while true {
                guard position < bytes.count else { throw SyntaxError(message: "missing ']'") }
                var c = bytes[position]
                if c == UInt8(ascii: "]") && !first { position += 1; break }
                first = false
                position += 1
                if c == UInt8(ascii: "\\") {
                    let escaped = try parseEscape()
                    for i in 0..<256 where escaped[i] { accepted[i] = true }
                    continue
                }
                if position + 1 < bytes.count && bytes[position] == UInt8(ascii: "-") && bytes[position + 1] != UInt8(ascii: "]") {
                    let end = bytes[position + 1]
                    position += 2
                    guard c <= end else { throw SyntaxError(message: "bad range in a class") }
                    while true { accepted[Int(c)] = true; if c == end { break }; c += 1 }
                    continue
                }
                accepted[Int(c)] = true
            }
            return negate ? accepted.map { !$0 } : accepted
        }
    }
}
