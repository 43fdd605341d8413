import JourneyBytecode

// Instances and timers held until the transaction commits.
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
        if !heldInstances.isEmpty {
            let held = heldInstances.values.sorted { $0.row.id < $1.row.id }
            heldInstances = [:]
            heldByProfile = [:]
            for h in held {
                switch h.write {
                case .insert: try writeInstance(h.row, endedAt: h.endedAt, emptyLocals: h.emptyLocals)
                case .update: try rewriteInstance(h.row, endedAt: h.endedAt)
                case .end: try writeEnd(h.row, at: h.endedAt ?? 0)
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

    /// Forgets what is held (the transaction rolled back).
    func dropHeld() {
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
