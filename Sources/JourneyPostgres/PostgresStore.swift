import JourneyBytecode
import JourneyRuntime

/// The PostgreSQL store: the same `JourneyStore` as SQLite's, on a server that many processes
/// share. Statements are prepared once per connection and every value is a bound parameter;
/// a batch of steps is one transaction. Writing transactions take turns (an advisory lock, as
/// SQLite's BEGIN IMMEDIATE), so the engine sees exactly what it sees on SQLite.
///
/// History visibility: an ingested event is in the inbox and in the history at once; history
/// queries see it once the run has taken it, i.e. once it has left the inbox. The run takes
/// events in inbox order, and what it takes leaves the inbox within its own transaction.
public final class PostgresStore: JourneyStore {
    public let connection: PGConnection
    public let url: String
    public let readOnly: Bool
    var schema = RuntimeSchema()
    var loadProfileSQL = ""
    var saveProfileSQL = ""
    var timezoneColumn: String?
    var knownZones: Set<String> = []
    var inTransaction = false

    /// Inbox events and timers the run has taken in this transaction, not yet deleted (they
    /// are, before the next read that could see them, and at commit).
    var taken: [Int64] = []
    var fired: [Int64] = []
    /// What was taken and not yet deleted, by profile (its history queries see those too), and
    /// the profile of each inbox event read.
    var takenByProfile: [String: [Int64]] = [:]
    var inboxProfiles: [Int64: String] = [:]
    /// The last instance id handed out per partition in this transaction.
    var lastInstance: [Int: Int64] = [:]
    /// Instance numbers start above this (the highest copied by `journey migrate`).
    var instanceFloor: Int64?
    /// Set when this store is one of many workers (`becomeWorker`).
    var worker: WorkerState?
    /// The worker's partition clocks as the transaction found them (a rollback goes back to them).
    var clocksAtBegin: [Int: Int64] = [:]
    /// The partitions of the audience run in hand (`audienceRunStarts`), until its `setAudience`.
    var audienceRun: [Int64]?
    /// The next transactions hold the writers' lock alone (`holdAloneNext`, or after one
    /// found it needed it): until one that needs it commits, a few at most.
    var aloneTurns = 0
    /// This transaction did work that spans partitions.
    var spanned = false

    /// Opens the store at `url` (`postgres://…`, or empty for the `PG*` environment variables),
    /// bringing its tables up to date; a `readOnly` store changes nothing.
    public init(url: String, readOnly: Bool = false) throws {
        connection = try PGConnection(url: url)
        self.url = url
        self.readOnly = readOnly
        try connection.exec("SET client_min_messages = warning")
        if readOnly {
            try connection.exec("SET default_transaction_read_only = on")
        } else {
            try PostgresSchema.migrate(connection)
        }
    }

    /// Whether `--db` names a PostgreSQL database rather than a SQLite file (`postgres://` alone
    /// takes everything from the `PG*` environment variables).
    public static func isURL(_ db: String) -> Bool {
        db.hasPrefix("postgres://") || db.hasPrefix("postgresql://")
    }

    @discardableResult
    func q(_ sql: String, _ params: [PGParam] = []) throws -> PGResult { try connection.query(sql, params) }

    // MARK: - Transactions

    public func begin() throws {
        // A worker's partition work holds the writers' lock shared (workers go side by side);
        // anything else holds it alone, as SQLite's BEGIN IMMEDIATE does, and so does a worker's
        // transaction that was told it will need it (`holdAloneNext`): a lock held shared is
        // never upgraded while others wait, which would deadlock two workers doing it at once.
        let alone = worker == nil || aloneTurns > 0
        spanned = false
        if let w = worker {
            try heartbeatIfDue(w)
            clocksAtBegin = w.clocks
            w.movedClocks = []
            w.exclusive = alone
        }
        try connection.exec("BEGIN")
        inTransaction = true
        forgetTransaction()
        do {
            try q(alone ? "SELECT pg_advisory_xact_lock($1)" : "SELECT pg_advisory_xact_lock_shared($1)", [.int(PostgresSchema.writerLock)])
        } catch {
            rollback()
            throw error
        }
    }

    /// The next transaction holds the writers' lock alone from its start (an ingest, an import
    /// of another partition's profile, an erasure, or the retry of a transaction that found
    /// it needed the lock alone).
    public func holdAloneNext() { aloneTurns = max(aloneTurns, 1) }

