import JourneyBytecode

// Instances, entry counts for the re-entry rules, timers and waits.

extension SQLiteStore {
    public func nextInstanceID(profile: String) throws -> Int64 {
        // Above every instance there is and every one erased (`instance_floor`): an instance
        // number, and so a message id, is never given twice.
        try nextNumber(after: &lastInstanceID, reading: "SELECT MAX((SELECT COALESCE(MAX(id), 0) FROM instances), COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'instance_floor'), 0))")
    }

    /// The next number of a series counted in memory within a transaction (`last`: the last one
    /// given; nil: read the largest so far with `sql` first).
    func nextNumber(after last: inout Int64?, reading sql: StaticString) throws -> Int64 {
        if last == nil {
            let s = try statement(sql)
            defer { s.reset() }
            last = try s.step() ? s.int64(0) : 0
        }
        let n = (last ?? 0) + 1
        last = n
        return n
    }

    public func insertInstance(_ row: InstanceRow, endedAt: Int64?) throws {
        noteEntered(row, active: endedAt == nil)
        try holdInstance(HeldInstance(write: .insert, row: row, endedAt: endedAt, emptyLocals: endedAt != nil))
    }

    func instance(_ s: Statement) -> InstanceRow {
        InstanceRow(id: s.int64(0), journey: s.text(1), profile: s.text(2), bundle: s.text(3), pc: s.int(4),
                    locals: ValueEncoding.decode(s.blob(5)) ?? [], sends: s.int(6), status: s.text(7), enteredAt: s.int64(8))
    }

    public func loadInstance(_ id: Int64) throws -> InstanceRow? {
        if let held = heldInstances[id] { return held.row }
        let s = try statement("SELECT id, journey, profile, bundle, pc, locals, sends, status, entered_at FROM instances WHERE id = ?")
        defer { s.reset() }
        s.bind(1, id)
        return try s.step() ? instance(s) : nil
    }

    public func updateInstance(_ row: InstanceRow, endedAt: Int64?) throws {
        if row.status != "active" { noteEnded(row) }
        // A row held for insertion stays one, now as it is (with these values, as the update
        // would have written them).
        let write = heldInstances[row.id].map { $0.write == .insert ? HeldInstance.Write.insert : .update } ?? .update
        try holdInstance(HeldInstance(write: write, row: row, endedAt: endedAt, emptyLocals: false))
    }

    func rewriteInstance(_ row: InstanceRow, endedAt: Int64?) throws {
        let s = try statement("UPDATE instances SET pc = ?, locals = ?, sends = ?, status = ?, ended_at = ? WHERE id = ?")
        s.bind(1, row.pc); s.bind(2, ValueEncoding.encode(row.locals)); s.bind(3, row.sends); s.bind(4, row.status); s.bind(5, endedAt); s.bind(6, row.id)
        try s.run()
    }

    public func endInstance(_ row: InstanceRow, at: Int64) throws {
        noteEnded(row)
        if var h = heldInstances[row.id] {
            // As the UPDATE would: status, sends and end; the place and values stay.
            h.row.status = row.status
            h.row.sends = row.sends
            h.endedAt = at
            try holdInstance(h)
        } else {
            try holdInstance(HeldInstance(write: .end, row: row, endedAt: at))
        }
    }

    func writeEnd(_ row: InstanceRow, at: Int64) throws {
        let s = try statement("UPDATE instances SET status = ?, sends = ?, ended_at = ? WHERE id = ?")
        s.bind(1, row.status); s.bind(2, row.sends); s.bind(3, at); s.bind(4, row.id)
        try s.run()
    }

    /// An active instance ended (only active instances are ever updated or ended).
    func noteEnded(_ row: InstanceRow) {
        guard cachesUsable else { return }
        // (Each count is found and changed in place: one lookup.)
        let wasActive = Self.end(&entryCache[EntryKey(journey: row.journey, profile: row.profile)])
        if entriesComplete, wasActive == true { Self.end(&activeByProfile[row.profile]) }
    }

    /// One entry fewer active; whether one was (nil: not counted).
    @discardableResult
    static func end(_ e: inout (active: Int, total: Int, lastEntered: Int64?)?) -> Bool? {
        guard let old = e else { return nil }
        e = (max(0, old.active - 1), old.total, old.lastEntered)
        return old.active > 0
    }

    static func end(_ n: inout Int?) {
        if let old = n { n = old > 1 ? old - 1 : nil }
    }

    /// One entry more, when counted (or when every entry is: then it is the first); whether
    /// the count is new.
    static func enter(_ e: inout (active: Int, total: Int, lastEntered: Int64?)?, active: Bool, at: Int64, complete: Bool) -> Bool {
        if let old = e {
            e = (old.active + (active ? 1 : 0), old.total + 1, max(old.lastEntered ?? at, at))
            return false
        }
        guard complete else { return false }
        e = (active ? 1 : 0, 1, at)
        return true
    }

