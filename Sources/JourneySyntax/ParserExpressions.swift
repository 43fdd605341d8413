import JourneyDiagnostics

// MARK: - Expressions, by precedence climbing (see BinaryOp.precedence)

extension Parser {
    mutating func parseExpr() throws -> ExprID { try nested { p in try p.parseOr() } }

    /// Runs a step of the descent one level deeper; past `maxNesting` levels the expression is
    /// refused, so no input can exhaust the stack.
    mutating func nested<T>(_ body: (inout Parser) throws -> T) throws -> T {
        nesting += 1
        defer { nesting -= 1 }
        if nesting > Parser.maxNesting { throw tooDeep() }
        return try body(&self)
    }

    mutating func tooDeep(_ span: Span? = nil) -> ParseError {
        fail(SyntaxCode.nestedTooDeeply, "this is nested more than \(Parser.maxNesting) levels deep", span: span, label: "too deep",
             hint: "Parentheses, blocks, strings inside strings and chains of operators may nest at most \(Parser.maxNesting) deep; split the expression into steps.")
    }

    /// A node built from others: refused when the tree it tops is too deep (a long chain of
    /// operators or fields is as deep as it is long).
    mutating func bounded(_ e: ExprID) throws -> ExprID {
        if arena.depth(e) > Parser.maxNesting { throw tooDeep(arena.span(e)) }
        return e
    }

    /// True when the current token starts a later line than the previous one (inside parentheses,
    /// where newline tokens are dropped).
    var onLaterLine: Bool {
        guard pos > 0 else { return false }
        let from = tokens[pos - 1].span.end, to = current.span.start
        return from < to && file.bytes[from..<to].contains(UInt8(ascii: "\n"))
    }

    mutating func binary(_ op: BinaryOp, _ l: ExprID, _ r: ExprID) throws -> ExprID {
        try bounded(arena.add(.binary(op, l, r), arena.span(l).merged(with: arena.span(r))))
    }

    mutating func parseOr() throws -> ExprID {
        var left = try parseAnd()
        while accept(.kwOr) { left = try binary(.or, left, try parseAnd()) }
        return left
    }

    mutating func parseAnd() throws -> ExprID {
        var left = try parseNot()
        while accept(.kwAnd) { left = try binary(.and, left, try parseNot()) }
        return left
    }

    mutating func parseNot() throws -> ExprID {
        if kind == .kwNot {
            let t = advance()
            let operand = try nested { p in try p.parseNot() }
            return try bounded(arena.add(.unary(.not, operand), t.span.merged(with: arena.span(operand))))
        }
        return try parseComparison()
    }

    func comparisonOp(_ k: TokenKind) -> BinaryOp? {
        switch k {
        case .equal: .equal
        case .notEqual: .notEqual
        case .less: .less
        case .lessEqual: .lessEqual
        case .greater: .greater
        case .greaterEqual: .greaterEqual
        default: nil
        }
    }

    /// `in`, or `not in`, at the current token (both contextual: `in` stays a name elsewhere).
    var membershipOp: BinaryOp? {
        if kind == .identifier, text(current) == "in" { return .in }
        if kind == .kwNot, pos + 1 < tokens.count, tokens[pos + 1].kind == .identifier, text(tokens[pos + 1]) == "in" { return .notIn }
        return nil
    }

    mutating func parseComparison() throws -> ExprID {
        let left = try parseCoalesce()
        if kind == .assign {
            throw fail("'=' sets a value; to compare, write '=='", label: "did you mean '=='?", hint: "Compare with '==' (equal) or '!=' (not equal).")
        }
        guard let op = comparisonOp(kind) ?? membershipOp else { return left }
        pos += op == .notIn ? 2 : 1
        let e = try binary(op, left, try parseCoalesce())
        if comparisonOp(kind) != nil || membershipOp != nil {
            throw fail(SyntaxCode.chainedComparison, "comparisons cannot be chained", label: "second comparison",
                       hint: "Join the comparisons with 'and', e.g. 'a < b and b < c'.")
        }
        return e
    }

    mutating func parseCoalesce() throws -> ExprID {
        let left = try parseAdditive()
        if accept(.questionQuestion) { return try binary(.coalesce, left, try nested { p in try p.parseCoalesce() }) }
        return left
    }

    mutating func parseAdditive() throws -> ExprID {
        var left = try parseMultiplicative()
        while kind == .plus || kind == .minus {
            let op: BinaryOp = advance().kind == .plus ? .add : .subtract
            left = try binary(op, left, try parseMultiplicative())
        }
        return left
    }

    mutating func parseMultiplicative() throws -> ExprID {
        var left = try parseUnary()
        while kind == .star || kind == .slash {
            let op: BinaryOp = advance().kind == .star ? .multiply : .divide
            left = try binary(op, left, try parseUnary())
        }
        return left
    }

