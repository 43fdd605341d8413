import JourneyDiagnostics
import JourneySyntax

/// Which side of `count_all`'s `FIELD == VALUE` is the bare field of the event (`isField`
/// says which names are); the other side is the value. The checker and the compiler read it so.
public func countAllOperands(_ exprs: ExprArena, _ l: ExprID, _ r: ExprID, isField: (String) -> Bool) -> (field: ExprID, value: ExprID)? {
    if case .name(let n) = exprs[l].kind, isField(n) { return (l, r) }
    if case .name(let n) = exprs[r].kind, isField(n) { return (r, l) }
    return nil
}

extension JourneyChecker {
    /// Checks a condition: it must be a (narrowed) bool. Returns what it narrows.
    @discardableResult
    mutating func checkCondition(_ e: ExprID, _ scope: Scope) -> Narrowing {
        let t = check(e, scope)
        expect(t, .bool, at: e, what: "a condition")
        return narrowing(e)
    }

    /// Reports when `t` does not fit `want`; optionals get their own message.
    mutating func expect(_ t: JType, _ want: JType, at e: ExprID, what: String) {
        guard !t.isAssignable(to: want) else { return }
        if t.isOptional, t.unwrapped.isAssignable(to: want) {
            unnarrowed(e, t)
        } else {
            report(SemanticCode.typeMismatch, exprs.span(e), "\(what) must be \(describe(want)), but this is \(describe(t))", label: "expected \(want)")
        }
    }

    func describe(_ t: JType) -> String {
        switch t {
        case .bool: "true or false (bool)"
        case .noneLiteral: "none"
        case .profile: "the whole profile"
        case .event(let e): "a whole \(e) event"
        default: "\(["a", "e", "i", "o", "u"].contains(t.description.prefix(1)) ? "an" : "a") \(t)"
        }
    }

    mutating func unnarrowed(_ e: ExprID, _ t: JType) {
        let name = tree.source.slice(exprs.span(e))
        let tested = pathKey(e).map { testedByWhen.contains($0) } ?? false
        report(SemanticCode.unnarrowedOptional, exprs.span(e), "`\(name)` is optional (\(t)) and may be none here", label: "may be none",
               hint: tested
                   ? "The journey's `when` tested it, but only at entry: the profile may change while the journey waits. Use it inside `if \(name) != none { … }`, or give a default, e.g. `\(name) ?? …`."
                   : "Give a default, e.g. `\(name) ?? …`, or use it inside `if \(name) != none { … }`.")
    }

    /// A value that must be present (not optional): arithmetic, ordering, interpolation, fields.
    mutating func requireValue(_ t: JType, _ e: ExprID) -> JType {
        if t.isOptional, t != .error {
            unnarrowed(e, t)
            return .error
        }
        return t
    }

    /// The type of an expression, recorded in the side table.
    mutating func check(_ e: ExprID, _ scope: Scope) -> JType {
        let t = infer(e, scope)
        types[Int(e.index)] = t
        return t
    }

    mutating func infer(_ e: ExprID, _ scope: Scope) -> JType {
        let node = exprs[e]
        switch node.kind {
        case .integer: return .intLiteral
        case .decimal, .percent: return .decimalLiteral
        case .string(let parts):
            for case .interpolation(let inner) in parts {
                let t = check(inner, scope)
                if t.isOptional, t != .error {
                    unnarrowed(inner, t)
                } else if case .event = t {
                    report(SemanticCode.typeMismatch, exprs.span(inner), "a whole event cannot be put in a string", label: "pick a field", hint: "Insert one of its fields, e.g. `{alias.field}`.")
                } else if t == .profile {
                    report(SemanticCode.typeMismatch, exprs.span(inner), "the whole profile cannot be put in a string", label: "pick an attribute", hint: "Insert one attribute, e.g. `{profile.first_name}`.")
                }
            }
            return .stringLiteral
        case .bool: return .bool
        case .none: return .noneLiteral
        case .duration: return .duration
        case .timeOfDay: return .timeOfDay
        case .date, .today: return .date
        case .now, .instant: return .time
        case .profile: return .profile
        case .error: return .error
        case .paren(let inner): return check(inner, scope)
        case .name(let n): return resolveName(n, span: node.span, scope)
        case .member(let base, let field): return member(e, base, field, scope)
        case .unary(let op, let operand):
            let t = check(operand, scope)
            if op == .not {
                expect(t, .bool, at: operand, what: "the operand of 'not'")
                return .bool
            }
            let v = requireValue(t, operand)
            if v.numericRank != nil || v == .duration || v == .error { return v }
            report(SemanticCode.invalidOperands, node.span, "'-' cannot negate \(describe(v))", label: "not a number")
            return .error
        case .binary(let op, let l, let r): return binary(e, op, l, r, scope)
        case .list(let items): return list(items, scope)
        case .call(let f, let args): return call(e, f, args, scope)
        case .repeated(let item, let list, let text):
            let lt = requireValue(check(list, scope), list)
            var inner = scope
            if scope.aliases[item.name] != nil || scope.items[item.name] != nil {
                report(SemanticCode.duplicateDeclaration, item.span, "'\(item.name)' already names something here", label: "choose another name")
            }
            switch lt {
            case .list(let element): inner.items[item.name] = element.settled
            case .error: inner.items[item.name] = .error
            default:
                report(SemanticCode.typeMismatch, exprs.span(list), "'for \(item.name) in …' repeats over a list, but this is \(describe(lt))", label: "not a list")
                inner.items[item.name] = .error
            }
            let tt = requireValue(check(text, inner), text)
            switch tt {
            case .event, .profile:
                report(SemanticCode.typeMismatch, exprs.span(text), "the text to repeat must be text, not \(describe(tt))", label: "pick a field")
            default: break
            }
            return .string
        case .history(let q):
            let t = history(q, span: node.span, scope)
            if t.isOptional, !scope.narrowed.isEmpty, let key = pathKey(e), scope.narrowed.contains(key) { return t.unwrapped }
            return t
        }
    }

