import Foundation
import XCTest
import JourneyBytecode
@testable import JourneyRuntime

/// Instances and timers a transaction writes are held in memory until it commits: the store's
/// reads see them merged with what is stored, a timer set and fired in one transaction is never
/// written, a rollback leaves nothing, and past the bound they are written early.
final class StoreHeldTests: XCTestCase, StoreFixture {
    func row(_ id: Int64, _ profile: String = "p", journey: String = "j", status: String = "active", pc: Int = 4, at: Int64 = 10) -> InstanceRow {
        InstanceRow(id: id, journey: journey, profile: profile, bundle: "b", pc: pc, locals: [.int(Int64(id))], sends: 0, status: status, enteredAt: at)
    }

    func stored(_ s: SQLiteStore) throws -> [String] {
        try lines(s, "SELECT id, profile, pc, status, COALESCE(ended_at, -1), sends FROM instances ORDER BY id") {
            "\($0.int64(0)) \($0.text(1)) pc\($0.int(2)) \($0.text(3)) \($0.int64(4)) s\($0.int(5))"
        }
    }

    func storedTimers(_ s: SQLiteStore) throws -> [String] {
        try lines(s, "SELECT id, due, instance FROM timers ORDER BY due, id") { "\($0.int64(0))@\($0.int64(1))→\($0.int64(2))" }
    }

    func testATimerSetAndFiredInOneTransactionIsNeverWritten() throws {
        let (a, b) = try makeStores()
        try a.begin()
        let id = try a.nextInstanceID(profile: "p")
        try a.addTimer(due: 3600, instance: id)
        try a.insertInstance(row(id), endedAt: nil)
        XCTAssertEqual(try count(a, "instances"), 0, "held, not written")
        XCTAssertEqual(try a.loadInstance(id)?.status, "active", "a held instance is read back")
        XCTAssertEqual(try a.activeInstances(profile: "p").map(\.id), [id])
        let due = try a.timers(until: 7200, limit: 10)
        XCTAssertEqual(due.map(\.instance), [id])
        XCTAssertEqual(try a.timers(until: 3599, limit: 10).count, 0, "not due before its time")
        a.markTimerFired(due: due[0].due, id: due[0].id)
        XCTAssertEqual(try a.timers(until: 7200, limit: 10).count, 0, "a fired timer is not read again")
        var done = row(id)
        done.status = "completed"
        done.sends = 1
        done.pc = 99
        try a.endInstance(done, at: 3600)
        XCTAssertEqual(try a.activeInstances(profile: "p").count, 0)
        try a.commit()

        XCTAssertEqual(try storedTimers(b), [], "the timer was never written")
        XCTAssertEqual(try stored(b), ["1 p pc4 completed 3600 s1"], "one row, as the update would have left it (its place stays)")
        let locals = try b.db.prepare("SELECT locals FROM instances WHERE id = 1")
        XCTAssertTrue(try locals.step())
        XCTAssertEqual(ValueEncoding.decode(locals.blob(0)), [.int(1)], "and its values, as the insert wrote them: the same row whether or not a commit fell between")
    }

