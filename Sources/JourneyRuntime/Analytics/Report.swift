import JourneyBytecode

/// One journey version's numbers: its funnel step by step and its splits, as `journey stats`
/// prints them and the console draws them.
public struct JourneyStats: Sendable {
    public var journey: String
    public var title: String
    /// The bundle's content hash.
    public var version: String
    public var deployedAt: Int64?
    /// True for the version new entries run.
    public var isCurrent: Bool
    public var entered: Int64 = 0
    public var active: Int64 = 0
    public var converted: Int64 = 0
    public var exited: Int64 = 0
    public var completed: Int64 = 0
    public var failed: Int64 = 0
    /// Seconds from entry to conversion, shortest first.
    public var conversionTimes: [Int64] = []
    public var steps: [StepStats] = []
    public var splits: [SplitStats] = []

    public var conversionRate: Double? { entered > 0 ? Double(converted) / Double(entered) : nil }

    public var medianTimeToConvert: Int64? {
        guard !conversionTimes.isEmpty else { return nil }
        let n = conversionTimes.count
        return n % 2 == 1 ? conversionTimes[n / 2] : (conversionTimes[n / 2 - 1] + conversionTimes[n / 2]) / 2
    }

    public var meanTimeToConvert: Double? {
        conversionTimes.isEmpty ? nil : Double(conversionTimes.reduce(0, +)) / Double(conversionTimes.count)
    }
}

/// One step: how many reached it, where they went, what it sent, and how many wait there now.
public struct StepStats: Sendable {
    public var index: Int
    public var line: Int
    public var column: Int
    public var kind: StepKind
    public var label: String
    public var reached: Int64 = 0
    /// Active instances standing at this step (waiting, or held by quiet hours).
    public var waiting: Int64 = 0
    /// Each outcome's label and count (a split's branches, an `if`'s yes and no, a wait for's
    /// arrived and timed out).
    public var branches: [(label: String, n: Int64)] = []
    /// By channel, in the schema's order.
    public var sent: [(channel: String, n: Int64)] = []
    public var suppressed: [(channel: String, n: Int64)] = []
    public var undeliverable: Int64 = 0
    /// Receipt status → by channel: messages of this step with such a receipt.
    public var receipts: [(status: String, byChannel: [(channel: String, n: Int64)])] = []
}

extension StepStats {
    /// Its outcomes in words: its branches, or what it sent ("sent push 3 · undeliverable 1").
    public var outcomesText: String {
        var parts: [String] = []
        func counts(_ items: [(channel: String, n: Int64)]) -> String {
            items.filter { $0.n > 0 }.map { "\($0.channel) \($0.n)" }.joined(separator: ", ")
        }
        switch kind {
        case .send:
            if !counts(sent).isEmpty { parts.append("sent " + counts(sent)) }
            if !counts(suppressed).isEmpty { parts.append("suppressed " + counts(suppressed)) }
            if undeliverable > 0 { parts.append("undeliverable \(undeliverable)") }
            for r in receipts where !counts(r.byChannel).isEmpty { parts.append("\(r.status) " + counts(r.byChannel)) }
        case .if, .split, .waitFor:
            parts.append(branches.map { "\($0.label) \($0.n)" }.joined(separator: ", "))
        default: break
        }
        return parts.joined(separator: " · ")
    }
}

public struct SplitStats: Sendable {
    public var step: Int
    public var line: Int
    public var label: String
    public var branches: [BranchStats] = []
    /// The branch the others are compared with, and why it was taken.
    public var control: Int?
    public var controlRule: String?
    public var comparisons: [Comparison] = []
}

public struct BranchStats: Sendable {
    public var label: String
    public var entered: Int64
    public var converted: Int64
    public var rate: Double? { entered > 0 ? Double(converted) / Double(entered) : nil }
}

public struct Comparison: Sendable {
    public var branch: String
    public var control: String
    /// Nil when an arm has no entries yet.
    public var estimate: LiftEstimate?
}

/// Every journey version's numbers, from the store's counters, instances and receipts.
public struct StatsReport: Sendable {
    public var journeys: [JourneyStats]
    public var since: Int64?

