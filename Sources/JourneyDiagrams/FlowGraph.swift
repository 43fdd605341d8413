import JourneyDiagnostics
import JourneySyntax

/// A journey as a flow diagram: nodes for the trigger, each step and the ends; edges labelled
/// with branch outcomes. Built from the syntax tree, so it draws exactly what was written.
public struct FlowGraph: Sendable {
    public enum Shape: Sendable { case start, step, wait, decision, send, end, note }

    public struct Node: Sendable {
        public var id: String
        public var label: String
        public var shape: Shape
        /// Where its statement (an `if`'s: its condition) starts, 1-based: the step of the
        /// bundle's step table it draws. Nil for the start, the end and the notes.
        public var line: Int?
        public var column: Int?
        /// Which link of a send's fallback chain (0 for the first).
        public var link: Int?
        /// A second line under the label (the console's counts).
        public var note: String?
    }

    public struct Edge: Sendable {
        public var from: String
        public var to: String
        public var label: String
        public var dashed: Bool
        /// The outcome of its decision it stands for (1-based, as the step table numbers
        /// branches: a split's branches in order, an `if`'s yes and no, a wait for's arrived and
        /// timed out).
        public var outcome: Int?
    }

    public var name: String
    public var title: String
    public var nodes: [Node] = []
    public var edges: [Edge] = []

    /// One graph per journey of a file.
    public static func build(_ tree: SyntaxTree) -> [FlowGraph] {
        tree.decls.compactMap { d in
            guard case .journey(let j) = d.kind else { return nil }
            var b = Builder(tree: tree, prefix: j.name.name)
            return b.journey(j)
        }
    }
}

/// Walks a journey's steps; `pending` holds the loose ends the next node connects to.
struct Builder {
    let tree: SyntaxTree
    let prefix: String
    var graph = FlowGraph(name: "", title: "")
    var counter = 0

    init(tree: SyntaxTree, prefix: String) {
        self.tree = tree
        self.prefix = prefix
    }

    typealias Pending = [(node: String, label: String, outcome: Int?)]

    mutating func node(_ label: String, _ shape: FlowGraph.Shape, at offset: Int? = nil, link: Int? = nil) -> String {
        counter += 1
        let id = "\(prefix)_\(counter)"
        let at = offset.map { tree.source.location(of: $0) }
        graph.nodes.append(FlowGraph.Node(id: id, label: label, shape: shape, line: at?.line, column: at?.column, link: link))
        return id
    }

    mutating func connect(_ pending: Pending, to id: String) {
        for p in pending { graph.edges.append(FlowGraph.Edge(from: p.node, to: id, label: p.label, dashed: false, outcome: p.outcome)) }
    }

    /// An expression as written, on lines of about 40 characters (a long condition wraps; it
    /// is never cut, since the part cut could be the part that matters).
    func text(_ e: ExprID) -> String {
        let words = tree.source.slice(tree.exprs.span(e)).split(whereSeparator: { $0.isNewline || $0 == " " }).map(String.init)
        var lines: [String] = []
        var line = ""
        for w in words {
            if !line.isEmpty, line.count + 1 + w.count > 40 {
                lines.append(line)
                line = w
            } else {
                line += (line.isEmpty ? "" : " ") + w
            }
        }
        if !line.isEmpty { lines.append(line) }
        return lines.joined(separator: "\n")
    }

    mutating func journey(_ j: JourneyDecl) -> FlowGraph {
        graph.name = j.name.name
        if let t = j.title, case .string(let parts) = tree.exprs[t].kind {
            graph.title = parts.compactMap { if case .text(let x) = $0 { x } else { nil } }.joined()
        }
        var trigger = ""
        var interrupts: [(String, String)] = []
        for clause in j.header {
            switch clause {
            case .on(let e, let a, let c, _):
                trigger = "on \(e.name)" + (a.map { " as \($0.name)" } ?? "") + (c.map { " where \(text($0))" } ?? "")
            case .daily(let t, _, _): trigger = "on daily at \(t.text)"
            case .when(let c, _): trigger += "\nwhen \(text(c))"
            case .goal(let e, let c, _): interrupts.append(("goal", "goal: \(e.name)" + (c.map { " where \(text($0))" } ?? "")))
            case .exitOn(let e, let c, _): interrupts.append(("exit on", "exit on \(e.name)" + (c.map { " where \(text($0))" } ?? "")))
            case .reentry(let r, _):
                switch r {
                case .never: trigger += "\nreentry never"
                case .always: trigger += "\nreentry always"
                case .after(let d): trigger += "\nreentry after \(d.text)"
                }
            case .maxDelay(let d, _): trigger += "\nmax_delay \(d?.text ?? "none")"
            case .forEach(let c, _): trigger += "\nfor each profile" + (c.map { " where \(text($0))" } ?? "")
            }
        }
        let start = node(trigger, .start)
        for (kind, label) in interrupts {
            let n = node(label, .note)
            graph.edges.append(FlowGraph.Edge(from: start, to: n, label: kind, dashed: true))
        }
        let loose = block(j.body.statements, [(start, "", nil)])
        if !loose.isEmpty { connect(loose, to: node("end", .end)) }
        return graph
    }

