import JourneyBytecode

/// The analytics of the steps taken since the last commit: counters per journey version, step,
/// outcome and the hour the instances entered (so that any range of hours is a cohort whose
/// funnel, conversions and splits all count the same instances), and the split branches
/// instances took. They are written in the same
/// transaction as the steps they count (`Engine.flushTally`), and dropped with it on a rollback.
extension Engine {
struct Tally {
    struct Key: Hashable {
        var bundle: Int32
        var journey: Int32
        var step: Int32
        var what: Int32
        var hour: Int64
    }

    var counts: [Key: Int64] = [:]
    var branches: [BranchTaken] = []
    /// Bundle hashes and journey names, each numbered once.
    var bundleIDs: [String: Int32] = [:]
    var bundleHashes: [String] = []
    var journeyIDs: [String: Int32] = [:]
    var journeyNames: [String] = []

    /// The journey itself, as a step.
    static let journeyStep: Int32 = -1
    /// At a step: reached it (0), took branch k (k); a send's outcome is `sendBase` + channel × 2
    /// (+1 when suppressed), or `undeliverable`.
    static let reached: Int32 = 0
    static let sendBase: Int32 = 1_000_000
    static let undeliverable: Int32 = -1
    static let outcomes: [String] = [Outcome.completed.rawValue, Outcome.exited.rawValue, Outcome.converted.rawValue, Outcome.failed.rawValue]
    static let entered: Int32 = 100

    /// The last pair numbered: most counts in a row are for one journey.
    var lastIDs: (bundle: String, journey: String, ids: (Int32, Int32))?

    mutating func ids(_ bundle: String, _ journey: String) -> (Int32, Int32) {
        if let last = lastIDs, last.bundle == bundle, last.journey == journey { return last.ids }
        let b: Int32
        if let known = bundleIDs[bundle] { b = known } else {
            b = Int32(bundleHashes.count)
            bundleHashes.append(bundle)
            bundleIDs[bundle] = b
        }
        let j: Int32
        if let known = journeyIDs[journey] { j = known } else {
            j = Int32(journeyNames.count)
            journeyNames.append(journey)
            journeyIDs[journey] = j
        }
        lastIDs = (bundle, journey, (b, j))
        return (b, j)
    }

    mutating func add(_ bundle: String, _ journey: String, step: Int32, what: Int32, hour: Int64) {
        let (b, j) = ids(bundle, journey)
        counts[Key(bundle: b, journey: j, step: step, what: what, hour: hour), default: 0] += 1
    }
}
}

extension Engine {
    /// The first instant of the hour holding `t`.
    static func hour(_ t: Int64) -> Int64 {
        t - ((t % 3600) + 3600) % 3600
    }

    /// An instance entered, or ended with an outcome.
    func countJourney(_ inst: InstanceRow, entered: Bool = false) {
        let what: Int32
        if entered {
            what = Tally.entered
        } else if let i = Tally.outcomes.firstIndex(of: inst.status) {
            what = Int32(i)
        } else {
            return
        }
        tally.add(inst.bundle, inst.journey, step: Tally.journeyStep, what: what, hour: Engine.hour(inst.enteredAt))
    }

    /// What one run of an instance passed (its steps, branches and sends), once the run stood.
    func countSteps(_ marks: [Host.Mark], _ inst: InstanceRow, _ j: CompiledJourney) {
        let (b, jid) = tally.ids(inst.bundle, inst.journey)
        let hour = Engine.hour(inst.enteredAt)
        for m in marks {
            tally.counts[Tally.Key(bundle: b, journey: jid, step: m.step, what: m.what, hour: hour), default: 0] += 1
            if m.what > 0, m.what < Tally.sendBase, Int(m.step) < j.steps.count, j.steps[Int(m.step)].kind == .split {
                tally.branches.append(BranchTaken(instance: inst.id, step: Int(m.step), branch: Int(m.what) - 1))
            }
        }
    }

    /// Writes the counters into the open transaction and starts afresh.
    func flushTally() throws {
        guard !tally.counts.isEmpty || !tally.branches.isEmpty else { return }
        var rows: [StepCount] = []
        rows.reserveCapacity(tally.counts.count)
        for (k, n) in tally.counts {
            let hash = tally.bundleHashes[Int(k.bundle)]
            let what: String
            if k.step == Tally.journeyStep {
                what = k.what == Tally.entered ? "entered" : Tally.outcomes[Int(k.what)]
            } else if k.what == Tally.reached {
                what = "reached"
            } else if k.what == Tally.undeliverable {
                what = "undeliverable"
            } else if k.what >= Tally.sendBase {
                let c = Int(k.what - Tally.sendBase)
                let channels = bundles[hash]?.schema.channels ?? []
                let name = c / 2 < channels.count ? channels[c / 2].kind : "channel \(c / 2)"
                what = (c % 2 == 0 ? "sent:" : "suppressed:") + name
            } else {
                what = "branch:\(k.what)"
            }
            rows.append(StepCount(journey: tally.journeyNames[Int(k.journey)], bundle: hash, step: Int(k.step), what: what, hour: k.hour, n: n))
        }
        // In one order, so that concurrent writers take the rows' pages alike: by journey name,
        // bundle hash, step, what and hour. The names and hashes are ranked once, so the sort
        // compares numbers where it would compare long texts.
        func ranks(_ texts: [String]) -> [String: Int] {
            Dictionary(uniqueKeysWithValues: Set(texts).sorted().enumerated().map { ($1, $0) })
        }
        let journeyRank = ranks(rows.map(\.journey)), bundleRank = ranks(rows.map(\.bundle))
        var ranked = rows.map { (journey: journeyRank[$0.journey] ?? 0, bundle: bundleRank[$0.bundle] ?? 0, row: $0) }
        ranked.sort { ($0.journey, $0.bundle, $0.row.step, $0.row.what, $0.row.hour) < ($1.journey, $1.bundle, $1.row.step, $1.row.what, $1.row.hour) }
        try store.addStepCounts(ranked.map(\.row))
        try store.recordBranches(tally.branches)
        tally.counts.removeAll(keepingCapacity: true)
        tally.branches.removeAll(keepingCapacity: true)
    }

    /// The transaction rolled back: what it counted goes with it.
    func dropTally() {
        tally.counts.removeAll(keepingCapacity: true)
        tally.branches.removeAll(keepingCapacity: true)
    }
}