    mutating func resolveName(_ n: String, span: Span, _ scope: Scope) -> JType {
        if let t = scope.items[n], scope.bareFields?.field(n) == nil { return t }
        if let ev = scope.bareFields, let f = ev.field(n) {
            return f.type.isOptional && scope.narrowed.contains(n) ? f.type.unwrapped : f.type
        }
        if scope.unknownBareFields, scope.aliases[n] == nil { return .error }
        if let a = scope.aliases[n] {
            // (Most uses are of an alias already used: no write, so no copy of the set.)
            if !usedAliases.contains(a.span.start) { usedAliases.insert(a.span.start) }
            return a.event.map(JType.event) ?? .error
        }
        var candidates = Array(scope.aliases.keys)
        if let ev = scope.bareFields { candidates += ev.fields.map(\.name) }
        var hint: String?
        if schema.attribute(n) != nil {
            hint = "profile attributes are read as `profile.\(n)`"
        } else if schema.events[n] != nil {
            hint = "to read the event's fields, name it with 'as', e.g. 'on \(n) as \(n.prefix(1))'"
        } else if let a = aliases.last(where: { $0.name == n }) {
            hint = "'\(n)' names the event of a 'wait for' (line \(tree.source.location(of: a.span.start).line)) and is only in scope inside that block"
        } else if let s = suggestion(for: n, among: candidates + ["profile", "now", "today"]) {
            // Inside a history query's `where`, a misspelt field of its event (in any journey).
            hint = "did you mean '\(s)'?"
        } else if scope.audience, scope.bareFields == nil {
            hint = "an audience journey ('on daily at') has no trigger event; use profile attributes and history queries"
        }
        report(SemanticCode.unknownName, span, "'\(n)' is not defined here", label: "unknown name", hint: hint ?? "Use profile.ATTRIBUTE, an alias bound with 'as', or (inside 'where') a field of the event.")
        return .error
    }

    mutating func member(_ e: ExprID, _ base: ExprID, _ field: Ident, _ scope: Scope) -> JType {
        let bt = check(base, scope)
        var result: JType
        switch bt.unwrapped {
        case .profile:
            guard let type = schema.attributeType(field.name) else {
                if schema.hasProfile { unknownAttribute(field) }
                return .error
            }
            result = type
        case .event(let name):
            guard let type = schema.fieldType(event: name, field.name) else {
                let s = suggestion(for: field.name, among: schema.events[name]?.fields.map(\.name) ?? [])
                report(SemanticCode.unknownField, field.span, "the event '\(name)' has no field '\(field.name)'" + (s.map { "; did you mean '\($0)'?" } ?? ""),
                       label: "unknown field", hint: s.map { "did you mean '\($0)'?" } ?? "Its fields are: \(schema.events[name]?.fields.map(\.name).joined(separator: ", ") ?? "none").")
                return .error
            }
            result = type
            if bt.isOptional { result = result.asOptional }
        case .error:
            return .error
        default:
            report(SemanticCode.unknownField, field.span, "\(describe(bt)) has no field '\(field.name)'", label: "no fields here")
            return .error
        }
        // Building the path costs a string: only when something is narrowed and the value may be none.
        if result.isOptional, !scope.narrowed.isEmpty, let key = pathKey(e), scope.narrowed.contains(key) { result = result.unwrapped }
        return result
    }

