import JourneyBytecode

// The history index for `for each profile` journeys: for the (event, field) pairs the deployed
// journeys' anchors name, a row per stored event and value, so that a catalog event finds the
// profiles with, say, a product_viewed of its product without reading anyone else's history.

extension SQLiteStore {
    /// The indexed fields, by event name (meta `history_keys`: "event.field" lines).
    public func historyKeyFields() throws -> [String: [String]] {
        HistoryKeyFields.parse(try meta("history_keys"))
    }

    /// Makes the index hold exactly these pairs, in the caller's transaction: a new pair is
    /// filled from the stored history, a pair no longer wanted is dropped.
    public func setHistoryKeyFields(_ wanted: [String: [String]], schema: RuntimeSchema) throws {
        try flushDeferredHistory()
        let (gone, added) = HistoryKeyFields.changes(from: try historyKeyFields(), to: wanted)
        guard !gone.isEmpty || !added.isEmpty else { return }
        for (event, field) in gone {
            let s = try statement("DELETE FROM history_keys WHERE event = ? AND field = ?")
            s.bind(1, event); s.bind(2, field)
            try s.run()
        }
        for (event, field) in added {
            guard let def = schema.events.first(where: { $0.name == event }), let f = def.fieldIndex(field) else { continue }
            let read = try db.prepare("SELECT profile, at, seq, data FROM events WHERE event = ?")
            read.bind(1, def.name)
            let put = try statement("INSERT OR IGNORE INTO history_keys(event, field, key, at, profile, seq) VALUES (?, ?, ?, ?, ?, ?)")
            while try read.step() {
                for key in ValueEncoding.indexKeys(ValueEncoding.fields(fromBlob: read.blob(3), def), at: f) {
                    put.bind(1, def.name); put.bind(2, field); put.bind(3, key)
                    put.bind(4, read.int64(1)); put.bind(5, read.text(0)); put.bind(6, read.int64(2))
                    try put.run()
                }
            }
        }
        try setMeta("history_keys", HistoryKeyFields.text(wanted))
    }

    /// Index rows for ingested events (`IncomingRow.keys`), numbered as `enqueue` numbered them.
    func insertKeys(_ events: [IncomingRow], firstSeq: Int64) throws {
        guard events.contains(where: { !$0.keys.isEmpty }) else { return }
        let put = try statement("INSERT OR IGNORE INTO history_keys(event, field, key, at, profile, seq) VALUES (?, ?, ?, ?, ?, ?)")
        for (k, e) in events.enumerated() {
            for (field, key) in e.keys {
                put.bind(1, e.event); put.bind(2, field); put.bind(3, key)
                put.bind(4, e.at); put.bind(5, e.profile); put.bind(6, firstSeq + Int64(k))
                try put.run()
            }
        }
    }

    /// The profiles with an `event` whose `field` held `key`, at or after `since` and at or
    /// before `until`, that history queries see now (the run has taken the event): exactly the
    /// profiles `exists(event where field == value within …)` holds for.
    public func profilesWithKey(event: String, field: String, key: String, since: Int64?, until: Int64) throws -> Set<String> {
        let s = try statement("SELECT profile, at, seq FROM history_keys WHERE event = ? AND field = ? AND key = ? AND at >= ? AND at <= ?")
        defer { s.reset() }
        s.bind(1, event); s.bind(2, field); s.bind(3, key); s.bind(4, since ?? Int64.min); s.bind(5, until)
        var out = Set<String>()
        while try s.step() {
            if visible(s.int64(1), s.int64(2)) { out.insert(s.text(0)) }
        }
        return out
    }

