import JourneyDiagnostics

// Declarations: profile, events, channels, policy, and the types of their fields.

extension Parser {
    mutating func parseFile() -> [Decl] {
        var decls: [Decl] = []
        while true {
            skipNewlines()
            if kind == .eof { break }
            do {
                decls.append(try parseDecl())
                try expectLineEnd(after: "the declaration")
                if kind == .rBrace { throw fail("unexpected '}' with no matching '{'", label: "nothing to close") }
            } catch {
                synchronizeDecl()
            }
        }
        return decls
    }

    mutating func parseDecl() throws -> Decl {
        let start = current.span.start
        let kind: DeclKind
        switch self.kind {
        case .kwProfile:
            pos += 1
            kind = .profile(try parseFieldDecls())
        case .kwEvent:
            pos += 1
            let name = try expectIdent("an event name")
            kind = .event(name, try parseFieldDecls(), catalog: nil)
        case .identifier where atWord("catalog") && peekKind(1) == .kwEvent:
            let word = advance()
            pos += 1
            let name = try expectIdent("an event name")
            kind = .event(name, try parseFieldDecls(), catalog: word.span)
        case .kwChannel:
            pos += 1
            let k = try expectIdent("a channel kind (\(Keywords.channelKinds.joined(separator: ", ")))")
            try expectWord("address", hint: "Write 'channel \(k.name) address profile.ATTRIBUTE'.")
            let address = try parseExpr()
            var consent: ExprID?
            if atWord("consent") {
                pos += 1
                consent = try parseExpr()
            }
            kind = .channel(kind: k, address: address, consent: consent)
        case .kwPolicy:
            pos += 1
            kind = .policy(try parsePolicy())
        case .kwJourney:
            pos += 1
            kind = .journey(try parseJourney())
        case .identifier where atWord("test") && peekKind(1) == .string:
            pos += 1
            kind = .test(try parseTest())
        case .identifier where atWord("given"):
            kind = .fixture(try parseGiven())
        default:
            throw fail("expected a declaration (profile, event, catalog event, channel, policy, journey, test or given profile), found \(found)", label: "not a declaration",
                       hint: "A journey file holds declarations; steps belong inside 'journey NAME { … }'.")
        }
        return Decl(kind: kind, span: Span(start, tokens[pos - 1].span.end))
    }

    /// `{ name: type, … }`, separated by commas or newlines.
    mutating func parseFieldDecls() throws -> [FieldDecl] {
        try parseFields { p, name in
            _ = try p.expect(.colon, "':' after '\(name.name)'", hint: "Write each field as 'name: type', e.g. 'first_name: string'.")
            let type = try p.parseType()
            var defaultValue: ExprID?
            if p.accept(.assign) { defaultValue = try p.parseExpr() }
            let end = defaultValue.map { p.arena.span($0) } ?? type.span
            return FieldDecl(name: name, type: type, defaultValue: defaultValue, span: name.span.merged(with: end))
        }
    }

    /// `{ name …, … }`: fields separated by commas or newlines, each a name and what `rest`
    /// reads after it; a broken field is skipped to the next separator.
    mutating func parseFields<T>(_ rest: (inout Parser, Ident) throws -> T) throws -> [T] {
        let open = try expect(.lBrace, "'{'")
        var fields: [T] = []
        while true {
            skipNewlines()
            if accept(.rBrace) { break }
            if kind == .eof { throw fail(SyntaxCode.unclosedBlock, "this '{' is never closed", span: open.span, label: "opened here") }
            do {
                let name = try expectIdent("a field name")
                fields.append(try rest(&self, name))
                if !accept(.comma), kind != .newline, kind != .rBrace {
                    throw fail("expected ',' or a new line between fields, found \(found)", label: "expected ','")
                }
            } catch {
                synchronizeField()
            }
        }
        return fields
    }

    mutating func synchronizeField() {
        while kind != .eof, kind != .newline, kind != .rBrace, kind != .comma { pos += 1 }
        _ = accept(.comma)
    }

    mutating func parseType() throws -> TypeSyntax {
        let name = try expectIdent("a type")
        var t = TypeSyntax.named(name)
        if name.name == "list", kind == .lBracket {
            pos += 1
            let inner = try nested { p in try p.parseType() }
            let close = try expect(.rBracket, "']'")
            t = .list(inner, name.span.merged(with: close.span))
        }
        if kind == .question {
            let q = advance()
            t = .optional(t, t.span.merged(with: q.span))
        }
        return t
    }

    mutating func parsePolicy() throws -> [PolicyRule] {
        let open = try expect(.lBrace, "'{'")
        var rules: [PolicyRule] = []
        while true {
            skipNewlines()
            if accept(.rBrace) { break }
            if kind == .eof { throw fail(SyntaxCode.unclosedBlock, "this '{' is never closed", span: open.span, label: "opened here") }
            do {
                let start = current.span.start
                if atWord("cap") {
                    pos += 1
                    let n = try expect(.integer, "a number of messages")
                    guard atWord("messages") || atWord("message") else {
                        throw fail("expected 'messages', found \(found)", label: "expected 'messages'", hint: "Write 'cap 3 messages per 24h'.")
                    }
                    pos += 1
                    try expectWord("per", hint: "Write 'cap 3 messages per 24h'.")
                    let d = try parseDuration()
                    rules.append(.cap(count: Int(text(n)) ?? Int.max, countSpan: n.span, per: d, span: Span(start, d.span.end)))
                } else if atWord("quiet") {
                    pos += 1
                    try expectWord("hours", hint: "Write 'quiet hours 22:00 to 08:00'.")
                    let from = try parseTimeOfDay()
                    try expectWord("to", hint: "Write 'quiet hours 22:00 to 08:00'.")
                    let to = try parseTimeOfDay()
                    rules.append(.quietHours(from: from, to: to, span: Span(start, to.span.end)))
                } else if atWord("currency") {
                    pos += 1
                    let code = try expectIdent("a currency code, e.g. EUR")
                    rules.append(.currency(code, span: Span(start, code.span.end)))
                } else if atWord("locale") {
                    pos += 1
                    let t = try expect(.string, "a locale in quotes, e.g. \"en-GB\"")
                    let raw = text(t)
                    rules.append(.locale(String(raw.dropFirst().dropLast()), valueSpan: t.span, span: Span(start, t.span.end)))
                } else {
                    throw fail("expected 'cap', 'quiet hours', 'currency' or 'locale' in a policy, found \(found)", label: "not a policy rule",
                               hint: "A policy holds 'cap N messages per DURATION', 'quiet hours HH:MM to HH:MM', 'currency EUR' and 'locale \"en-GB\"'.")
                }
                if !accept(.comma), kind != .newline, kind != .rBrace, kind != .eof {
                    throw fail("expected ',' or a new line after the policy rule, found \(found)", label: "unexpected here",
                               hint: "Separate policy rules with commas or new lines.")
                }
            } catch {
                synchronizeStatement()
            }
        }
        return rules
    }
}
