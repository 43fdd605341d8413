import Dispatch
import Foundation
import JourneyBytecode
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The SQLite store: WAL, synchronous=FULL, BEGIN IMMEDIATE for writes, statements prepared
/// once and reused, values always bound as parameters.
public final class SQLiteStore: JourneyStore {
    public let db: Database
    private var statements: [String: Statement] = [:]
    private var fixedStatements: [Int: Statement] = [:]
    private var schema = RuntimeSchema()
    private var loadProfileSQL = ""
    private var saveProfileSQL = ""
    /// The profile statements for the current schema, held directly: they run once per step.
    private var loadProfileStatement: Statement?
    private var saveProfileStatement: Statement?
    private var timezoneColumn: String?
    private var knownZones: Set<String> = []

    /// Reads kept across transactions: profiles and event history, written through by this
    /// connection and trusted only while `PRAGMA data_version` shows no other connection has
    /// committed since (checked as each transaction begins), dropped on rollback, and used only
    /// inside transactions. Each is bounded: when full it starts over.
    private var dataVersion: Int64?
    private var profileCache: [String: [Value]] = [:]
    private var historyCache: [HistoryKey: HistoryRows] = [:]
    private var historyCacheRows = 0
    var profileCacheLimit = 200_000
    var historyCacheLimit = 600_000

    struct HistoryKey: Hashable {
        var profile: String
        var event: String
    }

    /// After this many misses in one generation of the caches, a cold cache is filled by one
    /// scan of the whole table instead (when the table fits); from then on it is complete, and
    /// a key it lacks has no row.
    var missesBeforeScan = 1024
    private var profileMisses = 0, historyMisses = 0
    private(set) var profilesComplete = false, historyComplete = false

    private func dropCaches() {
        profileCache = [:]
        historyCache = [:]
        historyCacheRows = 0
        profileMisses = 0
        historyMisses = 0
        profilesComplete = false
        historyComplete = false
        entryCache = [:]
        entryMisses = 0
        entriesComplete = false
    }

    private var cachesUsable: Bool { db.inTransaction }

    /// Opens (creating) the store at `path`; `:memory:` for the simulator and tests.
    public init(path: String) throws {
        db = try Database(path: path)
        if path != ":memory:" {
            try db.exec("PRAGMA journal_mode=WAL")
        }
        try db.exec("PRAGMA synchronous=FULL")
        // A larger page cache keeps the hot indexes (inbox, timers, history) in memory.
        try db.exec("PRAGMA cache_size=-65536")
        try db.exec("PRAGMA temp_store=MEMORY")
        // Checkpoint less often: big batches rewrite the same hot pages many times over.
        try db.exec("PRAGMA wal_autocheckpoint=20000")
        try db.exec(StoreSchema.sql)
        try migrateHistory()
    }

    /// Databases from before the history was written at ingest: their inbox events are not in
    /// the history yet, and everything that is in it has been taken.
    private func migrateHistory() throws {
        guard try meta("history_at_ingest") == nil else { return }
        try begin()
        do {
            if try meta("history_at_ingest") == nil {
                let last = try statement("SELECT at, seq FROM events ORDER BY at DESC, seq DESC LIMIT 1")
                if try last.step() { try setMeta("history_through", "\(last.int64(0)) \(last.int64(1))") }
                last.reset()
                try db.exec("INSERT OR IGNORE INTO events(profile, event, at, seq, data) SELECT profile, event, at, seq, data FROM inbox")
                try setMeta("history_at_ingest", "1")
            }
            try commit()
        } catch {
            rollback()
            throw error
        }
    }

    /// A statement prepared on first use, then reused. Fixed SQL is keyed by the address of its
    /// text, so finding it costs no hashing of the SQL.
    func statement(_ sql: StaticString) throws -> Statement {
        let key = Int(bitPattern: sql.utf8Start)
        if let s = fixedStatements[key] { return s.reset() }
        let s = try db.prepare(sql.description)
        fixedStatements[key] = s
        return s
    }

    /// A statement whose SQL depends on the schema (profile columns), prepared once per schema.
    func statement(dynamic sql: String) throws -> Statement {
        if let s = statements[sql] { return s.reset() }
        let s = try db.prepare(sql)
        statements[sql] = s
        return s
    }

    // MARK: - Transactions

