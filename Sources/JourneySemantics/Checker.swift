import JourneyDiagnostics
import JourneySyntax

/// The outcome of checking a project: its diagnostics, its schema, and per-file side tables.
public struct CheckResult: Sendable {
    public var diagnostics: [Diagnostic]
    public var schema: Schema
    /// The type of every expression, per file (indexed like `trees`, then by `ExprID`).
    public var types: [[JType]]
    /// Whether the project has tests (`test "…" { … }`).
    public var hasTests = false
    public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
}

/// Checks every file of a project at once: one schema, many journeys.
public func check(_ trees: [SyntaxTree]) -> CheckResult {
    var c = ProjectChecker(trees: trees)
    c.run()
    var diagnostics = trees.flatMap(\.diagnostics)
    diagnostics.append(contentsOf: c.diagnostics)
    var result = CheckResult(diagnostics: diagnostics, schema: c.schema, types: c.types)
    result.hasTests = trees.contains { $0.decls.contains { if case .test = $0.kind { true } else { false } } }
    return result
}

/// Where something was first declared, for duplicate reports.
struct Origin {
    var file: String
    var span: Span
}

struct ProjectChecker {
    let trees: [SyntaxTree]
    var schema = Schema()
    var diagnostics: [Diagnostic] = []
    /// The type of every expression, per file: the journeys' checks fill it (`checkJourneys`).
    var types: [[JType]] = []
    /// Each journey's send times from its cap check, by file and the journey's place in it.
    var capPaths: [[CapPaths?]] = []
    /// What each file's own limits say (`fileLimits`), worked out beside its journeys.
    var fileLimits: [FileLimits] = []

    init(trees: [SyntaxTree]) {
        self.trees = trees
    }

    mutating func report(_ code: DiagnosticCode, _ file: String, _ span: Span, _ message: String, label: String = "", hint: String? = nil, notes: [Label] = []) {
        diagnostics.append(Diagnostic(code, file: file, span: span, message: message, label: label, hint: hint, notes: notes))
    }

    mutating func duplicate(_ what: String, _ file: String, _ span: Span, first: Origin) {
        report(SemanticCode.duplicateDeclaration, file, span, "\(what) is declared more than once", label: "declared again here",
               hint: "Names are unique across the project; rename or remove one.",
               notes: [Label(file: first.file, span: first.span, message: "first declared here")])
    }

    mutating func run() {
        collectDeclarations()
        checkChannelBindings()
        defer {
            checkLimits()
            // Without the schema every name is unknown: the one missing-profile error says
            // what to do, and the echoes of it would only hide it.
            if !schema.hasProfile, diagnostics.contains(where: { $0.code == SemanticCode.missingProfile }) {
                let echoes: Set<String> = [SemanticCode.unknownAttribute.id, SemanticCode.unknownEvent.id, SemanticCode.unknownField.id,
                                           SemanticCode.undeclaredChannel.id, SemanticCode.unnarrowedOptional.id, SemanticCode.typeMismatch.id]
                diagnostics.removeAll { echoes.contains($0.code.id) }
            }
        }
        defer { checkTests() }
        // First, in order, what is said about the journeys' names; each journey's diagnostics
        // follow its own, as when the journeys were checked one after another.
        var journeys: [String: Origin] = [:]
        var said: [[[Diagnostic]]] = trees.map { _ in [] }
        for (f, tree) in trees.enumerated() {
            for decl in tree.decls {
                guard case .journey(let j) = decl.kind else { continue }
                let before = diagnostics.count
                if let first = journeys[j.name.name] {
                    duplicate("the journey '\(j.name.name)'", tree.source.path, j.name.span, first: first)
                } else {
                    journeys[j.name.name] = Origin(file: tree.source.path, span: j.name.span)
                }
                if !schema.hasProfile, journeys.count == 1 {
                    report(SemanticCode.missingProfile, tree.source.path, j.name.span, "the project has no 'profile' declaration, so its names cannot be checked",
                           label: "profile attributes unknown", hint: "Check the whole project folder, schema included (e.g. 'journey check \(Self.folder(of: tree.source.path))'), or name the schema file too ('journey check schema.journey \(tree.source.path)').")
                }
                said[f].append(Array(diagnostics[before...]))
                diagnostics.removeSubrange(before...)
            }
        }
        // Then the journeys themselves, file by file over the machine's cores: a journey's
        // check reads the schema and its own file, and writes only its file's side table.
        let checked = Self.checkJourneys(trees: trees, schema: schema)
        types = checked.map(\.types)
        fileLimits = checked.map(\.limits)
        capPaths = checked.map { $0.journeys.map(\.capPaths) }
        for f in trees.indices {
            for (k, result) in checked[f].journeys.enumerated() {
                diagnostics.append(contentsOf: said[f][k])
                diagnostics.append(contentsOf: result.diagnostics)
            }
        }
        checkEventCaps()
    }

