import JourneyDiagnostics

/// The result of lexing one file.
public struct LexedFile: Sendable {
    public var tokens: [Token]
    public var comments: [Comment]
    public var diagnostics: [Diagnostic]
}

/// Turns UTF-8 bytes into tokens. Newlines inside parentheses are dropped, and so is one
/// before a line that starts with `and` or `or`; runs of newlines (with comments between)
/// become one newline token.
public struct Lexer {
    public static func lex(_ file: SourceFile) -> LexedFile {
        file.bytes.withUnsafeBufferPointer { p in
            var lx = Cursor(p: p, path: file.path)
            lx.tokens.reserveCapacity(p.count / 5)
            // A UTF-8 byte order mark is not part of the program.
            if p.count >= 3, p[0] == 0xEF, p[1] == 0xBB, p[2] == 0xBF { lx.i = 3 }
            lx.run()
            return LexedFile(tokens: lx.tokens, comments: lx.comments, diagnostics: lx.diagnostics)
        }
    }

    /// Lexes the bytes of `range` only (an interpolation inside a string), with absolute spans,
    /// into `tokens` (emptied first, so the caller can reuse its storage).
    static func lex(_ file: SourceFile, range: Range<Int>, into tokens: inout [Token], diagnostics: inout [Diagnostic]) {
        file.bytes.withUnsafeBufferPointer { p in
            var lx = Cursor(p: p, path: file.path)
            tokens.removeAll(keepingCapacity: true)
            swap(&lx.tokens, &tokens)
            lx.i = range.lowerBound
            lx.end = range.upperBound
            lx.parenDepth = 1 // newlines are not statement ends inside an interpolation
            lx.run()
            swap(&lx.tokens, &tokens)
            diagnostics.append(contentsOf: lx.diagnostics)
        }
    }
}

