/// A sent message on its way to a provider: what a delivery adapter needs to send it.
public struct PendingDelivery: Sendable, Hashable {
    public var id: String
    public var at: Int64
    public var profile: String
    public var journey: String
    public var channel: String
    public var address: String?
    public var content: String?
    /// Attempts made so far in this round (0: the first is next).
    public var attempts: Int

    public init(id: String, at: Int64, profile: String, journey: String, channel: String, address: String?, content: String?, attempts: Int) {
        self.id = id; self.at = at; self.profile = profile; self.journey = journey; self.channel = channel
        self.address = address; self.content = content; self.attempts = attempts
    }
}

/// One try at handing a message to its provider.
public struct DeliveryAttempt: Sendable, Hashable {
    /// Its number, from 1, over the message's whole life (a redelivery goes on counting).
    public var n: Int
    /// Unix time in seconds, with fractions.
    public var at: Double
    /// The HTTP status the provider answered, if it answered.
    public var code: Int?
    /// What went wrong when there was no answer (time-out, connection refused…), or the reason.
    public var error: String?
    /// `delivered`, `retry` or `failed`.
    public var outcome: String

    public init(n: Int = 0, at: Double, code: Int?, error: String?, outcome: String) {
        self.n = n; self.at = at; self.code = code; self.error = error; self.outcome = outcome
    }
}

/// A message with where its delivery stands, for `journey deliveries` and the 360° view.
public struct DeliveryRecord: Sendable {
    public var message: OutboxRow
    public var address: String?
    /// `pending`, `delivered`, `failed`; nil for messages that are not delivered by a provider.
    public var delivery: String?
    public var nextAttempt: Double?
    public var attempts: [DeliveryAttempt]

    public init(message: OutboxRow, address: String?, delivery: String?, nextAttempt: Double?, attempts: [DeliveryAttempt]) {
        self.message = message; self.address = address; self.delivery = delivery; self.nextAttempt = nextAttempt; self.attempts = attempts
    }
}

/// How a delivery attempt ends for the message.
public enum DeliveryOutcome: Sendable, Hashable {
    case delivered
    /// Tried again at this instant (unix seconds).
    case retry(at: Double)
    case failed
}

/// A receipt a provider or SDK reported for a message.
public struct Receipt: Sendable, Hashable {
    public var status: String
    public var at: Int64

    public init(status: String, at: Int64) { self.status = status; self.at = at }
}

extension SQLiteStore {
    /// Runs `body` (its own transactions) committing without waiting for the disk: WAL with
    /// synchronous=NORMAL survives a crash of the process, and only a power cut may forget the
    /// last of these commits. For records whose loss only repeats work that is safe to repeat
    /// (a delivery attempt's record: the message is delivered again, at least once).
    public func withoutWaitingForTheDisk<T>(_ body: () throws -> T) throws -> T {
        guard !readOnly, db.path != ":memory:" else { return try body() }
        try db.exec("PRAGMA synchronous=NORMAL")
        defer { try? db.exec("PRAGMA synchronous=FULL") }
        return try body()
    }

    /// Pending messages of one channel whose next attempt is due by `now`, oldest due first,
    /// leaving out those already being tried (`busy`).
    /// (One server at a time works on a SQLite database: nothing needs claiming.)
    public func dueDeliveries(channel: String, now: Double, limit: Int, busy: Set<String>, claimFor: Double = 0) throws -> [PendingDelivery] {
        try flushHeldOutbox()
        let s = try statement("""
            SELECT id, at, profile, journey, channel, address, content, attempts FROM outbox
            WHERE delivery = 'pending' AND channel = ? AND next_attempt <= ? ORDER BY next_attempt, seq LIMIT ?
            """)
        s.bind(1, channel); s.bind(2, now); s.bind(3, limit + busy.count)
        var out: [PendingDelivery] = []
        while try s.step(), out.count < limit {
            let id = s.text(0)
            if busy.contains(id) { continue }
            out.append(PendingDelivery(id: id, at: s.int64(1), profile: s.text(2), journey: s.text(3), channel: s.text(4),
                                       address: s.optionalText(5), content: s.optionalText(6), attempts: s.int(7)))
        }
        s.reset()
        return out
    }

