import JourneyDiagnostics
import Dispatch
import JourneyBytecode

/// The runtime: takes one inbox event, one due timer or one audience run at a time, runs every
/// instance it concerns to its next suspension, and writes instances, timers, profile updates and
/// outbox in the same transaction. The simulator and `journey run` both drive this same code;
/// only the clock and the event source differ.
public final class Engine {
    public let store: any JourneyStore
    var bundles: [String: JourneyBundle] = [:]
    public private(set) var currentHash: String?
    var current: JourneyBundle? {
        didSet {
            currentZoneAttribute = current?.schema.timezoneAttribute
            eventKinds = []
        }
    }
    /// The current schema's time zone attribute (found by name once, not per step).
    var currentZoneAttribute: Int?
    /// The virtual clock: the instant of the step being processed.
    public var now: Int64 = 0
    var zones = Zones()
    /// The analytics counted since the last commit.
    var tally = Tally()
    /// Attribute index maps from a bundle's schema to the current profile columns.
    var attributeMaps: [String: [Int?]] = [:]
    /// The last bundle's entries of `attributeMaps` and `requiredAttributes` (nearly every
    /// step asks for the current bundle's): no hashing of its hash.
    var lastAttributeMap: (hash: String, map: [Int?])?
    var lastRequired: (hash: String, required: [Bool])?
    /// Per bundle, which of its attributes are required (a none read from one is a fault).
    var requiredAttributes: [String: [Bool]] = [:]
    /// What each daily journey's `when` reads and what the store can test of it, by bundle and
    /// journey, in the current schema's attribute numbers.
    var audiencePlans: [String: (attributes: [Int], condition: ProfileCondition?)] = [:]
    /// Whether audience runs give the store the part of `when` it can test itself (the same
    /// entries either way; off, the VM tests every profile of the time zone).
    public var audienceConditionsInStore = true
    /// Events that some stored bundle uses as a goal or exit, or waits for: only these need a
    /// look at the profile's running instances.
    var goalEvents: Set<String> = [] { didSet { eventKinds = [] } }
    var awaitedEvents: Set<String> = [] { didSet { eventKinds = [] } }
    /// The event kinds handled so far (up to 32), whether each is in the two sets, and its
    /// number in the current schema: a schema has a few kinds, and comparing short names is
    /// cheaper than three lookups per event (`kind(of:)`; emptied whenever either set or the
    /// current bundle changes).
    var eventKinds: [(name: String, goal: Bool, awaited: Bool, index: Int?)] = []
    /// Inbox events read ahead (last is next), and whether the inbox had no more.
    var inboxAhead: [InboxItem] = []
    /// The locals and stack an entry's conditions are tested with, kept from one event to the
    /// next (`enter`), rather than made for each.
    var testLocals: [Value] = []
    var testStack: [Value] = []
    /// The profile slot `loadProfile` hands out, used again when nothing else holds it.
    var spareSlot: ProfileSlot?
    var inboxDrained = false
    var timersAhead: [(id: Int64, due: Int64, instance: Int64)] = []
    var timersDrained = false
    /// The next audience run (outer nil: not read yet), and whether any journey has one.
    var nextAudience: (journey: String, timezone: String, nextAt: Int64)??
    var hasAudience = false
    /// Steps per transaction, at most: a crash rolls back whole steps only. (Cheap steps, ≈ 5 µs
    /// each, reach 65,536 in about a third of a second, before `batchTime`; at 16,384 they paid
    /// a commit's writes and sync four times as often: 3% of the 100k-event benchmark's run.)
    public var batchSize = Engine.defaultBatchSize
    public static let defaultBatchSize = 65_536
    /// A transaction also ends after about this many seconds of work, so that other writers
    /// (an ingest, an import) get in between. It decides only where transactions end, never
    /// what a step does: the journeys' clock is `now`.
    public var batchTime: Double = 0.5
    /// Asked between transactions: true stops the run there (everything done so far is
    /// committed; the clock stays where the work stopped).
    public var stopRequested: (() -> Bool)?

