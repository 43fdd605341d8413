import JourneyDiagnostics
import JourneySemantics
import JourneySyntax

extension JourneyCompiler {
    /// The event a record-typed expression holds, from the checker's side table.
    func eventIndex(of e: ExprID) -> Int? {
        let i = Int(e.index)
        guard i < types.count else { return nil }
        if case .event(let name) = types[i].unwrapped { return schema.eventIndex(name) }
        return nil
    }

    mutating func expr(_ e: ExprID, _ scope: CompileScope, _ pool: inout ConstantPool) {
        let node = exprs[e]
        switch node.kind {
        case .integer(let v): fn.emit(.constant, pool.add(.int(v)))
        case .decimal(let text): fn.emit(.constant, pool.add(.decimal(fixed(text))))
        case .percent(let p): fn.emit(.constant, pool.add(.decimal(Int64(p.basisPoints) * 100)))
        case .string(let parts):
            if parts.isEmpty {
                fn.emit(.constant, pool.add(.string("")))
            } else if parts.count == 1, case .text(let t) = parts[0] {
                fn.emit(.constant, pool.add(.string(t)))
            } else {
                for part in parts {
                    switch part {
                    case .text(let t): fn.emit(.constant, pool.add(.string(t)))
                    case .interpolation(let inner):
                        expr(inner, scope, &pool)
                        if let spec = interpolationFormat(inner) { fn.emit(.format, pool.add(.string(spec.text))) }
                    }
                }
                fn.emit(.concat, parts.count)
            }
        case .bool(let b): fn.emit(b ? .pushTrue : .pushFalse)
        case .none: fn.emit(.pushNone)
        case .duration(let d): fn.emit(.constant, pool.add(.duration(d.seconds)))
        case .timeOfDay(let t): fn.emit(.constant, pool.add(.timeOfDay(Int32(t.minutes))))
        case .date(let y, let m, let d):
            let days = CivilDate(year: Int64(y), month: Int64(m), day: Int64(d))?.days ?? 0
            fn.emit(.constant, pool.add(.date(Int32(days))))
        case .instant(let t): fn.emit(.constant, pool.add(.time(t)))
        case .now: fn.emit(.now)
        case .today: fn.emit(.today)
        case .profile, .error: fn.emit(.pushNone)
        case .paren(let inner): expr(inner, scope, &pool)
        case .name(let n):
            if let ev = scope.bareEvent, let f = schema.events[ev].fieldIndex(n) {
                fn.emit(.candidate)
                fn.emit(.field, f)
            } else if let slot = scope.slots[n] {
                fn.emit(.local, slot)
            } else {
                fn.emit(.pushNone)
            }
        case .member(let base, let field):
            if case .profile = exprs[base].kind {
                fn.emit(.attribute, schema.attributeIndex(field.name) ?? 0)
            } else {
                expr(base, scope, &pool)
                let f = eventIndex(of: base).flatMap { schema.events[$0].fieldIndex(field.name) } ?? 0
                fn.emit(.field, f)
            }
        case .unary(let op, let operand):
            expr(operand, scope, &pool)
            fn.emit(op == .not ? .not : .negate)
        case .binary(.and, let l, let r):
            expr(l, scope, &pool)
            let toFalse = fn.emit(.jumpIfFalse, 0)
            expr(r, scope, &pool)
            let done = fn.emit(.jump, 0)
            fn.patch(toFalse, to: fn.code.count)
            fn.emit(.pushFalse)
            fn.patch(done, to: fn.code.count)
        case .binary(.or, let l, let r):
            expr(l, scope, &pool)
            let toRight = fn.emit(.jumpIfFalse, 0)
            fn.emit(.pushTrue)
            let done = fn.emit(.jump, 0)
            fn.patch(toRight, to: fn.code.count)
            expr(r, scope, &pool)
            fn.patch(done, to: fn.code.count)
        case .repeated(let item, let list, let text):
            // The text is a function of its own, run once per item with the item in a local.
            let slot = newLocal()
            var inner = scope
            inner.slots[item.name] = slot
            let body = predicate(text, bareEvent: scope.bareEvent, inner, &pool)
            expr(list, scope, &pool)
            fn.emit(.mapText, body, slot)
        case .list(let items):
            for item in items { expr(item, scope, &pool) }
            fn.emit(.makeList, items.count)
        case .binary(.in, let l, let r), .binary(.notIn, let l, let r):
            expr(l, scope, &pool)
            expr(r, scope, &pool)
            fn.emit(.contains)
            if case .binary(.notIn, _, _) = node.kind { fn.emit(.not) }
        case .call(let f, let args):
            for a in args.prefix(1) { expr(a, scope, &pool) }
            guard let b = Builtin(name: f.name) else { return }
            switch b {
            case .percent:
                fn.emit(.format, pool.add(.string(FormatSpec(.percent, locale: policy.locale).text)))
            case .format:
                fn.emit(.format, pool.add(.string(formatSpec(args[0], args[1]).text)))
            default:
                for a in args.dropFirst() { expr(a, scope, &pool) }
                fn.emit(.builtin, Int(b.rawValue))
            }
        case .binary(.coalesce, let l, let r):
            // A literal default takes the type of the whole (`last(order).total ?? 0` is money).
            expr(l, scope, &pool)
            if !adaptedLiteral(r, to: Int(e.index) < types.count ? types[Int(e.index)] : .error, &pool) { expr(r, scope, &pool) }
            fn.emit(.coalesce)
        case .binary(let op, let l, let r):
            expr(l, scope, &pool)
            expr(r, scope, &pool)
            let code: Opcode = switch op {
            case .equal: .equal
            case .notEqual: .notEqual
            case .less: .less
            case .lessEqual: .lessEqual
            case .greater: .greater
            case .greaterEqual: .greaterEqual
            case .coalesce: .coalesce
            case .add: .add
            case .subtract: .subtract
            case .multiply: .multiply
            default: .divide
            }
            fn.emit(code)
        case .history(let q) where q.function.name == "also":
            let event = schema.eventIndex(q.event.name) ?? 0
            let field = q.field.flatMap { schema.events[event].fieldIndex($0.name) } ?? 0
            if let of = q.of { expr(of, scope, &pool) } else { fn.emit(.pushNone) }
            // `of: last(E).F`: what the profile already has of E.F is left out (what they bought).
            var except = (noIndex16, 0)
            if let of = q.of, case .member(let base, let f) = exprs[of].kind, case .history(let h) = exprs[base].kind, h.function.name == "last",
               let e = schema.eventIndex(h.event.name), let k = schema.events[e].fieldIndex(f.name) {
                except = (e, k)
            }
            fn.emit(.also, event, field, pool.add(.duration(q.within?.seconds ?? 1)), Int(q.limit?.value ?? 3), except.0, except.1)
        case .history(let q) where q.function.name == "top":
            let event = schema.eventIndex(q.event.name) ?? 0
            let field = q.field.flatMap { schema.events[event].fieldIndex($0.name) } ?? 0
            let pred = q.condition.map { predicate($0, bareEvent: event, scope, &pool) } ?? noIndex16
            let within = q.within.map { pool.add(.duration($0.seconds)) } ?? noIndex16
            fn.emit(.top, event, field, pred, within, Int(q.limit?.value ?? 0))
        case .history(let q) where q.function.name == "count_all":
            // count_all(E where F == VALUE …): VALUE is computed here, the count by the host.
            let event = schema.eventIndex(q.event.name) ?? 0
            guard let c = q.condition, case .binary(.equal, let l, let r) = exprs[c].kind else { fn.emit(.pushNone); return }
            guard let (fieldSide, valueSide) = countAllOperands(exprs, l, r, isField: { schema.events[event].fieldIndex($0) != nil }),
                  case .name(let n) = exprs[fieldSide].kind, let field = schema.events[event].fieldIndex(n) else { fn.emit(.pushNone); return }
            expr(valueSide, scope, &pool)
            let within = q.within.map { pool.add(.duration($0.seconds)) } ?? noIndex16
            fn.emit(.countAll, event, field, within, q.distinct == nil ? 0 : 1)
        case .history(let q):
            let fnKind = HistoryFunction(name: q.function.name) ?? .count
            let event = schema.eventIndex(q.event.name) ?? 0
            let field = q.field.flatMap { schema.events[event].fieldIndex($0.name) } ?? noIndex8
            let pred = q.condition.map { predicate($0, bareEvent: event, scope, &pool) } ?? noIndex16
            let within = q.within.map { pool.add(.duration($0.seconds)) } ?? noIndex16
            fn.emit(.history, Int(fnKind.rawValue), event, fnKind == .sum ? field : noIndex8, pred, within)
        }
    }

