import JourneyDiagnostics
import JourneySyntax

/// Checks one journey: header, statements, sends; writes expression types into a side table.
struct JourneyChecker {
    let schema: Schema
    let tree: SyntaxTree
    let journey: JourneyDecl
    let exprs: ExprArena
    var file: String { tree.source.path }
    var types: [JType]
    var diagnostics: [Diagnostic] = []
    /// Every alias bound in the journey, and the ones used.
    var aliases: [(name: String, span: Span)] = []
    var usedAliases: Set<Int> = []
    /// Paths the journey's `when` tested for none: they are not narrowed in the steps (the
    /// profile may change during a wait), and J0302's help says so.
    var testedByWhen: Set<String> = []
    /// A file with parse errors lost some steps: lints that need the whole journey stay quiet.
    let incomplete: Bool
    /// The paths `checkCap` worked out, for the project's checks across journeys.
    var capPaths: CapPaths?

    init(schema: Schema, tree: SyntaxTree, journey: JourneyDecl, types: [JType]) {
        self.schema = schema
        self.tree = tree
        self.exprs = tree.exprs
        self.incomplete = tree.diagnostics.contains { $0.severity == .error }
        self.journey = journey
        self.types = types
    }

    mutating func report(_ code: DiagnosticCode, _ span: Span, _ message: String, label: String = "", hint: String? = nil) {
        diagnostics.append(Diagnostic(code, file: file, span: span, message: message, label: label, hint: hint))
    }

    mutating func run() {
        var scope = Scope()
        var hasGoal = false
        if let t = journey.title, case .string(let parts) = exprs[t].kind, parts.contains(where: { if case .interpolation = $0 { true } else { false } }) {
            report(SemanticCode.typeMismatch, exprs.span(t), "a journey's title must be fixed text", label: "no '{…}' here",
                   hint: "Write the title without inserted values; write {{ and }} for literal braces.")
        }
        // The trigger first: its alias is in scope everywhere in the journey.
        var trigger: (event: Ident, schema: EventSchema?, alias: Ident?)?
        let forEach = journey.header.first { if case .forEach = $0 { true } else { false } }
        for clause in journey.header {
            switch clause {
            case .on(let event, let alias, _, _):
                let ev = lookupEvent(event)
                trigger = (event, ev, alias)
                if let a = alias { bind(a, event: ev != nil ? event.name : nil, in: &scope) }
                if let ev, ev.catalog, forEach == nil {
                    report(SemanticCode.catalogEventMisuse, event.span, "'\(event.name)' is a catalog event, about a product rather than one profile: say which profiles enter",
                           label: "for whom?", hint: "Add 'for each profile where …' under 'on \(event.name)\(alias.map { " as \($0.name)" } ?? "")', e.g. 'for each profile where exists(product_viewed where product_id == \(alias?.name ?? "x").product_id within 30d)'.")
                }
            case .daily(_, let alias, _):
                scope.audience = true
                if let a = alias {
                    report(SemanticCode.aliasInAudience, a.span, "an audience journey ('on daily at') has no trigger event to name '\(a.name)'",
                           label: "no event to bind", hint: "Remove 'as \(a.name)'; filter the audience with 'when' on the profile and its history.")
                    scope.aliases[a.name] = Alias(event: nil, span: a.span)
                }
            default: break
            }
        }
        for clause in journey.header {
            switch clause {
            case .on(let event, _, let cond, _):
                if let c = cond { checkCondition(c, scope.with(bareFields: schema.events[event.name])) }
            case .daily: break
            case .when(let c, _):
                testedByWhen = checkCondition(c, scope).whenTrue
            case .goal(let event, let cond, _):
                hasGoal = true
                let ev = profileEvent(event, "no profile can reach it as a goal")
                if let c = cond { checkCondition(c, scope.with(bareFields: ev)) }
            case .exitOn(let event, let cond, _):
                let ev = profileEvent(event, "no profile can exit on it")
                if let c = cond { checkCondition(c, scope.with(bareFields: ev)) }
            case .reentry(let r, _):
                if case .after(let d) = r { checkPositive(d, "the re-entry delay") }
            case .forEach(let cond, let span):
                if scope.audience {
                    report(SemanticCode.catalogEventMisuse, span, "an audience journey ('on daily at') already runs over every profile", label: "not here",
                           hint: "Remove 'for each profile'; filter the audience with 'when'.")
                } else if let t = trigger, let ev = t.schema, !ev.catalog {
                    report(SemanticCode.catalogEventMisuse, span, "'for each profile' needs a catalog event, but '\(t.event.name)' is an event of one profile", label: "one profile only",
                           hint: "Declare the event as 'catalog event \(t.event.name) { … }' (it then comes without a profile), or remove 'for each profile'.")
                } else if trigger?.schema != nil {
                    if let c = cond { checkCondition(c, scope) }
                    if !incomplete, AudiencePlanner(exprs: exprs, schema: schema, alias: trigger?.alias?.name, trigger: trigger?.event.name).anchors(cond) == nil {
                        report(SemanticCode.unindexedAudience, cond.map { exprs.span($0) } ?? span,
                               "every profile will be tested each time '\(trigger?.event.name ?? "")' arrives: nothing here narrows them through the history index",
                               label: "scans every profile",
                               hint: "Begin with a condition such as exists(product_viewed where product_id == \(trigger?.alias?.name ?? "alias").product_id within 30d), joined with 'and'.")
                    }
                }
            case .maxDelay(let d, let span):
                if let d { checkPositive(d, "the max_delay") }
                if scope.audience {
                    report(SemanticCode.invalidPolicy, span, "an audience journey has no trigger event for 'max_delay' to judge", label: "no trigger",
                           hint: "Remove 'max_delay'; it applies to journeys that start 'on EVENT'.")
                }
            }
        }
        _ = checkBlock(journey.body.statements, scope)
        for a in aliases where !incomplete && !usedAliases.contains(a.span.start) {
            report(SemanticCode.unusedAlias, a.span, "the alias '\(a.name)' is never used", label: "unused", hint: "Remove 'as \(a.name)', or use it.")
        }
        if !hasGoal, !incomplete {
            report(SemanticCode.noGoal, journey.name.span, "the journey '\(journey.name.name)' has no goal", label: "no goal",
                   hint: "Add 'goal EVENT' (e.g. 'goal order_placed') so conversions are counted and converted customers leave the journey.")
        }
        if !incomplete {
            checkCap()
            checkContradictions()
        }
    }

