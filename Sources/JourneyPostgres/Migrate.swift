import JourneyBytecode
import JourneyRuntime

/// `journey migrate --from shop.db --to postgres://…`: copies a whole SQLite database into an
/// empty PostgreSQL one, in one transaction on each side, and compares row counts. The clock,
/// the arrival numbers and the instance numbers move with it, so a run carries on there.
public enum SQLiteToPostgres {
    /// How a SQLite column is written into PostgreSQL's binary COPY.
    enum Kind {
        case int, int32, int16, text, blob, double, bool
        /// TEXT in SQLite, bytea here (it may hold U+0000).
        case textBytes
        /// The partition of the profile id in this column (it is not copied itself).
        case partition
        var nullable: Bool { true }
    }

    struct Table {
        var name: String
        var select: String
        var columns: String
        var kinds: [Kind]
    }

    static let tables: [Table] = [
        // (Not SQLite's own bookkeeping of its inbox's layout.)
        Table(name: "meta", select: "SELECT key, value FROM meta WHERE key NOT IN ('inbox_late', 'inbox_kept')", columns: "key, value", kinds: [.text, .text]),
        Table(name: "bundles", select: "SELECT seq, hash, bytes, deployed_at FROM bundles", columns: "seq, hash, bytes, deployed_at", kinds: [.int, .text, .blob, .int]),
        Table(name: "profile_timezones", select: "SELECT tz FROM profile_timezones", columns: "tz", kinds: [.text]),
        Table(name: "events", select: "SELECT profile, event, at, seq, data FROM events", columns: "profile, event, at, seq, data", kinds: [.text, .text, .int, .int, .blob]),
        // The events not taken yet: the inbox past the history's mark (what it holds up to the
        // mark is taken, waiting to be dropped), its pages' events past it (`copy` unpacks them
        // into `temp.inbox_paged` first), and the late arrivals.
        Table(name: "inbox", select: """
            WITH mark(a, s) AS (SELECT COALESCE(MAX(CAST(substr(value, 1, instr(value, ' ') - 1) AS INTEGER)), -9223372036854775808),
                                       COALESCE(MAX(CAST(substr(value, instr(value, ' ') + 1) AS INTEGER)), -9223372036854775808)
                                FROM meta WHERE key = 'history_through')
            SELECT seq, at, profile, profile, event, data FROM inbox, mark WHERE (at, seq) > (mark.a, mark.s)
            UNION ALL SELECT seq, at, profile, profile, event, data FROM temp.inbox_paged
            UNION ALL SELECT seq, at, profile, profile, event, data FROM inbox_late
            """, columns: "seq, at, p, profile, event, data", kinds: [.int, .int, .partition, .text, .text, .blob]),
        Table(name: "instances", select: "SELECT id, profile, journey, profile, bundle, pc, locals, sends, status, entered_at, ended_at FROM instances",
              columns: "id, p, journey, profile, bundle, pc, locals, sends, status, entered_at, ended_at", kinds: [.int, .partition, .text, .text, .text, .int32, .blob, .int32, .text, .int, .int]),
        Table(name: "timers", select: "SELECT t.id, COALESCE(i.profile, ''), t.due, t.instance FROM timers t LEFT JOIN instances i ON i.id = t.instance",
              columns: "id, p, due, instance", kinds: [.int, .partition, .int, .int]),
        Table(name: "waits", select: "SELECT instance, profile, event FROM waits", columns: "instance, profile, event", kinds: [.int, .text, .text]),
        Table(name: "outbox", select: "SELECT seq, id, at, profile, journey, channel, status, content, reason, address, delivery, next_attempt, attempts, bundle, step FROM outbox",
              columns: "seq, id, at, profile, journey, channel, status, content, reason, address, delivery, next_attempt, attempts, bundle, step",
              kinds: [.int, .text, .int, .text, .text, .text, .text, .text, .text, .text, .text, .double, .int32, .text, .int32]),
        Table(name: "rejects", select: "SELECT id, source, line, reason, raw, at, profile FROM rejects", columns: "id, source, line, reason, raw, at, profile",
              kinds: [.int, .text, .int, .textBytes, .textBytes, .int, .text]),
        Table(name: "event_ids", select: "SELECT profile, id FROM event_ids", columns: "profile, id", kinds: [.text, .text]),
        Table(name: "ingested_files", select: "SELECT hash, source, lines, events, duplicates, complete FROM ingested_files", columns: "hash, source, lines, events, duplicates, complete",
              kinds: [.text, .text, .int, .int, .int, .bool]),
        Table(name: "delivery_attempts", select: "SELECT message, n, at, code, error, outcome FROM delivery_attempts", columns: "message, n, at, code, error, outcome",
              kinds: [.text, .int32, .double, .int32, .text, .text]),
        Table(name: "receipts", select: "SELECT id, message, status, at, received_at FROM receipts", columns: "id, message, status, at, received_at", kinds: [.int, .text, .text, .int, .int]),
        Table(name: "step_counts", select: "SELECT journey, bundle, step, what, entered_hour, n FROM step_counts", columns: "journey, bundle, step, what, entered_hour, n",
              kinds: [.text, .text, .int32, .text, .int, .int]),
        Table(name: "instance_branches", select: "SELECT instance, step, branch FROM instance_branches", columns: "instance, step, branch", kinds: [.int, .int32, .int32]),
        Table(name: "history_keys", select: "SELECT event, field, key, at, profile, seq FROM history_keys", columns: "event, field, key, at, profile, seq", kinds: [.text, .text, .text, .int, .text, .int]),
        Table(name: "cooccur", select: "SELECT event, field, window, a, b, n FROM cooccur", columns: "event, field, win, a, b, n", kinds: [.text, .text, .int, .text, .text, .int]),
        // Every partition starts from the one schedule SQLite keeps.
        Table(name: "audience", select: "WITH RECURSIVE parts(p) AS (SELECT 0 UNION ALL SELECT p + 1 FROM parts WHERE p < \(PostgresSchema.partitions - 1)) SELECT a.journey, a.tz, parts.p, a.next_at FROM audience a, parts",
              columns: "journey, tz, p, next_at", kinds: [.text, .text, .int16, .int]),
    ]

