import JourneyDiagnostics
import Dispatch
import JourneyBytecode

/// What a run did.
public struct RunStats: Sendable {
    public var events = 0
    public var timers = 0
    public var audienceRuns = 0
    public var messages = 0
    /// Catalog events: the profiles their `for each` conditions considered (from the index,
    /// or every profile), those tested one by one, those that passed, and the seconds spent
    /// finding them (index lookups and tests, not the entries).
    public var catalogCandidates = 0
    public var catalogTested = 0
    public var catalogPassed = 0
    public var catalogSeconds = 0.0
    /// Audience runs: the profiles their scans read and tested (those the store's query let
    /// through), and the seconds spent finding who enters (the scans, not the entries).
    public var audienceTested = 0
    public var audienceSeconds = 0.0

    public init() {}

    /// Adds another run's counts to these.
    public mutating func add(_ o: RunStats) {
        events += o.events; timers += o.timers; audienceRuns += o.audienceRuns; messages += o.messages
        catalogCandidates += o.catalogCandidates; catalogTested += o.catalogTested; catalogPassed += o.catalogPassed; catalogSeconds += o.catalogSeconds
        audienceTested += o.audienceTested; audienceSeconds += o.audienceSeconds
    }
}

/// What a deploy changes (`journey deploy --dry-run` prints it), and what refuses it.
public struct DeployPlan: Sendable {
    public var attributesAdded: [String] = []
    public var attributesChanged: [String] = []
    public var attributesRemoved: [String] = []
    public var journeysAdded: [String] = []
    public var journeysChanged: [String] = []
    public var journeysRemoved: [String] = []
    public var problems: [String] = []
}


/// A deploy that would make stored data unreadable: each reason names what and what to do.
public struct DeployRefused: Error, Sendable, CustomStringConvertible {
    public var reasons: [String]
    public init(reasons: [String]) { self.reasons = reasons }
    public var description: String { "deploy refused:\n" + reasons.map { "  - " + $0 }.joined(separator: "\n") }
}

/// A piece of an events file as its parser hands it over: the events and rejected lines of
/// the piece (line numbers in the whole file) and the file's last line it covers.
public struct IngestPiece: Sendable {
    public var events: ArraySlice<EventFile.Event>
    public var errors: [InputError]
    public var throughLine: Int

    public init(events: ArraySlice<EventFile.Event>, errors: [InputError], throughLine: Int) {
        self.events = events
        self.errors = errors
        self.throughLine = throughLine
    }
}

/// Another ingest of the same file moved on while this one was starting.
public struct IngestConflict: Error, Sendable, CustomStringConvertible {
    public var source: String
    public var description: String { "\(source): another ingest of the same file got in first; nothing was added by this one. Run it again to go on from where that one stopped" }
}

/// What an ingest did (counting what an earlier, stopped ingest of the same file did).
public struct IngestSummary: Sendable {
    public var ingested: Int
    public var duplicates: Int
    /// The lines refused by this ingest: malformed, or for an unknown profile.
    public var rejected: [InputError]
    /// Set when an earlier ingest of the same file had stopped after this line.
    public var resumedAfterLine: Int?
    /// The lines that were duplicates (an id seen before for the profile).
    public var duplicateLines: [Int] = []

    public init(ingested: Int, duplicates: Int, rejected: [InputError], resumedAfterLine: Int? = nil) {
        self.ingested = ingested
        self.duplicates = duplicates
        self.rejected = rejected
        self.resumedAfterLine = resumedAfterLine
    }
}

/// A step that left its item in place: a bug in the engine, reported instead of spinning.
public struct NoProgress: Error, Sendable, CustomStringConvertible {
    public var item: String
    public var description: String {
        "the engine made no progress: the \(item) was processed and came back; nothing was committed after the last batch. This is a bug in journey: please report it with the database file"
    }
}

