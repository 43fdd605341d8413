import JourneyBytecode

/// A runtime failure inside a journey (division by zero, overflow): the instance stops and the
/// failure is recorded; it never takes the process down.
public struct RuntimeFault: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Operators on values. The checker guarantees the operand types; the few dynamic cases left
/// (numeric promotion, none) are decided here.
enum Arithmetic {
    /// A number as millionths and its kind: 0 int, 1 decimal, 2 money.
    @inline(__always)
    static func number(_ v: Value) -> (Int64, Int)? {
        switch v {
        case .int(let i): (i.multipliedReportingOverflow(by: Value.scale).overflow ? Int64.max : i * Value.scale, 0)
        case .decimal(let d): (d, 1)
        case .money(let m): (m, 2)
        default: nil
        }
    }

    /// Both operands as millionths for arithmetic, or a fault when an int is too large to
    /// take part in money or decimal arithmetic (never a silently capped value).
    static func numbers(_ a: Value, _ b: Value) throws -> (Int64, Int, Int64, Int)? {
        guard let (x, kx) = number(a), let (y, ky) = number(b) else { return nil }
        if (kx == 0 && x == Int64.max) || (ky == 0 && y == Int64.max) { throw overflow() }
        return (x, kx, y, ky)
    }

    static func make(_ millionths: Int64, kind: Int) -> Value {
        kind == 2 ? .money(millionths) : .decimal(millionths)
    }

    static func overflow() -> RuntimeFault { RuntimeFault(message: "a number grew too large") }

    static func tooLong(_ bytes: Int) -> RuntimeFault {
        RuntimeFault(message: "a text would be at least \(bytes) bytes long; a journey's texts and messages may be at most \(Value.maxTextBytes) bytes")
    }

    /// a × b / 10⁶ (or a × 10⁶ / b), exactly, rounding half to even.
    static func scaled(_ a: Int64, times b: Int64, over c: Int64) throws -> Int64 {
        guard c != 0 else { throw RuntimeFault(message: "division by zero") }
        let p = a.multipliedFullWidth(by: b)
        let negative = (p.high < 0) != (c < 0)
        // |p| as 128 bits
        var hi = UInt64(bitPattern: p.high), lo = p.low
        if p.high < 0 { lo = ~lo &+ 1; hi = ~hi &+ (lo == 0 ? 1 : 0) }
        let d = c.magnitude
        guard hi < d else { throw overflow() }
        let (q, r) = d.dividingFullWidth((high: hi, low: lo))
        var quotient = q
        let twice = r.multipliedReportingOverflow(by: 2)
        if twice.overflow || twice.partialValue > d || (twice.partialValue == d && quotient & 1 == 1) { quotient += 1 }
        guard quotient <= UInt64(Int64.max) else { throw overflow() }
        return negative ? -Int64(quotient) : Int64(quotient)
    }

    static func add(_ a: Value, _ b: Value, negate: Bool) throws -> Value {
        switch (a, b) {
        case (.int(let x), .int(let y)):
            let r = negate ? x.subtractingReportingOverflow(y) : x.addingReportingOverflow(y)
            guard !r.overflow else { throw overflow() }
            return .int(r.partialValue)
        case (.string(let x), .string(let y)) where !negate:
            guard x.utf8.count + y.utf8.count <= Value.maxTextBytes else { throw tooLong(x.utf8.count + y.utf8.count) }
            return .string(x + y)
        case (.time(let t), .duration(let d)): return try time(checked(t, d, negate))
        case (.duration(let d), .time(let t)) where !negate: return try time(checked(t, d, false))
        case (.time(let x), .time(let y)) where negate: return .duration(try checked(x, y, true))
        case (.date(let x), .duration(let d)):
            return try date(checked(Int64(x), floorDays(d), negate))
        case (.duration(let d), .date(let x)) where !negate: return try date(checked(Int64(x), floorDays(d), false))
        case (.date(let x), .date(let y)) where negate: return .duration((Int64(x) - Int64(y)) * 86400)
        case (.duration(let x), .duration(let y)): return .duration(try checked(x, y, negate))
        default:
            guard let (x, kx, y, ky) = try numbers(a, b) else { return .none }
            let r = negate ? x.subtractingReportingOverflow(y) : x.addingReportingOverflow(y)
            guard !r.overflow else { throw overflow() }
            return make(r.partialValue, kind: max(kx, ky))
        }
    }

