import JourneyBytecode

// Co-occurrence counts for `also(EVENT.FIELD, of: …, within D)`: for each pair of values one
// profile had in EVENT.FIELD within D of each other, how often, kept as events are ingested.
// The counts hold no personal data (no profile), so erasure leaves them.

/// One kind of pair the deployed journeys ask about.
public struct PairingRule: Sendable, Hashable {
    public var event: String
    public var field: String
    public var window: Int64
    public init(event: String, field: String, window: Int64) {
        self.event = event
        self.field = field
        self.window = window
    }
    public var line: String { "\(event)\t\(field)\t\(window)" }

    /// The rules as kept in meta `cooccur` (a line each).
    public static func parse(_ text: String?) -> [PairingRule] {
        (text ?? "").split(separator: "\n").compactMap { line in
            let p = line.split(separator: "\t").map(String.init)
            guard p.count == 3, let w = Int64(p[2]) else { return nil }
            return PairingRule(event: p[0], field: p[1], window: w)
        }
    }

    public static func text(_ rules: [PairingRule]) -> String { rules.map(\.line).sorted().joined(separator: "\n") }

    /// Counts the pairs ingested events make with the same profile's earlier events (by time,
    /// then by arrival) within each rule's window, for any store: `seq` numbers the k-th event
    /// as the store did, `earlier` reads the data of the profile's events of that kind from an
    /// instant on and before the event, and `add` adds counts to a rule's.
    public static func countPairs(_ events: [IncomingRow], schema: RuntimeSchema, seq: (Int) -> Int64,
                                  earlier: (_ event: IncomingRow, _ from: Int64, _ seq: Int64) throws -> [[UInt8]],
                                  add: (PairingRule, [String: [String: Int]]) throws -> Void) throws {
        for (k, e) in events.enumerated() where !e.pairs.isEmpty {
            guard let def = schema.events.first(where: { $0.name == e.event }) else { continue }
            for p in e.pairs {
                guard let f = def.fieldIndex(p.field) else { continue }
                var before = Set<String>()
                for data in try earlier(e, e.at &- p.window, seq(k)) {
                    if let key = ValueEncoding.indexKeys(ValueEncoding.fields(fromBlob: data, def), at: f).first { before.insert(key) }
                }
                var counts: [String: [String: Int]] = [:]
                pair(before, with: p.key, into: &counts)
                guard !counts.isEmpty else { continue }
                try add(PairingRule(event: e.event, field: p.field, window: p.window), counts)
            }
        }
    }

    /// A new value pairs once, both ways, with each distinct other value before it.
    public static func pair(_ earlier: Set<String>, with key: String, into counts: inout [String: [String: Int]]) {
        for a in earlier where a != key {
            counts[a, default: [:]][key, default: 0] += 1
            counts[key, default: [:]][a, default: 0] += 1
        }
    }
}

/// Counts a rule's pairs from stored events read in (profile, at, seq) order.
public struct PairCounter {
    public let window: Int64
    public var counts: [String: [String: Int]] = [:]
    var profile = ""
    var recent: [(at: Int64, key: String)] = []

    public init(window: Int64) { self.window = window }

    public mutating func add(profile p: String, at: Int64, key: String?) {
        if p != profile { profile = p; recent = [] }
        guard let key else { return }
        recent.removeAll { at - $0.at > window }
        PairingRule.pair(Set(recent.map(\.key)), with: key, into: &counts)
        recent.append((at, key))
    }
}

extension SQLiteStore {
    public func pairingRules() throws -> [PairingRule] {
        PairingRule.parse(try meta("cooccur"))
    }

