import JourneyDiagnostics

/// Prints a syntax tree in the one canonical layout: two-space indents, one step per line,
/// `} else {` on one line, at most one blank line where the source had one, and every comment
/// kept: own-line comments on their own line, trailing comments after their line's code.
public enum Formatter {
    public static func format(_ tree: SyntaxTree) -> [UInt8] {
        var p = Printer(tree: tree)
        p.file()
        return Array(p.finish().utf8)
    }

    /// Formats source text; nil when it has parse errors.
    public static func format(_ source: SourceFile) -> String? {
        let tree = Parser.parse(source)
        guard !tree.diagnostics.contains(where: { $0.severity == .error }) else { return nil }
        return String(decoding: format(tree), as: UTF8.self)
    }
}

private struct Printer {
    let tree: SyntaxTree
    var lines: [String] = []
    /// Trailing comments by line index, aligned when the lines are joined.
    var trailing: [Int: String] = [:]
    var current = ""
    var currentTrailing: String?
    /// Lines that hold only a comment.
    var commentLines: Set<Int> = []
    /// The source line of the last item or comment printed.
    var lastLine = -1
    var depth = 0
    var nextComment = 0

    init(tree: SyntaxTree) { self.tree = tree }

    var source: SourceFile { tree.source }

    // MARK: - Lines and comments

    mutating func put(_ s: String) {
        if current.isEmpty { current = String(repeating: "  ", count: depth) }
        current += s
    }

    mutating func endLine() {
        if !current.isEmpty {
            lines.append(current)
            if let t = currentTrailing { trailing[lines.count - 1] = t }
        }
        current = ""
        currentTrailing = nil
    }

    /// True when the source line above `offset`'s line is blank.
    func blankLineBefore(_ offset: Int) -> Bool {
        let line = source.lineIndex(of: offset)
        guard line > 0 else { return false }
        return source.lineText(line - 1).allSatisfy { $0 == " " || $0 == "\t" || $0 == "\r" }
    }

    var atBlockStart: Bool {
        guard let last = lines.last else { return true }
        return last.hasSuffix("{")
    }

    /// Emits every comment that starts before `offset`, then a blank line if the source had one.
    mutating func flush(before offset: Int, item: Bool = true) {
        while nextComment < tree.comments.count, tree.comments[nextComment].span.start < offset {
            let c = tree.comments[nextComment]
            let text = source.slice(c.span).trimmingTrailingSpaces()
            nextComment += 1
            // A trailing comment goes after its line's code, unless that line is a comment or
            // already has one: then it keeps a line of its own (two comments never merge).
            if !c.ownLine, !current.isEmpty, currentTrailing == nil {
                currentTrailing = text
            } else if !c.ownLine, current.isEmpty, let last = lines.indices.last, trailing[last] == nil, !commentLines.contains(last), !lines[last].isEmpty {
                trailing[last] = text
            } else {
                endLine()
                if c.ownLine, !atBlockStart, lines.last != "", blankLineBefore(c.span.start), startsLaterLine(c.span.start) { lines.append("") }
                put(text)
                endLine()
                commentLines.insert(lines.count - 1)
            }
            lastLine = source.lineIndex(of: c.span.start)
        }
        if item, offset < source.bytes.count, !atBlockStart, current.isEmpty, lines.last != "", blankLineBefore(offset), startsLaterLine(offset) {
            lines.append("")
        }
        if item, offset < source.bytes.count { lastLine = source.lineIndex(of: offset) }
    }

    /// True when `offset` is on a later source line than the last thing printed, so a blank
    /// line above it in the source separated the two (not so for fields of a one-line block).
    func startsLaterLine(_ offset: Int) -> Bool {
        source.lineIndex(of: offset) > lastLine + 1
    }

    mutating func finish() -> String {
        endLine()
        flush(before: Int.max, item: false)
        endLine()
        while lines.last == "" { lines.removeLast() }
        alignTrailingComments()
        return lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
    }

