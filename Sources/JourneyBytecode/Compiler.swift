import JourneyDiagnostics
import JourneySemantics
import JourneySyntax

/// What the compiler alone can count went over the bundle's limits (`Limits`): the project
/// cannot be built. The diagnostics say where and what.
public struct CompileError: Error, Sendable {
    public var diagnostics: [Diagnostic]
}

/// Compiles a checked project (no errors) into a bundle.
public enum Compiler {
    /// `sourcePaths` maps a file's path (as read) to the path the bundle records for it (the
    /// project-relative one); files it lacks are recorded as read.
    public static func compile(_ trees: [SyntaxTree], _ checked: CheckResult, sourcePaths: [String: String] = [:]) throws(CompileError) -> JourneyBundle {
        let schema = RuntimeSchema(checked.schema)
        var pool = ConstantPool()
        var journeys: [CompiledJourney] = []
        var problems: [Diagnostic] = []
        var sources: [SourceText] = []
        func over(_ tree: SyntaxTree, _ j: JourneyDecl, _ message: String, _ hint: String) {
            problems.append(Diagnostic(SemanticCode.limitExceeded, file: tree.source.path, span: j.name.span, message: message, label: "over the limit", hint: hint))
        }
        for (f, tree) in trees.enumerated() {
            for decl in tree.decls {
                guard case .journey(let j) = decl.kind else { continue }
                let before = pool.values.count
                var c = JourneyCompiler(schema: schema, tree: tree, types: f < checked.types.count ? checked.types[f] : [], journey: j)
                c.policy = checked.schema.policy
                c.checkedSchema = checked.schema
                var compiled = c.compile(&pool)
                compiled.sourcePath = sourcePaths[tree.source.path] ?? tree.source.path
                if before <= Limits.constants, pool.values.count > Limits.constants {
                    over(tree, j, "with journey '\(j.name.name)' the project has more than \(Limits.grouped(Limits.constants)) distinct texts, numbers and durations, which is all a bundle holds",
                         "Move some journeys to another project, or share texts between messages.")
                }
                if compiled.sends.count > Limits.sendsPerJourney {
                    over(tree, j, "journey '\(j.name.name)' has \(Limits.grouped(compiled.sends.count)) sends; a journey may have at most \(Limits.grouped(Limits.sendsPerJourney))",
                         "Split the journey into several journeys.")
                }
                if compiled.functions.count - 1 > Limits.conditionsPerJourney || c.splitPosition > Limits.sendsPerJourney || compiled.steps.count >= noIndex16 {
                    over(tree, j, "journey '\(j.name.name)' has more conditions or splits than a journey may have (\(Limits.grouped(Limits.conditionsPerJourney)))",
                         "Split the journey into several journeys.")
                }
                journeys.append(compiled)
                if sources.last?.path != compiled.sourcePath { sources.append(SourceText(path: compiled.sourcePath, text: tree.source.text)) }
            }
        }
        guard problems.isEmpty else { throw CompileError(diagnostics: problems) }
        journeys.sort { $0.name < $1.name }
        sources.sort { $0.path < $1.path }
        return JourneyBundle(schema: schema, constants: pool.values, journeys: journeys, sources: sources)
    }
}

/// Constants, each stored once.
struct ConstantPool {
    var values: [Value] = []
    var index: [Value: Int] = [:]

    mutating func add(_ v: Value) -> Int {
        if let i = index[v] { return i }
        values.append(v)
        index[v] = values.count - 1
        return values.count - 1
    }
}

/// Emits one function's code and line table.
struct FunctionBuilder {
    var code: [UInt8] = []
    var lines: [LineEntry] = []
    let isPredicate: Bool

    mutating func mark(line: Int) {
        if lines.last?.line != line {
            if lines.last?.pc == code.count { lines.removeLast() }
            lines.append(LineEntry(pc: code.count, line: line))
        }
    }

    /// Emits an instruction; returns its offset.
    @discardableResult
    mutating func emit(_ op: Opcode, _ operands: Int...) -> Int {
        let at = code.count
        code.append(op.rawValue)
        for (w, v) in zip(op.info.operands, operands) {
            for i in 0..<w.rawValue { code.append(UInt8(truncatingIfNeeded: v >> (8 * i))) }
        }
        return at
    }

    /// Points the jump operand of the instruction at `at` to `target`.
    mutating func patch(_ at: Int, to target: Int) {
        guard let op = Opcode(rawValue: code[at]), let k = op.info.jumpOperand else { return }
        var offset = at + 1
        for w in op.info.operands.prefix(k) { offset += w.rawValue }
        for i in 0..<4 { code[offset + i] = UInt8(truncatingIfNeeded: target >> (8 * i)) }
    }

    var function: Function { Function(isPredicate: isPredicate, code: code, lines: lines) }
}

