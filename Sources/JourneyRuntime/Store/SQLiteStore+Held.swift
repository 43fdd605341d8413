import JourneyBytecode

// Instances, timers and messages held until the transaction commits.
//
// A run's transaction spans thousands of steps and hours of journey time: an instance that
// enters, waits an hour and sends is inserted, given a timer, loaded, updated and its timer
// deleted, all before the commit. Held in memory instead, it is written once, as the commit
// leaves it, and a timer set and fired in the same transaction is never written at all. The
// store's own reads (an instance by id, a profile's active instances, the next timers, the
// entry counts) see what is held; any other read of these tables in the transaction writes
// the held rows first (`flushHeld`). The commit writes them before anything else; a rollback
// drops them with everything else the transaction did. At most `heldLimit` instances and
// timers are held: past it (a catalog event entering a million profiles) all of them are
// written, and holding starts again.
//
// Messages (outbox rows) are held the same way and written many rows to a statement: only
// the cap's count reads them back within the transaction (it adds the held ones); a faulted
// step's are dropped; every other read of the outbox writes them first.

extension SQLiteStore {
    /// One held instance: what its row is to become.
    struct HeldInstance {
        enum Write {
            /// A new row (`row` as it stands now).
            case insert
            /// A stored row rewritten: place, values, sends, status, end.
            case update
            /// A stored row ended: status, sends and end only (its place and values stay as
            /// stored; `row`'s are not used).
            case end
        }
        var write: Write
        var row: InstanceRow
        var endedAt: Int64?
        /// For an insert: whether its values are written empty, as the direct writes left them
        /// (an instance inserted ended has none; one inserted waiting, or updated, keeps those
        /// of its last insert or update even once ended). The stored row is the same whether
        /// or not a commit fell between its writes.
        var emptyLocals = false
    }

    struct HeldTimer {
        var due: Int64
        var id: Int64
        var instance: Int64
        var key: (Int64, Int64) { (due, id) }
    }

    /// Writes every held instance and timer (those fired in this transaction are dropped: they
    /// would leave at commit anyway). Called by the commit, by any read of the instances or
    /// timers that does not look at what is held, and when too many are held.
    func flushHeld() throws {
        if heldCount > 0 { heldWritten = true }
        try flushHeldOutbox()
        if !heldInstances.isEmpty {
            // (Sorted and read in place: a held row is a dozen references, copied for nothing.)
            var held = Array(heldInstances.values)
            heldInstances = [:]
            heldByProfile = [:]
            held.sort { $0.row.id < $1.row.id }
            try writeInstances(held, held.indices.filter { held[$0].write == .insert })
            for i in held.indices {
                switch held[i].write {
                case .insert: break
                case .update: try rewriteInstance(held[i].row, endedAt: held[i].endedAt)
                case .end: try writeEnd(held[i].row, at: held[i].endedAt ?? 0)
                }
            }
        }
        if heldTimersStart < heldTimers.count {
            let s = try statement("INSERT INTO timers(id, due, instance) VALUES (?, ?, ?)")
            for t in heldTimers[heldTimersStart...] {
                s.bind(1, t.id); s.bind(2, t.due); s.bind(3, t.instance)
                try s.run()
            }
        }
        heldTimers = []
        heldTimersStart = 0
        heldTimerCount = [:]
    }

    /// Inserts new instances (`rows[picked[0]]`, `rows[picked[1]]`, …), many rows to a statement.
    func writeInstances(_ rows: [HeldInstance], _ picked: [Int]) throws {
        let empty = ValueEncoding.encode([])
        // An instance inserted ended needs no locals any more (see `HeldInstance.emptyLocals`).
        // (Encoded first, so that the scratch buffer is made big enough for them.)
        let locals = picked.map { rows[$0].emptyLocals ? empty : ValueEncoding.encode(rows[$0].row.locals) }
        try bulkInsert("instances", ["id", "journey", "profile", "bundle", "pc", "locals", "sends", "status", "entered_at", "ended_at"],
                       count: picked.count, bytes: { i in
            let r = rows[picked[i]].row
            return r.journey.utf8.count + r.profile.utf8.count + r.bundle.utf8.count + r.status.utf8.count + locals[i].count
        }, bind: { s, base, i, scratch in
            let k = picked[i]
            s.bind(base + 1, rows[k].row.id); scratch.text(s, base + 2, rows[k].row.journey); scratch.text(s, base + 3, rows[k].row.profile)
            scratch.text(s, base + 4, rows[k].row.bundle); s.bind(base + 5, rows[k].row.pc)
            scratch.blob(s, base + 6, locals[i])
            s.bind(base + 7, rows[k].row.sends); scratch.text(s, base + 8, rows[k].row.status); s.bind(base + 9, rows[k].row.enteredAt); s.bind(base + 10, rows[k].endedAt)
        })
    }