    /// When the earliest pending message of these channels is due (nil: none is pending).
    public func nextDeliveryDue(channels: [String]) throws -> Double? {
        try flushHeldOutbox()
        let s = try statement("SELECT MIN(next_attempt) FROM outbox WHERE delivery = 'pending' AND channel = ?")
        var earliest: Double?
        for c in channels {
            s.bind(1, c)
            if try s.step(), !s.isNull(0) {
                let d = s.double(0)
                earliest = min(earliest ?? d, d)
            }
            s.reset()
        }
        return earliest
    }

    /// Records an attempt and its consequence for the message, unless the message is no longer
    /// pending (erased, or already settled): then nothing is written and false comes back.
    @discardableResult
    public func recordAttempt(message: String, _ attempt: DeliveryAttempt, outcome: DeliveryOutcome) throws -> Bool {
        try flushHeldOutbox()
        let find = try statement("SELECT attempts FROM outbox WHERE id = ? AND delivery = 'pending'")
        find.bind(1, message)
        guard try find.step() else { find.reset(); return false }
        find.reset()
        let last = try statement("SELECT COALESCE(MAX(n), 0) FROM delivery_attempts WHERE message = ?")
        last.bind(1, message)
        let n = try last.step() ? last.int(0) + 1 : 1
        last.reset()
        let add = try statement("INSERT INTO delivery_attempts(message, n, at, code, error, outcome) VALUES (?, ?, ?, ?, ?, ?)")
        add.bind(1, message); add.bind(2, n); add.bind(3, attempt.at)
        add.bind(4, attempt.code.map(Int64.init)); add.bind(5, attempt.error); add.bind(6, attempt.outcome)
        try add.run()
        let update = try statement("UPDATE outbox SET delivery = ?, next_attempt = ?, attempts = attempts + 1 WHERE id = ?")
        switch outcome {
        case .delivered: update.bind(1, "delivered"); update.bindNull(2)
        case .failed: update.bind(1, "failed"); update.bindNull(2)
        case .retry(let at): update.bind(1, "pending"); update.bind(2, at)
        }
        update.bind(3, message)
        try update.run()
        return true
    }

    /// Records finished attempts in one transaction that does not wait for the disk: a power
    /// cut may forget it, and then those messages go again (at least once, with the same id).
    public func recordAttempts(_ batch: [(message: String, attempt: DeliveryAttempt, outcome: DeliveryOutcome)]) throws {
        try flushHeldOutbox()
        try withoutWaitingForTheDisk {
            try transaction {
                for (id, attempt, outcome) in batch { try recordAttempt(message: id, attempt, outcome: outcome) }
            }
        }
    }

    /// Puts failed messages back in the queue, due now, with a fresh round of attempts.
    /// Returns, for each id, nil when it was put back or why not.
    public func redeliver(ids: [String], now: Double) throws -> [String?] {
        try flushHeldOutbox()
        let find = try statement("SELECT delivery FROM outbox WHERE id = ?")
        let put = try statement("UPDATE outbox SET delivery = 'pending', next_attempt = ?, attempts = 0 WHERE id = ?")
        var out: [String?] = []
        for id in ids {
            find.bind(1, id)
            let found = try find.step()
            let state = found ? find.optionalText(0) : nil
            find.reset()
            guard found else { out.append("no message has this id"); continue }
            switch state {
            case "failed":
                put.bind(1, now); put.bind(2, id)
                try put.run()
                out.append(nil)
            case "pending": out.append("it is still pending")
            case "delivered": out.append("it was delivered")
            default: out.append("it is not a message for a provider (it was not sent, or its channel is in_app)")
            }
        }
        return out
    }

