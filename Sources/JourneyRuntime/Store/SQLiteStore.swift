import JourneyBytecode

/// The SQLite store: WAL, synchronous=FULL, BEGIN IMMEDIATE for writes, statements prepared
/// once and reused, values always bound as parameters.
public final class SQLiteStore: JourneyStore {
    public let db: Database
    var statements: [String: Statement] = [:]
    var fixedStatements: [Int: Statement] = [:]
    /// Multi-row inserts by table and row count, and the scratch buffer they bind from
    /// (SQLiteStore+Bulk.swift).
    var bulkStatements: [BulkKey: Statement] = [:]
    var bulkBuffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    var schema = RuntimeSchema()
    var loadProfileSQL = ""
    var saveProfileSQL = ""
    /// The profile statements for the current schema, held directly: they run once per step.
    var loadProfileStatement: Statement?
    var saveProfileStatement: Statement?
    var timezoneColumn: String?
    /// Audience scans, prepared once per shape (attributes read, condition, zone or not);
    /// emptied when the profiles' schema changes, and at 256 shapes.
    var scans: [ScanShape: (statement: Statement?, binds: [ColumnValue])] = [:]
    /// Required attributes (by number) whose column may hold no value.
    var mayBeMissing: Set<Int> = []
    var knownZones: Set<String> = []

    /// Reads kept across transactions: profiles and event history, written through by this
    /// connection and trusted only while `PRAGMA data_version` shows no other connection has
    /// committed since (checked as each transaction begins), dropped on rollback, and used only
    /// inside transactions. Each is bounded: when full it starts over.
    var dataVersion: Int64?
    var profileCache: [String: [Value]] = [:]
    var historyCache: [HistoryKey: HistoryRows] = [:]
    var historyCacheRows = 0
    var profileCacheLimit = 200_000
    var historyCacheLimit = 600_000

    struct HistoryKey: Hashable {
        var profile: String
        var event: String

        /// The profile alone: its few kinds of events share a bucket chain (told apart by `==`),
        /// and hashing the event's name too cost as much again on every lookup. (Nothing of the
        /// name, not even its length: `==` compares strings canonically, bytes may differ.)
        func hash(into h: inout Hasher) {
            h.combine(profile)
        }
    }

    /// After this many misses in one generation of the caches, a cold cache is filled by one
    /// scan of the whole table instead (when the table fits); from then on it is complete, and
    /// a key it lacks has no row.
    var missesBeforeScan = 1024
    var profileMisses = 0, historyMisses = 0
    var profilesComplete = false, historyComplete = false
    /// The history cache holds exactly the events taken so far, and each event taken joins it
    /// (`markTaken(_:)`): set when a transaction begins with an empty cache and nothing taken
    /// yet (a first run over freshly ingested events), so the table need not be read at all.
    var historyTakenOnly = false
    /// The events whose history the journeys read (nil until told: all of them). Taken while
    /// the cache holds only what is taken, the others' events stay out of it (a million
    /// sign-ups no journey counts are a million cached histories nobody reads)...
    var historyReadKinds: Set<String>?
    /// The same, as a list: a few names are found faster by comparing than by hashing.
    var historyReadKindList: [String] = []
    /// ...and are named here: asked for one of them after all, the cache goes back to the table.
    var historyLeftOut: Set<String> = []
    /// The history last taken into or read, which the next query usually asks for again; always
    /// the cache's own entry for its key (set with it, dropped with the cache).
    var lastHistory: (key: HistoryKey, rows: HistoryRows)?
    /// While the profile cache holds every profile: the ids of each time zone group, in id
    /// order, for audience scans served from the cache. Made on first use; dropped with the
    /// cache, and when a profile is added or moves to another zone.
    var zoneGroups: ZoneGroups?

    func dropCaches() {
        profileCache = [:]
        zoneGroups = nil
        profileMisses = 0
        profilesComplete = false
        forgetHistory()
        entryCache = [:]
        activeByProfile = [:]
        entryMisses = 0
        entriesComplete = false
        pageCache = nil
        forgetSent()
    }