    /// Forgets what one transaction kept in memory (taken events and timers, instance numbers).
    func forgetTransaction() {
        audienceRun = nil
        taken = []
        fired = []
        takenByProfile = [:]
        inboxProfiles = [:]
        lastInstance = [:]
        // Read again in each transaction: an erasure elsewhere may have raised it.
        instanceFloor = nil
    }

    /// Deletes what the run took and fired, before anything reads the inbox or the timers (a
    /// profile's history queries see what was taken of its events without it).
    func flushTaken() throws {
        if !taken.isEmpty {
            try q("DELETE FROM inbox WHERE seq = ANY($1)", [.ints(taken)])
            taken = []
            takenByProfile = [:]
        }
        if !fired.isEmpty {
            try q("DELETE FROM timers WHERE id = ANY($1)", [.ints(fired)])
            fired = []
        }
    }

    public func commit() throws {
        try flushTaken()
        if let w = worker { try fence(w) }
        try connection.exec("COMMIT")
        inTransaction = false
        lastInstance = [:]
        worker?.exclusive = false
        if let w = worker { clocksAtBegin = w.clocks }
        // Holding the lock alone goes on until a transaction needed it (or a few did not).
        aloneTurns = spanned ? 0 : max(0, aloneTurns - 1)
    }

    public func rollback() {
        let wasIn = inTransaction
        try? connection.exec("ROLLBACK")
        inTransaction = false
        forgetTransaction()
        if let w = worker {
            w.exclusive = false
            w.movedClocks = []
            // The clocks go back to where the transaction found them (outside one, they are
            // those of the last commit already).
            if wasIn { w.clocks = clocksAtBegin.filter { w.owned[$0.key] != nil } }
        }
    }

    /// After a failure (a lost lease, a session the server ended): a new session if the old
    /// one is gone, and a fresh look at the leases.
    public func recover() throws {
        rollback()
        if !connection.isAlive {
            try connection.reset()
            try connection.exec("SET client_min_messages = warning")
        }
        if let w = worker {
            try connection.exec("SET idle_in_transaction_session_timeout = \(Int(w.lease * 500))")
            try heartbeat(w)
        }
    }

    /// A worker that is done gives its partitions back at once (another takes them without
    /// waiting for the lease to run out).
    public func checkpoint() throws {
        guard let w = worker, !inTransaction else { return }
        try q("UPDATE partitions SET owner = NULL, lease_until = NULL WHERE owner = $1", [.text(w.id)])
        try q("DELETE FROM workers WHERE id = $1", [.text(w.id)])
        w.owned = [:]
    }

    // MARK: - Bundles

    public func deploy(bytes: [UInt8], hash: String, at: Int64) throws -> Bool {
        let next = "(SELECT COALESCE(MAX(seq), 0) + 1 FROM bundles)"
        let r = try q("INSERT INTO bundles(seq, hash, bytes, deployed_at) VALUES (\(next), $1, $2, $3) ON CONFLICT (hash) DO NOTHING", [.text(hash), .bytes(bytes), .int(at)])
        if r.affected > 0 { return true }
        // Deploying an older bundle again makes it current again.
        try q("UPDATE bundles SET seq = \(next), deployed_at = $1 WHERE hash = $2 AND seq < (SELECT MAX(seq) FROM bundles)", [.int(at), .text(hash)])
        return false
    }

    public func currentBundle() throws -> (hash: String, bytes: [UInt8])? {
        let r = try q("SELECT hash, bytes FROM bundles ORDER BY seq DESC LIMIT 1")
        return r.count > 0 ? (r.text(0, 0), r.bytes(0, 1)) : nil
    }

    public func currentBundleHash() throws -> String? {
        let r = try q("SELECT hash FROM bundles ORDER BY seq DESC LIMIT 1")
        return r.count > 0 ? r.text(0, 0) : nil
    }

    public func currentDeployedAt() throws -> Int64? {
        let r = try q("SELECT deployed_at FROM bundles ORDER BY seq DESC LIMIT 1")
        return r.count > 0 ? r.int64(0, 0) : nil
    }

    public func bundleBytes(_ hash: String) throws -> [UInt8]? {
        let r = try q("SELECT bytes FROM bundles WHERE hash = $1", [.text(hash)])
        return r.count > 0 ? r.bytes(0, 0) : nil
    }

    public func bundleHashes() throws -> [String] {
        let r = try q("SELECT hash FROM bundles ORDER BY seq")
        return (0..<r.count).map { r.text($0, 0) }
    }

    // MARK: - Outbox, rejects, audience, meta