    func testHeldRowsMergeWithStoredOnesInIdOrder() throws {
        let (a, b) = try makeStores()
        try a.begin()
        try a.insertInstance(row(1), endedAt: nil)
        try a.addTimer(due: 500, instance: 1)
        try a.insertInstance(row(2, "q"), endedAt: nil)
        try a.addTimer(due: 100, instance: 2)
        try a.commit()
        XCTAssertEqual(try storedTimers(b), ["2@100→2", "1@500→1"])

        try a.begin()
        XCTAssertEqual(try a.nextInstanceID(profile: "p"), 3)
        try a.insertInstance(row(3), endedAt: nil)
        try a.addTimer(due: 300, instance: 3)
        try a.addTimer(due: 500, instance: 3) // same due: after timer 1 (a larger id)
        XCTAssertEqual(try a.activeInstances(profile: "p").map(\.id), [1, 3], "stored and held, in id order")
        XCTAssertEqual(try a.timers(until: nil, limit: 10).map(\.id), [2, 3, 1, 4], "merged in (due, id) order")
        XCTAssertEqual(try a.timers(until: nil, limit: 2).map(\.id), [2, 3], "and cut at the limit")
        XCTAssertEqual(try a.timers(until: 400, limit: 10).map(\.id), [2, 3])

        // A stored instance changed: the held version wins.
        var one = row(1)
        one.pc = 7
        one.locals = [.string("changed")]
        try a.updateInstance(one, endedAt: nil)
        XCTAssertEqual(try a.loadInstance(1)?.pc, 7)
        XCTAssertEqual(try a.activeInstances(profile: "p").map(\.pc), [7, 4])
        var gone = row(1)
        gone.status = "converted"
        try a.endInstance(gone, at: 250)
        XCTAssertEqual(try a.activeInstances(profile: "p").map(\.id), [3], "a stored instance ended in this transaction is not active")
        XCTAssertEqual(try a.removeTimers(instance: 1), [1], "a stored timer")
        XCTAssertEqual(try a.removeTimers(instance: 3).sorted(), [3, 4], "held timers")
        XCTAssertEqual(try a.timers(until: nil, limit: 10).map(\.id), [2])
        try a.commit()

        XCTAssertEqual(try stored(b), ["1 p pc7 converted 250 s0", "2 q pc4 active -1 s0", "3 p pc4 active -1 s0"])
        XCTAssertEqual(try storedTimers(b), ["2@100→2"])
        let locals = try b.db.prepare("SELECT locals FROM instances WHERE id = 1")
        XCTAssertTrue(try locals.step())
        XCTAssertEqual(ValueEncoding.decode(locals.blob(0)), [.string("changed")], "the update's values were written")
    }

    func testARollbackLeavesNothingOfWhatWasHeld() throws {
        let (a, b) = try makeStores()
        try a.begin()
        try a.insertInstance(row(1), endedAt: nil)
        try a.addTimer(due: 100, instance: 1)
        a.rollback()
        XCTAssertEqual(try stored(b), [])
        try a.begin()
        XCTAssertEqual(try a.activeInstances(profile: "p").count, 0)
        XCTAssertNil(try a.loadInstance(1))
        XCTAssertEqual(try a.timers(until: nil, limit: 10).count, 0)
        XCTAssertEqual(try a.nextInstanceID(profile: "p"), 1, "ids start again from what is stored")
        try a.commit()
        XCTAssertEqual(try storedTimers(b), [])
    }

    /// Past the bound, held rows are written as they come; a timer written that way is still
    /// found and removed for an instance held after it.
    func testPastTheBoundHeldRowsAreWrittenEarly() throws {
        let (a, b) = try makeStores()
        a.heldLimit = 3
        try a.begin()
        try a.addTimer(due: 100, instance: 1)
        try a.addTimer(due: 200, instance: 2)
        try a.addTimer(due: 300, instance: 3)
        try a.addTimer(due: 400, instance: 1) // the fourth: all four are written
        XCTAssertEqual(try count(a, "timers"), 4)
        try a.insertInstance(row(1), endedAt: nil)
        XCTAssertEqual(try a.removeTimers(instance: 1).sorted(), [1, 4], "the written timers of an instance held since")
        for id in Int64(2)...5 { try a.insertInstance(row(id, status: id == 5 ? "completed" : "active"), endedAt: id == 5 ? 50 : nil) }
        XCTAssertGreaterThan(try count(a, "instances"), 0)
        XCTAssertEqual(try a.activeInstances(profile: "p").map(\.id), [1, 2, 3, 4])
        try a.commit()
        XCTAssertEqual(try stored(b).count, 5)
        XCTAssertEqual(try storedTimers(b), ["2@200→2", "3@300→3"])
    }

    /// Reads of the instances that do not look at what is held (the entry counts' query, the
    /// listing) write it first.
    func testOtherReadsSeeHeldInstances() throws {
        let (a, _) = try makeStores()
        try a.begin()
        try a.insertInstance(row(1), endedAt: nil)
        try a.insertInstance(row(2, status: "completed"), endedAt: 20)
        XCTAssertEqual(try a.instanceSummaries(journey: nil, status: nil, limit: 10).map(\.id), [1, 2])
        try a.commit()
        // A fresh connection, so the entry counts come from the table.
        let path = a.db.path
        let c = try SQLiteStore(path: path)
        try c.begin()
        try c.insertInstance(row(3, status: "completed"), endedAt: 30)
        let e = try c.entryStats(journey: "j", profile: "p")
        XCTAssertEqual(e.total, 3)
        XCTAssertEqual(e.active, 1)
        XCTAssertEqual(e.lastEntered, 10)
        try c.commit()
    }
}