    /// Forgets what is held (the transaction rolled back).
    func dropHeld() {
        heldOutbox = []
        heldSentAt = [:]
        heldInstances = [:]
        heldByProfile = [:]
        heldTimers = []
        heldTimersStart = 0
        heldTimerCount = [:]
        lastTimerID = nil
        heldWritten = false
    }

    var heldCount: Int { heldInstances.count + heldTimers.count - heldTimersStart }

    func holdInstance(_ h: HeldInstance) throws {
        if heldInstances.updateValue(h, forKey: h.row.id) == nil { heldByProfile[h.row.profile, default: []].append(h.row.id) }
        if heldCount > heldLimit { try flushHeld() }
    }

    /// A profile's active instances among those stored (`stored`, read before the held rows
    /// were written) and those held, in id order.
    func mergeHeld(_ stored: [InstanceRow], profile: String) -> [InstanceRow] {
        guard !heldInstances.isEmpty else { return stored }
        var out: [InstanceRow] = []
        out.reserveCapacity(stored.count)
        for r in stored {
            if let h = heldInstances[r.id] {
                if h.row.status == "active" { out.append(h.row) }
            } else {
                out.append(r)
            }
        }
        if let ids = heldByProfile[profile] {
            let before = out.count
            // (Stored rows held for an update or an end came with `stored`.)
            for id in ids {
                if let h = heldInstances[id], h.write == .insert, h.row.status == "active" { out.append(h.row) }
            }
            if out.count > before, before > 0 { out.sort { $0.id < $1.id } }
        }
        return out
    }

    /// Entry counts of a (journey, profile) read from the table (`stored`, without what is
    /// held), with what is held added: new entries, and stored instances (active ones: only
    /// those are ever updated or ended) that ended in this transaction.
    func mergeHeld(_ stored: (active: Int, total: Int, lastEntered: Int64?), journey: String, profile: String) -> (active: Int, total: Int, lastEntered: Int64?) {
        guard let ids = heldByProfile[profile] else { return stored }
        var e = stored
        for id in ids {
            guard let h = heldInstances[id], h.row.journey == journey else { continue }
            switch h.write {
            case .insert:
                e.total += 1
                if h.row.status == "active" { e.active += 1 }
                e.lastEntered = max(e.lastEntered ?? h.row.enteredAt, h.row.enteredAt)
            case .update, .end:
                if h.row.status != "active" { e.active = max(0, e.active - 1) }
            }
        }
        return e
    }

    // MARK: Timers

    func holdTimer(due: Int64, instance: Int64) throws {
        let t = HeldTimer(due: due, id: try nextNumber(after: &lastTimerID, reading: "SELECT COALESCE(MAX(id), 0) FROM timers"), instance: instance)
        // In (due, id) order; a new timer is usually due after those held.
        var lo = heldTimersStart, hi = heldTimers.count
        if let last = heldTimers.last, last.key < t.key {
            lo = hi
        } else {
            while lo < hi {
                let mid = (lo + hi) / 2
                if heldTimers[mid].key < t.key { lo = mid + 1 } else { hi = mid }
            }
        }
        heldTimers.insert(t, at: lo)
        heldTimerCount[instance, default: 0] += 1
        if heldCount > heldLimit { try flushHeld() }
    }