/// What names mean while compiling: aliases in local slots, and a `where`'s event fields.
struct CompileScope {
    var slots: [String: Int] = [:]
    var bareEvent: Int?
}

struct JourneyCompiler {
    let schema: RuntimeSchema
    let tree: SyntaxTree
    let types: [JType]
    let journey: JourneyDecl
    var functions: [Function] = []
    var sends: [SendDef] = []
    var localCount = 0
    var splitPosition = 0
    var steps: [StepDef] = []
    var fn = FunctionBuilder(isPredicate: false)
    /// The currency and locale messages are formatted with.
    var policy = Policy()
    /// The checked schema, for the `for each profile` planner.
    var checkedSchema: Schema?

    init(schema: RuntimeSchema, tree: SyntaxTree, types: [JType], journey: JourneyDecl) {
        self.schema = schema
        self.tree = tree
        self.types = types
        self.journey = journey
    }

    var exprs: ExprArena { tree.exprs }

    func line(_ span: Span) -> Int { tree.source.lineIndex(of: span.start) + 1 }

    mutating func newLocal() -> Int {
        localCount += 1
        return localCount - 1
    }

    mutating func compile(_ pool: inout ConstantPool) -> CompiledJourney {
        functions = [Function(isPredicate: false, code: [], lines: [])] // main, filled last
        var scope = CompileScope()
        var trigger = Trigger.daily(0)
        var binds = false
        var onWhereExpr: (ExprID, Int)?
        var whenExpr: ExprID?
        var goals: [(Int, ExprID?)] = [], exits: [(Int, ExprID?)] = []
        var reentry = ReentryRule.whileActive
        var maxDelay = CompiledJourney.defaultMaxDelay
        var forEachClause: ExprID?? = nil
        var aliasName: String?
        for clause in journey.header {
            switch clause {
            case .on(let event, let alias, let cond, _):
                let e = schema.eventIndex(event.name) ?? 0
                trigger = .event(e)
                if let a = alias {
                    scope.slots[a.name] = newLocal()
                    binds = true
                }
                aliasName = alias?.name
                if let c = cond { onWhereExpr = (c, e) }
            case .daily(let at, _, _): trigger = .daily(at.minutes)
            case .when(let c, _): whenExpr = c
            case .goal(let event, let cond, _): goals.append((schema.eventIndex(event.name) ?? 0, cond))
            case .exitOn(let event, let cond, _): exits.append((schema.eventIndex(event.name) ?? 0, cond))
            case .reentry(let r, _):
                switch r {
                case .never: reentry = .never
                case .always: reentry = .always
                case .after(let d): reentry = .after(d.seconds)
                }
            case .maxDelay(let d, _): maxDelay = d?.seconds
            case .forEach(let cond, _): forEachClause = .some(cond)
            }
        }
        var forEach: ForEachPlan?
        if case .some(let cond) = forEachClause, case .event(let triggerEvent) = trigger {
            let planner = checkedSchema.map { AudiencePlanner(exprs: exprs, schema: $0, alias: aliasName, trigger: schema.events[triggerEvent].name) }
            let anchors = planner?.anchors(cond) ?? []
            func def(_ a: Anchor) -> AnchorDef? {
                guard let e = schema.eventIndex(a.event), let f = schema.events[e].fieldIndex(a.field) else { return nil }
                let source: AnchorDef.Source
                switch a.source {
                case .triggerField(let name):
                    guard let k = schema.events[triggerEvent].fieldIndex(name) else { return nil }
                    source = .triggerField(k)
                case .literal(let x):
                    switch exprs[x].kind {
                    case .integer(let v): source = .constant(pool.add(.int(v)))
                    case .string(let parts): source = .constant(pool.add(.string(parts.map { if case .text(let t) = $0 { t } else { "" } }.joined())))
                    default: return nil
                    }
                }
                return AnchorDef(event: e, field: f, source: source, within: a.within)
            }
            forEach = ForEachPlan(predicate: cond.map { predicate($0, bareEvent: nil, scope, &pool) }, anchors: anchors.compactMap(def))
            if let x = planner?.exact(cond) {
                let required = x.required.map { $0.compactMap(def) }, excluded = x.excluded.compactMap(def)
                // Every anchor must have compiled, or the plan would answer a different question.
                if required.map(\.count) == x.required.map(\.count), excluded.count == x.excluded.count {
                    forEach?.exact = ExactPlan(required: required, excluded: excluded,
                                               residual: x.residual.map { predicate($0, bareEvent: nil, scope, &pool) })
                }
            }
        }
        let onWhere = onWhereExpr.map { predicate($0.0, bareEvent: $0.1, scope, &pool) }
        let when = whenExpr.map { predicate($0, bareEvent: nil, scope, &pool) }
        var goalList: [EventRule] = []
        for (e, c) in goals { goalList.append(EventRule(event: e, predicate: c.map { predicate($0, bareEvent: e, scope, &pool) })) }
        var exitList: [EventRule] = []
        for (e, c) in exits { exitList.append(EventRule(event: e, predicate: c.map { predicate($0, bareEvent: e, scope, &pool) })) }
        fn = FunctionBuilder(isPredicate: false)
        block(journey.body.statements, &scope, &pool)
        fn.mark(line: line(Span(journey.body.span.end - 1, journey.body.span.end)))
        fn.emit(.end)
        functions[0] = fn.function
        var title = ""
        if let t = journey.title, case .string(let parts) = exprs[t].kind {
            for case .text(let s) in parts { title += s }
        }
        var compiled = CompiledJourney(name: journey.name.name, title: title, sourcePath: tree.source.path, trigger: trigger, bindsTrigger: binds,
                                       onWhere: onWhere, when: when, goals: goalList, exits: exitList, reentry: reentry,
                                       localCount: localCount, functions: functions, sends: sends,
                                       maxDelay: { if case .daily = trigger { CompiledJourney.defaultMaxDelay } else { maxDelay } }())
        compiled.steps = steps
        compiled.forEach = forEach
        return compiled
    }

