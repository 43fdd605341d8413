import JourneyBytecode
import JourneyRuntime

/// What `journey serve`, its console and the delivery commands read and write. Several
/// servers share the delivery queue: each claims the messages it is about to try (rows locked
/// `FOR UPDATE SKIP LOCKED`, so two servers never claim the same), by moving their next attempt
/// past the claim; the attempt's record sets it as the retry schedule says.
extension PostgresStore: ServiceStore {
    static let deliveryColumns = "seq, id, at, profile, journey, channel, status, content, reason, address, delivery, next_attempt"

    /// Due and claimed by the database's clock, which every server shares (a server whose own
    /// clock runs ahead would otherwise take others' claims early); `now` is not used.
    public func dueDeliveries(channel: String, now: Double, limit: Int, busy: Set<String>, claimFor: Double) throws -> [PendingDelivery] {
        guard limit > 0 else { return [] }
        let r = try q("""
            WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::double precision AS now),
                 due AS (SELECT seq, next_attempt FROM outbox, clock WHERE delivery = 'pending' AND channel = $1 AND next_attempt <= clock.now
                         AND NOT (id = ANY($4)) ORDER BY next_attempt, seq LIMIT $2 FOR UPDATE OF outbox SKIP LOCKED)
            UPDATE outbox o SET next_attempt = clock.now + $3::double precision FROM due, clock WHERE o.seq = due.seq
            RETURNING due.next_attempt, o.seq, o.id, o.at, o.profile, o.journey, o.channel, o.address, o.content, o.attempts
            """, [.text(channel), .int(Int64(limit)), .double(max(claimFor, 1)), .texts(busy.sorted())])
        let rows = (0..<r.count).map { i in
            (due: r.double(i, 0), seq: r.int64(i, 1),
             m: PendingDelivery(id: r.text(i, 2), at: r.int64(i, 3), profile: r.text(i, 4), journey: r.text(i, 5), channel: r.text(i, 6),
                                address: r.optionalText(i, 7), content: r.optionalText(i, 8), attempts: r.int(i, 9)))
        }
        return rows.sorted { ($0.due, $0.seq) < ($1.due, $1.seq) }.map(\.m)
    }

    public func nextDeliveryDue(channels: [String]) throws -> Double? {
        guard !channels.isEmpty else { return nil }
        let r = try q("SELECT MIN(next_attempt) FROM outbox WHERE delivery = 'pending' AND channel = ANY($1)", [.texts(channels)])
        return r.isNull(0, 0) ? nil : r.double(0, 0)
    }

    /// In a transaction of its own (no lease to hold: a delivery record is no partition's work),
    /// committed without waiting for the disk.
    public func recordAttempts(_ batch: [(message: String, attempt: DeliveryAttempt, outcome: DeliveryOutcome)]) throws {
        guard !batch.isEmpty else { return }
        // A transaction a failure left open is ended first (nothing of it was committed).
        if inTransaction { rollback() }
        try connection.exec("BEGIN")
        do {
            try connection.exec("SET LOCAL synchronous_commit = off")
            for (id, attempt, outcome) in batch {
                // Only a message still pending (not erased, not settled by another server).
                let find = try q("SELECT attempts FROM outbox WHERE id = $1 AND delivery = 'pending' FOR UPDATE", [.text(id)])
                guard find.count > 0 else { continue }
                let n = try q("SELECT COALESCE(MAX(n), 0) + 1 FROM delivery_attempts WHERE message = $1", [.text(id)]).int64(0, 0)
                try q("INSERT INTO delivery_attempts(message, n, at, code, error, outcome) VALUES ($1, $2, $3::double precision, $4, $5, $6)",
                      [.text(id), .int(n), .double(attempt.at), .from(attempt.code.map(Int64.init)), .from(attempt.error), .text(attempt.outcome)])
                let (state, next): (String, Double?) = switch outcome {
                case .delivered: ("delivered", nil)
                case .failed: ("failed", nil)
                case .retry(let at): ("pending", at)
                }
                try q("UPDATE outbox SET delivery = $1, next_attempt = $2::double precision, attempts = attempts + 1 WHERE id = $3", [.text(state), .from(next), .text(id)])
            }
            try connection.exec("COMMIT")
        } catch {
            try? connection.exec("ROLLBACK")
            throw error
        }
    }

    public func redeliver(ids: [String], now: Double) throws -> [String?] {
        var out: [String?] = []
        for id in ids {
            let r = try q("SELECT delivery FROM outbox WHERE id = $1 FOR UPDATE", [.text(id)])
            guard r.count > 0 else { out.append("no message has this id"); continue }
            switch r.optionalText(0, 0) {
            case "failed":
                try q("UPDATE outbox SET delivery = 'pending', next_attempt = $1::double precision, attempts = 0 WHERE id = $2", [.double(now), .text(id)])
                out.append(nil)
            case "pending": out.append("it is still pending")
            case "delivered": out.append("it was delivered")
            default: out.append("it is not a message for a provider (it was not sent, or its channel is in_app)")
            }
        }
        return out
    }

