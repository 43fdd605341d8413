import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import JourneyBytecode
import JourneyDiagnostics
import JourneyRuntime

/// A batch with an item that is not JSON at all: nothing of it is stored.
struct NotJSON: Error {
    var index: Int
    var reason: String
}

public struct ServiceError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ d: String) { description = d }
}

/// `journey serve`: the HTTP API over the engine, the engine on the wall clock, and the
/// deliverer, as three services of one group: on SIGTERM/SIGINT the server stops taking requests
/// and finishes those in flight, then the engine takes its last step, then the attempts in
/// flight end and are recorded.
public enum JourneyServer {
    public static func run(_ config: ServiceConfiguration, onReady: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        if let why = config.problem { throw ServiceError(why) }
        let json = config.jsonLogs ?? (isatty(2) == 0)
        let logger = Logger(label: "journey") { label in LineLogHandler(json: json, label: label) }
        let host = try EngineHost(config)
        let metrics = ServiceMetrics(firstSeq: await host.lastOutboxSeq())
        let client = config.delivery.values.contains { if case .webhook = $0.adapter { true } else { false } }
            ? HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup,
                         configuration: .init(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10)),
                                              connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(8, config.delivery.values.map(\.concurrency).max() ?? 8))))
            : nil
        var adapters: [String: (any DeliveryAdapter, Int)] = [:]
        for (channel, d) in config.delivery {
            switch d.adapter {
            case .webhook(let url, let secret, let timeout):
                if let client { adapters[channel] = (WebhookAdapter(client: client, url: url, secret: secret, timeout: timeout), d.concurrency) }
            case .stdout:
                adapters[channel] = (StdoutAdapter(), d.concurrency)
            }
        }
        let deliverer = Deliverer(host: host, channels: adapters, scale: config.retryScale, logger: logger, metrics: metrics)
        let engine = EngineService(host: host, deliverer: deliverer, metrics: metrics, logger: logger)

        let router = Router()
        router.add(middleware: RequestLog(logger: logger, metrics: metrics))
        routes(router, config: config, host: host, engine: engine, metrics: metrics)
        Console.routes(router, config: config, host: host, reader: try ConsoleReader(config))
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "journey"),
            onServerRunning: { channel in onReady(channel.localAddress?.port ?? config.port) },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(
            services: [DeliveryService(deliverer: deliverer), engine, app],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        do {
            try await group.run()
        } catch {
            try? await client?.shutdown()
            throw error
        }
        try? await client?.shutdown()
        await host.close()
    }

    static func routes(_ router: Router<BasicRequestContext>, config: ServiceConfiguration, host: EngineHost, engine: EngineService, metrics: ServiceMetrics) {
        router.get("healthz") { _, _ -> Response in
            await host.healthy() ? json(.ok, #"{"status": "ok"}"#) : error(.serviceUnavailable, "the database does not answer")
        }
        router.get("metrics") { request, _ -> Response in
            if let denied = authorize(request, config, needsAdmin: true) { return denied }
            if let seen = try? await host.messagesSince(metrics.lastMessageSeq) {
                metrics.observe(messages: seen.rows, lastSeq: seen.last, backlog: seen.backlog)
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: metrics.registry.emitToBuffer())))
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
            let summary: IngestSummary
            do {
                let (hash, schema) = await host.currentSchema()
                guard let schema else { return error(.serviceUnavailable, "no bundle is deployed") }
                let file = try EngineHost.read(items, schema: schema)
                summary = try await host.ingest(items, read: file, hash: hash)
            } catch let e as NotJSON {
                return error(.badRequest, "item \(e.index) of the body is \(e.reason); nothing was stored")
            }
            metrics.ingest(accepted: summary.ingested, duplicates: summary.duplicates, rejected: summary.rejected.count)
            if summary.ingested > 0 { engine.poke() }
            let rejected = summary.rejected.sorted { $0.line < $1.line }.map { "{\"index\": \($0.line - 1), \"reason\": \(JSON.quote($0.reason))}" }
            return json(.ok, "{\"accepted\": \(summary.ingested), \"duplicates\": \(summary.duplicates), \"rejected\": [\(rejected.joined(separator: ", "))]}")
        }
        for (method, merge) in [(HTTPRequest.Method.put, false), (.patch, true)] {
            router.on("v1/profiles/:id", method: method) { request, context -> Response in
                if let denied = authorize(request, config, needsAdmin: false) { return denied }
                let id = pathID(context)
                guard let bytes = await body(of: request, limit: config.bodyLimit) else { return tooLarge(config.bodyLimit) }
                if let why = try await host.saveProfile(id: id, body: bytes, merge: merge) { return error(.badRequest, why) }
                return json(.ok, "{\"id\": \(JSON.quote(id))}")
            }
        }
        router.get("v1/profiles/:id") { request, context -> Response in
            if let denied = authorize(request, config, needsAdmin: true) { return denied }
            let id = pathID(context)
            guard let view = try await host.profileView(id: id) else { return error(.notFound, "no profile has this id") }
            return json(.ok, view)
        }
        router.delete("v1/profiles/:id") { request, context -> Response in
            if let denied = authorize(request, config, needsAdmin: true) { return denied }
            _ = try await host.erase(id: pathID(context))
            return Response(status: .noContent)
        }
        router.get("v1/profiles/:id/in_app") { request, context -> Response in
            if let denied = authorize(request, config, needsAdmin: false) { return denied }
            let id = pathID(context)
            if let secret = config.userHashSecret {
                let header = request.headers.first { $0.name.canonicalName == "x-journey-user-hash" }?.value ?? ""
                let given = Array(header.lowercased().utf8)
                guard constantTimeEqual(Array(WebhookSignature.hexHMAC(id, secret: secret).utf8), given) else {
                    return error(.forbidden, "X-Journey-User-Hash is missing or does not match this profile id")
                }
            }
            let slot = request.uri.queryParameters.get("slot")
            return json(.ok, try await host.inApp(id: id, slot: slot, now: Int64(Date().timeIntervalSince1970)))
        }
        router.post("v1/messages/:id/receipts") { request, context -> Response in
            if let denied = authorize(request, config, needsAdmin: false) { return denied }
            let id = pathID(context)
            guard let bytes = await body(of: request, limit: min(config.bodyLimit, 64 * 1024)) else { return tooLarge(min(config.bodyLimit, 64 * 1024)) }
            guard let doc = try? JSON.parse(bytes), case .object(let members) = doc else {
                return error(.badRequest, "the body must be a JSON object like {\"status\": \"opened\", \"at\": \"2025-03-01T10:00:00Z\"}")
            }
            var status: String?, at: Int64?
            for (k, v) in members {
                switch (k, v) {
                case ("status", .string(let s)): status = s
                case ("at", let t):
                    guard case .success(.time(let x)) = ValueCoder.decode(t, as: .time) else {
                        return error(.badRequest, "\"at\" must be a time like \"2025-03-01T10:00:00Z\"")
                    }
                    at = x
                default: return error(.badRequest, "unknown field \"\(k)\"; a receipt has \"status\" and \"at\"")
                }
            }
            guard let status, receiptStatuses.contains(status) else {
                return error(.badRequest, "\"status\" must be one of \(receiptStatuses.joined(separator: ", "))")
            }
            guard try await host.receipt(message: id, status: status, at: at ?? Int64(Date().timeIntervalSince1970)) else {
                return error(.notFound, "no sent message has this id")
            }
            return json(.ok, "{\"message\": \(JSON.quote(id)), \"status\": \(JSON.quote(status))}")
        }
    }

    static let receiptStatuses = ["delivered", "opened", "clicked", "dismissed", "bounced", "failed"]

    /// A path's id, percent-decoded: `/`, `..`, quotes or SQL in it are just characters of an id.
    static func pathID(_ context: BasicRequestContext) -> String {
        let raw = context.parameters.get("id") ?? ""
        return raw.removingPercentEncoding ?? raw
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

    /// The elements of a JSON array, each as its bytes, with line breaks between tokens made
    /// spaces (inside a JSON string they cannot occur). Only the array's outline is checked
    /// here; each element is parsed as an event afterwards, and one that is not JSON fails the
    /// whole body (nothing of it is stored).
    static func arrayItems(_ bytes: [UInt8]) -> Result<[[UInt8]], ServiceError> {
        let fail = Result<[[UInt8]], ServiceError>.failure(ServiceError("the body must be a JSON array of events (or JSON lines with Content-Type: application/x-ndjson)"))
        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }
        var i = 0
        let n = bytes.count
        while i < n, isSpace(bytes[i]) { i += 1 }
        guard i < n, bytes[i] == 0x5B else { return fail }
        i += 1
        while i < n, isSpace(bytes[i]) { i += 1 }
        var items: [[UInt8]] = []
        if i < n, bytes[i] == 0x5D {
            i += 1
        } else {
            while true {
                // One element: up to a comma or the closing bracket at depth 0, outside strings.
                let start = i
                var depth = 0, inString = false, escaped = false, breaks = false
                while i < n {
                    let c = bytes[i]
                    if inString {
                        if escaped { escaped = false } else if c == 0x5C { escaped = true } else if c == 0x22 { inString = false }
                    } else if c == 0x22 {
                        inString = true
                    } else if c == 0x5B || c == 0x7B {
                        depth += 1
                    } else if c == 0x5D || c == 0x7D {
                        if depth == 0 { break }
                        depth -= 1
                    } else if c == 0x2C, depth == 0 {
                        break
                    } else if c == 0x0A || c == 0x0D {
                        breaks = true
                    }
                    i += 1
                }
                guard i < n, bytes[i] == 0x2C || bytes[i] == 0x5D else { return fail }
                var lo = start, hi = i
                while lo < hi, isSpace(bytes[lo]) { lo += 1 }
                while hi > lo, isSpace(bytes[hi - 1]) { hi -= 1 }
                guard lo < hi else { return fail }
                var item = Array(bytes[lo..<hi])
                if breaks {
                    for k in item.indices where item[k] == 0x0A || item[k] == 0x0D { item[k] = 0x20 }
                }
                items.append(item)
                i += 1
                if bytes[i - 1] == 0x5D { break }
            }
        }
        while i < n, isSpace(bytes[i]) { i += 1 }
        return i == n ? .success(items) : fail
    }

    /// The lines of a JSON-lines body (blank lines left out); each is parsed as an event
    /// afterwards, and one that is not JSON fails the whole body.
    static func ndjsonItems(_ bytes: [UInt8]) -> Result<[[UInt8]], ServiceError> {
        var items: [[UInt8]] = []
        for line in bytes.split(separator: 0x0A) {
            var item = Array(line)
            while let l = item.last, l == 0x20 || l == 0x09 || l == 0x0D { item.removeLast() }
            let first = item.firstIndex { $0 != 0x20 && $0 != 0x09 } ?? item.endIndex
            if first < item.endIndex { items.append(Array(item[first...])) }
        }
        return .success(items)
    }
}