    var cachesUsable: Bool { db.inTransaction }

    // History visibility (see SQLiteStore+History.swift). An ingested event goes into the inbox
    // (the run's queue) and into the history table, an ingest's rows written as its transaction
    // commits, in the history's key order so that each page is written once. The history queries see an event once
    // the run has taken it. The run takes events strictly in (at, seq) order, so "taken" is every
    // key up to `visibleThrough`, except late arrivals still waiting below it (`pendingLate`,
    // nearly always empty). An event that arrives behind that mark goes to `inbox_late`, not to
    // `inbox`: whatever `inbox` holds up to the mark is taken, and leaves it in bulk (`dropTaken`).
    var visibleThrough: (at: Int64, seq: Int64) = (Int64.min, Int64.min)
    var visibleDirty = false
    var pendingLate: Set<Int64> = []
    /// History rows ingested in this transaction and not written yet (`flushDeferredHistory`).
    var deferredHistory: [HistoryInsert] = []
    /// At most this many are held (≈ 150 bytes each).
    var deferredHistoryLimit = 250_000
    /// Set when writing them failed part-way: the transaction may only be rolled back.
    var historyWriteFailed = false

    struct HistoryInsert {
        var profile: String
        var event: String
        var at: Int64
        var seq: Int64
        var data: [UInt8]
    }
    /// The last event taken in this transaction (the inbox is read on after it).
    var takenThrough: (at: Int64, seq: Int64)?
    /// Late arrivals taken in this transaction: they leave `inbox_late` at commit.
    var takenLate: [(at: Int64, seq: Int64)] = []
    /// How many events this transaction took from `inbox` itself.
    var takenInOrder = 0
    /// Taken events are left in `inbox` (below the mark) until it holds nothing else, or until
    /// this many have gathered: then they go in one statement.
    var inboxKeptLimit = 200_000
    /// At least this many events of a batch that come after the last page are written as pages
    /// of at most `pageLimit` events and `pageBytes` bytes (InboxPages.swift); the rest row by row.
    var pageMinimum = 16
    var pageLimit = 4096
    var pageBytes = 4 << 20
    /// The page the run reads from, decoded: used inside transactions only, and dropped with
    /// the caches (a rollback, whose page numbers and arrival numbers may be given again; another
    /// connection's commit; an erasure).
    var pageCache: (id: Int64, firstSeq: Int64, items: [InboxItem])?

    /// Arrival numbers: kept in memory during a transaction, saved in `meta` when it commits.
    var lastSeq: Int64?
    var seqDirty = false

    // Instances and timers.

    /// The last instance id handed out in this transaction.
    var lastInstanceID: Int64?
    /// The last timer fired in this transaction: every timer up to it leaves at commit.
    var firedThrough: (due: Int64, id: Int64)?
    /// The last timer id handed out in this transaction.
    var lastTimerID: Int64?
    /// The last message number handed out in this transaction.
    var outboxSeqGiven: Int64?
    /// Instances and timers this transaction wrote, held until it commits
    /// (SQLiteStore+Held.swift): by id; their ids by profile; timers in (due, id)
    /// order from `heldTimersStart` (those before it have fired), and how many each instance has.
    var heldInstances: [Int64: HeldInstance] = [:]
    var heldByProfile: [String: [Int64]] = [:]
    var heldTimers: [HeldTimer] = []
    var heldTimersStart = 0
    var heldTimerCount: [Int64: Int] = [:]
    var heldLimit = 20_000
    /// Whether held rows were written in this transaction before its commit.
    var heldWritten = false
    /// Messages this transaction made, held until it commits, in number order; the times of
    /// the sent ones by profile (for the cap's count).
    var heldOutbox: [HeldMessage] = []
    var heldSentAt: [String: [Int64]] = [:]
    /// Every sent message's time by profile, when the cache holds them all (`sentComplete`):
    /// the cap counts from memory. Filled at the first count of a generation of the caches
    /// when the outbox holds at most `sentCacheLimit` messages; kept and dropped with the other
    /// caches, and dropped past the limit.
    var sentTimes: [String: [Int64]] = [:]
    var sentCached = 0
    var sentComplete = false
    var sentLooked = false
    var sentCacheLimit = 200_000

