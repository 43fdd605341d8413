import JourneyBytecode

/// An ingested event waiting in the inbox.
public struct InboxItem: Sendable {
    public var seq: Int64
    public var profile: String
    public var event: String
    public var at: Int64
    /// The event's fields, as `ValueEncoding.eventBlob` wrote them.
    public var data: [UInt8]

    public init(seq: Int64, profile: String, event: String, at: Int64, data: [UInt8]) {
        self.seq = seq
        self.profile = profile
        self.event = event
        self.at = at
        self.data = data
    }
}

/// How far the ingest of one file (known by its content hash) got: every line up to `lines`
/// is in (events stored, rejects kept), and `complete` once the whole file is.
public struct IngestProgress: Sendable, Equatable {
    public var source: String
    public var lines: Int
    public var events: Int
    public var duplicates: Int
    public var complete: Bool

    public init(source: String, lines: Int, events: Int, duplicates: Int, complete: Bool) {
        self.source = source
        self.lines = lines
        self.events = events
        self.duplicates = duplicates
        self.complete = complete
    }
}

/// A validated event on its way into the store.
public struct IncomingRow: Sendable {
    public var profile: String
    public var event: String
    public var at: Int64
    /// The event's fields, as `ValueEncoding.eventBlob` wrote them.
    public var data: [UInt8]
    /// Its rows in the history index: (field, key) for each indexed field.
    public var keys: [(field: String, key: String)]
    /// The pairs it makes for `also`: per pairing rule of its event, the field, window and key.
    public var pairs: [(field: String, window: Int64, key: String)]

    public init(profile: String, event: String, at: Int64, data: [UInt8], keys: [(field: String, key: String)] = [],
                pairs: [(field: String, window: Int64, key: String)] = []) {
        self.profile = profile
        self.event = event
        self.at = at
        self.data = data
        self.keys = keys
        self.pairs = pairs
    }
}

/// An analytics counter of one journey version, for the instances that entered in one hour:
/// how often `what` happened at a step (`step` -1 is the journey itself: entered, completed,
/// exited, converted, failed).
public struct StepCount: Sendable, Hashable {
    public var journey: String
    public var bundle: String
    public var step: Int
    public var what: String
    /// The first instant (epoch seconds) of the hour the counted instances entered in.
    public var hour: Int64
    public var n: Int64

    public init(journey: String, bundle: String, step: Int, what: String, hour: Int64, n: Int64) {
        self.journey = journey
        self.bundle = bundle
        self.step = step
        self.what = what
        self.hour = hour
        self.n = n
    }
}

/// The branch (0-based) an instance took at a split step.
public struct BranchTaken: Sendable, Hashable {
    public var instance: Int64
    public var step: Int
    public var branch: Int

    public init(instance: Int64, step: Int, branch: Int) {
        self.instance = instance
        self.step = step
        self.branch = branch
    }
}

/// A stored journey instance: everything needed to resume it.
public struct InstanceRow: Sendable {
    public var id: Int64
    public var journey: String
    public var profile: String
    public var bundle: String
    public var pc: Int
    public var locals: [Value]
    public var sends: Int
    public var status: String
    public var enteredAt: Int64

    public init(id: Int64, journey: String, profile: String, bundle: String, pc: Int, locals: [Value], sends: Int, status: String, enteredAt: Int64) {
        self.id = id
        self.journey = journey
        self.profile = profile
        self.bundle = bundle
        self.pc = pc
        self.locals = locals
        self.sends = sends
        self.status = status
        self.enteredAt = enteredAt
    }
}

/// One message of the outbox.
public struct OutboxRow: Sendable {
    public var seq: Int64
    public var id: String
    public var at: Int64
    public var profile: String
    public var journey: String
    public var channel: String?
    public var status: String
    public var content: String?
    /// Why a message was not sent (undeliverable: each channel of the chain and why it could
    /// not take it; suppressed: the cap).
    public var reason: String?

    public init(seq: Int64, id: String, at: Int64, profile: String, journey: String, channel: String?, status: String, content: String?, reason: String?) {
        self.seq = seq
        self.id = id
        self.at = at
        self.profile = profile
        self.journey = journey
        self.channel = channel
        self.status = status
        self.content = content
        self.reason = reason
    }
}

