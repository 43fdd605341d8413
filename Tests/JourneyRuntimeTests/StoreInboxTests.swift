import Foundation
import XCTest
import JourneyBytecode
@testable import JourneyRuntime

/// The run's queue: taken events wait in `inbox` below the history's mark and leave it together;
/// events that arrive behind the mark wait in `inbox_late`, come first, and leave one by one.
final class StoreInboxTests: XCTestCase, StoreFixture {
    /// The rows a table holds, as (at, seq), in key order.
    func rows(_ s: SQLiteStore, _ table: String) throws -> [[Int64]] {
        let q = try s.db.prepare("SELECT at, seq FROM \(table) ORDER BY at, seq")
        var out: [[Int64]] = []
        while try q.step() { out.append([q.int64(0), q.int64(1)]) }
        return out
    }

    /// Takes the first `n` events the inbox offers, as the run does (reading on while it
    /// takes), and commits (or rolls back).
    @discardableResult
    func take(_ s: SQLiteStore, _ n: Int, commit: Bool = true) throws -> [Int64] {
        try s.begin()
        var taken: [Int64] = []
        while taken.count < n {
            let items = try s.inbox(until: nil, limit: n - taken.count)
            if items.isEmpty { break }
            for item in items {
                s.markTaken(item)
                taken.append(item.at)
            }
        }
        if commit { try s.commit() } else { s.rollback() }
        return taken
    }

    /// What the inbox offers, in order (taken in a transaction rolled back).
    func offered(_ s: SQLiteStore) throws -> [Int64] {
        try take(s, 100, commit: false)
    }

    func testTakenEventsLeaveTogetherOnceNothingElseIsLeft() throws {
        try takenEventsLeaveTogetherOnceNothingElseIsLeft()
    }

    func testTakenEventsGoAsARangeOnceEnoughHaveGathered() throws {
        try takenEventsGoAsARangeOnceEnoughHaveGathered()
    }

    func testLateArrivalsWaitApartComeFirstAndLeaveWhenTaken() throws {
        try lateArrivalsWaitApartComeFirstAndLeaveWhenTaken()
    }

    func testTheEarlierLayoutsLateArrivalsMoveOnOpening() throws {
        try theEarlierLayoutsLateArrivalsMoveOnOpening()
    }

    /// Events ingested in the transaction that takes events (behind and after the mark) are
    /// offered in order.
    func testEventsIngestedMidTransactionAreOffered() throws {
        let (a, _) = try makeStores()
        try ingest(a, (1...3).map { ("s\($0)", Int64($0 * 10)) })
        try a.begin()
        let first = try a.inbox(until: nil, limit: 1)
        XCTAssertEqual(first.map(\.at), [10])
        a.markTaken(first[0])
        try ingest(a, [("s4", 40), ("s0", 15), ("late", 5)])
        var rest: [Int64] = []
        while case let items = try a.inbox(until: nil, limit: 2), !items.isEmpty {
            for item in items { a.markTaken(item); rest.append(item.at) }
        }
        try a.commit()
        XCTAssertEqual(rest, [15, 20, 30, 40], "the late one (5) waits for the next transaction")
        XCTAssertEqual(try offered(a), [5])
        XCTAssertEqual(try take(a, 5), [5])
        XCTAssertEqual(try offered(a), [])
    }

    func takenEventsLeaveTogetherOnceNothingElseIsLeft() throws {
        let (a, b) = try makeStores()
        try ingest(a, [("s1", 10), ("s2", 20), ("s3", 30)])
        XCTAssertEqual(try take(a, 2), [10, 20])
        XCTAssertEqual(try rows(a, "inbox").count, 3, "the taken two wait below the mark")
        XCTAssertEqual(try offered(b), [30], "and are never offered again, on any connection")
        XCTAssertEqual(try b.inbox(until: nil, limit: 10).map(\.at), [30], "outside a transaction too")
        XCTAssertEqual(try b.nextInbox(until: nil)?.at, 30, "outside a transaction too")
        try b.begin()
        XCTAssertEqual(try skus(b), [.string("s1"), .string("s2")], "the history sees what is taken")
        try b.commit()
        XCTAssertEqual(try take(b, 5), [30])
        XCTAssertEqual(try rows(a, "inbox"), [], "all gone at once when nothing else was left")
        XCTAssertNil(try a.nextInbox(until: nil))
        XCTAssertEqual(try a.meta("inbox_kept"), "0")
    }