    /// One journey's findings.
    struct JourneyResult {
        var diagnostics: [Diagnostic]
        var capPaths: CapPaths?
    }

    /// Checks every journey of every file, files in parallel; the results come back by file, in
    /// the order of the journeys in it, with what the file's own limits say and its side table
    /// of expression types.
    static func checkJourneys(trees: [SyntaxTree], schema: Schema) -> [(journeys: [JourneyResult], limits: FileLimits, types: [JType])] {
        concurrentMap(trees.count) { f in
            let tree = trees[f]
            var table = [JType](repeating: .error, count: tree.exprs.count)
            var out: [JourneyResult] = []
            for decl in tree.decls {
                guard case .journey(let j) = decl.kind else { continue }
                // The side table moves into the journey's checker and back: no copy per journey.
                var jc = JourneyChecker(schema: schema, tree: tree, journey: j, types: [])
                swap(&jc.types, &table)
                jc.run()
                swap(&jc.types, &table)
                out.append(JourneyResult(diagnostics: jc.diagnostics, capPaths: jc.capPaths))
            }
            return (out, fileLimits(tree, types: table), table)
        }
    }

    /// The folder a file is in, as a command line would name it.
    static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    // MARK: - Schema

    mutating func collectDeclarations() {
        var profileOrigin: Origin?
        var eventOrigins: [String: Origin] = [:]
        var policyOrigin: Origin?
        for tree in trees {
            let path = tree.source.path
            for decl in tree.decls {
                switch decl.kind {
                case .profile(let fields):
                    if let first = profileOrigin {
                        duplicate("the profile", path, Span(decl.span.start, decl.span.start + 7), first: first)
                        continue
                    }
                    profileOrigin = Origin(file: path, span: Span(decl.span.start, decl.span.start + 7))
                    schema.hasProfile = true
                    schema.profile = resolveFields(fields, file: path, owner: "profile")
                case .event(let name, let fields, let catalog):
                    if let first = eventOrigins[name.name] {
                        duplicate("the event '\(name.name)'", path, name.span, first: first)
                        continue
                    }
                    eventOrigins[name.name] = Origin(file: path, span: name.span)
                    schema.events[name.name] = EventSchema(name: name.name, fields: resolveFields(fields, file: path, owner: "event '\(name.name)'"), file: path, span: name.span,
                                                           catalog: catalog != nil)
                case .policy(let rules):
                    if let first = policyOrigin {
                        duplicate("the policy", path, Span(decl.span.start, decl.span.start + 6), first: first)
                        continue
                    }
                    policyOrigin = Origin(file: path, span: Span(decl.span.start, decl.span.start + 6))
                    resolvePolicy(rules, file: path)
                case .channel, .journey, .test, .fixture:
                    break
                }
            }
        }
    }

    mutating func resolveFields(_ fields: [FieldDecl], file: String, owner: String) -> [SchemaField] {
        var out: [SchemaField] = []
        var seen: [String: Span] = [:]
        // Profile attributes become columns of the profile store, whose names ignore case.
        var folded: [String: (name: String, span: Span)] = [:]
        let isProfile = owner == "profile"
        for f in fields {
            if let first = seen[f.name.name] {
                duplicate("the field '\(f.name.name)' of the \(owner)", file, f.name.span, first: Origin(file: file, span: first))
                continue
            }
            if isProfile, f.name.name.lowercased() == "id" {
                report(SemanticCode.reservedName, file, f.name.span, "'\(f.name.name)' cannot be a profile attribute: `id` is the profile's own id",
                       label: "reserved", hint: "Rename the attribute (e.g. 'external_id'); every profile already has its id.")
                continue
            }
            if isProfile, let other = folded[f.name.name.lowercased()] {
                report(SemanticCode.duplicateDeclaration, file, f.name.span,
                       "the attribute '\(f.name.name)' differs from '\(other.name)' only in case",
                       label: "same name as '\(other.name)'", hint: "Attribute names are compared without regard to case when profiles are stored; rename one of them.",
                       notes: [Label(file: file, span: other.span, message: "'\(other.name)' declared here")])
                continue
            }
            folded[f.name.name.lowercased()] = (f.name.name, f.name.span)
            seen[f.name.name] = f.name.span
            let type = resolveType(f.type, file: file)
            var field = SchemaField(name: f.name.name, type: type, file: file, span: f.name.span)
            if let d = f.defaultValue {
                if isProfile {
                    field.defaultValue = defaultLiteral(d, type, file: file, tree: trees.first { $0.source.path == file })
                } else {
                    report(SemanticCode.invalidDefault, file, f.span, "an event field has no default; defaults are for profile attributes",
                           label: "not for events", hint: "Remove '= …'; an event carries every field it declares.")
                }
            }
            out.append(field)
        }
        return out
    }