    public func begin() throws {
        try statement("BEGIN IMMEDIATE").run()
        lastSeq = nil // another process may have ingested since
        lastInstanceID = nil
        let v = try statement("PRAGMA data_version")
        defer { v.reset() }
        let version = try v.step() ? v.int64(0) : -1
        if version != dataVersion { dropCaches() }
        dataVersion = version
        try loadVisibility()
    }

    public func commit() throws {
        if seqDirty, let seq = lastSeq {
            try setMeta("inbox_seq", String(seq))
            seqDirty = false
        }
        if let t = firedThrough {
            let s = try statement("DELETE FROM timers WHERE (due, id) <= (?, ?)")
            s.bind(1, t.due); s.bind(2, t.id)
            try s.run()
            firedThrough = nil
        }
        if let t = takenThrough {
            // What the run took leaves the inbox: a prefix of it, in processing order.
            let s = try statement("DELETE FROM inbox WHERE (at, seq) <= (?, ?)")
            s.bind(1, t.at); s.bind(2, t.seq)
            try s.run()
            takenThrough = nil
        }
        if visibleDirty {
            try setMeta("history_through", "\(visibleThrough.at) \(visibleThrough.seq)")
            visibleDirty = false
        }
        try statement("COMMIT").run()
    }

    public func rollback() {
        try? db.exec("ROLLBACK")
        lastSeq = nil
        seqDirty = false
        visibleDirty = false
        takenThrough = nil
        firedThrough = nil
        lastInstanceID = nil
        dropCaches()
    }

    // MARK: - Bundles

    public func deploy(bytes: [UInt8], hash: String, at: Int64) throws -> Bool {
        let s = try statement("INSERT OR IGNORE INTO bundles(hash, bytes, deployed_at) VALUES (?, ?, ?)")
        s.bind(1, hash); s.bind(2, bytes); s.bind(3, at)
        try s.run()
        let fresh = db.changes > 0
        if !fresh {
            // Deploying an older bundle again makes it current again.
            let u = try statement("UPDATE bundles SET seq = (SELECT MAX(seq) + 1 FROM bundles), deployed_at = ? WHERE hash = ? AND seq < (SELECT MAX(seq) FROM bundles)")
            u.bind(1, at); u.bind(2, hash)
            try u.run()
        }
        return fresh
    }

    public func currentBundle() throws -> (hash: String, bytes: [UInt8])? {
        let s = try statement("SELECT hash, bytes FROM bundles ORDER BY seq DESC LIMIT 1")
        defer { s.reset() }
        guard try s.step() else { return nil }
        return (s.text(0), s.blob(1))
    }

    public func bundleBytes(_ hash: String) throws -> [UInt8]? {
        let s = try statement("SELECT bytes FROM bundles WHERE hash = ?")
        defer { s.reset() }
        s.bind(1, hash)
        return try s.step() ? s.blob(0) : nil
    }

    public func bundleHashes() throws -> [String] {
        let s = try statement("SELECT hash FROM bundles ORDER BY seq")
        var out: [String] = []
        while try s.step() { out.append(s.text(0)) }
        s.reset()
        return out
    }

    // MARK: - Profiles

    /// Adds a typed column for every attribute the schema declares (never drops one), and
    /// prepares the profile statements for this schema.
    public func migrateProfiles(_ schema: RuntimeSchema) throws {
        var existing: [String: String] = [:]
        let info = try statement("SELECT name, type FROM profile_columns")
        while try info.step() { existing[info.text(0)] = info.text(1) }
        info.reset()
        for a in schema.attributes {
            let declared = a.type.unwrapped.description
            if let had = existing[a.name] {
                guard StoreSchema.columnType(had) == StoreSchema.columnType(declared) else {
                    throw SQLiteError(code: 0, message: "profile attribute '\(a.name)' changed type from \(had) to \(declared); stored profiles cannot be converted")
                }
                continue
            }
            try db.exec("ALTER TABLE profiles ADD COLUMN \"\(a.name)\" \(StoreSchema.columnType(declared))")
            let s = try statement("INSERT INTO profile_columns(name, type) VALUES (?, ?)")
            s.bind(1, a.name); s.bind(2, declared)
            try s.run()
        }
        self.schema = schema
        dropCaches()
        let cols = schema.attributes.map { "\"\($0.name)\"" }
        loadProfileSQL = "SELECT \(cols.isEmpty ? "id" : cols.joined(separator: ", ")) FROM profiles WHERE id = ?"
        saveProfileSQL = "INSERT OR REPLACE INTO profiles(id\(cols.map { ", " + $0 }.joined())) VALUES (?\(String(repeating: ", ?", count: cols.count)))"
        loadProfileStatement = nil
        saveProfileStatement = nil
        timezoneColumn = schema.timezoneAttribute.map { "\"\(schema.attributes[$0].name)\"" }
    }