    mutating func parseUnary() throws -> ExprID {
        if kind == .minus {
            let t = advance()
            let operand = try nested { p in try p.parseUnary() }
            return try bounded(arena.add(.unary(.negate, operand), t.span.merged(with: arena.span(operand))))
        }
        return try parsePostfix()
    }

    mutating func parsePostfix() throws -> ExprID {
        var e = try parsePrimary()
        while kind == .dot {
            pos += 1
            let name = try expectIdent("a field name after '.'")
            e = try bounded(arena.add(.member(e, name), arena.span(e).merged(with: name.span)))
        }
        return e
    }

    mutating func parsePrimary() throws -> ExprID {
        let t = current
        switch t.kind {
        case .integer:
            pos += 1
            guard let v = Int64(text(t)) else {
                throw fail(SyntaxCode.invalidNumber, "the number \(text(t)) is too large", span: t.span, label: "too large")
            }
            return arena.add(.integer(v), t.span)
        case .decimal:
            pos += 1
            return arena.add(.decimal(text(t)), t.span)
        case .percent:
            pos += 1
            return arena.add(.percent(parsePercent(t)), t.span)
        case .string:
            pos += 1
            return try bounded(parseString(t))
        case .kwTrue, .kwFalse:
            pos += 1
            return arena.add(.bool(t.kind == .kwTrue), t.span)
        case .kwNone:
            pos += 1
            return arena.add(.none, t.span)
        case .kwNow:
            pos += 1
            return arena.add(.now, t.span)
        case .kwToday:
            pos += 1
            return arena.add(.today, t.span)
        case .kwProfile:
            pos += 1
            return arena.add(.profile, t.span)
        case .duration:
            return arena.add(.duration(try parseDuration()), t.span)
        case .timeOfDay:
            return arena.add(.timeOfDay(try parseTimeOfDay()), t.span)
        case .date:
            pos += 1
            let parts = text(t).split(separator: "-").map { Int($0) ?? 0 }
            return arena.add(.date(year: parts[0], month: parts[1], day: parts[2]), t.span)
        case .instant:
            pos += 1
            guard let seconds = Parser.epochSeconds(ofInstant: text(t)) else { return arena.add(.error, t.span) }
            return arena.add(.instant(seconds), t.span)
        case .identifier:
            pos += 1
            if kind == .lParen {
                let name = Ident(text(t), t.span)
                return looksLikeHistory(name.name) ? try parseHistory(name) : try parseCall(name)
            }
            return arena.add(.name(text(t)), t.span)
        case .kwFor:
            // for ITEM in LIST: TEXT
            pos += 1
            let item = try expectIdent("a name for each item, e.g. 'for pick in picks: \"- {pick}\"'")
            try expectWord("in", hint: "Write 'for ITEM in LIST: TEXT', e.g. 'for pick in picks: \"- {pick}\\n\"'.")
            let list = try parseCoalesce()
            _ = try expect(.colon, "':' and the text to repeat", hint: "Write 'for ITEM in LIST: TEXT'.")
            let text = try nested { p in try p.parseExpr() }
            return try bounded(arena.add(.repeated(item: item, list: list, text: text), t.span.merged(with: arena.span(text))))
        case .lBracket:
            pos += 1
            let items = try parseItems(closing: .rBracket, opened: t, what: "list")
            return try bounded(arena.add(.list(items.values), t.span.merged(with: items.close.span)))
        case .lParen:
            pos += 1
            let inner = try parseExpr()
            guard kind == .rParen else {
                if [.lBrace, .rBrace, .eof].contains(kind) || onLaterLine {
                    throw fail(SyntaxCode.unclosedBlock, "this '(' is never closed", span: t.span, label: "opened here", hint: "Add the missing ')'.")
                }
                throw fail("expected ')' to close the '(', found \(found)", label: "expected ')'", hint: "Add the missing ')'.")
            }
            let close = advance()
            return try bounded(arena.add(.paren(inner), t.span.merged(with: close.span)))
        default:
            throw fail("expected a value, found \(found)", label: "expected a value")
        }
    }

    /// A history function, or an unknown name called like one (`cuont(EVENT where …)`, `EVENT`
    /// or `EVENT.FIELD` alone), so that the checker can suggest the function it meant.
    func looksLikeHistory(_ name: String) -> Bool {
        if Keywords.historyFunctions.contains(name) { return true }
        if Keywords.builtinFunctions.contains(name) { return false }
        var i = pos + 1, depth = 0
        while i < tokens.count {
            switch tokens[i].kind {
            case .lParen, .lBracket: depth += 1
            case .rParen, .rBracket:
                if depth == 0 {
                    // NAME(E) or NAME(E.F)
                    let n = i - pos - 1
                    return (n == 1 && tokens[pos + 1].kind == .identifier)
                        || (n == 3 && tokens[pos + 1].kind == .identifier && tokens[pos + 2].kind == .dot && tokens[pos + 3].kind == .identifier)
                }
                depth -= 1
            case .kwWhere, .kwWithin: if depth == 0 { return true }
            case .lBrace, .rBrace, .eof, .newline: return false
            default: break
            }
            i += 1
        }
        return false
    }