    /// `since`: only the instances that entered since then (counted by the hour they entered
    /// in, so from the hour holding that instant on).
    public static func build(_ store: any AnalyticsReading, journey: String? = nil, since: Int64? = nil) throws -> StatsReport {
        let from = since ?? Int64.min
        let sinceHour = since.map(Engine.hour) ?? Int64.min
        let deploys = try store.deploys()
        let current = deploys.last?.hash
        var order: [String: Int] = [:]
        for (i, d) in deploys.enumerated() { order[d.hash] = i }
        var bundles: [String: JourneyBundle] = [:]
        func bundle(_ hash: String) -> JourneyBundle? {
            if let b = bundles[hash] { return b }
            guard let bytes = try? store.bundleBytes(hash), let b = try? JourneyBundle.load(bytes) else { return nil }
            bundles[hash] = b
            return b
        }
        struct Version: Hashable { var journey: String; var bundle: String }
        var stats: [Version: JourneyStats] = [:]
        func entry(_ v: Version) -> JourneyStats? {
            if let s = stats[v] { return s }
            guard let b = bundle(v.bundle), let j = b.journey(named: v.journey) else { return nil }
            var s = JourneyStats(journey: j.name, title: j.title, version: v.bundle, deployedAt: deploys.first { $0.hash == v.bundle }?.deployedAt,
                                 isCurrent: v.bundle == current)
            s.steps = j.steps.enumerated().map { i, d in
                var st = StepStats(index: i, line: d.line, column: d.column, kind: d.kind, label: d.label)
                st.branches = d.branches.map { ($0, 0) }
                if let k = d.send, k < j.sends.count {
                    st.sent = j.sends[k].links.map { ($0.channel, 0) }
                    st.suppressed = st.sent
                }
                return st
            }
            s.splits = j.steps.enumerated().compactMap { i, d in
                guard d.kind == .split else { return nil }
                return SplitStats(step: i, line: d.line, label: d.label, branches: d.branches.map { BranchStats(label: $0, entered: 0, converted: 0) },
                                  control: d.control, controlRule: d.control.map { d.branches[$0] == "control" ? "labelled control" : "the only branch that sends nothing" })
            }
            stats[v] = s
            return s
        }
        // Every journey of the current bundle is listed, even before anyone entered it.
        if let c = current, let b = bundle(c) {
            for j in b.journeys where journey == nil || j.name == journey { _ = entry(Version(journey: j.name, bundle: c)) }
        }
        for c in try store.stepCounts(journey: journey, sinceHour: sinceHour) {
            let v = Version(journey: c.journey, bundle: c.bundle)
            guard var s = entry(v) else { continue }
            if c.step == -1 {
                switch c.what {
                case "entered": s.entered += c.n
                case "converted": s.converted += c.n
                case "exited": s.exited += c.n
                case "completed": s.completed += c.n
                case "failed": s.failed += c.n
                default: break
                }
            } else if c.step >= 0, c.step < s.steps.count {
                var st = s.steps[c.step]
                if c.what == "reached" {
                    st.reached += c.n
                } else if c.what == "undeliverable" {
                    st.undeliverable += c.n
                } else if c.what.hasPrefix("branch:"), let k = Int(c.what.dropFirst(7)), k >= 1, k <= st.branches.count {
                    st.branches[k - 1].n += c.n
                } else if c.what.hasPrefix("sent:"), let i = st.sent.firstIndex(where: { $0.channel == c.what.dropFirst(5) }) {
                    st.sent[i].n += c.n
                } else if c.what.hasPrefix("suppressed:"), let i = st.suppressed.firstIndex(where: { $0.channel == c.what.dropFirst(11) }) {
                    st.suppressed[i].n += c.n
                }
                s.steps[c.step] = st
            }
            stats[v] = s
        }
        for r in try store.receiptCounts(journey: journey, since: since) {
            let v = Version(journey: r.journey, bundle: r.bundle)
            guard var s = entry(v), r.step >= 0, r.step < s.steps.count else { continue }
            var st = s.steps[r.step]
            var i = st.receipts.firstIndex { $0.status == r.status }
            if i == nil {
                st.receipts.append((r.status, st.sent.map { ($0.channel, 0) }))
                i = st.receipts.count - 1
            }
            if let i, let c = st.receipts[i].byChannel.firstIndex(where: { $0.channel == r.channel }) { st.receipts[i].byChannel[c].n += r.n }
            s.steps[r.step] = st
            stats[v] = s
        }
        for row in try store.activeInstances(journey: journey, since: from) {
            let v = Version(journey: row.journey, bundle: row.bundle)
            guard var s = entry(v), let b = bundle(row.bundle), let j = b.journey(named: row.journey) else { continue }
            s.active += row.n
            if let k = waitingStep(j, pc: row.pc), k < s.steps.count { s.steps[k].waiting += row.n }
            stats[v] = s
        }
        for o in try store.branchOutcomes(journey: journey, since: from) {
            let v = Version(journey: o.journey, bundle: o.bundle)
            guard var s = entry(v), let i = s.splits.firstIndex(where: { $0.step == o.step }), o.branch < s.splits[i].branches.count else { continue }
            s.splits[i].branches[o.branch].entered += o.entered
            s.splits[i].branches[o.branch].converted += o.converted
            stats[v] = s
        }
        for (v, var s) in stats {
            s.conversionTimes = try store.conversionTimes(journey: v.journey, bundle: v.bundle, since: from)
            // A version without a step table (built before the analytics, or with no statements)
            // is counted from its instances, which are all kept: its counters may have begun
            // only when this journey was upgraded.
            if s.steps.isEmpty {
                let outcomes = try store.instanceOutcomes(journey: v.journey, bundle: v.bundle, since: from)
                s.entered = outcomes.values.reduce(0, +)
                s.converted = outcomes["converted"] ?? 0
                s.exited = outcomes["exited"] ?? 0
                s.completed = outcomes["completed"] ?? 0
                s.failed = outcomes["failed"] ?? 0
            }
            for i in s.splits.indices {
                guard let c = s.splits[i].control else { continue }
                let control = s.splits[i].branches[c]
                for (k, t) in s.splits[i].branches.enumerated() where k != c {
                    s.splits[i].comparisons.append(Comparison(branch: t.label, control: control.label,
                                                              estimate: Statistics.lift(treatment: t.converted, of: t.entered, control: control.converted, of: control.entered)))
                }
            }
            stats[v] = s
        }
        let journeys = stats.values.sorted { ($0.journey, order[$0.version] ?? -1) < ($1.journey, order[$1.version] ?? -1) }
        return StatsReport(journeys: journeys, since: since)
    }

    /// The step an active instance stands at: the last step its code marked as reached before
    /// its position (a wait's, a wait for's, or a send held by quiet hours).
    static func waitingStep(_ j: CompiledJourney, pc: Int) -> Int? {
        let code = j.functions[0].code
        var at = 0
        var step: Int?
        while at < pc, at < code.count, let op = Opcode(rawValue: code[at]) {
            if op == .mark, at + op.size <= code.count {
                let o = Verifier.operands(code, at, op.info)
                if o[1] == 0 { step = o[0] }
            }
            at += op.size
        }
        return step
    }
}
