import JourneyDiagnostics
import Dispatch
import JourneyBytecode

/// A piece of an events file as its parser hands it over: the events and rejected lines of
/// the piece (line numbers in the whole file) and the file's last line it covers.
public struct IngestPiece: Sendable {
    public var events: ArraySlice<EventFile.Event>
    public var errors: [InputError]
    public var throughLine: Int

    public init(events: ArraySlice<EventFile.Event>, errors: [InputError], throughLine: Int) {
        self.events = events
        self.errors = errors
        self.throughLine = throughLine
    }
}

/// Another ingest of the same file moved on while this one was starting.
public struct IngestConflict: Error, Sendable, CustomStringConvertible {
    public var source: String
    public var description: String { "\(source): another ingest of the same file got in first; nothing was added by this one. Run it again to go on from where that one stopped" }
}

/// What an ingest did (counting what an earlier, stopped ingest of the same file did).
public struct IngestSummary: Sendable {
    public var ingested: Int
    public var duplicates: Int
    /// The lines refused by this ingest: malformed, or for an unknown profile.
    public var rejected: [InputError]
    /// Set when an earlier ingest of the same file had stopped after this line.
    public var resumedAfterLine: Int?
    /// The lines that were duplicates (an id seen before for the profile).
    public var duplicateLines: [Int] = []

    public init(ingested: Int, duplicates: Int, rejected: [InputError], resumedAfterLine: Int? = nil) {
        self.ingested = ingested
        self.duplicates = duplicates
        self.rejected = rejected
        self.resumedAfterLine = resumedAfterLine
    }
}

extension Engine {
    /// Upserts profiles in one transaction. A partial row (`given`) changes only the attributes
    /// it gives; for a profile not stored yet it must give every required attribute, or it is
    /// refused and returned with the reason.
    @discardableResult
    public func importProfiles(_ rows: [ProfileRow]) throws -> [(index: Int, id: String, reason: String)] {
        var refused: [(index: Int, id: String, reason: String)] = []
        try store.begin()
        do {
            for (index, r) in rows.enumerated() {
                guard let given = r.given else {
                    try store.saveProfile(r.id, r.values)
                    continue
                }
                if var stored = try store.loadProfile(r.id) {
                    for k in r.values.indices where k < given.count && given[k] && k < stored.count { stored[k] = r.values[k] }
                    // A required attribute cannot be set to none by a partial update either.
                    if let schema = current?.schema, let k = stored.indices.first(where: { $0 < schema.attributes.count && stored[$0] == .none && !schema.attributes[$0].type.isOptional }) {
                        refused.append((index, r.id, "profile \(JSON.quote(r.id)): attribute \(JSON.quote(schema.attributes[k].name)) is required; it cannot be set to null"))
                        continue
                    }
                    try store.saveProfile(r.id, stored)
                } else {
                    let schema = current?.schema ?? RuntimeSchema()
                    let missing = schema.attributes.indices.filter { !(given.indices.contains($0) && given[$0]) && !schema.attributes[$0].type.isOptional }
                    if !missing.isEmpty {
                        refused.append((index, r.id, "profile \(JSON.quote(r.id)) is not stored yet, so it needs every required attribute; missing " + missing.map { JSON.quote(schema.attributes[$0].name) }.joined(separator: ", ")))
                        continue
                    }
                    try store.saveProfile(r.id, r.values)
                }
            }
            try store.commit()
        } catch {
            store.rollback()
            throw error
        }
        return refused
    }

    /// Puts the valid events of a parsed file in the inbox and the history, and keeps its
    /// rejected lines, in one transaction (see `ingest(pieces:)`).
    public func ingest(_ file: EventFile, source: String) throws -> IngestSummary {
        var given = false
        return try ingest(pieces: {
            defer { given = true }
            return given ? nil : IngestPiece(events: file.events[...], errors: file.errors, throughLine: Int.max)
        }, of: file.bytes, source: source, transactionSize: Int.max)
    }

