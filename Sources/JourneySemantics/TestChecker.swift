import JourneyDiagnostics
import JourneySyntax

/// The states `expect P is STATE in JOURNEY` knows.
public let testStates = ["waiting", "converted", "exited", "completed", "failed", "not"]
/// The statuses `expect CHANNEL to P status S` knows.
public let testStatuses = ["sent", "suppressed"]

extension ProjectChecker {
    /// Tests and fixtures, against the schema and the journeys: every name known, every value a
    /// literal of its field's type, times in order.
    mutating func checkTests() {
        // Most projects have no tests: then there is nothing to gather.
        guard trees.contains(where: { $0.decls.contains { switch $0.kind { case .test, .fixture: true; default: false } } }) else { return }
        var journeys: [String: JourneyDecl] = [:]
        var fixtures: [String: Origin] = [:]
        var tests: [String: Origin] = [:]
        for tree in trees {
            for decl in tree.decls {
                switch decl.kind {
                case .journey(let j): journeys[j.name.name] = journeys[j.name.name] ?? j
                case .fixture(let g):
                    if let first = fixtures[g.name.name] {
                        duplicate("the profile '\(g.name.name)'", tree.source.path, g.name.span, first: first)
                    } else {
                        fixtures[g.name.name] = Origin(file: tree.source.path, span: g.name.span)
                    }
                default: break
                }
            }
        }
        for tree in trees {
            for decl in tree.decls {
                switch decl.kind {
                case .fixture(let g):
                    checkGiven(g, tree, known: Set(fixtures.keys).subtracting([g.name.name]))
                case .test(let t):
                    if let first = tests[t.name] {
                        duplicate("the test \"\(t.name)\"", tree.source.path, t.nameSpan, first: first)
                    } else {
                        tests[t.name] = Origin(file: tree.source.path, span: t.nameSpan)
                    }
                    checkTest(t, tree, journeys: journeys, fixtures: Set(fixtures.keys))
                default: break
                }
            }
        }
    }

    mutating func checkGiven(_ g: GivenProfile, _ tree: SyntaxTree, known: Set<String>) {
        let file = tree.source.path
        if let b = g.base, !known.contains(b.name) {
            report(SemanticCode.unknownTestProfile, file, b.span, "no profile '\(b.name)' is given to start from",
                   label: "not given", hint: Self.didYouMean(b.name, known) ?? "Give it first: 'given profile \(b.name) { … }' (in the test, or outside every test to share it).")
        }
        let schema = self.schema
        checkFields(g.fields, tree, owner: "profile") { name in schema.attribute(name)?.type }
    }

    /// Each field known and given once, its value a literal of its type.
    mutating func checkFields(_ fields: [TestField], _ tree: SyntaxTree, owner: String, type: (String) -> JType?) {
        let file = tree.source.path
        var seen: [String: Span] = [:]
        for f in fields {
            if let first = seen[f.name.name] {
                report(SemanticCode.duplicateField, file, f.name.span, "'\(f.name.name)' is given twice", label: "given again",
                       notes: [Label(file: file, span: first, message: "first given here")])
                continue
            }
            seen[f.name.name] = f.name.span
            guard let t = type(f.name.name) else {
                let code = owner == "profile" ? SemanticCode.unknownAttribute : SemanticCode.unknownField
                report(code, file, f.name.span, owner == "profile" ? "the profile has no attribute '\(f.name.name)'" : "\(owner) has no field '\(f.name.name)'",
                       label: "unknown", hint: Self.didYouMean(f.name.name, owner == "profile" ? schema.profile.map(\.name) : []) ?? (owner == "profile" ? "Give attributes the schema's profile declares." : "Give fields the event declares."))
                continue
            }
            if t != .error, Self.literal(f.value, t, in: tree) == nil {
                report(SemanticCode.invalidTestValue, file, tree.exprs.span(f.value), "'\(f.name.name)' is \(Self.a(t)); this is not a plain \(t.unwrapped) literal\(t.isOptional ? " or none" : "")",
                       label: "expected \(Self.a(t.unwrapped))", hint: "Write a literal of the field's type, e.g. \(Self.example(t)).")
            }
        }
    }

    /// "a money", "an int".
    static func a(_ t: JType) -> String {
        let s = "\(t)"
        return (["a", "e", "i", "o", "u"].contains(s.first.map(String.init) ?? "") ? "an " : "a ") + s
    }

    static func example(_ t: JType) -> String {
        switch t.unwrapped {
        case .bool: "true"
        case .int: "3"
        case .decimal, .money: "120 or 19.90"
        case .string, .url: "\"text\""
        case .date: "2025-03-01"
        case .duration: "2h"
        case .time: "2025-03-01T10:00:00Z"
        default: "a literal"
        }
    }