/// What the engine needs from storage: the SQLite store today (a file, or `:memory:` for the
/// simulator and tests), a server database later. Every write happens inside `begin`/`commit`.
public protocol JourneyStore: AnyObject {
    func begin() throws
    func commit() throws
    func rollback()

    func deploy(bytes: [UInt8], hash: String, at: Int64) throws -> Bool
    func currentBundle() throws -> (hash: String, bytes: [UInt8])?
    /// The current bundle's hash alone (a cheap check for a deploy by another process).
    func currentBundleHash() throws -> String?
    func bundleBytes(_ hash: String) throws -> [UInt8]?
    func bundleHashes() throws -> [String]

    func migrateProfiles(_ schema: RuntimeSchema) throws
    func loadProfile(_ id: String) throws -> [Value]?
    func profileExists(_ id: String) throws -> Bool
    /// Which of these profiles exist (a server store answers in one round trip).
    func existingProfiles(_ ids: [String]) throws -> Set<String>
    func saveProfile(_ id: String, _ values: [Value]) throws
    func profileTimezones() throws -> [String?]
    /// Scans every profile of a time zone group (nil: none set or UTC), reading only the listed
    /// attributes (the others are none), and returns the ids of those `filter` keeps. A store
    /// may leave out the profiles `condition` is false for (the predicate would not let them
    /// in); one that does not turn it into its own query reads them all.
    func scanProfiles(timezone: String?, attributes: [Int], condition: ProfileCondition?, filter: (_ id: () -> String, _ values: [Value]) throws -> Bool) throws -> [String]

    /// A profile's stored events of one kind since an instant (inclusive), oldest first, decoded
    /// as records of one bundle's definition (`index` is its number in that bundle's schema).
    func records(profile: String, event: EventDef, index: Int, since: Int64?) throws -> ArraySlice<Record>
    func historyCount(profile: String, event: String, since: Int64?) throws -> Int

    /// The history index (`for each profile` journeys): the indexed fields by event, making it
    /// hold exactly a set of them (filled from the stored history), and the profiles with an
    /// event whose field held a key (`ValueEncoding.indexKeys`) in a window, in id order.
    func historyKeyFields() throws -> [String: [String]]
    func setHistoryKeyFields(_ wanted: [String: [String]], schema: RuntimeSchema) throws
    func profilesWithKey(event: String, field: String, key: String, since: Int64?, until: Int64) throws -> Set<String>
    /// How many such events history queries see now (or profiles, when `distinct`).
    func countWithKey(event: String, field: String, keys: [String], since: Int64?, until: Int64, distinct: Bool) throws -> Int
    /// Co-occurrence counts for `also`: the rules kept, making them exactly a set (counted from
    /// the stored history), and the values most often paired with a key.
    func pairingRules() throws -> [PairingRule]
    func setPairingRules(_ wanted: [PairingRule], schema: RuntimeSchema) throws
    func companions(event: String, field: String, window: Int64, key: String, limit: Int) throws -> [String]
    /// Every profile, as `scanProfiles` reads them, whatever their time zone.
    func scanAllProfiles(attributes: [Int], filter: (_ id: () -> String, _ values: [Value]) throws -> Bool) throws -> [String]

