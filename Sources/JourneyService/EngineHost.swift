import Foundation
import JourneyBytecode
import JourneyDiagnostics
import JourneyRuntime

/// The engine behind the HTTP layer: one actor owns it (and its database connection), so
/// requests, the wall-clock steps and the deliverer's records take turns. It knows nothing of
/// HTTP. On SQLite one server works on a database; on a store that many share (PostgreSQL)
/// each server is one of the workers, with its part of the profiles, and takes its part of
/// the delivery queue.
actor EngineHost {
    let engine: Engine
    let store: any ServiceStore

    init(_ config: ServiceConfiguration) throws {
        let store = try config.open(readOnly: false)
        if let file = store as? SQLiteStore, !file.claimRunner() {
            throw ServiceError("\(config.databaseName): another 'journey run' or 'journey serve' is already processing this database")
        }
        self.store = store
        engine = try Engine(store: store)
        // Short transactions: requests and delivery records get their turn between them.
        engine.batchTime = 0.05
        guard engine.schema != nil else { throw ServiceError("\(config.databaseName): no bundle is deployed; run 'journey deploy' first") }
        if let shared = store as? any SharedWorkStore { try shared.becomeWorker(lease: config.workerLease) }
    }

    /// Runs a write; on a shared store, one that surely did not commit (a lease lost, the lock
    /// needed alone, a transient failure) is made again after recovering, a few times at most;
    /// after any other setback (the session lost, perhaps during the commit) the store recovers
    /// and the error goes to the caller, who may retry (event ids make that safe). `alone`: the
    /// write spans partitions, and holds the writers' lock alone from its start.
    func write<T>(alone: Bool = false, _ body: () throws -> T) throws -> T {
        var tries = 0
        while true {
            let shared = store as? any SharedWorkStore
            if alone { shared?.holdAloneNext() }
            do {
                return try body()
            } catch {
                guard let shared, shared.isSetback(error) else { throw error }
                let again = shared.isRetryable(error) && tries < 5
                try shared.recover()
                guard again else { throw error }
                tries += 1
            }
        }
    }

    /// The deployed bundle's hash and schema, for reading a request outside the actor.
    func currentSchema() -> (hash: String?, schema: RuntimeSchema?) {
        // A bundle deployed beside the server counts from the next request on.
        try? engine.adoptDeployedBundle()
        return (engine.currentHash, engine.schema)
    }

    /// Reads a batch of events (one JSON text each, without line breaks) as `journey ingest`
    /// reads a file. When one of them is not JSON at all, `NotJSON` says which.
    nonisolated static func read(_ items: [[UInt8]], schema: RuntimeSchema) throws -> EventFile {
        // The items as lines of one file; a reject keeps its item's text as `raw`.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(items.reduce(0) { $0 + $1.count + 1 })
        for item in items {
            bytes += item
            bytes.append(0x0A)
        }
        let file = EventInput.parseFile(bytes, schema: schema, parts: items.count >= 64 ? ProcessInfo.processInfo.activeProcessorCount : 1)
        if let bad = file.errors.first(where: { $0.reason.hasPrefix(EventInput.notJSON) }) {
            throw NotJSON(index: bad.line - 1, reason: bad.reason)
        }
        return file
    }

    /// Requests waiting to be stored, and whether a drain is under way.
    struct WaitingIngest {
        var items: [[UInt8]]
        var file: EventFile
        var hash: String?
        var answer: CheckedContinuation<IngestSummary, Error>
    }
    var waiting: [WaitingIngest] = []
    var draining = false

    /// Stores a batch of events durably and answers after the commit. `file` was read with the
    /// schema of bundle `hash` (outside the actor, so requests read in parallel); if another
    /// bundle was deployed since, the items are read again. Requests that arrive while others
    /// are being stored are committed together, in one transaction (group commit), each with
    /// its own answer.
    func ingest(_ items: [[UInt8]], read file: EventFile, hash: String?) async throws -> IngestSummary {
        try await withCheckedThrowingContinuation { answer in
            waiting.append(WaitingIngest(items: items, file: file, hash: hash, answer: answer))
            if !draining {
                draining = true
                Task { self.drain() }
            }
        }
    }

    func drain() {
        while !waiting.isEmpty {
            let arrived = waiting
            waiting.removeAll()
            // Items read with another bundle's schema are read again; one not JSON fails alone.
            var group: [WaitingIngest] = []
            for var w in arrived {
                if w.hash != engine.currentHash {
                    guard let schema = engine.schema else { w.answer.resume(throwing: ServiceError("no bundle is deployed")); continue }
                    do {
                        w.file = try Self.read(w.items, schema: schema)
                        w.hash = engine.currentHash
                    } catch {
                        w.answer.resume(throwing: error)
                        continue
                    }
                }
                group.append(w)
            }
            guard !group.isEmpty else { continue }
            do {
                let answers = try store(group)
                for (w, a) in zip(group, answers) { w.answer.resume(returning: a) }
            } catch {
                for w in group { w.answer.resume(throwing: error) }
            }
        }
        draining = false
    }

    /// One transaction for several requests: their items become the lines of one file, and the
    /// summary is cut back into one answer per request.
    func store(_ group: [WaitingIngest]) throws -> [IngestSummary] {
        var bytes: [UInt8] = []
        var pieces: [IngestPiece] = []
        var firstLines: [Int] = []
        var line = 0
        for w in group {
            let shift = bytes.count
            firstLines.append(line + 1)
            var events = w.file.events
            for k in events.indices {
                events[k].line += line
                events[k].start += shift
                events[k].end += shift
            }
            var errors = w.file.errors
            for k in errors.indices { errors[k].line += line }
            bytes += w.file.bytes
            line += w.items.count
            pieces.append(IngestPiece(events: events[...], errors: errors, throughLine: line))
        }
        var next = 0
        let total = try write(alone: true) { next = 0; return try engine.ingest(pieces: {
            defer { next += 1 }
            return next < pieces.count ? pieces[next] : nil
        }, of: bytes, source: "POST /v1/events", transactionSize: Int.max) }
        // Back to one answer per request, with its own item numbers.
        var answers: [IngestSummary] = []
        for (k, w) in group.enumerated() {
            let range = firstLines[k]..<(firstLines[k] + w.items.count)
            var rejected = total.rejected.filter { range.contains($0.line) }
            for i in rejected.indices { rejected[i].line -= firstLines[k] - 1 }
            let duplicates = total.duplicateLines.filter { range.contains($0) }.count
            // Of its events, those for unknown profiles were rejected too (after reading).
            let unreadable = Set(w.file.errors.map(\.line))
            let unknown = rejected.filter { !unreadable.contains($0.line) }.count
            answers.append(IngestSummary(ingested: w.file.events.count - unknown - duplicates, duplicates: duplicates, rejected: rejected))
        }
        return answers
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
            return try write { try engine.importProfiles([row]).first?.reason }
        case .failure(let e)?:
            return e.reason
        case nil:
            return "the body is empty"
        }
    }

    /// Runs what is due by now, for at most about 0.1 s: a burst of work is done in slices, so
    /// that requests (acknowledgements, in-app reads) never wait long behind it. The caller goes
    /// on at once while slices come back with work done.
    func step() throws -> RunStats {
        let started = DispatchTime.now().uptimeNanoseconds
        engine.stopRequested = { DispatchTime.now().uptimeNanoseconds - started > 100_000_000 }
        defer { engine.stopRequested = nil }
        do {
            return try engine.run(until: Int64(Date().timeIntervalSince1970))
        } catch {
            // A worker that lost a lease or its session keeps nothing of the step: it looks at
            // the leases again and goes on with the partitions it holds.
            guard let shared = store as? any SharedWorkStore, shared.isSetback(error) else { throw error }
            try shared.recover()
            return RunStats()
        }
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

    /// A SQLite database folds its write-ahead log back; a worker gives its partitions back.
    func close() { try? engine.store.checkpoint() }

    // MARK: - Deliveries

    func dueDeliveries(channel: String, now: Double, limit: Int, busy: Set<String>, claimFor: Double) throws -> [PendingDelivery] {
        try store.dueDeliveries(channel: channel, now: now, limit: limit, busy: busy, claimFor: claimFor)
    }

    func nextDeliveryDue(channels: [String]) throws -> Double? {
        try store.nextDeliveryDue(channels: channels)
    }

    /// Records finished attempts in one transaction that does not wait for the disk: a power
    /// cut may forget it, and then those messages go again (at least once, with the same id).
    func recordAttempts(_ batch: [(message: String, attempt: DeliveryAttempt, outcome: DeliveryOutcome)]) throws {
        try write { try store.recordAttempts(batch) }
    }

    func lastOutboxSeq() -> Int64 { (try? store.lastOutboxSeq()) ?? 0 }

    /// Messages written since `afterSeq` (journey, channel, status), at most 50,000 a scrape
    /// (the next scrape goes on), and the backlog, for metrics.
    func messagesSince(_ afterSeq: Int64) throws -> (rows: [(journey: String, channel: String, status: String)], last: Int64, backlog: [(channel: String, count: Int)]) {
        var rows: [(journey: String, channel: String, status: String)] = []
        var last = afterSeq
        while rows.count < 50_000 {
            let page = try store.outbox(afterSeq: last, limit: 10_000)
            for m in page { rows.append((m.journey, m.channel ?? "none", m.status)) }
            guard let end = page.last else { break }
            last = end.seq
        }
        return (rows, last, try store.pendingCounts())
    }

    // MARK: - Profiles

    /// The 360° view of a profile as JSON, or nil when there is no such profile.
    func profileView(id: String) throws -> String? {
        try profile(id: id)?.json()
    }

    /// The 360° view of a profile, or nil when there is no such profile.
    func profile(id: String) throws -> ProfileView? {
        guard let schema = engine.schema else { return nil }
        return try ProfileView.build(store, schema: schema, id: id)
    }

    /// Erases a profile; whether it existed.
    func erase(id: String) throws -> Bool {
        let existed = try write(alone: true) { try store.transaction { try store.erase(profile: id) } }
        // The old pages leave SQLite's write-ahead log too.
        if store is SQLiteStore { try? store.checkpoint() }
        return existed
    }

    /// The profile's live in-app messages as JSON, newest first: in each slot the newest message
    /// only, while it has not expired and was not dismissed.
    func inApp(id: String, slot: String?, now: Int64) throws -> String {
        var seen: Set<String> = []
        var out: [String] = []
        for m in try store.messages(profile: id, channel: "in_app", limit: 500) where m.message.status == "sent" {
            var slotName = "default", text = "", expires: Int64 = 7 * 86_400
            switch m.message.content.flatMap({ try? JSON.parse(Array($0.utf8)) }) {
            case .object(let members)?:
                for (k, v) in members {
                    guard case .string(let s) = v else { continue }
                    switch k {
                    case "slot": slotName = s
                    case "content": text = s
                    case "expires": expires = ValueCoder.duration(s) ?? expires
                    default: break
                    }
                }
            case .string(let s)?: text = s
            default: continue
            }
            guard !seen.contains(slotName) else { continue }
            seen.insert(slotName)
            if let wanted = slot, wanted != slotName { continue }
            let (ends, overflow) = m.message.at.addingReportingOverflow(expires)
            let expiresAt = overflow ? Int64.max : ends
            guard expiresAt > now else { continue }
            if try store.receipts(message: m.message.id).contains(where: { $0.status == "dismissed" }) { continue }
            out.append("{\"id\": \(JSON.quote(m.message.id)), \"slot\": \(JSON.quote(slotName)), \"content\": \(JSON.quote(text)), "
                       + "\"sent_at\": \(JSON.quote(Value.iso8601(m.message.at))), \"expires_at\": \(JSON.quote(Value.iso8601(min(expiresAt, Value.instantRange.upperBound))))}")
        }
        return "[" + out.joined(separator: ", ") + "]"
    }

    /// Records a receipt; false for an unknown message.
    func receipt(message: String, status: String, at: Int64) throws -> Bool {
        try write { try store.transaction { try store.addReceipt(message: message, status: status, at: at, receivedAt: Int64(Date().timeIntervalSince1970)) } }
    }
}

// MARK: - The console's writes

extension EngineHost {
    /// Puts a failed message back in the queue; nil when it was, else why not.
    func redeliver(id: String) throws -> String? {
        try write { try store.transaction { try store.redeliver(ids: [id], now: Date().timeIntervalSince1970) } }.first ?? "no message has this id"
    }

}