    /// A default must be a literal of its attribute's type (none only for an optional one).
    mutating func defaultLiteral(_ e: ExprID, _ type: JType, file: String, tree: SyntaxTree?) -> DefaultLiteral? {
        guard let tree, type != .error else { return nil }
        let literal = Self.literal(e, type, in: tree)
        if literal == nil {
            report(SemanticCode.invalidDefault, file, tree.exprs.span(e), "a default for a \(type) attribute must be a plain \(type.unwrapped) literal\(type.isOptional ? " or none" : "")",
                   label: "not a \(type.unwrapped) literal", hint: "Write a literal of the attribute's type, e.g. 'bonus: int = 0', 'tier: string = \"Silver\"'.")
        }
        return literal
    }

    /// The literal an expression is, when it is a plain literal of `type` (none only for an
    /// optional one): a default, or a value in a test.
    public static func literal(_ e: ExprID, _ type: JType, in tree: SyntaxTree) -> DefaultLiteral? {
        let node = tree.exprs[e]
        var literal: DefaultLiteral?
        switch (node.kind, type.unwrapped) {
        case (.none, _) where type.isOptional: literal = DefaultLiteral.none
        case (.bool(let b), .bool): literal = .bool(b)
        case (.integer(let i), .int): literal = .int(i)
        case (.integer(let i), .decimal), (.integer(let i), .money):
            if i.magnitude <= UInt64(Limits.largestWholeNumber) { literal = .int(i) }
        case (.decimal(let text), .decimal), (.decimal(let text), .money):
            if Self.fitsMillionths(text) { literal = .decimal(text) }
        case (.unary(.negate, let inner), .int), (.unary(.negate, let inner), .decimal), (.unary(.negate, let inner), .money):
            switch tree.exprs[inner].kind {
            case .integer(let i): literal = type.unwrapped == .int ? .int(-i) : (i.magnitude <= UInt64(Limits.largestWholeNumber) ? .int(-i) : nil)
            case .decimal(let text) where type.unwrapped != .int && Self.fitsMillionths(text): literal = .decimal("-" + text)
            default: break
            }
        case (.string(let parts), .string), (.string(let parts), .url):
            var text = ""
            var plain = true
            for p in parts { if case .text(let t) = p { text += t } else { plain = false } }
            if plain { literal = .string(text) }
        case (.date(let y, let m, let d), .date): literal = .date(y, m, d)
        case (.duration(let d), .duration): literal = .duration(d.seconds)
        case (.instant(let t), .time): literal = .time(t)
        case (.paren(let inner), _): literal = Self.literal(inner, type, in: tree)
        case (.list(let items), .list(let element)):
            let values = items.compactMap { Self.literal($0, element, in: tree) }
            if values.count == items.count { literal = .list(values) }
        default: break
        }
        return literal
    }

    /// Whether decimal text is exact in millionths within 64 bits: at most six decimals, and a
    /// whole part below the largest (so any fraction still fits).
    static func fitsMillionths(_ text: String) -> Bool {
        let decimals = text.split(separator: ".", omittingEmptySubsequences: false).dropFirst().first?.count ?? 0
        return decimals <= 6 && wholePart(text) < Limits.largestWholeNumber
    }

    mutating func resolveType(_ t: TypeSyntax, file: String) -> JType {
        switch t {
        case .named(let id):
            if let jt = JType.named[id.name] { return jt }
            let s = suggestion(for: id.name, among: JType.named.keys)
            report(SemanticCode.unknownType, file, id.span, "'\(id.name)' is not a type", label: "unknown type",
                   hint: s.map { "did you mean '\($0)'?" } ?? "The types are bool, int, decimal, money, string, url, date, time, duration, T? and list[T].")
            return .error
        case .optional(let inner, _):
            return resolveType(inner, file: file).asOptional
        case .list(let inner, _):
            return .list(resolveType(inner, file: file))
        }
    }