    public func loadProfile(_ id: String) throws -> [Value]? {
        if cachesUsable {
            if let cached = profileCache[id] { return cached }
            if profilesComplete { return nil }
            profileMisses += 1
            if profileMisses == missesBeforeScan, try loadAllProfiles() { return profileCache[id] }
        }
        // Past the misses, a table too big to hold is read profile by profile, uncached: over
        // that many profiles, few come back soon enough to be found again.
        let caching = cachesUsable && profileMisses < missesBeforeScan
        let s: Statement
        if let held = loadProfileStatement { s = held } else { s = try statement(dynamic: loadProfileSQL); loadProfileStatement = s }
        defer { s.reset() }
        s.bind(1, id)
        guard try s.step() else { return nil }
        let values = schema.attributes.enumerated().map { i, a in StoreSchema.read(s, Int32(i), a.type) }
        if caching { profileCache[id] = values }
        return values
    }

    /// Reads every profile into the cache, unless there are more than it holds.
    private func loadAllProfiles() throws -> Bool {
        guard try !hasMoreRows("SELECT 1 FROM profiles LIMIT 1 OFFSET ?", than: profileCacheLimit) else { return false }
        let cols = schema.attributes.map { "\"\($0.name)\"" }
        let s = try statement(dynamic: "SELECT id\(cols.map { ", " + $0 }.joined()) FROM profiles")
        defer { s.reset() }
        let types = schema.attributes.map(\.type)
        var all: [String: [Value]] = [:]
        while try s.step() { all[s.text(0)] = types.indices.map { StoreSchema.read(s, Int32($0 + 1), types[$0]) } }
        profileCache = all
        profilesComplete = true
        return true
    }

    /// Whether a table has more than `limit` rows (`sql` skips `limit` rows and asks for one
    /// more), counted by walking its keys without reading the rows.
    private func hasMoreRows(_ sql: StaticString, than limit: Int) throws -> Bool {
        let s = try statement(sql)
        defer { s.reset() }
        s.bind(1, limit)
        return try s.step()
    }

    public func profileIDs(atMost: Int) throws -> Set<String>? {
        guard try !hasMoreRows("SELECT 1 FROM profiles LIMIT 1 OFFSET ?", than: atMost) else { return nil }
        let s = try statement("SELECT id FROM profiles")
        defer { s.reset() }
        var ids = Set<String>()
        while try s.step() { ids.insert(s.text(0)) }
        return ids
    }

    public func profileExists(_ id: String) throws -> Bool {
        let s = try statement("SELECT 1 FROM profiles WHERE id = ?")
        defer { s.reset() }
        s.bind(1, id)
        return try s.step()
    }

    public func saveProfile(_ id: String, _ values: [Value]) throws {
        let s: Statement
        if let held = saveProfileStatement { s = held } else { s = try statement(dynamic: saveProfileSQL); saveProfileStatement = s }
        s.bind(1, id)
        for (i, v) in values.enumerated() { StoreSchema.bind(s, Int32(i + 2), v) }
        try s.run()
        if cachesUsable, profilesComplete || profileCache[id] != nil {
            profileCache[id] = values
            if profileCache.count > profileCacheLimit {
                profileCache = [:]
                profilesComplete = false
            }
        }
        // Audience runs go by time zone: remember each zone once, rather than scan for them.
        if let tz = schema.timezoneAttribute, tz < values.count, case .string(let zone) = values[tz], !zone.isEmpty, !knownZones.contains(zone) {
            let z = try statement("INSERT OR IGNORE INTO profile_timezones(tz) VALUES (?)")
            z.bind(1, zone)
            try z.run()
            knownZones.insert(zone)
        }
    }

    public func scanProfiles(timezone: String?, attributes: [Int], filter: (_ id: () -> String, _ values: [Value]) throws -> Bool) throws -> [String] {
        let cols = attributes.map { ", \"\(schema.attributes[$0].name)\"" }.joined()
        var sql = "SELECT id\(cols) FROM profiles"
        if let col = timezoneColumn {
            sql += timezone == nil ? " WHERE \(col) IS NULL OR \(col) = '' OR \(col) = 'UTC'" : " WHERE \(col) = ?"
        }
        let s = try statement(dynamic: sql + " ORDER BY id")
        defer { s.reset() }
        if let tz = timezone, timezoneColumn != nil { s.bind(1, tz) }
        var values = [Value](repeating: .none, count: schema.attributes.count)
        let types = attributes.map { schema.attributes[$0].type }
        var kept: [String] = []
        while try s.step() {
            for (k, a) in attributes.enumerated() { values[a] = StoreSchema.read(s, Int32(k + 1), types[k]) }
            if try filter({ s.text(0) }, values) { kept.append(s.text(0)) }
        }
        return kept
    }

