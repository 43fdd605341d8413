import JourneyDiagnostics

// Tests: `test "name" { … }` with `given profile`, `only journey`, `at TIME P does EVENT { … }`
// and `expect …`; and `given profile` outside a test (a shared fixture).

extension Parser {
    /// `test "name" { … }` (after `test`).
    mutating func parseTest() throws -> TestDecl {
        guard kind == .string else {
            throw fail("expected the test's name in quotes, found \(found)", label: "expected a name in quotes",
                       hint: "Write 'test \"a buyer gets nothing more\" { … }'.")
        }
        let t = advance()
        let name = try plainText(t, what: "a test's name")
        let open = try expect(.lBrace, "'{' to open the test", hint: "Write 'test \"\(name)\" { … }'.")
        var statements: [TestStmt] = []
        parseLines(open, unclosed: "the test \"\(name)\" is never closed", hint: "Add a '}' at the end of the test.") { p in
            statements.append(try p.parseTestStatement())
            try p.expectLineEnd(after: "this line of the test")
        }
        let close = advance()
        let end = close.kind == .rBrace ? close.span.end : file.bytes.count
        return TestDecl(name: name, nameSpan: t.span, statements: statements, body: Span(open.span.start, end))
    }

    /// A string token's text, which must have no `{…}` in it.
    mutating func plainText(_ t: Token, what: String) throws -> String {
        let e = parseString(t)
        guard case .string(let parts) = arena[e].kind else { return "" }
        var out = ""
        for p in parts {
            switch p {
            case .text(let s): out += s
            case .interpolation: throw fail("\(what) cannot hold '{…}'", span: t.span, label: "plain text only", hint: "Write the text as it is; write '\\{' for a brace.")
            }
        }
        return out
    }

    mutating func parseTestStatement() throws -> TestStmt {
        let start = current.span.start
        let kind: TestStmtKind
        if atWord("given") {
            kind = .given(try parseGiven())
        } else if atWord("only") {
            pos += 1
            _ = try expect(.kwJourney, "'journey'", hint: "Write 'only journey NAME' to run one journey alone.")
            kind = .only(try expectIdent("a journey name"))
        } else if atWord("at") {
            pos += 1
            let time = try parseTestTime()
            var profile: Ident?, event: Ident?, fields: [TestField] = []
            if atWord("catalog"), peekKind(1) == .identifier, file.slice(tokens[pos + 1].span) != "does" {
                // at TIME catalog EVENT { … }: a catalog event (no profile: the name is empty)
                profile = Ident("", advance().span)
                event = try expectIdent("a catalog event name")
                if self.kind == .lBrace { fields = try parseTestFields() }
            } else if self.kind == .identifier {
                profile = try expectIdent("a profile")
                try expectWord("does", hint: "Write 'at TIME \(profile?.name ?? "ana") does EVENT { field: value }'.")
                event = try expectIdent("an event name")
                if self.kind == .lBrace { fields = try parseTestFields() }
            }
            kind = .at(time, profile: profile, event: event, fields: fields)
        } else if atWord("expect") {
            pos += 1
            kind = .expect(try parseExpectation())
        } else {
            throw fail("expected 'given', 'at', 'expect' or 'only' in a test, found \(found)", label: "not a test step",
                       hint: "A test gives profiles ('given profile ana { … }'), makes things happen ('at +1h ana does EVENT { … }') and says what should follow ('expect push to ana').")
        }
        return TestStmt(kind: kind, span: Span(start, tokens[pos - 1].span.end))
    }

    /// `given profile NAME [like BASE] [{ … }]` (at `given`).
    mutating func parseGiven() throws -> GivenProfile {
        let start = current.span.start
        pos += 1
        _ = try expect(.kwProfile, "'profile'", hint: "Write 'given profile ana { first_name: \"Ana\" }'.")
        let name = try expectIdent("a name for the profile")
        var base: Ident?
        if atWord("like") {
            pos += 1
            base = try expectIdent("the profile it is like")
        }
        var fields: [TestField] = []
        if kind == .lBrace { fields = try parseTestFields() }
        return GivenProfile(name: name, base: base, fields: fields, span: Span(start, tokens[pos - 1].span.end))
    }

    /// `{ name: value, … }`, separated by commas or new lines.
    mutating func parseTestFields() throws -> [TestField] {
        try parseFields { p, name in
            _ = try p.expect(.colon, "':' after '\(name.name)'", hint: "Write each field as 'name: value', e.g. 'first_name: \"Ana\"'.")
            let value = try p.parseExpr()
            return TestField(name: name, value: value, span: name.span.merged(with: p.arena.span(value)))
        }
    }

    /// `2025-03-01T10:00:00Z` or `+2h`.
    mutating func parseTestTime() throws -> TestTime {
        if kind == .instant {
            let t = advance()
            guard let seconds = Parser.epochSeconds(ofInstant: text(t)) else {
                throw fail(SyntaxCode.invalidTime, "\(text(t)) is not an instant", span: t.span, label: "not an instant")
            }
            return .absolute(seconds, t.span)
        }
        if kind == .plus {
            let plus = advance()
            var d = try parseDuration(context: "'+'")
            d.span = plus.span.merged(with: d.span)
            return .relative(d)
        }
        throw fail("expected an instant such as 2025-03-01T10:00:00Z or a time after the last one such as +2h, found \(found)", label: "expected a time")
    }