    /// Entry counts per (journey, profile), for the re-entry rules: cached like profiles and
    /// history.
    var entryCache: [EntryKey: (active: Int, total: Int, lastEntered: Int64?)] = [:]
    var entryMisses = 0
    var entriesComplete = false
    /// While `entriesComplete`: the profiles with active instances, and how many.
    var activeByProfile: [String: Int] = [:]
    static let entryCacheLimit = 50_000

    struct EntryKey: Hashable {
        var journey: String
        var profile: String
    }

    /// Turns with the other processes that write this file (see `WriterTurns`).
    let turns: WriterTurns?
    /// True for the process that runs the journeys: it lets announced writers in between its
    /// transactions instead of announcing itself.
    public var yieldsToWriters = false
    var runnerClaim: Int32?
    var hasReasonColumn: Bool?

    public let readOnly: Bool

    /// Opens (creating) the store at `path`; `:memory:` for the simulator and tests. A
    /// `readOnly` store reads an existing database as it is: no tables made, nothing migrated.
    /// A new in-memory store holding a copy of `template`'s database (an in-memory store set up
    /// once, e.g. with a bundle deployed): the tables are copied, not created again. The caller
    /// keeps `template` from being used by another thread meanwhile.
    public init(copying template: SQLiteStore) throws {
        db = try Database(path: ":memory:")
        readOnly = false
        turns = nil
        try db.copy(from: template.db)
        try db.exec("PRAGMA temp_store=MEMORY")
    }

    deinit { bulkBuffer.deallocate() }

    public init(path: String, readOnly: Bool = false) throws {
        db = try Database(path: path, readOnly: readOnly)
        self.readOnly = readOnly
        turns = readOnly ? nil : WriterTurns(databasePath: path)
        if readOnly {
            try db.exec("PRAGMA query_only=1")
            return
        }
        // A new database gets 16 KiB pages (SQLite's default is 4 KiB): an ingest's history
        // and a run's rows take fewer pages and WAL frames, an audience scan fewer page reads.
        // (Measured on the 100k-event benchmark: the ingest 8%, the run 3% faster.) An existing
        // database keeps its pages; this pragma does nothing once the file has tables.
        try db.exec("PRAGMA page_size=16384")
        if path != ":memory:" {
            try db.exec("PRAGMA journal_mode=WAL")
        }
        try db.exec("PRAGMA synchronous=FULL")
        // Deleted content is overwritten with zeros, whatever SQLite's build chose: bytes of a
        // row deleted long before (a taken inbox page, an ended instance) could otherwise still
        // hold a profile's data after that profile is erased.
        try db.exec("PRAGMA secure_delete=ON")
        // A larger page cache keeps the hot indexes (inbox, timers, history) in memory.
        try db.exec("PRAGMA cache_size=-65536")
        // The first 64 MiB of the file are read straight from the pages the system caches (no
        // copy into SQLite's cache): a scan over a million profiles no longer fills the cache
        // page by page. Those pages count in the process's RSS (shared with the system's cache).
        if path != ":memory:" { try db.exec("PRAGMA mmap_size=67108864") }
        try db.exec("PRAGMA temp_store=MEMORY")
        // Checkpoint less often: big batches rewrite the same hot pages many times over.
        try db.exec("PRAGMA wal_autocheckpoint=20000")
        try db.exec(StoreSchema.sql)
        try migrateHistory()
        try migrateLateArrivals()
        try addColumnIfMissing("outbox", "reason", "TEXT")
        // Delivery: the address the send resolved, and for messages a provider must get, where
        // their delivery stands ('pending', 'delivered', 'failed'), when the next attempt is due
        // and how many this round has made.
        try addColumnIfMissing("outbox", "address", "TEXT")
        try addColumnIfMissing("outbox", "delivery", "TEXT")
        try addColumnIfMissing("outbox", "next_attempt", "REAL")
        try addColumnIfMissing("outbox", "attempts", "INTEGER NOT NULL DEFAULT 0")
        // The bundle and step that sent a message, so receipts count at their step.
        try addColumnIfMissing("outbox", "bundle", "TEXT")
        try addColumnIfMissing("outbox", "step", "INTEGER")
        // One index on (profile, journey, status, entered_at) serves the active instances of a
        // profile, every instance of one (the 360° view, erasure) and the entry counts of a
        // (journey, profile) or of all of them (read from the index alone). It replaces the
        // partial one, and the two before it: (profile, status) and (journey, profile), which
        // cost every new instance a third b-tree insert (the run over the 100k-event
        // benchmark: 3% of its instructions). A journey version's conversion times (every
        // stats report, for each version) come from a partial index of converted instances,
        // written only as an instance converts; what else reads one journey's instances (the
        // outcomes of a version without a step table) reads the table through.
        try db.exec("DROP INDEX IF EXISTS instances_active")
        try db.exec("DROP INDEX IF EXISTS instances_by_profile")
        try db.exec("DROP INDEX IF EXISTS instances_by_journey")
        // All of a profile's messages by one index (the cap counts its sent ones; the 360° view
        // and erasure read them all); it replaces the partial one on sent messages.
        try db.exec("DROP INDEX IF EXISTS outbox_sent")
        // Rejected lines know their profile when they name one, so erasure finds them.
        try addColumnIfMissing("rejects", "profile", "TEXT")
        try db.exec("CREATE INDEX IF NOT EXISTS rejects_by_profile ON rejects(profile) WHERE profile IS NOT NULL")
        try db.exec("CREATE INDEX IF NOT EXISTS outbox_due ON outbox(channel, next_attempt) WHERE delivery = 'pending'")
        // The console lists failed deliveries, newest first.
        try db.exec("CREATE INDEX IF NOT EXISTS outbox_failed ON outbox(seq) WHERE delivery = 'failed'")
    }