    /// The time zone groups: no zone (UTC), then every zone a profile has had.
    public func profileTimezones() throws -> [String?] {
        guard timezoneColumn != nil else { return [nil] }
        let s = try statement("SELECT tz FROM profile_timezones ORDER BY tz")
        var out: [String?] = [nil]
        while try s.step() { out.append(s.text(0)) }
        s.reset()
        return out
    }

    // MARK: - History and inbox
    //
    // An ingested event goes into the inbox (the run's queue) and, at once, into the history
    // table, each batch written in the history's key order so that the inserts stay local. The
    // history queries see an event once the run has taken it. The run takes events strictly in
    // (at, seq) order, so "taken" is every key up to `visibleThrough`, except late arrivals
    // still waiting in the inbox below it (`pendingLate`, nearly always empty).

    private var visibleThrough: (at: Int64, seq: Int64) = (Int64.min, Int64.min)
    private var visibleDirty = false
    private var pendingLate: Set<Int64> = []
    /// The last event taken in this transaction: every inbox event up to it leaves at commit.
    private var takenThrough: (at: Int64, seq: Int64)?

    private func loadVisibility() throws {
        visibleThrough = (Int64.min, Int64.min)
        visibleDirty = false
        if let text = try meta("history_through") {
            let parts = text.split(separator: " ").compactMap { Int64($0) }
            if parts.count == 2 { visibleThrough = (parts[0], parts[1]) }
        }
        pendingLate = []
        guard visibleThrough.at != Int64.min else { return }
        let s = try statement("SELECT seq FROM inbox WHERE (at, seq) <= (?, ?)")
        s.bind(1, visibleThrough.at); s.bind(2, visibleThrough.seq)
        while try s.step() { pendingLate.insert(s.int64(0)) }
        s.reset()
    }

    /// Whether the run has taken the event with this key.
    private func visible(_ at: Int64, _ seq: Int64) -> Bool {
        (at, seq) <= visibleThrough && (pendingLate.isEmpty || !pendingLate.contains(seq))
    }

    public func markTaken(at: Int64, seq: Int64) {
        takenThrough = (at, seq)
        if (at, seq) > visibleThrough {
            visibleThrough = (at, seq)
            visibleDirty = true
        }
        if !pendingLate.isEmpty { pendingLate.remove(seq) }
    }

    /// A profile's events of one kind since `since`, from the cache when it holds them
    /// (decoded up to `end` when asked), and the range of those the run has taken so far.
    private func historyRows(profile: String, event: String, since: Int64?, decode: (def: EventDef, index: Int)?) throws -> (HistoryRows, start: Int, end: Int) {
        let from = since ?? Int64.min
        let key = HistoryKey(profile: profile, event: event)
        let usable = { (c: HistoryRows) in decode.map { c.canDecode($0.def, $0.index) } ?? true }
        let h: HistoryRows
        if cachesUsable, let cached = historyCache[key], cached.from <= from, usable(cached) {
            h = cached
        } else if cachesUsable, try historyIsComplete() {
            // Complete: a key the cache lacks has no events.
            if let cached = historyCache[key], usable(cached) { h = cached } else if historyCache[key] != nil {
                h = try loadHistory(profile: profile, event: event, from: Int64.min)
                historyCache[key] = h
            } else {
                h = HistoryRows(from: Int64.min)
                historyCache[key] = h
            }
        } else {
            h = try loadHistory(profile: profile, event: event, from: from)
            if cachesUsable {
                if historyCacheRows + h.count > historyCacheLimit {
                    historyCache = [:]
                    historyCacheRows = 0
                }
                historyCacheRows += h.count - (historyCache[key]?.count ?? 0)
                historyCache[key] = h
            }
        }
        let end = h.end(visibleThrough)
        if let d = decode { h.decode(d.def, d.index, upTo: end) }
        return (h, h.start(from), end)
    }

