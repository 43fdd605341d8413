import JourneyDiagnostics

// Journeys: the declaration and its header clauses.

extension Parser {
    mutating func parseJourney() throws -> JourneyDecl {
        let name = try expectIdent("a journey name")
        var title: ExprID?
        if kind == .string { title = parseString(advance()) }
        let open = try expect(.lBrace, "'{' to open the journey", hint: "Write 'journey \(name.name) \"Title\" { … }'.")
        var header: [HeaderClause] = []
        var statements: [Stmt] = []
        var brokenTrigger = false
        // At the end of the file, what was parsed is kept: an editor still knows the journey
        // while it is being typed.
        parseLines(open, unclosed: "the journey '\(name.name)' is never closed", hint: "Add a '}' at the end of the journey.") { p in
            if p.isHeaderStart {
                brokenTrigger = brokenTrigger || p.kind == .kwOn
                let clause = try p.parseHeaderClause()
                if !statements.isEmpty {
                    p.diagnostics.append(Diagnostic(SyntaxCode.headerAfterStep, file: p.file.path, span: clause.span,
                        message: "this header clause comes after the journey's first step", label: "move it up",
                        hint: "Put 'on', 'when', 'goal', 'exit on' and 'reentry' at the top of the journey, before its first step."))
                }
                header.append(clause)
                try p.expectLineEnd(after: "the header clause")
            } else {
                statements.append(try p.parseStatement())
                try p.expectLineEnd(after: "this step")
            }
        }
        let close = advance()
        checkHeaderCounts(header, name: name, brokenTrigger: brokenTrigger)
        let end = close.kind == .rBrace ? close.span.end : file.bytes.count
        return JourneyDecl(name: name, title: title, header: header, body: Block(statements: statements, span: Span(open.span.start, end)))
    }

    /// The lines of a `{ … }` body up to its `}` (left for the caller to take), each read by
    /// `line`; a broken line is skipped to the next. At the end of the file, `unclosed` is
    /// reported, unless a dedent has closed the block already.
    mutating func parseLines(_ open: Token, unclosed: @autoclosure () -> String, hint: @autoclosure () -> String, _ line: (inout Parser) throws -> Void) {
        while true {
            skipNewlines()
            if kind == .rBrace { break }
            if kind == .eof {
                endedInsideBlock = true
                if !closedOnDedent {
                    _ = fail(SyntaxCode.unclosedBlock, unclosed(), span: open.span, label: "opened here", hint: hint())
                }
                break
            }
            do {
                try line(&self)
            } catch {
                synchronizeStatement()
            }
        }
    }

    var isHeaderStart: Bool {
        switch kind {
        case .kwOn, .kwWhen, .kwGoal, .kwReentry: true
        case .kwExit: peekKind(1) == .kwOn
        case .kwFor: peekKind(1) == .identifier && file.slice(tokens[pos + 1].span) == "each"
        case .identifier: atWord("max_delay")
        default: false
        }
    }

    /// `brokenTrigger`: an `on` clause was seen (perhaps with a parse error reported already).
    mutating func checkHeaderCounts(_ header: [HeaderClause], name: Ident, brokenTrigger: Bool) {
        var seenOn = false, seenWhen = false, seenReentry = false, seenMaxDelay = false, seenForEach = false
        for clause in header {
            var dup: String?
            switch clause {
            case .on, .daily: if seenOn { dup = "on" }; seenOn = true
            case .when: if seenWhen { dup = "when" }; seenWhen = true
            case .reentry: if seenReentry { dup = "reentry" }; seenReentry = true
            case .maxDelay: if seenMaxDelay { dup = "max_delay" }; seenMaxDelay = true
            case .forEach: if seenForEach { dup = "for each profile" }; seenForEach = true
            default: break
            }
            if let d = dup {
                diagnostics.append(Diagnostic(SyntaxCode.duplicateHeader, file: file.path, span: clause.span,
                    message: "the journey '\(name.name)' has more than one '\(d)'", label: "second '\(d)'",
                    hint: d == "when" ? "Combine the conditions with 'and' in one 'when'." : "Keep one '\(d)' per journey."))
            }
        }
        if !seenOn, !brokenTrigger {
            diagnostics.append(Diagnostic(SyntaxCode.missingTrigger, file: file.path, span: name.span,
                message: "the journey '\(name.name)' has no 'on' trigger", label: "never starts",
                hint: "Add 'on EVENT' or 'on daily at HH:MM' at the top of the journey."))
        }
    }

    mutating func parseHeaderClause() throws -> HeaderClause {
        let start = current.span.start
        switch advance().kind {
        case .kwOn:
            if atWord("daily"), peekKind(1) == .identifier, file.slice(tokens[pos + 1].span) == "at" {
                pos += 2
                let t = try parseTimeOfDay()
                var alias: Ident?
                if accept(.kwAs) { alias = try expectIdent("an alias") }
                return .daily(at: t, alias: alias, span: Span(start, tokens[pos - 1].span.end))
            }
            let event = try expectIdent("an event name or 'daily at HH:MM'")
            var alias: Ident?
            if accept(.kwAs) { alias = try expectIdent("an alias for the event") }
            var cond: ExprID?
            if accept(.kwWhere) { cond = try parseExpr() }
            return .on(event: event, alias: alias, condition: cond, span: Span(start, tokens[pos - 1].span.end))
        case .kwWhen:
            let e = try parseExpr()
            return .when(e, span: Span(start, arena.span(e).end))
        case .kwGoal:
            let event = try expectIdent("an event name")
            var cond: ExprID?
            if accept(.kwWhere) { cond = try parseExpr() }
            return .goal(event: event, condition: cond, span: Span(start, tokens[pos - 1].span.end))
        case .identifier:
            // max_delay DURATION | max_delay none
            if accept(.kwNone) { return .maxDelay(nil, span: Span(start, tokens[pos - 1].span.end)) }
            guard kind == .duration else {
                throw fail("expected a duration or 'none' after 'max_delay', found \(found)", label: "expected a duration",
                           hint: "Write 'max_delay 6h' (triggers older than that when taken start nothing) or 'max_delay none'.")
            }
            return .maxDelay(try parseDuration(), span: Span(start, tokens[pos - 1].span.end))
        case .kwFor:
            // for each profile [where COND]
            try expectWord("each", hint: "Write 'for each profile where CONDITION'.")
            _ = try expect(.kwProfile, "'profile'", hint: "Write 'for each profile where CONDITION'.")
            var cond: ExprID?
            if accept(.kwWhere) { cond = try parseExpr() }
            return .forEach(cond, span: Span(start, tokens[pos - 1].span.end))
        case .kwExit:
            _ = try expect(.kwOn, "'on'")
            let event = try expectIdent("an event name")
            var cond: ExprID?
            if accept(.kwWhere) { cond = try parseExpr() }
            return .exitOn(event: event, condition: cond, span: Span(start, tokens[pos - 1].span.end))
        default: // reentry
            let r: Reentry
            if atWord("never") {
                pos += 1; r = .never
            } else if atWord("always") {
                pos += 1; r = .always
            } else if atWord("after") {
                pos += 1; r = .after(try parseDuration())
            } else {
                throw fail("expected 'never', 'always' or 'after DURATION' after 'reentry', found \(found)", label: "expected a re-entry rule",
                           hint: "Write 'reentry never', 'reentry always' or 'reentry after 30d'.")
            }
            return .reentry(r, span: Span(start, tokens[pos - 1].span.end))
        }
    }
}
