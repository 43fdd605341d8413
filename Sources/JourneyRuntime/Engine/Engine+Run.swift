import JourneyDiagnostics
import Dispatch
import JourneyBytecode

/// What a run did.
public struct RunStats: Sendable {
    public var events = 0
    public var timers = 0
    public var audienceRuns = 0
    public var messages = 0
    /// Catalog events: the profiles their `for each` conditions considered (from the index,
    /// or every profile), those tested one by one, those that passed, and the seconds spent
    /// finding them (index lookups and tests, not the entries).
    public var catalogCandidates = 0
    public var catalogTested = 0
    public var catalogPassed = 0
    public var catalogSeconds = 0.0
    /// Audience runs: the profiles their scans read and tested (those the store's query let
    /// through), and the seconds spent finding who enters (the scans, not the entries).
    public var audienceTested = 0
    public var audienceSeconds = 0.0

    public init() {}

    /// Adds another run's counts to these.
    public mutating func add(_ o: RunStats) {
        events += o.events; timers += o.timers; audienceRuns += o.audienceRuns; messages += o.messages
        catalogCandidates += o.catalogCandidates; catalogTested += o.catalogTested; catalogPassed += o.catalogPassed; catalogSeconds += o.catalogSeconds
        audienceTested += o.audienceTested; audienceSeconds += o.audienceSeconds
    }
}

/// A step that left its item in place: a bug in the engine, reported instead of spinning.
public struct NoProgress: Error, Sendable, CustomStringConvertible {
    public var item: String
    public var description: String {
        "the engine made no progress: the \(item) was processed and came back; nothing was committed after the last batch. This is a bug in journey: please report it with the database file"
    }
}

extension Engine {
    enum Item {
        case event(InboxItem)
        case timer(id: Int64, due: Int64, instance: Int64)
        case audience(journey: String, timezone: String, at: Int64)

        var at: Int64 {
            switch self {
            case .event(let e): e.at
            case .timer(_, let due, _): due
            case .audience(_, _, let at): at
            }
        }
        /// What tells one item from another: the same item twice in a row means a step made no
        /// progress.
        var profile: String? { if case .event(let e) = self { e.profile } else { nil } }
        var instance: Int64? { if case .timer(_, _, let i) = self { i } else { nil } }

        var key: String {
            switch self {
            case .event(let e): "event \(e.seq) at \(e.at)"
            case .timer(let id, let due, _): "timer \(id) due at \(due)"
            case .audience(let j, let tz, let at): "audience run of \(j) in \(tz) at \(at)"
            }
        }

        /// Whether two items are the same one (what `key` names, without building the text).
        func isSame(as o: Item) -> Bool {
            switch (self, o) {
            case (.event(let a), .event(let b)): a.seq == b.seq && a.at == b.at
            case (.timer(let a, let da, _), .timer(let b, let db, _)): a == b && da == db
            case (.audience(let ja, let ta, let aa), .audience(let jb, let tb, let ab)): aa == ab && ja == jb && ta == tb
            default: false
            }
        }
        /// At one instant: events, then audience runs, then timers (so `within` is inclusive).
        var rank: Int {
            switch self {
            case .event: 0
            case .audience: 1
            case .timer: 2
            }
        }
    }

    /// Cancels an instance's timers. A read-ahead holding one of them is read again (a timer
    /// id may be given anew once its timer is gone, so remembering ids would not do).
    func removeTimers(instance: Int64) throws {
        let gone = try store.removeTimers(instance: instance)
        if !gone.isEmpty, timersAhead.contains(where: { gone.contains($0.id) }) {
            timersAhead = []
            timersDrained = false
        }
    }

    /// Adds a timer, keeping the read-ahead in order: one due before the last timer read ahead
    /// (or with none read ahead but more in the store) makes the next look read again.
    func addTimer(due: Int64, instance: Int64) throws {
        try store.addTimer(due: due, instance: instance)
        if let lastRead = timersAhead.first, due <= lastRead.due {
            timersAhead = []
            timersDrained = false
        } else if timersAhead.isEmpty {
            timersDrained = false
        }
    }

    /// Audience journeys start at their daily time in each time zone from `from` on.
    func scheduleAudience(from: Int64) throws {
        guard let b = current else { return }
        let known = Set(try store.audienceSchedule().map { "\($0.journey)\u{0}\($0.timezone)" })
        for j in b.journeys {
            guard case .daily(let minutes) = j.trigger else { continue }
            for tz in try store.profileTimezones() {
                let key = tz ?? "UTC"
                guard !known.contains("\(j.name)\u{0}\(key)") else { continue }
                try store.setAudience(journey: j.name, timezone: key, nextAt: Zones.next(minutes: minutes, after: from - 1, zones.zone(key)))
            }
        }
    }

