import JourneyBytecode
import JourneyRuntime

// Instances, entry counts, timers and waits.

extension PostgresStore {
    /// Instance ids are numbered per partition (the next number after the partition's last
    /// that leaves the partition as its remainder by 256): what a partition's profiles do
    /// decides its ids, whichever worker runs it and whatever other partitions do, so any
    /// number of workers give the same message ids as one.
    public func nextInstanceID(profile: String) throws -> Int64 {
        let p = PostgresSchema.partition(profile)
        let last: Int64
        if let held = lastInstance[p] {
            last = held
        } else {
            // Above every instance copied from SQLite (`journey migrate`), whatever its partition.
            if instanceFloor == nil { instanceFloor = Int64(try meta("instance_floor") ?? "0") ?? 0 }
            last = max(instanceFloor ?? 0, try q("SELECT COALESCE(MAX(id), 0) FROM instances WHERE p = $1", [.int(Int64(p))]).int64(0, 0))
        }
        let id = last + 1 + (((Int64(p) - (last + 1)) % 256) + 256) % 256
        lastInstance[p] = id
        return id
    }

    /// The partition of an instance (one made in this transaction may not be stored yet).
    func partition(ofInstance id: Int64) throws -> Int64 {
        let r = try q("SELECT p FROM instances WHERE id = $1", [.int(id)])
        return r.count > 0 ? r.int64(0, 0) : id & 0xFF
    }

    static let instanceColumns = "id, journey, profile, bundle, pc, locals, sends, status, entered_at"

    func instances(_ r: PGResult) -> [InstanceRow] {
        (0..<r.count).map { i in
            InstanceRow(id: r.int64(i, 0), journey: r.text(i, 1), profile: r.text(i, 2), bundle: r.text(i, 3), pc: r.int(i, 4),
                        locals: ValueEncoding.decode(r.bytes(i, 5)) ?? [], sends: r.int(i, 6), status: r.text(i, 7), enteredAt: r.int64(i, 8))
        }
    }

    public func insertInstance(_ row: InstanceRow, endedAt: Int64?) throws {
        // An ended instance needs neither its place nor its locals any more.
        try q("INSERT INTO instances(id, p, journey, profile, bundle, pc, locals, sends, status, entered_at, ended_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
              [.int(row.id), .int(Int64(PostgresSchema.partition(row.profile))), .text(row.journey), .text(row.profile), .text(row.bundle), .int(Int64(row.pc)),
               .bytes(endedAt == nil ? ValueEncoding.encode(row.locals) : ValueEncoding.encode([])), .int(Int64(row.sends)), .text(row.status), .int(row.enteredAt), .from(endedAt)])
    }

    public func loadInstance(_ id: Int64) throws -> InstanceRow? {
        instances(try q("SELECT \(Self.instanceColumns) FROM instances WHERE id = $1", [.int(id)])).first
    }

    public func updateInstance(_ row: InstanceRow, endedAt: Int64?) throws {
        try q("UPDATE instances SET pc = $1, locals = $2, sends = $3, status = $4, ended_at = $5 WHERE id = $6",
              [.int(Int64(row.pc)), .bytes(ValueEncoding.encode(row.locals)), .int(Int64(row.sends)), .text(row.status), .from(endedAt), .int(row.id)])
    }

    public func endInstance(_ row: InstanceRow, at: Int64) throws {
        try q("UPDATE instances SET status = $1, sends = $2, ended_at = $3 WHERE id = $4", [.text(row.status), .int(Int64(row.sends)), .int(at), .int(row.id)])
    }

    public func activeInstances(profile: String) throws -> [InstanceRow] {
        instances(try q("SELECT \(Self.instanceColumns) FROM instances WHERE profile = $1 AND status = 'active' ORDER BY id", [.text(profile)]))
    }

