import AsyncHTTPClient
import Crypto
import Foundation
import JourneyBytecode
import JourneyRuntime
import Logging
import NIOCore
import NIOHTTP1

/// What a provider answered to one attempt: its HTTP status, or what went wrong without one.
public struct DeliveryAnswer: Sendable, Equatable {
    public var code: Int?
    public var error: String?
    /// `Retry-After`, in seconds from now.
    public var retryAfter: Double?

    public init(code: Int? = nil, error: String? = nil, retryAfter: Double? = nil) {
        self.code = code; self.error = error; self.retryAfter = retryAfter
    }
}

/// Hands one message to its provider. Adapters sit behind this protocol as stores sit behind
/// `JourneyStore`: the deliverer knows nothing of HTTP.
public protocol DeliveryAdapter: Sendable {
    /// One attempt. `body` is the message as the brief's JSON body, the same on every attempt.
    func deliver(_ message: PendingDelivery, body: [UInt8], at now: Double) async -> DeliveryAnswer
    /// The longest one attempt can take, in seconds (a shared queue's claim outlasts it).
    var longestAttempt: Double { get }
}

extension DeliveryAdapter {
    public var longestAttempt: Double { 30 }
}

/// The brief's retry schedule: the first attempt at once, then after 5 s, 5 min, 30 min, 2 h,
/// 5 h, 10 h and 10 h (eight attempts in all), each wait ±20% of jitter; 408, 429, 5xx,
/// time-outs and connection errors are retried, any other answer that is not 2xx fails at once.
public enum RetrySchedule {
    /// The wait before each attempt, in seconds (the first is the send itself).
    public static let waits: [Double] = [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000]

    /// What one attempt's answer means for the message. `attemptsBefore` is how many this round
    /// made before it; `jitter` is a number in 0..<1 (0.5: no change); `scale` shrinks every
    /// wait (1 in production).
    public static func outcome(of answer: DeliveryAnswer, attemptsBefore: Int, now: Double, scale: Double, jitter: Double) -> (DeliveryOutcome, String) {
        if let code = answer.code, (200..<300).contains(code) { return (.delivered, "delivered") }
        let transient: Bool
        if let code = answer.code {
            transient = code == 408 || code == 429 || (500..<600).contains(code)
        } else {
            transient = true
        }
        let next = attemptsBefore + 1
        guard transient, next < waits.count else { return (.failed, "failed") }
        var wait = waits[next] * (0.8 + 0.4 * min(max(jitter, 0), 1))
        if let after = answer.retryAfter, answer.code == 429 || answer.code == 503 {
            // The provider said when: never sooner, and no later than the longest wait.
            wait = min(max(after, 0), waits.max() ?? after)
        }
        return (.retry(at: now + wait * scale), "retry")
    }

    /// `Retry-After` as seconds from `now`: a number of seconds, or an HTTP date.
    public static func retryAfter(_ header: String?, now: Double) -> Double? {
        guard let h = header?.trimmingCharacters(in: .whitespaces), !h.isEmpty else { return nil }
        if let s = Double(h), s >= 0 { return s }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let d = f.date(from: h) else { return nil }
        return max(0, d.timeIntervalSince1970 - now)
    }
}

/// Standard Webhooks signatures: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`.
public enum WebhookSignature {
    public static func sign(id: String, timestamp: Int64, body: [UInt8], secret: [UInt8]) -> String {
        var signed = Array("\(id).\(timestamp).".utf8)
        signed += body
        let mac = HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: secret))
        return "v1," + Data(mac).base64EncodedString()
    }

    /// hex(HMAC-SHA256(secret, text)), as a shop's backend computes `X-Journey-User-Hash`.
    public static func hexHMAC(_ text: String, secret: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: SymmetricKey(data: secret))
        return mac.map { String(format: "%02x", $0) }.joined()
    }
}

/// The brief's webhook body: `{"id", "at", "profile", "journey", "channel", "address", "content"}`.
public enum WebhookBody {
    public static func make(_ m: PendingDelivery) -> [UInt8] {
        var s = "{\"id\": \(JSON.quote(m.id)), \"at\": \(JSON.quote(Value.iso8601(m.at))), \"profile\": \(JSON.quote(m.profile)), "
        s += "\"journey\": \(JSON.quote(m.journey)), \"channel\": \(JSON.quote(m.channel)), "
        s += "\"address\": \(m.address.map(JSON.quote) ?? "null"), \"content\": \(m.content ?? "null")}"
        return Array(s.utf8)
    }
}

