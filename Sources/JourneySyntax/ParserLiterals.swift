import JourneyDiagnostics

// Literals: durations, times of day, percentages, strings and their interpolations.

extension Parser {
    mutating func parseDuration(context: String? = nil) throws -> DurationLit {
        let negative = accept(.minus)
        guard kind == .duration else {
            let ctx = context.map { " after \($0)" } ?? ""
            var hint = "Durations are a whole number and a unit: 30s, 15m, 1h, 2d, 1w."
            if kind == .integer { hint = "Add a unit: \(text(current))s, \(text(current))m, \(text(current))h, \(text(current))d or \(text(current))w." }
            throw fail("expected a duration\(ctx), found \(found)", label: "expected a duration", hint: hint)
        }
        let t = advance()
        let raw = text(t)
        let unit: DurationUnit = switch raw.utf8.last {
        case UInt8(ascii: "s"): .seconds
        case UInt8(ascii: "m"): .minutes
        case UInt8(ascii: "h"): .hours
        case UInt8(ascii: "d"): .days
        default: .weeks
        }
        guard let amount = Int64(raw.dropLast()), amount <= 1_000_000_000 else {
            throw fail(SyntaxCode.invalidNumber, "the duration \(raw) is too long", span: t.span, label: "too long")
        }
        let start = negative ? tokens[pos - 2].span.start : t.span.start
        return DurationLit(amount: amount, unit: unit, negative: negative, span: Span(start, t.span.end))
    }

    mutating func parseTimeOfDay() throws -> TimeOfDayLit {
        guard kind == .timeOfDay else {
            throw fail("expected a time of day such as 09:00, found \(found)", label: "expected HH:MM")
        }
        let t = advance()
        let parts = text(t).split(separator: ":")
        let minutes = (Int(parts.first ?? "") ?? 0) * 60 + (Int(parts.last ?? "") ?? 0)
        return TimeOfDayLit(minutes: minutes, span: t.span)
    }

    func parsePercent(_ t: Token) -> PercentLit {
        let raw = String(text(t).dropLast())
        let parts = raw.split(separator: ".", maxSplits: 1)
        let whole = Int(parts.first ?? "0") ?? 0
        let written = parts.count > 1 ? String(parts[1]) : ""
        let frac = String((written + "00").prefix(2))
        let bp = whole.multipliedReportingOverflow(by: 100).partialValue + (Int(frac) ?? 0)
        let exact = written.dropFirst(2).allSatisfy { $0 == "0" }
        return PercentLit(basisPoints: bp, exact: exact, text: raw + "%", span: t.span)
    }

    /// Splits a string token into text and interpolations, parsing each interpolation in place.
    mutating func parseString(_ t: Token) -> ExprID {
        let source = file.bytes
        let parts = source.withUnsafeBufferPointer { bytes in stringParts(bytes, t.span) }
        return arena.add(.string(parts), t.span)
    }

    /// The parts of the string literal at `span`, read from the file's bytes without a bounds
    /// check each (the lexer has matched its quotes and braces; every index stays below the
    /// span's end, which is within the file).
    private mutating func stringParts(_ bytes: UnsafeBufferPointer<UInt8>, _ span: Span) -> [StringPart] {
        let end = min(span.end, bytes.count)
        var i = span.start + 1
        // Room for every part at once: at most a text before and after each `{`.
        var braces = 0
        for k in i..<max(i, end) where bytes[k] == UInt8(ascii: "{") { braces += 1 }
        var parts: [StringPart] = []
        parts.reserveCapacity(2 * braces + 1)
        var buffer: [UInt8] = []
        func flush() {
            if !buffer.isEmpty { parts.append(.text(String(decoding: buffer, as: UTF8.self))); buffer.removeAll() }
        }
        while i < end {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { break }
            if b == UInt8(ascii: "\\"), i + 1 < end {
                switch bytes[i + 1] {
                case UInt8(ascii: "n"): buffer.append(UInt8(ascii: "\n"))
                case UInt8(ascii: "t"): buffer.append(UInt8(ascii: "\t"))
                default: buffer.append(bytes[i + 1])
                }
                i += 2
            } else if b == UInt8(ascii: "{"), i + 1 < end, bytes[i + 1] == UInt8(ascii: "{") {
                buffer.append(b); i += 2
            } else if b == UInt8(ascii: "}"), i + 1 < end, bytes[i + 1] == UInt8(ascii: "}") {
                buffer.append(b); i += 2
            } else if b == UInt8(ascii: "{") {
                flush()
                guard let close = Lexer.interpolationEnd(file, from: i + 1, limit: end) else { break }
                parts.append(.interpolation(parseInterpolation(Span(i, close))))
                i = close
            } else {
                // A run of plain bytes at once.
                var j = i + 1
                while j < end {
                    let c = bytes[j]
                    if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") || c == UInt8(ascii: "{") || c == UInt8(ascii: "}") { break }
                    j += 1
                }
                let run = UnsafeBufferPointer(rebasing: bytes[i..<j])
                // A whole text part in one run (the usual case) becomes its string at once.
                let endsPart = j >= end || bytes[j] == UInt8(ascii: "\"")
                    || (bytes[j] == UInt8(ascii: "{") && !(j + 1 < end && bytes[j + 1] == UInt8(ascii: "{")))
                if buffer.isEmpty, endsPart {
                    parts.append(.text(String(decoding: run, as: UTF8.self)))
                } else {
                    buffer.append(contentsOf: run)
                }
                i = j
            }
        }
        flush()
        return parts
    }

    /// Parses the expression between an interpolation's braces (span covers the braces).
    mutating func parseInterpolation(_ braces: Span) -> ExprID {
        let inner = (braces.start + 1)..<(braces.end - 1)
        // Lex into reused storage, then swap it in for the file's tokens while parsing.
        var sub: [Token] = []
        swap(&sub, &scratchTokens)
        var subDiagnostics: [Diagnostic] = []
        Lexer.lex(file, range: inner, into: &sub, diagnostics: &subDiagnostics)
        for d in subDiagnostics where reportedStarts.insert(d.span.start).inserted { diagnostics.append(d) }
        if sub.count == 1 {
            swap(&sub, &scratchTokens)
            diagnostics.append(Diagnostic(SyntaxCode.emptyInterpolation, file: file.path, span: braces,
                message: "empty '{}' in a string", label: "nothing to insert", hint: "Put an expression inside the braces, or write {{ }} for literal braces."))
            return arena.add(.error, braces)
        }
        let savedPos = pos
        swap(&sub, &tokens)
        pos = 0
        defer {
            swap(&sub, &tokens)
            pos = savedPos
            swap(&sub, &scratchTokens)
        }
        do {
            let e = try parseExpr()
            if kind != .eof {
                throw fail("expected '}' to end the inserted value, found \(found)", label: "unexpected here",
                           hint: "Only one value may stand inside '{ }' in a string.")
            }
            return e
        } catch {
            return arena.add(.error, braces)
        }
    }
}