/// The engine on the wall clock: a step at once when events arrive, else every 200 ms (timers
/// fall due by the second); the deliverer hears of every step that wrote messages.
final class EngineService: Service, Sendable {
    let host: EngineHost
    let deliverer: Deliverer
    let metrics: ServiceMetrics
    let logger: Logger
    let wake = Signal()

    init(host: EngineHost, deliverer: Deliverer, metrics: ServiceMetrics, logger: Logger) {
        self.host = host; self.deliverer = deliverer; self.metrics = metrics; self.logger = logger
    }

    func poke() { wake.signal() }

    func run() async throws {
        await withGracefulShutdownHandler {
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                if await step() {
                    await Task.yield()
                } else {
                    await wake.wait(seconds: 0.2)
                }
            }
        } onGracefulShutdown: {
            self.wake.signal()
        }
        // The last slices: what is due now is done before the process ends.
        for _ in 0..<600 {
            guard await step() else { break }
        }
    }

    /// One slice of work; whether it did any (then there may be more).
    func step() async -> Bool {
        do {
            let stats = try await host.step()
            metrics.steps(events: stats.events, timers: stats.timers, audienceRuns: stats.audienceRuns)
            if stats.messages > 0 { deliverer.poke() }
            return stats.events + stats.timers + stats.audienceRuns > 0
        } catch {
            logger.error("engine step failed", metadata: ["error": .string(String(describing: error))])
            return false
        }
    }
}

