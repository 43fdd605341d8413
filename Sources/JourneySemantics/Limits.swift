import JourneyDiagnostics
import JourneySyntax

/// The bundle format's limits: operand widths fix how many of each thing a project may have.
/// Each is checked where it is first known, so no index or count ever wraps. What only the
/// compiler knows (constants in the whole project, sends and conditions per journey) it checks
/// itself, with the same diagnostic.
public enum Limits {
    /// Fields of one event (a one-byte index; 255 itself means "no field").
    public static let eventFields = 255
    /// Profile attributes and declared events (two-byte indexes).
    public static let attributes = 65_535
    public static let events = 65_535
    /// Aliases and splits of one journey, each taking a local slot (one byte; 255 means none).
    public static let localsPerJourney = 255
    /// Pieces of one string: its text runs and `{…}` insertions.
    public static let stringParts = 255
    /// Items of a list literal (`make_list` counts them in a byte).
    public static let listItems = 255
    /// A cap's message count (four bytes).
    public static let capMessages = 4_294_967_295
    /// Distinct constants in a project, and sends, conditions and splits in one journey.
    public static let constants = 65_535
    public static let sendsPerJourney = 65_535
    public static let conditionsPerJourney = 65_534
    /// Money and decimal values are kept in millionths in 64 bits.
    public static let largestWholeNumber: Int64 = 9_223_372_036_854

    /// "65,535": a count as the diagnostics show it.
    public static func grouped(_ n: Int) -> String {
        let digits = Array(String(n))
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return out
    }
}

extension ProjectChecker {
    mutating func limit(_ file: String, _ span: Span, _ message: String, _ hint: String) {
        diagnostics.append(Self.limitDiagnostic(file, span, message, hint))
    }

    static func limitDiagnostic(_ file: String, _ span: Span, _ message: String, _ hint: String) -> Diagnostic {
        Diagnostic(SemanticCode.limitExceeded, file: file, span: span, message: message, label: "over the limit", hint: hint)
    }

    /// Every limit the project's source alone decides: the declarations' counts here, each
    /// file's own (journeys' locals, literals) from `fileLimits`, worked out beside its journeys.
    mutating func checkLimits() {
        var events = 0
        for (f, tree) in trees.enumerated() {
            let file = tree.source.path
            let own = f < fileLimits.count ? fileLimits[f] : FileLimits()
            var k = 0
            for decl in tree.decls {
                switch decl.kind {
                case .profile(let fields) where fields.count > Limits.attributes:
                    limit(file, fields[Limits.attributes].name.span, "the profile has \(Limits.grouped(fields.count)) attributes; a project may have at most \(Limits.grouped(Limits.attributes))",
                          "Keep what journeys need in the profile and the rest elsewhere.")
                case .event(let name, let fields, _):
                    events += 1
                    if events == Limits.events + 1 {
                        limit(file, name.span, "the project declares more than \(Limits.grouped(Limits.events)) events", "Merge events that differ only in a field.")
                    }
                    if fields.count > Limits.eventFields {
                        limit(file, fields[Limits.eventFields].name.span,
                              "event '\(name.name)' has \(fields.count) fields; an event may have at most \(Limits.eventFields)",
                              "Send only the fields journeys use; group the rest in fewer fields.")
                    }
                case .journey:
                    // In declaration order, as when this loop worked each journey's out itself.
                    if k < own.locals.count, let d = own.locals[k] { diagnostics.append(d) }
                    k += 1
                default:
                    break
                }
            }
            diagnostics.append(contentsOf: own.literals)
        }
    }

    /// What one file's own limits say: each journey's locals (by its place among the file's
    /// journeys), then its literals.
    struct FileLimits {
        var locals: [Diagnostic?] = []
        var literals: [Diagnostic] = []
    }

    /// The limits one file decides on its own: each journey's locals, and its literals (a
    /// coalesced int's size depends on the types, so this runs after the file's journeys).
    static func fileLimits(_ tree: SyntaxTree, types: [JType]) -> FileLimits {
        var out = FileLimits()
        let file = tree.source.path
        func diagnostic(_ span: Span, _ message: String, _ hint: String) -> Diagnostic {
            limitDiagnostic(file, span, message, hint)
        }
        func limit(_ span: Span, _ message: String, _ hint: String) {
            out.literals.append(diagnostic(span, message, hint))
        }
        for decl in tree.decls {
            guard case .journey(let j) = decl.kind else { continue }
            out.locals.append(Self.tooManyLocals(j).map { over in
                diagnostic(over.at, "journey '\(j.name.name)' has \(over.count) aliases and splits; a journey may have at most \(Limits.localsPerJourney)",
                           "Split the journey into several journeys.")
            })
        }
        for (k, node) in tree.exprs.nodes.enumerated() {
            switch node.kind {
            case .binary(.coalesce, _, let r):
                // `x ?? 12` takes the type of x: as money or decimal, 12 becomes millionths.
                guard case .integer(let v) = tree.exprs[r].kind, v.magnitude > UInt64(Limits.largestWholeNumber),
                      k < types.count, types[k].unwrapped == .money || types[k].unwrapped == .decimal else { continue }
                limit(tree.exprs.span(r), "the number \(v) is too large for \(types[k].unwrapped); it may be at most \(Limits.largestWholeNumber)",
                      "Use a smaller number.")
            case .string(let parts) where parts.count > Limits.stringParts:
                limit(node.span, "this text has \(parts.count) pieces (text and {…} insertions); one text may have at most \(Limits.stringParts)",
                      "Split the message into several fields, or insert fewer values.")
            case .list(let items) where items.count > Limits.listItems:
                limit(node.span, "this list has \(items.count) items; a list written in a journey may have at most \(Limits.listItems)",
                      "Keep long lists in a profile attribute or an event field, and test them with 'in'.")
            case .decimal(let text) where Self.wholePart(text) > Limits.largestWholeNumber:
                limit(node.span, "the number \(text) is too large; numbers with decimals may be at most \(Limits.largestWholeNumber).999999",
                      "Use a smaller number.")
            default:
                break
            }
        }
        return out
    }

    /// Aliases and splits each hold a local slot of their journey: the first one past the
    /// limit, and how many there are, when there are too many.
    static func tooManyLocals(_ j: JourneyDecl) -> (at: Span, count: Int)? {
        var spans: [Span] = []
        for clause in j.header { if case .on(_, let alias?, _, _) = clause { spans.append(alias.span) } }
        func walk(_ statements: [Stmt]) {
            for s in statements {
                switch s.kind {
                case .waitFor(let w):
                    if let a = w.alias { spans.append(a.span) }
                    walk(w.arrived?.statements ?? [])
                    walk(w.timedOut?.statements ?? [])
                case .if(let branches, let elseBlock):
                    for b in branches { walk(b.block.statements) }
                    walk(elseBlock?.statements ?? [])
                case .split(let branches):
                    spans.append(s.span)
                    for b in branches { walk(b.block.statements) }
                default:
                    break
                }
            }
        }
        walk(j.body.statements)
        return spans.count > Limits.localsPerJourney ? (spans[Limits.localsPerJourney], spans.count) : nil
    }

    /// The whole part of a decimal literal, saturating at Int64.max.
    static func wholePart(_ text: String) -> Int64 {
        var v: Int64 = 0
        for c in text.utf8 {
            guard c >= 0x30, c <= 0x39 else { break }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(c - 0x30))
            if o1 || o2 { return Int64.max }
            v = a
        }
        return v
    }
}
