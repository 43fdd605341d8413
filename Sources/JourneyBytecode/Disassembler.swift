import JourneyDiagnostics
import JourneySemantics

/// Prints a bundle readably: header, each journey's header, and each function's instructions
/// with their source lines.
public enum Disassembler {
    /// `sourceLines(path)` gives a journey file's lines when it can be read, to print beside the code.
    public static func listing(_ bundle: JourneyBundle, bytes: Int, sourceLines: (String) -> [String]? = { _ in nil }) -> String {
        var out = "journey bundle, format \(bundle.neededVersion), \(bytes) bytes\n"
        out += "schema fingerprint \(bundle.schemaFingerprint): \(bundle.schema.attributes.count) profile attributes, \(bundle.schema.events.count) events, channels \(bundle.schema.channels.map(\.kind).joined(separator: ", "))\n"
        out += "\(bundle.constants.count) constants, \(bundle.journeys.count) journeys\n"
        for j in bundle.journeys {
            let lines = sourceLines(j.sourcePath) ?? bundle.source(of: j).map { $0.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) }
            out += "\n" + journey(j, bundle, lines)
        }
        return out
    }

    static func journey(_ j: CompiledJourney, _ b: JourneyBundle, _ lines: [String]?) -> String {
        var out = "journey \(j.name)" + (j.title.isEmpty ? "" : " \"\(j.title)\"") + "  (\(j.sourcePath))\n"
        switch j.trigger {
        case .event(let e): out += "  trigger   on \(b.schema.events[e].name)\(j.bindsTrigger ? " as local 0" : "")\(j.onWhere.map { " where predicate \($0)" } ?? "")\n"
        case .daily(let m): out += "  trigger   on daily at \(Value.timeOfDay(Int32(m)).text)\n"
        }
        if let plan = j.forEach {
            out += "  for each  profile" + (plan.predicate.map { " where predicate \($0)" } ?? "") + "\n"
            for a in plan.anchors {
                let e = b.schema.events[a.event]
                let source: String = switch a.source {
                case .triggerField(let f): if case .event(let t) = j.trigger { "trigger.\(b.schema.events[t].fields[f].name)" } else { "?" }
                case .constant(let c): constant(c, b)
                }
                out += "  anchor    \(e.name).\(e.fields[a.field].name) == \(source)" + (a.within.map { " within \(Value.durationText($0))" } ?? "") + "\n"
            }
        }
        if let w = j.when { out += "  when      predicate \(w)\n" }
        for g in j.goals { out += "  goal      \(b.schema.events[g.event].name)\(g.predicate.map { " where predicate \($0)" } ?? "")\n" }
        for x in j.exits { out += "  exit on   \(b.schema.events[x.event].name)\(x.predicate.map { " where predicate \($0)" } ?? "")\n" }
        switch j.reentry {
        case .whileActive: out += "  reentry   not while active\n"
        case .never: out += "  reentry   never\n"
        case .always: out += "  reentry   always\n"
        case .after(let s): out += "  reentry   after \(Value.durationText(s))\n"
        }
        out += "  locals    \(j.localCount)\n"
        for (i, f) in j.functions.enumerated() {
            out += "\n  \(i == 0 ? "main" : "predicate \(i)") (max stack \(f.maxStack)):\n"
            out += code(f, j, b, lines)
        }
        return out
    }

    static func code(_ f: Function, _ j: CompiledJourney, _ b: JourneyBundle, _ lines: [String]?) -> String {
        var out = ""
        var pc = 0
        var lastLine = -1
        while pc < f.code.count, let op = Opcode(rawValue: f.code[pc]) {
            let info = op.info
            guard pc + info.size <= f.code.count else { break }
            let line = f.line(at: pc)
            if line != lastLine {
                let text = lines.flatMap { line > 0 && line <= $0.count ? $0[line - 1].trimmingCharacters() : nil } ?? ""
                out += "    ; line \(line)\(text.isEmpty ? "" : ": \(text)")\n"
                lastLine = line
            }
            let ops = Verifier.operands(f.code, pc, info)
            let offset = String(pc)
            out += "    " + String(repeating: "0", count: max(0, 4 - offset.count)) + offset + "  "
            out += info.mnemonic.padding(14) + describe(op, ops, j, b) + "\n"
            pc += info.size
        }
        return out
    }

    static func constant(_ i: Int, _ b: JourneyBundle) -> String {
        guard i < b.constants.count else { return "#\(i)?" }
        switch b.constants[i] {
        case .string(let s): return "#\(i) \"\(s)\""
        case let v: return "#\(i) \(v.text)"
        }
    }

    static func describe(_ op: Opcode, _ o: [Int], _ j: CompiledJourney, _ b: JourneyBundle) -> String {
        switch op {
        case .constant, .wait: return constant(o[0], b)
        case .local, .setLocal: return "\(o[0])"
        case .attribute, .setAttribute: return o[0] < b.schema.attributes.count ? "profile.\(b.schema.attributes[o[0]].name)" : "\(o[0])"
        case .field: return "\(o[0])"
        case .concat, .makeList: return "\(o[0])"
        case .mapText: return "function \(o[0]) with the item in local \(o[1])"
        case .builtin: return Builtin(rawValue: UInt8(o[0]))?.name ?? "\(o[0])?"
        case .also:
            guard o[0] < b.schema.events.count, o[1] < b.schema.events[o[0]].fields.count else { return "?" }
            let e = b.schema.events[o[0]]
            var s = "\(e.name).\(e.fields[o[1]].name) within \(constant(o[2], b)), \(o[3])"
            if o[4] != noIndex16, o[4] < b.schema.events.count, o[5] < b.schema.events[o[4]].fields.count {
                s += " except the profile's \(b.schema.events[o[4]].name).\(b.schema.events[o[4]].fields[o[5]].name)"
            }
            return s
        case .top:
            guard o[0] < b.schema.events.count, o[1] < b.schema.events[o[0]].fields.count else { return "?" }
            let e = b.schema.events[o[0]]
            return "\(e.name).\(e.fields[o[1]].name)" + (o[2] != noIndex16 ? " where predicate \(o[2])" : "") + (o[3] != noIndex16 ? " within \(constant(o[3], b))" : "") + (o[4] > 0 ? ", \(o[4])" : "")
        case .countAll:
            guard o[0] < b.schema.events.count, o[1] < b.schema.events[o[0]].fields.count else { return "?" }
            let e = b.schema.events[o[0]]
            return (o[3] == 1 ? "distinct " : "") + "\(e.name).\(e.fields[o[1]].name) == value" + (o[2] != noIndex16 ? " within \(constant(o[2], b))" : "")
        case .format: return constant(o[0], b)
        case .jump, .jumpIfFalse: return "→ \(o[0])"
        case .splitBucket: return "split \(o[0])"
        case .waitUntil: return Value.timeOfDay(Int32(o[0])).text
        case .history:
            let fn = HistoryFunction(rawValue: UInt8(o[0]))?.name ?? "?"
            let event = o[1] < b.schema.events.count ? b.schema.events[o[1]] : nil
            var s = "\(fn) \(event?.name ?? "?")"
            if o[2] != noIndex8, let e = event, o[2] < e.fields.count { s += ".\(e.fields[o[2]].name)" }
            if o[3] != noIndex16 { s += " where predicate \(o[3])" }
            if o[4] != noIndex16 { s += " within \(constant(o[4], b))" }
            return s
        case .waitFor:
            var s = o[0] < b.schema.events.count ? b.schema.events[o[0]].name : "?"
            if o[1] != noIndex16 { s += " where predicate \(o[1])" }
            s += " within \(constant(o[2], b))"
            if o[3] != noIndex8 { s += " as local \(o[3])" }
            return s + ", timed out → \(o[4])"
        case .send:
            guard o[0] < j.sends.count else { return "\(o[0])?" }
            let s = j.sends[o[0]]
            return "\(s.links.map(\.channel).joined(separator: " else ")) (\(plural(s.valueCount, "value")), restart at \(s.restart))"
        case .mark:
            guard o[0] < j.steps.count else { return "step \(o[0])?" }
            let step = j.steps[o[0]]
            let what = o[1] == 0 ? "reached" : (o[1] <= step.branches.count ? step.branches[o[1] - 1] : "?")
            return "step \(o[0]) \(what)  (\(step.kind.name) at \(step.line):\(step.column))"
        default: return ""
        }
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self + " " : self + String(repeating: " ", count: width - count) }
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}