    // MARK: - Steps

    /// Adds a step for the statement (or condition) starting at `offset`; returns its index.
    mutating func step(_ kind: StepKind, at offset: Int, _ label: String, branches: [String] = [], control: Int? = nil, send: Int? = nil) -> Int {
        let at = tree.source.location(of: offset)
        steps.append(StepDef(line: at.line, column: at.column, kind: kind, label: label, branches: branches, control: control, send: send))
        return steps.count - 1
    }

    /// Counts the step's outcome (0: reached) when the code passes here.
    mutating func count(_ step: Int, _ outcome: Int = 0) {
        fn.emit(.mark, step, outcome)
    }

    /// An expression as written, on one line and at most 80 characters.
    func written(_ e: ExprID) -> String {
        let words = tree.source.slice(exprs.span(e)).split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" })
        let s = words.joined(separator: " ")
        return s.count > 80 ? String(s.prefix(79)) + "…" : s
    }

    /// Whether a block sends anything, on any path.
    func sends(_ statements: [Stmt]) -> Bool {
        statements.contains { s in
            switch s.kind {
            case .send: true
            case .waitFor(let w): sends(w.arrived?.statements ?? []) || sends(w.timedOut?.statements ?? [])
            case .if(let branches, let e): branches.contains { sends($0.block.statements) } || sends(e?.statements ?? [])
            case .split(let branches): branches.contains { sends($0.block.statements) }
            default: false
            }
        }
    }

    /// A split's control: the branch labelled `control`, or else the only one that sends nothing.
    func control(_ branches: [SplitBranch]) -> Int? {
        if let i = branches.firstIndex(where: { $0.label?.name == "control" }) { return i }
        let silent = branches.indices.filter { !sends(branches[$0].block.statements) }
        return silent.count == 1 ? silent[0] : nil
    }

    /// Compiles a condition into its own predicate function; returns its index.
    mutating func predicate(_ e: ExprID, bareEvent: Int?, _ outer: CompileScope, _ pool: inout ConstantPool) -> Int {
        let saved = fn
        fn = FunctionBuilder(isPredicate: true)
        var scope = outer
        scope.bareEvent = bareEvent
        fn.mark(line: line(exprs.span(e)))
        expr(e, scope, &pool)
        fn.emit(.returnValue)
        functions.append(fn.function)
        fn = saved
        return functions.count - 1
    }

    // MARK: - Statements

    mutating func block(_ statements: [Stmt], _ scope: inout CompileScope, _ pool: inout ConstantPool) {
        for s in statements { statement(s, &scope, &pool) }
    }