    /// The types `<`, `<=`, `>` and `>=` compare.
    static let orderable: [JType] = [.int, .decimal, .money, .date, .time, .duration, .timeOfDay, .string]

    mutating func binary(_ e: ExprID, _ op: BinaryOp, _ l: ExprID, _ r: ExprID, _ scope: Scope) -> JType {
        let span = exprs.span(e)
        switch op {
        case .and, .or:
            checkCondition(l, scope)
            var right = scope
            let n = narrowing(l)
            right.narrowed.formUnion(op == .and ? n.whenTrue : n.whenFalse)
            checkCondition(r, right)
            return .bool
        case .equal, .notEqual:
            let a = check(l, scope), b = check(r, scope)
            if a == .error || b == .error { return .bool }
            if a == .noneLiteral || b == .noneLiteral {
                let other = a == .noneLiteral ? b : a
                let otherExpr = a == .noneLiteral ? r : l
                if !other.isOptional {
                    report(SemanticCode.neverNone, exprs.span(otherExpr), "`\(tree.source.slice(exprs.span(otherExpr)))` is \(other) here, which is never none", label: "always there",
                           hint: "Only optional values (T?) can be none; this test is always \(op == .equal ? "false" : "true").")
                }
                return .bool
            }
            if JType.common(a.unwrapped, b.unwrapped) == nil {
                report(SemanticCode.typeMismatch, span, "cannot compare \(describe(a)) with \(describe(b))", label: "different types")
            }
            return .bool
        case .less, .lessEqual, .greater, .greaterEqual:
            let a = requireValue(check(l, scope), l), b = requireValue(check(r, scope), r)
            if a == .error || b == .error { return .bool }
            if let c = JType.common(a, b), Self.orderable.contains(c) { return .bool }
            report(SemanticCode.typeMismatch, span, "cannot order \(describe(a)) and \(describe(b)) with '\(op.spelling)'", label: "not comparable")
            return .bool
        case .in, .notIn:
            return membership(e, op, l, r, scope)
        case .coalesce:
            let a = check(l, scope), b = check(r, scope)
            if a == .error || b == .error { return a == .error ? b.settled : a.unwrapped }
            if !a.isOptional {
                report(SemanticCode.neverNone, exprs.span(l), "`\(tree.source.slice(exprs.span(l)))` is \(a) here, which is never none, so '??' has no effect",
                       label: "always there", hint: "Remove '?? …'.")
                return JType.common(a, b) ?? a
            }
            guard let c = JType.common(a.unwrapped, b.unwrapped) else {
                report(SemanticCode.typeMismatch, exprs.span(r), "the default must be \(describe(a.unwrapped)), but this is \(describe(b))", label: "expected \(a.unwrapped)")
                return a.unwrapped
            }
            return b.isOptional ? c.asOptional : c
        case .add, .subtract, .multiply, .divide:
            let a = requireValue(check(l, scope), l), b = requireValue(check(r, scope), r)
            if a == .error || b == .error { return .error }
            if let t = arithmetic(op, a, b) { return t }
            report(SemanticCode.invalidOperands, span, "cannot apply '\(op.spelling)' to \(describe(a)) and \(describe(b))", label: "invalid operands",
                   hint: a.numericRank == 2 || b.numericRank == 2 ? "money can be added to money, and multiplied or divided by a number." : nil)
            return .error
        }
    }

    /// The result of arithmetic on two present values, or nil when the operator does not apply.
    func arithmetic(_ op: BinaryOp, _ a: JType, _ b: JType) -> JType? {
        if let ra = a.numericRank, let rb = b.numericRank {
            let aLit = a == .intLiteral || a == .decimalLiteral, bLit = b == .intLiteral || b == .decimalLiteral
            if aLit && bLit { return ra >= rb ? a : b }
            switch op {
            case .add, .subtract:
                // Money only mixes with literals; int widens to decimal.
                if ra == 2 || rb == 2 { return (ra == 2 && (rb == 2 || bLit)) || (rb == 2 && aLit) ? .money : nil }
                return (ra >= rb ? a : b).settled
            case .multiply:
                if ra == 2 && rb == 2 { return nil }
                return (ra >= rb ? a : b).settled
            default:
                if ra == 2 && rb == 2 { return .decimal }
                if rb == 2 { return nil }
                return ra == 2 ? .money : .decimal
            }
        }
        switch (op, a, b) {
        case (.add, .stringLiteral, .stringLiteral): return .stringLiteral
        case (.add, .string, _), (.add, .stringLiteral, _):
            return b == .string || b == .stringLiteral ? .string : nil
        case (.add, .time, .duration), (.add, .duration, .time), (.subtract, .time, .duration): return .time
        case (.add, .date, .duration), (.add, .duration, .date), (.subtract, .date, .duration): return .date
        case (.subtract, .time, .time), (.subtract, .date, .date): return .duration
        case (.add, .duration, .duration), (.subtract, .duration, .duration): return .duration
        case (.multiply, .duration, _) where b.numericRank == 0: return .duration
        case (.multiply, _, .duration) where a.numericRank == 0: return .duration
        case (.divide, .duration, _) where b.numericRank == 0: return .duration
        default: return nil
        }
    }