    func deliveryRecords(_ r: PGResult) -> [DeliveryRecord] {
        (0..<r.count).map { i in
            DeliveryRecord(message: OutboxRow(seq: r.int64(i, 0), id: r.text(i, 1), at: r.int64(i, 2), profile: r.text(i, 3), journey: r.text(i, 4),
                                              channel: r.optionalText(i, 5), status: r.text(i, 6), content: r.optionalText(i, 7), reason: r.optionalText(i, 8)),
                           address: r.optionalText(i, 9), delivery: r.optionalText(i, 10), nextAttempt: r.isNull(i, 11) ? nil : r.double(i, 11), attempts: [])
        }
    }

    public func deliveries(status: String?, afterSeq: Int64, limit: Int) throws -> [DeliveryRecord] {
        var out = deliveryRecords(try q("""
            SELECT \(Self.deliveryColumns) FROM outbox WHERE delivery IS NOT NULL AND ($1::text IS NULL OR delivery = $1::text) AND seq > $2 ORDER BY seq LIMIT $3
            """, [.from(status), .int(afterSeq), .int(Int64(limit))]))
        try addAttempts(&out)
        return out
    }

    /// Fills in the attempts of these messages (one query).
    func addAttempts(_ rows: inout [DeliveryRecord]) throws {
        guard !rows.isEmpty else { return }
        let r = try q("SELECT message, n, at, code, error, outcome FROM delivery_attempts WHERE message = ANY($1) ORDER BY message, n", [.texts(rows.map(\.message.id))])
        var byMessage: [String: [DeliveryAttempt]] = [:]
        for i in 0..<r.count {
            byMessage[r.text(i, 0), default: []].append(DeliveryAttempt(n: r.int(i, 1), at: r.double(i, 2), code: r.isNull(i, 3) ? nil : r.int(i, 3),
                                                                         error: r.optionalText(i, 4), outcome: r.text(i, 5)))
        }
        for k in rows.indices { rows[k].attempts = byMessage[rows[k].message.id] ?? [] }
    }

    public func pendingCounts() throws -> [(channel: String, count: Int)] {
        let r = try q("SELECT channel, COUNT(*) FROM outbox WHERE delivery = 'pending' GROUP BY channel ORDER BY channel")
        return (0..<r.count).map { (r.text($0, 0), r.int($0, 1)) }
    }

    public func failedDeliveries(limit: Int) throws -> (rows: [DeliveryRecord], total: Int) {
        var rows = deliveryRecords(try q("SELECT \(Self.deliveryColumns) FROM outbox WHERE delivery = 'failed' ORDER BY seq DESC LIMIT $1", [.int(Int64(limit))]))
        try addAttempts(&rows)
        return (rows, try q("SELECT COUNT(*) FROM outbox WHERE delivery = 'failed'").int(0, 0))
    }

    public func addReceipt(message: String, status: String, at: Int64, receivedAt: Int64) throws -> Bool {
        guard try q("SELECT 1 FROM outbox WHERE id = $1 AND status = 'sent'", [.text(message)]).count > 0 else { return false }
        try q("INSERT INTO receipts(message, status, at, received_at) VALUES ($1, $2, $3, $4)", [.text(message), .text(status), .int(at), .int(receivedAt)])
        return true
    }

    public func receipts(message: String) throws -> [Receipt] {
        let r = try q("SELECT status, at FROM receipts WHERE message = $1 ORDER BY at, id", [.text(message)])
        return (0..<r.count).map { Receipt(status: r.text($0, 0), at: r.int64($0, 1)) }
    }

    public func messages(profile: String, channel: String?, limit: Int) throws -> [DeliveryRecord] {
        deliveryRecords(try q("""
            SELECT \(Self.deliveryColumns) FROM outbox WHERE profile = $1 AND ($2::text IS NULL OR channel = $2::text) ORDER BY seq DESC LIMIT $3
            """, [.text(profile), .from(channel), .int(Int64(limit))]))
    }

    public func recentEvents(profile: String, limit: Int, schema: RuntimeSchema) throws -> [StoredEvent] {
        let r = try q("SELECT event, at, data FROM events WHERE profile = $1 ORDER BY at DESC, seq DESC LIMIT $2", [.text(profile), .int(Int64(limit))])
        return (0..<r.count).map { i in
            let name = r.text(i, 0)
            var fields: [(String, Value)] = []
            if let def = schema.events.first(where: { $0.name == name }) {
                fields = zip(def.fields, ValueEncoding.fields(fromBlob: r.bytes(i, 2), def)).map { ($0.0.name, $0.1) }
            }
            return StoredEvent(event: name, at: r.int64(i, 1), fields: fields)
        }
    }

