import Foundation
import JourneyBytecode
import JourneyRuntime
import JourneySemantics
import JourneySyntax

/// A message as a test sees it.
struct SentMessage {
    var at: Int64
    var journey: String
    var channel: String?
    var status: String
    var content: String?
}

extension TestRun {
    /// The profile's messages in outbox order.
    func messages(_ store: SQLiteStore, _ profile: String) -> [SentMessage] {
        ((try? store.messages(profile: profile, limit: Int(Int32.max))) ?? []).reversed()
            .map { SentMessage(at: $0.message.at, journey: $0.message.journey, channel: $0.message.channel, status: $0.message.status, content: $0.message.content) }
    }

    func inWindow(_ at: Int64, _ w: TestWindow?) -> Bool {
        switch w {
        case nil: true
        case .at(let t): at == instant(t)
        case .between(let a, let b): at >= instant(a) && at <= instant(b)
        case .after(let t): at > instant(t)
        case .before(let t): at < instant(t)
        }
    }

    /// The text leaves of a message's content.
    static func texts(_ content: String?) -> [(key: String, value: JSONValue)] {
        guard let c = content, let doc = try? JSON.parse(c) else { return [] }
        var out: [(String, JSONValue)] = []
        func walk(_ key: String, _ v: JSONValue) {
            switch v {
            case .object(let members): for (k, x) in members { walk(k, x) }
            case .array(let items): for x in items { walk(key, x) }
            default: out.append((key, v))
            }
        }
        walk("", doc)
        return out
    }

    func contains(_ content: String?, _ text: ExprID?) -> Bool {
        guard let text else { return true }
        guard case .string(let parts) = tree.exprs[text].kind else { return false }
        let needle = parts.compactMap { if case .text(let t) = $0 { t } else { nil } }.joined()
        return Self.texts(content).contains { if case .string(let s) = $0.value { s.contains(needle) } else { false } }
    }

    func fieldsMatch(_ content: String?, _ fields: [TestField]) -> Bool {
        let leaves = Self.texts(content)
        return fields.allSatisfy { f in
            leaves.contains { leaf in
                guard leaf.key == f.name.name else { return false }
                switch leaf.value {
                case .string(let s): return literalValue(f.value, .string, in: tree) == .string(s)
                case .bool(let b): return literalValue(f.value, .bool, in: tree) == .bool(b)
                case .number(let n):
                    guard let want = literalValue(f.value, .decimal, in: tree) else { return false }
                    let w: Double? = switch want {
                    case .int(let i): Double(i)
                    case .decimal(let t): Double(t)
                    default: nil
                    }
                    return w != nil && w == Double(n)
                default: return false
                }
            }
        }
    }

    func describe(_ w: TestWindow?) -> String {
        switch w {
        case nil: ""
        case .at(let t): " at \(Value.iso8601(instant(t)))"
        case .between(let a, let b): " between \(Value.iso8601(instant(a))) and \(Value.iso8601(instant(b)))"
        case .after(let t): " after \(Value.iso8601(instant(t)))"
        case .before(let t): " before \(Value.iso8601(instant(t)))"
        }
    }

    /// What happened to a profile, in time order: its messages and its journeys.
    func timeline(_ store: SQLiteStore, _ profile: String) -> [String] {
        var items: [(Int64, Int, String)] = []
        for m in messages(store, profile) {
            let content = m.content.map { $0.count > 90 ? String($0.prefix(89)) + "…" : $0 } ?? ""
            items.append((m.at, 1, "\(Value.iso8601(m.at))  \(m.channel ?? "-") \(m.status) from \(m.journey)\(content.isEmpty ? "" : "  " + content)"))
        }
        for i in (try? store.instanceSummaries(journey: nil, status: nil, limit: 1000, profile: profile)) ?? [] {
            items.append((i.enteredAt, 0, "\(Value.iso8601(i.enteredAt))  entered \(i.journey)"))
            if i.status == "active" {
                items.append((Int64.max, 2, "now           waiting in \(i.journey)" + (i.waitsFor.map { " for \($0)" } ?? "") + (i.due.map { " until \(Value.iso8601($0))" } ?? "")))
            } else if let e = i.endedAt {
                items.append((e, 2, "\(Value.iso8601(e))  \(i.status) in \(i.journey)" + (i.reason.map { ": \($0)" } ?? "")))
            }
        }
        items.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        return items.isEmpty ? ["(nothing happened to \(profile))"] : items.map(\.2)
    }