    private func loadHistory(profile: String, event: String, from: Int64) throws -> HistoryRows {
        let s = try statement("SELECT at, seq, data FROM events WHERE profile = ? AND event = ? AND at >= ? ORDER BY at, seq")
        defer { s.reset() }
        s.bind(1, profile); s.bind(2, event); s.bind(3, from)
        let h = HistoryRows(from: from)
        while try s.step() { h.append(s.int64(0), s.int64(1), s.blob(2)) }
        return h
    }

    /// Whether the history cache holds every row; counts a miss, and after enough of them
    /// tries to make it so.
    private func historyIsComplete() throws -> Bool {
        if historyComplete { return true }
        historyMisses += 1
        return historyMisses == missesBeforeScan ? try loadAllHistory() : false
    }

    /// Two strings' UTF-8 bytes, pinned for the length of `body`.
    static func withTexts(_ a: String, _ b: String, _ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        var a = a, b = b
        try a.withUTF8 { x in try b.withUTF8 { y in try body(x, y) } }
    }

    /// Reads the whole history into the cache, unless it holds more rows than the cache does.
    private func loadAllHistory() throws -> Bool {
        guard try !hasMoreRows("SELECT 1 FROM events LIMIT 1 OFFSET ?", than: historyCacheLimit) else { return false }
        let s = try statement("SELECT profile, event, at, seq, data FROM events ORDER BY profile, event, at, seq")
        defer { s.reset() }
        var all: [HistoryKey: HistoryRows] = [:]
        var current: HistoryRows?
        var lastProfile = "", lastEvent = ""
        var count = 0
        while try s.step() {
            count += 1
            // Rows come in key order: a new (profile, event) starts a new entry.
            if current == nil || !s.textEquals(0, as: lastProfile) || !s.textEquals(1, as: lastEvent) {
                lastProfile = s.text(0)
                lastEvent = s.text(1)
                let h = HistoryRows(from: Int64.min)
                all[HistoryKey(profile: lastProfile, event: lastEvent)] = h
                current = h
            }
            current?.append(s.int64(2), s.int64(3), s.blob(4))
        }
        // Decode every row for the current schema on every core (each entry is decoded by one
        // thread only); queries from another bundle's definition read their rows again.
        var work: [(HistoryRows, EventDef, Int)] = []
        for (key, h) in all {
            if let i = schema.eventIndex(key.event) { work.append((h, schema.events[i], i)) }
        }
        let parts = min(ProcessInfo.processInfo.activeProcessorCount, 8)
        nonisolated(unsafe) let shared = work
        DispatchQueue.concurrentPerform(iterations: max(1, parts)) { p in
            var i = p
            while i < shared.count {
                let (h, def, index) = shared[i]
                h.decode(def, index, upTo: h.count)
                i += max(1, parts)
            }
        }
        historyCache = all
        historyCacheRows = count
        historyComplete = true
        return true
    }

    public func records(profile: String, event def: EventDef, index: Int, since: Int64?) throws -> ArraySlice<Record> {
        let (h, start, end) = try historyRows(profile: profile, event: def.name, since: since, decode: (def, index))
        guard start < end else { return [] }
        if pendingLate.isEmpty { return h.records[start..<end] }
        return ArraySlice((start..<end).filter { visible(h.keys[$0].at, h.keys[$0].seq) }.map { h.records[$0] })
    }

    public func historyCount(profile: String, event: String, since: Int64?) throws -> Int {
        let (h, start, end) = try historyRows(profile: profile, event: event, since: since, decode: nil)
        guard start < end else { return 0 }
        if pendingLate.isEmpty { return end - start }
        return (start..<end).count { visible(h.keys[$0].at, h.keys[$0].seq) }
    }

    /// Arrival numbers: kept in memory during a transaction, saved in `meta` when it commits.
    private var lastSeq: Int64?
    private var seqDirty = false

