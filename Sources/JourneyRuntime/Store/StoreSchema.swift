import JourneyBytecode
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The tables, and how typed values sit in profile columns.
enum StoreSchema {
    static let sql = """
    CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS bundles(seq INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT NOT NULL UNIQUE, bytes BLOB NOT NULL, deployed_at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS profiles(id TEXT PRIMARY KEY) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS profile_columns(name TEXT PRIMARY KEY, type TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS profile_timezones(tz TEXT PRIMARY KEY);
    CREATE TABLE IF NOT EXISTS events(profile TEXT NOT NULL, event TEXT NOT NULL, at INTEGER NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY(profile, event, at, seq)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS inbox(at INTEGER NOT NULL, seq INTEGER NOT NULL, profile TEXT NOT NULL, event TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY(at, seq)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS inbox_pages(id INTEGER PRIMARY KEY, first_at INTEGER NOT NULL, first_seq INTEGER NOT NULL, last_at INTEGER NOT NULL, last_seq INTEGER NOT NULL, n INTEGER NOT NULL, body BLOB NOT NULL);
    CREATE INDEX IF NOT EXISTS inbox_pages_by_last ON inbox_pages(last_at, last_seq);
    CREATE TABLE IF NOT EXISTS inbox_late(at INTEGER NOT NULL, seq INTEGER NOT NULL, profile TEXT NOT NULL, event TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY(at, seq)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS instances(id INTEGER PRIMARY KEY, journey TEXT NOT NULL, profile TEXT NOT NULL, bundle TEXT NOT NULL, pc INTEGER NOT NULL, locals BLOB NOT NULL, sends INTEGER NOT NULL, status TEXT NOT NULL, entered_at INTEGER NOT NULL, ended_at INTEGER);
    CREATE INDEX IF NOT EXISTS instances_by_profile_journey ON instances(profile, journey, status, entered_at);
    CREATE INDEX IF NOT EXISTS instances_converted ON instances(journey, bundle, entered_at, ended_at) WHERE status = 'converted';
    CREATE TABLE IF NOT EXISTS timers(id INTEGER PRIMARY KEY, due INTEGER NOT NULL, instance INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS timers_by_due ON timers(due, id);
    CREATE INDEX IF NOT EXISTS timers_by_instance ON timers(instance);
    CREATE TABLE IF NOT EXISTS waits(instance INTEGER PRIMARY KEY, profile TEXT NOT NULL, event TEXT NOT NULL);
    CREATE INDEX IF NOT EXISTS waits_by_event ON waits(profile, event);
    CREATE TABLE IF NOT EXISTS outbox(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, at INTEGER NOT NULL, profile TEXT NOT NULL, journey TEXT NOT NULL, channel TEXT, status TEXT NOT NULL, content TEXT, reason TEXT);
    CREATE INDEX IF NOT EXISTS outbox_by_profile ON outbox(profile, status, at);
    CREATE TABLE IF NOT EXISTS rejects(id INTEGER PRIMARY KEY, source TEXT NOT NULL, line INTEGER NOT NULL, reason TEXT NOT NULL, raw TEXT NOT NULL, at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS event_ids(profile TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY(profile, id)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS ingested_files(hash TEXT PRIMARY KEY, source TEXT NOT NULL, lines INTEGER NOT NULL, events INTEGER NOT NULL, duplicates INTEGER NOT NULL, complete INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS delivery_attempts(message TEXT NOT NULL, n INTEGER NOT NULL, at REAL NOT NULL, code INTEGER, error TEXT, outcome TEXT NOT NULL, PRIMARY KEY(message, n)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS receipts(id INTEGER PRIMARY KEY, message TEXT NOT NULL, status TEXT NOT NULL, at INTEGER NOT NULL, received_at INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS receipts_by_message ON receipts(message);
    CREATE TABLE IF NOT EXISTS step_counts(journey TEXT NOT NULL, bundle TEXT NOT NULL, step INTEGER NOT NULL, what TEXT NOT NULL, entered_hour INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY(journey, bundle, step, what, entered_hour)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS instance_branches(instance INTEGER NOT NULL, step INTEGER NOT NULL, branch INTEGER NOT NULL, PRIMARY KEY(instance, step)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS history_keys(event TEXT NOT NULL, field TEXT NOT NULL, key TEXT NOT NULL, at INTEGER NOT NULL, profile TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY(event, field, key, at, profile, seq)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS cooccur(event TEXT NOT NULL, field TEXT NOT NULL, window INTEGER NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY(event, field, window, a, b)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS audience(journey TEXT NOT NULL, tz TEXT NOT NULL, next_at INTEGER NOT NULL, PRIMARY KEY(journey, tz));
    CREATE INDEX IF NOT EXISTS audience_due ON audience(next_at, journey, tz);
    """