    /// Puts ingested events in the inbox, numbered in the order given (which orders events of
    /// one instant), and in the profiles' history, where queries see them once taken.
    func enqueue(_ events: [IncomingRow]) throws
    /// `enqueue`, where the store may hold the history rows back until `flushDeferredHistory`
    /// or the commit (the caller reads no history in between), given the order the rows should
    /// go into the history in (the history's key, profile, event, at, arrival, as far as the
    /// caller worked it out on another thread; nil: none): a hint for speed only, what is
    /// stored is the same whatever it says.
    func enqueue(_ events: [IncomingRow], deferringHistory: Bool, historyOrder: [Int]?) throws
    func flushDeferredHistory() throws
    /// The run takes an inbox event: from now on history queries see it, and once the
    /// transaction commits it is never offered again, nor is any event before it. Events are
    /// taken strictly in inbox order (late arrivals, being earliest, come first).
    func markTaken(at: Int64, seq: Int64)
    /// `markTaken(at:seq:)` given the event itself, which a store may keep in its cached
    /// history at once.
    func markTaken(_ e: InboxItem)
    /// `markTaken(_:)`, given the event as the run decoded it with `def` (a store that caches
    /// history may keep the decoded record rather than decode it again).
    func markTaken(_ e: InboxItem, decoded: (record: Record, def: EventDef)?)
    /// The events whose history the journeys read (`JourneyBundle.historyEvents`), told as
    /// each bundle becomes known (the set only grows): a store may leave the others' history
    /// out of its cache. Until it is told, every event's history may be read.
    func readsHistory(of events: Set<String>)
    func nextInbox(until: Int64?) throws -> InboxItem?
    /// The first `limit` inbox events due by `until`, in processing order, that this
    /// transaction has not taken yet (outside a transaction: that no transaction has taken).
    func inbox(until: Int64?, limit: Int) throws -> [InboxItem]

    /// An id for a new instance of this profile, reserved for this transaction (SQLite: the
    /// next after every stored one; PostgreSQL: numbered per partition).
    func nextInstanceID(profile: String) throws -> Int64
    /// Stores a new instance as it is after its first step: waiting, or ended at `endedAt`.
    func insertInstance(_ row: InstanceRow, endedAt: Int64?) throws
    func loadInstance(_ id: Int64) throws -> InstanceRow?
    func updateInstance(_ row: InstanceRow, endedAt: Int64?) throws
    /// Records how an instance ended (its pc and locals are no longer needed).
    func endInstance(_ row: InstanceRow, at: Int64) throws
    func activeInstances(profile: String) throws -> [InstanceRow]
    func entryStats(journey: String, profile: String) throws -> (active: Int, total: Int, lastEntered: Int64?)

    func addTimer(due: Int64, instance: Int64) throws
    /// The first `limit` timers due by `until`, in firing order (due, then id), that this
    /// transaction has not fired yet.
    func timers(until: Int64?, limit: Int) throws -> [(id: Int64, due: Int64, instance: Int64)]
    /// The run fires a timer: when the transaction commits it leaves, with every timer before
    /// it in firing order (those were fired or cancelled: timers fire strictly in that order,
    /// and a new one is never due before the clock).
    func markTimerFired(due: Int64, id: Int64)
    /// Cancels an instance's timers, returning their ids.
    @discardableResult
    func removeTimers(instance: Int64) throws -> [Int64]
    func addWait(instance: Int64, profile: String, event: String) throws
    func waiters(profile: String, event: String) throws -> [Int64]
    func removeWaits(instance: Int64) throws

    /// `address` is the one the send resolved (token, phone, email…). A sent message for a
    /// provider starts its delivery as pending. `bundle` and `step` say which send made it.
    func appendOutbox(id: String, at: Int64, profile: String, journey: String, channel: String?, status: String, content: String?, reason: String?, address: String?,
                      bundle: String?, step: Int?) throws
    /// Adds each row's count to the stored one: the analytics, written with the steps they count.
    func addStepCounts(_ rows: [StepCount]) throws
    /// Keeps which branch of each split an instance took.
    func recordBranches(_ rows: [BranchTaken]) throws
    /// Takes back messages of a step that faulted (they were never handed on).
    func removeOutbox(ids: [String]) throws
    func sentCount(profile: String, since: Int64) throws -> Int
    /// Messages after `afterSeq` in outbox order, at most `limit` of them (page on with the
    /// last one's `seq`).
    func outbox(afterSeq: Int64, limit: Int) throws -> [OutboxRow]
    /// The outbox's last message number (0 when empty).
    func lastOutboxSeq() throws -> Int64

    /// Records that a profile's event with this id has arrived; false when it had before.
    func claimEventID(profile: String, id: String) throws -> Bool
    /// How far an earlier ingest of the file with this content hash got, if one began.
    func ingestProgress(file: String) throws -> IngestProgress?
    func setIngestProgress(file: String, _ progress: IngestProgress) throws
    func forgetIngest(file: String) throws

