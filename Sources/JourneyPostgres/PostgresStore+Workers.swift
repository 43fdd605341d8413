import Foundation
import JourneyBytecode
import JourneyRuntime

// Many workers on one database (docs/scaling.md). Profiles fall in 256 partitions; a worker
// (`journey run` on PostgreSQL) leases a fair share of them, heartbeats, takes only its
// partitions' inbox events and timers, and keeps a clock per partition. Every transaction it
// commits first checks, holding the partition rows, that no other worker has taken them over
// (the epoch a partition had when leased); a worker that was paused past its lease finds that
// out at its next commit and keeps nothing. Work that spans partitions (audience runs, catalog
// events, deploys, imports) holds the writers' lock alone; partition work holds it shared.

/// What one worker holds.
final class WorkerState {
    let id: String
    /// Seconds a lease lasts without a heartbeat; heartbeats come every third of it.
    let lease: Double
    /// Partition → the epoch it had when this worker leased it.
    var owned: [Int: Int64] = [:]
    /// Per partition: the clock (the instant its last item ran at), as stored and as moved on.
    var clocks: [Int: Int64] = [:]
    var movedClocks: Set<Int> = []
    /// The clock a partition starts from when none is stored (`--start`, if given).
    var floor: Int64 = Int64.min
    var lastBeat: Date = .distantPast
    /// Whether this transaction holds the writers' lock alone.
    var exclusive = false

    init(id: String, lease: Double) {
        self.id = id
        self.lease = lease
    }

    var ownsAll: Bool { owned.count == PostgresSchema.partitions }
    var partitions: [Int64] { owned.keys.sorted().map(Int64.init) }
}

/// A worker's transaction found that it needs the writers' lock alone while others hold it:
/// nothing of it is kept, and it is made again holding the lock alone from its start.
public struct NeedsTheLockAlone: Error, CustomStringConvertible {
    public var description: String { "this work spans partitions and other workers are busy; it is made again once they have let go" }
}

/// A worker's leases were taken over: what it did since is not kept.
public struct LeaseLost: Error, CustomStringConvertible {
    public var partitions: [Int]
    public var description: String {
        "another worker took over partition\(partitions.count == 1 ? "" : "s") \(partitions.map(String.init).joined(separator: ", ")) (this worker's lease ran out); the work of this transaction is not kept"
    }
}

extension PostgresStore {
    /// Makes this store a worker with a lease of `lease` seconds (its session's idle-in-
    /// transaction timeout is half of it, so that a worker paused inside a transaction has it
    /// ended by the server before its lease can pass to another).
    public func becomeWorker(lease: Double = 10) throws {
        let host = ProcessInfo.processInfo.hostName
        let w = WorkerState(id: "\(host):\(getpid()):\(UInt32.random(in: 0...UInt32.max))", lease: max(1, lease))
        worker = w
        try connection.exec("SET idle_in_transaction_session_timeout = \(Int(w.lease * 500))")
        try heartbeat(w)
    }

    /// Where the partitions' clocks start when none is kept yet (`journey run --start`): the
    /// same for every worker, so that none depends on how far another has got.
    public func startClocks(at start: Int64?) {
        worker?.floor = start ?? Int64.min
    }

    /// The worker's id and partitions (for `journey run` to say).
    public var workerSummary: (id: String, partitions: Int)? { worker.map { ($0.id, $0.owned.count) } }

    /// Renews this worker's leases, counts the live workers, gives back what is over its share
    /// and takes free or expired partitions up to it. Runs outside transactions.
    func heartbeat(_ w: WorkerState) throws {
        let lease = "make_interval(secs => \(w.lease))"
        try q("INSERT INTO workers(id, seen) VALUES ($1, now()) ON CONFLICT (id) DO UPDATE SET seen = now()", [.text(w.id)])
        let live = max(1, try q("SELECT COUNT(*) FROM workers WHERE seen > now() - \(lease)").int(0, 0))
        let share = (PostgresSchema.partitions + live - 1) / live
        let renewed = try q("UPDATE partitions SET lease_until = now() + \(lease) WHERE owner = $1 RETURNING p, epoch", [.text(w.id)])
        var owned: [Int: Int64] = [:]
        for i in 0..<renewed.count { owned[renewed.int(i, 0)] = renewed.int64(i, 1) }
        if owned.count > share {
            // Give back the highest-numbered ones beyond the share.
            let extra = owned.keys.sorted().suffix(owned.count - share).map(Int64.init)
            try q("UPDATE partitions SET owner = NULL, lease_until = NULL WHERE owner = $1 AND p = ANY($2)", [.text(w.id), .ints(extra)])
            for p in extra { owned[Int(p)] = nil }
        } else if owned.count < share {
            let taken = try q("""
                UPDATE partitions SET owner = $1, epoch = epoch + 1, lease_until = now() + \(lease)
                WHERE p IN (SELECT p FROM partitions WHERE owner IS NULL OR lease_until < now() ORDER BY p LIMIT $2 FOR UPDATE SKIP LOCKED)
                RETURNING p, epoch
                """, [.text(w.id), .int(Int64(share - owned.count))])
            for i in 0..<taken.count { owned[taken.int(i, 0)] = taken.int64(i, 1) }
        }
        // Clocks of partitions newly held are read from the table.
        let fresh = owned.keys.filter { w.owned[$0] != owned[$0] }.map(Int64.init)
        if !fresh.isEmpty {
            let r = try q("SELECT p, clock FROM partitions WHERE p = ANY($1)", [.ints(fresh)])
            for i in 0..<r.count {
                let p = r.int(i, 0)
                if let c = r.optionalInt64(i, 1) { w.clocks[p] = c } else { w.clocks[p] = nil }
            }
        }
        for p in w.owned.keys where owned[p] == nil { w.clocks[p] = nil }
        w.owned = owned
        w.lastBeat = Date()
        try q("DELETE FROM workers WHERE seen < now() - make_interval(secs => \(w.lease * 6))")
    }