    func noteEntered(_ row: InstanceRow, active: Bool) {
        guard cachesUsable else { return }
        if active, entriesComplete { activeByProfile[row.profile, default: 0] += 1 }
        let complete = entriesComplete
        if Self.enter(&entryCache[EntryKey(journey: row.journey, profile: row.profile)], active: active, at: row.enteredAt, complete: complete) {
            if entryCache.count > Self.entryCacheLimit {
                entryCache = [:]
                activeByProfile = [:]
                entriesComplete = false
            }
        }
    }

    public func entryStats(journey: String, profile: String) throws -> (active: Int, total: Int, lastEntered: Int64?) {
        let key = EntryKey(journey: journey, profile: profile)
        if cachesUsable {
            if let e = entryCache[key] { return e }
            if entriesComplete { return (0, 0, nil) }
            entryMisses += 1
            // Few instances (a fresh database): count them all at the first miss; more: after
            // as many misses as the other caches wait for.
            let scanUpTo = entryMisses == 1 ? 10_000 : entryMisses == missesBeforeScan ? Self.entryCacheLimit : 0
            if scanUpTo > 0, try loadAllEntries(upTo: scanUpTo) { return entryCache[key] ?? (0, 0, nil) }
        }
        let s = try statement("SELECT COALESCE(SUM(status = 'active'), 0), COUNT(*), MAX(entered_at) FROM instances WHERE journey = ? AND profile = ?")
        defer { s.reset() }
        s.bind(1, journey); s.bind(2, profile)
        // What the table holds, and what this transaction holds besides.
        let e = mergeHeld(try s.step() ? (s.int(0), s.int(1), s.optionalInt64(2)) : (0, 0, nil), journey: journey, profile: profile)
        if cachesUsable {
            if entryCache.count >= Self.entryCacheLimit { entryCache = [:] }
            entryCache[key] = e
        }
        return e
    }

    /// Counts the entries of every (journey, profile) at once, when there are few enough
    /// instances for the count to be cheap and the cache to hold them.
    func loadAllEntries(upTo limit: Int) throws -> Bool {
        let m = try statement("SELECT COALESCE(MAX(id), 0) FROM instances")
        let most = max(try m.step() ? m.int(0) : 0, Int(lastInstanceID ?? 0))
        m.reset()
        guard most <= limit else { return false }
        try flushHeld()
        let s = try statement("SELECT journey, profile, COALESCE(SUM(status = 'active'), 0), COUNT(*), MAX(entered_at) FROM instances GROUP BY profile, journey")
        defer { s.reset() }
        var all: [EntryKey: (active: Int, total: Int, lastEntered: Int64?)] = [:]
        var active: [String: Int] = [:]
        while try s.step() {
            let profile = s.text(1)
            all[EntryKey(journey: s.text(0), profile: profile)] = (s.int(2), s.int(3), s.optionalInt64(4))
            if s.int(2) > 0 { active[profile, default: 0] += s.int(2) }
        }
        entryCache = all
        activeByProfile = active
        entriesComplete = true
        return true
    }

    public func activeInstances(profile: String) throws -> [InstanceRow] {
        // Every entry counted, and none of this profile's active: nothing to read.
        if cachesUsable, entriesComplete, activeByProfile[profile] == nil { return [] }
        let s = try statement("SELECT id, journey, profile, bundle, pc, locals, sends, status, entered_at FROM instances WHERE profile = ? AND status = 'active' ORDER BY id")
        s.bind(1, profile)
        var out: [InstanceRow] = []
        while try s.step() { out.append(instance(s)) }
        s.reset()
        return mergeHeld(out, profile: profile)
    }

    public func addTimer(due: Int64, instance: Int64) throws {
        try holdTimer(due: due, instance: instance)
    }

    public func timers(until: Int64?, limit: Int) throws -> [(id: Int64, due: Int64, instance: Int64)] {
        // What this transaction fired is still in the table until it commits: read on after it.
        let after = firedThrough
        let s = try statement("SELECT id, due, instance FROM timers WHERE (due, id) > (?, ?) AND due <= ? ORDER BY due, id LIMIT ?")
        s.bind(1, after?.due ?? Int64.min); s.bind(2, after?.id ?? Int64.min); s.bind(3, until ?? Int64.max); s.bind(4, limit)
        var out: [(Int64, Int64, Int64)] = []
        while try s.step() { out.append((s.int64(0), s.int64(1), s.int64(2))) }
        s.reset()
        return mergeHeldTimers(out, after: after.map { ($0.due, $0.id) } ?? (Int64.min, Int64.min), until: until ?? Int64.max, limit: limit)
    }

    public func markTimerFired(due: Int64, id: Int64) {
        firedThrough = (due, id)
        dropFiredHeld(through: (due, id))
    }

