import JourneyBytecode

extension SQLiteStore {
    public func addStepCounts(_ rows: [StepCount]) throws {
        let s = try statement("INSERT INTO step_counts(journey, bundle, step, what, entered_hour, n) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(journey, bundle, step, what, entered_hour) DO UPDATE SET n = n + excluded.n")
        for r in rows {
            s.bind(1, r.journey); s.bind(2, r.bundle); s.bind(3, r.step); s.bind(4, r.what); s.bind(5, r.hour); s.bind(6, r.n)
            try s.run()
        }
    }

    public func recordBranches(_ rows: [BranchTaken]) throws {
        let s = try statement("INSERT OR REPLACE INTO instance_branches(instance, step, branch) VALUES (?, ?, ?)")
        for r in rows {
            s.bind(1, r.instance); s.bind(2, r.step); s.bind(3, r.branch)
            try s.run()
        }
    }
}

/// What the analytics (`journey stats`, the console) read back from a store.
public protocol AnalyticsReading {
    /// The bundles in deploy order, with when each was (last) deployed.
    func deploys() throws -> [(hash: String, deployedAt: Int64)]
    func bundleBytes(_ hash: String) throws -> [UInt8]?
    /// The counters of every journey (or one), summed over the hours from `sinceHour` on.
    func stepCounts(journey: String?, sinceHour: Int64) throws -> [StepCount]
    /// Receipts of the messages of instances entered since `since`, by the step that sent them.
    func receiptCounts(journey: String?, since: Int64?) throws -> [(journey: String, bundle: String, step: Int, channel: String, status: String, n: Int64)]
    /// Instances of one journey version entered since `since`, by state.
    func instanceOutcomes(journey: String, bundle: String, since: Int64) throws -> [String: Int64]
    /// Active instances entered since `since`, by journey version and where they stand.
    func activeInstances(journey: String?, since: Int64) throws -> [(journey: String, bundle: String, pc: Int, n: Int64)]
    /// How long each converted instance entered since `since` took, in seconds, shortest first.
    func conversionTimes(journey: String, bundle: String, since: Int64) throws -> [Int64]
    /// Per split branch, the instances entered since `since` that took it and how many converted.
    func branchOutcomes(journey: String?, since: Int64) throws -> [(journey: String, bundle: String, step: Int, branch: Int, entered: Int64, converted: Int64)]
}

/// What the analytics read back: sums over the hours asked for. A database from before the
/// analytics (opened read-only, so not migrated) reads as one with nothing counted yet.
extension SQLiteStore: AnalyticsReading {
    /// Whether the database has this table, or this column of it.
    func has(table: String, column: String? = nil) throws -> Bool {
        let s = try db.prepare(column == nil ? "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1"
                                             : "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2")
        s.bind(1, table)
        if let column { s.bind(2, column) }
        return try s.step() && s.int(0) > 0
    }

    /// The bundles in deploy order, with when each was (last) deployed.
    public func deploys() throws -> [(hash: String, deployedAt: Int64)] {
        let s = try db.prepare("SELECT hash, deployed_at FROM bundles ORDER BY seq")
        var out: [(String, Int64)] = []
        while try s.step() { out.append((s.text(0), s.int64(1))) }
        return out
    }

    /// The counters of every journey (or one), summed over the hours from `sinceHour` on.
    public func stepCounts(journey: String?, sinceHour: Int64) throws -> [StepCount] {
        guard try has(table: "step_counts") else { return [] }
        let s = try db.prepare("SELECT journey, bundle, step, what, SUM(n) FROM step_counts WHERE (?1 IS NULL OR journey = ?1) AND entered_hour >= ?2 GROUP BY journey, bundle, step, what")
        s.bind(1, journey); s.bind(2, sinceHour)
        var out: [StepCount] = []
        while try s.step() {
            out.append(StepCount(journey: s.text(0), bundle: s.text(1), step: s.int(2), what: s.text(3), hour: sinceHour, n: s.int64(4)))
        }
        return out
    }

    /// Receipts of the messages of instances entered since `since` (of all, when nil), by the
    /// step that sent them: each message counts once per receipt status (opened twice is one
    /// opened message). A message's id starts with its instance's.
    public func receiptCounts(journey: String?, since: Int64?) throws -> [(journey: String, bundle: String, step: Int, channel: String, status: String, n: Int64)] {
        try flushHeldOutbox()
        guard try has(table: "receipts"), try has(table: "outbox", column: "step") else { return [] }
        let s = try db.prepare("""
            SELECT o.journey, o.bundle, o.step, o.channel, r.status, COUNT(DISTINCT o.id) FROM receipts r JOIN outbox o ON o.id = r.message
            WHERE o.step IS NOT NULL AND o.bundle IS NOT NULL AND o.channel IS NOT NULL AND (?1 IS NULL OR o.journey = ?1)
              AND (?2 IS NULL OR EXISTS (SELECT 1 FROM instances i WHERE i.id = CAST(substr(o.id, 1, instr(o.id, '-') - 1) AS INTEGER) AND i.entered_at >= ?2))
            GROUP BY o.journey, o.bundle, o.step, o.channel, r.status
            """)
        s.bind(1, journey); s.bind(2, since)
        var out: [(String, String, Int, String, String, Int64)] = []
        while try s.step() { out.append((s.text(0), s.text(1), s.int(2), s.text(3), s.text(4), s.int64(5))) }
        return out
    }

