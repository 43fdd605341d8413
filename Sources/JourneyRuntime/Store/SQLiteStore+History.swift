import Dispatch
import Foundation
import JourneyBytecode

// The event history and the inbox: what ingest writes, what the run takes, and what a
// history query sees (the state lives in SQLiteStore.swift, under History visibility).

extension SQLiteStore {
    func loadVisibility() throws {
        visibleThrough = (Int64.min, Int64.min)
        visibleDirty = false
        if let text = try meta("history_through") {
            let parts = text.split(separator: " ").compactMap { Int64($0) }
            if parts.count == 2 { visibleThrough = (parts[0], parts[1]) }
        }
        pendingLate = []
        let s = try statement("SELECT seq FROM inbox_late")
        while try s.step() { pendingLate.insert(s.int64(0)) }
        s.reset()
    }

    /// The history's mark as committed (what a transaction begins with).
    func committedMark() throws -> (at: Int64, seq: Int64) {
        let parts = try meta("history_through")?.split(separator: " ").compactMap { Int64($0) } ?? []
        return parts.count == 2 ? (parts[0], parts[1]) : (Int64.min, Int64.min)
    }

    /// Takes the events the run has taken out of `inbox` (`n` more this transaction). They
    /// wait there, below the mark, until nothing else is left, and then go all at once: SQLite
    /// empties a table without visiting its rows (deleting them one by one, in order, cost the
    /// run a tenth of its time). When the inbox never empties (events due later keep it busy),
    /// they go as one range once `inboxKeptLimit` have gathered.
    func dropTaken(adding n: Int) throws {
        let kept = (Int(try meta("inbox_kept") ?? "0") ?? 0) + n
        let rest = try statement("SELECT 1 FROM inbox WHERE (at, seq) > (?, ?) LIMIT 1")
        rest.bind(1, visibleThrough.at); rest.bind(2, visibleThrough.seq)
        let more = try rest.step()
        rest.reset()
        if !more {
            try statement("DELETE FROM inbox").run()
        } else if kept >= inboxKeptLimit {
            try deleteTakenInbox()
        }
        let now = !more || kept >= inboxKeptLimit ? 0 : kept
        if now != kept - n { try setMeta("inbox_kept", String(now)) }
    }

    /// Deletes what `inbox` holds up to the mark (all of it taken), as one range.
    func deleteTakenInbox() throws {
        let s = try statement("DELETE FROM inbox WHERE (at, seq) <= (?, ?)")
        s.bind(1, visibleThrough.at); s.bind(2, visibleThrough.seq)
        try s.run()
    }

    /// Drops the taken events `inbox` keeps, so that the file holds only what is still to do
    /// (commands call it as they finish, through `checkpoint`).
    func dropKeptInbox() throws {
        guard !readOnly, db.path != ":memory:", !db.inTransaction, let kept = try meta("inbox_kept"), kept != "0" else { return }
        try transaction {
            try deleteTakenInbox()
            try setMeta("inbox_kept", "0")
        }
    }

    /// Whether the run has taken the event with this key.
    func visible(_ at: Int64, _ seq: Int64) -> Bool {
        (at, seq) <= visibleThrough && (pendingLate.isEmpty || !pendingLate.contains(seq))
    }

    public func markTaken(at: Int64, seq: Int64) {
        take(at: at, seq: seq)
        // Without the event, the cache of taken events cannot follow: it is read again.
        if historyTakenOnly { forgetHistory() }
    }

    public func markTaken(_ e: InboxItem) {
        markTaken(e, decoded: nil)
    }

    public func markTaken(_ e: InboxItem, decoded: (record: Record, def: EventDef)?) {
        take(at: e.at, seq: e.seq)
        guard historyTakenOnly else { return }
        guard cachesUsable else { return forgetHistory() }
        if let kinds = historyReadKinds, !(kinds.count <= 8 ? historyReadKindList.contains(e.event) : kinds.contains(e.event)) {
            historyLeftOut.insert(e.event)
            return
        }
        let key = HistoryKey(profile: e.profile, event: e.event)
        // Found, or made and put in, with one lookup.
        let h = Self.rows(&historyCache[key, default: HistoryRows(from: Int64.min, capacity: 8)])
        lastHistory = (key, h)
        // Taken in order, the event goes at the end (anything else: the cache is read again).
        if let last = h.keys.last, last >= (e.at, e.seq) { return forgetHistory() }
        if let d = decoded {
            h.append(e.at, e.seq, e.data, decoded: d.record, for: d.def, d.record.event)
        } else {
            h.append(e.at, e.seq, e.data)
        }
        historyCacheRows += 1
        if historyCacheRows > historyCacheLimit { forgetHistory() }
    }

    @inline(__always) static func rows(_ h: inout HistoryRows) -> HistoryRows { h }