    func takenEventsGoAsARangeOnceEnoughHaveGathered() throws {
        let (a, _) = try makeStores()
        a.inboxKeptLimit = 3
        try ingest(a, (1...6).map { ("s\($0)", Int64($0 * 10)) })
        XCTAssertEqual(try take(a, 1), [10])
        XCTAssertEqual(try take(a, 1), [20])
        XCTAssertEqual(try rows(a, "inbox").count, 6)
        XCTAssertEqual(try a.meta("inbox_kept"), "2")
        XCTAssertEqual(try take(a, 1, commit: false), [30], "a rollback keeps nothing of its take")
        XCTAssertEqual(try rows(a, "inbox").count, 6)
        XCTAssertEqual(try a.meta("inbox_kept"), "2")
        XCTAssertEqual(try take(a, 1), [30])
        XCTAssertEqual(try rows(a, "inbox"), [[40, 4], [50, 5], [60, 6]], "the third taken: the three go")
        XCTAssertEqual(try a.meta("inbox_kept"), "0")
        XCTAssertEqual(try offered(a), [40, 50, 60])
        // A command that finishes leaves only what is still to do.
        XCTAssertEqual(try take(a, 1), [40])
        XCTAssertEqual(try a.meta("inbox_kept"), "1")
        try a.checkpoint()
        XCTAssertEqual(try rows(a, "inbox"), [[50, 5], [60, 6]])
        XCTAssertEqual(try a.meta("inbox_kept"), "0")
        XCTAssertEqual(try offered(a), [50, 60])
    }

    func lateArrivalsWaitApartComeFirstAndLeaveWhenTaken() throws {
        let (a, b) = try makeStores()
        try ingest(a, [("s1", 10), ("s3", 30)])
        XCTAssertEqual(try take(a, 1), [10])
        // One behind the mark (10, arrival 1), two after it: one later, one at the same instant
        // but arrived after.
        try ingest(b, [("late", 5), ("s2", 20), ("tie", 10)])
        XCTAssertEqual(try rows(a, "inbox_late"), [[5, 3]])
        XCTAssertEqual(try rows(a, "inbox"), [[10, 1], [10, 5], [20, 4], [30, 2]])
        XCTAssertEqual(try offered(a), [5, 10, 20, 30], "the late arrival first, then the inbox past the mark")
        XCTAssertEqual(try a.nextInbox(until: nil)?.at, 5)
        try a.begin()
        XCTAssertEqual(try skus(a), [.string("s1")], "not seen before it is taken")
        try a.commit()
        XCTAssertEqual(try take(a, 1, commit: false), [5])
        XCTAssertEqual(try rows(a, "inbox_late"), [[5, 3]], "a rollback leaves it waiting")
        XCTAssertEqual(try take(b, 1), [5])
        XCTAssertEqual(try rows(a, "inbox_late"), [], "taken, it leaves")
        XCTAssertEqual(try rows(a, "inbox").count, 4, "the inbox is not emptied under a late arrival's take")
        try a.begin()
        XCTAssertEqual(try skus(a), [.string("late"), .string("s1")])
        try a.commit()
        XCTAssertEqual(try offered(a), [10, 20, 30])
        XCTAssertEqual(try take(a, 2), [10, 20])
        XCTAssertEqual(try take(a, 5), [30])
        XCTAssertEqual(try rows(a, "inbox"), [])
        XCTAssertEqual(try offered(b), [])
    }

    /// A database from before `inbox_late`: its inbox held only events not taken, those behind
    /// the mark late ones. Opened, they move, and each is taken once.
    func theEarlierLayoutsLateArrivalsMoveOnOpening() throws {
        let (a, _) = try makeStores()
        try ingest(a, [("s1", 10), ("s2", 20)])
        XCTAssertEqual(try take(a, 5), [10, 20])
        try ingest(a, [("late", 5), ("s3", 30)])
        // As the earlier version left it: the late arrival in the inbox itself.
        try a.db.exec("""
            INSERT INTO inbox SELECT * FROM inbox_late; DROP TABLE inbox_late;
            DELETE FROM meta WHERE key IN ('inbox_late', 'inbox_kept')
            """)
        XCTAssertEqual(try rows(a, "inbox"), [[5, 3], [30, 4]])
        let c = try SQLiteStore(path: a.db.path)
        XCTAssertEqual(try rows(c, "inbox_late"), [[5, 3]])
        XCTAssertEqual(try rows(c, "inbox"), [[30, 4]])
        XCTAssertEqual(try offered(c), [5, 30])
        XCTAssertEqual(try take(c, 5), [5, 30])
        XCTAssertEqual(try offered(c), [])
        XCTAssertEqual(try rows(c, "inbox") + rows(c, "inbox_late"), [])
    }

    // MARK: - Pages

    /// The pages' (first at, first seq, last at, last seq, count), in order.
    func pages(_ s: SQLiteStore) throws -> [[Int64]] {
        let q = try s.db.prepare("SELECT first_at, first_seq, last_at, last_seq, n FROM inbox_pages ORDER BY last_at, last_seq")
        var out: [[Int64]] = []
        while try q.step() { out.append((0..<5).map { q.int64(Int32($0)) }) }
        return out
    }