    @discardableResult
    public func removeTimers(instance: Int64) throws -> [Int64] {
        var ids = dropHeldTimers(instance: instance)
        // An instance inserted in this transaction, with nothing written since it began, has
        // no timers but held ones.
        if !heldWritten, heldInstances[instance]?.write == .insert { return ids }
        let s = try statement("DELETE FROM timers WHERE instance = ? RETURNING id")
        s.bind(1, instance)
        while try s.step() { ids.append(s.int64(0)) }
        s.reset()
        return ids
    }

    public func addWait(instance: Int64, profile: String, event: String) throws {
        let s = try statement("INSERT OR REPLACE INTO waits(instance, profile, event) VALUES (?, ?, ?)")
        s.bind(1, instance); s.bind(2, profile); s.bind(3, event)
        try s.run()
    }

    public func waiters(profile: String, event: String) throws -> [Int64] {
        let s = try statement("SELECT instance FROM waits WHERE profile = ? AND event = ? ORDER BY instance")
        s.bind(1, profile); s.bind(2, event)
        var out: [Int64] = []
        while try s.step() { out.append(s.int64(0)) }
        s.reset()
        return out
    }

    public func removeWaits(instance: Int64) throws {
        let s = try statement("DELETE FROM waits WHERE instance = ?")
        s.bind(1, instance)
        try s.run()
    }
}

/// One instance as `journey instances` lists it.
/// The source lines where instances stand, from their bundles (each read once).
public struct InstanceLines {
    let store: any JourneyStore
    var bundles: [String: JourneyBundle] = [:]

    public init(store: any JourneyStore) { self.store = store }

    /// The line of the statement an instance is at (where it waits, or where it failed), when
    /// its bundle can be read.
    public mutating func line(_ i: InstanceSummary) -> Int? {
        if bundles[i.bundle] == nil, let bytes = try? store.bundleBytes(i.bundle), let b = try? JourneyBundle.load(bytes) { bundles[i.bundle] = b }
        return bundles[i.bundle]?.journey(named: i.journey)?.functions.first?.line(at: i.pc)
    }
}

public struct InstanceSummary: Sendable {
    public var id: Int64
    public var journey: String
    public var profile: String
    public var bundle: String
    public var pc: Int
    public var status: String
    public var enteredAt: Int64
    public var endedAt: Int64?
    /// For a waiting instance: when its timer is due, and the event it waits for, if any.
    public var due: Int64?
    public var waitsFor: String?
    /// For a failed one: why, as kept in `rejects`.
    public var reason: String?

    public init(id: Int64, journey: String, profile: String, bundle: String, pc: Int, status: String, enteredAt: Int64, endedAt: Int64?, due: Int64?, waitsFor: String?, reason: String?) {
        self.id = id
        self.journey = journey
        self.profile = profile
        self.bundle = bundle
        self.pc = pc
        self.status = status
        self.enteredAt = enteredAt
        self.endedAt = endedAt
        self.due = due
        self.waitsFor = waitsFor
        self.reason = reason
    }
}

/// A store that lists its instances (`journey instances`, the console).
public protocol InstanceListing {
    /// Instances in id order, optionally of one journey and one status (active, completed,
    /// exited, converted, failed), at most `limit`.
    func instanceSummaries(journey: String?, status: String?, limit: Int, profile: String?) throws -> [InstanceSummary]
}

extension SQLiteStore: InstanceListing {
    /// Instances in id order, optionally of one journey and one status (active, completed,
    /// exited, converted, failed), at most `limit`.
    public func instanceSummaries(journey: String?, status: String?, limit: Int, profile: String? = nil) throws -> [InstanceSummary] {
        try flushHeld()
        let s = try db.prepare("""
            SELECT i.id, i.journey, i.profile, i.bundle, i.pc, i.status, i.entered_at, i.ended_at,
                   (SELECT MIN(t.due) FROM timers t WHERE t.instance = i.id), w.event
            FROM instances i LEFT JOIN waits w ON w.instance = i.id
            WHERE \(profile == nil ? "" : "i.profile = ?4 AND ")(?1 IS NULL OR i.journey = ?1) AND (?2 IS NULL OR i.status = ?2)
            ORDER BY i.id \(profile == nil ? "" : "DESC ")LIMIT ?3
            """)
        s.bind(1, journey); s.bind(2, status); s.bind(3, limit)
        if let profile { s.bind(4, profile) }
        var out: [InstanceSummary] = []
        while try s.step() {
            out.append(InstanceSummary(id: s.int64(0), journey: s.text(1), profile: s.text(2), bundle: s.text(3), pc: s.int(4), status: s.text(5),
                                       enteredAt: s.int64(6), endedAt: s.optionalInt64(7), due: s.optionalInt64(8), waitsFor: s.optionalText(9), reason: nil))
        }
        let r = try db.prepare("SELECT reason FROM rejects WHERE source = ? AND reason LIKE ? ORDER BY id DESC LIMIT 1")
        for k in out.indices where out[k].status == "failed" {
            r.reset()
            r.bind(1, "journey \(out[k].journey)")
            r.bind(2, "instance \(out[k].id) for profile %")
            if try r.step() { out[k].reason = r.text(0) }
        }
        return out
    }
}