    mutating func resolvePolicy(_ rules: [PolicyRule], file: String) {
        for rule in rules {
            switch rule {
            case .cap(let count, let countSpan, let per, let span):
                if count <= 0 {
                    report(SemanticCode.invalidPolicy, file, countSpan, "a cap of \(count) messages lets nothing through", label: "must be at least 1")
                } else if count > Limits.capMessages {
                    limit(file, countSpan, "a cap of more than \(Limits.grouped(Limits.capMessages)) messages cannot be kept", "Give a smaller cap, or remove the cap.")
                } else if per.seconds <= 0 {
                    report(SemanticCode.nonPositiveDuration, file, per.span, "the cap's window must be longer than zero", label: "zero window")
                } else if schema.policy.cap != nil {
                    report(SemanticCode.duplicateDeclaration, file, span, "the policy has more than one cap", label: "second cap", hint: "Keep one 'cap' rule.")
                } else {
                    schema.policy.cap = (count, per.seconds)
                }
            case .quietHours(let from, let to, let span):
                if from.minutes == to.minutes {
                    report(SemanticCode.invalidPolicy, file, span, "quiet hours from \(from.text) to \(to.text) are empty", label: "same start and end",
                           hint: "Give two different times, e.g. 'quiet hours 22:00 to 08:00'.")
                } else if schema.policy.quietHours != nil {
                    report(SemanticCode.duplicateDeclaration, file, span, "the policy has more than one 'quiet hours'", label: "second rule", hint: "Keep one 'quiet hours' rule.")
                } else {
                    schema.policy.quietHours = (from.minutes, to.minutes)
                }
            case .currency(let code, let span):
                if !FormatPattern.isCurrency(code.name) {
                    report(SemanticCode.invalidPolicy, file, code.span, "'\(code.name)' is not a currency code", label: "not ISO 4217",
                           hint: "Write the three capital letters of an ISO 4217 code, e.g. 'currency EUR'.")
                } else if schema.policy.currency != nil {
                    report(SemanticCode.duplicateDeclaration, file, span, "the policy has more than one currency", label: "second currency", hint: "Keep one 'currency' rule.")
                } else {
                    schema.policy.currency = code.name
                }
            case .locale(let tag, let valueSpan, let span):
                if !FormatPattern.isLocale(tag) {
                    report(SemanticCode.invalidPolicy, file, valueSpan, "\"\(tag)\" is not a locale", label: "not a locale",
                           hint: "Write a language and an optional region, e.g. 'locale \"en-GB\"' or 'locale \"es\"'.")
                } else if schema.policy.locale != nil {
                    report(SemanticCode.duplicateDeclaration, file, span, "the policy has more than one locale", label: "second locale", hint: "Keep one 'locale' rule.")
                } else {
                    schema.policy.locale = tag
                }
            }
        }
    }

    // MARK: - Channels

    mutating func checkChannelBindings() {
        for tree in trees {
            let path = tree.source.path
            for decl in tree.decls {
                guard case .channel(let kind, let address, let consent) = decl.kind else { continue }
                guard ChannelKind.byName[kind.name] != nil else {
                    let s = suggestion(for: kind.name, among: Keywords.channelKinds)
                    report(SemanticCode.unknownChannelKind, path, kind.span, "'\(kind.name)' is not a channel kind", label: "unknown channel kind",
                           hint: s.map { "did you mean '\($0)'?" } ?? "The channel kinds are \(Keywords.channelKinds.joined(separator: ", ")).")
                    continue
                }
                if let first = schema.channels[kind.name] {
                    duplicate("the channel '\(kind.name)'", path, kind.span, first: Origin(file: first.file, span: first.span))
                    continue
                }
                let a = bindingAttribute(tree, address, want: [.string, .url], role: "address")
                let c = consent.flatMap { bindingAttribute(tree, $0, want: [.bool], role: "consent") }
                schema.channels[kind.name] = ChannelBinding(kind: kind.name, address: a, consent: c, file: path, span: kind.span)
            }
        }
    }

    /// The attribute name a channel's address or consent names, after checking its type.
    mutating func bindingAttribute(_ tree: SyntaxTree, _ e: ExprID, want: [JType], role: String) -> String? {
        let node = tree.exprs[e]
        guard case .member(let base, let attr) = node.kind, case .profile = tree.exprs[base].kind else {
            report(SemanticCode.invalidChannelBinding, tree.source.path, node.span, "a channel's \(role) must be a profile attribute", label: "expected profile.ATTRIBUTE",
                   hint: "Write e.g. 'channel push address profile.push_token consent profile.push_opt_in'.")
            return nil
        }
        guard let field = schema.attribute(attr.name) else {
            if schema.hasProfile { unknownAttribute(attr, file: tree.source.path) }
            return nil
        }
        if field.type != .error, !want.contains(field.type.unwrapped) {
            report(SemanticCode.invalidChannelBinding, tree.source.path, node.span,
                   "a channel's \(role) must be \(want.map(\.description).joined(separator: " or ")), but profile.\(attr.name) is \(field.type)",
                   label: "wrong type")
        }
        return attr.name
    }

    mutating func unknownAttribute(_ attr: Ident, file: String) {
        let s = suggestion(for: attr.name, among: schema.profile.map(\.name))
        report(SemanticCode.unknownAttribute, file, attr.span, "`profile.\(attr.name)` is not a profile attribute" + (s.map { "; did you mean `\($0)`?" } ?? ""),
               label: "not in the profile", hint: s.map { "did you mean '\($0)'?" } ?? "Declare it in 'profile { … }' in the schema.")
    }
}
