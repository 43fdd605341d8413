import Foundation
import Hummingbird
import JourneyBytecode
import JourneyDiagnostics
import JourneyRuntime

/// How `journey serve` runs: where it listens, on which database, with which keys.
public struct ServiceConfiguration: Sendable {
    public var database: String
    public var host = "127.0.0.1"
    public var port = 8080
    /// Keys that may post events (and, later, update profiles and read in-app content).
    public var ingestKeys: [String] = []
    /// Keys that may do everything.
    public var adminKeys: [String] = []
    /// No keys at all: allowed only on loopback, and only when asked for.
    public var noAuth = false
    /// The largest request body accepted.
    public var bodyLimit = 8 * 1024 * 1024

    public init(database: String) { self.database = database }

    /// Why the server must not start with this configuration, or nil.
    public var problem: String? {
        if ingestKeys.isEmpty && adminKeys.isEmpty {
            guard noAuth else { return "no keys are configured: set JOURNEY_INGEST_KEYS / JOURNEY_ADMIN_KEYS, or give --no-auth on a loopback address" }
            guard ["127.0.0.1", "::1", "localhost"].contains(host) else { return "--no-auth is allowed only on a loopback address, not \(host)" }
        }
        return nil
    }
}

/// The engine behind the HTTP layer: one actor owns it (and its SQLite connection), so requests
/// and the wall-clock steps take turns. It knows nothing of HTTP.
actor EngineHost {
    let engine: Engine

    init(path: String) throws {
        let store = try SQLiteStore(path: path)
        guard store.claimRunner() else {
            throw ServiceError("\(path): another 'journey run' or 'journey serve' is already processing this database")
        }
        engine = try Engine(store: store)
        guard engine.schema != nil else { throw ServiceError("\(path): no bundle is deployed; run 'journey deploy' first") }
    }

    /// Validates and stores a batch of events in one transaction; answers after the commit.
    func ingest(_ items: [[UInt8]]) throws -> IngestSummary {
        guard let schema = engine.schema else { throw ServiceError("no bundle is deployed") }
        // The items one after another, so a reject keeps its item's text as `raw`.
        var bytes: [UInt8] = []
        var ranges: [Range<Int>] = []
        for item in items {
            ranges.append(bytes.count..<(bytes.count + item.count))
            bytes += item
            bytes.append(0x0A)
        }
        var file = EventFile(bytes: bytes)
        for (k, item) in items.enumerated() {
            switch EventInput.parse(line: item, number: k + 1, schema: schema) {
            case .success(let e): file.events.append(EventFile.Event(line: k + 1, start: ranges[k].lowerBound, end: ranges[k].upperBound, event: e))
            case .failure(let f): file.errors.append(f)
            }
        }
        var given = false
        return try engine.ingest(pieces: {
            defer { given = true }
            return given ? nil : IngestPiece(events: file.events[...], errors: file.errors, throughLine: items.count)
        }, of: bytes, source: "POST /v1/events", transactionSize: Int.max)
    }

    /// Writes one profile from a request body (a JSON object of attributes): whole (`PUT`) or
    /// merged into the stored one (`PATCH`), checked exactly as `journey import` checks a line.
    /// Returns why it was refused, or nil.
    func saveProfile(id: String, body: [UInt8], merge: Bool) throws -> String? {
        guard let schema = engine.schema else { return "no bundle is deployed" }
        if let why = ProfileID.problem(id) { return "the profile id \(why)" }
        guard let doc = try? JSON.parse(body), case .object(let members) = doc else {
            return "the body must be a JSON object of profile attributes, like {\"first_name\": \"Ana\"}"
        }
        if members.contains(where: { $0.0 == "id" }) { return "the id is in the path; leave \"id\" out of the body" }
        // The body as an import line: the path's id first, then the attributes as sent.
        var line = Array("{\"id\": \(JSON.quote(id))".utf8)
        if let open = body.firstIndex(of: 0x7B) {
            let rest = body[(open + 1)...]
            if rest.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D && $0 != 0x7D }) { line += Array(", ".utf8) }
            line += rest
        }
        switch ProfileInput.parseJSONLines(line, schema: schema, merge: merge).first {
        case .success(let row)?:
            return try engine.importProfiles([row]).first?.reason
        case .failure(let e)?:
            return e.reason
        case nil:
            return "the body is empty"
        }
    }

    /// Runs everything due by now.
    func step() throws -> RunStats {
        try engine.run(until: Int64(Date().timeIntervalSince1970))
    }

    /// Whether the database answers a query.
    func healthy() -> Bool {
        do {
            _ = try engine.store.meta("clock")
            return true
        } catch {
            return false
        }
    }

    func close() { try? engine.store.checkpoint() }
}

public struct ServiceError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ d: String) { description = d }
}

