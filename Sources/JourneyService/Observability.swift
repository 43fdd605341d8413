import Foundation
import JourneyBytecode
import JourneyRuntime
import Logging
import Prometheus

/// The server's Prometheus metrics: what came in, what the engine did, what went out.
final class ServiceMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let accepted: Counter
    private let duplicates: Counter
    private let rejected: Counter
    private let events: Counter
    private let timers: Counter
    private let audienceRuns: Counter
    private let lock = NSLock()
    nonisolated(unsafe) private var messageSeq: Int64 = 0

    /// Messages are counted from `firstSeq` on (those written while this process runs).
    init(firstSeq: Int64 = 0) {
        messageSeq = firstSeq
        accepted = registry.makeCounter(name: "journey_events_accepted_total", help: "Events accepted by POST /v1/events.")
        duplicates = registry.makeCounter(name: "journey_events_duplicate_total", help: "Events acknowledged as duplicates (an id seen before).")
        rejected = registry.makeCounter(name: "journey_events_rejected_total", help: "Events rejected (kept in rejects).")
        events = registry.makeCounter(name: "journey_steps_events_total", help: "Events the engine processed.")
        timers = registry.makeCounter(name: "journey_steps_timers_total", help: "Timers the engine fired.")
        audienceRuns = registry.makeCounter(name: "journey_steps_audience_runs_total", help: "Daily audience runs.")
    }

    func ingest(accepted a: Int, duplicates d: Int, rejected r: Int) {
        accepted.increment(by: Int64(a)); duplicates.increment(by: Int64(d)); rejected.increment(by: Int64(r))
    }

    func steps(events e: Int, timers t: Int, audienceRuns a: Int) {
        events.increment(by: Int64(e)); timers.increment(by: Int64(t)); audienceRuns.increment(by: Int64(a))
    }

    func delivery(channel: String, result: String) {
        registry.makeCounter(name: "journey_deliveries_total", labels: [("channel", channel), ("result", result)],
                             help: "Delivery attempts by channel and result (delivered, retry, failed).").increment()
    }

    func request(route: String, method: String, status: Int, seconds: Double) {
        registry.makeDurationHistogram(name: "journey_http_request_duration_seconds",
                                       labels: [("route", route), ("method", method), ("status", String(status))],
                                       buckets: [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                                                 .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5)],
                                       help: "Request latency.").record(.nanoseconds(Int64(seconds * 1e9)))
    }

    /// Counts messages written since the last call (by journey, channel and status), and sets
    /// the backlog of pending deliveries.
    func observe(messages: [(journey: String, channel: String, status: String)], lastSeq: Int64, backlog: [(channel: String, count: Int)]) {
        for m in messages {
            registry.makeCounter(name: "journey_messages_total", labels: [("journey", m.journey), ("channel", m.channel), ("status", m.status)],
                                 help: "Messages written by the engine, by journey, channel and status.").increment()
        }
        lock.withLock { messageSeq = lastSeq }
        for b in backlog {
            registry.makeGauge(name: "journey_outbox_pending", labels: [("channel", b.channel)], help: "Messages waiting for delivery.").set(Double(b.count))
        }
    }

    var lastMessageSeq: Int64 { lock.withLock { messageSeq } }
}

/// One log line per call: JSON (for collectors) or `time level message key=value…` (for a
/// terminal), on standard error. Secrets never reach it: callers log ids and outcomes only.
struct LineLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .info
    let json: Bool
    let label: String
    static let lock = NSLock()

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        for (k, v) in event.metadata ?? [:] { all[k] = v }
        let time = Value.iso8601(seconds: Date().timeIntervalSince1970)
        var line: String
        if json {
            line = "{\"time\": \"\(time)\", \"level\": \"\(event.level)\", \"msg\": \(JSON.quote(event.message.description))"
            for k in all.keys.sorted() { line += ", \(JSON.quote(k)): \(JSON.quote(all[k]?.description ?? ""))" }
            line += "}"
        } else {
            line = "\(time) \(event.level) \(event.message)"
            for k in all.keys.sorted() { line += " \(k)=\(all[k]?.description ?? "")" }
        }
        Self.lock.withLock { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }
}