    // MARK: - History queries

    /// A field of the event a query names (`sum(E.F)`, `top(E.F)`, `also(E.F, …)`), or J0205.
    mutating func eventField(_ ev: EventSchema, _ f: Ident) -> SchemaField? {
        if let field = ev.field(f.name) { return field }
        let s = suggestion(for: f.name, among: ev.fields.map(\.name))
        report(SemanticCode.unknownField, f.span, "the event '\(ev.name)' has no field '\(f.name)'", label: "unknown field", hint: s.map { "did you mean '\($0)'?" })
        return nil
    }

    /// `also(EVENT.FIELD, of: VALUE, within D [, limit N])`: the values other profiles had
    /// together with VALUE (within D of each other), most often first: a list of the field's type.
    mutating func also(_ q: HistoryQuery, _ ev: EventSchema?, _ scope: Scope) -> JType {
        let valueType = q.of.map { check($0, scope) } ?? .error
        guard let ev, let f = q.field else { return .error }
        guard let field = eventField(ev, f) else { return .error }
        if case .list = field.type.unwrapped {
            report(SemanticCode.typeMismatch, f.span, "also() pairs single values, but \(ev.name).\(f.name) is \(field.type)", label: "a list")
            return .error
        }
        if field.type.isOptional {
            report(SemanticCode.invalidArguments, f.span, "\(ev.name).\(f.name) may be none; also() pairs values that are always there", label: "optional field")
        }
        guard let w = q.within else {
            report(SemanticCode.invalidArguments, q.event.span, "also() needs the time within which two \(ev.name) count as together", label: "within what?",
                   hint: "Add ', within 30d': two values of one profile's \(ev.name) events at most that far apart are a pair.")
            return .list(field.type.unwrapped)
        }
        checkPositive(w, "also()'s window")
        if let l = q.limit, l.value < 1 || l.value > 255 {
            report(SemanticCode.invalidArguments, l.span, "also() can give 1 to 255 items, not \(l.value)", label: "out of range")
        }
        // The item may be none (a last() that found nothing): then there are no companions.
        if valueType != .error, let of = q.of, JType.common(valueType.unwrapped, field.type.unwrapped) == nil {
            report(SemanticCode.typeMismatch, exprs.span(of), "also() pairs \(ev.name).\(f.name) values (\(field.type.unwrapped)), but this is \(describe(valueType))", label: "expected \(field.type.unwrapped)")
        }
        return .list(field.type.unwrapped)
    }

    /// `top(EVENT.FIELD [where …] [within D] [, N])`: the profile's most frequent value of the
    /// field (T?), or its N most frequent (list[T]).
    mutating func top(_ q: HistoryQuery, _ ev: EventSchema?) -> JType {
        guard let ev else { return .error }
        guard let f = q.field else {
            report(SemanticCode.typeMismatch, q.event.span, "top() needs the field whose values to rank", label: "which field?",
                   hint: "Write top(\(q.event.name).FIELD within 90d), e.g. top(product_viewed.brand within 90d).")
            return .error
        }
        guard let field = eventField(ev, f) else { return .error }
        if case .list = field.type.unwrapped {
            report(SemanticCode.typeMismatch, f.span, "top() ranks single values, but \(ev.name).\(f.name) is \(field.type)", label: "a list")
            return .error
        }
        if let l = q.limit {
            guard l.value >= 1, l.value <= 255 else {
                report(SemanticCode.invalidArguments, l.span, "top() can rank 1 to 255 values, not \(l.value)", label: "out of range")
                return .list(field.type.unwrapped)
            }
            return .list(field.type.unwrapped)
        }
        return .optional(field.type.unwrapped)
    }