    /// Binds an alias; `event` is nil when the event is unknown (already reported), so uses of
    /// the alias are not reported again.
    mutating func bind(_ alias: Ident, event: String?, in scope: inout Scope) {
        if let outer = scope.aliases[alias.name] {
            report(SemanticCode.duplicateDeclaration, alias.span, "the alias '\(alias.name)' is already bound (line \(tree.source.location(of: outer.span.start).line))",
                   label: "bound again", hint: "Choose another name for this alias.")
        }
        scope.aliases[alias.name] = Alias(event: event, span: alias.span)
        aliases.append((alias.name, alias.span))
    }

    mutating func lookupEvent(_ name: Ident) -> EventSchema? {
        if let e = schema.events[name.name] { return e }
        let s = suggestion(for: name.name, among: schema.events.keys)
        report(SemanticCode.unknownEvent, name.span, "'\(name.name)' is not a declared event" + (s.map { "; did you mean '\($0)'?" } ?? ""),
               label: "unknown event", hint: s.map { "did you mean '\($0)'?" } ?? "Declare it in the schema: 'event \(name.name) { … }'.")
        return nil
    }

    /// An event that happens to one profile: a catalog event is refused where one is needed
    /// (goals, exits, `wait for`, history queries).
    mutating func profileEvent(_ name: Ident, _ use: @autoclosure () -> String) -> EventSchema? {
        guard let e = lookupEvent(name) else { return nil }
        if e.catalog {
            report(SemanticCode.catalogEventMisuse, name.span, "'\(name.name)' is a catalog event: it happens to no profile, so \(use())", label: "not a profile's event",
                   hint: "Use an event of the profile here; a catalog event can only start a journey, with 'for each profile where …'.")
        }
        return e
    }

    mutating func checkPositive(_ d: DurationLit, _ what: @autoclosure () -> String) {
        if d.seconds <= 0 {
            report(SemanticCode.nonPositiveDuration, d.span, "\(what()) must be longer than zero, not \(d.text)", label: "not a positive duration",
                   hint: "Use a positive duration such as 1h or 2d.")
        }
    }

    // MARK: - Statements

    /// Checks a block; returns whether it always ends in `exit`, and what is narrowed at its end.
    mutating func checkBlock(_ statements: [Stmt], _ outer: Scope) -> (terminates: Bool, narrowed: Set<String>) {
        var scope = outer
        var terminated = false
        var reportedUnreachable = false
        for stmt in statements {
            if terminated, !reportedUnreachable {
                reportedUnreachable = true
                report(SemanticCode.unreachable, stmt.span, "this step can never run: the journey has already exited", label: "unreachable",
                       hint: "Remove it, or move it before the 'exit'.")
            }
            if checkStatement(stmt, &scope) { terminated = true }
        }
        return (terminated, scope.narrowed)
    }

