import JourneyBytecode
import JourneyRuntime

// The inbox and the history: what ingest writes, what the run takes, what queries see.

extension PostgresStore {
    public func markTaken(at: Int64, seq: Int64) {
        taken.append(seq)
        if let profile = inboxProfiles.removeValue(forKey: seq) { takenByProfile[profile, default: []].append(seq) }
    }

    /// "Taken": the event has left the inbox.
    static let visible = "NOT EXISTS (SELECT 1 FROM inbox i WHERE i.seq = e.seq)"
    /// Taken, for one profile's events: left the inbox, or taken in this transaction ($4).
    static let visibleToProfile = "(NOT EXISTS (SELECT 1 FROM inbox i WHERE i.seq = e.seq) OR e.seq = ANY($4))"

    /// What this transaction took of a profile's events (one bound array, not a round trip).
    func takenOf(_ profile: String) -> PGParam { .ints(takenByProfile[profile] ?? []) }

    public func records(profile: String, event def: EventDef, index: Int, since: Int64?) throws -> ArraySlice<Record> {
        let r = try q("SELECT e.at, e.data FROM events e WHERE e.profile = $1 AND e.event = $2 AND e.at >= $3 AND \(Self.visibleToProfile) ORDER BY e.at, e.seq",
                      [.text(profile), .text(def.name), .int(since ?? Int64.min), takenOf(profile)])
        return ArraySlice((0..<r.count).map { Record(event: index, at: r.int64($0, 0), fields: ValueEncoding.fields(fromBlob: r.bytes($0, 1), def)) })
    }

    public func historyCount(profile: String, event: String, since: Int64?) throws -> Int {
        try q("SELECT COUNT(*) FROM events e WHERE e.profile = $1 AND e.event = $2 AND e.at >= $3 AND \(Self.visibleToProfile)",
              [.text(profile), .text(event), .int(since ?? Int64.min), takenOf(profile)]).int(0, 0)
    }

    public func enqueue(_ events: [IncomingRow]) throws {
        guard !events.isEmpty else { return }
        // A worker that ingests (journey serve) holds the writers' lock alone meanwhile: no
        // partition's run takes a later arrival number before this one is committed.
        try spanPartitions()
        // Arrival numbers, ascending in the order given (which orders events of one instant).
        let r = try q("SELECT nextval('inbox_seq') FROM generate_series(1, $1)", [.int(Int64(events.count))])
        let seqs = (0..<r.count).map { r.int64($0, 0) }.sorted()
        try connection.copyIn("COPY inbox(seq, at, p, profile, event, data) FROM STDIN (FORMAT binary)") { w in
            for (k, e) in events.enumerated() {
                try w.row(6); w.int64(seqs[k]); w.int64(e.at); w.int16(Int16(PostgresSchema.partition(e.profile))); w.text(e.profile); w.text(e.event); w.blob(e.data)
            }
        }
        try connection.copyIn("COPY events(profile, event, at, seq, data) FROM STDIN (FORMAT binary)") { w in
            for (k, e) in events.enumerated() {
                try w.row(5); w.text(e.profile); w.text(e.event); w.int64(e.at); w.int64(seqs[k]); w.blob(e.data)
            }
        }
        if events.contains(where: { !$0.keys.isEmpty }) {
            try connection.copyIn("COPY history_keys(event, field, key, at, profile, seq) FROM STDIN (FORMAT binary)") { w in
                for (k, e) in events.enumerated() {
                    for (field, key) in e.keys { try w.row(6); w.text(e.event); w.text(field); w.text(key); w.int64(e.at); w.text(e.profile); w.int64(seqs[k]) }
                }
            }
        }
        try countPairs(events, seqs: seqs)
    }

    /// The earliest event waiting in any partition, not only this worker's: where a run starts
    /// the audience schedule from, which is every partition's (the same whichever worker
    /// starts it, and whatever partitions it holds yet).
    public func nextInbox(until: Int64?) throws -> InboxItem? {
        try flushTaken()
        return inboxItems(try q("SELECT seq, profile, event, at, data FROM inbox WHERE at <= $1 ORDER BY at, seq LIMIT 1", [.int(until ?? Int64.max)])).first
    }

    public func inbox(until: Int64?, limit: Int) throws -> [InboxItem] {
        try flushTaken()
        let mine = ownedFilter("p", 3)
        return inboxItems(try q("SELECT seq, profile, event, at, data FROM inbox WHERE at <= $1\(mine.sql) ORDER BY at, seq LIMIT $2",
                                [.int(until ?? Int64.max), .int(Int64(limit))] + mine.params))
    }

    func inboxItems(_ r: PGResult) -> [InboxItem] {
        (0..<r.count).map {
            let item = InboxItem(seq: r.int64($0, 0), profile: r.text($0, 1), event: r.text($0, 2), at: r.int64($0, 3), data: r.bytes($0, 4))
            inboxProfiles[item.seq] = item.profile
            return item
        }
    }

    // MARK: - The history index

    public func historyKeyFields() throws -> [String: [String]] {
        HistoryKeyFields.parse(try meta("history_keys"))
    }

