import JourneyDiagnostics
import JourneySemantics

/// Checks a decoded bundle before anything runs: every operand in range, every jump on an
/// instruction boundary, stack depths consistent on every path, suspensions with an empty
/// stack, and predicates that can only compute.
public enum Verifier {
    public static func verify(_ bundle: inout JourneyBundle) throws(BundleError) {
        try verifySchema(bundle.schema)
        var names = Set<String>()
        for j in bundle.journeys.indices {
            let journey = bundle.journeys[j]
            try checkName(journey.name, "a journey")
            guard names.insert(journey.name).inserted else { throw .malformed("journey '\(journey.name)' appears twice") }
            try verifyHeader(journey, bundle)
            for f in journey.functions.indices {
                let (maxStack, resumePoints) = try verifyFunction(f, journey, bundle)
                bundle.journeys[j].functions[f].maxStack = maxStack
                bundle.journeys[j].functions[f].resumePoints = resumePoints
            }
        }
    }

    // MARK: - Names

    /// The longest name a bundle may carry (attributes become column names, events keys).
    public static let maxNameLength = 128

    /// Whether `name` is an identifier as the language writes them: `[A-Za-z_][A-Za-z0-9_]*`.
    public static func isIdentifier(_ name: String) -> Bool {
        var first = true
        for c in name.utf8 {
            let letter = (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F
            guard letter || (!first && c >= 0x30 && c <= 0x39) else { return false }
            first = false
        }
        return !first && name.utf8.count <= maxNameLength
    }

    static func checkName(_ name: String, _ what: String) throws(BundleError) {
        guard isIdentifier(name) else {
            throw .malformed("\(what) is named \(printable(name)), which is not a name (letters, digits and _, at most \(maxNameLength))")
        }
    }

    /// A name as an error message may show it: control characters escaped, cut at 60 bytes.
    static func printable(_ s: String) -> String {
        var out = "'"
        for u in s.unicodeScalars.prefix(60) {
            if u.value < 0x20 || u.value == 0x7F || u == "'" || u == "\\" { out += "\\u{\(String(u.value, radix: 16))}" } else { out.unicodeScalars.append(u) }
        }
        return out + (s.unicodeScalars.count > 60 ? "…'" : "'")
    }

    /// Names the store and the runtime build on: identifiers, unique (attributes also without
    /// regard to case, as SQLite's column names are), and no attribute called `id`.
    static func verifySchema(_ s: RuntimeSchema) throws(BundleError) {
        var attributes = Set<String>()
        for a in s.attributes {
            try checkName(a.name, "a profile attribute")
            guard a.name.lowercased() != "id" else { throw .malformed("a profile attribute is named 'id', which is the profile id itself") }
            guard attributes.insert(a.name.lowercased()).inserted else { throw .malformed("profile attribute '\(a.name)' appears twice (names differing only in case are the same)") }
        }
        var events = Set<String>()
        for e in s.events {
            try checkName(e.name, "an event")
            guard events.insert(e.name).inserted else { throw .malformed("event '\(e.name)' appears twice") }
            var fields = Set<String>()
            for f in e.fields {
                try checkName(f.name, "a field of event '\(e.name)'")
                guard fields.insert(f.name).inserted else { throw .malformed("field '\(f.name)' of event '\(e.name)' appears twice") }
            }
        }
        var channels = Set<String>()
        for c in s.channels {
            try checkName(c.kind, "a channel")
            guard channels.insert(c.kind).inserted else { throw .malformed("channel '\(c.kind)' appears twice") }
        }
    }

    /// Whether a value can be held by an attribute of this type (a default).
    static func fits(_ v: Value, _ type: FieldType) -> Bool {
        switch (v, type.unwrapped) {
        case (.none, _): return type.isOptional
        case (.bool, .bool), (.int, .int), (.decimal, .decimal), (.money, .money), (.string, .string), (.string, .url),
             (.date, .date), (.time, .time), (.duration, .duration): return true
        case (.list(let items), .list(let element)): return items.allSatisfy { !$0.isNone && fits($0, element) }
        default: return false
        }
    }

    static func fail(_ j: CompiledJourney, _ f: Int, _ pc: Int, _ why: String) -> BundleError {
        .verification(journey: j.name, function: f, pc: pc, reason: why)
    }

    static func checkPredicate(_ p: Int?, _ j: CompiledJourney, _ what: String) throws(BundleError) {
        guard let p else { return }
        guard p > 0, p < j.functions.count, j.functions[p].isPredicate else {
            throw .verification(journey: j.name, function: 0, pc: 0, reason: "\(what) names predicate \(p), which does not exist")
        }
    }

    /// A catalog trigger comes with `for each profile`, and only a catalog trigger; anchors name
    /// real profile events, fields and constants.
    static func verifyAudience(_ j: CompiledJourney, _ b: JourneyBundle) throws(BundleError) {
        func fail(_ reason: String) -> BundleError { .verification(journey: j.name, function: 0, pc: 0, reason: reason) }
        let catalogTrigger: EventDef? = if case .event(let e) = j.trigger, b.schema.events[e].catalog { b.schema.events[e] } else { nil }
        guard let plan = j.forEach else {
            if catalogTrigger != nil { throw fail("the trigger is a catalog event, but the journey says no profiles to enter") }
            return
        }
        guard let trigger = catalogTrigger else { throw fail("'for each profile' on a trigger that is not a catalog event") }
        try checkPredicate(plan.predicate, j, "the for-each condition")
        if let x = plan.exact {
            guard !x.required.isEmpty, x.required.allSatisfy({ !$0.isEmpty }) else { throw fail("an exact audience with nothing required") }
            for p in x.residual { try checkPredicate(p, j, "a part of the for-each condition") }
        }
        for a in plan.allAnchors {
            guard a.event < b.schema.events.count, !b.schema.events[a.event].catalog else { throw fail("an anchor names event \(a.event), which is not a profile event") }
            guard a.field < b.schema.events[a.event].fields.count else { throw fail("an anchor names field \(a.field) of event \(b.schema.events[a.event].name), which it does not have") }
            switch a.source {
            case .triggerField(let f): guard f < trigger.fields.count else { throw fail("an anchor reads field \(f) of the trigger, which it does not have") }
            case .constant(let c): guard c < b.constants.count else { throw fail("an anchor reads constant \(c), which does not exist") }
            }
            if let w = a.within, w <= 0 { throw fail("an anchor looks back \(w) seconds") }
        }
    }

    static func verifyHeader(_ j: CompiledJourney, _ b: JourneyBundle) throws(BundleError) {
        guard let main = j.functions.first, !main.isPredicate, !main.code.isEmpty else {
            throw .verification(journey: j.name, function: 0, pc: 0, reason: "the journey has no main code")
        }
        guard j.localCount <= 255 else { throw .verification(journey: j.name, function: 0, pc: 0, reason: "too many locals") }
        switch j.trigger {
        case .event(let e): guard e < b.schema.events.count else { throw .verification(journey: j.name, function: 0, pc: 0, reason: "the trigger names event \(e), which does not exist") }
        case .daily(let m):
            guard m < 1440 else { throw .verification(journey: j.name, function: 0, pc: 0, reason: "daily time \(m) is outside the day") }
            // No event starts an audience journey, so there is nothing to bind.
            guard !j.bindsTrigger else { throw .verification(journey: j.name, function: 0, pc: 0, reason: "an audience journey binds a trigger alias") }
        }
        if j.bindsTrigger, j.localCount < 1 { throw .verification(journey: j.name, function: 0, pc: 0, reason: "the trigger alias has no local slot") }
        try checkPredicate(j.onWhere, j, "the trigger's where")
        try checkPredicate(j.when, j, "the when filter")
        try verifyAudience(j, b)
        for rule in j.goals + j.exits {
            guard rule.event < b.schema.events.count else { throw .verification(journey: j.name, function: 0, pc: 0, reason: "a goal or exit names event \(rule.event), which does not exist") }
            guard !b.schema.events[rule.event].catalog else { throw .verification(journey: j.name, function: 0, pc: 0, reason: "a goal or exit names catalog event \(rule.event)") }
            try checkPredicate(rule.predicate, j, "a goal or exit")
        }
        for (i, s) in j.steps.enumerated() {
            if let c = s.control, s.kind != .split || c >= s.branches.count {
                throw .verification(journey: j.name, function: 0, pc: 0, reason: "step \(i) names control branch \(c), which it does not have")
            }
            if let k = s.send, s.kind != .send || k >= j.sends.count {
                throw .verification(journey: j.name, function: 0, pc: 0, reason: "step \(i) names send \(k), which does not exist")
            }
        }
        for s in j.sends {
            guard !s.links.isEmpty else { throw .verification(journey: j.name, function: 0, pc: s.restart, reason: "a send with no channel") }
            for l in s.links where b.schema.channel(l.channel) == nil {
                throw .verification(journey: j.name, function: 0, pc: s.restart, reason: "a send on channel '\(l.channel)', which the schema does not declare")
            }
        }
    }

    /// Returns the function's maximum stack depth and its resumption points.
    static func verifyFunction(_ f: Int, _ j: CompiledJourney, _ b: JourneyBundle) throws(BundleError) -> (Int, Set<Int>) {
        let fn = j.functions[f]
        let code = fn.code
        let maxFields = b.schema.events.map(\.fields.count).max() ?? 0
        // Pass 1: decode every instruction and check its operands.
        var starts = [Bool](repeating: false, count: code.count + 1)
        var pc = 0
        while pc < code.count {
            starts[pc] = true
            guard let op = Opcode(rawValue: code[pc]) else { throw fail(j, f, pc, "unknown opcode \(code[pc])") }
            let info = op.info
            guard pc + info.size <= code.count else { throw fail(j, f, pc, "\(info.mnemonic) is cut short by the end of the code") }
            if fn.isPredicate, info.mainOnly { throw fail(j, f, pc, "\(info.mnemonic) is not allowed in a predicate") }
            if !fn.isPredicate, info.predicateOnly { throw fail(j, f, pc, "\(info.mnemonic) is only allowed in a predicate") }
            let ops = operands(code, pc, info)
            try checkOperands(op, ops, j, f, pc, b, maxFields)
            pc += info.size
        }
        guard !code.isEmpty else { throw fail(j, f, 0, "the code is empty") }
        // Pass 2: stack depths along every path.
        var depth = [Int?](repeating: nil, count: code.count)
        var work = [0]
        depth[0] = 0
        var maxStack = 0
        var resumePoints = Set<Int>()
        var restarts: [(send: Int, at: Int)] = []
        func flow(_ to: Int, _ d: Int, from: Int) throws(BundleError) {
            guard to >= 0, to < code.count, starts[to] else { throw fail(j, f, from, "jumps to \(to), which is not the start of an instruction") }
            // Code only ever goes forward: every run of it ends.
            guard to > from else { throw fail(j, f, from, "jumps back to \(to); code only goes forward") }
            if let known = depth[to] {
                guard known == d else { throw fail(j, f, to, "the stack is \(known) deep on one path here and \(d) on another") }
            } else {
                depth[to] = d
                work.append(to)
            }
        }
        while let at = work.popLast() {
            guard let d = depth[at], let op = Opcode(rawValue: code[at]) else { continue }
            let info = op.info
            let ops = operands(code, at, info)
            let pops: Int
            switch op {
            case .concat, .makeList: pops = ops[0]
            case .builtin: pops = Builtin(rawValue: UInt8(ops[0]))?.arity ?? 0
            case .send: pops = j.sends[ops[0]].valueCount
            default: pops = info.pops ?? 0
            }
            guard d >= pops else { throw fail(j, f, at, "\(info.mnemonic) needs \(plural(pops, "value")) but the stack holds \(d)") }
            let after = d - pops + info.pushes
            maxStack = max(maxStack, after, d)
            switch info.control {
            case .terminates:
                let want = op == .returnValue ? 0 : 0
                guard after == want else { throw fail(j, f, at, "\(info.mnemonic) leaves \(plural(after, "value")) on the stack") }
                if op == .returnValue, d != 1 { throw fail(j, f, at, "return needs exactly one value") }
            case .suspends:
                guard after == 0 else { throw fail(j, f, at, "\(info.mnemonic) suspends with \(plural(after, "value")) on the stack") }
                try flow(at + info.size, 0, from: at)
                resumePoints.insert(at + info.size)
                if let k = info.jumpOperand {
                    try flow(ops[k], 0, from: at)
                    resumePoints.insert(ops[k])
                }
                // A wait_for resumes at itself (the event or the deadline decides); a send held
                // by quiet hours at its restart, which must compute its values afresh.
                if op == .waitFor { resumePoints.insert(at) }
                if op == .send { restarts.append((ops[0], at)) }
            case .next:
                if op == .jump {
                    try flow(ops[0], after, from: at)
                } else {
                    if let k = info.jumpOperand { try flow(ops[k], after, from: at) }
                    guard at + info.size < code.count else { throw fail(j, f, at, "the code runs off its end after \(info.mnemonic)") }
                    try flow(at + info.size, after, from: at)
                }
            }
        }
        for r in restarts {
            let restart = j.sends[r.send].restart
            guard restart < code.count, starts[restart], depth[restart] == 0 else {
                throw fail(j, f, r.at, "send restarts at \(restart), which is not a step boundary with an empty stack")
            }
            resumePoints.insert(restart)
        }
        return (maxStack, resumePoints)
    }

    /// The operands of the instruction at `pc`, decoded per the opcode table.
    public static func operands(_ code: [UInt8], _ pc: Int, _ info: OpcodeInfo) -> [Int] {
        var out: [Int] = []
        var at = pc + 1
        for w in info.operands {
            var v = 0
            for i in 0..<w.rawValue { v |= Int(code[at + i]) << (8 * i) }
            out.append(v)
            at += w.rawValue
        }
        return out
    }

    static func checkOperands(_ op: Opcode, _ o: [Int], _ j: CompiledJourney, _ f: Int, _ pc: Int, _ b: JourneyBundle, _ maxFields: Int) throws(BundleError) {
        func constant(_ i: Int, duration: Bool = false) throws(BundleError) {
            guard i < b.constants.count else { throw fail(j, f, pc, "constant \(i) is out of range (the pool has \(b.constants.count))") }
            if duration, case .duration(let s) = b.constants[i], s > 0 { return }
            if duration { throw fail(j, f, pc, "constant \(i) is not a positive duration") }
        }
        func predicate(_ p: Int) throws(BundleError) {
            guard p == noIndex16 || (p > 0 && p < j.functions.count && j.functions[p].isPredicate) else { throw fail(j, f, pc, "predicate \(p) does not exist") }
            // A predicate runs only predicates compiled before it: no call can come back round,
            // so no bundle can make the VM recurse without end.
            if f > 0, p != noIndex16, p >= f { throw fail(j, f, pc, "predicate \(f) runs predicate \(p), which is not an earlier one") }
        }
        /// A field of an event that happens to profiles (a catalog event is in no history).
        func profileField(_ e: Int, _ field: Int, _ what: String) throws(BundleError) {
            guard e < b.schema.events.count, !b.schema.events[e].catalog else { throw fail(j, f, pc, "\(what) of event \(e), which is not a profile event") }
            guard field < b.schema.events[e].fields.count else { throw fail(j, f, pc, "\(what) of field \(field), which event \(b.schema.events[e].name) does not have") }
        }
        func slot(_ s: Int) throws(BundleError) {
            guard s < j.localCount else { throw fail(j, f, pc, "local \(s) is out of range (the journey has \(j.localCount))") }
        }
        switch op {
        case .constant: try constant(o[0])
        case .local, .setLocal: try slot(o[0])
        case .attribute, .setAttribute:
            guard o[0] < b.schema.attributes.count else { throw fail(j, f, pc, "attribute \(o[0]) does not exist") }
        case .field:
            guard o[0] < maxFields else { throw fail(j, f, pc, "field \(o[0]) does not exist in any event") }
        case .history:
            guard let fn = HistoryFunction(rawValue: UInt8(o[0])) else { throw fail(j, f, pc, "unknown history function \(o[0])") }
            guard o[1] < b.schema.events.count else { throw fail(j, f, pc, "event \(o[1]) does not exist") }
            let fields = b.schema.events[o[1]].fields
            if fn == .sum {
                guard o[2] < fields.count else { throw fail(j, f, pc, "sum of field \(o[2]), which event \(b.schema.events[o[1]].name) does not have") }
            } else if o[2] != noIndex8 {
                throw fail(j, f, pc, "\(fn.name) takes no field")
            }
            try predicate(o[3])
            if o[4] != noIndex16 { try constant(o[4], duration: true) }
        case .waitUntil:
            guard o[0] < 1440 else { throw fail(j, f, pc, "wait until \(o[0]) minutes is outside the day") }
        case .wait: try constant(o[0], duration: true)
        case .waitFor:
            guard o[0] < b.schema.events.count else { throw fail(j, f, pc, "event \(o[0]) does not exist") }
            try predicate(o[1])
            try constant(o[2], duration: true)
            if o[3] != noIndex8 { try slot(o[3]) }
        case .send:
            guard o[0] < j.sends.count else { throw fail(j, f, pc, "send \(o[0]) does not exist") }
            let restart = j.sends[o[0]].restart
            guard restart <= pc else { throw fail(j, f, pc, "send restarts at \(restart), after itself") }
        case .mapText:
            guard o[0] > 0, o[0] < j.functions.count, j.functions[o[0]].isPredicate else { throw fail(j, f, pc, "map_text runs function \(o[0]), which is not one") }
            try predicate(o[0])
            try slot(o[1])
        case .also:
            try profileField(o[0], o[1], "also")
            if o[4] != noIndex16 { try profileField(o[4], o[5], "also") }
            try constant(o[2], duration: true)
            guard o[3] >= 1 else { throw fail(j, f, pc, "also of no items") }
        case .top:
            try profileField(o[0], o[1], "top")
            try predicate(o[2])
            if o[3] != noIndex16 { try constant(o[3], duration: true) }
        case .countAll:
            try profileField(o[0], o[1], "count_all")
            if o[2] != noIndex16 { try constant(o[2], duration: true) }
            guard o[3] <= 1 else { throw fail(j, f, pc, "count_all with distinct \(o[3])") }
        case .builtin:
            guard let fn = Builtin(rawValue: UInt8(o[0])), fn != .percent, fn != .format else { throw fail(j, f, pc, "unknown built-in function \(o[0])") }
        case .format:
            try constant(o[0])
            guard case .string(let s) = b.constants[o[0]], FormatSpec(s) != nil else { throw fail(j, f, pc, "constant \(o[0]) is not a format") }
        case .mark:
            guard o[0] < j.steps.count else { throw fail(j, f, pc, "step \(o[0]) does not exist (the journey has \(j.steps.count))") }
            guard o[1] <= j.steps[o[0]].branches.count else { throw fail(j, f, pc, "step \(o[0]) has no branch \(o[1])") }
        default: break
        }
    }
}
