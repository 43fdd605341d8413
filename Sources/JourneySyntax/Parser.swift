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
        // About two expressions for every five tokens (those inside texts' {…} included): room
        // for one in two, so the arena seldom grows, and reserved room never used is not
        // cleared for nothing (the heap is in huge pages while a project is read: LargePages).
        p.arena.reserve(lexed.tokens.count / 2)
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
    mutating func closesByIndentation(_ open: Token, _ what: @autoclosure () -> String) -> Bool {
        guard closeOnDedent, kind != .rBrace, kind != .eof else { return false }
        let from = open.span.end, to = current.span.start
        guard from < to, file.bytes[from..<to].contains(UInt8(ascii: "\n")), indentation(of: to) <= indentation(of: open.span.start) else { return false }
        let line = file.lineIndex(of: to) + 1
        diagnostics.append(Diagnostic(SyntaxCode.unclosedBlock, file: file.path, span: open.span,
            message: "this '{' is never closed: line \(line) is indented as if \(what()) had ended", label: "opened here",
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
        case .identifier, .integer, .decimal, .duration, .percent, .timeOfDay, .date, .instant: "'\(text(current))'"
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

    mutating func expect(_ k: TokenKind, _ what: @autoclosure () -> String, hint: @autoclosure () -> String? = nil) throws -> Token {
        // (What was expected is only put into words when it is missing.)
        if kind == k { return advance() }
        let what = what()
        throw fail("expected \(what), found \(found)", label: "expected \(what)", hint: hint())
    }

    mutating func expectIdent(_ what: @autoclosure () -> String) throws -> Ident {
        if kind == .identifier {
            let t = advance()
            return Ident(text(t), t.span)
        }
        if let kw = Keywords.spelling(of: kind) {
            throw fail("'\(kw)' is a reserved word and cannot be used as \(what())", label: "reserved word", hint: "Choose another name; reserved words are listed in grammar/journey.ebnf.")
        }
        throw fail("expected \(what()), found \(found)", label: "expected \(what())")
    }

    mutating func expectWord(_ word: String, hint: @autoclosure () -> String? = nil) throws {
        if atWord(word) { pos += 1; return }
        throw fail("expected '\(word)', found \(found)", label: "expected '\(word)'", hint: hint())
    }

    /// After a statement or declaration: the end of the line, or a closing brace left for the block.
    mutating func expectLineEnd(after what: @autoclosure () -> String) throws {
        if kind == .newline || kind == .eof || kind == .rBrace { return }
        throw fail("expected the end of the line after \(what()), found \(found)", label: "unexpected here",
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
            if pos > 0, tokens[pos - 1].kind == .newline, [.kwJourney, .kwProfile, .kwEvent, .kwChannel, .kwPolicy].contains(kind) || atWord("test") || atWord("given") { return }
            pos += 1
        }
    }
}

extension Parser {
    /// Parses many files, spread over the machine's cores; the trees come back in input order.
    public static func parseAll(_ files: [SourceFile]) -> [SyntaxTree] {
        concurrentMap(files.count) { parse(files[$0]) }
    }
}