    /// Heartbeats when a third of the lease has passed since the last.
    func heartbeatIfDue(_ w: WorkerState) throws {
        if Date().timeIntervalSince(w.lastBeat) >= w.lease / 3 { try heartbeat(w) }
    }

    /// Before a commit: the worker still holds every partition it worked on this transaction,
    /// at the epoch it leased it at (the rows stay locked until the commit, so no other
    /// worker can take one in between). The partitions' clocks are saved with the work.
    func fence(_ w: WorkerState) throws {
        guard !w.owned.isEmpty else { return }
        let r = try q("SELECT p, owner, epoch FROM partitions WHERE p = ANY($1) FOR SHARE", [.ints(w.partitions)])
        var lost: [Int] = []
        for i in 0..<r.count {
            let p = r.int(i, 0)
            if r.optionalText(i, 1) != w.id || r.int64(i, 2) != w.owned[p] { lost.append(p) }
        }
        guard lost.isEmpty else {
            for p in lost { w.owned[p] = nil; w.clocks[p] = nil }
            throw LeaseLost(partitions: lost.sorted())
        }
        let moved = w.movedClocks.filter { w.owned[$0] != nil }.sorted()
        if !moved.isEmpty {
            try q("UPDATE partitions SET clock = c.clock FROM unnest($1::bigint[], $2::bigint[]) AS c(p, clock) WHERE partitions.p = c.p",
                  [.ints(moved.map(Int64.init)), .ints(moved.map { w.clocks[$0] ?? 0 })])
        }
        w.movedClocks = []
    }

    /// Work that spans partitions holds the writers' lock alone. A worker's transaction that
    /// holds it shared takes it alone only if nobody else holds it (waiting for it while
    /// holding it shared would deadlock with another worker doing the same); else the
    /// transaction is given up (`NeedsTheLockAlone`) and made again holding it alone from
    /// its start.
    func spanPartitions() throws {
        spanned = true
        guard let w = worker, !w.exclusive, inTransaction else { return }
        guard try q("SELECT pg_try_advisory_xact_lock($1)", [.int(PostgresSchema.writerLock)]).bool(0, 0) else {
            aloneTurns = 3
            throw NeedsTheLockAlone()
        }
        w.exclusive = true
    }

    /// For a store that is no worker: its transactions hold the writers' lock alone already.
    func spanPartitionsAlways() throws {
        if worker != nil { try spanPartitions() }
    }

    /// The condition that keeps a worker to its partitions (none when it holds them all).
    func ownedFilter(_ column: String, _ n: Int) -> (sql: String, params: [PGParam]) {
        guard let w = worker, !w.ownsAll else { return ("", []) }
        return (" AND \(column) = ANY($\(n))", [.ints(w.partitions)])
    }


    public func advanceClock(_ now: Int64, to at: Int64, profile: String?, instance: Int64?) throws -> Int64 {
        guard let w = worker else { return max(now, at) }
        let p: Int
        if let profile {
            p = PostgresSchema.partition(profile)
        } else if let instance {
            p = Int(try partition(ofInstance: instance))
        } else {
            // An audience run: it runs at its time in each of its partitions (their clocks are
            // not past it: a partition's items, its audience runs among them, go in time
            // order), whatever other partitions' clocks say. `audienceRunStarts` moves them.
            return max(w.floor, at)
        }
        let c = max(w.clocks[p] ?? w.floor, at)
        w.clocks[p] = c
        w.movedClocks.insert(p)
        return c
    }
}

extension PostgresStore {
    /// How often a worker heartbeats (a third of its lease).
    public var heartbeatInterval: Double { (worker?.lease ?? 3) / 3 }

    /// Whether anything due by `until` is left in any partition: inbox events, timers, or (for
    /// the coordinator's share) audience runs.
    public func workDue(by until: Int64) throws -> Bool {
        try q("SELECT EXISTS(SELECT 1 FROM inbox WHERE at <= $1) OR EXISTS(SELECT 1 FROM timers WHERE due <= $1) OR EXISTS(SELECT 1 FROM audience WHERE next_at <= $1)",
              [.int(until)]).int64(0, 0) != 0
    }
}