    /// Checks one statement; true when it always exits.
    mutating func checkStatement(_ stmt: Stmt, _ scope: inout Scope) -> Bool {
        switch stmt.kind {
        case .wait(let d):
            checkPositive(d, "a wait")
            return false
        case .waitUntil:
            return false
        case .waitFor(let w):
            let ev = profileEvent(w.event, "no profile can wait for it")
            // The alias names the awaited event in its own `where` and in the arrived block.
            var inner = scope
            if let a = w.alias { bind(a, event: ev == nil ? nil : w.event.name, in: &inner) }
            if let c = w.condition { checkCondition(c, inner.with(bareFields: ev)) }
            checkPositive(w.within, "the time to wait for \(w.event.name)")
            var paths: [(Bool, Set<String>)] = []
            if let b = w.arrived {
                paths.append(checkBlock(b.statements, inner))
            } else {
                paths.append((false, scope.narrowed))
            }
            if let b = w.timedOut {
                paths.append(checkBlock(b.statements, scope))
            } else {
                paths.append((false, scope.narrowed))
            }
            return join(paths, &scope)
        case .if(let branches, let elseBlock):
            var base = scope
            var paths: [(Bool, Set<String>)] = []
            for br in branches {
                let n = checkCondition(br.condition, base)
                var inBranch = base
                inBranch.narrowed.formUnion(n.whenTrue)
                paths.append(checkBlock(br.block.statements, inBranch))
                base.narrowed.formUnion(n.whenFalse)
            }
            if let e = elseBlock {
                paths.append(checkBlock(e.statements, base))
            } else {
                paths.append((false, base.narrowed))
            }
            return join(paths, &scope)
        case .split(let branches):
            checkSplit(branches, span: stmt.span)
            let paths = branches.map { checkBlock($0.block.statements, scope) }
            return join(paths, &scope)
        case .send(let links):
            checkSend(links, scope)
            return false
        case .set(let attr, let value):
            let t = check(value, scope)
            guard let field = schema.attribute(attr.name) else {
                if schema.hasProfile { unknownAttribute(attr) }
                return false
            }
            expect(t, field.type, at: value, what: "the value of profile.\(attr.name)")
            let key = "profile.\(attr.name)"
            if t.isOptional { scope.narrowed.remove(key) } else { scope.narrowed.insert(key) }
            return false
        case .exit:
            return true
        }
    }

    /// After branches: the construct exits when every path does; narrowings that hold on every
    /// path that goes on hold after it.
    func join(_ paths: [(Bool, Set<String>)], _ scope: inout Scope) -> Bool {
        let open = paths.filter { !$0.0 }
        guard !paths.isEmpty else { return false }
        guard let first = open.first else { return true }
        scope.narrowed = open.dropFirst().reduce(first.1) { $0.intersection($1.1) }
        return false
    }

    mutating func checkSplit(_ branches: [SplitBranch], span: Span) {
        var total = 0
        var labels: [String: Int] = [:]
        for b in branches {
            if let l = b.label {
                if let first = labels[l.name] {
                    report(SemanticCode.duplicateDeclaration, l.span, "the split already has a branch labelled '\(l.name)' (line \(first))", label: "second '\(l.name)'",
                           hint: "Give each branch its own label: the analytics count branches by label.")
                } else {
                    labels[l.name] = tree.source.location(of: l.span.start).line
                }
            }
            total += b.percent.basisPoints
            if !b.percent.exact {
                report(SemanticCode.splitPrecision, b.percent.span, "split shares are whole basis points: \(b.percent.text) has more than two decimals",
                       label: "too precise", hint: "Round it to two decimals (e.g. 12.56%) and keep the total at exactly 100%.")
                return
            }
            if b.percent.basisPoints <= 0 {
                report(SemanticCode.emptySplitBranch, b.percent.span, "a split branch of \(b.percent.text) never runs", label: "0%",
                       hint: "Give the branch a share above 0%, or remove it.")
            }
        }
        if total != 10_000, !incomplete {
            let shown = total % 100 == 0 ? "\(total / 100)%" : "\(Double(total) / 100)%"
            report(SemanticCode.splitNotWhole, Span(span.start, span.start + 5), "the split's branches add up to \(shown), not 100%",
                   label: "sums to \(shown)", hint: "Make the percentages add up to exactly 100%.")
        }
    }

    mutating func unknownAttribute(_ attr: Ident) {
        let s = suggestion(for: attr.name, among: schema.profile.map(\.name))
        report(SemanticCode.unknownAttribute, attr.span, "`profile.\(attr.name)` is not a profile attribute" + (s.map { "; did you mean `\($0)`?" } ?? ""),
               label: "not in the profile", hint: s.map { "did you mean '\($0)'?" } ?? "Declare it in 'profile { … }' in the schema.")
    }
}

extension Scope {
    /// The scope inside a `where` over `event`: its fields by bare name. Narrowings of bare names
    /// from an outer `where` speak of another event, so they are dropped.
    func with(bareFields event: EventSchema?) -> Scope {
        var s = self
        s.bareFields = event
        s.unknownBareFields = event == nil
        if !s.narrowed.isEmpty { s.narrowed = s.narrowed.filter { $0.contains(".") } }
        return s
    }
}
