import JourneyBytecode

/// A `ProfileCondition` as SQL over the profiles table (SQLite's storage: numbers, booleans,
/// dates and times as integers, money in millionths, texts as text): a clause true for every
/// row whose profile the condition may hold for. What SQL cannot tell exactly as the VM does
/// (a text that is not plain ASCII, an int too large for the VM's millionths, a missing required
/// attribute) is kept for the VM to decide, so the clause never leaves out a profile the
/// predicate would let in.
struct ProfileConditionSQL {
    let schema: RuntimeSchema
    /// Required attributes whose column may hold no value (added without a default): reading
    /// one faults. Any other required attribute always has a value (nothing writes one without).
    var mayBeMissing: Set<Int> = []

    /// SQL and the values bound to its `?`s, in order.
    enum Fragment {
        case yes, no
        case sql(String, [ColumnValue])

        static func and(_ a: Fragment, _ b: Fragment) -> Fragment {
            switch (a, b) {
            case (.no, _), (_, .no): .no
            case (.yes, let x), (let x, .yes): x
            case (.sql(let x, let bx), .sql(let y, let by)): .sql("(\(x) AND \(y))", bx + by)
            }
        }

        static func or(_ a: Fragment, _ b: Fragment) -> Fragment {
            switch (a, b) {
            case (.yes, _), (_, .yes): .yes
            case (.no, let x), (let x, .no): x
            case (.sql(let x, let bx), .sql(let y, let by)): .sql("(\(x) OR \(y))", bx + by)
            }
        }
    }

    /// The rows for which the condition may be true, or nil when that is every row.
    func clause(_ c: ProfileCondition) -> Fragment? {
        let p = parts(c).possible
        if case .yes = p { return nil }
        return p
    }

    /// Where the condition may be true, and where it may be false (three-valued: a part that
    /// cannot be told is both).
    func parts(_ c: ProfileCondition) -> (possible: Fragment, possiblyFalse: Fragment) {
        switch c {
        case .always: return (.yes, .no)
        case .never: return (.no, .yes)
        case .unknown: return (.yes, .yes)
        case .not(let x):
            let (p, f) = parts(x)
            return (f, p)
        case .and(let x, let y):
            let (px, fx) = parts(x), (py, fy) = parts(y)
            return (.and(px, py), .or(fx, fy))
        case .or(let x, let y):
            let (px, fx) = parts(x), (py, fy) = parts(y)
            return (.or(px, py), .and(fx, fy))
        case .isNone(let a):
            guard a < schema.attributes.count else { return (.yes, .yes) }
            if !schema.attributes[a].type.isOptional, !mayBeMissing.contains(a) { return (.no, .yes) }
            let col = StoreSchema.identifier(schema.attributes[a].name)
            return (.sql("\(col) IS NULL", []), .sql("\(col) IS NOT NULL", []))
        case .isTrue(let a):
            guard a < schema.attributes.count else { return (.yes, .yes) }
            guard schema.attributes[a].type.unwrapped == .bool else { return (.no, .yes) }
            let col = StoreSchema.identifier(schema.attributes[a].name)
            return atom(.sql("\(col) = 1", []), .sql("(\(col) IS NULL OR \(col) != 1)", []), uncertain: nil)
        case .compare(let a, let op, let v):
            guard a < schema.attributes.count else { return (.yes, .yes) }
            return compare(a, op, v)
        }
    }

    /// An exact test (where it holds, where it does not), but for the rows `uncertain` names.
    /// No `NOT` is ever written: in a clause of `AND`s and `OR`s alone, a comparison with a
    /// missing value (NULL) counts as false, as the VM's does.
    func atom(_ holds: Fragment, _ fails: Fragment, uncertain: Fragment?) -> (possible: Fragment, possiblyFalse: Fragment) {
        guard let u = uncertain else { return (holds, fails) }
        return (.or(holds, u), .or(fails, u))
    }

    func compare(_ a: Int, _ op: ProfileCondition.Comparison, _ v: Value) -> (possible: Fragment, possiblyFalse: Fragment) {
        let col = StoreSchema.identifier(schema.attributes[a].name)
        let unknown: (possible: Fragment, possiblyFalse: Fragment) = (.yes, .yes)
        // A missing value equals none only; it is neither less nor more than anything.
        if case .none = v {
            switch op {
            case .equal: return atom(.sql("\(col) IS NULL", []), .sql("\(col) IS NOT NULL", []), uncertain: nil)
            case .notEqual: return atom(.sql("\(col) IS NOT NULL", []), .sql("\(col) IS NULL", []), uncertain: nil)
            default: return (.no, .yes)
            }
        }
        // `!=` is the negation of `==`, a missing value included.
        if op == .notEqual {
            let (p, f) = compare(a, .equal, v)
            return (f, p)
        }
        let (sqlOp, inverse) = switch op {
        case .equal: ("=", "!=")
        case .less: ("<", ">=")
        case .lessEqual: ("<=", ">")
        case .greater: (">", "<=")
        case .greaterEqual: (">=", "<")
        case .notEqual: ("!=", "=")
        }
        func test(_ lhs: String, _ bound: ColumnValue, uncertain: Fragment? = nil) -> (possible: Fragment, possiblyFalse: Fragment) {
            atom(.sql("\(lhs) \(sqlOp) ?", [bound]), .sql("(\(col) IS NULL OR \(lhs) \(inverse) ?)", [bound]), uncertain: uncertain)
        }
        // The VM compares numbers in millionths; an int past ±9,223,372,036,854 does not fit
        // them, and is left to the VM.
        let bigInt = Fragment.sql("(\(col) < -9223372036854 OR \(col) > 9223372036854)", [])
        switch (schema.attributes[a].type.unwrapped, v) {
        case (.int, .int(let c)):
            // A constant past them is saturated by the VM too (-10^13 counts as more than
            // anything): such a test is the VM's alone.
            guard (-9_223_372_036_854...9_223_372_036_854).contains(c) else { return unknown }
            return test(col, .int(c), uncertain: bigInt)
        case (.int, .decimal(let m)), (.int, .money(let m)): return test("\(col) * 1000000", .int(m), uncertain: bigInt)
        case (.decimal, .int(let c)), (.money, .int(let c)):
            let (m, overflow) = c.multipliedReportingOverflow(by: Value.scale)
            return overflow ? unknown : test(col, .int(m))
        case (.decimal, .decimal(let m)), (.decimal, .money(let m)), (.money, .decimal(let m)), (.money, .money(let m)):
            return test(col, .int(m))
        case (.bool, .bool(let b)) where op == .equal: return test(col, .int(b ? 1 : 0))
        case (.string, .string(let s)) where op == .equal, (.url, .string(let s)) where op == .equal:
            // Texts equal as Swift compares them (canonical equivalence) are equal as bytes
            // when both are plain ASCII; a stored text with anything else is left to the VM.
            guard s.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return unknown }
            return test(col, .string(s), uncertain: .sql("\(col) GLOB '*[^ -~]*'", []))
        case (.date, .date(let d)): return test(col, .int(Int64(d)))
        case (.time, .time(let t)): return test(col, .int(t))
        case (.duration, .duration(let d)): return test(col, .int(d))
        default: return unknown
        }
    }
}