    /// `also(EVENT.FIELD, of: VALUE [, within DURATION] [, limit N])`.
    mutating func parseAlso(_ function: Ident) throws -> ExprID {
        pos += 1 // (
        let hint = "Write also(EVENT.FIELD, of: VALUE, within 30d, limit 3), e.g. also(product_viewed.product_id, of: last(order_placed).product_id, within 30d, limit 3)."
        let event = try expectIdent("an event name")
        _ = try expect(.dot, "'.' and the field whose values to pair", hint: hint)
        let field = try expectIdent("a field of \(event.name)")
        _ = try expect(.comma, "', of:'", hint: hint)
        try expectWord("of", hint: hint)
        _ = try expect(.colon, "':' after 'of'", hint: hint)
        var q = HistoryQuery(function: function, event: event, field: field, condition: nil, within: nil)
        q.of = try parseExpr()
        while accept(.comma) {
            if q.within == nil, accept(.kwWithin) {
                q.within = try parseDuration(context: "'within'")
            } else if q.limit == nil, atWord("limit") {
                pos += 1
                let n = try expect(.integer, "how many items, e.g. 3", hint: hint)
                q.limit = (Int64(text(n)) ?? Int64.max, n.span)
            } else {
                throw fail("expected 'within DURATION' or 'limit N' in also(…), found \(found)", label: "not an option of also()", hint: hint)
            }
        }
        guard kind == .rParen else { throw fail("expected ')' to close also(…), found \(found)", label: "expected ')'", hint: hint) }
        let close = advance()
        return try bounded(arena.add(.history(q), function.span.merged(with: close.span)))
    }

    /// `NAME(ARG, …)`: a built-in function; the checker resolves NAME and the arguments.
    mutating func parseCall(_ function: Ident) throws -> ExprID {
        let open = advance() // (
        let items = try parseItems(closing: .rParen, opened: open, what: "\(function.name)(…)")
        return try bounded(arena.add(.call(function, items.values), function.span.merged(with: items.close.span)))
    }

    /// Comma-separated expressions up to the closing token (a trailing comma is allowed).
    mutating func parseItems(closing: TokenKind, opened: Token, what: @autoclosure () -> String) throws -> (values: [ExprID], close: Token) {
        var values: [ExprID] = []
        let closeText = closing == .rBracket ? "']'" : "')'"
        while kind != closing {
            values.append(try parseExpr())
            if accept(.comma) { continue }
            guard kind == closing else {
                if [.lBrace, .rBrace, .eof].contains(kind) || onLaterLine {
                    throw fail(SyntaxCode.unclosedBlock, "this \(opened.kind.display) is never closed", span: opened.span, label: "opened here",
                               hint: "Add the missing \(closeText) after the last item of the \(what()).")
                }
                throw fail("expected ',' or \(closeText) in the \(what()), found \(found)", label: "expected ',' or \(closeText)",
                           hint: "Separate the items with commas and close with \(closeText).")
            }
        }
        return (values, advance())
    }

    /// `NAME(EVENT[.FIELD] [where COND] [within DURATION])`; the checker resolves NAME.
    mutating func parseHistory(_ function: Ident) throws -> ExprID {
        if function.name == "also" { return try parseAlso(function) }
        pos += 1 // (
        var distinct: Span?
        if atWord("distinct"), peekKind(1) == .identifier { distinct = advance().span }
        let event = try expectIdent("an event name")
        var field: Ident?
        if accept(.dot) { field = try expectIdent("a field of \(event.name)") }
        var cond: ExprID?
        var within: DurationLit?
        // `where` and `within` in either order, each at most once.
        while true {
            if cond == nil, accept(.kwWhere) {
                cond = try parseExpr()
            } else if within == nil, accept(.kwWithin) {
                within = try parseDuration(context: "'within'")
            } else {
                break
            }
        }
        // top(EVENT.FIELD …, N)
        var limit: (Int64, Span)?
        if accept(.comma) {
            let n = try expect(.integer, "how many values, e.g. 3", hint: "Write \(function.name)(EVENT.FIELD within DURATION, 3).")
            limit = (Int64(text(n)) ?? Int64.max, n.span)
        }
        guard kind == .rParen else {
            throw fail("expected ')' to close \(function.name)(…), found \(found)", label: "expected ')'",
                       hint: "Write \(function.name)(EVENT where CONDITION within DURATION).")
        }
        let close = advance()
        var q = HistoryQuery(function: function, event: event, field: field, condition: cond, within: within, distinct: distinct)
        q.limit = limit
        return try bounded(arena.add(.history(q), function.span.merged(with: close.span)))
    }
}
