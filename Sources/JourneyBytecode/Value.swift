/// A runtime value. Decimals and money are exact fixed-point numbers in millionths, never binary
/// floating point.
public enum Value: Sendable, Hashable {
    case none
    case bool(Bool)
    case int(Int64)
    /// Millionths: 12.5 is 12_500_000.
    case decimal(Int64)
    /// Millionths of the currency unit.
    case money(Int64)
    /// Strings and urls.
    case string(String)
    /// Days since 1970-01-01.
    case date(Int32)
    /// Seconds since 1970-01-01T00:00:00Z.
    case time(Int64)
    /// Seconds.
    case duration(Int64)
    /// Minutes after midnight.
    case timeOfDay(Int32)
    case list([Value])
    /// An event: its schema index, when it happened, and its fields in schema order.
    case record(Record)

    public static let scale: Int64 = 1_000_000

    public var isNone: Bool { if case .none = self { true } else { false } }
}

/// An event's data as the VM sees it.
public struct Record: Sendable, Hashable {
    public var event: Int
    public var at: Int64
    public var fields: [Value]
    public init(event: Int, at: Int64, fields: [Value]) {
        self.event = event
        self.at = at
        self.fields = fields
    }
}

// MARK: - Text

extension Value {
    /// How a value reads when inserted in a message.
    public var text: String {
        switch self {
        case .none: ""
        case .bool(let b): b ? "true" : "false"
        case .int(let i): String(i)
        case .decimal(let d): Value.fixed(d, minimumDecimals: 0)
        case .money(let m): Value.fixed(Value.cents(m), minimumDecimals: 2)
        case .string(let s): s
        case .date(let d): CivilDate(days: Int64(d)).text
        case .time(let t): Value.iso8601(t)
        case .duration(let s): Value.durationText(s)
        case .timeOfDay(let m): (m / 60 < 10 ? "0" : "") + "\(m / 60):" + (m % 60 < 10 ? "0" : "") + "\(m % 60)"
        case .list(let items): items.map(\.text).joined(separator: ", ")
        case .record: ""
        }
    }

    /// Money shown to a person: millionths rounded to whole cents, half to even.
    public static func cents(_ m: Int64) -> Int64 { MessageFormat.round(m, toDecimals: 2) }

    /// Fixed-point millionths as decimal text, trailing zeros trimmed to `minimumDecimals`.
    public static func fixed(_ v: Int64, minimumDecimals: Int) -> String {
        let mag = v.magnitude
        let whole = mag / UInt64(scale)
        var frac = mag % UInt64(scale)
        // Six fractional digits, then drop trailing zeros down to the minimum.
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { d in
            for i in stride(from: 5, through: 0, by: -1) {
                d[i] = UInt8(ascii: "0") + UInt8(frac % 10)
                frac /= 10
            }
        }
        var count = 6
        withUnsafeBytes(of: &digits) { d in
            while count > minimumDecimals, d[count - 1] == UInt8(ascii: "0") { count -= 1 }
        }
        var out = v < 0 ? "-" : ""
        out += String(whole)
        if count > 0 {
            out += "."
            withUnsafeBytes(of: &digits) { d in out += String(decoding: UnsafeRawBufferPointer(rebasing: d[0..<count]), as: UTF8.self) }
        }
        return out
    }

    /// Parses decimal text ("12.50", "-3", "0.000001") into millionths; nil when malformed or
    /// finer than a millionth.
    public static func parseFixed(_ s: Substring) -> Int64? {
        var text = s
        var negative = false
        if text.first == "-" { negative = true; text = text.dropFirst() } else if text.first == "+" { text = text.dropFirst() }
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let wholeText = parts.first, !wholeText.isEmpty, wholeText.allSatisfy(\.isASCIIDigit) else { return nil }
        var frac = parts.count > 1 ? String(parts[1]) : ""
        guard frac.allSatisfy(\.isASCIIDigit), !(parts.count > 1 && frac.isEmpty) else { return nil }
        while frac.count > 6, frac.hasSuffix("0") { frac.removeLast() }
        guard frac.count <= 6, let whole = Int64(wholeText) else { return nil }
        frac += String(repeating: "0", count: 6 - frac.count)
        let (w, o1) = whole.multipliedReportingOverflow(by: scale)
        let (v, o2) = w.addingReportingOverflow(Int64(frac) ?? 0)
        guard !o1, !o2 else { return nil }
        return negative ? -v : v
    }

    public static func durationText(_ s: Int64) -> String {
        for (unit, n) in [("w", Int64(604_800)), ("d", 86400), ("h", 3600), ("m", 60)] where s != 0 && s % n == 0 { return "\(s / n)\(unit)" }
        return "\(s)s"
    }

    /// `2025-03-01T10:00:00Z`.
    /// The longest text a journey may build (a `{…}` string, `+`) and the largest message it
    /// may send, in UTF-8 bytes. Past it the instance fails with the reason: nothing is sent,
    /// and memory stays bounded whatever the profile holds.
    public static let maxTextBytes = 100_000