    public func recentRejects(limit: Int) throws -> (rows: [RejectRow], total: Int) {
        let r = try q("SELECT id, source, line, reason, raw, at, profile FROM rejects ORDER BY id DESC LIMIT $1", [.int(Int64(limit))])
        let rows = (0..<r.count).map { i in
            RejectRow(id: r.int64(i, 0), source: r.text(i, 1), line: r.int(i, 2), reason: r.text(i, 3), raw: r.text(i, 4), at: r.int64(i, 5), profile: r.optionalText(i, 6))
        }
        return (rows, try q("SELECT COUNT(*) FROM rejects").int(0, 0))
    }

    /// Erases a profile in the caller's transaction, as the SQLite store does (what it keeps of
    /// delivered messages is the same). It holds the writers' lock alone: no worker is in the
    /// middle of this profile's steps meanwhile. The deleted rows' space is reused after the
    /// next VACUUM (autovacuum does it); until then they are in no table, only in dead pages.
    public func erase(profile id: String) throws -> Bool {
        try spanPartitionsAlways()
        try flushTaken()
        let existed = try profileExists(id)
        let instances = "SELECT id FROM instances WHERE profile = $1"
        // New instances are numbered above the erased ones: their messages' ids (kept for the
        // delivered ones, and known to receivers) are never given to another profile's.
        try q("""
            INSERT INTO meta(key, value) SELECT 'instance_floor', MAX(id)::text FROM instances WHERE profile = $1 HAVING MAX(id) IS NOT NULL
            ON CONFLICT (key) DO UPDATE SET value = GREATEST(meta.value::bigint, excluded.value::bigint)::text
            """, [.text(id)])
        instanceFloor = nil
        lastInstance = [:]
        try q("DELETE FROM timers WHERE instance IN (\(instances))", [.text(id)])
        try q("DELETE FROM waits WHERE instance IN (\(instances))", [.text(id)])
        try q("DELETE FROM instance_branches WHERE instance IN (\(instances))", [.text(id)])
        try q("DELETE FROM instances WHERE profile = $1", [.text(id)])
        try q("DELETE FROM history_keys WHERE profile = $1", [.text(id)])
        try q("DELETE FROM events WHERE profile = $1", [.text(id)])
        try q("DELETE FROM inbox WHERE profile = $1", [.text(id)])
        try q("DELETE FROM event_ids WHERE profile = $1", [.text(id)])
        let undelivered = "SELECT id FROM outbox WHERE profile = $1 AND (delivery IS NULL OR delivery != 'delivered')"
        try q("DELETE FROM receipts WHERE message IN (\(undelivered))", [.text(id)])
        try q("DELETE FROM delivery_attempts WHERE message IN (\(undelivered))", [.text(id)])
        try q("DELETE FROM outbox WHERE profile = $1 AND (delivery IS NULL OR delivery != 'delivered')", [.text(id)])
        try q("UPDATE outbox SET profile = '', content = NULL, address = NULL, reason = NULL WHERE profile = $1", [.text(id)])
        try q("DELETE FROM rejects WHERE profile = $1", [.text(id)])
        try q("DELETE FROM rejects WHERE profile IS NULL AND position($1::bytea in reason) > 0", [.bytes(Array("for profile \(id) stopped".utf8))])
        // Lines from before rejects knew their profile, and CSV lines, are looked through.
        let scan = try q("SELECT id, raw FROM rejects WHERE profile IS NULL")
        let doomed = (0..<scan.count).filter { RejectedLine.names(scan.text($0, 1), profile: id) }.map { scan.int64($0, 0) }
        if !doomed.isEmpty { try q("DELETE FROM rejects WHERE id = ANY($1)", [.ints(doomed)]) }
        try q("DELETE FROM profiles WHERE id = $1", [.text(id)])
        return existed
    }
}

extension PostgresStore: SharedWorkStore {
    public func isSetback(_ error: Error) -> Bool {
        !connection.isAlive || isRetryable(error)
    }

    /// The transaction surely did not commit: a lost lease (found before COMMIT), the lock
    /// needed alone, a serialization failure or deadlock the server rolled back. (A session
    /// lost during COMMIT may have committed: that is no retry.)
    public func isRetryable(_ error: Error) -> Bool {
        connection.isAlive && (error is LeaseLost || error is NeedsTheLockAlone || (error as? PostgresError)?.isTransient == true)
    }
}
