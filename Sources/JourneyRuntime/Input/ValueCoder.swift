import JourneyBytecode

/// Converts input values (JSON values or CSV cells) to typed `Value`s by their declared
/// `FieldType`. Shared by events and profiles. A failure is a phrase such as
/// `expected money (a number or a decimal string), found "abc"`; the caller names the field.
public enum ValueCoder {
    /// Why a value does not fit its type: a phrase for the caller to prefix with the field name.
    /// (`Result` needs an `Error`, and `String` is not one.)
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        public var message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    /// bool ← true/false; int ← a JSON integer; decimal/money ← a JSON number or a decimal string;
    /// string/url ← a string; date ← "YYYY-MM-DD"; time ← ISO 8601 with a zone;
    /// duration ← "45s"/"30m"/"1h"/"2d"/"1w" (or several, "1h30m") or whole seconds;
    /// list[T] ← an array; T? ← null too.
    public static func decode(_ json: JSONValue, as type: FieldType) -> Result<Value, Failure> {
        switch type {
        case .optional(let inner):
            if case .null = json { return .success(.none) }
            return decode(json, as: inner)
        case .bool:
            if case .bool(let b) = json { return .success(.bool(b)) }
        case .int:
            if case .number(let n) = json { return integer(n, found: n) }
        case .decimal, .money:
            switch json {
            case .number(let n): return fixed(Substring(n), as: type, found: n)
            case .string(let s): return fixed(trimmed(s), as: type, found: Found.describe(json))
            default: break
            }
        case .string, .url:
            if case .string(let s) = json { return .success(.string(s)) }
        case .date, .time:
            if case .string(let s) = json { return text(s, as: type, found: Found.describe(json)) }
        case .duration:
            switch json {
            case .number(let n): return seconds(n, found: n)
            case .string(let s): return text(s, as: type, found: Found.describe(json))
            default: break
            }
        case .list(let element):
            guard case .array(let items) = json else { break }
            var values: [Value] = []
            values.reserveCapacity(items.count)
            for (k, item) in items.enumerated() {
                switch decode(item, as: element) {
                case .success(let v): values.append(v)
                case .failure(let why): return .failure(Failure("item \(k + 1) of the list: \(why.message)"))
                }
            }
            return .success(.list(values))
        }
        return mismatch(type, found: Found.describe(json), isNull: json == .null)
    }

    /// Like `decode(_:as:)` for one CSV cell. An empty cell is none for an optional, "" for a
    /// string, the empty list for a list; around non-text values, spaces are ignored. Ints are
    /// integer text, bools `true`/`false` in any case, lists a JSON array (`["a", "b"]`).
    public static func decode(csvCell cell: String, as type: FieldType) -> Result<Value, Failure> {
        func found() -> String { Found.describe(cell: cell) }
        switch type {
        case .optional(let inner):
            if trimmed(cell).isEmpty { return .success(.none) }
            return decode(csvCell: cell, as: inner)
        case .string, .url:
            return .success(.string(cell))
        case .bool:
            switch trimmed(cell).lowercased() {
            case "true": return .success(.bool(true))
            case "false": return .success(.bool(false))
            default: return mismatch(type, found: found())
            }
        case .int:
            let t = trimmed(cell)
            guard !t.isEmpty else { return mismatch(type, found: found()) }
            return integer(String(t.first == "+" ? t.dropFirst() : t), found: found())
        case .decimal, .money:
            let t = trimmed(cell)
            guard !t.isEmpty else { return mismatch(type, found: found()) }
            return fixed(t, as: type, found: found())
        case .date, .time, .duration:
            let t = trimmed(cell)
            guard !t.isEmpty else { return mismatch(type, found: found()) }
            return text(String(t), as: type, found: found())
        case .list:
            let t = trimmed(cell)
            if t.isEmpty { return .success(.list([])) }
            guard t.first == "[", let json = try? JSON.parse(String(t)) else {
                return .failure(Failure("expected \(type) (a JSON list like [\"a\", \"b\"]), found \(found())"))
            }
            return decode(json, as: type)
        }
    }

    // MARK: - Pieces

    /// What a type accepts, for messages.
    static func expectation(_ type: FieldType) -> String {
        switch type {
        case .bool: "bool (true or false)"
        case .int: "int (a whole number)"
        case .decimal: "decimal (a number or a decimal string)"
        case .money: "money (a number or a decimal string)"
        case .string: "string"
        case .url: "url (a string)"
        case .date: "date (YYYY-MM-DD)"
        case .time: "time (ISO 8601 with a zone, like \"2025-03-01T10:00:00Z\")"
        case .duration: "duration (like \"30m\", \"1h\", \"2d\" or whole seconds)"
        case .optional(let t): "\(expectation(t)) or null"
        case .list: "\(type) (a list)"
        }
    }

    static func mismatch(_ type: FieldType, found: @autoclosure () -> String, isNull: Bool = false) -> Result<Value, Failure> {
        .failure(Failure("expected \(expectation(type)), found \(found())" + (isNull ? " (it is not optional)" : "")))
    }

    static func trimmed(_ s: String) -> Substring {
        // Nothing to trim (the usual case): no walk over characters.
        let u = s.utf8
        if let f = u.first, let l = u.last, f != 0x20, f != 0x09, l != 0x20, l != 0x09 { return Substring(s) }
        var t = Substring(s)
        while let c = t.first, c == " " || c == "\t" { t.removeFirst() }
        while let c = t.last, c == " " || c == "\t" { t.removeLast() }
        return t
    }