extension StoreHeldTests {
    /// With every entry counted, a profile with no active instance is answered without a read;
    /// the counts follow entries, ends, and another connection's writes.
    func testActiveInstancesFollowTheEntryCounts() throws {
        let (a, b) = try makeStores()
        try a.begin()
        XCTAssertEqual(try a.entryStats(journey: "j", profile: "p").total, 0)
        XCTAssertTrue(a.entriesComplete, "a fresh database: every entry counted at the first miss")
        try a.insertInstance(row(1), endedAt: nil)
        XCTAssertEqual(try a.activeInstances(profile: "p").map(\.id), [1])
        XCTAssertEqual(try a.activeInstances(profile: "q").count, 0)
        var done = row(1)
        done.status = "completed"
        try a.endInstance(done, at: 5)
        XCTAssertEqual(try a.activeInstances(profile: "p").count, 0)
        try a.commit()

        try b.begin()
        try b.insertInstance(row(2, "q"), endedAt: nil)
        try b.commit()
        try a.begin()
        XCTAssertEqual(try a.activeInstances(profile: "q").map(\.id), [2], "another connection's instance is seen")
        XCTAssertEqual(try a.entryStats(journey: "j", profile: "q").active, 1)
        XCTAssertEqual(try a.activeInstances(profile: "q").map(\.id), [2], "and counted once the counts are read again")
        try a.commit()
    }
}

extension StoreHeldTests {
    /// On a database with too many instances to count them all at once, a (journey, profile)'s
    /// entry counts come from the table with what is held added, without writing it.
    func testEntryCountsFromTheTableAddWhatIsHeld() throws {
        let (a, b) = try makeStores()
        // More instances than the first miss counts at once (10,000), none of them p's.
        try b.db.exec("""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10001)
            INSERT INTO instances(id, journey, profile, bundle, pc, locals, sends, status, entered_at, ended_at)
            SELECT i, 'j', 'other' || i, 'b', 0, x'', 0, 'completed', 1, 1 FROM n
            """)
        try b.begin()
        try b.insertInstance(row(10_002, at: 5), endedAt: nil)
        try b.insertInstance(row(10_003, at: 6), endedAt: nil)
        try b.commit()

        try a.begin()
        XCTAssertEqual(try a.nextInstanceID(profile: "p"), 10_004)
        try a.insertInstance(row(10_004, at: 50), endedAt: nil)
        try a.insertInstance(row(10_005, journey: "k", at: 60), endedAt: nil)
        var ended = row(10_002, at: 5)
        ended.status = "exited"
        try a.endInstance(ended, at: 40)
        let e = try a.entryStats(journey: "j", profile: "p")
        XCTAssertFalse(a.entriesComplete, "too many to count at once")
        XCTAssertEqual(e.total, 3, "two stored, one held")
        XCTAssertEqual(e.active, 2, "10,003 and the held 10,004; 10,002 ended in this transaction")
        XCTAssertEqual(e.lastEntered, 50)
        XCTAssertEqual(try count(a, "instances"), 10_003, "nothing held was written to count")
        XCTAssertEqual(try a.entryStats(journey: "k", profile: "p").total, 1)
        try a.commit()
        XCTAssertEqual(try stored(b).suffix(3), ["10003 p pc4 active -1 s0", "10004 p pc4 active -1 s0", "10005 p pc4 active -1 s0"])
        XCTAssertEqual(try stored(b).first { $0.hasPrefix("10002 ") }, "10002 p pc4 exited 40 s0")
    }

    // MARK: Messages

    func send(_ s: SQLiteStore, _ id: String, profile: String = "p", at: Int64, status: String = "sent") throws {
        try s.appendOutbox(id: id, at: at, profile: profile, journey: "j", channel: "email", status: status, content: "hi", reason: nil, address: "a@x",
                           bundle: "b", step: 0)
    }