    mutating func parseWindow() throws -> TestWindow? {
        if atWord("at") {
            pos += 1
            return .at(try parseTestTime())
        }
        if atWord("between") {
            pos += 1
            let from = try parseTestTime()
            _ = try expect(.kwAnd, "'and'", hint: "Write 'between TIME and TIME'.")
            return .between(from, try parseTestTime())
        }
        if atWord("after") {
            pos += 1
            return .after(try parseTestTime())
        }
        if atWord("before") {
            pos += 1
            return .before(try parseTestTime())
        }
        return nil
    }

    mutating func parseExpectation() throws -> Expectation {
        if atWord("nothing") {
            pos += 1
            var channel: Ident?
            if accept(.kwOn) { channel = try expectIdent("a channel") }
            try expectWord("to", hint: "Write 'expect nothing to ana' or 'expect nothing on sms to ana'.")
            let profile = try expectIdent("a profile")
            var journey: Ident?, window: TestWindow?
            while true {
                if atWord("from") {
                    pos += 1
                    journey = try expectIdent("a journey name")
                } else if let w = try parseWindow() {
                    window = w
                } else {
                    break
                }
            }
            return .nothing(channel: channel, profile: profile, journey: journey, window: window)
        }
        let first = try expectIdent("a channel or a profile")
        if accept(.dot) {
            let attribute = try expectIdent("an attribute")
            _ = try expect(.equal, "'=='", hint: "Write 'expect \(first.name).\(attribute.name) == VALUE'.")
            return .attribute(profile: first, attribute: attribute, value: try parseExpr())
        }
        if atWord("is") {
            pos += 1
            if accept(.kwNot) {
                let word = tokens[pos - 1]
                try expectWord("in", hint: "Write 'expect \(first.name) is not in JOURNEY'.")
                return .state(profile: first, state: Ident("not", word.span), journey: try expectIdent("a journey name"))
            }
            if atWord("in") {
                pos += 1
                let journey = try expectIdent("a journey name")
                _ = try expect(.dot, "'.' and a split branch", hint: "Write 'expect \(first.name) is in \(journey.name).BRANCH' (a split branch's label).")
                return .branch(profile: first, journey: journey, branch: try expectIdent("a split branch"))
            }
            let state = try expectIdent("a state (waiting, converted, exited, completed or failed)")
            try expectWord("in", hint: "Write 'expect \(first.name) is \(state.name) in JOURNEY'.")
            return .state(profile: first, state: state, journey: try expectIdent("a journey name"))
        }
        try expectWord("to", hint: "Write 'expect CHANNEL to PROFILE …', 'expect PROFILE is waiting in JOURNEY' or 'expect PROFILE.ATTRIBUTE == VALUE'.")
        let profile = try expectIdent("a profile")
        var window: TestWindow?, status: Ident?, journey: Ident?, containing: ExprID?, fields: [TestField] = []
        while true {
            if atWord("status") {
                pos += 1
                status = try expectIdent("a status (sent or suppressed)")
            } else if atWord("from") {
                pos += 1
                journey = try expectIdent("a journey name")
            } else if atWord("containing") {
                pos += 1
                guard kind == .string else { throw fail("expected text in quotes after 'containing', found \(found)", label: "expected text") }
                containing = parseString(advance())
            } else if atWord("with") {
                pos += 1
                fields = try parseTestFields()
            } else if let w = try parseWindow() {
                window = w
            } else {
                break
            }
        }
        return .message(channel: first, profile: profile, window: window, status: status, journey: journey, containing: containing, fields: fields)
    }

    /// `YYYY-MM-DDTHH:MM[:SS](Z|±HH:MM)` as seconds since 1970 (UTC).
    public static func epochSeconds(ofInstant s: String) -> Int64? {
        let b = Array(s.utf8)
        func num(_ from: Int, _ count: Int) -> Int64? {
            guard from + count <= b.count else { return nil }
            var v: Int64 = 0
            for k in from..<(from + count) {
                guard b[k] >= 48, b[k] <= 57 else { return nil }
                v = v * 10 + Int64(b[k] - 48)
            }
            return v
        }
        guard b.count >= 17, let y = num(0, 4), let m = num(5, 2), let d = num(8, 2), let h = num(11, 2), let mi = num(14, 2) else { return nil }
        var at = 16
        var sec: Int64 = 0
        if at < b.count, b[at] == UInt8(ascii: ":") {
            guard let s = num(at + 1, 2) else { return nil }
            sec = s
            at += 3
        }
        var offset: Int64 = 0
        if at < b.count, b[at] == UInt8(ascii: "Z") {
            at += 1
        } else if at < b.count, b[at] == UInt8(ascii: "+") || b[at] == UInt8(ascii: "-"), let oh = num(at + 1, 2), let om = num(at + 4, 2) {
            offset = (oh * 3600 + om * 60) * (b[at] == UInt8(ascii: "+") ? 1 : -1)
            at += 6
        } else {
            return nil
        }
        guard at == b.count else { return nil }
        // Days from 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
        let yy = m <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return days * 86400 + h * 3600 + mi * 60 + sec - offset
    }
}