    /// Held timers fired (up to `key`) leave the front of the list.
    func dropFiredHeld(through key: (Int64, Int64)) {
        while heldTimersStart < heldTimers.count, heldTimers[heldTimersStart].key <= key {
            let i = heldTimers[heldTimersStart].instance
            if let n = heldTimerCount[i] { heldTimerCount[i] = n > 1 ? n - 1 : nil }
            heldTimersStart += 1
        }
        if heldTimersStart == heldTimers.count {
            heldTimers.removeAll(keepingCapacity: true)
            heldTimersStart = 0
        } else if heldTimersStart > 1024, heldTimersStart * 2 > heldTimers.count {
            heldTimers.removeFirst(heldTimersStart)
            heldTimersStart = 0
        }
    }

    /// Removes an instance's held timers, returning their ids.
    func dropHeldTimers(instance: Int64) -> [Int64] {
        guard heldTimerCount[instance] != nil else { return [] }
        heldTimerCount[instance] = nil
        var gone: [Int64] = []
        var kept = heldTimers[heldTimersStart...].filter {
            if $0.instance == instance { gone.append($0.id); return false }
            return true
        }
        swap(&heldTimers, &kept)
        heldTimersStart = 0
        return gone
    }

    /// The first `limit` held timers after `after` and due by `until`, merged with `stored`
    /// (the table's first `limit`, in the same order): the first `limit` of both.
    func mergeHeldTimers(_ stored: [(id: Int64, due: Int64, instance: Int64)], after: (Int64, Int64), until: Int64, limit: Int) -> [(id: Int64, due: Int64, instance: Int64)] {
        guard heldTimersStart < heldTimers.count else { return stored }
        var out: [(id: Int64, due: Int64, instance: Int64)] = []
        out.reserveCapacity(min(limit, stored.count + heldTimers.count - heldTimersStart))
        var i = heldTimersStart, j = 0
        while i < heldTimers.count, heldTimers[i].key <= after { i += 1 }
        while out.count < limit {
            let h = i < heldTimers.count && heldTimers[i].due <= until ? heldTimers[i] : nil
            let s = j < stored.count ? stored[j] : nil
            switch (h, s) {
            case (nil, nil): return out
            case (let h?, nil): out.append((h.id, h.due, h.instance)); i += 1
            case (nil, let s?): out.append(s); j += 1
            case (let h?, let s?):
                if h.key < (s.due, s.id) { out.append((h.id, h.due, h.instance)); i += 1 } else { out.append(s); j += 1 }
            }
        }
        return out
    }
}

// MARK: - Messages

extension SQLiteStore {
    /// One message held until the transaction commits: the outbox row it becomes.
    struct HeldMessage {
        var seq: Int64
        var id: String
        var at: Int64
        var profile: String
        var journey: String
        var channel: String?
        var status: String
        var content: String?
        var reason: String?
        var address: String?
        var bundle: String?
        var step: Int?
    }

    func holdMessage(_ m: HeldMessage) throws {
        heldOutbox.append(m)
        if m.status == "sent" {
            heldSentAt[m.profile, default: []].append(m.at)
            if sentComplete { noteSent(m.profile, m.at) }
        }
        if heldOutbox.count > heldLimit { try flushHeldOutbox() }
    }

    /// Writes the held messages, in number order. Called by the commit (through `flushHeld`),
    /// by every read of the outbox other than the cap's count, and when too many are held.
    func flushHeldOutbox() throws {
        guard !heldOutbox.isEmpty else { return }
        let held = heldOutbox
        heldOutbox = []
        heldSentAt = [:]
        try writeOutbox(held)
    }