    public func appendOutbox(id: String, at: Int64, profile: String, journey: String, channel: String?, status: String, content: String?, reason: String?, address: String?,
                             bundle: String?, step: Int?) throws {
        // A sent message waits for its provider from the moment it was sent; in-app content is
        // read by the app, never delivered.
        let pending = status == "sent" && channel != nil && channel != "in_app"
        try q("INSERT INTO outbox(id, at, profile, journey, channel, status, content, reason, address, delivery, next_attempt, bundle, step) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::double precision, $12, $13)",
              [.text(id), .int(at), .text(profile), .text(journey), .from(channel), .text(status), .from(content), .from(reason), .from(address),
               pending ? .text("pending") : .null, pending ? .int(at) : .null, .from(bundle), .from(step.map(Int64.init))])
    }

    public func removeOutbox(ids: [String]) throws {
        guard !ids.isEmpty else { return }
        try q("DELETE FROM outbox WHERE id = ANY($1)", [.texts(ids)])
    }

    public func sentCount(profile: String, since: Int64) throws -> Int {
        try q("SELECT COUNT(*) FROM outbox WHERE profile = $1 AND status = 'sent' AND at > $2", [.text(profile), .int(since)]).int(0, 0)
    }

    public func outbox(afterSeq: Int64, limit: Int) throws -> [OutboxRow] {
        let r = try q("SELECT seq, id, at, profile, journey, channel, status, content, reason FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2", [.int(afterSeq), .int(Int64(limit))])
        return (0..<r.count).map { i in
            OutboxRow(seq: r.int64(i, 0), id: r.text(i, 1), at: r.int64(i, 2), profile: r.text(i, 3), journey: r.text(i, 4),
                      channel: r.optionalText(i, 5), status: r.text(i, 6), content: r.optionalText(i, 7), reason: r.optionalText(i, 8))
        }
    }

    /// The outbox's last message number (0 when empty).
    public func lastOutboxSeq() throws -> Int64 {
        try q("SELECT COALESCE(MAX(seq), 0) FROM outbox").int64(0, 0)
    }

    public func claimEventID(profile: String, id: String) throws -> Bool {
        try q("INSERT INTO event_ids(profile, id) VALUES ($1, $2) ON CONFLICT DO NOTHING", [.text(profile), .text(id)]).affected > 0
    }

    public func ingestProgress(file: String) throws -> IngestProgress? {
        let r = try q("SELECT source, lines, events, duplicates, complete::int FROM ingested_files WHERE hash = $1", [.text(file)])
        guard r.count > 0 else { return nil }
        return IngestProgress(source: r.text(0, 0), lines: r.int(0, 1), events: r.int(0, 2), duplicates: r.int(0, 3), complete: r.int(0, 4) != 0)
    }

    public func setIngestProgress(file: String, _ p: IngestProgress) throws {
        try q("""
            INSERT INTO ingested_files(hash, source, lines, events, duplicates, complete) VALUES ($1, $2, $3, $4, $5, $6::int::boolean)
            ON CONFLICT (hash) DO UPDATE SET source = excluded.source, lines = excluded.lines, events = excluded.events, duplicates = excluded.duplicates, complete = excluded.complete
            """, [.text(file), .text(p.source), .int(Int64(p.lines)), .int(Int64(p.events)), .int(Int64(p.duplicates)), .int(p.complete ? 1 : 0)])
    }

    public func forgetIngest(file: String) throws {
        try q("DELETE FROM ingested_files WHERE hash = $1", [.text(file)])
    }

    public func reject(source: String, line: Int, reason: String, raw: String, at: Int64, profile: String?) throws {
        try q("INSERT INTO rejects(source, line, reason, raw, at, profile) VALUES ($1, $2, $3, $4, $5, $6)",
              [.text(source), .int(Int64(line)), .bytes(Array(InputError.clip(reason, to: InputError.reasonLimit).utf8)), .bytes(Array(InputError.clip(raw, to: InputError.rawLimit).utf8)),
               .int(at), .from((profile ?? RejectedLine.profile(raw)).flatMap { $0.utf8.contains(0) ? nil : $0 })]) // an id with U+0000 is no profile's
    }

    public func rejects() throws -> [(source: String, line: Int, reason: String, raw: String)] {
        let r = try q("SELECT source, line, reason, raw FROM rejects ORDER BY id")
        return (0..<r.count).map { (r.text($0, 0), r.int($0, 1), r.text($0, 2), r.text($0, 3)) } // bytea reads as its bytes
    }

    // Audience runs go by partition: each partition keeps its own schedule, and a worker runs
    // a journey's audience in a time zone for the partitions it holds that are due, scanning
    // only their profiles. So an audience run over millions of profiles is shared out as the
    // events are, and does not stop the other workers.

