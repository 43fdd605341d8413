import JourneyDiagnostics
import JourneySyntax

/// Lists, membership and the built-in functions.
extension JourneyChecker {
    /// `[a, b, …]`: items of one type, each present; the list of their common type.
    mutating func list(_ items: [ExprID], _ scope: Scope) -> JType {
        var element: JType = .error
        var first: ExprID?
        for item in items {
            let t = requireValue(check(item, scope), item)
            if t == .error { continue }
            switch t {
            case .list, .event, .profile:
                report(SemanticCode.typeMismatch, exprs.span(item), "a list cannot hold \(describe(t))", label: "not a single value",
                       hint: "List items are single values: strings, numbers, dates, times …")
                continue
            default: break
            }
            guard let f = first else { first = item; element = t; continue }
            // Literals stay literals, so `[10, 120]` fits a money item as well as an int one.
            if element.isLiteral, t.isLiteral {
                if let ra = element.numericRank, let rb = t.numericRank { element = ra >= rb ? element : t; continue }
                if element == t { continue }
            }
            guard let c = JType.common(element, t) else {
                report(SemanticCode.typeMismatch, exprs.span(item), "the items of a list must share one type, but this is \(describe(t)) and the first is \(describe(element))",
                       label: "expected \(element)", hint: "Write `\(tree.source.slice(exprs.span(f)))` and this item as the same kind of value.")
                continue
            }
            element = c
        }
        return .list(element)
    }

    /// `x in LIST`, `x not in LIST`, and `"text" in STRING` (a substring). An optional list
    /// that is none holds nothing, so `"vip" in profile.tags` needs no test for none.
    mutating func membership(_ e: ExprID, _ op: BinaryOp, _ l: ExprID, _ r: ExprID, _ scope: Scope) -> JType {
        let item = check(l, scope)
        var container = check(r, scope)
        if case .list = container.unwrapped { container = container.unwrapped } else { container = requireValue(container, r) }
        if item == .error || container == .error { return .bool }
        switch container {
        case .list(let element):
            // An item that may be none is simply not in the list.
            if case .list = item.unwrapped {
                report(SemanticCode.typeMismatch, exprs.span(l), "'\(op.spelling)' looks for one item, but this is \(describe(item))", label: "a whole list",
                       hint: "Test each item, e.g. `a in x and b in x`.")
            } else if JType.common(item.unwrapped, element) == nil {
                report(SemanticCode.typeMismatch, exprs.span(e), "cannot look for \(describe(item.unwrapped)) in a list of \(element.settled)", label: "different types",
                       hint: "The item and the list's items must be the same kind of value.")
            }
        case .string, .stringLiteral, .url:
            let t = requireValue(item, l)
            if t != .error, !t.isAssignable(to: .string), t != .url {
                report(SemanticCode.typeMismatch, exprs.span(l), "'\(op.spelling)' on a string looks for text, but this is \(describe(t))", label: "expected text")
            }
        default:
            report(SemanticCode.typeMismatch, exprs.span(r), "'\(op.spelling)' needs a list or a string on its right, but this is \(describe(container))", label: "not a list",
                   hint: "Write e.g. `\"vip\" in profile.tags` or `profile.city in [\"Madrid\", \"Paris\"]`.")
        }
        return .bool
    }

