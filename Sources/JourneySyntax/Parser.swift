import Dispatch
import JourneyDiagnostics

/// Thrown to unwind to the nearest statement or declaration after a parse error was reported.
struct ParseError: Error {}

/// A recursive-descent parser that recovers at statement and declaration boundaries, so one run
/// reports every independent error of a file.
public struct Parser {
    let file: SourceFile
    var tokens: [Token]
    var pos = 0
    var arena = ExprArena()
    var diagnostics: [Diagnostic] = []
    /// Where errors were reported already.
    var reportedStarts: Set<Int> = []
    /// Token storage reused by every interpolation of the file.
    var scratchTokens: [Token] = []
    /// How deep the descent is now (expressions, blocks, types); see `nested`.
    var nesting = 0
    /// The deepest nesting of expressions, blocks and types the language allows.
    public static let maxNesting = 100
    /// Set when the file ended inside a block: a `}` is missing somewhere.
    var endedInsideBlock = false
    /// In the second pass over such a file, a block also ends where a line is indented no
    /// deeper than the line that opened it: that is where its `}` is missing.
    var closeOnDedent = false

    /// Parses one file. A file that ends inside a block is parsed once more, reading its
    /// indentation: the `}` a person forgot is where the indentation drops, and reporting it
    /// there (rather than "add a `}` at the end", which would pull the steps below into the
    /// block) leads to the right fix.
    public static func parse(_ file: SourceFile) -> SyntaxTree {
        let lexed = Lexer.lex(file)
        var p = Parser(file: file, tokens: lexed.tokens)
        p.diagnostics = lexed.diagnostics
        p.reportedStarts = Set(lexed.diagnostics.map(\.span.start))
        var decls = p.parseFile()
        if p.endedInsideBlock {
            var q = Parser(file: file, tokens: lexed.tokens)
            q.diagnostics = lexed.diagnostics
            q.reportedStarts = p.reportedStarts.intersection(Set(lexed.diagnostics.map(\.span.start)))
            q.closeOnDedent = true
            let again = q.parseFile()
            // Keep the second reading only if it found where the brace is missing.
            if q.closedOnDedent {
                decls = again
                p = q
            }
        }
        return SyntaxTree(source: file, decls: decls, exprs: p.arena, comments: lexed.comments, diagnostics: p.diagnostics)
    }

    /// Whether the second pass closed a block at a dedent.
    var closedOnDedent = false

    /// The indentation (spaces and tabs, a tab as one) of the line holding `offset`.
    func indentation(of offset: Int) -> Int {
        var start = offset
        while start > 0, file.bytes[start - 1] != UInt8(ascii: "\n") { start -= 1 }
        var n = 0
        while start + n < file.bytes.count, file.bytes[start + n] == 0x20 || file.bytes[start + n] == 0x09 { n += 1 }
        return n
    }

    /// In the second pass: whether the token at the current position, on a later line than
    /// `open`, is indented no deeper than `open`'s line, so the block `open` started should have
    /// ended before it. Reports the missing `}` once, at the opening brace.
    mutating func closesByIndentation(_ open: Token, _ what: String) -> Bool {
        guard closeOnDedent, kind != .rBrace, kind != .eof else { return false }
        let from = open.span.end, to = current.span.start
        guard from < to, file.bytes[from..<to].contains(UInt8(ascii: "\n")), indentation(of: to) <= indentation(of: open.span.start) else { return false }
        let line = file.lineIndex(of: to) + 1
        diagnostics.append(Diagnostic(SyntaxCode.unclosedBlock, file: file.path, span: open.span,
            message: "this '{' is never closed: line \(line) is indented as if \(what) had ended", label: "opened here",
            hint: "Add a '}' on its own line before line \(line), where the indentation drops."))
        closedOnDedent = true
        // Stand on the line break again: the step that held the block ends here.
        if pos > 0, tokens[pos - 1].kind == .newline { pos -= 1 }
        return true
    }

    init(file: SourceFile, tokens: [Token]) {
        self.file = file
        self.tokens = tokens
    }

    // MARK: - Token helpers

    var current: Token { tokens[pos] }
    var kind: TokenKind { tokens[pos].kind }
    func peekKind(_ k: Int) -> TokenKind { tokens[min(pos + k, tokens.count - 1)].kind }

    mutating func advance() -> Token {
        let t = tokens[pos]
        if pos < tokens.count - 1 { pos += 1 }
        return t
    }

    func text(_ t: Token) -> String { file.slice(t.span) }

    /// True when the current token is the identifier `word` (a contextual keyword).
    func atWord(_ word: String) -> Bool { kind == .identifier && text(current) == word }

    mutating func accept(_ k: TokenKind) -> Bool {
        if kind == k { pos += 1; return true }
        return false
    }