    mutating func statement(_ s: Stmt, _ scope: inout CompileScope, _ pool: inout ConstantPool) {
        fn.mark(line: line(s.span))
        switch s.kind {
        case .wait(let d):
            count(step(.wait, at: s.span.start, "wait \(d.text)"))
            fn.emit(.wait, pool.add(.duration(d.seconds)))
        case .waitUntil(let t):
            count(step(.waitUntil, at: s.span.start, "wait until \(t.text)"))
            fn.emit(.waitUntil, t.minutes)
        case .waitFor(let w):
            let k = step(.waitFor, at: s.span.start, "wait for \(w.event.name)\(w.alias.map { " as \($0.name)" } ?? "")\(w.condition.map { " where \(written($0))" } ?? "") within \(w.within.text)",
                         branches: ["arrived", "timed out"])
            count(k)
            let event = schema.eventIndex(w.event.name) ?? 0
            var inner = scope
            var slot = noIndex8
            if let a = w.alias {
                slot = newLocal()
                inner.slots[a.name] = slot
            }
            let pred = w.condition.map { predicate($0, bareEvent: event, inner, &pool) } ?? noIndex16
            let at = fn.emit(.waitFor, event, pred, pool.add(.duration(w.within.seconds)), slot, 0)
            count(k, 1)
            if let b = w.arrived { block(b.statements, &inner, &pool) }
            let skip = fn.emit(.jump, 0)
            fn.patch(at, to: fn.code.count)
            count(k, 2)
            if let b = w.timedOut {
                var outer = scope
                block(b.statements, &outer, &pool)
            }
            fn.patch(skip, to: fn.code.count)
        case .if(let branches, let elseBlock):
            var ends: [Int] = []
            for (i, br) in branches.enumerated() {
                fn.mark(line: line(exprs.span(br.condition)))
                let k = step(.if, at: exprs.span(br.condition).start, (i == 0 ? "if " : "else if ") + written(br.condition), branches: ["yes", "no"])
                count(k)
                expr(br.condition, scope, &pool)
                let skip = fn.emit(.jumpIfFalse, 0)
                count(k, 1)
                var inner = scope
                block(br.block.statements, &inner, &pool)
                ends.append(fn.emit(.jump, 0))
                fn.patch(skip, to: fn.code.count)
                count(k, 2)
            }
            if let e = elseBlock {
                var inner = scope
                block(e.statements, &inner, &pool)
            }
            for j in ends { fn.patch(j, to: fn.code.count) }
        case .split(let branches):
            let position = splitPosition
            splitPosition += 1
            let labels = branches.enumerated().map { i, br in br.label?.name ?? "branch \(i + 1)" }
            let k = step(.split, at: s.span.start, "split " + zip(branches, labels).map { "\($0.percent.text) \($1)" }.joined(separator: " / "),
                         branches: labels, control: control(branches))
            count(k)
            let tmp = newLocal()
            fn.emit(.splitBucket, position)
            fn.emit(.setLocal, tmp)
            var cumulative = 0
            var ends: [Int] = []
            for (i, br) in branches.enumerated() {
                cumulative += br.percent.basisPoints
                var skip: Int?
                if i < branches.count - 1 {
                    fn.emit(.local, tmp)
                    fn.emit(.constant, pool.add(.int(Int64(cumulative))))
                    fn.emit(.less)
                    skip = fn.emit(.jumpIfFalse, 0)
                }
                count(k, i + 1)
                var inner = scope
                block(br.block.statements, &inner, &pool)
                ends.append(fn.emit(.jump, 0))
                if let k = skip { fn.patch(k, to: fn.code.count) }
            }
            for j in ends { fn.patch(j, to: fn.code.count) }
        case .send(let links):
            count(step(.send, at: s.span.start, links.map(\.channel.name).joined(separator: " else "), send: sends.count))
            let restart = fn.code.count
            var defs: [SendLinkDef] = []
            for link in links {
                let kind = ChannelKind.byName[link.channel.name]
                defs.append(SendLinkDef(channel: link.channel.name, shape: message(link.message, kind: kind, scope, &pool)))
            }
            sends.append(SendDef(restart: restart, links: defs))
            fn.emit(.send, sends.count - 1)
        case .set(let attr, let value):
            count(step(.set, at: s.span.start, "set profile.\(attr.name) = \(written(value))"))
            expr(value, scope, &pool)
            fn.emit(.setAttribute, schema.attributeIndex(attr.name) ?? 0)
        case .exit:
            count(step(.exit, at: s.span.start, "exit"))
            fn.emit(.exit)
        }
    }

    /// Emits a message's values in shape order and returns the shape.
    mutating func message(_ m: Message, kind: ChannelKind?, _ scope: CompileScope, _ pool: inout ConstantPool) -> ContentShape {
        switch m {
        case .text(let e):
            expr(e, scope, &pool)
            return .object([(kind?.textField ?? "text", .value)])
        case .fields(let block):
            return fields(block, scope, &pool)
        case .template(let name, let params):
            var text = ""
            if case .string(let parts) = exprs[name].kind { for case .text(let s) in parts { text += s } }
            var items: [(String, ContentShape)] = [("template", .literal(text))]
            if let p = params { items.append(("params", fields(p, scope, &pool))) }
            return .object(items)
        }
    }

    mutating func fields(_ block: FieldBlock, _ scope: CompileScope, _ pool: inout ConstantPool) -> ContentShape {
        var items: [(String, ContentShape)] = []
        for f in block.fields {
            switch f.value {
            case .expr(let e):
                expr(e, scope, &pool)
                items.append((f.name.name, .value))
            case .block(let inner):
                items.append((f.name.name, fields(inner, scope, &pool)))
            }
        }
        return .object(items)
    }
}