    /// The earliest run of each journey and time zone over the partitions this worker holds.
    public func audienceSchedule() throws -> [(journey: String, timezone: String, nextAt: Int64)] {
        let (owned, params) = ownedFilter("p", 1)
        let r = try q("SELECT journey, tz, MIN(next_at) FROM audience WHERE true\(owned) GROUP BY journey, tz ORDER BY 3, 1, 2", params)
        return (0..<r.count).map { (r.text($0, 0), r.text($0, 1), r.int64($0, 2)) }
    }

    /// The partitions of the audience run that starts: those held here whose run is due.
    public func audienceRunStarts(journey: String, timezone: String, at: Int64) throws {
        let (owned, params) = ownedFilter("p", 4)
        let r = try q("SELECT p FROM audience WHERE journey = $1 AND tz = $2 AND next_at <= $3\(owned) ORDER BY p",
                      [.text(journey), .text(timezone), .int(at)] + params)
        let run = (0..<r.count).map { r.int64($0, 0) }
        audienceRun = run
        if let w = worker {
            for p in run.map(Int.init) {
                w.clocks[p] = max(w.clocks[p] ?? w.floor, at)
                w.movedClocks.insert(p)
            }
        }
    }

    /// After an audience run, its partitions' next run; else (a journey or a time zone new to
    /// the schedule) the first run of every partition.
    public func setAudience(journey: String, timezone: String, nextAt: Int64) throws {
        if let run = audienceRun {
            audienceRun = nil
            try q("UPDATE audience SET next_at = $3 WHERE journey = $1 AND tz = $2 AND p = ANY($4)", [.text(journey), .text(timezone), .int(nextAt), .ints(run)])
        } else {
            try q("INSERT INTO audience(journey, tz, p, next_at) SELECT $1, $2, g, $3 FROM generate_series(0, \(PostgresSchema.partitions - 1)) g ON CONFLICT DO NOTHING",
                  [.text(journey), .text(timezone), .int(nextAt)])
        }
    }

    /// A journey no longer run daily (at that time): its schedule goes from every partition.
    public func removeAudience(journey: String) throws {
        try spanPartitions()
        try q("DELETE FROM audience WHERE journey = $1", [.text(journey)])
    }

    public func meta(_ key: String) throws -> String? {
        let r = try q("SELECT value FROM meta WHERE key = $1", [.text(key)])
        return r.count > 0 ? r.text(0, 0) : nil
    }

    public func setMeta(_ key: String, _ value: String) throws {
        try q("INSERT INTO meta(key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [.text(key), .text(value)])
    }

    public func addStepCounts(_ rows: [StepCount]) throws {
        // The counters are shared by every worker: each writes them in one order (by key), so
        // two workers wait for each other at most, and never deadlock over them.
        for r in rows.sorted(by: { ($0.journey, $0.bundle, $0.step, $0.what, $0.hour) < ($1.journey, $1.bundle, $1.step, $1.what, $1.hour) }) {
            try q("INSERT INTO step_counts(journey, bundle, step, what, entered_hour, n) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (journey, bundle, step, what, entered_hour) DO UPDATE SET n = step_counts.n + excluded.n",
                  [.text(r.journey), .text(r.bundle), .int(Int64(r.step)), .text(r.what), .int(r.hour), .int(r.n)])
        }
    }

    public func recordBranches(_ rows: [BranchTaken]) throws {
        for r in rows {
            try q("INSERT INTO instance_branches(instance, step, branch) VALUES ($1, $2, $3) ON CONFLICT (instance, step) DO UPDATE SET branch = excluded.branch",
                  [.int(r.instance), .int(Int64(r.step)), .int(Int64(r.branch))])
        }
    }
}

extension PostgresStore {
    /// A `--db` value fit to print: a password in the URL (or a `password=` parameter) is
    /// replaced by `***`.
    public static func redacted(_ db: String) -> String {
        guard isURL(db) else { return db }
        var out = db
        if let scheme = out.range(of: "://"), let at = out[scheme.upperBound...].firstIndex(of: "@") {
            let userinfo = out[scheme.upperBound..<at]
            if let colon = userinfo.firstIndex(of: ":") { out.replaceSubrange(out.index(after: colon)..<at, with: "***") }
        }
        if let p = out.range(of: "password=") {
            let end = out[p.upperBound...].firstIndex(of: "&") ?? out.endIndex
            out.replaceSubrange(p.upperBound..<end, with: "***")
        }
        return out
    }
}