    /// Ingests an events file piece by piece, as a parser hands the pieces over (nil: no more),
    /// in transactions of about `transactionSize` events; `progress` hears the running count.
    /// Each transaction keeps the rejects of its lines with them. With `file` (the content
    /// hash), each also records how far the file got, so that an ingest that stopped can go on
    /// after the last line it committed (`resuming`) and a file ingested whole is known again.
    public func ingest(pieces next: () throws -> IngestPiece?, of bytes: [UInt8], source: String, file: String? = nil,
                       resuming previous: IngestProgress? = nil,
                       transactionSize: Int = 100_000, progress: (Int) -> Void = { _ in }) throws -> IngestSummary {
        let skip = previous?.lines ?? 0
        var summary = IngestSummary(ingested: previous?.events ?? 0, duplicates: previous?.duplicates ?? 0, rejected: [], resumedAfterLine: previous.map(\.lines))
        var known: [String: Bool] = [:]
        var done = 0, through = skip
        var open = false, inTransaction = 0, checkedProgress = false
        func record(complete: Bool) throws {
            guard let file else { return }
            try store.setIngestProgress(file: file, IngestProgress(source: source, lines: through, events: summary.ingested, duplicates: summary.duplicates, complete: complete))
        }
        do {
            while let piece = try next() {
                var events = skip == 0 ? piece.events : piece.events.drop { $0.line <= skip }
                var errors = (skip == 0 ? piece.errors : piece.errors.filter { $0.line > skip })[...]
                // A piece goes in as one or more chunks, each ending a transaction once it is
                // full; a chunk takes the rejected lines up to its last event with it.
                while true {
                    let chunk = events.prefix(max(1, transactionSize - inTransaction))
                    events = events.dropFirst(chunk.count)
                    // The piece's last chunk takes every rejected line left, whatever its number.
                    let last = events.isEmpty ? max(piece.throughLine, chunk.last?.line ?? 0, errors.last?.line ?? 0) : (chunk.last?.line ?? piece.throughLine)
                    let chunkErrors = errors.prefix { $0.line <= last }
                    errors = errors.dropFirst(chunkErrors.count)
                    through = max(through, last)
                    if chunk.isEmpty && chunkErrors.isEmpty { break }
                    if !open {
                        try store.begin()
                        open = true
                        // Another ingest of the same file may have got in first: go on only
                        // from what this one read, or stop.
                        if let file, !checkedProgress {
                            checkedProgress = true
                            if try store.ingestProgress(file: file) != previous { throw IngestConflict(source: source) }
                        }
                    }
                    for e in chunkErrors { try store.reject(source: source, line: e.line, reason: e.reason, raw: e.raw, at: now, profile: nil) }
                    summary.rejected += chunkErrors
                    let (unknown, duplicates) = try stage(chunk, source: source, raw: { i in EventFile.raw(chunk[chunk.startIndex + i], in: bytes) }, known: &known)
                    summary.rejected += unknown
                    summary.duplicates += duplicates.count
                    summary.duplicateLines += duplicates
                    summary.ingested += chunk.count - unknown.count - duplicates.count
                    inTransaction += chunk.count + chunkErrors.count
                    done += chunk.count
                    if inTransaction >= transactionSize {
                        try record(complete: false)
                        try store.commit()
                        open = false
                        inTransaction = 0
                    }
                    progress(done)
                    if events.isEmpty { break }
                }
            }
            if file != nil, !open {
                try store.begin()
                open = true
            }
            if open {
                try record(complete: true)
                try store.commit()
            }
        } catch {
            if open { store.rollback() }
            throw error
        }
        return summary
    }

