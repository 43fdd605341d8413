import Foundation
import XCTest
import JourneyBytecode
@testable import JourneyRuntime

/// What an ingest asks of the store: which profiles exist, and its history rows held back to
/// the commit and written there in the table's key order.
final class StoreIngestTests: XCTestCase, StoreFixture {
    /// Which profiles exist, asked by key lookups and from the complete cache, in and outside
    /// a transaction: always the same answer.
    func testExistingProfilesAnswerAlikeEveryWay() throws {
        let (a, _) = try makeStores()
        try a.begin()
        for k in 0..<300 where k % 3 != 0 { try a.saveProfile("u\(k)", [.string("N\(k)")]) }
        try a.commit()
        let want = { (ids: [String]) in Set(ids.filter { id in Int(id.dropFirst()).map { $0 < 300 && $0 % 3 != 0 } ?? false }) }
        let few = ["u1", "u3", "u4", "u299", "u300", "x", ""]
        let many = (0..<400).map { "u\($0)" } + ["u1", "x", "\u{212A}"]
        XCTAssertEqual(try a.existingProfiles(few), want(few), "outside a transaction")
        try a.begin()
        XCTAssertFalse(a.profilesComplete)
        XCTAssertEqual(try a.existingProfiles(few), want(few))
        XCTAssertEqual(try a.existingProfiles(many), want(many))
        XCTAssertEqual(try a.existingProfiles(many).count, 200)
        try a.saveProfile("x", [.string("Xena")])
        XCTAssertTrue(try a.existingProfiles(many).contains("x"), "a profile saved in the transaction exists")
        XCTAssertTrue(try a.loadAllProfiles())
        XCTAssertTrue(a.profilesComplete)
        XCTAssertEqual(try a.existingProfiles(many), want(many).union(["x"]))
        XCTAssertEqual(try a.existingProfiles(few), want(few).union(["x"]))
        a.rollback()
        XCTAssertEqual(try a.existingProfiles(many), want(many), "the rollback took the profile back")
    }

    /// An ingest's history rows may wait for the commit, to go in in the table's key order and
    /// many to a statement: the table then holds exactly what row-by-row inserts give; a read
    /// of the history in the same transaction writes them first; a rollback drops them.
    func testHistoryHeldBackToTheCommitIsTheSame() throws {
        var schema = RuntimeSchema()
        schema.attributes = [FieldDef(name: "name", type: .string)]
        schema.events = [def]
        // Ids that share their first 16 bytes (the sort's integer prefix) and ids that do not;
        // 150 rows: two full statements of 64 and a shorter one.
        let ids = ["p", "a-profile-id-longer-than-16-bytes-2", "a-profile-id-longer-than-16-bytes-1", "a-profile-id-longer-than-16"]
        let rows = (0..<150).map { k in
            IncomingRow(profile: ids[k % ids.count], event: "viewed", at: Int64((k * 37) % 50),
                        data: ValueEncoding.eventBlob([.string("sku-\(k)-" + String(repeating: "x", count: k % 7))], def))
        }
        func stored(_ s: SQLiteStore) throws -> [String: [String]] {
            var out: [String: [String]] = [:]
            for id in ids {
                out[id] = try s.recentEvents(profile: id, limit: 1000, schema: schema).map { e in "\(e.at) \(e.fields.map { "\($0.1)" })" }
            }
            return out
        }
        let (a, b) = try makeStores()
        let (reference, _) = try makeStores()
        try reference.begin()
        try reference.enqueue(rows)
        try reference.commit()
        try reference.begin()
        let expected = try stored(reference)
        try reference.commit()
        XCTAssertEqual(expected.values.map(\.count).reduce(0, +), 150)

        try a.begin()
        try a.enqueue(Array(rows[0..<100]), deferringHistory: true)
        try a.enqueue(Array(rows[100...]), deferringHistory: true)
        XCTAssertEqual(a.deferredHistory.count, 150, "held back")
        XCTAssertEqual(try stored(a), expected, "a read in the same transaction writes them first")
        XCTAssertTrue(a.deferredHistory.isEmpty)
        try a.enqueue(rows.map { IncomingRow(profile: $0.profile, event: $0.event, at: $0.at + 100, data: $0.data) }, deferringHistory: true)
        try a.commit()
        try b.begin()
        let both = try stored(b)
        XCTAssertEqual(both.mapValues { $0.count }, expected.mapValues { 2 * $0.count }, "the commit wrote the rest")
        XCTAssertEqual(try inboxCount(b), 300)
        try b.commit()

        // Held back up to a bound: past it, what is held is written at once.
        try a.begin()
        a.deferredHistoryLimit = 100
        try a.enqueue(Array(rows[0..<60]), deferringHistory: true)
        XCTAssertEqual(a.deferredHistory.count, 60)
        try a.enqueue(Array(rows[60..<120]).map { IncomingRow(profile: $0.profile, event: $0.event, at: $0.at + 200, data: $0.data) }, deferringHistory: true)
        XCTAssertEqual(a.deferredHistory.count, 0, "120 rows: over the bound, written")
        a.deferredHistoryLimit = 250_000
        a.rollback()

        // A rollback drops what was held back, with the inbox rows it came with.
        try a.begin()
        try a.enqueue(rows, deferringHistory: true)
        a.rollback()
        XCTAssertTrue(a.deferredHistory.isEmpty)
        try a.begin()
        try a.commit()
        try b.begin()
        XCTAssertEqual(try stored(b), both)
        XCTAssertEqual(try inboxCount(b), 300)
        try b.commit()
    }