    /// "Did you mean …?" for the closest of `candidates`.
    static func didYouMean(_ name: String, _ candidates: some Sequence<String>) -> String? {
        suggestion(for: name, among: Array(candidates)).map { "Did you mean '\($0)'?" }
    }

    mutating func checkTest(_ t: TestDecl, _ tree: SyntaxTree, journeys: [String: JourneyDecl], fixtures: Set<String>) {
        let file = tree.source.path
        var profiles: [String: Span] = [:]
        var last: Int64?
        var only: Ident?
        func profile(_ p: Ident) {
            guard profiles[p.name] == nil else { return }
            report(SemanticCode.unknownTestProfile, file, p.span, "no profile '\(p.name)' is given in this test", label: "not given",
                   hint: Self.didYouMean(p.name, profiles.keys) ?? "Give it first: 'given profile \(p.name) { … }'.")
        }
        func journey(_ j: Ident) -> JourneyDecl? {
            if let d = journeys[j.name] { return d }
            report(SemanticCode.unknownJourney, file, j.span, "no journey is named '\(j.name)'", label: "unknown journey",
                   hint: Self.didYouMean(j.name, journeys.keys) ?? "Name a journey of the project.")
            return nil
        }
        func channel(_ c: Ident) {
            guard schema.channels[c.name] == nil else { return }
            report(SemanticCode.undeclaredChannel, file, c.span, "the schema declares no channel '\(c.name)'", label: "undeclared channel",
                   hint: Self.didYouMean(c.name, schema.channels.keys) ?? "Declare it: 'channel \(c.name) address profile.ATTRIBUTE'.")
        }
        /// The instant a time stands for, given the last one; nil for a relative time with nothing before it.
        func instant(_ time: TestTime, moving: Bool) -> Int64? {
            switch time {
            case .absolute(let at, let span):
                if moving, let l = last, at < l {
                    report(SemanticCode.testTimeOrder, file, span, "this is earlier than the test's previous time", label: "time goes back",
                           hint: "Write a test's steps in time order: each 'at' at or after the one before.")
                }
                return at
            case .relative(let d):
                guard let l = last else {
                    report(SemanticCode.testTimeOrder, file, d.span, "'\(d.text)' after what? The test has no time yet", label: "no time before",
                           hint: "Start with an absolute time such as 'at 2025-03-01T10:00:00Z'.")
                    return nil
                }
                if d.seconds <= 0 { report(SemanticCode.nonPositiveDuration, file, d.span, "a time after the last one must be later", label: "not after") }
                return l + d.seconds
            }
        }
        func window(_ w: TestWindow?) {
            switch w {
            case nil: break
            case .at(let a), .after(let a), .before(let a): _ = instant(a, moving: false)
            case .between(let a, let b):
                if let x = instant(a, moving: false), let y = instant(b, moving: false), y < x {
                    report(SemanticCode.testTimeOrder, file, b.span, "the window ends before it starts", label: "before the start")
                }
            }
        }
        for s in t.statements {
            switch s.kind {
            case .given(let g):
                if let first = profiles[g.name.name] {
                    report(SemanticCode.duplicateDeclaration, file, g.name.span, "the profile '\(g.name.name)' is given twice in this test", label: "given again",
                           notes: [Label(file: file, span: first, message: "first given here")])
                }
                checkGiven(g, tree, known: fixtures.union(profiles.keys))
                profiles[g.name.name] = g.name.span
            case .only(let j):
                if let first = only {
                    report(SemanticCode.duplicateDeclaration, file, j.span, "the test already runs only '\(first.name)'", label: "second 'only'")
                }
                only = j
                _ = journey(j)
            case .at(let time, let p, let event, let fields):
                if let at = instant(time, moving: true) { last = max(last ?? at, at) }
                guard let p, let event else { continue }
                if !p.name.isEmpty { profile(p) }
                guard let e = schema.events[event.name] else {
                    report(SemanticCode.unknownEvent, file, event.span, "the schema declares no event '\(event.name)'", label: "unknown event",
                           hint: Self.didYouMean(event.name, schema.events.keys) ?? "Declare it: 'event \(event.name) { … }'.")
                    continue
                }
                if e.catalog, !p.name.isEmpty {
                    report(SemanticCode.catalogEventMisuse, file, event.span, "'\(event.name)' is a catalog event: no profile does it", label: "not a profile's event",
                           hint: "Write 'at TIME catalog \(event.name) { … }'.")
                } else if !e.catalog, p.name.isEmpty {
                    report(SemanticCode.catalogEventMisuse, file, event.span, "'\(event.name)' is an event of one profile, not a catalog event", label: "whose?",
                           hint: "Write 'at TIME PROFILE does \(event.name) { … }'.")
                }
                checkFields(fields, tree, owner: "event '\(event.name)'") { e.field($0)?.type }
            case .expect(let x):
                switch x {
                case .message(let c, let p, let w, let status, let j, let containing, let fields):
                    channel(c)
                    profile(p)
                    window(w)
                    if let st = status, !testStatuses.contains(st.name) {
                        report(SemanticCode.unknownTestState, file, st.span, "a message's status here is sent or suppressed, not '\(st.name)'", label: "unknown status",
                               hint: "An undeliverable send is no message to the profile: say 'expect nothing on \(c.name) to \(p.name)'.")
                    }
                    if let j { _ = journey(j) }
                    if let e = containing, case .string(let parts) = tree.exprs[e].kind, parts.contains(where: { if case .interpolation = $0 { true } else { false } }) {
                        report(SemanticCode.invalidTestValue, file, tree.exprs.span(e), "the text to look for cannot hold '{…}'", label: "plain text only")
                    }
                    for f in fields where Self.literal(f.value, .string, in: tree) == nil && Self.literal(f.value, .money, in: tree) == nil
                        && Self.literal(f.value, .bool, in: tree) == nil {
                        report(SemanticCode.invalidTestValue, file, tree.exprs.span(f.value), "a message field's expected value is a plain literal", label: "not a literal")
                    }
                case .nothing(let c, let p, let j, let w):
                    if let c { channel(c) }
                    profile(p)
                    if let j { _ = journey(j) }
                    window(w)
                case .state(let p, let state, let j):
                    profile(p)
                    if !testStates.contains(state.name) {
                        report(SemanticCode.unknownTestState, file, state.span, "'\(state.name)' is not a state of a journey", label: "unknown state",
                               hint: Self.didYouMean(state.name, testStates) ?? "The states are waiting, converted, exited, completed and failed; or say 'is not in JOURNEY'.")
                    }
                    _ = journey(j)
                case .branch(let p, let j, let branch):
                    profile(p)
                    if let d = journey(j) {
                        let labels = Self.splitLabels(d.body.statements)
                        if !labels.contains(branch.name) {
                            report(SemanticCode.unknownTestState, file, branch.span, labels.isEmpty ? "the journey '\(j.name)' has no labelled split branch" : "the journey '\(j.name)' has no split branch '\(branch.name)'",
                                   label: "unknown branch", hint: Self.didYouMean(branch.name, labels) ?? (labels.isEmpty ? "Label its split's branches: '50% treatment { … }'." : "Its branches are \(labels.joined(separator: ", "))."))
                        }
                    }
                case .attribute(let p, let attribute, let value):
                    profile(p)
                    guard let a = schema.attribute(attribute.name) else {
                        report(SemanticCode.unknownAttribute, file, attribute.span, "the profile has no attribute '\(attribute.name)'", label: "unknown",
                               hint: Self.didYouMean(attribute.name, schema.profile.map(\.name)))
                        continue
                    }
                    if a.type != .error, Self.literal(value, a.type, in: tree) == nil {
                        report(SemanticCode.invalidTestValue, file, tree.exprs.span(value), "'\(attribute.name)' is \(Self.a(a.type)); this is not a plain \(a.type.unwrapped) literal\(a.type.isOptional ? " or none" : "")",
                               label: "expected \(Self.a(a.type.unwrapped))", hint: "Write a literal of the attribute's type, e.g. \(Self.example(a.type)).")
                    }
                }
            }
        }
    }

    /// The labels of every split branch in a journey's steps.
    static func splitLabels(_ statements: [Stmt]) -> [String] {
        var out: [String] = []
        for s in statements {
            switch s.kind {
            case .split(let branches):
                for b in branches {
                    if let l = b.label { out.append(l.name) }
                    out += splitLabels(b.block.statements)
                }
            case .if(let branches, let e):
                for b in branches { out += splitLabels(b.block.statements) }
                out += splitLabels(e?.statements ?? [])
            case .waitFor(let w):
                out += splitLabels(w.arrived?.statements ?? []) + splitLabels(w.timedOut?.statements ?? [])
            default: break
            }
        }
        return out
    }
}

/// The literal an expression in a test (or a default) is, as a value of `type`; nil when it is
/// not a plain literal of that type.
public func literalValue(_ e: ExprID, _ type: JType, in tree: SyntaxTree) -> DefaultLiteral? {
    ProjectChecker.literal(e, type, in: tree)
}