    /// Trailing comments on consecutive lines start in one column, two spaces after the longest code.
    mutating func alignTrailingComments() {
        var i = 0
        while i < lines.count {
            guard trailing[i] != nil else { i += 1; continue }
            var j = i
            while j + 1 < lines.count, trailing[j + 1] != nil { j += 1 }
            let column = (i...j).map { lines[$0].count }.max() ?? 0
            for k in i...j {
                lines[k] += String(repeating: " ", count: column - lines[k].count + 2) + (trailing[k] ?? "")
            }
            i = j + 1
        }
    }

    /// Opens a block: `{`, then the inner lines one level deeper.
    mutating func open() {
        put("{")
        endLine()
        depth += 1
    }

    /// Closes a block at `end` (the offset of its `}`), flushing comments that sit inside it.
    mutating func close(_ end: Int) {
        flush(before: end, item: false)
        endLine()
        depth -= 1
        put("}")
    }

    // MARK: - Declarations

    mutating func file() {
        for decl in tree.decls {
            flush(before: decl.span.start)
            declaration(decl)
            endLine()
        }
    }

    mutating func declaration(_ decl: Decl) {
        switch decl.kind {
        case .profile(let fields):
            put("profile ")
            fieldDecls(fields, end: decl.span.end - 1, inline: false)
        case .event(let name, let fields, let catalog):
            put((catalog == nil ? "" : "catalog ") + "event \(name.name) ")
            let inlineText = fields.map(fieldDecl).joined(separator: ", ")
            let hasComments = tree.comments.contains { $0.span.start > name.span.end && $0.span.start < decl.span.end }
            let fits = current.count + inlineText.count + 4 <= 100
            fieldDecls(fields, end: decl.span.end - 1, inline: !hasComments && fits)
        case .channel(let kind, let address, let consent):
            put("channel \(kind.name) address \(expr(address))")
            if let c = consent { put(" consent \(expr(c))") }
        case .policy(let rules):
            put("policy ")
            open()
            for rule in rules {
                switch rule {
                case .cap(let count, _, let per, let span):
                    flush(before: span.start)
                    put("cap \(count) messages per \(per.text)")
                case .quietHours(let from, let to, let span):
                    flush(before: span.start)
                    put("quiet hours \(from.text) to \(to.text)")
                case .currency(let code, let span):
                    flush(before: span.start)
                    put("currency \(code.name)")
                case .locale(_, let valueSpan, let span):
                    flush(before: span.start)
                    put("locale \(source.slice(valueSpan))")
                }
                endLine()
            }
            close(decl.span.end - 1)
        case .journey(let j):
            journey(j)
        case .test(let t):
            test(t)
        case .fixture(let g):
            fielded(given(g, fields: false), g.fields, end: g.span.end)
        }
    }

    /// A line that ends in a `{ field: value, … }` block: on one line when it fits in 100
    /// columns and holds no comment, else one field per line.
    mutating func fielded(_ head: String, _ fields: [TestField], end: Int) {
        guard !fields.isEmpty else { put(head); return }
        let inline = head + " " + testFields(fields)
        let hasComments = tree.comments.contains { c in c.span.start > fields[0].span.start && c.span.start < end }
        if !hasComments, String(repeating: "  ", count: depth).count + inline.count <= 100 {
            put(inline)
            return
        }
        put(head + " ")
        open()
        for f in fields {
            flush(before: f.span.start)
            put("\(f.name.name): \(expr(f.value))")
            endLine()
        }
        close(end - 1)
    }

    // MARK: - Tests

    mutating func test(_ t: TestDecl) {
        put("test \(Printer.quoted(t.name)) ")
        open()
        for s in t.statements {
            flush(before: s.span.start)
            switch s.kind {
            case .given(let g): fielded(given(g, fields: false), g.fields, end: s.span.end)
            case .at(_, _?, _, let fields) where !fields.isEmpty:
                var head = testStatement(s)
                head = String(head.prefix(head.count - testFields(fields).count - 1))
                fielded(head, fields, end: s.span.end)
            default: put(testStatement(s))
            }
            endLine()
        }
        close(t.body.end - 1)
    }

