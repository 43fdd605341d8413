import JourneyBytecode
import JourneySemantics

/// Membership and the built-in functions on lists and text.
enum Lists {
    /// An item in a list (numbers equal across int, decimal and money), or text in a string.
    /// None is in nothing, and nothing is in none.
    static func contains(_ container: Value, _ item: Value) -> Bool {
        switch (container, item) {
        case (_, .none), (.none, _): return false
        case (.list(let items), _): return items.contains { Arithmetic.equal($0, item) }
        case (.string(let s), .string(let t)): return t.isEmpty || s.contains(t)
        default: return false
        }
    }

    static func call(_ fn: Builtin, _ args: ArraySlice<Value>) throws -> Value {
        let first = args[args.startIndex]
        switch fn {
        case .size:
            switch first {
            case .list(let items): return .int(Int64(items.count))
            case .string(let s): return .int(Int64(s.count))
            default: return .int(0)
            }
        case .upper, .lower, .capitalize:
            guard case .string(let s) = first else { return first }
            let out: String = switch fn {
            case .upper: s.uppercased()
            case .lower: s.lowercased()
            default: s.first.map { $0.uppercased() + s.dropFirst() } ?? s
            }
            guard out.utf8.count <= Value.maxTextBytes else { throw Arithmetic.tooLong(out.utf8.count) }
            return .string(out)
        case .join:
            guard case .list(let items) = first else { return .string(first.text) }
            let separator = args[args.startIndex + 1].text
            var out = ""
            for (i, item) in items.enumerated() {
                let piece = (i > 0 ? separator : "") + item.text
                guard out.utf8.count + piece.utf8.count <= Value.maxTextBytes else { throw Arithmetic.tooLong(out.utf8.count + piece.utf8.count) }
                out += piece
            }
            return .string(out)
        case .percent, .format:
            throw RuntimeFault(message: "\(fn.name) is not a built-in instruction")
        }
    }
}