    public func setHistoryKeyFields(_ wanted: [String: [String]], schema: RuntimeSchema) throws {
        let (gone, added) = HistoryKeyFields.changes(from: try historyKeyFields(), to: wanted)
        guard !gone.isEmpty || !added.isEmpty else { return }
        for (event, field) in gone {
            try q("DELETE FROM history_keys WHERE event = $1 AND field = $2", [.text(event), .text(field)])
        }
        for (event, field) in added {
            guard let def = schema.events.first(where: { $0.name == event }), let f = def.fieldIndex(field) else { continue }
            let r = try connection.queryOnce("SELECT profile, at, seq, data FROM events WHERE event = $1", [.text(event)])
            try connection.copyIn("COPY history_keys(event, field, key, at, profile, seq) FROM STDIN (FORMAT binary)") { w in
                for i in 0..<r.count {
                    for key in ValueEncoding.indexKeys(ValueEncoding.fields(fromBlob: r.bytes(i, 3), def), at: f) {
                        try w.row(6); w.text(event); w.text(field); w.text(key); w.int64(r.int64(i, 1)); w.text(r.text(i, 0)); w.int64(r.int64(i, 2))
                    }
                }
            }
        }
        try setMeta("history_keys", HistoryKeyFields.text(wanted))
    }

    public func profilesWithKey(event: String, field: String, key: String, since: Int64?, until: Int64) throws -> Set<String> {
        try spanPartitions()
        try flushTaken()
        let r = try q("SELECT DISTINCT e.profile FROM history_keys e WHERE e.event = $1 AND e.field = $2 AND e.key = $3 AND e.at >= $4 AND e.at <= $5 AND \(Self.visible)",
                      [.text(event), .text(field), .text(key), .int(since ?? Int64.min), .int(until)])
        return Set((0..<r.count).map { r.text($0, 0) })
    }

    public func countWithKey(event: String, field: String, keys: [String], since: Int64?, until: Int64, distinct: Bool) throws -> Int {
        try flushTaken()
        let what = distinct ? "COUNT(DISTINCT e.profile)" : "COUNT(*)"
        return try q("SELECT \(what) FROM history_keys e WHERE e.event = $1 AND e.field = $2 AND e.key = ANY($3) AND e.at >= $4 AND e.at <= $5 AND \(Self.visible)",
                     [.text(event), .text(field), .texts(keys), .int(since ?? Int64.min), .int(until)]).int(0, 0)
    }

    // MARK: - Pairs for `also`

    public func pairingRules() throws -> [PairingRule] {
        PairingRule.parse(try meta("cooccur"))
    }

    public func setPairingRules(_ wanted: [PairingRule], schema: RuntimeSchema) throws {
        let have = Set(try pairingRules()), want = Set(wanted)
        guard have != want else { return }
        for r in have.subtracting(want) {
            try q("DELETE FROM cooccur WHERE event = $1 AND field = $2 AND win = $3", [.text(r.event), .text(r.field), .int(r.window)])
        }
        for rule in want.subtracting(have).sorted(by: { $0.line < $1.line }) {
            guard let def = schema.events.first(where: { $0.name == rule.event }), let f = def.fieldIndex(rule.field) else { continue }
            let r = try connection.queryOnce("SELECT profile, at, data FROM events WHERE event = $1 ORDER BY profile, at, seq", [.text(rule.event)])
            var counter = PairCounter(window: rule.window)
            for i in 0..<r.count {
                counter.add(profile: r.text(i, 0), at: r.int64(i, 1), key: ValueEncoding.indexKeys(ValueEncoding.fields(fromBlob: r.bytes(i, 2), def), at: f).first)
            }
            try addPairs(rule, counter.counts)
        }
        try setMeta("cooccur", PairingRule.text(wanted))
    }

    func addPairs(_ r: PairingRule, _ counts: [String: [String: Int]]) throws {
        for (a, bs) in counts.sorted(by: { $0.key < $1.key }) {
            for (b, n) in bs.sorted(by: { $0.key < $1.key }) {
                try q("INSERT INTO cooccur(event, field, win, a, b, n) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event, field, win, a, b) DO UPDATE SET n = cooccur.n + excluded.n",
                      [.text(r.event), .text(r.field), .int(r.window), .text(a), .text(b), .int(Int64(n))])
            }
        }
    }

    func countPairs(_ events: [IncomingRow], seqs: [Int64]) throws {
        guard events.contains(where: { !$0.pairs.isEmpty }) else { return }
        try PairingRule.countPairs(events, schema: schema, seq: { seqs[$0] }, earlier: { e, from, seq in
            let r = try q("SELECT data FROM events WHERE profile = $1 AND event = $2 AND at >= $3 AND (at < $4 OR (at = $4 AND seq < $5))",
                          [.text(e.profile), .text(e.event), .int(from), .int(e.at), .int(seq)])
            return (0..<r.count).map { r.bytes($0, 0) }
        }, add: addPairs)
    }

    public func companions(event: String, field: String, window: Int64, key: String, limit: Int) throws -> [String] {
        let r = try q("SELECT b FROM cooccur WHERE event = $1 AND field = $2 AND win = $3 AND a = $4 ORDER BY n DESC, b LIMIT $5",
                      [.text(event), .text(field), .int(window), .text(key), .int(Int64(limit))])
        return (0..<r.count).map { r.text($0, 0) }
    }
}