    /// Databases from before the history was written at ingest: their inbox events are not in
    /// the history yet, and everything that is in it has been taken.
    func migrateHistory() throws {
        guard try meta("history_at_ingest") == nil else { return }
        try transaction {
            guard try meta("history_at_ingest") == nil else { return }
            let last = try statement("SELECT at, seq FROM events ORDER BY at DESC, seq DESC LIMIT 1")
            if try last.step() { try setMeta("history_through", "\(last.int64(0)) \(last.int64(1))") }
            last.reset()
            try db.exec("INSERT OR IGNORE INTO events(profile, event, at, seq, data) SELECT profile, event, at, seq, data FROM inbox")
            try setMeta("history_at_ingest", "1")
        }
    }

    /// Databases from before late arrivals had a table of their own: their inbox held only
    /// events not taken yet, so any behind the history's mark are late arrivals, and move.
    func migrateLateArrivals() throws {
        guard try meta("inbox_late") == nil else { return }
        try transaction {
            guard try meta("inbox_late") == nil else { return }
            if visibleThrough.at != Int64.min {
                for sql: StaticString in ["INSERT INTO inbox_late(at, seq, profile, event, data) SELECT at, seq, profile, event, data FROM inbox WHERE (at, seq) <= (?, ?)",
                                          "DELETE FROM inbox WHERE (at, seq) <= (?, ?)"] {
                    let s = try statement(sql)
                    s.bind(1, visibleThrough.at); s.bind(2, visibleThrough.seq)
                    try s.run()
                }
            }
            // An earlier version would take what `inbox` keeps below the mark for events not
            // taken yet: a database run by this version is not for an earlier one.
            try setMeta("inbox_late", "1")
        }
    }

    func outboxHasReason() throws -> Bool {
        if let known = hasReasonColumn { return known }
        let s = try db.prepare("SELECT COUNT(*) FROM pragma_table_info('outbox') WHERE name = 'reason'")
        let has = try s.step() && s.int(0) > 0
        hasReasonColumn = has
        return has
    }

