import JourneyDiagnostics

// Statements: blocks, waits, branches, splits, sends and their message blocks.

extension Parser {
    mutating func parseBlock() throws -> Block {
        try nested { p in try p.parseBlockBody() }
    }

    mutating func parseBlockBody() throws -> Block {
        let open = try expect(.lBrace, "'{'")
        var statements: [Stmt] = []
        while true {
            skipNewlines()
            if kind == .rBrace { break }
            if kind == .eof {
                endedInsideBlock = true
                if !closedOnDedent {
                    _ = fail(SyntaxCode.unclosedBlock, "this '{' is never closed", span: open.span, label: "opened here", hint: "Add the missing '}'.")
                }
                return Block(statements: statements, span: Span(open.span.start, file.bytes.count))
            }
            if closesByIndentation(open, "its block") {
                return Block(statements: statements, span: Span(open.span.start, current.span.end))
            }
            do {
                statements.append(try parseStatement())
                try expectLineEnd(after: "this step")
            } catch {
                synchronizeStatement()
            }
        }
        let close = advance()
        return Block(statements: statements, span: Span(open.span.start, close.span.end))
    }

    mutating func parseStatement() throws -> Stmt {
        let start = current.span.start
        let k: StmtKind
        switch kind {
        case .kwWait:
            pos += 1
            if accept(.kwUntil) {
                k = .waitUntil(try parseTimeOfDay())
            } else if accept(.kwFor) {
                k = .waitFor(try parseWaitFor())
            } else {
                k = .wait(try parseDuration(context: "'wait'"))
            }
        case .kwIf:
            k = try parseIf()
        case .kwSplit:
            pos += 1
            k = .split(try parseSplit())
        case .kwSet:
            pos += 1
            guard accept(.kwProfile) else {
                throw fail("only profile attributes can be set, found \(found)", label: "expected 'profile.ATTRIBUTE'",
                           hint: "Write 'set profile.ATTRIBUTE = value'.")
            }
            _ = try expect(.dot, "'.' after 'profile'")
            let attr = try expectIdent("a profile attribute")
            _ = try expect(.assign, "'='", hint: "Write 'set profile.\(attr.name) = value'.")
            k = .set(attribute: attr, value: try parseExpr())
        case .kwExit:
            pos += 1
            k = .exit
        case .identifier:
            k = .send(try parseSend())
        case .kwElse:
            throw fail("'else' without an 'if', 'wait for' or send before it", label: "nothing to attach to",
                       hint: "Place 'else' right after the block or message it belongs to.")
        default:
            throw fail("expected a step (wait, if, split, set, exit or a send such as 'push …'), found \(found)", label: "not a step")
        }
        return Stmt(kind: k, span: Span(start, tokens[pos - 1].span.end))
    }

    /// True (and consumes the newlines) when an `else` follows, possibly on the next line.
    mutating func acceptElse() -> Bool {
        var k = pos
        while tokens[k].kind == .newline { k += 1 }
        if tokens[k].kind == .kwElse {
            pos = k + 1
            return true
        }
        return false
    }

    mutating func parseWaitFor() throws -> WaitFor {
        let event = try expectIdent("an event name")
        var alias: Ident?
        if accept(.kwAs) { alias = try expectIdent("an alias for the event") }
        var cond: ExprID?
        if accept(.kwWhere) { cond = try parseExpr() }
        guard accept(.kwWithin) else {
            throw fail("expected 'within DURATION' after 'wait for \(event.name)', found \(found)", label: "how long to wait?",
                       hint: "Say how long to wait for it, e.g. 'wait for \(event.name) within 24h'.")
        }
        let within = try parseDuration(context: "'within'")
        var arrived: Block?
        var timedOut: Block?
        if kind == .lBrace { arrived = try parseBlock() }
        if acceptElse() { timedOut = try parseBlock() }
        return WaitFor(event: event, alias: alias, condition: cond, within: within, arrived: arrived, timedOut: timedOut)
    }

    mutating func parseIf() throws -> StmtKind {
        pos += 1 // if
        var branches = [IfBranch(condition: try parseExpr(), block: try parseBlock())]
        var elseBlock: Block?
        while acceptElse() {
            if accept(.kwIf) {
                branches.append(IfBranch(condition: try parseExpr(), block: try parseBlock()))
            } else {
                elseBlock = try parseBlock()
                break
            }
        }
        return .if(branches, else: elseBlock)
    }