/// `journey serve`: the HTTP API over the engine, the engine on the wall clock, and a graceful
/// stop on SIGTERM/SIGINT (requests in flight and the current step finish first).
public enum JourneyServer {
    public static func run(_ config: ServiceConfiguration, onReady: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        if let why = config.problem { throw ServiceError(why) }
        let host = try EngineHost(path: config.database)
        let router = Router()
        router.get("healthz") { _, _ -> Response in
            await host.healthy() ? json(.ok, #"{"status": "ok"}"#) : error(.serviceUnavailable, "the database does not answer")
        }
        router.post("v1/events") { request, _ -> Response in
            if let denied = authorize(request, config, needsAdmin: false) { return denied }
            guard let bytes = await body(of: request, limit: config.bodyLimit) else { return tooLarge(config.bodyLimit) }
            let ndjson = request.headers[.contentType]?.lowercased().hasPrefix("application/x-ndjson") ?? false
            let items: [[UInt8]]
            switch ndjson ? ndjsonItems(bytes) : arrayItems(bytes) {
            case .success(let i): items = i
            case .failure(let why): return error(.badRequest, why.description)
            }
            let summary = try await host.ingest(items)
            let rejected = summary.rejected.sorted { $0.line < $1.line }.map { "{\"index\": \($0.line - 1), \"reason\": \(JSON.quote($0.reason))}" }
            return json(.ok, "{\"accepted\": \(summary.ingested), \"duplicates\": \(summary.duplicates), \"rejected\": [\(rejected.joined(separator: ", "))]}")
        }
        for (method, merge) in [(HTTPRequest.Method.put, false), (.patch, true)] {
            router.on("v1/profiles/:id", method: method) { request, context -> Response in
                if let denied = authorize(request, config, needsAdmin: false) { return denied }
                let raw = context.parameters.get("id") ?? ""
                let id = raw.removingPercentEncoding ?? raw
                guard let bytes = await body(of: request, limit: config.bodyLimit) else { return tooLarge(config.bodyLimit) }
                if let why = try await host.saveProfile(id: id, body: bytes, merge: merge) { return error(.badRequest, why) }
                return json(.ok, "{\"id\": \(JSON.quote(id))}")
            }
        }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "journey"),
            onServerRunning: { channel in onReady(channel.localAddress?.port ?? config.port) }
        )
        // The engine takes its wall-clock steps beside the server.
        let stepper = Task {
            while !Task.isCancelled {
                _ = try? await host.step()
                try? await Task.sleep(nanoseconds: 200_000_000)
            }
        }
        defer { stepper.cancel() }
        try await app.runService()
        stepper.cancel()
        _ = await stepper.result
        _ = try? await host.step()
        await host.close()
    }

    static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// `{"error": "…"}` with a fitting status.
    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        json(status, "{\"error\": \(JSON.quote(message))}")
    }

    /// The request's body, or nil when it is over `limit` bytes.
    static func body(of request: Request, limit: Int) async -> [UInt8]? {
        var request = request
        guard let buffer = try? await request.collectBody(upTo: limit) else { return nil }
        return Array(buffer.readableBytesView)
    }

    static func tooLarge(_ limit: Int) -> Response { error(.contentTooLarge, "the body is over the limit of \(limit) bytes") }

    /// 401 without a known key, 403 for a key without the right; nil when allowed.
    static func authorize(_ request: Request, _ config: ServiceConfiguration, needsAdmin: Bool) -> Response? {
        if config.ingestKeys.isEmpty && config.adminKeys.isEmpty && config.noAuth { return nil }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            return error(.unauthorized, "an Authorization: Bearer KEY header is required")
        }
        let key = Array(header.utf8.dropFirst(7))
        // Every key is compared, whichever matches: the time does not tell which one did.
        var admin = false, ingest = false
        for k in config.adminKeys where constantTimeEqual(Array(k.utf8), key) { admin = true }
        for k in config.ingestKeys where constantTimeEqual(Array(k.utf8), key) { ingest = true }
        if !admin && !ingest { return error(.unauthorized, "the key is not known") }
        if needsAdmin && !admin { return error(.forbidden, "this needs an admin key") }
        return nil
    }

    /// Compares two secrets in time that depends only on their lengths, not their contents.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for i in 0..<max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return diff == 0
    }

    /// The elements of a JSON array, each as its bytes; any element that is not JSON makes the
    /// whole body "not JSON" (nothing of it is stored).
    static func arrayItems(_ bytes: [UInt8]) -> Result<[[UInt8]], ServiceError> {
        guard let doc = try? JSON.parse(bytes), case .array = doc else {
            return .failure(ServiceError("the body must be a JSON array of events (or JSON lines with Content-Type: application/x-ndjson)"))
        }
        // Cut the array into its elements at top-level commas, outside strings.
        var items: [[UInt8]] = []
        var depth = 0, start = -1, inString = false, escaped = false
        for (i, c) in bytes.enumerated() {
            if inString {
                if escaped { escaped = false } else if c == 0x5C { escaped = true } else if c == 0x22 { inString = false }
                continue
            }
            switch c {
            case 0x22: inString = true; if start < 0, depth == 1 { start = i }
            case 0x5B, 0x7B:
                if depth == 1, start < 0 { start = i }
                depth += 1
            case 0x5D, 0x7D:
                depth -= 1
                if depth == 0, start >= 0 { items.append(Array(bytes[start..<i])); start = -1 }
            case 0x2C where depth == 1:
                if start >= 0 { items.append(Array(bytes[start..<i])) }
                start = -1
            case 0x20, 0x09, 0x0A, 0x0D: break
            default: if depth == 1, start < 0 { start = i }
            }
        }
        return .success(items)
    }

    static func ndjsonItems(_ bytes: [UInt8]) -> Result<[[UInt8]], ServiceError> {
        var items: [[UInt8]] = []
        for line in bytes.split(separator: 0x0A) {
            let trimmed = Array(line.drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D })
            guard !trimmed.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) else { continue }
            guard (try? JSON.parse(trimmed)) != nil else {
                return .failure(ServiceError("line \(items.count + 1) of the body is not JSON"))
            }
            items.append(trimmed)
        }
        return .success(items)
    }
}