    /// Keeps a refused line (or a failed instance's reason) aside; `profile` when it is known
    /// (else the store takes it from the line when the line names one).
    func reject(source: String, line: Int, reason: String, raw: String, at: Int64, profile: String?) throws
    func rejects() throws -> [(source: String, line: Int, reason: String, raw: String)]

    func audienceSchedule() throws -> [(journey: String, timezone: String, nextAt: Int64)]
    func setAudience(journey: String, timezone: String, nextAt: Int64) throws
    /// Drops every scheduled run of a journey (it is no longer a daily journey, or its time changed).
    func removeAudience(journey: String) throws

    /// When the current bundle was deployed (the instant given to `deploy`).
    func currentDeployedAt() throws -> Int64?
    /// The profile columns kept: attribute name → declared type (without `?`).
    func profileColumns() throws -> [String: String]
    /// How many profiles have a value for the attribute, and how many have none.
    func valueCounts(attribute: String) throws -> (set: Int, missing: Int)
    func profileCount() throws -> Int

    /// Makes the database's files whole on their own before the process exits (for SQLite: the
    /// write-ahead log checkpointed into the main file).
    func checkpoint() throws

    func meta(_ key: String) throws -> String?
    func setMeta(_ key: String, _ value: String) throws

    /// The clock for the next item the run takes (an event of `profile`, a timer of `instance`,
    /// or an audience run): `now` moved on to `at`, never back. A store shared by many workers
    /// keeps a clock per partition of profiles, so that what one partition's profiles see does
    /// not depend on how far other partitions have got.
    func advanceClock(_ now: Int64, to at: Int64, profile: String?, instance: Int64?) throws -> Int64
    /// An audience run of `journey` in `timezone`, scheduled at `at`, starts: its scan and the
    /// `setAudience` that ends it. A store that many workers share keeps it to the partitions
    /// this worker holds that are due; a store with one runner has nothing to do.
    func audienceRunStarts(journey: String, timezone: String, at: Int64) throws
    /// The earliest scheduled audience run (the first of `audienceSchedule`).
    func nextAudienceRun() throws -> (journey: String, timezone: String, nextAt: Int64)?
}

extension JourneyStore {
    public func existingProfiles(_ ids: [String]) throws -> Set<String> {
        var out = Set<String>()
        for id in ids where try profileExists(id) { out.insert(id) }
        return out
    }

    public func advanceClock(_ now: Int64, to at: Int64, profile: String?, instance: Int64?) throws -> Int64 { max(now, at) }

    public func markTaken(_ e: InboxItem) { markTaken(at: e.at, seq: e.seq) }

    public func markTaken(_ e: InboxItem, decoded: (record: Record, def: EventDef)?) { markTaken(e) }

    public func readsHistory(of events: Set<String>) {}

    /// (A store that holds nothing back writes at once.)
    public func enqueue(_ events: [IncomingRow], deferringHistory: Bool, historyOrder: [Int]?) throws { try enqueue(events) }

    public func enqueue(_ events: [IncomingRow], deferringHistory: Bool) throws {
        try enqueue(events, deferringHistory: deferringHistory, historyOrder: nil)
    }

    public func flushDeferredHistory() throws {}

    public func audienceRunStarts(journey: String, timezone: String, at: Int64) throws {}

    public func nextAudienceRun() throws -> (journey: String, timezone: String, nextAt: Int64)? { try audienceSchedule().first }
}

/// What a rejected line says of itself.
public enum RejectedLine {
    /// The profile a rejected JSON line names: an event's "profile", a profile line's "id".
    public static func profile(_ raw: String) -> String? {
        guard raw.utf8.first == UInt8(ascii: "{"), case .object(let members)? = try? JSON.parse(Array(raw.utf8)) else { return nil }
        for (key, value) in members where key == "profile" || key == "id" {
            if case .string(let s) = value { return s }
        }
        return nil
    }
}

extension JourneyStore {
    /// Runs `body` in one transaction: all of it is written, or none (an error rolls it back
    /// and is thrown on).
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try begin()
        do {
            let result = try body()
            try commit()
            return result
        } catch {
            rollback()
            throw error
        }
    }
}