    /// x + y or x − y, or a fault when it does not fit.
    static func checked(_ x: Int64, _ y: Int64, _ negate: Bool) throws -> Int64 {
        let r = negate ? x.subtractingReportingOverflow(y) : x.addingReportingOverflow(y)
        guard !r.overflow else { throw overflow() }
        return r.partialValue
    }

    /// Dates and times computed by a journey stay within the years 1 to 9999.
    static let days: ClosedRange<Int64> = (CivilDate(year: 1, month: 1, day: 1)?.days ?? 0)...(CivilDate(year: 9999, month: 12, day: 31)?.days ?? 0)

    static func date(_ d: Int64) throws -> Value {
        guard days.contains(d) else { throw RuntimeFault(message: "the date would fall outside the years 1 to 9999") }
        return .date(Int32(d))
    }

    /// Whole days in seconds, rounded down, for any value (no overflow at the ends).
    static func floorDays(_ s: Int64) -> Int64 {
        let (q, r) = s.quotientAndRemainder(dividingBy: 86400)
        return r < 0 ? q - 1 : q
    }

    static func time(_ t: Int64) throws -> Value {
        guard days.contains(floorDays(t)) else { throw RuntimeFault(message: "the time would fall outside the years 1 to 9999") }
        return .time(t)
    }

    static func multiply(_ a: Value, _ b: Value) throws -> Value {
        switch (a, b) {
        case (.int(let x), .int(let y)):
            let r = x.multipliedReportingOverflow(by: y)
            guard !r.overflow else { throw overflow() }
            return .int(r.partialValue)
        case (.duration(let d), .int(let n)), (.int(let n), .duration(let d)):
            let r = d.multipliedReportingOverflow(by: n)
            guard !r.overflow else { throw overflow() }
            return .duration(r.partialValue)
        default:
            guard let (x, kx, y, ky) = try numbers(a, b) else { return .none }
            return make(try scaled(x, times: y, over: Value.scale), kind: max(kx, ky))
        }
    }

    static func divide(_ a: Value, _ b: Value) throws -> Value {
        switch (a, b) {
        case (.duration(let d), .int(let n)):
            guard n != 0 else { throw RuntimeFault(message: "division by zero") }
            let r = d.dividedReportingOverflow(by: n)
            guard !r.overflow else { throw overflow() }
            return .duration(r.partialValue)
        default:
            guard let (x, kx, y, ky) = try numbers(a, b) else { return .none }
            let v = try scaled(x, times: Value.scale, over: y)
            // money / money is a plain ratio; money / number stays money.
            return make(v, kind: kx == 2 && ky == 2 ? 1 : (kx == 2 ? 2 : 1))
        }
    }

    static func negate(_ a: Value) throws -> Value {
        switch a {
        case .int(let i): return .int(try checked(0, i, true))
        case .decimal(let d): return .decimal(try checked(0, d, true))
        case .money(let m): return .money(try checked(0, m, true))
        case .duration(let d): return .duration(try checked(0, d, true))
        default: return .none
        }
    }

    /// Equality across numeric kinds by value; none equals only none.
    static func equal(_ a: Value, _ b: Value) -> Bool {
        if let (x, _) = number(a), let (y, _) = number(b) { return x == y }
        return a == b
    }

    /// Ordering; nil when the two cannot be ordered (never, after the checker).
    static func compare(_ a: Value, _ b: Value) -> Int? {
        func cmp<T: Comparable>(_ x: T, _ y: T) -> Int { x < y ? -1 : (x > y ? 1 : 0) }
        switch (a, b) {
        case (.string(let x), .string(let y)): return cmp(x, y)
        case (.date(let x), .date(let y)): return cmp(x, y)
        case (.time(let x), .time(let y)): return cmp(x, y)
        case (.duration(let x), .duration(let y)): return cmp(x, y)
        case (.timeOfDay(let x), .timeOfDay(let y)): return cmp(x, y)
        default:
            guard let (x, _) = number(a), let (y, _) = number(b) else { return nil }
            return cmp(x, y)
        }
    }
}
