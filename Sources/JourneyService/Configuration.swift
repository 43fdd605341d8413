import Foundation
import JourneyRuntime
import TOMLKit

/// How one channel's messages reach their provider.
public enum DeliveryAdapterKind: Sendable, Equatable {
    /// `POST` to a URL with Standard Webhooks signatures.
    case webhook(url: String, secret: [UInt8]?, timeout: Double)
    /// One JSON line a message on standard output, for development.
    case stdout
}

public struct ChannelDelivery: Sendable, Equatable {
    public var adapter: DeliveryAdapterKind
    /// Attempts in flight at once for the channel.
    public var concurrency: Int
}

/// How `journey serve` runs: where it listens, on which database, with which keys, and how
/// each channel is delivered.
public struct ServiceConfiguration: Sendable {
    public var database: String
    public var host = "127.0.0.1"
    public var port = 8080
    /// Keys that may post events, update profiles and read in-app content.
    public var ingestKeys: [String] = []
    /// Keys that may do everything.
    public var adminKeys: [String] = []
    /// No keys at all: allowed only on loopback, and only when asked for.
    public var noAuth = false
    /// The largest request body accepted.
    public var bodyLimit = 8 * 1024 * 1024
    /// When set, reading a profile's in-app content also needs `X-Journey-User-Hash`.
    public var userHashSecret: [UInt8]?
    /// Channel name → its adapter. A channel without one keeps its messages pending.
    public var delivery: [String: ChannelDelivery] = [:]
    /// Multiplies every wait of the retry schedule (and `Retry-After`): 1 in production; tests
    /// make hours of back-off take milliseconds.
    public var retryScale = 1.0
    /// JSON log lines (nil: JSON unless standard error is a terminal).
    public var jsonLogs: Bool?

    /// Opens the database (read-only for the console's reads); nil: `database` is a SQLite file.
    /// The command line opens PostgreSQL here.
    public var openStore: (@Sendable (_ readOnly: Bool) throws -> any ServiceStore)?
    /// The database as messages name it (a URL's password left out).
    public var databaseName: String
    /// On a store that many servers share: how long a worker's partition leases last, in seconds.
    public var workerLease = 10.0

    public init(database: String) {
        self.database = database
        databaseName = database
    }

    /// Opens the database as configured.
    func open(readOnly: Bool) throws -> any ServiceStore {
        if let openStore { return try openStore(readOnly) }
        return try SQLiteStore(path: database, readOnly: readOnly)
    }

    /// Why the server must not start with this configuration, or nil.
    public var problem: String? {
        if ingestKeys.isEmpty && adminKeys.isEmpty {
            guard noAuth else { return "no keys are configured: set JOURNEY_INGEST_KEYS / JOURNEY_ADMIN_KEYS (or [auth] in the configuration), or give --no-auth on a loopback address" }
            guard ["127.0.0.1", "::1", "localhost"].contains(host) else { return "--no-auth is allowed only on a loopback address, not \(host)" }
        }
        return nil
    }