    /// Empties the history cache; reads go to the table (and may fill it again).
    func forgetHistory() {
        historyCache = [:]
        lastHistory = nil
        historyCacheRows = 0
        historyComplete = false
        historyTakenOnly = false
        historyLeftOut = []
        historyMisses = 0
    }

    public func readsHistory(of events: Set<String>) {
        historyReadKinds = (historyReadKinds ?? []).union(events)
        historyReadKindList = Array(historyReadKinds ?? [])
        // Read after all: what was left out of the cache is in the table only.
        if !historyLeftOut.isDisjoint(with: events) { forgetHistory() }
    }

    func take(at: Int64, seq: Int64) {
        takenThrough = (at, seq)
        if !pendingLate.isEmpty, pendingLate.remove(seq) != nil {
            takenLate.append((at, seq))
        } else {
            takenInOrder += 1
        }
        if (at, seq) > visibleThrough {
            visibleThrough = (at, seq)
            visibleDirty = true
        }
    }

    /// A profile's events of one kind since `since`, from the cache when it holds them
    /// (decoded up to `end` when asked), and the range of those the run has taken so far.
    func historyRows(profile: String, event: String, since: Int64?, decode: (def: EventDef, index: Int)?) throws -> (HistoryRows, start: Int, end: Int) {
        let from = since ?? Int64.min
        // An event left out of the cache of taken events (no journey was known to read it).
        if historyTakenOnly, historyLeftOut.contains(event) { forgetHistory() }
        let key = HistoryKey(profile: profile, event: event)
        let usable = { (c: HistoryRows) in decode.map { c.canDecode($0.def, $0.index) } ?? true }
        let h: HistoryRows
        if cachesUsable, let last = lastHistory, last.key == key, last.rows.from <= from, usable(last.rows) {
            // The history just taken into or read (an event's own kind, usually): no lookup.
            h = last.rows
        } else if cachesUsable, let cached = historyCache[key], cached.from <= from, usable(cached) {
            h = cached
        } else if cachesUsable, try historyIsComplete() {
            // Complete: a key the cache lacks has no events.
            if let cached = historyCache[key], usable(cached) { h = cached } else if historyCache[key] != nil {
                // (Holding only what is taken, the cache keeps to that.)
                h = try loadHistory(profile: profile, event: event, from: Int64.min, through: historyTakenOnly ? visibleThrough : nil)
                historyCache[key] = h
            } else {
                h = HistoryRows(from: Int64.min)
                historyCache[key] = h
            }
        } else {
            h = try loadHistory(profile: profile, event: event, from: from)
            if cachesUsable {
                if historyCacheRows + h.count > historyCacheLimit {
                    historyCache = [:]
                    historyCacheRows = 0
                }
                historyCacheRows += h.count - (historyCache[key]?.count ?? 0)
                historyCache[key] = h
            }
        }
        if cachesUsable { lastHistory = (key, h) }
        let end = h.end(visibleThrough)
        if let d = decode { h.decode(d.def, d.index, upTo: end) }
        return (h, h.start(from), end)
    }

    /// A profile's events of one kind from `from` on (only up to `through`, when given).
    func loadHistory(profile: String, event: String, from: Int64, through: (at: Int64, seq: Int64)? = nil) throws -> HistoryRows {
        try flushDeferredHistory()
        let s = try statement("SELECT at, seq, data FROM events WHERE profile = ? AND event = ? AND at >= ? ORDER BY at, seq")
        defer { s.reset() }
        s.bind(1, profile); s.bind(2, event); s.bind(3, from)
        let h = HistoryRows(from: from)
        while try s.step() {
            let key = (s.int64(0), s.int64(1))
            if let last = through, key > last { break }
            h.append(key.0, key.1, s.blob(2))
        }
        return h
    }

    /// Whether the history cache holds every row; counts a miss, and after enough of them
    /// tries to make it so.
    func historyIsComplete() throws -> Bool {
        if historyComplete { return true }
        historyMisses += 1
        return historyMisses == missesBeforeScan ? try loadAllHistory() : false
    }