    /// Copies `source` into `target` (which must hold no journey data); returns each table with
    /// its row count (the same on both sides, or it throws).
    public static func copy(from source: SQLiteStore, to target: PostgresStore) throws -> [(table: String, rows: Int)] {
        let db = source.db
        try db.exec("BEGIN")
        defer { try? db.exec("COMMIT") }
        let c = target.connection
        try target.begin()
        do {
            try target.spanPartitionsAlways()
            let used = try c.query("SELECT (SELECT COUNT(*) FROM bundles) + (SELECT COUNT(*) FROM profiles) + (SELECT COUNT(*) FROM events) + (SELECT COUNT(*) FROM outbox)").int64(0, 0)
            guard used == 0 else {
                throw PostgresError(sqlState: "", message: "the target database already holds journeys, profiles or events; migrate into an empty database")
            }
            try unpackPages(source)
            var counts: [(String, Int)] = []
            counts.append(("profiles", try copyProfiles(db, c)))
            for t in tables { counts.append((t.name, try copyTable(t, db, c))) }
            // Numbers go on from where SQLite's stopped.
            let inboxSeq = Int64(try source.meta("inbox_seq") ?? "0") ?? 0
            try c.query("SELECT setval('inbox_seq', GREATEST($1::bigint, (SELECT COALESCE(MAX(seq), 0) FROM events), (SELECT COALESCE(MAX(seq), 0) FROM inbox), 1))", [.int(inboxSeq)])
            try c.query("SELECT setval('timer_id', GREATEST((SELECT COALESCE(MAX(id), 0) FROM timers), 1))")
            // (Message numbers above those SQLite's erasures took, too.)
            let outboxFloor = Int64(try source.meta("outbox_floor") ?? "0") ?? 0
            for (table, column, floor) in [("outbox", "seq", outboxFloor), ("rejects", "id", 0), ("receipts", "id", 0)] {
                try c.queryOnce("SELECT setval(pg_get_serial_sequence('\(table)', '\(column)'), GREATEST($1::bigint, (SELECT COALESCE(MAX(\(column)), 0) FROM \(table)), 1))", [.int(floor)])
            }
            // New instances are numbered above every copied one, partition by partition.
            // (And above every instance SQLite's erasures took.)
            let top = try c.query("SELECT COALESCE(MAX(id), 0) FROM instances").int64(0, 0)
            let erased = Int64(try source.meta("instance_floor") ?? "0") ?? 0
            try target.setMeta("instance_floor", String(max(top, erased)))
            // Every partition's clock starts where the SQLite runner's was.
            if let clock = try db.prepare("SELECT value FROM meta WHERE key = 'clock'").firstText().flatMap({ Int64($0) }) {
                try c.query("UPDATE partitions SET clock = $1", [.int(clock)])
            }
            try target.commit()
            return counts
        } catch {
            target.rollback()
            throw error
        }
    }