    /// Draws the steps; returns the loose ends after them (empty when every path exits).
    mutating func block(_ statements: [Stmt], _ incoming: Pending) -> Pending {
        var pending = incoming
        for s in statements {
            if pending.isEmpty { break }
            pending = statement(s, pending)
        }
        return pending
    }

    mutating func statement(_ s: Stmt, _ pending: Pending) -> Pending {
        switch s.kind {
        case .wait(let d):
            let n = node("wait \(d.text)", .wait, at: s.span.start)
            connect(pending, to: n)
            return [(n, "", nil)]
        case .waitUntil(let t):
            let n = node("wait until \(t.text)", .wait, at: s.span.start)
            connect(pending, to: n)
            return [(n, "", nil)]
        case .waitFor(let w):
            let label = "wait for \(w.event.name)" + (w.alias.map { " as \($0.name)" } ?? "") + (w.condition.map { " where \(text($0))" } ?? "") + " within \(w.within.text)"
            let n = node(label, .decision, at: s.span.start)
            connect(pending, to: n)
            let arrived = w.arrived.map { block($0.statements, [(n, "arrived", 1)]) } ?? [(n, "arrived", 1)]
            let timedOut = w.timedOut.map { block($0.statements, [(n, "timed out", 2)]) } ?? [(n, "timed out", 2)]
            return arrived + timedOut
        case .if(let branches, let elseBlock):
            var out: Pending = []
            var next = pending
            for (i, br) in branches.enumerated() {
                let n = node((i == 0 ? "if " : "else if ") + text(br.condition), .decision, at: tree.exprs.span(br.condition).start)
                connect(next, to: n)
                out += block(br.block.statements, [(n, "yes", 1)])
                next = [(n, "no", 2)]
            }
            out += elseBlock.map { block($0.statements, next) } ?? next
            return out
        case .split(let branches):
            let n = node("split", .decision, at: s.span.start)
            connect(pending, to: n)
            var out: Pending = []
            for (i, br) in branches.enumerated() {
                out += block(br.block.statements, [(n, br.percent.text + (br.label.map { " \($0.name)" } ?? ""), i + 1)])
            }
            return out
        case .send(let links):
            var ids: [String] = []
            for (k, link) in links.enumerated() {
                let n = node("\(link.channel.name): \(summary(link.message))", .send, at: s.span.start, link: k)
                if let p = ids.last { graph.edges.append(FlowGraph.Edge(from: p, to: n, label: "else", dashed: true)) }
                ids.append(n)
            }
            guard let f = ids.first else { return pending }
            connect(pending, to: f)
            // Whichever channel of the chain takes the message, the journey goes on: every
            // link leads to the next step.
            return ids.map { ($0, "", nil) }
        case .set(let attr, let value):
            let n = node("set profile.\(attr.name) = \(text(value))", .step, at: s.span.start)
            connect(pending, to: n)
            return [(n, "", nil)]
        case .exit:
            connect(pending, to: node("exit", .end, at: s.span.start))
            return []
        }
    }

    /// The first words of a message: its text, or its title / subject / text / body field.
    func summary(_ m: Message) -> String {
        func words(_ e: ExprID) -> String {
            guard case .string(let parts) = tree.exprs[e].kind else { return text(e) }
            var s = ""
            for p in parts {
                switch p {
                case .text(let t): s += t
                case .interpolation(let x): s += "{\(tree.source.slice(tree.exprs.span(x)))}"
                }
            }
            let w = s.split(whereSeparator: { $0 == " " || $0 == "\n" })
            return w.prefix(6).joined(separator: " ") + (w.count > 6 ? " …" : "")
        }
        switch m {
        case .text(let e): return words(e)
        case .template(let name, _): return "template " + words(name)
        case .fields(let b):
            for key in ["title", "subject", "text", "body", "content", "pass"] {
                if let f = b.fields.first(where: { $0.name.name == key }), case .expr(let e) = f.value { return words(e) }
            }
            return b.fields.map(\.name.name).joined(separator: ", ")
        }
    }
}

extension String {
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}