    mutating func skipNewlines() { while kind == .newline { pos += 1 } }

    /// The description of the current token in an error message.
    var found: String {
        switch kind {
        case .identifier, .integer, .decimal, .duration, .percent, .timeOfDay, .date: "'\(text(current))'"
        default: kind.display
        }
    }

    mutating func fail(_ message: String, span: Span? = nil, label: String = "", hint: String? = nil) -> ParseError {
        fail(SyntaxCode.unexpectedToken, message, span: span, label: label, hint: hint)
    }

    mutating func fail(_ code: DiagnosticCode, _ message: String, span: Span? = nil, label: String = "", hint: String? = nil) -> ParseError {
        let s = span ?? (kind == .newline ? Span(current.span.start, current.span.start) : current.span)
        // One report per position (a second error at the same spot is a consequence of the first),
        // and none for a token the lexer already reported.
        if kind != .invalid || span != nil, reportedStarts.insert(s.start).inserted {
            diagnostics.append(Diagnostic(code, file: file.path, span: s, message: message, label: label, hint: hint))
        }
        return ParseError()
    }

    mutating func expect(_ k: TokenKind, _ what: String, hint: String? = nil) throws -> Token {
        if kind == k { return advance() }
        throw fail("expected \(what), found \(found)", label: "expected \(what)", hint: hint)
    }

    mutating func expectIdent(_ what: String) throws -> Ident {
        if kind == .identifier {
            let t = advance()
            return Ident(text(t), t.span)
        }
        if let kw = Keywords.spelling(of: kind) {
            throw fail("'\(kw)' is a reserved word and cannot be used as \(what)", label: "reserved word", hint: "Choose another name; reserved words are listed in grammar/journey.ebnf.")
        }
        throw fail("expected \(what), found \(found)", label: "expected \(what)")
    }

    mutating func expectWord(_ word: String, hint: String? = nil) throws {
        if atWord(word) { pos += 1; return }
        throw fail("expected '\(word)', found \(found)", label: "expected '\(word)'", hint: hint)
    }

    /// After a statement or declaration: the end of the line, or a closing brace left for the block.
    mutating func expectLineEnd(after what: String) throws {
        if kind == .newline || kind == .eof || kind == .rBrace { return }
        throw fail("expected the end of the line after \(what), found \(found)", label: "unexpected here",
                   hint: "Put each step on its own line.")
    }

    /// Skips to the end of the current line (or the block's closing brace) at the current depth.
    mutating func synchronizeStatement() {
        var depth = 0
        while kind != .eof {
            switch kind {
            case .lBrace: depth += 1
            case .rBrace:
                if depth == 0 { return }
                depth -= 1
                if depth == 0 {
                    pos += 1
                    if kind == .newline || kind == .rBrace || kind == .eof { return }
                    continue
                }
            case .newline where depth == 0: return
            default: break
            }
            pos += 1
        }
    }

    /// Skips to the next line that starts a declaration.
    mutating func synchronizeDecl() {
        while kind != .eof {
            if pos > 0, tokens[pos - 1].kind == .newline, [.kwJourney, .kwProfile, .kwEvent, .kwChannel, .kwPolicy].contains(kind) { return }
            pos += 1
        }
    }