/// The deliverer as a service: stops taking new attempts on shutdown, records those in flight.
struct DeliveryService: Service {
    let deliverer: Deliverer
    func run() async throws {
        await withGracefulShutdownHandler {
            await deliverer.run()
        } onGracefulShutdown: {
            Task { await deliverer.stop() }
        }
    }
}

/// One log line and one latency sample per request: method, route, status and time; never a
/// header (keys stay out of logs) and never a body.
struct RequestLog<Context: RequestContext>: RouterMiddleware {
    let logger: Logger
    let metrics: ServiceMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var status = 500
        defer {
            let d = ContinuousClock.now - start
            let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
            let route = routeName(request.uri.path)
            metrics.request(route: route, method: request.method.rawValue, status: status, seconds: seconds)
            logger.info("request", metadata: ["method": .string(request.method.rawValue), "route": .string(route), "status": .stringConvertible(status),
                                              "ms": .stringConvertible((seconds * 10_000).rounded() / 10)])
        }
        if let allowed = allowedMethods(request.uri.path), !allowed.contains(request.method.rawValue) {
            status = 405
            var answer = JourneyServer.error(.methodNotAllowed, "\(request.method.rawValue) is not allowed here; use \(allowed.joined(separator: " or "))")
            answer.headers[.allow] = allowed.joined(separator: ", ")
            return answer
        }
        do {
            let response = try await next(request, context)
            status = Int(response.status.code)
            return response
        } catch let e as HTTPResponseError {
            status = Int(e.status.code)
            throw e
        } catch {
            // Anything else (the database failing, say) is a 500 in the API's own shape; the
            // detail goes to the log, not to the client.
            status = 500
            logger.error("request failed", metadata: ["route": .string(routeName(request.uri.path)), "error": .string(String(describing: error))])
            return JourneyServer.error(.internalServerError, "the server could not complete this request; it is logged")
        }
    }
}