    func storedMessages(_ s: SQLiteStore) throws -> [String] {
        try lines(s, "SELECT seq, id, profile, status, COALESCE(delivery, '-') FROM outbox ORDER BY seq") {
            "\($0.int64(0)) \($0.text(1)) \($0.text(2)) \($0.text(3)) \($0.text(4))"
        }
    }

    /// A transaction's messages are held until it commits: the cap's count sees them, a faulted
    /// step's are taken back (their numbers given again), any other read of the outbox writes
    /// them first, and a rollback leaves none.
    func testHeldMessagesAreCountedTakenBackAndWrittenAtTheCommit() throws {
        let (a, b) = try makeStores()
        try a.begin()
        try send(a, "1-0", at: 100)
        try send(a, "2-0", at: 200)
        try send(a, "3-0", profile: "q", at: 200)
        try send(a, "4-0", at: 300, status: "suppressed")
        XCTAssertEqual(try count(a, "outbox"), 0, "held, not written")
        XCTAssertEqual(try a.sentCount(profile: "p", since: 99), 2, "the cap counts held messages")
        XCTAssertEqual(try a.sentCount(profile: "p", since: 100), 1, "after `since` only")
        XCTAssertEqual(try a.sentCount(profile: "q", since: 0), 1)
        // A faulted step's messages (the newest) are taken back.
        try a.removeOutbox(ids: ["3-0", "4-0"])
        XCTAssertEqual(try a.sentCount(profile: "q", since: 0), 0, "a taken-back message is not counted")
        XCTAssertEqual(try a.sentCount(profile: "p", since: 0), 2)
        try send(a, "5-0", at: 400)
        try a.commit()
        XCTAssertEqual(try storedMessages(b), ["1 1-0 p sent pending", "2 2-0 p sent pending", "3 5-0 p sent pending"],
                       "written at the commit, numbered without a gap")
        XCTAssertEqual(try b.sentCount(profile: "p", since: 0), 3)

        try a.begin()
        try send(a, "6-0", at: 500)
        XCTAssertEqual(try a.outbox(afterSeq: 3, limit: 10).map(\.id), ["6-0"], "another read of the outbox writes what is held first")
        try send(a, "7-0", at: 600)
        XCTAssertEqual(try a.sentCount(profile: "p", since: 0), 5, "stored and held, counted once each")
        a.rollback()
        XCTAssertEqual(try storedMessages(b).count, 3, "a rollback leaves none of them")
        try a.begin()
        try send(a, "6-0", at: 500)
        try a.commit()
        XCTAssertEqual(try storedMessages(b).last, "4 6-0 p sent pending", "numbers given again after the rollback")
    }

    /// A message id made twice stops the commit (the receiver's deduplication would drop the
    /// second one); the transaction rolls back whole.
    func testAMessageIdGivenTwiceFailsTheCommit() throws {
        let (a, b) = try makeStores()
        try a.begin()
        try send(a, "1-0", at: 100)
        try a.commit()
        try a.begin()
        try send(a, "1-0", at: 200)
        XCTAssertThrowsError(try a.commit())
        a.rollback()
        XCTAssertEqual(try storedMessages(b), ["1 1-0 p sent pending"])
    }