    /// A batch that comes after every page becomes pages (in key order, however it arrived);
    /// one behind a page, or too small, goes row by row; the run gets both merged in key order,
    /// and a page leaves once its last event is taken.
    func testBatchesAfterThePagesArePagedAndMergedWithRows() throws {
        let (a, b) = try makeStores()
        for s in [a, b] { s.pageMinimum = 3; s.pageLimit = 4 }
        try ingest(a, [("s1", 30), ("s2", 10), ("s3", 20), ("s4", 40), ("s5", 50)])
        XCTAssertEqual(try pages(a), [[10, 2, 40, 4, 4], [50, 5, 50, 5, 1]], "sorted, four to a page")
        XCTAssertEqual(try rows(a, "inbox"), [])
        try ingest(b, [("r1", 25), ("r2", 45), ("r3", 60)])
        XCTAssertEqual(try rows(a, "inbox"), [[25, 6], [45, 7], [60, 8]], "behind a page: rows")
        try ingest(b, [("s6", 60), ("s7", 70)])
        XCTAssertEqual(try rows(a, "inbox").count, 5, "two are too few for a page")
        try ingest(b, [("s8", 80), ("s9", 80), ("s10", 90)])
        XCTAssertEqual(try pages(a).last, [80, 11, 90, 13, 3])
        XCTAssertEqual(try offered(a), [10, 20, 25, 30, 40, 45, 50, 60, 60, 70, 80, 80, 90])
        XCTAssertEqual(try a.inbox(until: 45, limit: 100).map(\.at), [10, 20, 25, 30, 40, 45], "up to a time")

        XCTAssertEqual(try take(a, 2), [10, 20])
        XCTAssertEqual(try pages(a).count, 3, "a page partly taken stays")
        XCTAssertEqual(try take(b, 2), [25, 30], "another connection reads on from the mark")
        XCTAssertEqual(try take(a, 3, commit: false), [40, 45, 50])
        XCTAssertEqual(try pages(a).count, 3, "a rollback keeps them")
        XCTAssertEqual(try offered(a), [40, 45, 50, 60, 60, 70, 80, 80, 90], "and offers the same again")
        try a.begin()
        XCTAssertEqual(try skus(a), ["s2", "s3", "r1", "s1"].map(Value.string), "the history sees what is taken, in order")
        try a.commit()
        XCTAssertEqual(try take(a, 3), [40, 45, 50])
        XCTAssertEqual(try pages(a).map { $0[0] }, [80], "their last events taken, two pages go")
        XCTAssertEqual(try take(a, 20), [60, 60, 70, 80, 80, 90])
        XCTAssertEqual(try pages(a), [])
        XCTAssertEqual(try rows(a, "inbox"), [])
        XCTAssertEqual(try offered(b), [])
        // With nothing left, the next batch pages again, from any time after the mark.
        try ingest(b, [("t1", 95), ("t2", 96), ("t3", 97)])
        XCTAssertEqual(try pages(a).map { $0[0] }, [95])
        XCTAssertEqual(try offered(a), [95, 96, 97])
    }

    /// Events behind the mark in a paged batch still wait apart; the rest is a page.
    func testAPagedBatchLeavesItsLateArrivalsApart() throws {
        let (a, b) = try makeStores()
        for s in [a, b] { s.pageMinimum = 2 }
        try ingest(a, [("s1", 10), ("s2", 20)])
        XCTAssertEqual(try take(a, 1), [10])
        try ingest(b, [("late", 5), ("s3", 30), ("s4", 40)])
        XCTAssertEqual(try rows(a, "inbox_late"), [[5, 3]])
        XCTAssertEqual(try pages(a).last, [30, 4, 40, 5, 2])
        XCTAssertEqual(try offered(a), [5, 20, 30, 40])
        XCTAssertEqual(try take(a, 4), [5, 20, 30, 40])
        XCTAssertEqual(try pages(a) + rows(a, "inbox_late"), [])
    }