    /// Databases from before a column existed get it (empty) when opened.
    func addColumnIfMissing(_ table: StaticString, _ column: StaticString, _ type: StaticString) throws {
        let s = try db.prepare("SELECT COUNT(*) FROM pragma_table_info('\(table)') WHERE name = '\(column)'")
        guard try s.step(), s.int(0) == 0 else { return }
        try db.exec("ALTER TABLE \(table) ADD COLUMN \(column) \(type)")
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

    // MARK: - Closing and copying

    /// Moves everything in the write-ahead log into the database file and empties the log, so
    /// the file alone holds every commit (a plain copy of it is a whole backup). Commands call
    /// it as they finish; a process that dies without it loses nothing (the log is replayed).
    public func checkpoint() throws {
        guard !readOnly, db.path != ":memory:" else { return }
        try dropKeptInbox()
        // A runner at work keeps the log busy: then fold in what can be folded without
        // waiting (the runner folds the rest when it finishes).
        db.setBusyTimeout(milliseconds: 200)
        defer { db.setBusyTimeout(milliseconds: 30_000) }
        do {
            try db.exec("PRAGMA wal_checkpoint(TRUNCATE)")
        } catch {
            try db.exec("PRAGMA wal_checkpoint(PASSIVE)")
        }
    }

    /// Writes a consistent copy of the whole database to `path` (which must not exist), while
    /// other processes go on reading and writing.
    public func backup(to path: String) throws {
        // query_only would refuse even a write to another file; the source stays untouched.
        if readOnly { try db.exec("PRAGMA query_only=0") }
        defer { if readOnly { try? db.exec("PRAGMA query_only=1") } }
        let s = try db.prepare("VACUUM INTO ?")
        s.bind(1, path)
        try s.run()
    }

    // MARK: - Transactions

    /// Claims the runner's role for this process (see `WriterTurns`); false when another
    /// process is running the journeys of this database.
    public func claimRunner() -> Bool {
        if runnerClaim != nil { return true }
        guard let fd = WriterTurns.claimRunner(databasePath: db.path) else { return false }
        runnerClaim = fd
        yieldsToWriters = true
        return true
    }

    public func begin() throws {
        if yieldsToWriters { turns?.yieldToWriters() } else { turns?.announce() }
        do {
            try statement("BEGIN IMMEDIATE").run()
        } catch {
            turns?.withdraw()
            throw error
        }
        lastSeq = nil // another process may have ingested since
        lastInstanceID = nil
        lastTimerID = nil
        outboxSeqGiven = nil
        heldWritten = false
        let v = try statement("PRAGMA data_version")
        defer { v.reset() }
        let version = try v.step() ? v.int64(0) : -1
        if version != dataVersion { dropCaches() }
        dataVersion = version
        try loadVisibility()
        if historyCache.isEmpty, !historyComplete, visibleThrough.at == Int64.min, pendingLate.isEmpty {
            // Nothing is taken: every history is empty until the run takes events.
            historyComplete = true
            historyTakenOnly = true
        }
    }

    public func commit() throws {
        if historyWriteFailed {
            throw SQLiteError(code: 1 /* SQLITE_ERROR */, message: "this transaction's history rows were not all written: it must be rolled back")
        }
        try flushDeferredHistory()
        try flushHeld()
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
        if !takenLate.isEmpty {
            let s = try statement("DELETE FROM inbox_late WHERE at = ? AND seq = ?")
            for k in takenLate {
                s.bind(1, k.at); s.bind(2, k.seq)
                try s.run()
            }
            takenLate = []
        }
        if takenInOrder > 0 {
            try dropTaken(adding: takenInOrder)
            try dropTakenPages()
            takenInOrder = 0
        }
        takenThrough = nil
        if visibleDirty {
            try setMeta("history_through", "\(visibleThrough.at) \(visibleThrough.seq)")
            visibleDirty = false
        }
        try statement("COMMIT").run()
        turns?.withdraw()
    }

    public func rollback() {
        try? db.exec("ROLLBACK")
        deferredHistory = []
        historyWriteFailed = false
        turns?.withdraw()
        lastSeq = nil
        seqDirty = false
        visibleDirty = false
        takenThrough = nil
        takenLate = []
        takenInOrder = 0
        firedThrough = nil
        lastInstanceID = nil
        outboxSeqGiven = nil
        dropHeld()
        // The zones this transaction recorded are undone with it.
        knownZones = []
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

    public func currentBundleHash() throws -> String? {
        let s = try statement("SELECT hash FROM bundles ORDER BY seq DESC LIMIT 1")
        defer { s.reset() }
        return try s.step() ? s.text(0) : nil
    }

    public func currentDeployedAt() throws -> Int64? {
        let s = try statement("SELECT deployed_at FROM bundles ORDER BY seq DESC LIMIT 1")
        defer { s.reset() }
        return try s.step() ? s.int64(0) : nil
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

    // MARK: - Outbox, rejects, audience, meta

    /// The next message number: above every message there is and every one erased
    /// (`outbox_floor`), so that whoever pages through the outbox by number (metrics, `run
    /// --follow`) never meets a number twice. Counted in memory within a transaction (the run's,
    /// where every message is made); outside one, read each time.
    func nextOutboxSeq() throws -> Int64 {
        if !db.inTransaction { outboxSeqGiven = nil }
        defer { if !db.inTransaction { outboxSeqGiven = nil } }
        // Held messages are the newest: the last one held is the last number given.
        if outboxSeqGiven == nil, let last = heldOutbox.last { outboxSeqGiven = last.seq }
        return try nextNumber(after: &outboxSeqGiven, reading: "SELECT MAX((SELECT COALESCE(MAX(seq), 0) FROM outbox), COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'outbox_floor'), 0))")
    }

    public func appendOutbox(id: String, at: Int64, profile: String, journey: String, channel: String?, status: String, content: String?, reason: String?, address: String?,
                             bundle: String?, step: Int?) throws {
        let m = HeldMessage(seq: try nextOutboxSeq(), id: id, at: at, profile: profile, journey: journey, channel: channel, status: status, content: content,
                            reason: reason, address: address, bundle: bundle, step: step)
        // Within a transaction (the run's), held until it commits (SQLiteStore+Held.swift).
        guard db.inTransaction else {
            // (Outside a transaction the caches are not used, nor kept up to date.)
            forgetSent()
            return try writeOutbox([m])
        }
        try holdMessage(m)
    }

    /// The outbox's last message number (0 when empty).
    public func lastOutboxSeq() throws -> Int64 {
        try flushHeldOutbox()
        let s = try statement("SELECT COALESCE(MAX(seq), 0) FROM outbox")
        defer { s.reset() }
        return try s.step() ? s.int64(0) : 0
    }

    public func removeOutbox(ids: [String]) throws {
        let stored = dropHeldMessages(ids)
        // (Stored ones leave the cache of sent messages unsure: it is read again.)
        if !stored.isEmpty { forgetSent() }
        let s = try statement("DELETE FROM outbox WHERE id = ?")
        for id in stored {
            s.bind(1, id)
            try s.run()
        }
        // The step's messages, never seen outside this transaction: their numbers are given
        // again, as SQLite's own numbering did (no gaps: `simulate --report` counts by them).
        // (`nextOutboxSeq` goes on from the last held message, or from the table.)
        outboxSeqGiven = nil
    }

    public func sentCount(profile: String, since: Int64) throws -> Int {
        if cachesUsable {
            if !sentLooked { try loadAllSent() }
            if sentComplete { return Self.count(sentTimes[profile], after: since) }
        }
        let s = try statement("SELECT COUNT(*) FROM outbox WHERE profile = ? AND status = 'sent' AND at > ?")
        defer { s.reset() }
        s.bind(1, profile); s.bind(2, since)
        return (try s.step() ? s.int(0) : 0) + heldSent(profile: profile, since: since)
    }

    public func outbox(afterSeq: Int64, limit: Int) throws -> [OutboxRow] {
        try flushHeldOutbox()
        // A database opened read-only from before `reason` existed reads it as null.
        let s = try outboxHasReason()
            ? statement("SELECT seq, id, at, profile, journey, channel, status, content, reason FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?")
            : statement("SELECT seq, id, at, profile, journey, channel, status, content, NULL FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?")
        s.bind(1, afterSeq); s.bind(2, limit)
        var out: [OutboxRow] = []
        while try s.step() {
            out.append(OutboxRow(seq: s.int64(0), id: s.text(1), at: s.int64(2), profile: s.text(3), journey: s.text(4),
                                 channel: s.optionalText(5), status: s.text(6), content: s.optionalText(7), reason: s.optionalText(8)))
        }
        s.reset()
        return out
    }

    public func claimEventID(profile: String, id: String) throws -> Bool {
        let s = try statement("INSERT OR IGNORE INTO event_ids(profile, id) VALUES (?, ?)")
        s.bind(1, profile); s.bind(2, id)
        try s.run()
        return db.changes > 0
    }

    public func ingestProgress(file: String) throws -> IngestProgress? {
        let s = try statement("SELECT source, lines, events, duplicates, complete FROM ingested_files WHERE hash = ?")
        defer { s.reset() }
        s.bind(1, file)
        guard try s.step() else { return nil }
        return IngestProgress(source: s.text(0), lines: s.int(1), events: s.int(2), duplicates: s.int(3), complete: s.int(4) != 0)
    }

    public func setIngestProgress(file: String, _ p: IngestProgress) throws {
        let s = try statement("INSERT OR REPLACE INTO ingested_files(hash, source, lines, events, duplicates, complete) VALUES (?, ?, ?, ?, ?, ?)")
        s.bind(1, file); s.bind(2, p.source); s.bind(3, p.lines); s.bind(4, p.events); s.bind(5, p.duplicates); s.bind(6, p.complete ? 1 : 0)
        try s.run()
    }

    public func forgetIngest(file: String) throws {
        let s = try statement("DELETE FROM ingested_files WHERE hash = ?")
        s.bind(1, file)
        try s.run()
    }

    public func reject(source: String, line: Int, reason: String, raw: String, at: Int64, profile: String?) throws {
        let s = try statement("INSERT INTO rejects(source, line, reason, raw, at, profile) VALUES (?, ?, ?, ?, ?, ?)")
        s.bind(1, source); s.bind(2, line)
        s.bind(3, InputError.clip(reason, to: InputError.reasonLimit)); s.bind(4, InputError.clip(raw, to: InputError.rawLimit))
        s.bind(5, at)
        s.bind(6, profile ?? RejectedLine.profile(raw))
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

    /// The earliest scheduled audience run (one row from the index, not the whole schedule:
    /// the run asks after every audience run).
    public func nextAudienceRun() throws -> (journey: String, timezone: String, nextAt: Int64)? {
        let s = try statement("SELECT journey, tz, next_at FROM audience ORDER BY next_at, journey, tz LIMIT 1")
        defer { s.reset() }
        return try s.step() ? (s.text(0), s.text(1), s.int64(2)) : nil
    }

    public func setAudience(journey: String, timezone: String, nextAt: Int64) throws {
        // Moving a run on (after every audience run) changes one column in place; a new one is
        // inserted.
        let u = try statement("UPDATE audience SET next_at = ? WHERE journey = ? AND tz = ?")
        u.bind(1, nextAt); u.bind(2, journey); u.bind(3, timezone)
        try u.run()
        guard db.changes == 0 else { return }
        let s = try statement("INSERT INTO audience(journey, tz, next_at) VALUES (?, ?, ?)")
        s.bind(1, journey); s.bind(2, timezone); s.bind(3, nextAt)
        try s.run()
    }

    public func removeAudience(journey: String) throws {
        let s = try statement("DELETE FROM audience WHERE journey = ?")
        s.bind(1, journey)
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