    /// Reads the whole history into the cache, unless it holds more rows than the cache does.
    func loadAllHistory() throws -> Bool {
        try flushDeferredHistory()
        guard try !hasMoreRows("SELECT 1 FROM events LIMIT 1 OFFSET ?", than: historyCacheLimit) else { return false }
        let s = try statement("SELECT profile, event, at, seq, data FROM events ORDER BY profile, event, at, seq")
        defer { s.reset() }
        var all: [HistoryKey: HistoryRows] = [:]
        var current: HistoryRows?
        var lastProfile = "", lastEvent = ""
        var count = 0
        while try s.step() {
            count += 1
            // Rows come in key order: a new (profile, event) starts a new entry.
            if current == nil || !s.textEquals(0, as: lastProfile) || !s.textEquals(1, as: lastEvent) {
                lastProfile = s.text(0)
                lastEvent = s.text(1)
                let h = HistoryRows(from: Int64.min)
                all[HistoryKey(profile: lastProfile, event: lastEvent)] = h
                current = h
            }
            current?.append(s.int64(2), s.int64(3), s.blob(4))
        }
        // Decode every row for the current schema on every core (each entry is decoded by one
        // thread only); queries from another bundle's definition read their rows again.
        var work: [(HistoryRows, EventDef, Int)] = []
        for (key, h) in all {
            if let i = schema.eventIndex(key.event) { work.append((h, schema.events[i], i)) }
        }
        let parts = min(ProcessInfo.processInfo.activeProcessorCount, 8)
        nonisolated(unsafe) let shared = work
        DispatchQueue.concurrentPerform(iterations: max(1, parts)) { p in
            var i = p
            while i < shared.count {
                let (h, def, index) = shared[i]
                h.decode(def, index, upTo: h.count)
                i += max(1, parts)
            }
        }
        historyCache = all
        lastHistory = nil
        historyCacheRows = count
        historyComplete = true
        return true
    }

    public func records(profile: String, event def: EventDef, index: Int, since: Int64?) throws -> ArraySlice<Record> {
        let (h, start, end) = try historyRows(profile: profile, event: def.name, since: since, decode: (def, index))
        guard start < end else { return [] }
        if pendingLate.isEmpty { return h.records[start..<end] }
        return ArraySlice((start..<end).filter { visible(h.keys[$0].at, h.keys[$0].seq) }.map { h.records[$0] })
    }

    public func historyCount(profile: String, event: String, since: Int64?) throws -> Int {
        let (h, start, end) = try historyRows(profile: profile, event: event, since: since, decode: nil)
        guard start < end else { return 0 }
        if pendingLate.isEmpty { return end - start }
        return (start..<end).count { visible(h.keys[$0].at, h.keys[$0].seq) }
    }

    public func enqueue(_ events: [IncomingRow]) throws {
        try enqueue(events, deferringHistory: false, historyOrder: nil)
    }

    /// `enqueue`, with the history rows held back until `flushDeferredHistory` (or the commit):
    /// a whole transaction's rows then go into the history table in its key order, each page
    /// written once, instead of one batch at a time across the table. Given the rows' order in
    /// that key (a permutation of their indices; anything else is ignored), the held rows come
    /// in sorted runs, which the commit's sort merges rather than sorts.
    public func enqueue(_ events: [IncomingRow], deferringHistory: Bool, historyOrder: [Int]?) throws {
        // Which events are late is decided against the mark as this transaction holds it.
        guard db.inTransaction else {
            return try transaction { try enqueue(events, deferringHistory: false, historyOrder: historyOrder) }
        }
        if lastSeq == nil { lastSeq = Int64(try meta("inbox_seq") ?? "0") ?? 0 }
        let first = (lastSeq ?? 0) + 1
        lastSeq = (lastSeq ?? 0) + Int64(events.count)
        seqDirty = true
        // An event behind what the run has taken is late: it waits in a table of its own.
        let late = visibleThrough.at == Int64.min ? [] : events.indices.filter { (events[$0].at, first + Int64($0)) <= visibleThrough }
        func insert(_ table: String, _ rows: [Int]) throws {
            try bulkInsert(table, ["at", "seq", "profile", "event", "data"], count: rows.count, bytes: { i in
                let e = events[rows[i]]
                return e.profile.utf8.count + e.event.utf8.count + e.data.count
            }) { s, base, i, scratch in
                let k = rows[i]
                let e = events[k]
                s.bind(base + 1, e.at); s.bind(base + 2, first + Int64(k))
                scratch.text(s, base + 3, e.profile); scratch.text(s, base + 4, e.event); scratch.blob(s, base + 5, e.data)
            }
        }
        var inOrder = Array(events.indices)
        if !late.isEmpty {
            var isLate = [Bool](repeating: false, count: events.count)
            for k in late { isLate[k] = true }
            inOrder.removeAll { isLate[$0] }
        }
        // What comes after the last page goes into pages (when enough does), the rest in rows.
        try insert("inbox", try writePages(events, first: first, indices: inOrder))
        try insert("inbox_late", late)
        // Room grows by doubling: reserving just what each batch needs copied every row held so
        // far at every batch (a twentieth of an ingest's writing thread).
        let needed = deferredHistory.count + events.count
        if deferredHistory.capacity < needed { deferredHistory.reserveCapacity(max(needed, 2 * deferredHistory.capacity)) }
        func hold(_ k: Int) {
            let e = events[k]
            deferredHistory.append(HistoryInsert(profile: e.profile, event: e.event, at: e.at, seq: first + Int64(k), data: e.data))
        }
        if let order = historyOrder, Self.isPermutation(order, of: events.count) { order.forEach(hold) } else { events.indices.forEach(hold) }
        // Held back only so many: a transaction of millions writes them in sorted runs.
        if !deferringHistory || deferredHistory.count >= deferredHistoryLimit { try flushDeferredHistory() }
        try insertKeys(events, firstSeq: first)
        try countPairs(events, firstSeq: first)
        // Cached histories do not have these yet (nor is the cache complete any more); any that
        // arrived behind what the run has taken wait unseen until it takes them.
        forgetHistory()
        for k in late { pendingLate.insert(first + Int64(k)) }
    }

