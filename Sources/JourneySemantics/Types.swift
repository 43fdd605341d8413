/// The type of a value in a journey.
public enum JType: Sendable, Hashable, CustomStringConvertible {
    case bool, int, decimal, money, string, url, date, time, duration, timeOfDay
    // Only the types that hold a type are boxed: an event's type (its name) is made for every
    // alias read, and a box for each was a tenth of the name lookups.
    indirect case optional(JType)
    indirect case list(JType)
    /// The record of an event's fields, by event name.
    case event(String)
    case profile
    /// The type of `none` on its own.
    case noneLiteral
    /// Literals that adapt: `12` may be an int, decimal or money; `12.5` a decimal or money;
    /// a string literal may be a url.
    case intLiteral, decimalLiteral, stringLiteral
    /// A value whose type could not be found; an error was reported already, so it fits anywhere.
    case error

    public static let named: [String: JType] = [
        "bool": .bool, "int": .int, "decimal": .decimal, "money": .money, "string": .string, "url": .url,
        "date": .date, "time": .time, "duration": .duration,
    ]

    public var description: String {
        switch self {
        case .bool: "bool"
        case .int, .intLiteral: "int"
        case .decimal, .decimalLiteral: "decimal"
        case .money: "money"
        case .string, .stringLiteral: "string"
        case .url: "url"
        case .date: "date"
        case .time: "time"
        case .duration: "duration"
        case .timeOfDay: "time of day"
        case .optional(let t): "\(t)?"
        case .list(let t): "list[\(t)]"
        case .event(let e): "event \(e)"
        case .profile: "profile"
        case .noneLiteral: "none"
        case .error: "unknown"
        }
    }

    public var isOptional: Bool {
        if case .optional = self { return true }
        return self == .noneLiteral
    }

    /// The type without its optional wrapper.
    public var unwrapped: JType {
        if case .optional(let t) = self { return t }
        return self
    }

    /// The type with an optional wrapper (never doubly wrapped).
    public var asOptional: JType {
        switch self {
        case .optional, .error, .noneLiteral: self
        default: .optional(self)
        }
    }

    /// The declared type a literal settles to when nothing else is expected.
    public var settled: JType {
        switch self {
        case .intLiteral: .int
        case .decimalLiteral: .decimal
        case .stringLiteral: .string
        case .optional(let t): .optional(t.settled)
        case .list(let t): .list(t.settled)
        default: self
        }
    }

    /// 0 int, 1 decimal, 2 money; nil for non-numbers.
    var numericRank: Int? {
        switch self {
        case .int, .intLiteral: 0
        case .decimal, .decimalLiteral: 1
        case .money: 2
        default: nil
        }
    }

    var isLiteral: Bool { self == .intLiteral || self == .decimalLiteral || self == .stringLiteral }

    /// True when a value of this type may stand where `target` is expected.
    public func isAssignable(to target: JType) -> Bool {
        if self == .error || target == .error || self == target { return true }
        switch (self, target) {
        case (.noneLiteral, .optional): return true
        case (.optional(let a), .optional(let b)): return a.isAssignable(to: b)
        case (_, .optional(let b)): return isAssignable(to: b)
        case (.intLiteral, .int), (.intLiteral, .decimal), (.intLiteral, .money): return true
        case (.decimalLiteral, .decimal), (.decimalLiteral, .money): return true
        case (.int, .decimal): return true
        case (.stringLiteral, .string), (.stringLiteral, .url): return true
        case (.list(let a), .list(let b)): return a.isAssignable(to: b)
        default: return false
        }
    }

    /// The common type of two values compared or combined with `??`, if they have one.
    /// Literals adapt to the other side; of two values, only `int` widens (to `decimal`).
    public static func common(_ a: JType, _ b: JType) -> JType? {
        if a == .error { return b.settled }
        if b == .error { return a.settled }
        // Lists: the common type of their items (an empty literal `[]` fits any list).
        if case .list(let x) = a, case .list(let y) = b { return common(x, y).map(JType.list) }
        if a.isLiteral, b.isLiteral {
            if let ra = a.numericRank, let rb = b.numericRank { return (ra >= rb ? a : b).settled }
            return a == b ? a.settled : nil
        }
        if a.isLiteral, let ra = a.numericRank, let rb = b.numericRank { return ra > rb ? a.settled : b }
        if b.isLiteral, let ra = a.numericRank, let rb = b.numericRank { return rb > ra ? b.settled : a }
        if a.isLiteral { return a.isAssignable(to: b) ? b : nil }
        if b.isLiteral { return b.isAssignable(to: a) ? a : nil }
        if a.isAssignable(to: b) { return b }
        if b.isAssignable(to: a) { return a }
        return nil
    }
}