    mutating func fail(_ s: TestStmt, _ message: String, _ store: SQLiteStore, _ profile: String) {
        let at = tree.source.location(of: s.span.start)
        failures.append(TestFailure(line: at.line, column: at.column, source: tree.source.slice(s.span), message: message, timeline: timeline(store, profile)))
    }

    var nowText: String { now.map { " at \(Value.iso8601($0))" } ?? "" }

    mutating func check(_ s: TestStmt, _ engine: Engine) {
        guard case .expect(let x) = s.kind, let store = engine.store as? SQLiteStore else { return }
        switch x {
        case .message(let c, let p, let w, let status, let j, let containing, let fields):
            let want = status?.name ?? "sent"
            let ok = messages(store, p.name).contains { m in
                m.channel == c.name && m.status == want && (j == nil || m.journey == j?.name) && inWindow(m.at, w) && contains(m.content, containing) && fieldsMatch(m.content, fields)
            }
            if !ok {
                var what = "expected a \(want) \(c.name) message to \(p.name)\(describe(w))"
                if let j { what += " from \(j.name)" }
                if let t = containing { what += " containing \(tree.source.slice(tree.exprs.span(t)))" }
                fail(s, what + ", and there is none", store, p.name)
            }
        case .nothing(let c, let p, let j, let w):
            let hits = messages(store, p.name).filter { m in
                m.status == "sent" && (c == nil || m.channel == c?.name) && (j == nil || m.journey == j?.name) && inWindow(m.at, w)
            }
            if let first = hits.first {
                fail(s, "expected no message\(c.map { " on \($0.name)" } ?? "") to \(p.name)\(describe(w)), but \(hits.count == 1 ? "one was" : "\(hits.count) were") sent, the first \(first.channel ?? "") at \(Value.iso8601(first.at)) from \(first.journey)", store, p.name)
            }
        case .state(let p, let state, let j):
            let latest = (try? store.instanceSummaries(journey: j.name, status: nil, limit: 1, profile: p.name))?.first
            if state.name == "not" {
                if let i = latest { fail(s, "expected \(p.name) never to have entered \(j.name), but \(p.name) entered at \(Value.iso8601(i.enteredAt))", store, p.name) }
                return
            }
            let actual = latest.map { $0.status == "active" ? "waiting" : $0.status }
            if actual != state.name {
                fail(s, "expected \(p.name) to be \(state.name) in \(j.name)\(nowText), but \(actual.map { "\(p.name) is \($0)" } ?? "\(p.name) never entered it")", store, p.name)
            }
        case .branch(let p, let j, let branch):
            guard let i = (try? store.instanceSummaries(journey: j.name, status: nil, limit: 1, profile: p.name))?.first else {
                fail(s, "expected \(p.name) in \(j.name).\(branch.name), but \(p.name) never entered \(j.name)", store, p.name)
                return
            }
            let steps = (try? store.bundleBytes(i.bundle)).flatMap { $0 }.flatMap { try? JourneyBundle.load($0) }?.journey(named: j.name)?.steps ?? []
            let taken = ((try? store.branchesTaken(instance: i.id)) ?? []).compactMap { t -> String? in
                t.step < steps.count && t.branch < steps[t.step].branches.count ? steps[t.step].branches[t.branch] : nil
            }
            if !taken.contains(branch.name) {
                fail(s, "expected \(p.name) in \(j.name).\(branch.name), but \(taken.isEmpty ? "\(p.name) took no split branch" : "\(p.name) is in \(taken.map { "\(j.name).\($0)" }.joined(separator: ", "))")", store, p.name)
            }
        case .attribute(let p, let attribute, let value):
            guard let i = schema.attributes.firstIndex(where: { $0.name == attribute.name }), let type = checked.schema.attribute(attribute.name)?.type,
                  let lit = literalValue(value, type, in: tree), let values = try? store.loadProfile(p.name), i < values.count else {
                fail(s, "could not read \(p.name).\(attribute.name)", store, p.name)
                return
            }
            let expected = RuntimeSchema.value(lit, schema.attributes[i].type)
            if values[i] != expected {
                fail(s, "expected \(p.name).\(attribute.name) == \(Self.show(expected))\(nowText), but it is \(Self.show(values[i]))", store, p.name)
            }
        }
    }

    static func show(_ v: Value) -> String {
        switch v {
        case .none: "none"
        case .string(let s): JSON.quote(s)
        default: v.text
        }
    }
}