@inline(__always) private func isIdentStart(_ b: UInt8) -> Bool {
    (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z")) || b == UInt8(ascii: "_")
}
@inline(__always) private func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
@inline(__always) private func isIdentChar(_ b: UInt8) -> Bool { isIdentStart(b) || isDigit(b) }

private struct Cursor {
    let p: UnsafeBufferPointer<UInt8>
    let path: String
    var i = 0
    var end: Int
    var tokens: [Token] = []
    var comments: [Comment] = []
    var diagnostics: [Diagnostic] = []
    var parenDepth = 0
    var lineHasCode = false
    /// Strings inside interpolations inside strings: bounded like the parser's nesting.
    var stringDepth = 0
    var tooDeep = false

    init(p: UnsafeBufferPointer<UInt8>, path: String) {
        self.p = p
        self.path = path
        self.end = p.count
    }

    @inline(__always) func peek(_ k: Int = 0) -> UInt8 { i + k < end ? p[i + k] : 0 }

    mutating func emit(_ kind: TokenKind, _ start: Int) {
        // A line that starts with `and` or `or` goes on with the condition above it.
        if kind == .kwAnd || kind == .kwOr, tokens.last?.kind == .newline { tokens.removeLast() }
        tokens.append(Token(kind, Span(start, i)))
        lineHasCode = true
    }

    mutating func error(_ code: DiagnosticCode, _ span: Span, _ message: String, label: String = "", hint: String? = nil) {
        diagnostics.append(Diagnostic(code, file: path, span: span, message: message, label: label, hint: hint))
    }

    mutating func run() {
        while i < end {
            let b = p[i]
            let start = i
            switch b {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                i += 1
            case UInt8(ascii: "\n"):
                i += 1
                if parenDepth == 0, let last = tokens.last, last.kind != .newline {
                    tokens.append(Token(.newline, Span(start, start + 1)))
                }
                lineHasCode = false
            case UInt8(ascii: "#"):
                while i < end, p[i] != UInt8(ascii: "\n") { i += 1 }
                comments.append(Comment(span: Span(start, i), ownLine: !lineHasCode))
            case _ where isIdentStart(b):
                i += 1
                while i < end, isIdentChar(p[i]) { i += 1 }
                emit(Keywords.kind(p, start, i), start)
            case _ where isDigit(b):
                number()
            case UInt8(ascii: "\""):
                string()
            default:
                punctuation(b, start)
            }
        }
        tokens.append(Token(.eof, Span(end, end)))
    }

    mutating func punctuation(_ b: UInt8, _ start: Int) {
        i += 1
        let kind: TokenKind
        switch b {
        case UInt8(ascii: "{"): parenDepth = 0; kind = .lBrace
        case UInt8(ascii: "}"): parenDepth = 0; kind = .rBrace
        case UInt8(ascii: "("): parenDepth += 1; kind = .lParen
        case UInt8(ascii: ")"): parenDepth = max(0, parenDepth - 1); kind = .rParen
        case UInt8(ascii: "["): parenDepth += 1; kind = .lBracket
        case UInt8(ascii: "]"): parenDepth = max(0, parenDepth - 1); kind = .rBracket
        case UInt8(ascii: ":"): kind = .colon
        case UInt8(ascii: ","): kind = .comma
        case UInt8(ascii: "."): kind = .dot
        case UInt8(ascii: "+"): kind = .plus
        case UInt8(ascii: "-"): kind = .minus
        case UInt8(ascii: "*"): kind = .star
        case UInt8(ascii: "/"): kind = .slash
        case UInt8(ascii: "?"):
            if peek() == UInt8(ascii: "?") { i += 1; kind = .questionQuestion } else { kind = .question }
        case UInt8(ascii: "="):
            if peek() == UInt8(ascii: "=") { i += 1; kind = .equal } else { kind = .assign }
        case UInt8(ascii: "!"):
            if peek() == UInt8(ascii: "=") {
                i += 1; kind = .notEqual
            } else {
                // Read as `not`, so the rest of the condition is still checked.
                error(SyntaxCode.invalidCharacter, Span(start, i), "'!' is not an operator here", label: "write 'not' for negation", hint: "Negate a condition with 'not', e.g. 'not exists(order_placed)'; '!=' means not equal.")
                kind = .kwNot
            }
        case UInt8(ascii: "<"):
            if peek() == UInt8(ascii: "=") { i += 1; kind = .lessEqual } else { kind = .less }
        case UInt8(ascii: ">"):
            if peek() == UInt8(ascii: "=") { i += 1; kind = .greaterEqual } else { kind = .greater }
        case UInt8(ascii: "&") where peek() == UInt8(ascii: "&"), UInt8(ascii: "|") where peek() == UInt8(ascii: "|"):
            // One error for the pair, read as `and` / `or`, so the rest is still checked.
            i += 1
            let and = b == UInt8(ascii: "&")
            error(SyntaxCode.invalidCharacter, Span(start, i), "'\(and ? "&&" : "||")' is not an operator here", label: "write '\(and ? "and" : "or")'",
                  hint: and ? "Combine conditions with 'and', e.g. 'a > 1 and b < 2'." : "Combine conditions with 'or', e.g. 'a > 1 or b < 2'.")
            kind = and ? .kwAnd : .kwOr
        default:
            // Skip the whole UTF-8 sequence so the message names one character.
            while i < end, p[i] & 0xC0 == 0x80 { i += 1 }
            let ch = String(decoding: UnsafeBufferPointer(rebasing: p[start..<i]), as: UTF8.self)
            var hint: String? = nil
            if b == UInt8(ascii: "&") { hint = "Write 'and' to combine conditions." }
            if b == UInt8(ascii: "|") { hint = "Write 'or' to combine conditions." }
            if b == UInt8(ascii: "'") { hint = "Strings use double quotes: \"…\"." }
            error(SyntaxCode.invalidCharacter, Span(start, i), "unexpected character '\(ch)'", label: "not part of the language", hint: hint)
            emit(.invalid, start)
            return
        }
        emit(kind, start)
    }

    /// Integers, decimals, durations, percentages, times of day and dates; any of them glued to
    /// letters (`10%off`, `09:00h`) is one malformed number.
    mutating func number() {
        let start = i
        let before = diagnostics.count
        scanNumber()
        guard i < end, isIdentChar(p[i]), tokens.last?.kind != .invalid, diagnostics.count == before else { return }
        while i < end, isIdentChar(p[i]) { i += 1 }
        tokens.removeLast()
        error(SyntaxCode.invalidNumber, Span(start, i), "'\(text(start, i))' is not a number, duration, percentage, date or time",
              label: "letters after a number", hint: "Put a space between a number and the word after it.")
        emit(.invalid, start)
    }

    mutating func scanNumber() {
        let start = i
        while i < end, isDigit(p[i]) { i += 1 }
        let digits = i - start
        // Date: dddd-dd-dd
        if digits == 4, peek() == UInt8(ascii: "-"), isDigit(peek(1)), isDigit(peek(2)), peek(3) == UInt8(ascii: "-"), isDigit(peek(4)), isDigit(peek(5)) {
            i += 6
            let y = value(start, start + 4), m = value(start + 5, start + 7), d = value(start + 8, start + 10)
            if !isValidDate(y, m, d) {
                error(SyntaxCode.invalidDate, Span(start, i), "\(text(start, i)) is not a calendar date", label: "no such day")
            }
            // An instant: the date, T, HH:MM[:SS] and Z or ±HH:MM.
            if peek() == UInt8(ascii: "T"), isDigit(peek(1)), isDigit(peek(2)), peek(3) == UInt8(ascii: ":"), isDigit(peek(4)), isDigit(peek(5)) {
                var j = i + 6
                func at(_ k: Int) -> UInt8 { k < end ? p[k] : 0 }
                if at(j) == UInt8(ascii: ":"), isDigit(at(j + 1)), isDigit(at(j + 2)) { j += 3 }
                var zoned = false
                if at(j) == UInt8(ascii: "Z") {
                    j += 1
                    zoned = true
                } else if at(j) == UInt8(ascii: "+") || at(j) == UInt8(ascii: "-"), isDigit(at(j + 1)), isDigit(at(j + 2)), at(j + 3) == UInt8(ascii: ":"), isDigit(at(j + 4)), isDigit(at(j + 5)) {
                    j += 6
                    zoned = true
                }
                i = j
                let h = value(start + 11, start + 13), mi = value(start + 14, start + 16)
                let sec = j - start >= 19 && p[start + 16] == UInt8(ascii: ":") ? value(start + 17, start + 19) : 0
                if h > 23 || mi > 59 || sec > 59 {
                    error(SyntaxCode.invalidTime, Span(start, i), "\(text(start, i)) is not a time", label: "hours run 00–23, minutes and seconds 00–59")
                } else if !zoned {
                    error(SyntaxCode.invalidTime, Span(start, i), "\(text(start, i)) has no time zone", label: "which zone?",
                          hint: "End it with Z for UTC (\(text(start, i))Z) or an offset such as +01:00.")
                }
                emit(.instant, start)
                return
            }
            emit(.date, start)
            return
        }
        // Time of day: dd:dd (one or two digits of hour)
        if digits <= 2, peek() == UInt8(ascii: ":"), isDigit(peek(1)), isDigit(peek(2)), !isDigit(peek(3)) {
            i += 3
            let h = value(start, start + digits), m = value(start + digits + 1, i)
            if h > 23 || m > 59 {
                error(SyntaxCode.invalidTime, Span(start, i), "\(text(start, i)) is not a time of day", label: "hours run 00–23, minutes 00–59")
            }
            emit(.timeOfDay, start)
            return
        }
        var kind = TokenKind.integer
        if peek() == UInt8(ascii: "."), isDigit(peek(1)) {
            i += 1
            while i < end, isDigit(p[i]) { i += 1 }
            kind = .decimal
        }
        if peek() == UInt8(ascii: "%") {
            i += 1
            emit(.percent, start)
            return
        }
        if isIdentStart(peek()) {
            let unitStart = i
            while i < end, isIdentChar(p[i]) { i += 1 }
            let unit = text(unitStart, i)
            if kind == .integer, ["s", "m", "h", "d", "w"].contains(unit) {
                emit(.duration, start)
            } else {
                let msg = kind == .decimal && ["s", "m", "h", "d", "w"].contains(unit)
                    ? "a duration must be a whole number: \(text(start, i))"
                    : "'\(unit)' is not a duration unit"
                error(SyntaxCode.invalidNumber, Span(start, i), msg, label: "not a number or duration",
                      hint: "Durations are a whole number and a unit: 30s, 15m, 1h, 2d, 1w (e.g. 90m rather than 1.5h).")
                emit(.invalid, start)
            }
            return
        }
        emit(kind, start)
    }

    func value(_ s: Int, _ e: Int) -> Int {
        var v = 0
        for k in s..<e { v = v * 10 + Int(p[k] - UInt8(ascii: "0")) }
        return v
    }

    func text(_ s: Int, _ e: Int) -> String { String(decoding: UnsafeBufferPointer(rebasing: p[s..<e]), as: UTF8.self) }

    /// A string literal, including any interpolations (which may hold strings themselves).
    mutating func string() {
        let start = i
        tooDeep = false
        if scanString() {
            emit(.string, start)
        } else if tooDeep {
            emit(.string, start)
        } else {
            error(SyntaxCode.unterminatedString, Span(start, i), "this string is not closed", label: "needs a closing '\"' on this line",
                  hint: "Close the string with '\"'. A string cannot span lines.")
            emit(.string, start)
        }
    }

    /// Moves past a string that starts at `i`; false when its line or the file ends first.
    mutating func scanString() -> Bool {
        stringDepth += 1
        defer { stringDepth -= 1 }
        if stringDepth > Parser.maxNesting {
            if !tooDeep {
                error(SyntaxCode.nestedTooDeeply, Span(i, i + 1), "strings inside strings are nested more than \(Parser.maxNesting) levels deep here", label: "too deep",
                      hint: "Insert fewer strings inside one another.")
            }
            tooDeep = true
            while i < end, p[i] != UInt8(ascii: "\n") { i += 1 }
            return false
        }
        i += 1 // opening quote
        while i < end {
            let b = p[i]
            switch b {
            case UInt8(ascii: "\""):
                i += 1
                return true
            case UInt8(ascii: "\n"):
                return false
            case UInt8(ascii: "\\"):
                let next = peek(1)
                if next == UInt8(ascii: "\"") || next == UInt8(ascii: "\\") || next == UInt8(ascii: "n") || next == UInt8(ascii: "t") {
                    i += 2
                } else if next == UInt8(ascii: "\n") || next == 0 {
                    i += 1
                } else {
                    error(SyntaxCode.invalidEscape, Span(i, i + 2), "unknown escape '\\\(text(i + 1, i + 2))' in a string", label: "not an escape")
                    i += 2
                }
            case UInt8(ascii: "{"):
                if peek(1) == UInt8(ascii: "{") { i += 2; continue }
                i += 1
                if !scanInterpolation() { return false }
            case UInt8(ascii: "}"):
                if peek(1) == UInt8(ascii: "}") {
                    i += 2
                } else {
                    error(SyntaxCode.invalidEscape, Span(i, i + 1), "a lone '}' in a string", label: "write '}}' for a literal brace",
                          hint: "Write {{ and }} for literal braces; a single { starts an inserted value.")
                    i += 1
                }
            default:
                i += 1
            }
        }
        return false
    }

    /// Moves past an interpolation's expression and its closing brace.
    mutating func scanInterpolation() -> Bool {
        var depth = 1
        while i < end {
            let b = p[i]
            switch b {
            case UInt8(ascii: "\n"): return false
            case UInt8(ascii: "\""):
                if !scanString() { return false }
            case UInt8(ascii: "{"):
                depth += 1; i += 1
            case UInt8(ascii: "}"):
                depth -= 1; i += 1
                if depth == 0 { return true }
            default:
                i += 1
            }
        }
        return false
    }

    func isValidDate(_ y: Int, _ m: Int, _ d: Int) -> Bool {
        guard m >= 1, m <= 12, d >= 1 else { return false }
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return d <= days[m - 1]
    }
}

extension Lexer {
    /// The offset just past the `}` closing an interpolation whose expression starts at `start`,
    /// or nil when the line ends first. Diagnostics were already reported when the string was lexed.
    static func interpolationEnd(_ file: SourceFile, from start: Int, limit: Int) -> Int? {
        file.bytes.withUnsafeBufferPointer { p in
            var c = Cursor(p: p, path: file.path)
            c.i = start
            c.end = limit
            return c.scanInterpolation() ? c.i : nil
        }
    }
}