    /// Messages for providers with their attempts, oldest first; only those of one delivery
    /// status when given.
    public func deliveries(status: String?, afterSeq: Int64 = 0, limit: Int = Int(Int32.max)) throws -> [DeliveryRecord] {
        try flushHeldOutbox()
        let s = try statement("""
            SELECT seq, id, at, profile, journey, channel, status, content, reason, address, delivery, next_attempt FROM outbox
            WHERE delivery IS NOT NULL AND (?1 IS NULL OR delivery = ?1) AND seq > ?2 ORDER BY seq LIMIT ?3
            """)
        s.bind(1, status); s.bind(2, afterSeq); s.bind(3, limit)
        var out: [DeliveryRecord] = []
        while try s.step() {
            out.append(DeliveryRecord(message: Self.outboxRow(s), address: s.optionalText(9), delivery: s.optionalText(10),
                                      nextAttempt: s.isNull(11) ? nil : s.double(11), attempts: []))
        }
        s.reset()
        for i in out.indices { out[i].attempts = try attempts(message: out[i].message.id) }
        return out
    }

    public func attempts(message: String) throws -> [DeliveryAttempt] {
        let s = try statement("SELECT n, at, code, error, outcome FROM delivery_attempts WHERE message = ? ORDER BY n")
        s.bind(1, message)
        var out: [DeliveryAttempt] = []
        while try s.step() {
            out.append(DeliveryAttempt(n: s.int(0), at: s.double(1), code: s.isNull(2) ? nil : s.int(2), error: s.optionalText(3), outcome: s.text(4)))
        }
        s.reset()
        return out
    }

    /// Pending messages per channel (the outbox backlog).
    public func pendingCounts() throws -> [(channel: String, count: Int)] {
        try flushHeldOutbox()
        let s = try statement("SELECT channel, COUNT(*) FROM outbox WHERE delivery = 'pending' GROUP BY channel ORDER BY channel")
        var out: [(String, Int)] = []
        while try s.step() { out.append((s.text(0), s.int(1))) }
        s.reset()
        return out
    }

    // MARK: - Receipts

    /// Records a receipt; false when no message has this id.
    public func addReceipt(message: String, status: String, at: Int64, receivedAt: Int64) throws -> Bool {
        try flushHeldOutbox()
        let find = try statement("SELECT 1 FROM outbox WHERE id = ? AND status = 'sent'")
        find.bind(1, message)
        let known = try find.step()
        find.reset()
        guard known else { return false }
        let s = try statement("INSERT INTO receipts(message, status, at, received_at) VALUES (?, ?, ?, ?)")
        s.bind(1, message); s.bind(2, status); s.bind(3, at); s.bind(4, receivedAt)
        try s.run()
        return true
    }

    public func receipts(message: String) throws -> [Receipt] {
        let s = try statement("SELECT status, at FROM receipts WHERE message = ? ORDER BY at, id")
        s.bind(1, message)
        var out: [Receipt] = []
        while try s.step() { out.append(Receipt(status: s.text(0), at: s.int64(1))) }
        s.reset()
        return out
    }

    /// A profile's sent messages, newest first, with their delivery columns.
    public func messages(profile: String, channel: String? = nil, limit: Int) throws -> [DeliveryRecord] {
        try flushHeldOutbox()
        let s = try statement("""
            SELECT seq, id, at, profile, journey, channel, status, content, reason, address, delivery, next_attempt FROM outbox
            WHERE profile = ?1 AND (?2 IS NULL OR channel = ?2) ORDER BY seq DESC LIMIT ?3
            """)
        s.bind(1, profile); s.bind(2, channel); s.bind(3, limit)
        var out: [DeliveryRecord] = []
        while try s.step() {
            out.append(DeliveryRecord(message: Self.outboxRow(s), address: s.optionalText(9), delivery: s.optionalText(10),
                                      nextAttempt: s.isNull(11) ? nil : s.double(11), attempts: []))
        }
        s.reset()
        return out
    }

    static func outboxRow(_ s: Statement) -> OutboxRow {
        OutboxRow(seq: s.int64(0), id: s.text(1), at: s.int64(2), profile: s.text(3), journey: s.text(4),
                  channel: s.optionalText(5), status: s.text(6), content: s.optionalText(7), reason: s.optionalText(8))
    }
}