    /// Whole-number text (JSON grammar or CSV digits) → .int.
    static func integer(_ n: String, found: @autoclosure () -> String) -> Result<Value, Failure> {
        if let v = Int64(n) { return .success(.int(v)) }
        if n.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            return .failure(Failure("expected int (a whole number), found \(found())"))
        }
        if isDigits(n.utf8.first == UInt8(ascii: "-") ? Substring(n).dropFirst() : Substring(n)) {
            return .failure(Failure("\(found()) is out of range for int"))
        }
        return .failure(Failure("expected int (a whole number), found \(found())"))
    }

    /// Decimal text → .decimal/.money in millionths, exactly. No exponents, at most six decimals.
    static func fixed(_ t: Substring, as type: FieldType, found: @autoclosure () -> String) -> Result<Value, Failure> {
        let millionths = fastFixed(t) ?? Value.parseFixed(t)
        if let m = millionths { return .success(type == .money ? .money(m) : .decimal(m)) }
        if t.utf8.contains(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            return .failure(Failure("expected \(expectation(type)), found \(found()) (write it without an exponent)"))
        }
        var body = t
        if body.first == "-" || body.first == "+" { body = body.dropFirst() }
        let parts = body.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.allSatisfy({ !$0.isEmpty && isDigits($0) }) {
            if parts.count == 2, parts[1].count > 6 {
                return .failure(Failure("\(found()) has more than 6 decimal places; \(type) keeps millionths at most"))
            }
            return .failure(Failure("\(found()) is out of range for \(type)"))
        }
        return mismatch(type, found: found())
    }

    /// The common case of `Value.parseFixed` (`-?digits(.digits)?`, at most 6 decimals, no
    /// overflow risk) straight from the bytes; nil means "ask `Value.parseFixed`".
    static func fastFixed(_ t: Substring) -> Int64? {
        var utf8 = t.utf8
        var negative = false
        if utf8.first == UInt8(ascii: "-") { negative = true; utf8 = utf8.dropFirst() }
        var whole: Int64 = 0, frac: Int64 = 0, wholeDigits = 0, fracDigits = 0, inFraction = false
        for c in utf8 {
            if c == UInt8(ascii: "."), !inFraction { inFraction = true; continue }
            guard c >= 0x30, c <= 0x39 else { return nil }
            if inFraction {
                fracDigits += 1
                guard fracDigits <= 6 else { return nil }
                frac = frac * 10 + Int64(c - 0x30)
            } else {
                wholeDigits += 1
                guard wholeDigits <= 12 else { return nil }
                whole = whole * 10 + Int64(c - 0x30)
            }
        }
        guard wholeDigits > 0, !(inFraction && fracDigits == 0) else { return nil }
        for _ in fracDigits..<6 { frac *= 10 }
        let v = whole * Value.scale + frac
        return negative ? -v : v
    }

    /// A duration given as a JSON number: whole, non-negative seconds.
    static func seconds(_ n: String, found: @autoclosure () -> String) -> Result<Value, Failure> {
        guard let v = Int64(n), v >= 0 else {
            return .failure(Failure("expected \(expectation(.duration)), found \(found())" + (n.hasPrefix("-") ? " (durations cannot be negative)" : "")))
        }
        return .success(.duration(v))
    }

    /// date, time and duration from their text forms.
    static func text(_ s: String, as type: FieldType, found: @autoclosure () -> String) -> Result<Value, Failure> {
        switch type {
        case .date:
            if let d = date(s) { return .success(.date(d)) }
        case .time:
            if let t = Value.parseISO8601(s) { return .success(.time(t)) }
            if Value.parseISO8601(s + "Z") != nil {
                return .failure(Failure("\(found()) has no time zone; add Z (UTC) or an offset like +02:00"))
            }
        case .duration:
            if let d = duration(s) { return .success(.duration(d)) }
        default: break
        }
        return mismatch(type, found: found())
    }

    static func date(_ s: String) -> Int32? {
        let u = Array(s.utf8)
        guard u.count == 10, u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-"),
              [0, 1, 2, 3, 5, 6, 8, 9].allSatisfy({ u[$0] >= 0x30 && u[$0] <= 0x39 }),
              let d = CivilDate.parse(s) else { return nil }
        return Int32(exactly: d.days)
    }

    /// "45s", "30m", "1h", "2d", "1w", a sequence of them ("1h30m"), or bare digits (seconds).
    public static func duration(_ s: String) -> Int64? {
        var total: Int64 = 0
        var number: Int64?
        var sawUnit = false
        for c in s.utf8 {
            if c >= 0x30, c <= 0x39 {
                let (m, o1) = (number ?? 0).multipliedReportingOverflow(by: 10)
                let (v, o2) = m.addingReportingOverflow(Int64(c - 0x30))
                guard !o1, !o2 else { return nil }
                number = v
                continue
            }
            let unit: Int64
            switch c {
            case UInt8(ascii: "s"): unit = 1
            case UInt8(ascii: "m"): unit = 60
            case UInt8(ascii: "h"): unit = 3600
            case UInt8(ascii: "d"): unit = 86_400
            case UInt8(ascii: "w"): unit = 604_800
            default: return nil
            }
            guard let n = number else { return nil }
            let (part, o1) = n.multipliedReportingOverflow(by: unit)
            let (sum, o2) = total.addingReportingOverflow(part)
            guard !o1, !o2 else { return nil }
            total = sum
            number = nil
            sawUnit = true
        }
        if let n = number {
            guard !sawUnit else { return nil } // "1h30" is ambiguous
            return n
        }
        return sawUnit ? total : nil
    }

    static func isDigits(_ s: Substring) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }
}