    /// A call of a built-in function.
    mutating func call(_ e: ExprID, _ f: Ident, _ args: [ExprID], _ scope: Scope) -> JType {
        guard let fn = Builtin(name: f.name) else {
            for a in args { _ = check(a, scope) }
            let all = Keywords.historyFunctions + Builtin.names
            let s = suggestion(for: f.name, among: all)
            report(SemanticCode.unknownFunction, f.span, "'\(f.name)' is not a function", label: "unknown function",
                   hint: s.map { "did you mean '\($0)'?" } ?? "The functions are \(all.joined(separator: ", ")).")
            return .error
        }
        guard args.count == fn.arity else {
            for a in args { _ = check(a, scope) }
            let given = args.count == 1 ? "1 was given" : "\(args.count) were given"
            report(SemanticCode.invalidArguments, exprs.span(e), "\(fn.name)() takes \(fn.arity == 1 ? "1 argument" : "\(fn.arity) arguments"), but \(given)",
                   label: "wrong number of arguments", hint: "Write \(fn.signature).")
            return .error
        }
        let types = args.map { requireValue(check($0, scope), $0) }
        if types.contains(.error) { return fn == .size ? .int : .string }
        func wrong(_ i: Int, _ want: String) {
            report(SemanticCode.invalidArguments, exprs.span(args[i]), "\(fn.name)() takes \(want), but this is \(describe(types[i]))", label: "expected \(want)",
                   hint: "Write \(fn.signature).")
        }
        let isText: (JType) -> Bool = { $0 == .string || $0 == .stringLiteral || $0 == .url }
        switch fn {
        case .size:
            if case .list = types[0] { return .int }
            if !isText(types[0]) { wrong(0, "a list or a string") }
            return .int
        case .upper, .lower, .capitalize:
            if !isText(types[0]) { wrong(0, "a string") }
            return .string
        case .join:
            if case .list = types[0] {} else { wrong(0, "a list") }
            if !isText(types[1]) { wrong(1, "a string (the separator)") }
            return .string
        case .percent:
            if types[0].numericRank == nil || types[0].numericRank == 2 { wrong(0, "a decimal or an int") }
            return .string
        case .format:
            formatPattern(args[1], for: types[0], at: args[0])
            return .string
        }
    }

    /// The pattern of `format(VALUE, "PATTERN")`: a literal, and one that fits the value.
    mutating func formatPattern(_ arg: ExprID, for value: JType, at valueExpr: ExprID) {
        guard case .string(let parts) = exprs[arg].kind, parts.allSatisfy({ if case .text = $0 { true } else { false } }) else {
            report(SemanticCode.invalidFormatPattern, exprs.span(arg), "the pattern of format() must be written out in quotes", label: "not a literal pattern",
                   hint: "Write the pattern itself, e.g. format(order.delivery_at, \"EEE d MMM\"), so it is checked before anything is sent.")
            return
        }
        let pattern = parts.map { if case .text(let s) = $0 { s } else { "" } }.joined()
        let span = exprs.span(arg)
        func bad(_ message: String, _ hint: String) {
            report(SemanticCode.invalidFormatPattern, span, message, label: "invalid pattern", hint: hint)
        }
        switch value {
        case .time, .date:
            switch FormatPattern.date(pattern) {
            case .failure(let why): bad(why.message, why.hint)
            case .success(let pieces):
                if value == .date, pieces.contains(where: \.needsTimeOfDay) {
                    bad("a date has no time of day, but the pattern \"\(pattern)\" shows one", "Use a time for hours and minutes, or drop H, h, m, s and a from the pattern.")
                }
            }
        case .money:
            if !FormatPattern.isCurrency(pattern), FormatPattern.number(pattern) == nil {
                bad("\"\(pattern)\" is neither a currency code nor a number pattern", "Write a currency code such as \"EUR\", or a number pattern such as \"#,##0.00\".")
            }
        case .int, .intLiteral, .decimal, .decimalLiteral:
            if FormatPattern.number(pattern) == nil {
                bad("\"\(pattern)\" is not a number pattern", "Write 0, 0.00, #,##0 or #,##0.00: '#,##' groups thousands, the zeros after '.' are the decimals.")
            }
        default:
            report(SemanticCode.invalidArguments, exprs.span(valueExpr), "format() formats a time, a date, money or a number, not \(describe(value))", label: "nothing to format",
                   hint: "Insert the value directly with {…}, or use upper(), lower() or capitalize() for text.")
        }
    }
}