/// The runtime: takes one inbox event, one due timer or one audience run at a time, runs every
/// instance it concerns to its next suspension, and writes instances, timers, profile updates and
/// outbox in the same transaction. The simulator and `journey run` both drive this same code;
/// only the clock and the event source differ.
public final class Engine {
    public let store: any JourneyStore
    var bundles: [String: JourneyBundle] = [:]
    public private(set) var currentHash: String?
    var current: JourneyBundle? {
        didSet { currentZoneAttribute = current?.schema.timezoneAttribute }
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
    var goalEvents: Set<String> = []
    var awaitedEvents: Set<String> = []
    /// Inbox events read ahead (last is next), and whether the inbox had no more.
    var inboxAhead: [InboxItem] = []
    var inboxDrained = false
    var timersAhead: [(id: Int64, due: Int64, instance: Int64)] = []
    var timersDrained = false
    /// The next audience run (outer nil: not read yet), and whether any journey has one.
    var nextAudience: (journey: String, timezone: String, nextAt: Int64)??
    var hasAudience = false
    /// Steps per transaction: a crash rolls back whole steps only.
    public var batchSize = 16_384
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

    // MARK: - Deploy

    /// Verifies and stores a bundle; new entries take it from now on, running instances keep theirs.
    @discardableResult
    public func deploy(_ bytes: [UInt8], at: Int64) throws -> (hash: String, fresh: Bool) {
        let bundle = try JourneyBundle.load(bytes)
        let hash = JourneyBundle.contentHash(bytes)
        let fresh = try store.transaction {
            // Decided inside the transaction: no import can add a profile between the check
            // and the change.
            let problems = try plan(bundle).problems
            guard problems.isEmpty else { throw DeployRefused(reasons: problems) }
            let fresh = try store.deploy(bytes: bytes, hash: hash, at: at)
            try store.migrateProfiles(bundle.schema)
            try store.setHistoryKeyFields(Engine.keyedFields(bundle), schema: bundle.schema)
            try store.setPairingRules(Engine.pairingRules(bundle), schema: bundle.schema)
            try dropStaleSchedules(for: bundle)
            return fresh
        }
        bundles[hash] = bundle
        index(bundle)
        makeCurrent(hash, bundle)
        return (hash, fresh)
    }

    /// The (event, field) pairs the bundle's `for each profile` anchors look up.
    static func keyedFields(_ b: JourneyBundle) -> [String: [String]] {
        var out: [String: Set<String>] = [:]
        for j in b.journeys {
            for a in j.forEach?.allAnchors ?? [] {
                let e = b.schema.events[a.event]
                out[e.name, default: []].insert(e.fields[a.field].name)
            }
        }
        // count_all(E where F == …) counts from the same index.
        for o in b.operands(of: .countAll) {
            let e = b.schema.events[o[0]]
            out[e.name, default: []].insert(e.fields[o[1]].name)
        }
        return out.mapValues { $0.sorted() }
    }

    /// The pairs the bundle's `also` instructions ask about.
    static func pairingRules(_ b: JourneyBundle) -> [PairingRule] {
        var out = Set<PairingRule>()
        for o in b.operands(of: .also) {
            guard case .duration(let w) = b.constants[o[2]] else { continue }
            let e = b.schema.events[o[0]]
            out.insert(PairingRule(event: e.name, field: e.fields[o[1]].name, window: w))
        }
        return out.sorted { $0.line < $1.line }
    }

    /// What deploying `bundle` would change, and why it would be refused: a required attribute
    /// that existing profiles have no value for (and no default), an attribute removed while
    /// profiles hold values for it, a type the stored values are not, an event field that the
    /// stored events cannot be read as.
    public func plan(_ bundle: JourneyBundle) throws -> DeployPlan {
        var plan = DeployPlan()
        let columns = try store.profileColumns()
        let before = current?.schema
        let profiles = try store.profileCount()
        for a in bundle.schema.attributes {
            let declared = a.type.unwrapped.description
            let old = before?.attributes.first { $0.name == a.name }
            let shown = "\(a.name): \(a.type)" + (a.defaultValue.map { " = \(Self.literal($0))" } ?? "")
            guard let had = columns[a.name] else {
                if !a.type.isOptional, a.defaultValue == nil, profiles > 0 {
                    plan.problems.append("profile attribute '\(a.name)' is new and required, but the \(plural(profiles, "stored profile")) \(profiles == 1 ? "has" : "have") no value for it. Give it a default (`\(a.name): \(a.type) = …`, which they get now) or make it optional (`\(a.name): \(a.type)?`)")
                } else {
                    plan.attributesAdded.append(shown + (a.defaultValue != nil && profiles > 0 ? " (the \(plural(profiles, "stored profile")) \(profiles == 1 ? "gets" : "get") the default)" : ""))
                }
                continue
            }
            guard had == declared else {
                plan.problems.append("profile attribute '\(a.name)' was \(had) and is now \(declared); the stored profiles hold \(had) values. Keep its type, or add an attribute with a new name")
                continue
            }
            if !a.type.isOptional, old?.type.isOptional ?? true {
                let missing = try store.valueCounts(attribute: a.name).missing
                if missing > 0 {
                    if a.defaultValue == nil {
                        plan.problems.append("profile attribute '\(a.name)' is now required, but \(plural(missing, "profile")) \(missing == 1 ? "has" : "have") no value for it. Give it a default (`\(a.name): \(a.type) = …`) or keep it optional")
                    } else {
                        plan.attributesChanged.append(shown + " (now required; \(plural(missing, "profile")) without a value \(missing == 1 ? "gets" : "get") the default)")
                    }
                } else if old != nil {
                    plan.attributesChanged.append(shown + " (now required; every profile has a value)")
                }
            } else if let o = old, o.type != a.type {
                plan.attributesChanged.append(shown + " (was \(o.type))")
            }
        }
        for o in before?.attributes ?? [] where !bundle.schema.attributes.contains(where: { $0.name == o.name }) {
            let set = try store.valueCounts(attribute: o.name).set
            if set > 0 {
                plan.problems.append("profile attribute '\(o.name)' is removed, but \(plural(set, "profile")) \(set == 1 ? "holds" : "hold") a value for it. Keep the attribute (journeys need not use it)")
            } else {
                plan.attributesRemoved.append(o.name)
            }
        }
        plan.problems += try eventChanges(bundle.schema)
        let old = Dictionary((current?.journeys ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for j in bundle.journeys {
            if let o = old[j.name] {
                if o.functions != j.functions || o.sends != j.sends || o.trigger != j.trigger || o.goals != j.goals || o.exits != j.exits
                    || o.reentry != j.reentry || o.bindsTrigger != j.bindsTrigger || o.when != j.when || o.onWhere != j.onWhere
                    || o.maxDelay != j.maxDelay { plan.journeysChanged.append(j.name) }
            } else {
                plan.journeysAdded.append(j.name)
            }
        }
        plan.journeysRemoved = old.keys.filter { name in !bundle.journeys.contains { $0.name == name } }.sorted()
        return plan
    }

    /// A default as the schema wrote it.
    static func literal(_ v: Value) -> String {
        switch v {
        case .string(let s): JSON.quote(s)
        case .none: "none"
        default: v.text
        }
    }

    /// Event fields whose type changed against any stored bundle in a way the stored history
    /// (and the instances in flight, which hold events) cannot be read as.
    func eventChanges(_ schema: RuntimeSchema) throws -> [String] {
        var problems: [String] = []
        var said = Set<String>()
        for hash in try store.bundleHashes() {
            guard let old = try bundle(hash)?.schema else { continue }
            for e in schema.events {
                guard let k = old.eventIndex(e.name) else { continue }
                for f in e.fields {
                    guard let before = old.events[k].fields.first(where: { $0.name == f.name }), !Compatibility.canRead(before.type, as: f.type),
                          said.insert("\(e.name).\(f.name)").inserted else { continue }
                    problems.append("event '\(e.name)': field '\(f.name)' was \(before.type) and is now \(f.type); the stored events and the journeys in flight hold it as \(before.type). Keep its type (or make it optional, or widen a number), or add a field with a new name")
                }
            }
        }
        return problems
    }

    /// Scheduled audience runs of journeys that the new bundle no longer runs daily at the same
    /// time (removed, renamed, retriggered or moved) are dropped; the next run schedules the
    /// rest from its clock.
    func dropStaleSchedules(for bundle: JourneyBundle) throws {
        var daily: [String: Int] = [:]
        for j in bundle.journeys { if case .daily(let m) = j.trigger { daily[j.name] = m } }
        var stale = Set<String>()
        for row in try store.audienceSchedule() {
            // A run scheduled at another local time than the journey's now is stale too.
            guard let m = daily[row.journey], Zones.next(minutes: m, after: row.nextAt - 1, zones.zone(row.timezone)) == row.nextAt else {
                stale.insert(row.journey)
                continue
            }
        }
        for journey in stale.sorted() { try store.removeAudience(journey: journey) }
        nextAudience = nil
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

    // MARK: - Input

    /// Upserts profiles in one transaction. A partial row (`given`) changes only the attributes
    /// it gives; for a profile not stored yet it must give every required attribute, or it is
    /// refused and returned with the reason.
    @discardableResult
    public func importProfiles(_ rows: [ProfileRow]) throws -> [(index: Int, id: String, reason: String)] {
        var refused: [(index: Int, id: String, reason: String)] = []
        try store.begin()
        do {
            for (index, r) in rows.enumerated() {
                guard let given = r.given else {
                    try store.saveProfile(r.id, r.values)
                    continue
                }
                if var stored = try store.loadProfile(r.id) {
                    for k in r.values.indices where k < given.count && given[k] && k < stored.count { stored[k] = r.values[k] }
                    // A required attribute cannot be set to none by a partial update either.
                    if let schema = current?.schema, let k = stored.indices.first(where: { $0 < schema.attributes.count && stored[$0] == .none && !schema.attributes[$0].type.isOptional }) {
                        refused.append((index, r.id, "profile \(JSON.quote(r.id)): attribute \(JSON.quote(schema.attributes[k].name)) is required; it cannot be set to null"))
                        continue
                    }
                    try store.saveProfile(r.id, stored)
                } else {
                    let schema = current?.schema ?? RuntimeSchema()
                    let missing = schema.attributes.indices.filter { !(given.indices.contains($0) && given[$0]) && !schema.attributes[$0].type.isOptional }
                    if !missing.isEmpty {
                        refused.append((index, r.id, "profile \(JSON.quote(r.id)) is not stored yet, so it needs every required attribute; missing " + missing.map { JSON.quote(schema.attributes[$0].name) }.joined(separator: ", ")))
                        continue
                    }
                    try store.saveProfile(r.id, r.values)
                }
            }
            try store.commit()
        } catch {
            store.rollback()
            throw error
        }
        return refused
    }

    /// Puts the valid events of a parsed file in the inbox and the history, and keeps its
    /// rejected lines, in one transaction (see `ingest(pieces:)`).
    public func ingest(_ file: EventFile, source: String) throws -> IngestSummary {
        var given = false
        return try ingest(pieces: {
            defer { given = true }
            return given ? nil : IngestPiece(events: file.events[...], errors: file.errors, throughLine: Int.max)
        }, of: file.bytes, source: source, transactionSize: Int.max)
    }

    /// Ingests an events file piece by piece, as a parser hands the pieces over (nil: no more),
    /// in transactions of about `transactionSize` events; `progress` hears the running count.
    /// Each transaction keeps the rejects of its lines with them. With `file` (the content
    /// hash), each also records how far the file got, so that an ingest that stopped can go on
    /// after the last line it committed (`resuming`) and a file ingested whole is known again.
    public func ingest(pieces next: () throws -> IngestPiece?, of bytes: [UInt8], source: String, file: String? = nil,
                       resuming previous: IngestProgress? = nil,
                       transactionSize: Int = 100_000, progress: (Int) -> Void = { _ in }) throws -> IngestSummary {
        let skip = previous?.lines ?? 0
        var summary = IngestSummary(ingested: previous?.events ?? 0, duplicates: previous?.duplicates ?? 0, rejected: [], resumedAfterLine: previous.map(\.lines))
        var known: [String: Bool] = [:]
        var done = 0, through = skip
        var open = false, inTransaction = 0, checkedProgress = false
        func record(complete: Bool) throws {
            guard let file else { return }
            try store.setIngestProgress(file: file, IngestProgress(source: source, lines: through, events: summary.ingested, duplicates: summary.duplicates, complete: complete))
        }
        do {
            while let piece = try next() {
                var events = skip == 0 ? piece.events : piece.events.drop { $0.line <= skip }
                var errors = (skip == 0 ? piece.errors : piece.errors.filter { $0.line > skip })[...]
                // A piece goes in as one or more chunks, each ending a transaction once it is
                // full; a chunk takes the rejected lines up to its last event with it.
                while true {
                    let chunk = events.prefix(max(1, transactionSize - inTransaction))
                    events = events.dropFirst(chunk.count)
                    // The piece's last chunk takes every rejected line left, whatever its number.
                    let last = events.isEmpty ? max(piece.throughLine, chunk.last?.line ?? 0, errors.last?.line ?? 0) : (chunk.last?.line ?? piece.throughLine)
                    let chunkErrors = errors.prefix { $0.line <= last }
                    errors = errors.dropFirst(chunkErrors.count)
                    through = max(through, last)
                    if chunk.isEmpty && chunkErrors.isEmpty { break }
                    if !open {
                        try store.begin()
                        open = true
                        // Another ingest of the same file may have got in first: go on only
                        // from what this one read, or stop.
                        if let file, !checkedProgress {
                            checkedProgress = true
                            if try store.ingestProgress(file: file) != previous { throw IngestConflict(source: source) }
                        }
                    }
                    for e in chunkErrors { try store.reject(source: source, line: e.line, reason: e.reason, raw: e.raw, at: now, profile: nil) }
                    summary.rejected += chunkErrors
                    let (unknown, duplicates) = try stage(chunk, source: source, raw: { i in EventFile.raw(chunk[chunk.startIndex + i], in: bytes) }, known: &known)
                    summary.rejected += unknown
                    summary.duplicates += duplicates.count
                    summary.duplicateLines += duplicates
                    summary.ingested += chunk.count - unknown.count - duplicates.count
                    inTransaction += chunk.count + chunkErrors.count
                    done += chunk.count
                    if inTransaction >= transactionSize {
                        try record(complete: false)
                        try store.commit()
                        open = false
                        inTransaction = 0
                    }
                    progress(done)
                    if events.isEmpty { break }
                }
            }
            if file != nil, !open {
                try store.begin()
                open = true
            }
            if open {
                try record(complete: true)
                try store.commit()
            }
        } catch {
            if open { store.rollback() }
            throw error
        }
        return summary
    }

    /// Validated events into the inbox and history, inside the caller's transaction; events for
    /// unknown profiles are rejected and returned, and events whose id was seen before are
    /// counted as duplicates and left out.
    func stage(_ events: ArraySlice<EventFile.Event>, source: String, raw: (Int) -> String, known: inout [String: Bool]) throws -> (rejected: [InputError], duplicates: [Int]) {
        guard let schema = current?.schema else { throw RuntimeFault(message: "no bundle is deployed; run 'journey deploy' first") }
        var rejected: [InputError] = []
        var duplicates: [Int] = []
        var rows: [IncomingRow] = []
        rows.reserveCapacity(events.count)
        let keyed = try store.historyKeyFields()
        let pairing = try store.pairingRules()
        // Which of the batch's profiles exist, asked once for all those not known yet.
        var unknown: [String] = []
        var asked = Set<String>()
        for item in events where !schema.events[item.event.event].catalog && known[item.event.profile] == nil && asked.insert(item.event.profile).inserted {
            unknown.append(item.event.profile)
        }
        if !unknown.isEmpty {
            let existing = try store.existingProfiles(unknown)
            for id in unknown { known[id] = existing.contains(id) }
        }
        for (i, item) in events.enumerated() {
            let (line, e) = (item.line, item.event)
            // Every profile of the batch is known by now (asked for above).
            guard schema.events[e.event].catalog || known[e.profile] == true else {
                let err = InputError(line: line, reason: "unknown profile '\(e.profile)': import the profile before its events", raw: raw(i))
                try store.reject(source: source, line: line, reason: err.reason, raw: err.raw, at: e.at, profile: e.profile)
                rejected.append(err)
                continue
            }
            if let id = e.id, try !store.claimEventID(profile: e.profile, id: id) {
                duplicates.append(line)
                continue
            }
            let def = schema.events[e.event]
            var keys: [(field: String, key: String)] = []
            for field in keyed[def.name] ?? [] {
                for key in ValueEncoding.indexKeys(e.fields, at: def.fieldIndex(field)) { keys.append((field, key)) }
            }
            var pairs: [(field: String, window: Int64, key: String)] = []
            for rule in pairing where rule.event == def.name {
                guard let key = ValueEncoding.indexKeys(e.fields, at: def.fieldIndex(rule.field)).first else { continue }
                pairs.append((rule.field, rule.window, key))
            }
            rows.append(IncomingRow(profile: e.profile, event: def.name, at: e.at, data: item.blob ?? ValueEncoding.eventBlob(e.fields, def), keys: keys, pairs: pairs))
            // (`item.blob` is the parser's encoding: the events were parsed with this schema,
            // as `e.event` indexes it.)
        }
        // Written into the history in key order as the transaction ends (nothing in it reads history).
        try store.enqueue(rows, deferringHistory: true)
        return (rejected, duplicates)
    }

    public func recordRejects(_ errors: [InputError], source: String) throws {
        guard !errors.isEmpty else { return }
        try store.transaction {
            for e in errors { try store.reject(source: source, line: e.line, reason: e.reason, raw: e.raw, at: now, profile: nil) }
        }
    }

    // MARK: - Running

    enum Item {
        case event(InboxItem)
        case timer(id: Int64, due: Int64, instance: Int64)
        case audience(journey: String, timezone: String, at: Int64)

        var at: Int64 {
            switch self {
            case .event(let e): e.at
            case .timer(_, let due, _): due
            case .audience(_, _, let at): at
            }
        }
        /// What tells one item from another: the same item twice in a row means a step made no
        /// progress.
        var profile: String? { if case .event(let e) = self { e.profile } else { nil } }
        var instance: Int64? { if case .timer(_, _, let i) = self { i } else { nil } }

        var key: String {
            switch self {
            case .event(let e): "event \(e.seq) at \(e.at)"
            case .timer(let id, let due, _): "timer \(id) due at \(due)"
            case .audience(let j, let tz, let at): "audience run of \(j) in \(tz) at \(at)"
            }
        }

        /// Whether two items are the same one (what `key` names, without building the text).
        func isSame(as o: Item) -> Bool {
            switch (self, o) {
            case (.event(let a), .event(let b)): a.seq == b.seq && a.at == b.at
            case (.timer(let a, let da, _), .timer(let b, let db, _)): a == b && da == db
            case (.audience(let ja, let ta, let aa), .audience(let jb, let tb, let ab)): aa == ab && ja == jb && ta == tb
            default: false
            }
        }
        /// At one instant: events, then audience runs, then timers (so `within` is inclusive).
        var rank: Int {
            switch self {
            case .event: 0
            case .audience: 1
            case .timer: 2
            }
        }
    }

    /// Cancels an instance's timers. A read-ahead holding one of them is read again (a timer
    /// id may be given anew once its timer is gone, so remembering ids would not do).
    func removeTimers(instance: Int64) throws {
        let gone = try store.removeTimers(instance: instance)
        if !gone.isEmpty, timersAhead.contains(where: { gone.contains($0.id) }) {
            timersAhead = []
            timersDrained = false
        }
    }

    /// Adds a timer, keeping the read-ahead in order: one due before the last timer read ahead
    /// (or with none read ahead but more in the store) makes the next look read again.
    func addTimer(due: Int64, instance: Int64) throws {
        try store.addTimer(due: due, instance: instance)
        if let lastRead = timersAhead.first, due <= lastRead.due {
            timersAhead = []
            timersDrained = false
        } else if timersAhead.isEmpty {
            timersDrained = false
        }
    }

    /// Audience journeys start at their daily time in each time zone from `from` on.
    func scheduleAudience(from: Int64) throws {
        guard let b = current else { return }
        let known = Set(try store.audienceSchedule().map { "\($0.journey)\u{0}\($0.timezone)" })
        for j in b.journeys {
            guard case .daily(let minutes) = j.trigger else { continue }
            for tz in try store.profileTimezones() {
                let key = tz ?? "UTC"
                guard !known.contains("\(j.name)\u{0}\(key)") else { continue }
                try store.setAudience(journey: j.name, timezone: key, nextAt: Zones.next(minutes: minutes, after: from - 1, zones.zone(key)))
            }
        }
    }

    func nextItem(until: Int64?, audienceUntil: Int64?) throws -> Item? {
        var best: Item?
        func consider(_ i: Item) {
            guard let b = best else { best = i; return }
            if (i.at, i.rank) < (b.at, b.rank) { best = i }
        }
        // Inbox events are read ahead in chunks. The read-ahead is dropped at each transaction's
        // start: between transactions another process may ingest (even events already due).
        if inboxAhead.isEmpty, !inboxDrained {
            inboxAhead = try store.inbox(until: until, limit: 512)
            inboxAhead.reverse()
            inboxDrained = inboxAhead.count < 512
        }
        if let e = inboxAhead.last { consider(.event(e)) }
        // Timers are read ahead too; a timer added before the last one read clears the read-ahead
        // (`addTimer`), and one cancelled meanwhile is skipped when its turn comes.
        if timersAhead.isEmpty, !timersDrained {
            timersAhead = try store.timers(until: until, limit: 512).reversed()
            timersDrained = timersAhead.count < 512
        }
        if let t = timersAhead.last { consider(.timer(id: t.id, due: t.due, instance: t.instance)) }
        let limit = [until, audienceUntil].compactMap { $0 }.min()
        if hasAudience {
            if nextAudience == nil { nextAudience = try store.nextAudienceRun().map { .some($0) } ?? .some(nil) }
            if case .some(let a?) = nextAudience, a.nextAt <= (limit ?? Int64.max) {
                consider(.audience(journey: a.journey, timezone: a.timezone, at: a.nextAt))
            }
        }
        return best
    }

    /// Processes everything due up to `until` (nil: until nothing is left), in time order, in
    /// transactions of `batchSize` steps. Audience journeys run up to `audienceUntil` (or `until`).
    @discardableResult
    public func run(until: Int64?, audienceUntil: Int64? = nil, start: Int64? = nil) throws -> RunStats {
        var stats = RunStats()
        try adoptDeployedBundle()
        guard current != nil else { return stats }
        if let s = start { now = max(now, s) }
        var base: Int64
        if let s = start { base = s } else if now != 0 { base = now } else { base = try store.nextInbox(until: nil)?.at ?? until ?? now }
        // Audience journeys never start before their deploy: a run on the wall clock over a
        // database of old events does not replay the days before it. (A replay that ends
        // before the deploy, on a virtual clock, is left alone.)
        if let deployed = try store.currentDeployedAt(), deployed > base, deployed <= (audienceUntil ?? until ?? Int64.max) { base = deployed }
        try store.begin()
        do {
            try scheduleAudience(from: base)
            try store.commit()
        } catch {
            store.rollback()
            throw error
        }
        var done = false
        hasAudience = current?.journeys.contains { if case .daily = $0.trigger { true } else { false } } ?? false
        var stopped = false
        while !done {
            if stopRequested?() == true {
                stopped = true
                break
            }
            inboxAhead = []
            inboxDrained = false
            timersAhead = []
            timersDrained = false
            nextAudience = nil
            try store.begin()
            do {
                var steps = 0
                var last: Item?
                let began = DispatchTime.now().uptimeNanoseconds
                let budget = UInt64(max(0, batchTime) * 1e9)
                while steps < batchSize {
                    if steps & 63 == 63, DispatchTime.now().uptimeNanoseconds - began > budget { break }
                    guard let item = try nextItem(until: until, audienceUntil: audienceUntil) else { done = true; break }
                    // Every step consumes its item; one that comes back would be taken forever.
                    if let l = last, l.isSame(as: item) { throw NoProgress(item: item.key) }
                    last = item
                    now = try store.advanceClock(now, to: item.at, profile: item.profile, instance: item.instance)
                    try process(item, &stats)
                    steps += 1
                }
                try flushTally()
                try store.setMeta("clock", String(now))
                try store.commit()
            } catch {
                store.rollback()
                dropTally()
                inboxAhead = []
                timersAhead = []
                throw error
            }
        }
        if !stopped, let u = until, u > now {
            now = u
            try store.begin()
            try store.setMeta("clock", String(now))
            try store.commit()
        }
        return stats
    }

    func process(_ item: Item, _ stats: inout RunStats) throws {
        switch item {
        case .event(let e):
            inboxAhead.removeLast()
            if inboxAhead.isEmpty { inboxDrained = false }
            try handleEvent(e, &stats)
            stats.events += 1
        case .timer(let id, _, let instance):
            timersAhead.removeLast()
            if timersAhead.isEmpty { timersDrained = false }
            store.markTimerFired(due: item.at, id: id)
            try handleTimer(instance, &stats)
            stats.timers += 1
        case .audience(let journey, let tz, let at):
            try handleAudience(journey, tz, at, &stats)
            nextAudience = nil
            stats.audienceRuns += 1
        }
    }
}