    /// The history rows' order the caller gives (the parser's, for an ingest) changes only how
    /// fast they are sorted: given, reversed, not a permutation or none, the table is the same.
    func testTheHistoryOrderGivenChangesNothingStored() throws {
        var schema = RuntimeSchema()
        schema.attributes = [FieldDef(name: "name", type: .string)]
        schema.events = [def]
        let ids = ["p", "a-profile-id-longer-than-16-bytes-2", "a-profile-id-longer-than-16-bytes-1", "é", "e\u{301}"]
        let rows = (0..<130).map { k in
            IncomingRow(profile: ids[k % ids.count], event: "viewed", at: Int64((k * 37) % 20), data: ValueEncoding.eventBlob([.string("sku-\(k)")], def))
        }
        let sorted = StoreSchema.historyOrder(count: rows.count, profile: { rows[$0].profile }, event: { rows[$0].event }, at: { rows[$0].at }, tiebreak: { Int64($0) })
        // The order is SQLite's: by the bytes of the profile, then at, then arrival.
        for (x, y) in zip(sorted, sorted.dropFirst()) {
            let (a, b) = (rows[x], rows[y])
            XCTAssertTrue(Array(a.profile.utf8).lexicographicallyPrecedes(b.profile.utf8) || (a.profile.utf8.elementsEqual(b.profile.utf8) && (a.at, x) < (b.at, y)))
        }
        func table(_ order: [Int]?) throws -> [String] {
            let (a, _) = try makeStores()
            try a.begin()
            try a.enqueue(rows, deferringHistory: true, historyOrder: order)
            XCTAssertEqual(a.deferredHistory.count, rows.count, "held back, once each")
            try a.commit()
            try a.begin()
            defer { try? a.commit() }
            return try ids.flatMap { id in try a.recentEvents(profile: id, limit: 1000, schema: schema).map { "\(id) \($0.at) \($0.fields.map { "\($0.1)" })" } }
        }
        let expected = try table(nil)
        XCTAssertEqual(expected.count, rows.count)
        XCTAssertEqual(try table(sorted), expected)
        XCTAssertEqual(try table(sorted.reversed()), expected)
        XCTAssertEqual(try table(Array(sorted.dropLast()) + [sorted[0]]), expected, "not a permutation: ignored")
        XCTAssertEqual(try table([0, 1]), expected, "too few: ignored")

        XCTAssertEqual(Engine.order(byRank: [2, 0, 1]), [1, 2, 0])
        XCTAssertEqual(Engine.order(byRank: [7, 3, 5]), [1, 2, 0], "ranks of a part of a piece")
        XCTAssertNil(Engine.order(byRank: [1, -1, 0]), "a rank unknown")
        XCTAssertNil(Engine.order(byRank: [1, 1, 0]), "a rank twice")
        XCTAssertEqual(Engine.order(byRank: [1_000_000, 0, 70_000]), [1, 2, 0], "a small part of a big piece: sorted")
        XCTAssertNil(Engine.order(byRank: [1_000_000, 0, 1_000_000]), "a rank twice, sparse")
    }