    public func enqueue(_ events: [IncomingRow]) throws {
        if lastSeq == nil { lastSeq = Int64(try meta("inbox_seq") ?? "0") ?? 0 }
        let first = (lastSeq ?? 0) + 1
        lastSeq = (lastSeq ?? 0) + Int64(events.count)
        seqDirty = true
        let s = try statement("INSERT INTO inbox(at, seq, profile, event, data) VALUES (?, ?, ?, ?, ?)")
        for (k, e) in events.enumerated() {
            s.bind(1, e.at); s.bind(2, first + Int64(k)); s.bind(5, e.data)
            try Self.withTexts(e.profile, e.event) { p, n in
                s.bindNoCopy(3, p); s.bindNoCopy(4, n)
                try s.run()
            }
        }
        // History key order: SQLite compares text by its bytes. The first 16 bytes of each
        // name, as integers, decide nearly every comparison.
        let keys = events.map { (StoreSchema.prefixKey($0.profile), StoreSchema.prefixKey($0.event)) }
        let order = events.indices.sorted { a, b in
            let (pa, ea) = keys[a], (pb, eb) = keys[b]
            if (pa.0, pa.1) != (pb.0, pb.1) { return (pa.0, pa.1) < (pb.0, pb.1) }
            if pa.long || pb.long, case let c = StoreSchema.compareBytes(events[a].profile, events[b].profile), c != 0 { return c < 0 }
            if (ea.0, ea.1) != (eb.0, eb.1) { return (ea.0, ea.1) < (eb.0, eb.1) }
            if ea.long || eb.long, case let c = StoreSchema.compareBytes(events[a].event, events[b].event), c != 0 { return c < 0 }
            return (events[a].at, a) < (events[b].at, b)
        }
        let h = try statement("INSERT INTO events(profile, event, at, seq, data) VALUES (?, ?, ?, ?, ?)")
        for k in order {
            let e = events[k]
            h.bind(3, e.at); h.bind(4, first + Int64(k)); h.bind(5, e.data)
            try Self.withTexts(e.profile, e.event) { p, n in
                h.bindNoCopy(1, p); h.bindNoCopy(2, n)
                try h.run()
            }
        }
        // Cached histories do not have these yet (nor is the cache complete any more); any that
        // arrived behind what the run has taken wait unseen until it takes them.
        historyCache = [:]
        historyCacheRows = 0
        historyComplete = false
        historyMisses = 0
        for (k, e) in events.enumerated() where (e.at, first + Int64(k)) <= visibleThrough { pendingLate.insert(first + Int64(k)) }
    }

    public func nextInbox(until: Int64?) throws -> InboxItem? {
        let s = try statement("SELECT seq, profile, event, at, data FROM inbox WHERE at <= ? ORDER BY at, seq LIMIT 1")
        defer { s.reset() }
        s.bind(1, until ?? Int64.max)
        guard try s.step() else { return nil }
        return InboxItem(seq: s.int64(0), profile: s.text(1), event: s.text(2), at: s.int64(3), data: s.blob(4))
    }

    public func inbox(after: (at: Int64, seq: Int64)?, until: Int64?, limit: Int) throws -> [InboxItem] {
        let s = try statement("SELECT seq, profile, event, at, data FROM inbox WHERE (at, seq) > (?, ?) AND at <= ? ORDER BY at, seq LIMIT ?")
        s.bind(1, after?.at ?? Int64.min); s.bind(2, after?.seq ?? Int64.min); s.bind(3, until ?? Int64.max); s.bind(4, limit)
        var out: [InboxItem] = []
        while try s.step() { out.append(InboxItem(seq: s.int64(0), profile: s.text(1), event: s.text(2), at: s.int64(3), data: s.blob(4))) }
        s.reset()
        return out
    }


    // MARK: - Instances, timers, waits

    /// The last instance id handed out in this transaction.
    private var lastInstanceID: Int64?

    public func nextInstanceID() throws -> Int64 {
        if lastInstanceID == nil {
            let s = try statement("SELECT COALESCE(MAX(id), 0) FROM instances")
            defer { s.reset() }
            lastInstanceID = try s.step() ? s.int64(0) : 0
        }
        let id = (lastInstanceID ?? 0) + 1
        lastInstanceID = id
        return id
    }

