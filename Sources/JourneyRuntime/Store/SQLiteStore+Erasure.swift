import JourneyBytecode

/// A stored event of a profile, as the 360° view shows it.
public struct StoredEvent: Sendable {
    public var event: String
    public var at: Int64
    /// Field names and values, in the current schema's terms (empty when the event is no
    /// longer declared).
    public var fields: [(String, Value)]

    public init(event: String, at: Int64, fields: [(String, Value)]) { self.event = event; self.at = at; self.fields = fields }
}

extension SQLiteStore: ServiceStore {
    /// A profile's most recent events, newest first, decoded with the current schema.
    public func recentEvents(profile: String, limit: Int, schema: RuntimeSchema) throws -> [StoredEvent] {
        try flushDeferredHistory()
        let s = try statement("SELECT event, at, data FROM events WHERE profile = ? ORDER BY at DESC, seq DESC LIMIT ?")
        s.bind(1, profile); s.bind(2, limit)
        var out: [StoredEvent] = []
        while try s.step() {
            let name = s.text(0)
            var fields: [(String, Value)] = []
            if let def = schema.events.first(where: { $0.name == name }) {
                let values = ValueEncoding.fields(fromBlob: s.blob(2), def)
                fields = zip(def.fields, values).map { ($0.0.name, $0.1) }
            }
            out.append(StoredEvent(event: name, at: s.int64(1), fields: fields))
        }
        s.reset()
        return out
    }

    /// Erases a profile (right to be forgotten), in the caller's transaction: its attributes,
    /// history, queued events, event ids, instances with their timers and waits, every message
    /// not delivered (with its attempts and receipts), the rejected lines that name it; of
    /// delivered messages only the id, time, journey, channel and status stay. Returns whether
    /// the profile existed.
    public func erase(profile id: String) throws -> Bool {
        try flushDeferredHistory()
        try flushHeld()
        dropCaches()
        // What is deleted is overwritten with zeros, not left in free space of the file (a
        // checkpoint afterwards clears the write-ahead log of the old pages).
        // (On already for every store opened read-write; set again, and put back as it was, for
        // any other connection.)
        let was = try db.prepare("PRAGMA secure_delete")
        let before = try was.step() ? was.int(0) : 1
        try db.exec("PRAGMA secure_delete=ON")
        defer { try? db.exec("PRAGMA secure_delete=\(before)") }
        let existed = try profileExists(id)
        try db.exec("CREATE TEMP TABLE IF NOT EXISTS erased_instances(id INTEGER PRIMARY KEY)")
        try db.exec("DELETE FROM temp.erased_instances")
        func run(_ sql: String, _ binds: [String]) throws {
            let s = try db.prepare(sql)
            for (k, b) in binds.enumerated() { s.bind(Int32(k + 1), b) }
            try s.run()
        }
        try run("INSERT INTO temp.erased_instances(id) SELECT id FROM instances WHERE profile = ?", [id])
        // New instances are numbered above the erased ones: their messages' ids (kept for the
        // delivered ones, and known to receivers) are never given to another profile's.
        try raiseFloor("instance_floor", toMaxOf: "SELECT MAX(id) FROM temp.erased_instances", [])
        lastInstanceID = nil
        try db.exec("DELETE FROM timers WHERE instance IN (SELECT id FROM temp.erased_instances)")
        try db.exec("DELETE FROM waits WHERE instance IN (SELECT id FROM temp.erased_instances)")
        try db.exec("DELETE FROM instance_branches WHERE instance IN (SELECT id FROM temp.erased_instances)")
        try run("DELETE FROM instances WHERE profile = ?", [id])
        try eraseKeys(profile: id)
        try run("DELETE FROM events WHERE profile = ?", [id])
        try run("DELETE FROM inbox WHERE profile = ?", [id])
        try erasePages(profile: id)
        try run("DELETE FROM inbox_late WHERE profile = ?", [id])
        try run("DELETE FROM event_ids WHERE profile = ?", [id])
        let undelivered = "SELECT id FROM outbox WHERE profile = ? AND (delivery IS NULL OR delivery != 'delivered')"
        // Message numbers go on above the deleted messages' (see `nextOutboxSeq`).
        try raiseFloor("outbox_floor", toMaxOf: "SELECT MAX(seq) FROM outbox WHERE profile = ? AND (delivery IS NULL OR delivery != 'delivered')", [id])
        outboxSeqGiven = nil
        try run("DELETE FROM receipts WHERE message IN (\(undelivered))", [id])
        try run("DELETE FROM delivery_attempts WHERE message IN (\(undelivered))", [id])
        try run("DELETE FROM outbox WHERE profile = ? AND (delivery IS NULL OR delivery != 'delivered')", [id])
        try run("UPDATE outbox SET profile = '', content = NULL, address = NULL, reason = NULL WHERE profile = ?", [id])
        // Rejected lines keep their raw text: those of this profile go (lines from before
        // rejects knew their profile, and CSV lines, are looked through).
        try run("DELETE FROM rejects WHERE profile = ?", [id])
        try run("DELETE FROM rejects WHERE profile IS NULL AND instr(reason, ?) > 0", ["for profile \(id) stopped"])
        let scan = try db.prepare("SELECT id, raw FROM rejects WHERE profile IS NULL")
        var doomed: [Int64] = []
        while try scan.step() {
            if RejectedLine.names(scan.text(1), profile: id) { doomed.append(scan.int64(0)) }
        }
        let drop = try db.prepare("DELETE FROM rejects WHERE id = ?")
        for r in doomed {
            drop.bind(1, r)
            try drop.run()
        }
        try run("DELETE FROM profiles WHERE id = ?", [id])
        dropCaches()
        return existed
    }

    /// Raises the number `meta` keeps under `key` (numbering goes on above it) to the largest
    /// value `select` finds, if it finds one.
    func raiseFloor(_ key: String, toMaxOf select: String, _ binds: [String]) throws {
        let s = try db.prepare("""
            INSERT INTO meta(key, value) SELECT ?, CAST(m AS TEXT) FROM (SELECT (\(select)) AS m) WHERE m IS NOT NULL
            ON CONFLICT(key) DO UPDATE SET value = CAST(MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER)) AS TEXT)
            """)
        s.bind(1, key)
        for (k, b) in binds.enumerated() { s.bind(Int32(k + 2), b) }
        try s.run()
    }
}
