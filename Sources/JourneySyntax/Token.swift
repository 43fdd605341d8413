import JourneyDiagnostics

/// The kinds of token the lexer produces.
public enum TokenKind: UInt8, Sendable, CaseIterable {
    case identifier, integer, decimal, string, duration, percent, timeOfDay, date
    // Reserved keywords.
    case kwJourney, kwProfile, kwEvent, kwChannel, kwPolicy, kwOn, kwAs, kwWhere, kwWhen, kwGoal
    case kwExit, kwReentry, kwWait, kwFor, kwWithin, kwUntil, kwIf, kwElse, kwSplit, kwSet
    case kwTemplate, kwAnd, kwOr, kwNot, kwTrue, kwFalse, kwNone, kwNow, kwToday
    // Punctuation.
    case lBrace, rBrace, lParen, rParen, lBracket, rBracket, colon, comma, dot
    case question, questionQuestion, plus, minus, star, slash, assign
    case equal, notEqual, less, lessEqual, greater, greaterEqual
    case newline, eof, invalid
    /// `2025-03-01T10:00:00Z`: an instant, in tests (a date, `T`, a time, and `Z` or an offset).
    case instant

    /// How the token reads in a message ("expected ':' …").
    public var display: String {
        if let k = Keywords.spelling(of: self) { return "'\(k)'" }
        switch self {
        case .identifier: return "a name"
        case .integer: return "a number"
        case .decimal: return "a decimal number"
        case .string: return "a string"
        case .duration: return "a duration"
        case .percent: return "a percentage"
        case .timeOfDay: return "a time of day"
        case .date: return "a date"
        case .instant: return "an instant"
        case .lBrace: return "'{'"
        case .rBrace: return "'}'"
        case .lParen: return "'('"
        case .rParen: return "')'"
        case .lBracket: return "'['"
        case .rBracket: return "']'"
        case .colon: return "':'"
        case .comma: return "','"
        case .dot: return "'.'"
        case .question: return "'?'"
        case .questionQuestion: return "'??'"
        case .plus: return "'+'"
        case .minus: return "'-'"
        case .star: return "'*'"
        case .slash: return "'/'"
        case .assign: return "'='"
        case .equal: return "'=='"
        case .notEqual: return "'!='"
        case .less: return "'<'"
        case .lessEqual: return "'<='"
        case .greater: return "'>'"
        case .greaterEqual: return "'>='"
        case .newline: return "the end of the line"
        case .eof: return "the end of the file"
        case .invalid: return "an invalid character"
        default: return "\(self)"
        }
    }
}

/// One token: its kind and the bytes it covers.
public struct Token: Sendable, Hashable {
    public var kind: TokenKind
    public var span: Span
    public init(_ kind: TokenKind, _ span: Span) {
        self.kind = kind
        self.span = span
    }
}

/// A `#` comment, kept for the formatter.
public struct Comment: Sendable, Hashable {
    public var span: Span
    /// True when nothing but white space precedes it on its line.
    public var ownLine: Bool
}

/// The reserved keywords and the contextual words of the language.
public enum Keywords {
    /// Reserved: never an identifier.
    public static let reserved: [(String, TokenKind)] = [
        ("journey", .kwJourney), ("profile", .kwProfile), ("event", .kwEvent), ("channel", .kwChannel),
        ("policy", .kwPolicy), ("on", .kwOn), ("as", .kwAs), ("where", .kwWhere), ("when", .kwWhen),
        ("goal", .kwGoal), ("exit", .kwExit), ("reentry", .kwReentry), ("wait", .kwWait), ("for", .kwFor),
        ("within", .kwWithin), ("until", .kwUntil), ("if", .kwIf), ("else", .kwElse), ("split", .kwSplit),
        ("set", .kwSet), ("template", .kwTemplate), ("and", .kwAnd), ("or", .kwOr), ("not", .kwNot),
        ("true", .kwTrue), ("false", .kwFalse), ("none", .kwNone), ("now", .kwNow), ("today", .kwToday),
    ]

    /// Contextual: keywords only where the grammar expects them, names elsewhere.
    public static let contextual: [String] = [
        "daily", "at", "never", "always", "after", "address", "consent", "cap", "messages", "per",
        "quiet", "hours", "to", "list", "max_delay", "in", "currency", "locale", "catalog", "each", "distinct", "of", "limit",
    ]

    /// The channel kinds built into the language.
    public static let channelKinds: [String] = ["push", "web_push", "email", "sms", "whatsapp", "wallet", "in_app"]

    /// The history query functions.
    public static let historyFunctions: [String] = ["count", "exists", "sum", "last", "days_since", "count_all", "top", "also"]

    /// The other built-in functions (their meaning is in JourneySemantics' `Builtin`).
    public static let builtinFunctions: [String] = ["size", "upper", "lower", "capitalize", "join", "percent", "format"]

    private static let byLength: [[([UInt8], TokenKind)]] = {
        var table = [[([UInt8], TokenKind)]](repeating: [], count: 9)
        for (word, kind) in reserved { table[word.utf8.count].append((Array(word.utf8), kind)) }
        return table
    }()

    private static let spellings: [TokenKind: String] = Dictionary(uniqueKeysWithValues: reserved.map { ($1, $0) })

    public static func spelling(of kind: TokenKind) -> String? { spellings[kind] }

    /// The keyword kind of an identifier's bytes, or `.identifier`.
    @inline(__always)
    static func kind(_ p: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> TokenKind {
        let n = end - start
        guard n >= 2, n <= 8 else { return .identifier }
        for (bytes, kind) in byLength[n] {
            var i = 0
            while i < n, bytes[i] == p[start + i] { i += 1 }
            if i == n { return kind }
        }
        return .identifier
    }
}