    public init(store: any JourneyStore) throws {
        self.store = store
        if let (hash, bytes) = try store.currentBundle() {
            let b = try JourneyBundle.load(bytes)
            bundles[hash] = b
            index(b)
            currentHash = hash
            current = b
            currentZoneAttribute = b.schema.timezoneAttribute
            try store.migrateProfiles(b.schema)
        }
        if let c = try store.meta("clock"), let t = Int64(c) { now = t }
        for hash in try store.bundleHashes() { _ = try bundle(hash) }
    }

    /// Notes which events a bundle's instances react to.
    func index(_ b: JourneyBundle) {
        store.readsHistory(of: b.historyEvents)
        for j in b.journeys {
            for r in j.goals + j.exits { goalEvents.insert(b.schema.events[r.event].name) }
            let code = j.functions[0].code
            var pc = 0
            while pc < code.count, let op = Opcode(rawValue: code[pc]) {
                if op == .waitFor { awaitedEvents.insert(b.schema.events[Verifier.operands(code, pc, op.info)[0]].name) }
                pc += op.info.size
            }
        }
    }

    public var schema: RuntimeSchema? { current?.schema }

    /// Takes up a bundle that another process (`journey deploy` beside a running `serve` or
    /// `run --follow`) made current: new entries and input use it from now on; instances in
    /// flight keep theirs. Returns whether it changed.
    @discardableResult
    public func adoptDeployedBundle() throws -> Bool {
        guard let hash = try store.currentBundleHash(), hash != currentHash, let b = try bundle(hash) else { return false }
        try store.transaction { try store.migrateProfiles(b.schema) }
        makeCurrent(hash, b)
        return true
    }

    /// From now on new entries and input use this bundle (known to `bundles` already).
    func makeCurrent(_ hash: String, _ b: JourneyBundle) {
        currentHash = hash
        current = b
        attributeMaps = [:]
        requiredAttributes = [:]
        audiencePlans = [:]
        lastAttributeMap = nil
        lastRequired = nil
    }

    func bundle(_ hash: String) throws -> JourneyBundle? {
        if let b = bundles[hash] { return b }
        guard let bytes = try store.bundleBytes(hash) else { return nil }
        let b = try JourneyBundle.load(bytes)
        bundles[hash] = b
        index(b)
        return b
    }

    /// The attributes a daily journey's `when` reads (in the current schema's numbers), and
    /// what of it the store can test itself; worked out once per bundle and journey.
    func audiencePlan(_ hash: String, _ b: JourneyBundle, _ j: CompiledJourney, _ map: [Int?]) -> (attributes: [Int], condition: ProfileCondition?) {
        let key = hash + "\u{0}" + j.name
        if let p = audiencePlans[key] { return p }
        guard let w = j.when else { return ([], nil) }
        let required = required(hash, b)
        let condition = ProfileCondition.of(predicate: j.functions[w], constants: b.constants, required: { $0 < required.count && required[$0] })
            .renumbered { $0 < map.count ? map[$0] : nil }
        let plan = (attributes: attributesRead(j.functions[w], map), condition: Optional(condition))
        audiencePlans[key] = plan
        return plan
    }

    func required(_ hash: String, _ b: JourneyBundle) -> [Bool] {
        if let last = lastRequired, last.hash == hash { return last.required }
        let r: [Bool]
        if let known = requiredAttributes[hash] { r = known } else {
            r = b.schema.attributes.map { !$0.type.isOptional }
            requiredAttributes[hash] = r
        }
        lastRequired = (hash, r)
        return r
    }

    func attributeMap(_ hash: String, _ b: JourneyBundle) -> [Int?] {
        if let last = lastAttributeMap, last.hash == hash { return last.map }
        let m: [Int?]
        if let known = attributeMaps[hash] { m = known } else {
            let cur = current?.schema
            m = b.schema.attributes.map { a in cur?.attributeIndex(a.name) }
            attributeMaps[hash] = m
        }
        lastAttributeMap = (hash, m)
        return m
    }
}