/// `POST`s each message to a URL, signed.
struct WebhookAdapter: DeliveryAdapter {
    let client: HTTPClient
    let url: String
    let secret: [UInt8]?
    let timeout: Double

    /// The time-out is the attempt's deadline (connecting included).
    var longestAttempt: Double { timeout }

    func deliver(_ message: PendingDelivery, body: [UInt8], at now: Double) async -> DeliveryAnswer {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        let timestamp = Int64(now)
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "journey")
        request.headers.add(name: "webhook-id", value: message.id)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        if let secret {
            request.headers.add(name: "webhook-signature", value: WebhookSignature.sign(id: message.id, timestamp: timestamp, body: body, secret: secret))
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
            // Read (and drop) what the provider said, so the connection can be used again.
            _ = try? await response.body.collect(upTo: 64 * 1024)
            return DeliveryAnswer(code: Int(response.status.code),
                                  retryAfter: RetrySchedule.retryAfter(response.headers.first(name: "retry-after"), now: now))
        } catch let e as HTTPClientError where e == .deadlineExceeded || e == .readTimeout || e == .connectTimeout {
            return DeliveryAnswer(error: "timed out after \(Self.seconds(timeout))")
        } catch {
            return DeliveryAnswer(error: Self.describe(error))
        }
    }

    static func seconds(_ s: Double) -> String { s == s.rounded() ? "\(Int(s)) s" : "\(s) s" }

    static func describe(_ error: Error) -> String {
        let text = String(describing: error)
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        if text.contains("remoteConnectionClosed") { return "the connection closed before an answer" }
        return text.count > 300 ? String(text.prefix(300)) + "…" : text
    }
}

/// Writes each message as one JSON line on standard output, for development.
struct StdoutAdapter: DeliveryAdapter {
    static let lock = NSLock()
    func deliver(_ message: PendingDelivery, body: [UInt8], at now: Double) async -> DeliveryAnswer {
        Self.lock.withLock { FileHandle.standardOutput.write(Data(body + [0x0A])) }
        return DeliveryAnswer(code: 200)
    }
}

/// A wake-up call between tasks: `signal` wakes the waiter (or the next one to wait, at once).
final class Signal: @unchecked Sendable {
    private let lock = NSLock()
    private var pending = false
    private var waiter: (id: Int, continuation: CheckedContinuation<Void, Never>)?
    private var nextID = 0

    func signal() {
        lock.lock()
        if let w = waiter {
            waiter = nil
            lock.unlock()
            w.continuation.resume()
        } else {
            pending = true
            lock.unlock()
        }
    }

    /// Returns when signalled, or after `seconds`.
    func wait(seconds: Double) async {
        let id: Int = lock.withLock {
            nextID += 1
            return nextID
        }
        let timer = Task {
            try? await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1e9))
            self.resume(id)
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            lock.lock()
            if pending {
                pending = false
                lock.unlock()
                c.resume()
            } else {
                waiter = (id, c)
                lock.unlock()
            }
        }
        timer.cancel()
    }

    private func resume(_ id: Int) {
        lock.lock()
        guard let w = waiter, w.id == id else { lock.unlock(); return }
        waiter = nil
        lock.unlock()
        w.continuation.resume()
    }
}