    /// Sets the listening address from `HOST:PORT`; nil when it is not one.
    public mutating func listen(_ text: String) -> String? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port),
              colon > text.startIndex else {
            return "expected HOST:PORT, e.g. 127.0.0.1:8080, not '\(text)'"
        }
        host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        self.port = port
        return nil
    }

    /// The channel kinds the language knows (the configuration may name only these).
    static let channelKinds = ["push", "web_push", "email", "sms", "whatsapp", "wallet"]

    /// Reads a TOML configuration file over these settings. Errors name the file, the line and
    /// column when the TOML itself is wrong, and the key when a value is.
    public mutating func load(toml text: String, file: String) throws {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            throw ServiceError("\(file):\(e.source.begin.line):\(e.source.begin.column): \(e.description)")
        }
        func fail(_ key: String, _ why: String) -> ServiceError { ServiceError("\(file): \(key): \(why)") }
        func unknown(_ t: TOMLTable, _ prefix: String, _ known: [String]) throws {
            for k in t.keys where !known.contains(k) {
                throw fail(prefix + k, "unknown setting; the settings here are \(known.joined(separator: ", "))")
            }
        }
        func string(_ t: TOMLTable, _ k: String, _ prefix: String) throws -> String? {
            guard let v = t[k] else { return nil }
            guard let s = v.string else { throw fail(prefix + k, "expected a string") }
            return s
        }
        func strings(_ t: TOMLTable, _ k: String, _ prefix: String) throws -> [String]? {
            guard let v = t[k] else { return nil }
            guard let a = v.array else { throw fail(prefix + k, "expected an array of strings") }
            return try a.map { v in
                guard let s = v.string else { throw fail(prefix + k, "expected an array of strings") }
                return s
            }
        }
        func seconds(_ t: TOMLTable, _ k: String, _ prefix: String) throws -> Double? {
            guard let v = t[k] else { return nil }
            if let i = v.int { return Double(i) }
            if let s = v.string {
                if s.hasSuffix("ms"), let n = Double(s.dropLast(2)) { return n / 1000 }
                if let d = ValueCoder.duration(s) { return Double(d) }
            }
            throw fail(prefix + k, "expected a duration like \"10s\", \"500ms\" or \"2m\"")
        }
        func positive(_ t: TOMLTable, _ k: String, _ prefix: String) throws -> Int? {
            guard let v = t[k] else { return nil }
            guard let i = v.int, i > 0 else { throw fail(prefix + k, "expected a positive whole number") }
            return i
        }
        try unknown(table, "", ["server", "auth", "delivery"])
        if let v = table["server"] {
            guard let server = v.table else { throw fail("server", "expected a table") }
            try unknown(server, "server.", ["listen", "body_limit", "log_format"])
            if let l = try string(server, "listen", "server."), let why = listen(l) { throw fail("server.listen", why) }
            if let b = try positive(server, "body_limit", "server.") { bodyLimit = b }
            switch try string(server, "log_format", "server.") {
            case nil: break
            case "json": jsonLogs = true
            case "text": jsonLogs = false
            case let other?: throw fail("server.log_format", "expected \"json\" or \"text\", not \"\(other)\"")
            }
        }
        if let v = table["auth"] {
            guard let auth = v.table else { throw fail("auth", "expected a table") }
            try unknown(auth, "auth.", ["ingest_keys", "admin_keys", "user_hash_secret"])
            if let k = try strings(auth, "ingest_keys", "auth.") { ingestKeys += k }
            if let k = try strings(auth, "admin_keys", "auth.") { adminKeys += k }
            if let s = try string(auth, "user_hash_secret", "auth.") {
                guard !s.isEmpty else { throw fail("auth.user_hash_secret", "must not be empty") }
                userHashSecret = Array(s.utf8)
            }
        }
        if let v = table["delivery"] {
            guard let d = v.table else { throw fail("delivery", "expected a table") }
            try unknown(d, "delivery.", ["retry_scale"] + Self.channelKinds)
            if let s = d["retry_scale"] {
                guard let x = s.double ?? s.int.map(Double.init), x >= 0, x <= 1 else { throw fail("delivery.retry_scale", "expected a number from 0 to 1") }
                retryScale = x
            }
            for kind in Self.channelKinds {
                guard let c = d[kind] else { continue }
                let p = "delivery.\(kind)."
                guard let t = c.table else { throw fail("delivery.\(kind)", "expected a table") }
                try unknown(t, p, ["webhook", "secret", "timeout", "concurrency", "stdout"])
                let concurrency = try positive(t, "concurrency", p) ?? 16
                if let url = try string(t, "webhook", p) {
                    guard let u = URL(string: url), ["http", "https"].contains(u.scheme?.lowercased() ?? ""), u.host != nil else {
                        throw fail(p + "webhook", "expected an http:// or https:// URL, not '\(url)'")
                    }
                    let secret = try string(t, "secret", p).map(Self.secretBytes)
                    let timeout = try seconds(t, "timeout", p) ?? 10
                    guard timeout > 0 else { throw fail(p + "timeout", "must be more than zero") }
                    delivery[kind] = ChannelDelivery(adapter: .webhook(url: url, secret: secret, timeout: timeout), concurrency: concurrency)
                } else if t["stdout"]?.bool == true {
                    delivery[kind] = ChannelDelivery(adapter: .stdout, concurrency: 1)
                } else {
                    throw fail("delivery.\(kind)", "name an adapter: webhook = \"https://…\" or stdout = true")
                }
            }
        }
    }

    /// Environment settings, over the file's: keys (added to the file's), and a webhook
    /// secret per channel in `JOURNEY_<CHANNEL>_SECRET` so it stays out of files.
    public mutating func apply(environment env: [String: String]) {
        func keys(_ name: String) -> [String] {
            (env[name] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        ingestKeys += keys("JOURNEY_INGEST_KEYS")
        adminKeys += keys("JOURNEY_ADMIN_KEYS")
        if let s = env["JOURNEY_USER_HASH_SECRET"], !s.isEmpty { userHashSecret = Array(s.utf8) }
        for (kind, var c) in delivery {
            guard let s = env["JOURNEY_\(kind.uppercased())_SECRET"], !s.isEmpty, case .webhook(let url, _, let timeout) = c.adapter else { continue }
            c.adapter = .webhook(url: url, secret: Self.secretBytes(s), timeout: timeout)
            delivery[kind] = c
        }
    }

    /// A Standard Webhooks secret is `whsec_` and the key in base64; any other text is the key
    /// itself.
    static func secretBytes(_ s: String) -> [UInt8] {
        if s.hasPrefix("whsec_"), let d = Data(base64Encoded: String(s.dropFirst(6))) { return Array(d) }
        return Array(s.utf8)
    }
}