    /// `count_all([distinct] EVENT where FIELD == VALUE [within D])`: everyone's events (or the
    /// profiles with one) whose field holds the value, now; VALUE is read outside the query.
    mutating func countAll(_ q: HistoryQuery, _ ev: EventSchema?, span: Span, _ scope: Scope) -> JType {
        if let w = q.within { checkPositive(w, "the time window") }
        if let f = q.field {
            report(SemanticCode.typeMismatch, f.span, "count_all() takes an event, not one of its fields", label: "remove '.\(f.name)'")
        }
        guard let ev else { return .int }
        func shape(_ why: String) -> JType {
            report(SemanticCode.countAllShape, q.condition.map { exprs.span($0) } ?? q.event.span, why, label: "not FIELD == value",
                   hint: "Write count_all(\(ev.name) where FIELD == value within 1h), e.g. count_all(\(ev.name) where \(ev.fields.first?.name ?? "id") == x.\(ev.fields.first?.name ?? "id") within 1h).")
            return .int
        }
        guard let c = q.condition else { return shape("count_all() counts the events whose field holds one value: say which with 'where FIELD == value'") }
        guard case .binary(.equal, let l, let r) = exprs[c].kind else {
            return shape("count_all()'s condition must be one 'FIELD == value', kept in an index as events arrive")
        }
        guard let (fe, valueSide) = countAllOperands(exprs, l, r, isField: { ev.field($0) != nil }),
              case .name(let n) = exprs[fe].kind, let field = ev.field(n) else {
            return shape("one side of '==' must be a field of \(ev.name), written bare (e.g. product_id)")
        }
        if field.type.isOptional { return shape("\(ev.name).\(n) may be none, and events without it are not counted by value: use a field that always has one") }
        if case .list = field.type { return shape("\(ev.name).\(n) is a list; count_all() matches a single value") }
        types[Int(fe.index)] = field.type
        // The value is read in the journey, outside the query: no bare fields of the event.
        let vt = requireValue(check(valueSide, scope), valueSide)
        if vt != .error, JType.common(field.type, vt) == nil {
            report(SemanticCode.typeMismatch, exprs.span(c), "cannot compare \(describe(field.type)) with \(describe(vt))", label: "different types")
        }
        types[Int(c.index)] = .bool
        return .int
    }

    mutating func history(_ q: HistoryQuery, span: Span, _ scope: Scope) -> JType {
        let fn = q.function.name
        guard Keywords.historyFunctions.contains(fn) else {
            let s = suggestion(for: fn, among: Keywords.historyFunctions + Builtin.names)
            report(SemanticCode.unknownFunction, q.function.span, "'\(fn)' is not a function", label: "unknown function",
                   hint: s.map { "did you mean '\($0)'?" } ?? "The history functions are count, exists, sum, last, days_since and count_all; the others are \(Builtin.names.joined(separator: ", ")).")
            return .error
        }
        let ev = profileEvent(q.event, "it is in no profile's history for \(fn)() to find")
        if fn == "count_all" { return countAll(q, ev, span: span, scope) }
        if fn == "also" { return also(q, ev, scope) }
        if q.distinct != nil { report(SemanticCode.countAllShape, q.event.span, "only count_all() counts distinct profiles", label: "not here") }
        if let c = q.condition { checkCondition(c, scope.with(bareFields: ev)) }
        if let w = q.within { checkPositive(w, "the time window") }
        if let l = q.limit, fn != "top", fn != "also" {
            report(SemanticCode.invalidArguments, l.span, "only top() takes how many values", label: "remove ', \(l.value)'")
        }
        if fn == "top" { return top(q, ev) }
        if fn != "sum", let f = q.field {
            report(SemanticCode.typeMismatch, f.span, "\(fn)() takes an event, not one of its fields", label: "remove '.\(f.name)'",
                   hint: "Write \(fn)(\(q.event.name) where …); only sum() takes EVENT.FIELD.")
        }
        switch fn {
        case "count": return .int
        case "exists": return .bool
        case "days_since": return .optional(.int)
        case "last": return ev == nil ? .error : .optional(.event(q.event.name))
        default: // sum
            guard let ev else { return .error }
            guard let f = q.field else {
                report(SemanticCode.typeMismatch, q.event.span, "sum() needs the field to add up", label: "which field?",
                       hint: "Write sum(\(q.event.name).FIELD), e.g. sum(order_placed.total).")
                return .error
            }
            guard let field = eventField(ev, f) else { return .error }
            guard field.type.unwrapped.numericRank != nil else {
                report(SemanticCode.typeMismatch, f.span, "sum() adds up numbers, but \(ev.name).\(f.name) is \(field.type)", label: "not a number")
                return .error
            }
            return field.type.unwrapped
        }
    }
}