    /// The parser ranks a piece's events in the history's key order (profile, event, at, line).
    func testTheParserRanksEventsInHistoryOrder() {
        var schema = RuntimeSchema()
        schema.events = [EventDef(name: "b_event", fields: []), EventDef(name: "a_event", fields: [])]
        var lines: [String] = []
        for k in 0..<60 {
            lines.append(#"{"profile": "u\#(k % 7)", "event": "\#(k % 3 == 0 ? "a_event" : "b_event")", "at": "2025-03-01T10:00:\#(String(format: "%02d", (k * 13) % 60))Z"}"#)
        }
        lines.insert("not json", at: 5)
        let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        let part = EventInput.parsePiece(bytes, 0..<bytes.count, schema: schema)
        XCTAssertEqual(part.events.count, 60)
        XCTAssertEqual(part.errors.count, 1)
        XCTAssertEqual(Set(part.events.map(\.historyRank)), Set((0..<60).map(Int32.init)))
        // A file read in parts: ranks stay unique over the file, each part a run in key order.
        let file = EventInput.parseFile(bytes, schema: schema, parts: 3)
        XCTAssertEqual(file.events.count, 60)
        XCTAssertEqual(Set(file.events.map(\.historyRank)).count, 60)
        let byRank = part.events.sorted { $0.historyRank < $1.historyRank }
        for (a, b) in zip(byRank, byRank.dropFirst()) {
            let ka = (a.event.profile, schema.events[a.event.event].name, a.event.at, a.line)
            let kb = (b.event.profile, schema.events[b.event.event].name, b.event.at, b.line)
            XCTAssertTrue(ka < kb, "\(ka) before \(kb)")
        }
    }

    /// History rows that fail to go in at the commit fail the commit, and every commit after
    /// it, until the transaction is rolled back (its inbox rows go with it); outside a
    /// transaction nothing is held back.
    func testHistoryThatFailsToGoInFailsTheCommit() throws {
        let (a, b) = try makeStores()
        // A row in the way of the first event's history row (its key, arrival number 1).
        try a.db.exec("INSERT INTO events(profile, event, at, seq, data) VALUES ('p', 'viewed', 10, 1, x'')")
        try a.begin()
        try a.enqueue([IncomingRow(profile: "p", event: "viewed", at: 10, data: ValueEncoding.eventBlob([.string("s1")], def))], deferringHistory: true)
        XCTAssertThrowsError(try a.commit())
        XCTAssertThrowsError(try a.commit(), "still refused") { XCTAssertTrue("\($0)".contains("rolled back"), "\($0)") }
        a.rollback()
        try b.begin()
        XCTAssertEqual(try b.inbox(until: nil, limit: 10).count, 0, "the inbox row went with the rollback")
        try b.commit()
        try a.begin()
        try a.commit()

        try a.enqueue([IncomingRow(profile: "q", event: "viewed", at: 20, data: ValueEncoding.eventBlob([.string("q1")], def))], deferringHistory: true)
        XCTAssertTrue(a.deferredHistory.isEmpty, "outside a transaction: written at once")
        try b.begin()
        XCTAssertEqual(try b.recentEvents(profile: "q", limit: 10, schema: RuntimeSchema()).count, 1)
        try b.commit()
    }
}