    /// Validated events into the inbox and history, inside the caller's transaction; events for
    /// unknown profiles are rejected and returned, and events whose id was seen before are
    /// counted as duplicates and left out.
    func stage(_ events: ArraySlice<EventFile.Event>, source: String, raw: (Int) -> String, known: inout [String: Bool]) throws -> (rejected: [InputError], duplicates: [Int]) {
        guard let schema = current?.schema else { throw RuntimeFault(message: "no bundle is deployed; run 'journey deploy' first") }
        var rejected: [InputError] = []
        var duplicates: [Int] = []
        var rows: [IncomingRow] = []
        rows.reserveCapacity(events.count)
        var ranks: [Int32] = []
        ranks.reserveCapacity(events.count)
        let keyed = try store.historyKeyFields()
        let pairing = try store.pairingRules()
        // Which of the batch's profiles exist, asked once for all those not known yet.
        var unknown: [String] = []
        var asked = Set<String>()
        // Each event's profile as known before the batch (nil: asked now; catalog events: true).
        var exists = [Bool?](repeating: true, count: events.count)
        // (Each event's parts are read in place: a copy of the whole event for each loop
        // retained and released its fields and blob, a tenth of this function's time.)
        let first = events.startIndex
        for k in events.indices where !schema.events[events[k].event.event].catalog {
            let i = k - first, profile = events[k].event.profile
            if let known = known[profile] { exists[i] = known; continue }
            exists[i] = nil
            if asked.insert(profile).inserted { unknown.append(profile) }
        }
        var existing = Set<String>()
        if !unknown.isEmpty {
            existing = try store.existingProfiles(unknown)
            for id in unknown { known[id] = existing.contains(id) }
        }
        for k in events.indices {
            let i = k - first, line = events[k].line, profile = events[k].event.profile, at = events[k].event.at
            // Every profile of the batch is known by now (asked for above).
            guard exists[i] ?? existing.contains(profile) else {
                let err = InputError(line: line, reason: "unknown profile '\(profile)': import the profile before its events", raw: raw(i))
                try store.reject(source: source, line: line, reason: err.reason, raw: err.raw, at: at, profile: profile)
                rejected.append(err)
                continue
            }
            if let id = events[k].event.id, try !store.claimEventID(profile: profile, id: id) {
                duplicates.append(line)
                continue
            }
            let def = schema.events[events[k].event.event]
            var keys: [(field: String, key: String)] = []
            for field in keyed[def.name] ?? [] {
                for key in ValueEncoding.indexKeys(events[k].event.fields, at: def.fieldIndex(field)) { keys.append((field, key)) }
            }
            var pairs: [(field: String, window: Int64, key: String)] = []
            for rule in pairing where rule.event == def.name {
                guard let key = ValueEncoding.indexKeys(events[k].event.fields, at: def.fieldIndex(rule.field)).first else { continue }
                pairs.append((rule.field, rule.window, key))
            }
            rows.append(IncomingRow(profile: profile, event: def.name, at: at, data: events[k].blob ?? ValueEncoding.eventBlob(events[k].event.fields, def), keys: keys, pairs: pairs))
            ranks.append(events[k].historyRank)
            // (`blob` is the parser's encoding: the events were parsed with this schema, as
            // `event.event` indexes it.)
        }
        // Written into the history in key order as the transaction ends (nothing in it reads
        // history); the parser's ranks give that order for the rows of one piece.
        try store.enqueue(rows, deferringHistory: true, historyOrder: Self.order(byRank: ranks))
        return (rejected, duplicates)
    }

    /// The indices of `ranks` in rank order, when every rank is known (not -1) and none
    /// repeats; nil otherwise. (Ranks of a whole piece are dense: placed in slots; those of a
    /// small part of a big piece are sorted.)
    static func order(byRank ranks: [Int32]) -> [Int]? {
        guard let top = ranks.max(), top >= 0, ranks.min() ?? 0 >= 0 else { return nil }
        guard Int(top) < 4 * ranks.count + 1024 else {
            let order = ranks.indices.sorted { ranks[$0] < ranks[$1] }
            for (a, b) in zip(order, order.dropFirst()) where ranks[a] == ranks[b] { return nil }
            return order
        }
        var slots = [Int](repeating: -1, count: Int(top) + 1)
        for (k, r) in ranks.enumerated() {
            guard slots[Int(r)] < 0 else { return nil }
            slots[Int(r)] = k
        }
        return slots.filter { $0 >= 0 }
    }

    public func recordRejects(_ errors: [InputError], source: String) throws {
        guard !errors.isEmpty else { return }
        try store.transaction {
            for e in errors { try store.reject(source: source, line: e.line, reason: e.reason, raw: e.raw, at: now, profile: nil) }
        }
    }
}