    public func entryStats(journey: String, profile: String) throws -> (active: Int, total: Int, lastEntered: Int64?) {
        let r = try q("SELECT COUNT(*) FILTER (WHERE status = 'active'), COUNT(*), MAX(entered_at) FROM instances WHERE journey = $1 AND profile = $2", [.text(journey), .text(profile)])
        return (r.int(0, 0), r.int(0, 1), r.optionalInt64(0, 2))
    }

    public func addTimer(due: Int64, instance: Int64) throws {
        try q("INSERT INTO timers(due, instance, p) VALUES ($1, $2, $3)", [.int(due), .int(instance), .int(try partition(ofInstance: instance))])
    }

    public func timers(until: Int64?, limit: Int) throws -> [(id: Int64, due: Int64, instance: Int64)] {
        try flushTaken()
        let mine = ownedFilter("p", 3)
        let r = try q("SELECT id, due, instance FROM timers WHERE due <= $1\(mine.sql) ORDER BY due, id LIMIT $2", [.int(until ?? Int64.max), .int(Int64(limit))] + mine.params)
        return (0..<r.count).map { (r.int64($0, 0), r.int64($0, 1), r.int64($0, 2)) }
    }

    public func markTimerFired(due: Int64, id: Int64) {
        fired.append(id)
    }

    @discardableResult
    public func removeTimers(instance: Int64) throws -> [Int64] {
        let r = try q("DELETE FROM timers WHERE instance = $1 RETURNING id", [.int(instance)])
        return (0..<r.count).map { r.int64($0, 0) }.sorted()
    }

    public func addWait(instance: Int64, profile: String, event: String) throws {
        try q("INSERT INTO waits(instance, profile, event) VALUES ($1, $2, $3) ON CONFLICT (instance) DO UPDATE SET profile = excluded.profile, event = excluded.event",
              [.int(instance), .text(profile), .text(event)])
    }

    public func waiters(profile: String, event: String) throws -> [Int64] {
        let r = try q("SELECT instance FROM waits WHERE profile = $1 AND event = $2 ORDER BY instance", [.text(profile), .text(event)])
        return (0..<r.count).map { r.int64($0, 0) }
    }

    public func removeWaits(instance: Int64) throws {
        try q("DELETE FROM waits WHERE instance = $1", [.int(instance)])
    }
}

extension PostgresStore: InstanceListing {
    public func instanceSummaries(journey: String?, status: String?, limit: Int, profile: String?) throws -> [InstanceSummary] {
        let r = try q("""
            SELECT i.id, i.journey, i.profile, i.bundle, i.pc, i.status, i.entered_at, i.ended_at,
                   (SELECT MIN(t.due) FROM timers t WHERE t.instance = i.id), w.event,
                   CASE WHEN i.status = 'failed' THEN (SELECT r.reason FROM rejects r WHERE r.source = 'journey ' || i.journey
                        AND position(convert_to('instance ' || i.id || ' for profile ', 'UTF8') IN r.reason) = 1 ORDER BY r.id DESC LIMIT 1) END
            FROM instances i LEFT JOIN waits w ON w.instance = i.id
            WHERE ($4::text IS NULL OR i.profile = $4) AND ($1::text IS NULL OR i.journey = $1) AND ($2::text IS NULL OR i.status = $2)
            ORDER BY CASE WHEN $4::text IS NULL THEN i.id ELSE -i.id END LIMIT $3
            """, [.from(journey), .from(status), .int(Int64(limit)), .from(profile)])
        return (0..<r.count).map { k in
            InstanceSummary(id: r.int64(k, 0), journey: r.text(k, 1), profile: r.text(k, 2), bundle: r.text(k, 3), pc: r.int(k, 4), status: r.text(k, 5),
                            enteredAt: r.int64(k, 6), endedAt: r.optionalInt64(k, 7), due: r.optionalInt64(k, 8), waitsFor: r.optionalText(k, 9), reason: r.optionalText(k, 10))
        }
    }
}