    /// The instants the runtime takes and keeps: 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
    /// Input outside is refused; arithmetic that leaves it is a fault.
    public static let instantRange: ClosedRange<Int64> = 0...253_402_300_799

    /// `2025-03-01T10:00:00.250Z`: an instant with fractions of a second, to the millisecond.
    public static func iso8601(seconds t: Double) -> String {
        let millis = Int64((t * 1000).rounded(.down))
        let (whole, ms) = (millis >= 0 ? millis / 1000 : (millis - 999) / 1000, ((millis % 1000) + 1000) % 1000)
        let text = iso8601(whole)
        let digits = String(ms)
        return text.dropLast() + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }

    public static func iso8601(_ t: Int64) -> String {
        // Floor division that cannot overflow, whatever the instant.
        let (q, r) = t.quotientAndRemainder(dividingBy: 86400)
        let days = r < 0 ? q - 1 : q
        let secs = r < 0 ? r + 86400 : r
        let d = CivilDate(days: days)
        return "\(d.text)T\(two(secs / 3600)):\(two(secs % 3600 / 60)):\(two(secs % 60))Z"
    }

    static func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }

    /// Parses `YYYY-MM-DDTHH:MM[:SS[.fff]](Z|±HH:MM)` into seconds since the epoch.
    public static func parseISO8601(_ s: String) -> Int64? {
        // Read in place (no copy of the bytes: an ingest reads one per event).
        var s = s
        return s.withUTF8 { parseISO8601(bytes: $0) }
    }

    static func parseISO8601(bytes b: UnsafeBufferPointer<UInt8>) -> Int64? {
        func num(_ i: Int, _ n: Int) -> Int64? {
            guard i + n <= b.count else { return nil }
            var v: Int64 = 0
            for k in i..<(i + n) {
                guard b[k] >= 48, b[k] <= 57 else { return nil }
                v = v * 10 + Int64(b[k] - 48)
            }
            return v
        }
        guard b.count >= 16, let y = num(0, 4), b[4] == 45, let mo = num(5, 2), b[7] == 45, let d = num(8, 2),
              b[10] == 84 || b[10] == 116 || b[10] == 32, let h = num(11, 2), b[13] == 58, let mi = num(14, 2) else { return nil }
        var i = 16
        var sec: Int64 = 0
        if i < b.count, b[i] == 58 {
            guard let s = num(i + 1, 2) else { return nil }
            sec = s
            i += 3
            if i < b.count, b[i] == 46 || b[i] == 44 { // fractions of a second are dropped
                i += 1
                while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
            }
        }
        var offset: Int64 = 0
        if i < b.count, b[i] == 90 || b[i] == 122 {
            i += 1
        } else if i < b.count, b[i] == 43 || b[i] == 45 {
            let sign: Int64 = b[i] == 43 ? 1 : -1
            guard let oh = num(i + 1, 2) else { return nil }
            var om: Int64 = 0
            if i + 3 < b.count, b[i + 3] == 58 {
                guard let m = num(i + 4, 2) else { return nil }
                om = m
                i += 6
            } else if let m = num(i + 3, 2) {
                om = m
                i += 5
            } else {
                i += 3
            }
            // Offsets in use run from -12:00 to +14:00; anything past ±18:00 or with 60 minutes
            // or more is a typo, not a zone.
            guard oh <= 18, om < 60, oh * 60 + om <= 18 * 60 else { return nil }
            offset = sign * (oh * 3600 + om * 60)
        } else {
            return nil // a timestamp must say its zone
        }
        guard i == b.count, let days = CivilDate(year: y, month: mo, day: d)?.days, h < 24, mi < 60, sec < 61 else { return nil }
        return days * 86400 + h * 3600 + mi * 60 + min(sec, 59) - offset
    }
}

/// A proleptic Gregorian calendar date (Howard Hinnant's civil-from-days algorithms).
public struct CivilDate: Sendable, Hashable {
    public var year: Int64
    public var month: Int64
    public var day: Int64

    public init?(year: Int64, month: Int64, day: Int64) {
        guard month >= 1, month <= 12, day >= 1 else { return nil }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let lengths: [Int64] = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard day <= lengths[Int(month - 1)] else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    public init(days z0: Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        day = doy - (153 * mp + 2) / 5 + 1
        month = mp < 10 ? mp + 3 : mp - 9
        year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    }

    public var days: Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public var text: String {
        let y = String(year)
        return String(repeating: "0", count: max(0, 4 - y.count)) + y + "-" + Value.two(month) + "-" + Value.two(day)
    }

    /// Parses `YYYY-MM-DD`.
    public static func parse(_ s: String) -> CivilDate? {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int64(parts[0]), let m = Int64(parts[1]), let d = Int64(parts[2]) else { return nil }
        return CivilDate(year: y, month: m, day: d)
    }
}

extension Character {
    var isASCIIDigit: Bool { asciiValue.map { $0 >= 48 && $0 <= 57 } ?? false }
}
