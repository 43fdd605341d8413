import JourneyBytecode
import JourneyDiagnostics
import JourneySemantics
import JourneySyntax

/// One small change to a journey, as an edit of its source text.
public struct Mutant: Sendable {
    public var file: String
    public var span: Span
    public var replacement: String
    /// What changed, as a person says it ("wait 1h became wait 2h").
    public var description: String
    public var line: Int
    public var column: Int
}

/// What became of a mutant when the tests ran against it.
public enum MutantFate: Sendable {
    /// A test failed: the tests notice this change.
    case killed(by: String)
    /// Every test passed: a journey broken this way would go live unseen.
    case survived
    /// The change does not check (or build): not a journey anyone could deploy.
    case invalid
}

/// Mutation testing for journeys: small changes to the journeys, one at a time (a wait's
/// duration, a comparison, a condition, a goal, a send, a fallback order, a profile update), each
/// run against the project's tests.
public enum Mutator {
    /// Every mutant of the project's journeys (tests and schema are left alone).
    public static func mutants(_ trees: [SyntaxTree]) -> [Mutant] {
        var out: [Mutant] = []
        for tree in trees {
            for d in tree.decls {
                guard case .journey(let j) = d.kind else { continue }
                var m = Collector(tree: tree)
                m.journey(j)
                out += m.mutants
            }
        }
        return out
    }

    /// Runs the tests against each mutant (tests in parallel within a mutant).
    /// `base` are the unmutated sources' trees, in the same order.
    public static func run(_ sources: [SourceFile], _ base: [SyntaxTree], paths: [String: String], mutants: [Mutant], progress: (Int, Mutant, MutantFate) -> Void = { _, _, _ in }) -> [(Mutant, MutantFate)] {
        var results: [(Mutant, MutantFate)] = []
        for (k, m) in mutants.enumerated() {
            var trees = base
            guard let i = sources.firstIndex(where: { $0.path == m.file }) else { continue }
            var bytes = sources[i].bytes
            bytes.replaceSubrange(m.span.start..<m.span.end, with: Array(m.replacement.utf8))
            trees[i] = Parser.parse(SourceFile(path: m.file, bytes: bytes))
            let fate: MutantFate
            let checked = check(trees)
            if checked.hasErrors {
                fate = .invalid
            } else if let bundle = try? Compiler.compile(trees, checked, sourcePaths: paths) {
                let outcomes = TestRunner.run(trees, checked, bundle: bundle)
                if let failed = outcomes.first(where: { !$0.passed }) { fate = .killed(by: failed.name) } else { fate = .survived }
            } else {
                fate = .invalid
            }
            progress(k, m, fate)
            results.append((m, fate))
        }
        return results
    }
}

/// Walks one journey and proposes its mutants.
struct Collector {
    let tree: SyntaxTree
    var mutants: [Mutant] = []

    init(tree: SyntaxTree) { self.tree = tree }

    func text(_ span: Span) -> String { tree.source.slice(span) }

    mutating func add(_ span: Span, _ replacement: String, _ description: String) {
        let at = tree.source.location(of: span.start)
        mutants.append(Mutant(file: tree.source.path, span: span, replacement: replacement, description: description, line: at.line, column: at.column))
    }

    mutating func journey(_ j: JourneyDecl) {
        for clause in j.header {
            if case .goal(let event, _, let span) = clause {
                add(span, "", "the goal \(event.name) was removed")
            }
        }
        block(j.body.statements)
    }

    mutating func block(_ statements: [Stmt]) {
        for s in statements { statement(s) }
    }

    mutating func duration(_ d: DurationLit, _ what: String) {
        guard !d.negative else { return }
        let doubled = "\(d.amount * 2)\(d.unit.letter)"
        add(d.span, doubled, "\(what) \(d.text) became \(doubled)")
        if d.amount > 1, d.amount % 2 == 0 {
            let halved = "\(d.amount / 2)\(d.unit.letter)"
            add(d.span, halved, "\(what) \(d.text) became \(halved)")
        }
    }

    mutating func statement(_ s: Stmt) {
        switch s.kind {
        case .wait(let d):
            duration(d, "wait")
        case .waitUntil:
            break
        case .waitFor(let w):
            duration(w.within, "wait for \(w.event.name) within")
            if let c = w.condition { expression(c) }
            if let b = w.arrived { block(b.statements) }
            if let b = w.timedOut { block(b.statements) }
        case .if(let branches, let elseBlock):
            for br in branches {
                let span = tree.exprs.span(br.condition)
                add(span, "not (\(text(span)))", "the condition '\(text(span))' was negated")
                expression(br.condition)
                block(br.block.statements)
            }
            if let e = elseBlock { block(e.statements) }
        case .split(let branches):
            for br in branches { block(br.block.statements) }
        case .send(let links):
            add(s.span, "", "the send on \(links.map(\.channel.name).joined(separator: " else ")) was removed")
            if links.count >= 2 {
                // The first two links of the fallback chain change places.
                let a = links[0], b = links[1]
                let between = tree.source.slice(Span(a.span.end, b.span.start))
                add(Span(a.span.start, b.span.end), text(b.span) + between + text(a.span), "the fallback order \(a.channel.name) else \(b.channel.name) was swapped")
            }
            for l in links {
                switch l.message {
                case .text(let e): expression(e)
                default: break
                }
            }
        case .set(let attribute, let value):
            add(s.span, "", "the update of profile.\(attribute.name) was removed")
            expression(value)
        case .exit:
            break
        }
    }

    /// Comparisons inside a condition: each operator swapped for its neighbour.
    mutating func expression(_ e: ExprID) {
        guard tree.exprs.depth(e) < 64 else { return }
        switch tree.exprs[e].kind {
        case .binary(let op, let l, let r):
            if op.isComparison {
                let gap = Span(tree.exprs.span(l).end, tree.exprs.span(r).start)
                let between = text(gap)
                if let range = between.range(of: op.rawValue) {
                    let start = gap.start + between.utf8.distance(from: between.startIndex, to: range.lowerBound)
                    let swapped: BinaryOp = switch op {
                    case .less: .lessEqual
                    case .lessEqual: .less
                    case .greater: .greaterEqual
                    case .greaterEqual: .greater
                    case .equal: .notEqual
                    case .in: .notIn
                    case .notIn: .in
                    default: .equal
                    }
                    add(Span(start, start + op.rawValue.utf8.count), swapped.rawValue,
                        "\(text(tree.exprs.span(e))) became \(text(tree.exprs.span(l))) \(swapped.rawValue) \(text(tree.exprs.span(r)))")
                }
            }
            expression(l)
            expression(r)
        case .unary(_, let x), .paren(let x), .member(let x, _):
            expression(x)
        case .history(let q):
            if let c = q.condition { expression(c) }
            if let w = q.within { duration(w, "\(q.function.name)(…) within") }
        case .string(let parts):
            for case .interpolation(let x) in parts { expression(x) }
        case .list(let items), .call(_, let items):
            for x in items { expression(x) }
        default:
            break
        }
    }
}