    /// Makes the counts cover exactly these rules, in the caller's transaction: a new rule is
    /// counted from the stored history, a rule no longer wanted is dropped.
    public func setPairingRules(_ wanted: [PairingRule], schema: RuntimeSchema) throws {
        try flushDeferredHistory()
        let have = Set(try pairingRules()), want = Set(wanted)
        guard have != want else { return }
        for r in have.subtracting(want) {
            let s = try statement("DELETE FROM cooccur WHERE event = ? AND field = ? AND window = ?")
            s.bind(1, r.event); s.bind(2, r.field); s.bind(3, r.window)
            try s.run()
        }
        for r in want.subtracting(have).sorted(by: { $0.line < $1.line }) {
            guard let def = schema.events.first(where: { $0.name == r.event }), let f = def.fieldIndex(r.field) else { continue }
            let read = try db.prepare("SELECT profile, at, data FROM events WHERE event = ? ORDER BY profile, at, seq")
            read.bind(1, r.event)
            var counter = PairCounter(window: r.window)
            while try read.step() {
                counter.add(profile: read.text(0), at: read.int64(1), key: ValueEncoding.indexKeys(ValueEncoding.fields(fromBlob: read.blob(2), def), at: f).first)
            }
            try addPairs(r, counter.counts)
        }
        try setMeta("cooccur", PairingRule.text(wanted))
    }

    func addPairs(_ r: PairingRule, _ counts: [String: [String: Int]]) throws {
        let put = try statement("INSERT INTO cooccur(event, field, window, a, b, n) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(event, field, window, a, b) DO UPDATE SET n = n + excluded.n")
        for (a, bs) in counts.sorted(by: { $0.key < $1.key }) {
            for (b, n) in bs.sorted(by: { $0.key < $1.key }) {
                put.bind(1, r.event); put.bind(2, r.field); put.bind(3, r.window); put.bind(4, a); put.bind(5, b); put.bind(6, n)
                try put.run()
            }
        }
    }

    /// Counts the pairs ingested events make with the same profile's earlier events (by time,
    /// then by arrival) within each rule's window.
    func countPairs(_ events: [IncomingRow], firstSeq: Int64) throws {
        guard events.contains(where: { !$0.pairs.isEmpty }) else { return }
        // The same profile's earlier events of this transaction are among them.
        try flushDeferredHistory()
        let read = try statement("SELECT data FROM events WHERE profile = ? AND event = ? AND at >= ? AND (at < ? OR (at = ? AND seq < ?))")
        try PairingRule.countPairs(events, schema: schema, seq: { firstSeq + Int64($0) }, earlier: { e, from, seq in
            read.bind(1, e.profile); read.bind(2, e.event); read.bind(3, from)
            read.bind(4, e.at); read.bind(5, e.at); read.bind(6, seq)
            defer { read.reset() }
            var out: [[UInt8]] = []
            while try read.step() { out.append(read.blob(0)) }
            return out
        }, add: addPairs)
    }

    /// The values most often paired with `key`, most first (ties by value).
    public func companions(event: String, field: String, window: Int64, key: String, limit: Int) throws -> [String] {
        let s = try statement("SELECT b FROM cooccur WHERE event = ? AND field = ? AND window = ? AND a = ? ORDER BY n DESC, b LIMIT ?")
        defer { s.reset() }
        s.bind(1, event); s.bind(2, field); s.bind(3, window); s.bind(4, key); s.bind(5, limit)
        var out: [String] = []
        while try s.step() { out.append(s.text(0)) }
        return out
    }
}

extension ValueEncoding {
    /// The value an index key was made from, read as a field of this type (nil when it cannot be).
    public static func value(fromIndexKey key: String, _ type: FieldType) -> Value? {
        guard let tag = key.first else { return nil }
        let body = String(key.dropFirst())
        switch (tag, type.unwrapped) {
        case ("s", .string), ("s", .url): return .string(body)
        case ("n", .int): return Int64(body).map { .int($0 / Value.scale) }
        case ("n", .decimal): return Int64(body).map(Value.decimal)
        case ("n", .money): return Int64(body).map(Value.money)
        case ("b", .bool): return .bool(body == "1")
        case ("d", .date): return Int32(body).map(Value.date)
        case ("t", .time): return Int64(body).map(Value.time)
        case ("u", .duration): return Int64(body).map(Value.duration)
        default: return nil
        }
    }
}
