/// The built-in functions beside the history queries: on lists, and on how values read in a
/// message. Their numbers are the `builtin` instruction's operand (append only).
public enum Builtin: UInt8, Sendable, CaseIterable {
    case size, upper, lower, capitalize, join, percent, format

    public var name: String {
        switch self {
        case .size: "size"
        case .upper: "upper"
        case .lower: "lower"
        case .capitalize: "capitalize"
        case .join: "join"
        case .percent: "percent"
        case .format: "format"
        }
    }

    /// How many arguments it takes.
    public var arity: Int {
        switch self {
        case .join, .format: 2
        default: 1
        }
    }

    public init?(name: String) {
        guard let b = Builtin.allCases.first(where: { $0.name == name }) else { return nil }
        self = b
    }

    /// How it is called, and what it gives (for hovers and completion).
    public var signature: String {
        switch self {
        case .size: "size(LIST or STRING) → int"
        case .upper: "upper(STRING) → string"
        case .lower: "lower(STRING) → string"
        case .capitalize: "capitalize(STRING) → string"
        case .join: "join(LIST, SEPARATOR) → string"
        case .percent: "percent(DECIMAL) → string"
        case .format: "format(VALUE, \"PATTERN\") → string"
        }
    }

    public var summary: String {
        switch self {
        case .size: "How many items a list holds, or how many characters a string has."
        case .upper: "The text in capitals: `upper(\"ana\")` is \"ANA\"."
        case .lower: "The text in small letters: `lower(\"ANA\")` is \"ana\"."
        case .capitalize: "The text with its first letter a capital: `capitalize(\"madrid\")` is \"Madrid\"."
        case .join: "A list's items as one text: `join([\"a\", \"b\"], \", \")` is \"a, b\"."
        case .percent: "A fraction as a percentage in the profile's locale: `percent(0.125)` is \"12.5%\"."
        case .format: "A value as text in the profile's locale and time zone: a time or date with a pattern (`\"EEE d MMM\"`, `\"HH:mm\"`), money with a currency (`\"EUR\"`), a number with `\"#,##0.00\"`."
        }
    }

    public static var names: [String] { allCases.map(\.name) }
}

/// One piece of a date pattern (a subset of Unicode's LDML date patterns).
public enum DatePiece: Sendable, Hashable {
    case literal(String)
    /// `y`/`yyyy` the full year, `yy` its last two digits.
    case year(twoDigits: Bool)
    /// `M` 3, `MM` 03, `MMM` Mar, `MMMM` March.
    case month(Int)
    /// `d` 7, `dd` 07.
    case day(padded: Bool)
    /// `E`, `EE`, `EEE` Mon; `EEEE` Monday.
    case weekday(full: Bool)
    /// `H` 9, `HH` 09 (0–23); `h`, `hh` (1–12).
    case hour(twelve: Bool, padded: Bool)
    case minute(padded: Bool)
    case second(padded: Bool)
    /// `a`: AM or PM.
    case ampm

    public var needsTimeOfDay: Bool {
        switch self {
        case .hour, .minute, .second, .ampm: true
        default: false
        }
    }
}

/// Date and number patterns for `format()`, read by the checker (which reports a bad one where
/// it is written), the verifier and the VM.
public enum FormatPattern {
    /// The letters a date pattern may use.
    public static let dateLetters = "y M d E H h m s a"