    /// A name as an SQL identifier: in double quotes, a quote inside doubled. Attribute names
    /// are verified identifiers already; this holds even if one were not.
    static func identifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// bool, int, decimal and money (in millionths), date (days), time (epoch seconds) and
    /// duration (seconds) are INTEGER; string, url and lists (as JSON) are TEXT.
    static func columnType(_ type: String) -> String {
        switch type {
        case "string", "url": "TEXT"
        default: type.hasPrefix("list[") ? "TEXT" : "INTEGER"
        }
    }

    /// The first 16 UTF-8 bytes of a string as two big-endian integers (zero-padded), which
    /// order as the bytes do, and whether there are more bytes than that.
    static func prefixKey(_ s: String) -> (UInt64, UInt64, long: Bool) {
        var s = s
        return s.withUTF8 { u in
            var a: UInt64 = 0, b: UInt64 = 0
            for i in 0..<16 {
                let byte = i < u.count ? UInt64(u[i]) : 0
                if i < 8 { a = a << 8 | byte } else { b = b << 8 | byte }
            }
            return (a, b, u.count > 16)
        }
    }

    /// The order of `count` history rows in the history table's key (profile, event, at, then
    /// `tiebreak`: the arrival number, or anything ordered as it is), as indices. SQLite
    /// compares text by its bytes; the first 16 bytes of each name, as integers, decide nearly
    /// every comparison.
    static func historyOrder(count: Int, profile: (Int) -> String, event: (Int) -> String, at: (Int) -> Int64, tiebreak: (Int) -> Int64) -> [Int] {
        struct SortKey {
            var profile: (UInt64, UInt64), event: (UInt64, UInt64)
            var at: Int64, tiebreak: Int64
            var longProfile: Bool, longEvent: Bool
            var index: Int
        }
        var keys = (0..<count).map { k in
            let p = prefixKey(profile(k)), n = prefixKey(event(k))
            return SortKey(profile: (p.0, p.1), event: (n.0, n.1), at: at(k), tiebreak: tiebreak(k), longProfile: p.long, longEvent: n.long, index: k)
        }
        keys.sort { a, b in
            if a.profile != b.profile { return a.profile < b.profile }
            if a.longProfile || b.longProfile, case let c = compareBytes(profile(a.index), profile(b.index)), c != 0 { return c < 0 }
            if a.event != b.event { return a.event < b.event }
            if a.longEvent || b.longEvent, case let c = compareBytes(event(a.index), event(b.index)), c != 0 { return c < 0 }
            return (a.at, a.tiebreak) < (b.at, b.tiebreak)
        }
        return keys.map(\.index)
    }

    /// Orders strings as SQLite's BINARY collation does: by their UTF-8 bytes.
    static func compareBytes(_ a: String, _ b: String) -> Int32 {
        var a = a, b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                let n = min(x.count, y.count)
                if n > 0, let px = x.baseAddress, let py = y.baseAddress {
                    let c = memcmp(px, py, n)
                    if c != 0 { return c }
                }
                return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
            }
        }
    }

    static func bind(_ s: Statement, _ i: Int32, _ v: Value) {
        bind(s, i, ColumnValue(v))
    }

    static func bind(_ s: Statement, _ i: Int32, _ v: ColumnValue) {
        switch v {
        case .null: s.bindNull(i)
        case .int(let x): s.bind(i, x)
        case .string(let t), .list(let t): s.bind(i, t)
        }
    }

    static func read(_ s: Statement, _ c: Int32, _ type: FieldType) -> Value {
        ColumnValue.value(type, isNull: s.isNull(c), int: { s.int64(c) }, text: { s.text(c) })
    }
}

/// How a profile attribute's value sits in a column, in either store: bool, int, decimal and
/// money (in millionths), date (days), time (epoch seconds), duration (seconds) and time of day
/// as an integer; a string or url as its text; a list as JSON text.
public enum ColumnValue {
    case null
    case int(Int64)
    case string(String)
    case list(String)

    public init(_ v: Value) {
        switch v {
        case .none, .record: self = .null
        case .bool(let b): self = .int(b ? 1 : 0)
        case .int(let x), .decimal(let x), .money(let x), .time(let x), .duration(let x): self = .int(x)
        case .date(let d): self = .int(Int64(d))
        case .timeOfDay(let t): self = .int(Int64(t))
        case .string(let t): self = .string(t)
        case .list: self = .list(ValueEncoding.json(v))
        }
    }

    /// The value of a declared type, from a column read by the store (`text` gives a string's
    /// or a list's text).
    public static func value(_ type: FieldType, isNull: Bool, int: () -> Int64, text: () -> String) -> Value {
        if isNull { return .none }
        switch type.unwrapped {
        case .bool: return .bool(int() != 0)
        case .int: return .int(int())
        case .decimal: return .decimal(int())
        case .money: return .money(int())
        case .string, .url: return .string(text())
        case .date: return .date(Int32(truncatingIfNeeded: int()))
        case .time: return .time(int())
        case .duration: return .duration(int())
        case .list(let inner):
            guard let j = try? JSON.parse(text()), case .success(let v) = ValueCoder.decode(j, as: .list(inner)) else { return .none }
            return v
        case .optional: return .none
        }
    }
}