    public func insertInstance(_ row: InstanceRow, endedAt: Int64?) throws {
        let s = try statement("INSERT INTO instances(id, journey, profile, bundle, pc, locals, sends, status, entered_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        s.bind(1, row.id); s.bind(2, row.journey); s.bind(3, row.profile); s.bind(4, row.bundle); s.bind(5, row.pc)
        // An ended instance needs neither its place nor its locals any more.
        s.bind(6, endedAt == nil ? ValueEncoding.encode(row.locals) : ValueEncoding.encode([]))
        s.bind(7, row.sends); s.bind(8, row.status); s.bind(9, row.enteredAt); s.bind(10, endedAt)
        try s.run()
        noteEntered(row, active: endedAt == nil)
    }

    private func instance(_ s: Statement) -> InstanceRow {
        InstanceRow(id: s.int64(0), journey: s.text(1), profile: s.text(2), bundle: s.text(3), pc: s.int(4),
                    locals: ValueEncoding.decode(s.blob(5)) ?? [], sends: s.int(6), status: s.text(7), enteredAt: s.int64(8))
    }

    public func loadInstance(_ id: Int64) throws -> InstanceRow? {
        let s = try statement("SELECT id, journey, profile, bundle, pc, locals, sends, status, entered_at FROM instances WHERE id = ?")
        defer { s.reset() }
        s.bind(1, id)
        return try s.step() ? instance(s) : nil
    }

    public func updateInstance(_ row: InstanceRow, endedAt: Int64?) throws {
        let s = try statement("UPDATE instances SET pc = ?, locals = ?, sends = ?, status = ?, ended_at = ? WHERE id = ?")
        s.bind(1, row.pc); s.bind(2, ValueEncoding.encode(row.locals)); s.bind(3, row.sends); s.bind(4, row.status); s.bind(5, endedAt); s.bind(6, row.id)
        try s.run()
        if row.status != "active" { noteEnded(row) }
    }

    public func endInstance(_ row: InstanceRow, at: Int64) throws {
        let s = try statement("UPDATE instances SET status = ?, sends = ?, ended_at = ? WHERE id = ?")
        s.bind(1, row.status); s.bind(2, row.sends); s.bind(3, at); s.bind(4, row.id)
        try s.run()
        noteEnded(row)
    }

    // Entry counts per (journey, profile), for re-entry rules: cached like profiles and history.

    struct EntryKey: Hashable {
        var journey: String
        var profile: String
    }

    private var entryCache: [EntryKey: (active: Int, total: Int, lastEntered: Int64?)] = [:]
    private var entryMisses = 0
    private(set) var entriesComplete = false
    static let entryCacheLimit = 50_000

    /// An active instance ended (only active instances are ever updated or ended).
    private func noteEnded(_ row: InstanceRow) {
        guard cachesUsable else { return }
        let key = EntryKey(journey: row.journey, profile: row.profile)
        if let e = entryCache[key] { entryCache[key] = (max(0, e.active - 1), e.total, e.lastEntered) }
    }

    private func noteEntered(_ row: InstanceRow, active: Bool) {
        guard cachesUsable else { return }
        let key = EntryKey(journey: row.journey, profile: row.profile)
        if let e = entryCache[key] {
            entryCache[key] = (e.active + (active ? 1 : 0), e.total + 1, max(e.lastEntered ?? row.enteredAt, row.enteredAt))
        } else if entriesComplete {
            entryCache[key] = (active ? 1 : 0, 1, row.enteredAt)
            if entryCache.count > Self.entryCacheLimit {
                entryCache = [:]
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
        let e = try s.step() ? (s.int(0), s.int(1), s.optionalInt64(2)) : (0, 0, nil)
        if cachesUsable {
            if entryCache.count >= Self.entryCacheLimit { entryCache = [:] }
            entryCache[key] = e
        }
        return e
    }

    /// Counts the entries of every (journey, profile) at once, when there are few enough
    /// instances for the count to be cheap and the cache to hold them.
    private func loadAllEntries(upTo limit: Int) throws -> Bool {
        let m = try statement("SELECT COALESCE(MAX(id), 0) FROM instances")
        let most = try m.step() ? m.int(0) : 0
        m.reset()
        guard most <= limit else { return false }
        let s = try statement("SELECT journey, profile, COALESCE(SUM(status = 'active'), 0), COUNT(*), MAX(entered_at) FROM instances GROUP BY journey, profile")
        defer { s.reset() }
        var all: [EntryKey: (active: Int, total: Int, lastEntered: Int64?)] = [:]
        while try s.step() { all[EntryKey(journey: s.text(0), profile: s.text(1))] = (s.int(2), s.int(3), s.optionalInt64(4)) }
        entryCache = all
        entriesComplete = true
        return true
    }

    public func activeInstances(profile: String) throws -> [InstanceRow] {
        let s = try statement("SELECT id, journey, profile, bundle, pc, locals, sends, status, entered_at FROM instances WHERE profile = ? AND status = 'active' ORDER BY id")
        s.bind(1, profile)
        var out: [InstanceRow] = []
        while try s.step() { out.append(instance(s)) }
        s.reset()
        return out
    }


    public func addTimer(due: Int64, instance: Int64) throws {
        let s = try statement("INSERT INTO timers(due, instance) VALUES (?, ?)")
        s.bind(1, due); s.bind(2, instance)
        try s.run()
    }

    public func timers(after: (due: Int64, id: Int64)?, until: Int64?, limit: Int) throws -> [(id: Int64, due: Int64, instance: Int64)] {
        let s = try statement("SELECT id, due, instance FROM timers WHERE (due, id) > (?, ?) AND due <= ? ORDER BY due, id LIMIT ?")
        s.bind(1, after?.due ?? Int64.min); s.bind(2, after?.id ?? Int64.min); s.bind(3, until ?? Int64.max); s.bind(4, limit)
        var out: [(Int64, Int64, Int64)] = []
        while try s.step() { out.append((s.int64(0), s.int64(1), s.int64(2))) }
        s.reset()
        return out
    }

    /// The last timer fired in this transaction: every timer up to it leaves at commit.
    private var firedThrough: (due: Int64, id: Int64)?

    public func markTimerFired(due: Int64, id: Int64) {
        firedThrough = (due, id)
    }

    @discardableResult
    public func removeTimers(instance: Int64) throws -> [Int64] {
        let s = try statement("DELETE FROM timers WHERE instance = ? RETURNING id")
        s.bind(1, instance)
        var ids: [Int64] = []
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

    // MARK: - Outbox, rejects, audience, meta

    public func appendOutbox(id: String, at: Int64, profile: String, journey: String, channel: String?, status: String, content: String?) throws {
        let s = try statement("INSERT INTO outbox(id, at, profile, journey, channel, status, content) VALUES (?, ?, ?, ?, ?, ?, ?)")
        s.bind(1, id); s.bind(2, at); s.bind(3, profile); s.bind(4, journey); s.bind(5, channel); s.bind(6, status); s.bind(7, content)
        try s.run()
    }

    public func sentCount(profile: String, since: Int64) throws -> Int {
        let s = try statement("SELECT COUNT(*) FROM outbox WHERE profile = ? AND status = 'sent' AND at > ?")
        defer { s.reset() }
        s.bind(1, profile); s.bind(2, since)
        return try s.step() ? s.int(0) : 0
    }

    public func outbox(afterSeq: Int64) throws -> [OutboxRow] {
        let s = try statement("SELECT seq, id, at, profile, journey, channel, status, content FROM outbox WHERE seq > ? ORDER BY seq")
        s.bind(1, afterSeq)
        var out: [OutboxRow] = []
        while try s.step() {
            out.append(OutboxRow(seq: s.int64(0), id: s.text(1), at: s.int64(2), profile: s.text(3), journey: s.text(4),
                                 channel: s.optionalText(5), status: s.text(6), content: s.optionalText(7)))
        }
        s.reset()
        return out
    }

    public func reject(source: String, line: Int, reason: String, raw: String, at: Int64) throws {
        let s = try statement("INSERT INTO rejects(source, line, reason, raw, at) VALUES (?, ?, ?, ?, ?)")
        s.bind(1, source); s.bind(2, line); s.bind(3, reason); s.bind(4, raw); s.bind(5, at)
        try s.run()
    }

    public func rejects() throws -> [(source: String, line: Int, reason: String, raw: String)] {
        let s = try statement("SELECT source, line, reason, raw FROM rejects ORDER BY id")
        var out: [(String, Int, String, String)] = []
        while try s.step() { out.append((s.text(0), s.int(1), s.text(2), s.text(3))) }
        s.reset()
        return out
    }

    public func audienceSchedule() throws -> [(journey: String, timezone: String, nextAt: Int64)] {
        let s = try statement("SELECT journey, tz, next_at FROM audience ORDER BY next_at, journey, tz")
        var out: [(String, String, Int64)] = []
        while try s.step() { out.append((s.text(0), s.text(1), s.int64(2))) }
        s.reset()
        return out
    }

    public func setAudience(journey: String, timezone: String, nextAt: Int64) throws {
        let s = try statement("INSERT OR REPLACE INTO audience(journey, tz, next_at) VALUES (?, ?, ?)")
        s.bind(1, journey); s.bind(2, timezone); s.bind(3, nextAt)
        try s.run()
    }

    public func meta(_ key: String) throws -> String? {
        let s = try statement("SELECT value FROM meta WHERE key = ?")
        defer { s.reset() }
        s.bind(1, key)
        return try s.step() ? s.text(0) : nil
    }

    public func setMeta(_ key: String, _ value: String) throws {
        let s = try statement("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)")
        s.bind(1, key); s.bind(2, value)
        try s.run()
    }
}