    public func countWithKey(event: String, field: String, keys: [String], since: Int64?, until: Int64, distinct: Bool) throws -> Int {
        if distinct {
            var profiles = Set<String>()
            for key in keys { profiles.formUnion(try profilesWithKey(event: event, field: field, key: key, since: since, until: until)) }
            return profiles.count
        }
        let s = try statement("SELECT at, seq FROM history_keys WHERE event = ? AND field = ? AND key = ? AND at >= ? AND at <= ?")
        defer { s.reset() }
        var n = 0
        for key in keys {
            s.bind(1, event); s.bind(2, field); s.bind(3, key); s.bind(4, since ?? Int64.min); s.bind(5, until)
            while try s.step() {
                if visible(s.int64(0), s.int64(1)) { n += 1 }
            }
            s.reset()
        }
        return n
    }

    /// Drops a profile's index rows (erasure): its events are read for the keys they hold.
    func eraseKeys(profile: String) throws {
        let keyed = try historyKeyFields()
        guard !keyed.isEmpty else { return }
        let del = try statement("DELETE FROM history_keys WHERE event = ? AND field = ? AND key = ? AND at = ? AND profile = ? AND seq = ?")
        for (event, fields) in keyed.sorted(by: { $0.key < $1.key }) {
            guard let def = schema.events.first(where: { $0.name == event }) else { continue }
            let read = try db.prepare("SELECT at, seq, data FROM events WHERE profile = ? AND event = ?")
            read.bind(1, profile); read.bind(2, event)
            while try read.step() {
                let values = ValueEncoding.fields(fromBlob: read.blob(2), def)
                for field in fields {
                    for key in ValueEncoding.indexKeys(values, at: def.fieldIndex(field)) {
                        del.bind(1, event); del.bind(2, field); del.bind(3, key); del.bind(4, read.int64(0)); del.bind(5, profile); del.bind(6, read.int64(1))
                        try del.run()
                    }
                }
            }
        }
    }
}

/// The (event, field) pairs the history index holds, as kept in meta `history_keys`
/// ("event.field" lines, sorted).
public enum HistoryKeyFields {
    public static func parse(_ text: String?) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for line in (text ?? "").split(separator: "\n") {
            guard let dot = line.firstIndex(of: ".") else { continue }
            out[String(line[..<dot]), default: []].append(String(line[line.index(after: dot)...]))
        }
        return out
    }

    static func lines(_ d: [String: [String]]) -> Set<String> { Set(d.flatMap { e, fs in fs.map { "\(e).\($0)" } }) }

    public static func text(_ d: [String: [String]]) -> String { lines(d).sorted().joined(separator: "\n") }

    /// The pairs to drop and the pairs to fill, each sorted.
    public static func changes(from have: [String: [String]], to wanted: [String: [String]]) -> (gone: [(String, String)], added: [(String, String)]) {
        let (old, new) = (lines(have), lines(wanted))
        let split = { (s: String) -> (String, String) in
            let parts = s.split(separator: ".", maxSplits: 1).map(String.init)
            return (parts[0], parts.count > 1 ? parts[1] : "")
        }
        return (old.subtracting(new).sorted().map(split), new.subtracting(old).sorted().map(split))
    }
}

extension ValueEncoding {
    /// The index keys of one field of an event's values (none for no field, or one it lacks).
    public static func indexKeys(_ values: [Value], at field: Int?) -> [String] {
        guard let f = field, f < values.count else { return [] }
        return indexKeys(values[f])
    }

    /// How a value is filed in the history index: numbers by their value whatever their type
    /// (12 and 12.00 meet), text as itself, a list as each of its items; none is not filed.
    public static func indexKeys(_ v: Value) -> [String] {
        switch v {
        case .none, .record: return []
        case .list(let items): return Array(Set(items.flatMap(indexKeys))).sorted()
        case .string(let s): return ["s" + s]
        case .int(let i): return ["n" + String(i.multipliedReportingOverflow(by: Value.scale).partialValue)]
        case .decimal(let d), .money(let d): return ["n" + String(d)]
        case .bool(let b): return [b ? "b1" : "b0"]
        case .date(let d): return ["d" + String(d)]
        case .time(let t): return ["t" + String(t)]
        case .duration(let d): return ["u" + String(d)]
        case .timeOfDay(let m): return ["o" + String(m)]
        }
    }
}