/// Delivers the outbox: for each channel with an adapter, takes its due messages up to the
/// channel's concurrency, makes one attempt each, and records every attempt with what follows
/// (delivered, a retry at a time, failed), in batches, one transaction each.
actor Deliverer {
    struct Channel {
        var adapter: any DeliveryAdapter
        var concurrency: Int
        var busy: Set<String> = []
    }

    struct Finished {
        var message: PendingDelivery
        var attempt: DeliveryAttempt
        var outcome: DeliveryOutcome
        var millis: Double
    }

    let host: EngineHost
    let scale: Double
    let logger: Logger
    let metrics: ServiceMetrics
    var channels: [String: Channel]
    var finished: [Finished] = []
    var running = 0
    let wake = Signal()
    var stopping = false

    init(host: EngineHost, channels: [String: (any DeliveryAdapter, Int)], scale: Double, logger: Logger, metrics: ServiceMetrics) {
        self.host = host
        self.scale = scale
        self.logger = logger
        self.metrics = metrics
        self.channels = channels.mapValues { Channel(adapter: $0.0, concurrency: $0.1) }
    }

    nonisolated func poke() { wake.signal() }

    /// Runs until stopped; then lets the attempts in flight end and records them.
    func run() async {
        while !stopping {
            let didWork = (try? await step()) ?? false
            if !didWork {
                let names = Array(channels.keys)
                let due = names.isEmpty ? nil : try? await host.nextDeliveryDue(channels: names)
                let now = Date().timeIntervalSince1970
                // Never longer than a second: a redelivery from the command line is noticed.
                await wake.wait(seconds: min(1, max(0.001, (due ?? now + 1) - now)))
            }
        }
        let deadline = Date().addingTimeInterval(60)
        while running > 0 && Date() < deadline { await wake.wait(seconds: 0.05) }
        _ = try? await record()
    }

    func stop() {
        stopping = true
        wake.signal()
    }

    /// Records what finished, then starts what is due; whether anything happened.
    func step() async throws -> Bool {
        let recorded = try await record()
        var started = 0
        let now = Date().timeIntervalSince1970
        for name in channels.keys.sorted() {
            guard let c = channels[name], c.busy.count < c.concurrency else { continue }
            // Claimed (on a queue several servers share) for twice the longest attempt and a
            // margin for recording it: a server that dies leaves its claims to the others then.
            let due = try await host.dueDeliveries(channel: name, now: now, limit: c.concurrency - c.busy.count, busy: c.busy,
                                                   claimFor: 2 * c.adapter.longestAttempt + 10)
            for m in due {
                channels[name]?.busy.insert(m.id)
                started += 1
                running += 1
                let adapter = c.adapter
                Task { await self.attempt(m, adapter) }
            }
        }
        return recorded > 0 || started > 0
    }

    nonisolated func attempt(_ m: PendingDelivery, _ adapter: any DeliveryAdapter) async {
        let start = Date().timeIntervalSince1970
        let answer = await adapter.deliver(m, body: WebhookBody.make(m), at: start)
        let end = Date().timeIntervalSince1970
        let (outcome, text) = RetrySchedule.outcome(of: answer, attemptsBefore: m.attempts, now: end, scale: scale, jitter: Double.random(in: 0..<1))
        let attempt = DeliveryAttempt(at: start, code: answer.code, error: answer.error, outcome: text)
        await finish(Finished(message: m, attempt: attempt, outcome: outcome, millis: (end - start) * 1000))
    }

    func finish(_ f: Finished) {
        finished.append(f)
        running -= 1
        wake.signal()
    }

    /// Writes the finished attempts in one transaction, then frees their places.
    func record() async throws -> Int {
        guard !finished.isEmpty else { return 0 }
        let batch = finished
        finished.removeAll()
        do {
            try await host.recordAttempts(batch.map { (message: $0.message.id, attempt: $0.attempt, outcome: $0.outcome) })
        } catch {
            // Kept to record at the next step (their places stay taken meanwhile).
            finished = batch + finished
            throw error
        }
        for f in batch {
            channels[f.message.channel]?.busy.remove(f.message.id)
            var meta: Logger.Metadata = [
                "message": .string(f.message.id), "channel": .string(f.message.channel), "journey": .string(f.message.journey),
                "attempt": .stringConvertible(f.message.attempts + 1), "outcome": .string(f.attempt.outcome),
                "ms": .stringConvertible((f.millis * 10).rounded() / 10),
            ]
            if let c = f.attempt.code { meta["status"] = .stringConvertible(c) }
            if let e = f.attempt.error { meta["error"] = .string(e) }
            if case .retry(let at) = f.outcome { meta["next_attempt"] = .string(Value.iso8601(seconds: at)) }
            logger.info("delivery attempt", metadata: meta)
            metrics.delivery(channel: f.message.channel, result: f.attempt.outcome)
        }
        return batch.count
    }
}