    /// Instances of one journey version entered since `since`, by state.
    public func instanceOutcomes(journey: String, bundle: String, since: Int64) throws -> [String: Int64] {
        let s = try db.prepare("SELECT status, COUNT(*) FROM instances WHERE journey = ?1 AND bundle = ?2 AND entered_at >= ?3 GROUP BY status")
        s.bind(1, journey); s.bind(2, bundle); s.bind(3, since)
        var out: [String: Int64] = [:]
        while try s.step() { out[s.text(0)] = s.int64(1) }
        return out
    }

    /// Active instances entered since `since`, by journey version and where they stand.
    public func activeInstances(journey: String?, since: Int64) throws -> [(journey: String, bundle: String, pc: Int, n: Int64)] {
        let s = try db.prepare("""
            SELECT journey, bundle, pc, COUNT(*) FROM instances
            WHERE status = 'active' AND (?1 IS NULL OR journey = ?1) AND entered_at >= ?2 GROUP BY journey, bundle, pc
            """)
        s.bind(1, journey); s.bind(2, since)
        var out: [(String, String, Int, Int64)] = []
        while try s.step() { out.append((s.text(0), s.text(1), s.int(2), s.int64(3))) }
        return out
    }

    /// How long each converted instance entered since `since` took, in seconds, shortest first.
    public func conversionTimes(journey: String, bundle: String, since: Int64) throws -> [Int64] {
        let s = try db.prepare("""
            SELECT ended_at - entered_at AS took FROM instances
            WHERE journey = ?1 AND bundle = ?2 AND status = 'converted' AND entered_at >= ?3 AND ended_at IS NOT NULL ORDER BY took
            """)
        s.bind(1, journey); s.bind(2, bundle); s.bind(3, since)
        var out: [Int64] = []
        while try s.step() { out.append(s.int64(0)) }
        return out
    }

    /// Per split branch, the instances entered since `since` that took it and how many of
    /// them converted.
    public func branchOutcomes(journey: String?, since: Int64) throws -> [(journey: String, bundle: String, step: Int, branch: Int, entered: Int64, converted: Int64)] {
        guard try has(table: "instance_branches") else { return [] }
        let s = try db.prepare("""
            SELECT i.journey, i.bundle, b.step, b.branch, COUNT(*), SUM(i.status = 'converted') FROM instance_branches b JOIN instances i ON i.id = b.instance
            WHERE (?1 IS NULL OR i.journey = ?1) AND i.entered_at >= ?2 GROUP BY i.journey, i.bundle, b.step, b.branch
            """)
        s.bind(1, journey); s.bind(2, since)
        var out: [(String, String, Int, Int, Int64, Int64)] = []
        while try s.step() { out.append((s.text(0), s.text(1), s.int(2), s.int(3), s.int64(4), s.int64(5))) }
        return out
    }
}

/// A kept-aside input line or failed instance, as the console lists them.
public struct RejectRow: Sendable {
    public var id: Int64
    public var source: String
    public var line: Int
    public var reason: String
    public var raw: String
    public var at: Int64
    public var profile: String?

    public init(id: Int64, source: String, line: Int, reason: String, raw: String, at: Int64, profile: String?) {
        self.id = id; self.source = source; self.line = line; self.reason = reason; self.raw = raw; self.at = at; self.profile = profile
    }
}

extension SQLiteStore {
    /// The newest rejects first, at most `limit`, and how many there are in all.
    public func recentRejects(limit: Int) throws -> (rows: [RejectRow], total: Int) {
        let s = try db.prepare("SELECT id, source, line, reason, raw, at, profile FROM rejects ORDER BY id DESC LIMIT ?")
        s.bind(1, limit)
        var out: [RejectRow] = []
        while try s.step() {
            out.append(RejectRow(id: s.int64(0), source: s.text(1), line: s.int(2), reason: s.text(3), raw: s.text(4), at: s.int64(5), profile: s.optionalText(6)))
        }
        let count = try db.prepare("SELECT COUNT(*) FROM rejects")
        return (out, try count.step() ? count.int(0) : out.count)
    }

    /// Messages whose delivery failed, newest first, with their attempts, and how many there are.
    public func failedDeliveries(limit: Int) throws -> (rows: [DeliveryRecord], total: Int) {
        try flushHeldOutbox()
        let s = try db.prepare("""
            SELECT seq FROM outbox WHERE delivery = 'failed' ORDER BY seq DESC LIMIT ?
            """)
        s.bind(1, limit)
        var seqs: [Int64] = []
        while try s.step() { seqs.append(s.int64(0)) }
        var rows: [DeliveryRecord] = []
        for q in seqs { rows += try deliveries(status: "failed", afterSeq: q - 1, limit: 1) }
        let count = try db.prepare("SELECT COUNT(*) FROM outbox WHERE delivery = 'failed'")
        return (rows, try count.step() ? count.int(0) : rows.count)
    }
}

extension SQLiteStore {
    /// The split branches (step, branch) an instance took.
    public func branchesTaken(instance: Int64) throws -> [(step: Int, branch: Int)] {
        let s = try db.prepare("SELECT step, branch FROM instance_branches WHERE instance = ? ORDER BY step")
        s.bind(1, instance)
        var out: [(Int, Int)] = []
        while try s.step() { out.append((s.int(0), s.int(1))) }
        return out
    }
}