/// The methods a known path takes (nil: no such path).
func allowedMethods(_ path: String) -> [String]? {
    switch routeName(path) {
    case "/healthz", "/metrics": ["GET"]
    case "/v1/events": ["POST"]
    case "/v1/profiles/{id}": ["GET", "PUT", "PATCH", "DELETE"]
    case "/v1/profiles/{id}/in_app": ["GET"]
    case "/v1/messages/{id}/receipts": ["POST"]
    case "/console/login": ["GET", "POST"]
    case "/console/logout", "/console/deliveries/{id}/redeliver": ["POST"]
    case "/console", "/console/style.css", "/console/icon.svg", "/console/profiles", "/console/deliveries", "/console/rejects", "/console/journeys/{name}": ["GET"]
    default: nil
    }
}

/// A request path with its ids replaced, so routes group (and ids stay out of labels and logs).
func routeName(_ path: String) -> String {
    let parts = path.split(separator: "/", omittingEmptySubsequences: false)
    if parts.count >= 2, parts[1] == "console" {
        let known = ["/console", "/console/login", "/console/logout", "/console/style.css", "/console/icon.svg", "/console/profiles", "/console/deliveries", "/console/rejects"]
        if known.contains(path) { return path }
        if parts.count == 4, parts[2] == "journeys", !parts[3].isEmpty { return "/console/journeys/{name}" }
        if parts.count == 5, parts[2] == "deliveries", parts[4] == "redeliver", !parts[3].isEmpty { return "/console/deliveries/{id}/redeliver" }
        return "other"
    }
    guard parts.count >= 4, parts[1] == "v1", ["profiles", "messages"].contains(parts[2]) else {
        return ["/healthz", "/metrics", "/v1/events"].contains(path) ? path : "other"
    }
    return "/v1/\(parts[2])/{id}" + (parts.count > 4 ? "/" + parts[4...].joined(separator: "/") : "")
}