    /// Parses a date pattern; the error says what is wrong, for a diagnostic.
    public static func date(_ pattern: String) -> Result<[DatePiece], PatternError> {
        var pieces: [DatePiece] = []
        var literal = ""
        let b = Array(pattern.utf8)
        var i = 0
        func flush() {
            if !literal.isEmpty { pieces.append(.literal(literal)); literal = "" }
        }
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "'") {
                // 'quoted text'; '' is a quote.
                if i + 1 < b.count, b[i + 1] == UInt8(ascii: "'") { literal += "'"; i += 2; continue }
                var j = i + 1
                var text: [UInt8] = []
                while j < b.count {
                    if b[j] == UInt8(ascii: "'") {
                        if j + 1 < b.count, b[j + 1] == UInt8(ascii: "'") { text.append(b[j]); j += 2; continue }
                        break
                    }
                    text.append(b[j])
                    j += 1
                }
                guard j < b.count else { return .failure(PatternError("the quote opened in the pattern is never closed", hint: "Close quoted text with ', or write '' for a quote.")) }
                literal += String(decoding: text, as: UTF8.self)
                i = j + 1
                continue
            }
            let isLetter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
            guard isLetter else {
                // Any other byte is itself (a multi-byte character is copied whole).
                var j = i + 1
                while j < b.count, b[j] & 0xC0 == 0x80 { j += 1 }
                literal += String(decoding: b[i..<j], as: UTF8.self)
                i = j
                continue
            }
            var n = 1
            while i + n < b.count, b[i + n] == c { n += 1 }
            let run = String(repeating: Character(Unicode.Scalar(c)), count: n)
            func tooLong(_ most: Int) -> PatternError {
                PatternError("'\(run)' is not a pattern: '\(Character(Unicode.Scalar(c)))' repeats at most \(most) times", hint: "Date patterns use \(dateLetters); put other text in quotes, e.g. 'at'.")
            }
            let piece: DatePiece
            switch c {
            case UInt8(ascii: "y"):
                guard n <= 4, n != 3 else { return .failure(PatternError("'\(run)' is not a year pattern", hint: "Write yyyy for 2025, or yy for 25.")) }
                piece = .year(twoDigits: n == 2)
            case UInt8(ascii: "M"), UInt8(ascii: "L"):
                guard n <= 4 else { return .failure(tooLong(4)) }
                piece = .month(n)
            case UInt8(ascii: "d"):
                guard n <= 2 else { return .failure(tooLong(2)) }
                piece = .day(padded: n == 2)
            case UInt8(ascii: "E"):
                guard n <= 4 else { return .failure(tooLong(4)) }
                piece = .weekday(full: n == 4)
            case UInt8(ascii: "H"), UInt8(ascii: "h"):
                guard n <= 2 else { return .failure(tooLong(2)) }
                piece = .hour(twelve: c == UInt8(ascii: "h"), padded: n == 2)
            case UInt8(ascii: "m"):
                guard n <= 2 else { return .failure(tooLong(2)) }
                piece = .minute(padded: n == 2)
            case UInt8(ascii: "s"):
                guard n <= 2 else { return .failure(tooLong(2)) }
                piece = .second(padded: n == 2)
            case UInt8(ascii: "a"):
                guard n == 1 else { return .failure(tooLong(1)) }
                piece = .ampm
            default:
                let letter = Character(Unicode.Scalar(c))
                return .failure(PatternError("'\(letter)' is not a date pattern letter", hint: "Date patterns use \(dateLetters) (e.g. \"EEE d MMM\", \"HH:mm\"); put other text in quotes, e.g. \"d MMM 'at' HH:mm\"."))
            }
            flush()
            pieces.append(piece)
            i += n
        }
        flush()
        guard !pieces.isEmpty else { return .failure(PatternError("the pattern is empty", hint: "Write a pattern such as \"d MMM yyyy\".")) }
        return .success(pieces)
    }

    /// A number pattern: `0`, `0.00`, `#,##0`, `#,##0.00` (grouping, then how many decimals).
    public static func number(_ pattern: String) -> (grouping: Bool, decimals: Int)? {
        var p = Substring(pattern)
        var grouping = false
        if p.hasPrefix("#,##") { grouping = true; p = p.dropFirst(4) }
        guard p.first == "0" else { return nil }
        p = p.dropFirst()
        if p.isEmpty { return (grouping, 0) }
        guard p.first == ".", p.count >= 2, p.count <= 7, p.dropFirst().allSatisfy({ $0 == "0" }) else { return nil }
        return (grouping, p.count - 1)
    }

    /// An ISO 4217 currency code: three capital letters.
    public static func isCurrency(_ s: String) -> Bool {
        s.utf8.count == 3 && s.utf8.allSatisfy { $0 >= 65 && $0 <= 90 }
    }

    /// A locale tag such as `en`, `en-US`, `es_ES`, `pt-BR`: a language of two or three letters
    /// and an optional region.
    public static func isLocale(_ s: String) -> Bool {
        let parts = s.split(whereSeparator: { $0 == "-" || $0 == "_" })
        guard let lang = parts.first, (2...3).contains(lang.utf8.count), lang.utf8.allSatisfy({ $0 >= 97 && $0 <= 122 || $0 >= 65 && $0 <= 90 }) else { return false }
        return parts.count == 1 || (parts.count == 2 && (2...3).contains(parts[1].utf8.count) && parts[1].utf8.allSatisfy { $0 >= 65 && $0 <= 90 || $0 >= 97 && $0 <= 122 || $0 >= 48 && $0 <= 57 })
    }
}

public struct PatternError: Error, Sendable {
    public var message: String
    public var hint: String
    public init(_ message: String, hint: String) {
        self.message = message
        self.hint = hint
    }
}
