import Foundation
import XCTest
import JourneyBytecode
@testable import JourneyRuntime

/// Erasure takes a profile's instances and undelivered messages; the numbers they had are
/// never given again (a message id names its instance; readers page the outbox by number).
final class StoreErasureTests: XCTestCase, StoreFixture {
    func send(_ s: SQLiteStore, _ id: String, _ profile: String) throws {
        try s.appendOutbox(id: id, at: 100, profile: profile, journey: "j", channel: "email", status: "sent", content: "\"hi\"", reason: nil,
                           address: "\(profile)@x.com", bundle: "b", step: 0)
    }

    /// A failed step's messages are taken back; their numbers are given again (they were never
    /// seen), so the numbers have no gaps.
    func testMessagesTakenBackLeaveNoGap() throws {
        let (a, _) = try makeStores()
        try a.begin()
        try send(a, "1-0", "p")
        try send(a, "1-1", "p")
        try a.removeOutbox(ids: ["1-1"])
        try send(a, "2-0", "p")
        try a.commit()
        XCTAssertEqual(try a.outbox(afterSeq: 0, limit: 10).map { "\($0.seq) \($0.id)" }, ["1 1-0", "2 2-0"])
    }

    func testNumbersOfErasedInstancesAndMessagesAreNotGivenAgain() throws {
        let (a, _) = try makeStores()
        try a.begin()
        try a.saveProfile("p", [.string("Pat")])
        try a.saveProfile("q", [.string("Quinn")])
        for (id, profile) in [(Int64(1), "p"), (2, "q")] {
            XCTAssertEqual(try a.nextInstanceID(profile: profile), id)
            try a.insertInstance(InstanceRow(id: id, journey: "j", profile: profile, bundle: "b", pc: 0, locals: [], sends: 1, status: "completed", enteredAt: 100), endedAt: 100)
            try send(a, "\(id)-0", profile)
        }
        try a.commit()
        XCTAssertEqual(try a.lastOutboxSeq(), 2)

        XCTAssertTrue(try a.transaction { try a.erase(profile: "q") })
        XCTAssertEqual(try a.lastOutboxSeq(), 1, "q's undelivered message went")

        try a.begin()
        let next = try a.nextInstanceID(profile: "p")
        XCTAssertEqual(next, 3, "not q's number again")
        try send(a, "\(next)-0", "p")
        try a.commit()
        let after = try a.outbox(afterSeq: 2, limit: 10)
        XCTAssertEqual(after.map(\.id), ["3-0"], "a reader that had seen number 2 finds the new message after it")

        // Numbering goes on above them after the store is opened again.
        let reopened = try SQLiteStore(path: a.db.path)
        try reopened.begin()
        XCTAssertEqual(try reopened.nextInstanceID(profile: "q"), 3, "the largest stored is 1, the erased 2")
        reopened.rollback()
    }
}