    func nextItem(until: Int64?, audienceUntil: Int64?) throws -> Item? {
        var best: Item?
        func consider(_ i: Item) {
            guard let b = best else { best = i; return }
            if (i.at, i.rank) < (b.at, b.rank) { best = i }
        }
        // Inbox events are read ahead in chunks. The read-ahead is dropped at each transaction's
        // start: between transactions another process may ingest (even events already due).
        if inboxAhead.isEmpty, !inboxDrained {
            inboxAhead = try store.inbox(until: until, limit: 512)
            inboxAhead.reverse()
            inboxDrained = inboxAhead.count < 512
        }
        if let e = inboxAhead.last { consider(.event(e)) }
        // Timers are read ahead too; a timer added before the last one read clears the read-ahead
        // (`addTimer`), and one cancelled meanwhile is skipped when its turn comes.
        if timersAhead.isEmpty, !timersDrained {
            timersAhead = try store.timers(until: until, limit: 512).reversed()
            timersDrained = timersAhead.count < 512
        }
        if let t = timersAhead.last { consider(.timer(id: t.id, due: t.due, instance: t.instance)) }
        // (The earlier of the two, without an array made at every step.)
        let limit = until.map { u in audienceUntil.map { min(u, $0) } ?? u } ?? audienceUntil
        if hasAudience {
            if nextAudience == nil { nextAudience = try store.nextAudienceRun().map { .some($0) } ?? .some(nil) }
            if case .some(let a?) = nextAudience, a.nextAt <= (limit ?? Int64.max) {
                consider(.audience(journey: a.journey, timezone: a.timezone, at: a.nextAt))
            }
        }
        return best
    }

    /// Processes everything due up to `until` (nil: until nothing is left), in time order, in
    /// transactions of `batchSize` steps. Audience journeys run up to `audienceUntil` (or `until`).
    @discardableResult
    public func run(until: Int64?, audienceUntil: Int64? = nil, start: Int64? = nil) throws -> RunStats {
        var stats = RunStats()
        try adoptDeployedBundle()
        guard current != nil else { return stats }
        if let s = start { now = max(now, s) }
        var base: Int64
        if let s = start { base = s } else if now != 0 { base = now } else { base = try store.nextInbox(until: nil)?.at ?? until ?? now }
        // Audience journeys never start before their deploy: a run on the wall clock over a
        // database of old events does not replay the days before it. (A replay that ends
        // before the deploy, on a virtual clock, is left alone.)
        if let deployed = try store.currentDeployedAt(), deployed > base, deployed <= (audienceUntil ?? until ?? Int64.max) { base = deployed }
        try store.begin()
        do {
            try scheduleAudience(from: base)
            try store.commit()
        } catch {
            store.rollback()
            throw error
        }
        var done = false
        hasAudience = current?.journeys.contains { if case .daily = $0.trigger { true } else { false } } ?? false
        var stopped = false
        while !done {
            if stopRequested?() == true {
                stopped = true
                break
            }
            inboxAhead = []
            inboxDrained = false
            timersAhead = []
            timersDrained = false
            nextAudience = nil
            try store.begin()
            do {
                var steps = 0
                var last: Item?
                let began = DispatchTime.now().uptimeNanoseconds
                let budget = UInt64(max(0, batchTime) * 1e9)
                while steps < batchSize {
                    if steps & 63 == 63, DispatchTime.now().uptimeNanoseconds - began > budget { break }
                    guard let item = try nextItem(until: until, audienceUntil: audienceUntil) else { done = true; break }
                    // Every step consumes its item; one that comes back would be taken forever.
                    if let l = last, l.isSame(as: item) { throw NoProgress(item: item.key) }
                    last = item
                    now = try store.advanceClock(now, to: item.at, profile: item.profile, instance: item.instance)
                    try process(item, &stats)
                    steps += 1
                }
                try flushTally()
                try store.setMeta("clock", String(now))
                try store.commit()
            } catch {
                store.rollback()
                dropTally()
                inboxAhead = []
                timersAhead = []
                throw error
            }
        }
        if !stopped, let u = until, u > now {
            now = u
            try store.begin()
            try store.setMeta("clock", String(now))
            try store.commit()
        }
        return stats
    }

    func process(_ item: Item, _ stats: inout RunStats) throws {
        switch item {
        case .event(let e):
            inboxAhead.removeLast()
            if inboxAhead.isEmpty { inboxDrained = false }
            try handleEvent(e, &stats)
            stats.events += 1
        case .timer(let id, _, let instance):
            timersAhead.removeLast()
            if timersAhead.isEmpty { timersDrained = false }
            store.markTimerFired(due: item.at, id: id)
            try handleTimer(instance, &stats)
            stats.timers += 1
        case .audience(let journey, let tz, let at):
            try handleAudience(journey, tz, at, &stats)
            nextAudience = nil
            stats.audienceRuns += 1
        }
    }
}