    /// Inserts messages into the outbox, many rows to a statement.
    func writeOutbox(_ rows: [HeldMessage]) throws {
        // (Texts are copied into the chunk's scratch buffer and bound from there: bound one by
        // one, SQLite copied each into an allocation of its own and freed it again.)
        func length(_ t: String?) -> Int { t?.utf8.count ?? 0 }
        try bulkInsert("outbox", ["seq", "id", "at", "profile", "journey", "channel", "status", "content", "reason", "address", "delivery", "next_attempt", "bundle", "step"],
                       count: rows.count, bytes: { i in
            length(rows[i].id) + length(rows[i].profile) + length(rows[i].journey) + length(rows[i].channel) + length(rows[i].status)
                + length(rows[i].content) + length(rows[i].reason) + length(rows[i].address) + length(rows[i].bundle) + "pending".utf8.count
        }, bind: { s, base, i, scratch in
            // (Each field read in place, not the whole message copied.)
            s.bind(base + 1, rows[i].seq); scratch.text(s, base + 2, rows[i].id); s.bind(base + 3, rows[i].at)
            scratch.text(s, base + 4, rows[i].profile); scratch.text(s, base + 5, rows[i].journey)
            scratch.text(s, base + 6, rows[i].channel); scratch.text(s, base + 7, rows[i].status); scratch.text(s, base + 8, rows[i].content)
            scratch.text(s, base + 9, rows[i].reason); scratch.text(s, base + 10, rows[i].address)
            // A sent message waits for its provider from the moment it was sent; in-app content
            // is read by the app, never delivered.
            if rows[i].status == "sent", let channel = rows[i].channel, channel != "in_app" {
                scratch.text(s, base + 11, "pending"); s.bind(base + 12, Double(rows[i].at))
            } else {
                s.bindNull(base + 11); s.bindNull(base + 12)
            }
            scratch.text(s, base + 13, rows[i].bundle); s.bind(base + 14, rows[i].step.map(Int64.init))
        })
    }

    /// Drops the held messages with these ids (a faulted step's), returning the ids not held.
    func dropHeldMessages(_ ids: [String]) -> [String] {
        guard !heldOutbox.isEmpty else { return ids }
        let gone = Set(ids)
        var stored = gone
        heldOutbox.removeAll { m in
            guard gone.contains(m.id) else { return false }
            stored.remove(m.id)
            if m.status == "sent" {
                Self.remove(m.at, from: &heldSentAt[m.profile])
                if sentComplete, Self.remove(m.at, from: &sentTimes[m.profile]) { sentCached -= 1 }
            }
            return true
        }
        return ids.filter { stored.contains($0) }
    }

    /// Takes one `at` out of a profile's send times; whether it was there.
    @discardableResult
    static func remove(_ at: Int64, from times: inout [Int64]?) -> Bool {
        guard var t = times, let i = t.lastIndex(of: at) else { return false }
        t.remove(at: i)
        times = t.isEmpty ? nil : t
        return true
    }

    /// How many held messages to `profile` were sent after `since`.
    func heldSent(profile: String, since: Int64) -> Int {
        Self.count(heldSentAt[profile], after: since)
    }

    static func count(_ times: [Int64]?, after since: Int64) -> Int {
        guard let times else { return 0 }
        var n = 0
        for t in times where t > since { n += 1 }
        return n
    }

    // MARK: Sent messages, counted from memory

    /// Reads every sent message's time into the cache, when the outbox holds few enough
    /// messages (once per generation of the caches).
    func loadAllSent() throws {
        sentLooked = true
        guard try !hasMoreRows("SELECT 1 FROM outbox LIMIT 1 OFFSET ?", than: sentCacheLimit) else { return }
        try flushHeldOutbox()
        let s = try statement("SELECT profile, at FROM outbox WHERE status = 'sent'")
        defer { s.reset() }
        var all: [String: [Int64]] = [:]
        var n = 0
        while try s.step() {
            all[s.text(0), default: []].append(s.int64(1))
            n += 1
        }
        sentTimes = all
        sentCached = n
        sentComplete = true
    }

    func noteSent(_ profile: String, _ at: Int64) {
        sentTimes[profile, default: []].append(at)
        sentCached += 1
        // Too many: counted in SQL for the rest of this generation of the caches.
        if sentCached > sentCacheLimit { forgetSent(lookAgain: false) }
    }

    /// Drops the sent messages' cache; `lookAgain`: the next count may fill it again.
    func forgetSent(lookAgain: Bool = true) {
        sentTimes = [:]
        sentCached = 0
        sentComplete = false
        sentLooked = !lookAgain
    }
}