    /// The cap's count from memory (every sent message's time, read once when the outbox is
    /// small) agrees with the table's at every turn: messages held and written, a faulted
    /// step's taken back, past the cache's bound, across transactions and connections.
    func testTheCapCountsFromMemoryAsTheTableWould() throws {
        let (a, b) = try makeStores()
        var sent: [(profile: String, at: Int64)] = []
        func expect(_ profile: String, since: Int64, _ note: String) throws {
            let want = sent.filter { $0.profile == profile && $0.at > since }.count
            XCTAssertEqual(try a.sentCount(profile: profile, since: since), want, note)
        }
        try a.begin()
        try send(a, "1-0", at: 100); sent.append(("p", 100))
        try send(a, "2-0", profile: "q", at: 150); sent.append(("q", 150))
        try a.commit()
        try a.begin()
        try expect("p", since: 0, "read from the table once")
        XCTAssertTrue(a.sentComplete, "a small outbox is held whole")
        try send(a, "3-0", at: 200); sent.append(("p", 200))
        try send(a, "4-0", at: 250, status: "suppressed")
        try expect("p", since: 0, "a held message counts")
        try expect("p", since: 150, "after `since` only")
        try a.removeOutbox(ids: ["4-0", "3-0"]); sent.removeLast()
        try expect("p", since: 0, "a taken-back message does not")
        try send(a, "5-0", at: 300); sent.append(("p", 300))
        try a.commit()
        try a.begin()
        try expect("p", since: 0, "the cache outlives the commit")
        try expect("q", since: 0, "another profile")
        a.rollback()

        // Another connection's commit: the cache is read again.
        try b.begin()
        try send(b, "6-0", at: 400); sent.append(("p", 400))
        try b.commit()
        try a.begin()
        try expect("p", since: 0, "another connection's message")
        // A stored message taken back: counted in SQL, then read again.
        try a.removeOutbox(ids: ["6-0"]); sent.removeLast()
        try expect("p", since: 0, "a stored message taken back")
        a.sentCacheLimit = 5
        for k in 7...12 { try send(a, "\(k)-0", at: Int64(400 + k)); sent.append(("p", Int64(400 + k))) }
        XCTAssertFalse(a.sentComplete, "past the bound the cache is dropped")
        try expect("p", since: 0, "and the table with what is held counts")
        try expect("p", since: 409, "after `since` only")
        try a.commit()
        XCTAssertEqual(try b.sentCount(profile: "p", since: 0), sent.filter { $0.profile == "p" }.count, "what was written")
    }

    // MARK: The instances' index

    /// One index serves every read of a profile's instances (its active ones, its entry counts,
    /// all of them at once): a new instance costs one index insert, not two. A database made
    /// with the two older indexes loses them when opened.
    func testInstancesHaveOneIndexAndEveryReadUsesIt() throws {
        let path = try scratchFolder("journey-index").appendingPathComponent("j.db").path
        func indexes(_ s: SQLiteStore) throws -> [String] {
            try lines(s, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'instances' ORDER BY name") { $0.text(0) }
        }
        func plan(_ s: SQLiteStore, _ sql: String) throws -> String {
            try lines(s, "EXPLAIN QUERY PLAN " + sql) { $0.text(3) }.joined(separator: "; ")
        }
        do {
            let s = try SQLiteStore(path: path)
            XCTAssertEqual(try indexes(s), ["instances_by_profile_journey", "instances_converted"])
            // As a database from before had them.
            try s.db.exec("DROP INDEX instances_by_profile_journey")
            try s.db.exec("CREATE INDEX instances_by_profile ON instances(profile, status)")
            try s.db.exec("CREATE INDEX instances_by_journey ON instances(journey, profile)")
        }
        let s = try SQLiteStore(path: path)
        XCTAssertEqual(try indexes(s), ["instances_by_profile_journey", "instances_converted"], "the older indexes are dropped as the database opens")
        XCTAssertTrue(try plan(s, "SELECT COALESCE(SUM(status = 'active'), 0), COUNT(*), MAX(entered_at) FROM instances WHERE journey = 'j' AND profile = 'p'")
            .contains("COVERING INDEX instances_by_profile_journey"), "a (journey, profile)'s entry counts come from the index alone")
        XCTAssertTrue(try plan(s, "SELECT journey, profile, COALESCE(SUM(status = 'active'), 0), COUNT(*), MAX(entered_at) FROM instances GROUP BY profile, journey")
            .contains("COVERING INDEX instances_by_profile_journey"), "and every entry count at once, without a sort")
        XCTAssertTrue(try plan(s, "SELECT id FROM instances WHERE profile = 'p' AND status = 'active' ORDER BY id")
            .contains("INDEX instances_by_profile_journey (profile=?)"), "a profile's active instances")
        let conversions = try plan(s, "SELECT ended_at - entered_at AS took FROM instances WHERE journey = 'j' AND bundle = 'b' AND status = 'converted' AND entered_at >= 0 AND ended_at IS NOT NULL ORDER BY took")
        XCTAssertTrue(conversions.contains("INDEX instances_converted (journey=? AND bundle=? AND entered_at>?)"),
                      "a version's conversion times, from its converted instances only: \(conversions)")
    }
}