    /// The source's paged inbox events not taken yet, as rows of a temporary table (a file of
    /// its own, gone with the connection; the source database is not written), page by page.
    static func unpackPages(_ source: SQLiteStore) throws {
        let db = source.db
        // On disk: a backlog of millions of events need not fit in memory.
        try db.exec("PRAGMA temp_store=FILE")
        try db.exec("CREATE TEMP TABLE IF NOT EXISTS inbox_paged(seq INTEGER, at INTEGER, profile TEXT, event TEXT, data BLOB)")
        try db.exec("DELETE FROM temp.inbox_paged")
        let put = try db.prepare("INSERT INTO temp.inbox_paged(seq, at, profile, event, data) VALUES (?, ?, ?, ?, ?)")
        try source.forEachPagedEventNotTaken { e in
            put.bind(1, e.seq); put.bind(2, e.at); put.bind(3, e.profile); put.bind(4, e.event); put.bind(5, e.data)
            try put.run()
        }
    }

    static func copyProfiles(_ db: Database, _ c: PGConnection) throws -> Int {
        var columns: [(name: String, type: String)] = []
        let info = try db.prepare("SELECT name, type FROM profile_columns ORDER BY rowid")
        while try info.step() { columns.append((info.text(0), info.text(1))) }
        for col in columns {
            try c.exec("ALTER TABLE profiles ADD COLUMN IF NOT EXISTS \(PostgresSchema.identifier(col.name)) \(PostgresSchema.columnType(col.type))")
            try c.query("INSERT INTO profile_columns(name, type) VALUES ($1, $2)", [.text(col.name), .text(col.type)])
        }
        try c.forgetPrepared()
        let names = columns.map { StoreSchemaName.quoted($0.name) }
        let kinds: [Kind] = [.text, .partition] + columns.map { $0.type == "string" || $0.type == "url" ? .textBytes : $0.type.hasPrefix("list[") ? .text : .int }
        let t = Table(name: "profiles", select: "SELECT id, id\(names.map { ", " + $0 }.joined()) FROM profiles",
                      columns: "id, p\(columns.map { ", " + PostgresSchema.identifier($0.name) }.joined())", kinds: kinds)
        return try copyTable(t, db, c)
    }

    static func copyTable(_ t: Table, _ db: Database, _ c: PGConnection) throws -> Int {
        let s = try db.prepare(t.select)
        var n = 0
        try c.copyIn("COPY \(t.name)(\(t.columns)) FROM STDIN (FORMAT binary)") { w in
            while try s.step() {
                n += 1
                try w.row(t.kinds.count)
                for (i, kind) in t.kinds.enumerated() {
                    let col = Int32(i)
                    if s.isNull(col) { w.null(); continue }
                    switch kind {
                    case .int: w.int64(s.int64(col))
                    case .int32: w.int32(Int32(truncatingIfNeeded: s.int64(col)))
                    case .int16: w.int16(Int16(truncatingIfNeeded: s.int64(col)))
                    case .text: w.text(s.text(col))
                    case .textBytes: w.blob(Array(s.text(col).utf8))
                    case .blob: w.blob(s.blob(col))
                    case .double: w.double(s.double(col))
                    case .bool: w.bool(s.int64(col) != 0)
                    case .partition: w.int16(Int16(PostgresSchema.partition(s.text(col))))
                    }
                }
            }
        }
        let copied = try c.queryOnce("SELECT COUNT(*) FROM \(t.name)").int(0, 0)
        guard copied == n else {
            throw PostgresError(sqlState: "", message: "\(t.name): \(n) rows read from SQLite but \(copied) in PostgreSQL")
        }
        return n
    }
}

/// A column name quoted for SQLite.
enum StoreSchemaName {
    static func quoted(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
}

extension Statement {
    /// The first column of the first row, as text.
    func firstText() throws -> String? {
        try step() ? text(0) : nil
    }
}