    /// A string literal of plain text.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for c in s {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "{": out += "\\{"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out.append(c)
            }
        }
        return out + "\""
    }

    func given(_ g: GivenProfile, fields: Bool = true) -> String {
        "given profile \(g.name.name)" + (g.base.map { " like \($0.name)" } ?? "") + (g.fields.isEmpty || !fields ? "" : " " + testFields(g.fields))
    }

    func testFields(_ fields: [TestField]) -> String {
        "{ " + fields.map { "\($0.name.name): \(expr($0.value))" }.joined(separator: ", ") + " }"
    }

    func time(_ t: TestTime) -> String {
        switch t {
        case .absolute(_, let span): source.slice(span)
        case .relative(let d): "+" + d.text
        }
    }

    func window(_ w: TestWindow?) -> String {
        switch w {
        case nil: ""
        case .at(let t): " at \(time(t))"
        case .between(let a, let b): " between \(time(a)) and \(time(b))"
        case .after(let t): " after \(time(t))"
        case .before(let t): " before \(time(t))"
        }
    }

    func testStatement(_ s: TestStmt) -> String {
        switch s.kind {
        case .given(let g): return given(g)
        case .only(let j): return "only journey \(j.name)"
        case .at(let t, let profile, let event, let fields):
            var out = "at \(time(t))"
            if let p = profile, let e = event {
                out += (p.name.isEmpty ? " catalog \(e.name)" : " \(p.name) does \(e.name)") + (fields.isEmpty ? "" : " " + testFields(fields))
            }
            return out
        case .expect(let e):
            switch e {
            case .message(let channel, let profile, let w, let status, let journey, let containing, let fields):
                var out = "expect \(channel.name) to \(profile.name)" + window(w)
                if let st = status { out += " status \(st.name)" }
                if let j = journey { out += " from \(j.name)" }
                if let c = containing { out += " containing \(expr(c))" }
                if !fields.isEmpty { out += " with " + testFields(fields) }
                return out
            case .nothing(let channel, let profile, let journey, let w):
                return "expect nothing" + (channel.map { " on \($0.name)" } ?? "") + " to \(profile.name)" + (journey.map { " from \($0.name)" } ?? "") + window(w)
            case .state(let profile, let state, let journey):
                return state.name == "not" ? "expect \(profile.name) is not in \(journey.name)" : "expect \(profile.name) is \(state.name) in \(journey.name)"
            case .branch(let profile, let journey, let branch):
                return "expect \(profile.name) is in \(journey.name).\(branch.name)"
            case .attribute(let profile, let attribute, let value):
                return "expect \(profile.name).\(attribute.name) == \(expr(value))"
            }
        }
    }

    mutating func fieldDecls(_ fields: [FieldDecl], end: Int, inline: Bool) {
        if inline {
            put(fields.isEmpty ? "{}" : "{ " + fields.map(fieldDecl).joined(separator: ", ") + " }")
            return
        }
        open()
        for f in fields {
            flush(before: f.span.start)
            put(fieldDecl(f))
            endLine()
        }
        close(end)
    }

    func fieldDecl(_ f: FieldDecl) -> String {
        "\(f.name.name): \(type(f.type))" + (f.defaultValue.map { " = " + expr($0) } ?? "")
    }

    func type(_ t: TypeSyntax) -> String {
        switch t {
        case .named(let i): i.name
        case .optional(let inner, _): type(inner) + "?"
        case .list(let inner, _): "list[\(type(inner))]"
        }
    }

    mutating func journey(_ j: JourneyDecl) {
        put("journey \(j.name.name) ")
        if let t = j.title { put(expr(t) + " ") }
        open()
        for clause in j.header {
            flush(before: clause.span.start)
            header(clause)
            endLine()
        }
        statements(j.body.statements)
        close(j.body.span.end - 1)
    }

    mutating func header(_ clause: HeaderClause) {
        switch clause {
        case .on(let event, let alias, let cond, _):
            put("on \(event.name)")
            if let a = alias { put(" as \(a.name)") }
            if let c = cond { put(" where \(expr(c))") }
        case .daily(let at, let alias, _):
            put("on daily at \(at.text)")
            if let a = alias { put(" as \(a.name)") }
        case .when(let c, _):
            condition("when ", c)
        case .goal(let event, let cond, _):
            put("goal \(event.name)")
            if let c = cond { put(" where \(expr(c))") }
        case .exitOn(let event, let cond, _):
            put("exit on \(event.name)")
            if let c = cond { put(" where \(expr(c))") }
        case .reentry(let r, _):
            switch r {
            case .never: put("reentry never")
            case .always: put("reentry always")
            case .after(let d): put("reentry after \(d.text)")
            }
        case .maxDelay(let d, _):
            put("max_delay \(d?.text ?? "none")")
        case .forEach(let cond, _):
            if let c = cond { condition("for each profile where ", c) } else { put("for each profile") }
        }
    }

    /// `prefix` and a condition; past 100 columns, a chain of `and` (or of `or`) goes on over
    /// several lines, one operand per line, each further line indented and starting with the
    /// operator (the lexer reads such a line as going on with the one above).
    mutating func condition(_ prefix: String, _ c: ExprID) {
        let flat = prefix + expr(c)
        guard depth * 2 + flat.count > 100, case .binary(let top, _, _) = tree.exprs[c].kind, top == .and || top == .or else {
            put(flat)
            return
        }
        var parts: [ExprID] = []
        func flatten(_ e: ExprID) {
            if case .binary(top, let l, let r) = tree.exprs[e].kind { flatten(l); flatten(r) } else { parts.append(e) }
        }
        flatten(c)
        put(prefix + expr(parts[0]))
        for p in parts.dropFirst() {
            endLine()
            depth += 1
            put("\(top.spelling) " + expr(p))
            depth -= 1
        }
    }

    // MARK: - Statements

    mutating func statements(_ stmts: [Stmt]) {
        for s in stmts {
            flush(before: s.span.start)
            statement(s)
            endLine()
        }
    }

    mutating func block(_ b: Block) {
        open()
        statements(b.statements)
        close(b.span.end - 1)
    }

    mutating func statement(_ s: Stmt) {
        switch s.kind {
        case .wait(let d): put("wait \(d.text)")
        case .waitUntil(let t): put("wait until \(t.text)")
        case .waitFor(let w):
            put("wait for \(w.event.name)")
            if let a = w.alias { put(" as \(a.name)") }
            if let c = w.condition { put(" where \(expr(c))") }
            put(" within \(w.within.text)")
            if let b = w.arrived {
                put(" ")
                block(b)
            }
            if let b = w.timedOut {
                put(" else ")
                block(b)
            }
        case .if(let branches, let elseBlock):
            for (i, br) in branches.enumerated() {
                put(i == 0 ? "if \(expr(br.condition)) " : " else if \(expr(br.condition)) ")
                block(br.block)
            }
            if let e = elseBlock {
                put(" else ")
                block(e)
            }
        case .split(let branches):
            put("split ")
            open()
            for br in branches {
                flush(before: br.percent.span.start)
                put(br.percent.text + " ")
                if let l = br.label { put(l.name + " ") }
                block(br.block)
                endLine()
            }
            close(s.span.end - 1)
        case .send(let links):
            for (i, link) in links.enumerated() {
                if i > 0 { put(" else ") }
                put(link.channel.name + " ")
                message(link.message)
            }
        case .set(let attr, let value):
            put("set profile.\(attr.name) = \(expr(value))")
        case .exit:
            put("exit")
        }
    }

    mutating func message(_ m: Message) {
        switch m {
        case .text(let e): put(expr(e))
        case .fields(let b): fieldBlock(b)
        case .template(let name, let params):
            put("template \(expr(name))")
            if let p = params {
                put(" ")
                fieldBlock(p)
            }
        }
    }

    mutating func fieldBlock(_ b: FieldBlock) {
        if b.fields.isEmpty, !tree.comments.contains(where: { $0.span.start > b.span.start && $0.span.start < b.span.end }) {
            put("{}")
            return
        }
        open()
        for f in b.fields {
            flush(before: f.span.start)
            put("\(f.name.name): ")
            switch f.value {
            case .expr(let e): put(expr(e))
            case .block(let inner): fieldBlock(inner)
            }
            endLine()
        }
        close(b.span.end - 1)
    }

    // MARK: - Expressions

    func expr(_ id: ExprID) -> String {
        let node = tree.exprs[id]
        switch node.kind {
        case .integer(let v): return String(v)
        case .decimal(let t): return t
        case .percent(let p): return p.text
        case .string(let parts): return string(parts)
        case .bool(let b): return b ? "true" : "false"
        case .none: return "none"
        case .duration(let d): return d.text
        case .timeOfDay(let t): return t.text
        case .instant: return source.slice(node.span)
        case .date(let y, let m, let d):
            return padded(y, 4) + "-" + padded(m, 2) + "-" + padded(d, 2)
        case .name(let n): return n
        case .profile: return "profile"
        case .now: return "now"
        case .today: return "today"
        case .member(let b, let f): return expr(b) + "." + f.name
        case .unary(.not, let e): return "not " + expr(e)
        case .unary(.negate, let e): return "-" + expr(e)
        case .binary(let op, let l, let r): return "\(expr(l)) \(op.spelling) \(expr(r))"
        case .paren(let e): return "(" + expr(e) + ")"
        case .history(let q) where q.of != nil:
            var s = "also(\(q.event.name).\(q.field?.name ?? ""), of: " + (q.of.map(expr) ?? "")
            if let w = q.within { s += ", within \(w.text)" }
            if let l = q.limit { s += ", limit \(l.value)" }
            return s + ")"
        case .history(let q):
            var s = "\(q.function.name)(" + (q.distinct == nil ? "" : "distinct ") + q.event.name
            if let f = q.field { s += ".\(f.name)" }
            if let c = q.condition { s += " where \(expr(c))" }
            if let w = q.within { s += " within \(w.text)" }
            if let l = q.limit { s += ", \(l.value)" }
            return s + ")"
        case .list(let items): return "[" + items.map(expr).joined(separator: ", ") + "]"
        case .call(let f, let args): return f.name + "(" + args.map(expr).joined(separator: ", ") + ")"
        case .repeated(let item, let list, let text): return "for \(item.name) in \(expr(list)): \(expr(text))"
        case .error: return source.slice(node.span)
        }
    }

    func string(_ parts: [StringPart]) -> String {
        var s = "\""
        for part in parts {
            switch part {
            case .text(let t):
                for ch in t.unicodeScalars {
                    switch ch {
                    case "\"": s += "\\\""
                    case "\\": s += "\\\\"
                    case "\n": s += "\\n"
                    case "\t": s += "\\t"
                    case "{": s += "{{"
                    case "}": s += "}}"
                    default: s.unicodeScalars.append(ch)
                    }
                }
            case .interpolation(let e): s += "{" + expr(e) + "}"
            }
        }
        return s + "\""
    }
}

/// Zero-padded decimal digits.
func padded(_ v: Int, _ width: Int) -> String {
    let digits = "\(v)"
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}

extension String {
    /// Without trailing spaces, tabs and carriage returns: one backward pass over the UTF-8
    /// bytes (by characters it was quadratic in the number of spaces).
    func trimmingTrailingSpaces() -> String {
        let u = utf8
        var end = u.endIndex
        while end > u.startIndex {
            let before = u.index(before: end)
            let b = u[before]
            guard b == 0x20 || b == 0x09 || b == 0x0D else { break }
            end = before
        }
        return end == u.endIndex ? self : String(self[..<end])
    }
}