    /// Whether `order` holds each of `0..<count` once.
    static func isPermutation(_ order: [Int], of count: Int) -> Bool {
        guard order.count == count else { return false }
        var seen = [Bool](repeating: false, count: count)
        for k in order {
            guard k >= 0, k < count, !seen[k] else { return false }
            seen[k] = true
        }
        return true
    }

    /// Writes the history rows `enqueue` held back, in the table's key order. Everything that
    /// reads or deletes history rows calls it first, and so does the commit.
    public func flushDeferredHistory() throws {
        guard !deferredHistory.isEmpty else { return }
        let events = deferredHistory
        deferredHistory = []
        do {
            try writeHistory(events)
        } catch {
            // The transaction now lacks history rows its inbox holds: only a rollback ends it.
            historyWriteFailed = true
            throw error
        }
    }

    private func writeHistory(_ events: [HistoryInsert]) throws {
        // (Rows that come in sorted runs, as an ingest's pieces do, sort in a few merges.)
        let order = StoreSchema.historyOrder(count: events.count, profile: { events[$0].profile }, event: { events[$0].event },
                                             at: { events[$0].at }, tiebreak: { events[$0].seq })
        try bulkInsert("events", ["profile", "event", "at", "seq", "data"], count: order.count,
                       bytes: { events[order[$0]].profile.utf8.count + events[order[$0]].event.utf8.count + events[order[$0]].data.count }) { s, base, i, scratch in
            let e = events[order[i]]
            scratch.text(s, base + 1, e.profile); scratch.text(s, base + 2, e.event)
            s.bind(base + 3, e.at); s.bind(base + 4, e.seq); scratch.blob(s, base + 5, e.data)
        }
    }

    public func nextInbox(until: Int64?) throws -> InboxItem? {
        try inbox(until: until, limit: 1).first
    }

    public func inbox(until: Int64?, limit: Int) throws -> [InboxItem] {
        var out: [InboxItem] = []
        func read(_ s: Statement, after: (at: Int64, seq: Int64), _ limit: Int, into out: inout [InboxItem]) throws {
            s.bind(1, after.at); s.bind(2, after.seq); s.bind(3, until ?? Int64.max); s.bind(4, limit)
            while try s.step() { out.append(InboxItem(seq: s.int64(0), profile: s.text(1), event: s.text(2), at: s.int64(3), data: s.blob(4))) }
            s.reset()
        }
        // Outside a transaction, what is committed (the marks in memory may be another
        // transaction's, or one rolled back).
        let inTransaction = db.inTransaction
        // Late arrivals first: each is behind every event the run has taken, so before any
        // other. Those this transaction took wait for the commit to leave: read on after them.
        if !inTransaction || !pendingLate.isEmpty {
            try read(try statement("SELECT seq, profile, event, at, data FROM inbox_late WHERE (at, seq) > (?, ?) AND at <= ? ORDER BY at, seq LIMIT ?"),
                     after: inTransaction ? takenThrough ?? (Int64.min, Int64.min) : (Int64.min, Int64.min), limit, into: &out)
        }
        // Then the inbox past the mark (what it holds up to the mark is taken): its rows and its
        // pages, merged in key order.
        if out.count < limit {
            let mark = inTransaction ? visibleThrough : try committedMark()
            let want = limit - out.count
            var rows: [InboxItem] = []
            try read(try statement("SELECT seq, profile, event, at, data FROM inbox WHERE (at, seq) > (?, ?) AND at <= ? ORDER BY at, seq LIMIT ?"),
                     after: mark, want, into: &rows)
            let paged = try pagedInbox(after: mark, until: until, limit: want)
            var i = 0, j = 0
            while out.count < limit, i < rows.count || j < paged.count {
                if j == paged.count || (i < rows.count && (rows[i].at, rows[i].seq) < (paged[j].at, paged[j].seq)) {
                    out.append(rows[i]); i += 1
                } else {
                    out.append(paged[j]); j += 1
                }
            }
        }
        return out
    }
}