    /// The checked type of an expression.
    func type(of e: ExprID) -> JType {
        Int(e.index) < types.count ? types[Int(e.index)] : .error
    }

    /// How a value inserted with `{…}` reads: a time in the profile's zone and locale, money in
    /// its currency when the policy or the profile names one; nil for the plain text.
    func interpolationFormat(_ e: ExprID) -> FormatSpec? {
        switch type(of: e).unwrapped {
        case .time: return FormatSpec(.time, locale: policy.locale)
        case .money:
            guard policy.currency != nil || schema.attributeIndex("currency") != nil else { return nil }
            return FormatSpec(.money, locale: policy.locale, argument: policy.currency ?? "")
        default: return nil
        }
    }

    /// The spec of `format(VALUE, "PATTERN")`, which the checker has validated.
    func formatSpec(_ value: ExprID, _ pattern: ExprID) -> FormatSpec {
        var text = ""
        if case .string(let parts) = exprs[pattern].kind { for case .text(let t) in parts { text += t } }
        switch type(of: value).unwrapped {
        case .time: return FormatSpec(.time, locale: policy.locale, argument: text)
        case .date: return FormatSpec(.date, locale: policy.locale, argument: text)
        case .money where FormatPattern.isCurrency(text): return FormatSpec(.moneyIn, locale: policy.locale, argument: text)
        default: return FormatSpec(.number, locale: policy.locale, argument: text)
        }
    }

    /// Emits a numeric literal as a `money` or `decimal` constant when that is the type the checker
    /// settled on; false when `e` is not such a literal.
    mutating func adaptedLiteral(_ e: ExprID, to type: JType, _ pool: inout ConstantPool) -> Bool {
        let target = type.unwrapped
        guard target == .money || target == .decimal else { return false }
        let millionths: Int64
        switch exprs[e].kind {
        case .integer(let v): millionths = v &* Value.scale
        case .decimal(let text): millionths = fixed(text)
        default: return false
        }
        fn.emit(.constant, pool.add(target == .money ? .money(millionths) : .decimal(millionths)))
        return true
    }

    /// Decimal literal text in millionths (digits past the sixth decimal are dropped).
    func fixed(_ text: String) -> Int64 {
        if let v = Value.parseFixed(Substring(text)) { return v }
        let parts = text.split(separator: ".")
        return Value.parseFixed(Substring(parts[0] + "." + (parts.count > 1 ? parts[1].prefix(6) : "0"))) ?? 0
    }
}
