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

    static func make(_ millionths: Int64, kind: Int) -> Value {
        kind == 2 ? .money(millionths) : .decimal(millionths)
    }

    static func overflow() -> RuntimeFault { RuntimeFault(message: "a number grew too large") }

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
        case (.string(let x), .string(let y)) where !negate: return .string(x + y)
        case (.time(let t), .duration(let d)): return .time(negate ? t - d : t + d)
        case (.duration(let d), .time(let t)) where !negate: return .time(t + d)
        case (.time(let x), .time(let y)) where negate: return .duration(x - y)
        case (.date(let x), .duration(let d)):
            let days = Int32(truncatingIfNeeded: (d >= 0 ? d : d - 86399) / 86400)
            return .date(negate ? x - days : x + days)
        case (.duration(let d), .date(let x)) where !negate: return .date(x + Int32(truncatingIfNeeded: d / 86400))
        case (.date(let x), .date(let y)) where negate: return .duration(Int64(x - y) * 86400)
        case (.duration(let x), .duration(let y)): return .duration(negate ? x - y : x + y)
        default:
            guard let (x, kx) = number(a), let (y, ky) = number(b) else { return .none }
            let r = negate ? x.subtractingReportingOverflow(y) : x.addingReportingOverflow(y)
            guard !r.overflow else { throw overflow() }
            return make(r.partialValue, kind: max(kx, ky))
        }
    }

    static func multiply(_ a: Value, _ b: Value) throws -> Value {
        switch (a, b) {
        case (.int(let x), .int(let y)):
            let r = x.multipliedReportingOverflow(by: y)
            guard !r.overflow else { throw overflow() }
            return .int(r.partialValue)
        case (.duration(let d), .int(let n)), (.int(let n), .duration(let d)): return .duration(d * n)
        default:
            guard let (x, kx) = number(a), let (y, ky) = number(b) else { return .none }
            return make(try scaled(x, times: y, over: Value.scale), kind: max(kx, ky))
        }
    }

    static func divide(_ a: Value, _ b: Value) throws -> Value {
        switch (a, b) {
        case (.duration(let d), .int(let n)):
            guard n != 0 else { throw RuntimeFault(message: "division by zero") }
            return .duration(d / n)
        default:
            guard let (x, kx) = number(a), let (y, ky) = number(b) else { return .none }
            let v = try scaled(x, times: Value.scale, over: y)
            // money / money is a plain ratio; money / number stays money.
            return make(v, kind: kx == 2 && ky == 2 ? 1 : (kx == 2 ? 2 : 1))
        }
    }

    static func negate(_ a: Value) throws -> Value {
        switch a {
        case .int(let i): return .int(-i)
        case .decimal(let d): return .decimal(-d)
        case .money(let m): return .money(-m)
        case .duration(let d): return .duration(-d)
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