    /// A page whose bytes are damaged is refused with its number, never half read.
    func testADamagedPageIsRefused() throws {
        let (a, _) = try makeStores()
        a.pageMinimum = 2
        try ingest(a, [("s1", 10), ("s2", 20), ("s3", 30)])
        try a.db.exec("UPDATE inbox_pages SET body = substr(body, 1, length(body) - 3)")
        XCTAssertThrowsError(try a.inbox(until: nil, limit: 10)) { error in
            XCTAssertTrue("\(error)".contains("inbox page 1 (events from arrival 1) is damaged at byte"), "\(error)")
        }
        // The first event's profile ("p", at byte 29) made a byte that is not UTF-8 (checked
        // before the cut end is reached).
        try a.db.exec("UPDATE inbox_pages SET body = substr(body, 1, 29) || X'FF' || substr(body, 31)")
        XCTAssertThrowsError(try a.inbox(until: nil, limit: 10)) { error in
            XCTAssertTrue("\(error)".contains("an event's profile is not UTF-8"), "\(error)")
        }
        try a.db.exec("UPDATE inbox_pages SET body = X'02'")
        XCTAssertThrowsError(try a.inbox(until: nil, limit: 10)) { error in
            XCTAssertTrue("\(error)".contains("format 2 is not one this version reads"), "\(error)")
        }
    }

    /// A page whose bytes read well but disagree with its row (its last event, its count) is
    /// refused too, rather than read on from a place that never moves on.
    func testAPageThatDisagreesWithItsRowIsRefused() throws {
        let (a, _) = try makeStores()
        a.pageMinimum = 2
        try ingest(a, [("s1", 10), ("s2", 20), ("s3", 30)])
        for (change, undo) in [("last_at = 50", "last_at = 30"), ("n = 2", "n = 3"), ("first_seq = 2", "first_seq = 1")] {
            try a.db.exec("UPDATE inbox_pages SET \(change)")
            XCTAssertThrowsError(try take(a, 10), change) { error in
                XCTAssertTrue("\(error)".contains("do not match"), "\(change): \(error)")
            }
            a.rollback()
            try a.db.exec("UPDATE inbox_pages SET \(undo)")
        }
        XCTAssertEqual(try take(a, 10), [10, 20, 30])
    }

    /// A page closes at its byte bound too (an event bigger than the bound has a page to
    /// itself); a batch partly behind the last page pages the rest, the part behind as rows.
    func testPagesCloseAtTheirByteBoundAndABatchSplitsAtTheLastPage() throws {
        let (a, b) = try makeStores()
        for s in [a, b] { s.pageMinimum = 2; s.pageBytes = 200 }
        let big = String(repeating: "x", count: 300)
        try ingest(a, [("s1", 10), ("s2", 20), (big, 30), ("s4", 40), ("s5", 50)])
        XCTAssertEqual(try pages(a).map { [$0[0], $0[2], $0[4]] }, [[10, 20, 2], [30, 30, 1], [40, 50, 2]])
        try ingest(b, [("r1", 45), ("s6", 60), ("s7", 70)])
        XCTAssertEqual(try rows(a, "inbox"), [[45, 6]])
        XCTAssertEqual(try pages(a).last, [60, 7, 70, 8, 2])
        XCTAssertEqual(try take(a, 10), [10, 20, 30, 40, 45, 50, 60, 70])
        try a.begin()
        XCTAssertEqual(try skus(a).count, 8)
        try a.commit()
    }

    /// Erasing a profile takes its events out of the pages (a page left empty goes), leaving
    /// no trace of them in the file; the others' events stay, in order.
    func testErasureTakesAProfilesEventsOutOfPages() throws {
        let (a, _) = try makeStores()
        a.pageMinimum = 2
        let secret = "p-secret-7f3a"
        func row(_ profile: String, _ at: Int64) -> IncomingRow {
            IncomingRow(profile: profile, event: "viewed", at: at, data: ValueEncoding.eventBlob([.string(profile == secret ? "sku-of-the-secret" : "x")], def))
        }
        try a.begin()
        try a.saveProfile(secret, [.string("Ann")])
        try a.saveProfile("q", [.string("Bob")])
        try a.enqueue([row(secret, 10), row("q", 20), row(secret, 30)])
        try a.enqueue([row(secret, 40), row(secret, 50)])
        try a.commit()
        XCTAssertEqual(try pages(a).count, 2)
        try a.begin()
        XCTAssertTrue(try a.erase(profile: secret))
        try a.commit()
        XCTAssertEqual(try pages(a), [[20, 2, 20, 2, 1]])
        try a.begin()
        XCTAssertEqual(try a.inbox(until: nil, limit: 10).map(\.profile), ["q"])
        a.rollback()
        let setting = try a.db.prepare("PRAGMA secure_delete")
        XCTAssertEqual(try setting.step() ? setting.int(0) : -1, 1, "deletes after an erasure still overwrite")
        try a.checkpoint()
        let file = try [UInt8](Data(contentsOf: URL(fileURLWithPath: a.db.path)))
        for text in [secret, "sku-of-the-secret"] {
            let needle = Array(text.utf8)
            let found = file.indices.dropLast(needle.count).contains { i in file[i..<(i + needle.count)].elementsEqual(needle) }
            XCTAssertFalse(found, "\(text) is still in the database file")
        }
    }
}