    mutating func parseSplit() throws -> [SplitBranch] {
        let open = try expect(.lBrace, "'{' after 'split'")
        var branches: [SplitBranch] = []
        while true {
            skipNewlines()
            if accept(.rBrace) { break }
            if kind == .eof { throw fail(SyntaxCode.unclosedBlock, "this '{' is never closed", span: open.span, label: "opened here") }
            do {
                guard kind == .percent else {
                    throw fail("expected a percentage to start a split branch, found \(found)", label: "expected e.g. '50%'",
                               hint: "Write each branch as 'PERCENT [label] { … }', e.g. '10% control { exit }'.")
                }
                let percent = parsePercent(advance())
                var label: Ident?
                if kind == .identifier { label = try expectIdent("a branch label") }
                branches.append(SplitBranch(percent: percent, label: label, block: try parseBlock()))
            } catch {
                synchronizeStatement()
            }
        }
        return branches
    }

    mutating func parseSend() throws -> [SendLink] {
        var links: [SendLink] = []
        repeat {
            let channel = try expectIdent("a channel kind")
            let message: Message
            switch kind {
            case .string:
                message = .text(parseString(advance()))
            case .lBrace:
                message = .fields(try parseFieldBlock())
            case .kwTemplate:
                pos += 1
                guard kind == .string else {
                    throw fail("expected the template's name as a string, found \(found)", label: "expected \"name\"",
                               hint: "Write 'template \"name\" { param: value }'.")
                }
                let name = parseString(advance())
                message = .template(name: name, params: kind == .lBrace ? try parseFieldBlock() : nil)
            default:
                let isKnown = Keywords.channelKinds.contains(channel.name)
                throw fail(isKnown ? SyntaxCode.expectedMessage : SyntaxCode.unexpectedToken,
                           isKnown ? "expected a message after '\(channel.name)', found \(found)"
                                   : "expected a step, found '\(channel.name)'",
                           span: isKnown ? nil : channel.span,
                           label: isKnown ? "expected a message" : "not a step",
                           hint: isKnown ? "Follow the channel with a string, a { field: value } block, or template \"name\" { … }."
                                         : suggestion(for: channel.name, among: ["wait", "if", "split", "set", "exit"] + Keywords.channelKinds).map { "did you mean '\($0)'?" }
                                           ?? "A step is wait, if, split, set, exit or a send such as 'push \"…\"'.")
            }
            links.append(SendLink(channel: channel, message: message, span: Span(channel.span.start, tokens[pos - 1].span.end)))
        } while acceptElse()
        return links
    }

    /// `{ name: value, … }` where a value is an expression or a nested block.
    mutating func parseFieldBlock() throws -> FieldBlock {
        try nested { p in try p.parseFieldBlockBody() }
    }

    mutating func parseFieldBlockBody() throws -> FieldBlock {
        let open = try expect(.lBrace, "'{'")
        // Room for a usual message's fields at once, not grown one by one.
        var fields: [MessageField] = []
        fields.reserveCapacity(4)
        while true {
            skipNewlines()
            if kind == .rBrace { break }
            if kind == .eof {
                endedInsideBlock = true
                if closedOnDedent { throw ParseError() }
                throw fail(SyntaxCode.unclosedBlock, "this '{' is never closed", span: open.span, label: "opened here")
            }
            if closesByIndentation(open, "the message") {
                return FieldBlock(fields: fields, span: Span(open.span.start, current.span.end))
            }
            do {
                let name = try expectIdent("a field name")
                _ = try expect(.colon, "':' after '\(name.name)'", hint: "Write each field as 'name: value'.")
                let value: FieldValue = kind == .lBrace ? .block(try parseFieldBlock()) : .expr(try parseExpr())
                fields.append(MessageField(name: name, value: value, span: Span(name.span.start, tokens[pos - 1].span.end)))
                if !accept(.comma), kind != .newline, kind != .rBrace {
                    throw fail("expected ',' or a new line between fields, found \(found)", label: "expected ','")
                }
            } catch {
                synchronizeField()
            }
        }
        let close = advance()
        return FieldBlock(fields: fields, span: Span(open.span.start, close.span.end))
    }
}