    // MARK: - Declarations

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
            kind = .event(name, try parseFieldDecls())
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
        default:
            throw fail("expected a declaration (profile, event, channel, policy or journey), found \(found)", label: "not a declaration",
                       hint: "A journey file holds declarations; steps belong inside 'journey NAME { … }'.")
        }
        return Decl(kind: kind, span: Span(start, tokens[pos - 1].span.end))
    }

    /// `{ name: type, … }`, separated by commas or newlines.
    mutating func parseFieldDecls() throws -> [FieldDecl] {
        let open = try expect(.lBrace, "'{'")
        var fields: [FieldDecl] = []
        while true {
            skipNewlines()
            if accept(.rBrace) { break }
            if kind == .eof { throw fail(SyntaxCode.unclosedBlock, "this '{' is never closed", span: open.span, label: "opened here") }
            do {
                let name = try expectIdent("a field name")
                _ = try expect(.colon, "':' after '\(name.name)'", hint: "Write each field as 'name: type', e.g. 'first_name: string'.")
                let type = try parseType()
                var defaultValue: ExprID?
                if accept(.assign) { defaultValue = try parseExpr() }
                let end = defaultValue.map { arena.span($0) } ?? type.span
                fields.append(FieldDecl(name: name, type: type, defaultValue: defaultValue, span: name.span.merged(with: end)))
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
                } else {
                    throw fail("expected 'cap' or 'quiet hours' in a policy, found \(found)", label: "not a policy rule",
                               hint: "A policy holds 'cap N messages per DURATION' and 'quiet hours HH:MM to HH:MM'.")
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

    // MARK: - Journeys

    mutating func parseJourney() throws -> JourneyDecl {
        let name = try expectIdent("a journey name")
        var title: ExprID?
        if kind == .string { title = parseString(advance()) }
        let open = try expect(.lBrace, "'{' to open the journey", hint: "Write 'journey \(name.name) \"Title\" { … }'.")
        var header: [HeaderClause] = []
        var statements: [Stmt] = []
        var brokenTrigger = false
        while true {
            skipNewlines()
            if kind == .rBrace { break }
            if kind == .eof {
                // Keep what was parsed: an editor still knows the journey while it is being typed.
                endedInsideBlock = true
                if !closedOnDedent {
                    _ = fail(SyntaxCode.unclosedBlock, "the journey '\(name.name)' is never closed", span: open.span, label: "opened here", hint: "Add a '}' at the end of the journey.")
                }
                break
            }
            do {
                if isHeaderStart {
                    brokenTrigger = brokenTrigger || kind == .kwOn
                    let clause = try parseHeaderClause()
                    if !statements.isEmpty {
                        diagnostics.append(Diagnostic(SyntaxCode.headerAfterStep, file: file.path, span: clause.span,
                            message: "this header clause comes after the journey's first step", label: "move it up",
                            hint: "Put 'on', 'when', 'goal', 'exit on' and 'reentry' at the top of the journey, before its first step."))
                    }
                    header.append(clause)
                    try expectLineEnd(after: "the header clause")
                } else {
                    statements.append(try parseStatement())
                    try expectLineEnd(after: "this step")
                }
            } catch {
                synchronizeStatement()
            }
        }
        let close = advance()
        checkHeaderCounts(header, name: name, brokenTrigger: brokenTrigger)
        let end = close.kind == .rBrace ? close.span.end : file.bytes.count
        return JourneyDecl(name: name, title: title, header: header, body: Block(statements: statements, span: Span(open.span.start, end)))
    }

    var isHeaderStart: Bool {
        switch kind {
        case .kwOn, .kwWhen, .kwGoal, .kwReentry: true
        case .kwExit: peekKind(1) == .kwOn
        case .identifier: atWord("max_delay")
        default: false
        }
    }

    /// `brokenTrigger`: an `on` clause was seen (perhaps with a parse error reported already).
    mutating func checkHeaderCounts(_ header: [HeaderClause], name: Ident, brokenTrigger: Bool) {
        var seenOn = false, seenWhen = false, seenReentry = false, seenMaxDelay = false
        for clause in header {
            var dup: String?
            switch clause {
            case .on, .daily: if seenOn { dup = "on" }; seenOn = true
            case .when: if seenWhen { dup = "when" }; seenWhen = true
            case .reentry: if seenReentry { dup = "reentry" }; seenReentry = true
            case .maxDelay: if seenMaxDelay { dup = "max_delay" }; seenMaxDelay = true
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

    // MARK: - Statements

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
        var fields: [MessageField] = []
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

    // MARK: - Literals

    mutating func parseDuration(context: String? = nil) throws -> DurationLit {
        let negative = accept(.minus)
        guard kind == .duration else {
            let ctx = context.map { " after \($0)" } ?? ""
            var hint = "Durations are a whole number and a unit: 30s, 15m, 1h, 2d, 1w."
            if kind == .integer { hint = "Add a unit: \(text(current))s, \(text(current))m, \(text(current))h, \(text(current))d or \(text(current))w." }
            throw fail("expected a duration\(ctx), found \(found)", label: "expected a duration", hint: hint)
        }
        let t = advance()
        let raw = text(t)
        let unit: DurationUnit = switch raw.utf8.last {
        case UInt8(ascii: "s"): .seconds
        case UInt8(ascii: "m"): .minutes
        case UInt8(ascii: "h"): .hours
        case UInt8(ascii: "d"): .days
        default: .weeks
        }
        guard let amount = Int64(raw.dropLast()), amount <= 1_000_000_000 else {
            throw fail(SyntaxCode.invalidNumber, "the duration \(raw) is too long", span: t.span, label: "too long")
        }
        let start = negative ? tokens[pos - 2].span.start : t.span.start
        return DurationLit(amount: amount, unit: unit, negative: negative, span: Span(start, t.span.end))
    }

    mutating func parseTimeOfDay() throws -> TimeOfDayLit {
        guard kind == .timeOfDay else {
            throw fail("expected a time of day such as 09:00, found \(found)", label: "expected HH:MM")
        }
        let t = advance()
        let parts = text(t).split(separator: ":")
        let minutes = (Int(parts.first ?? "") ?? 0) * 60 + (Int(parts.last ?? "") ?? 0)
        return TimeOfDayLit(minutes: minutes, span: t.span)
    }

    func parsePercent(_ t: Token) -> PercentLit {
        let raw = String(text(t).dropLast())
        let parts = raw.split(separator: ".", maxSplits: 1)
        let whole = Int(parts.first ?? "0") ?? 0
        let written = parts.count > 1 ? String(parts[1]) : ""
        let frac = String((written + "00").prefix(2))
        let bp = whole.multipliedReportingOverflow(by: 100).partialValue + (Int(frac) ?? 0)
        let exact = written.dropFirst(2).allSatisfy { $0 == "0" }
        return PercentLit(basisPoints: bp, exact: exact, text: raw + "%", span: t.span)
    }

    /// Splits a string token into text and interpolations, parsing each interpolation in place.
    mutating func parseString(_ t: Token) -> ExprID {
        let bytes = file.bytes
        var parts: [StringPart] = []
        var buffer: [UInt8] = []
        let end = t.span.end
        var i = t.span.start + 1
        func flush() {
            if !buffer.isEmpty { parts.append(.text(String(decoding: buffer, as: UTF8.self))); buffer.removeAll() }
        }
        while i < end {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { break }
            if b == UInt8(ascii: "\\"), i + 1 < end {
                switch bytes[i + 1] {
                case UInt8(ascii: "n"): buffer.append(UInt8(ascii: "\n"))
                case UInt8(ascii: "t"): buffer.append(UInt8(ascii: "\t"))
                default: buffer.append(bytes[i + 1])
                }
                i += 2
            } else if b == UInt8(ascii: "{"), i + 1 < end, bytes[i + 1] == UInt8(ascii: "{") {
                buffer.append(b); i += 2
            } else if b == UInt8(ascii: "}"), i + 1 < end, bytes[i + 1] == UInt8(ascii: "}") {
                buffer.append(b); i += 2
            } else if b == UInt8(ascii: "{") {
                flush()
                guard let close = Lexer.interpolationEnd(file, from: i + 1, limit: end) else { break }
                parts.append(.interpolation(parseInterpolation(Span(i, close))))
                i = close
            } else {
                // A run of plain bytes at once.
                var j = i + 1
                while j < end, bytes[j] != UInt8(ascii: "\""), bytes[j] != UInt8(ascii: "\\"), bytes[j] != UInt8(ascii: "{"), bytes[j] != UInt8(ascii: "}") { j += 1 }
                buffer.append(contentsOf: bytes[i..<j])
                i = j
            }
        }
        flush()
        return arena.add(.string(parts), t.span)
    }

    /// Parses the expression between an interpolation's braces (span covers the braces).
    mutating func parseInterpolation(_ braces: Span) -> ExprID {
        let inner = (braces.start + 1)..<(braces.end - 1)
        // Lex into reused storage, then swap it in for the file's tokens while parsing.
        var sub: [Token] = []
        swap(&sub, &scratchTokens)
        var subDiagnostics: [Diagnostic] = []
        Lexer.lex(file, range: inner, into: &sub, diagnostics: &subDiagnostics)
        for d in subDiagnostics where reportedStarts.insert(d.span.start).inserted { diagnostics.append(d) }
        if sub.count == 1 {
            swap(&sub, &scratchTokens)
            diagnostics.append(Diagnostic(SyntaxCode.emptyInterpolation, file: file.path, span: braces,
                message: "empty '{}' in a string", label: "nothing to insert", hint: "Put an expression inside the braces, or write {{ }} for literal braces."))
            return arena.add(.error, braces)
        }
        let savedPos = pos
        swap(&sub, &tokens)
        pos = 0
        defer {
            swap(&sub, &tokens)
            pos = savedPos
            swap(&sub, &scratchTokens)
        }
        do {
            let e = try parseExpr()
            if kind != .eof {
                throw fail("expected '}' to end the inserted value, found \(found)", label: "unexpected here",
                           hint: "Only one value may stand inside '{ }' in a string.")
            }
            return e
        } catch {
            return arena.add(.error, braces)
        }
    }
}

extension Parser {
    /// Parses many files, spread over the machine's cores; the trees come back in input order.
    public static func parseAll(_ files: [SourceFile]) -> [SyntaxTree] {
        guard files.count > 1 else { return files.map(parse) }
        let out = UnsafeMutableBufferPointer<SyntaxTree?>.allocate(capacity: files.count)
        out.initialize(repeating: nil)
        defer { out.deallocate() }
        // Each iteration writes only its own slot, so the writes never race.
        nonisolated(unsafe) let slots = out
        DispatchQueue.concurrentPerform(iterations: files.count) { i in
            slots[i] = parse(files[i])
        }
        return out.compactMap { $0 }
    }
}
