import Foundation
import XCTest
import JourneyBytecode
@testable import JourneyRuntime

/// The store keeps profiles and history in memory across transactions; another connection's
/// commit, or a rollback, must make it read SQLite again.
final class StoreCacheTests: XCTestCase, StoreFixture {
    func testAnotherConnectionsCommitIsSeen() throws {
        let (a, b) = try makeStores()
        try a.begin()
        try a.saveProfile("p", [.string("Ann")])
        try ingest(a, [("s1", 10)])
        a.markTaken(at: 10, seq: 1)
        XCTAssertEqual(try a.loadProfile("p"), [.string("Ann")])
        XCTAssertEqual(try skus(a), [.string("s1")])
        try a.commit()

        try b.begin()
        try b.saveProfile("p", [.string("Bea")])
        try ingest(b, [("s2", 20)])
        b.markTaken(at: 20, seq: 2)
        try b.commit()

        try a.begin()
        XCTAssertEqual(try a.loadProfile("p"), [.string("Bea")], "a profile another connection changed is read again")
        XCTAssertEqual(try skus(a), [.string("s1"), .string("s2")], "history another connection added and took is read again")
        try a.commit()
    }

    func testHistoryShowsOnlyEventsTheRunHasTaken() throws {
        let (a, _) = try makeStores()
        try a.begin()
        try ingest(a, [("s5", 50), ("s6", 60), ("s4", 45)]) // arrival numbers 1, 2, 3
        XCTAssertEqual(try skus(a), [], "ingested is not yet history")
        a.markTaken(at: 45, seq: 3)
        XCTAssertEqual(try skus(a), [.string("s4")])
        a.markTaken(at: 50, seq: 1)
        XCTAssertEqual(try skus(a), [.string("s4"), .string("s5")], "s6 is still to come")
        XCTAssertEqual(try a.historyCount(profile: "p", event: "viewed", since: 46), 1)
        try a.commit()

        // A late arrival, before what the run has taken, stays out of sight until it is taken.
        try a.begin()
        try ingest(a, [("s3", 30)]) // arrival number 4
        XCTAssertEqual(try skus(a, since: 0), [.string("s4"), .string("s5")])
        try a.commit()
        try a.begin()
        XCTAssertEqual(try skus(a, since: 0), [.string("s4"), .string("s5")], "still waiting in a new transaction")
        a.markTaken(at: 30, seq: 4)
        XCTAssertEqual(try skus(a, since: 0), [.string("s3"), .string("s4"), .string("s5")])
        XCTAssertEqual(try skus(a, since: 40), [.string("s4"), .string("s5")])
        try a.commit()
        try a.begin()
        XCTAssertEqual(try skus(a, since: 0), [.string("s3"), .string("s4"), .string("s5")], "what was taken stays taken")
        try a.commit()
    }

    /// After enough misses a cold cache is filled by one scan of the table; it then answers
    /// for keys it lacks (no row), takes new writes, and is dropped like the others.
    func testCachesFilledByOneScanStayComplete() throws {
        let (a, b) = try makeStores()
        a.missesBeforeScan = 2
        try a.begin()
        try a.saveProfile("p", [.string("Ann")])
        try a.saveProfile("q", [.string("Quinn")])
        try ingest(a, [("s1", 10), ("s2", 20)])
        try a.enqueue([IncomingRow(profile: "q", event: "viewed", at: 15, data: ValueEncoding.eventBlob([.string("q1")], def))])
        a.markTaken(at: 10, seq: 1)
        a.markTaken(at: 15, seq: 3)
        try a.commit()

        try a.begin()
        XCTAssertNil(try a.loadProfile("nobody"), "first miss: read from SQLite")
        XCTAssertEqual(try a.loadProfile("q"), [.string("Quinn")], "second miss: the scan")
        XCTAssertTrue(a.profilesComplete)
        XCTAssertNil(try a.loadProfile("nobody"), "complete: no such profile")
        try a.saveProfile("r", [.string("Rae")])
        XCTAssertEqual(try a.loadProfile("r"), [.string("Rae")], "a new profile joins the complete cache")
        XCTAssertEqual(try a.records(profile: "x", event: def, index: 0, since: nil).count, 0)
        XCTAssertEqual(try a.records(profile: "q", event: def, index: 0, since: nil).map { $0.fields[0] }, [.string("q1")])
        XCTAssertTrue(a.historyComplete)
        XCTAssertEqual(try skus(a), [.string("s1")], "the scan keeps what is not taken out of sight")
        a.markTaken(at: 20, seq: 2)
        XCTAssertEqual(try skus(a), [.string("s1"), .string("s2")])
        try a.commit()

        try b.begin()
        try b.saveProfile("nobody", [.string("Nia")])
        try b.enqueue([IncomingRow(profile: "x", event: "viewed", at: 30, data: ValueEncoding.eventBlob([.string("x1")], def))])
        b.markTaken(at: 30, seq: 4)
        try b.commit()
        try a.begin()
        XCTAssertFalse(a.profilesComplete)
        XCTAssertEqual(try a.loadProfile("nobody"), [.string("Nia")], "another connection's commit drops the complete cache")
        XCTAssertEqual(try a.records(profile: "x", event: def, index: 0, since: nil).map { $0.fields[0] }, [.string("x1")])
        try a.commit()
    }

    /// The run may hand the store the event as it decoded it; the cached history then answers
    /// exactly as when the store decodes it itself.
    func testAnEventTakenDecodedReadsTheSame() throws {
        let (a, _) = try makeStores()
        let (b, _) = try makeStores()
        for s in [a, b] {
            try s.begin()
            try ingest(s, [("s1", 10), ("s2", 20), ("s3", 30)])
            try s.commit()
        }
        try a.begin(); try b.begin()
        let items = try a.inbox(until: nil, limit: 10)
        XCTAssertEqual(items.count, 3)
        for item in items {
            let record = Record(event: 0, at: item.at, fields: ValueEncoding.fields(fromBlob: item.data, def))
            a.markTaken(item, decoded: (record, def))
            b.markTaken(item)
            XCTAssertEqual(try skus(a), try skus(b))
        }
        XCTAssertEqual(try skus(a), [.string("s1"), .string("s2"), .string("s3")])
        XCTAssertEqual(try skus(a, since: 15), [.string("s2"), .string("s3")])
        XCTAssertEqual(a.historyCacheRows, 3)
        // Another definition still reads the rows again from the table.
        let newer = EventDef(name: "viewed", fields: [FieldDef(name: "price", type: .optional(.money)), FieldDef(name: "sku", type: .string)])
        XCTAssertEqual(try a.records(profile: "p", event: newer, index: 3, since: nil).map { $0.fields[1] }, [.string("s1"), .string("s2"), .string("s3")])
        try a.commit(); try b.commit()
    }

    /// A run that begins with nothing taken reads no history from the table: the cache holds
    /// the events as they are taken, and answers as the table would (a second connection,
    /// reading the table, is the reference); without the event itself, or on another
    /// definition's reading, it keeps to what is taken.
    func testAFirstRunKeepsTheEventsItTakes() throws {
        let (a, b) = try makeStores()
        try a.begin()
        try a.saveProfile("p", [.string("Ann")])
        try ingest(a, [("s1", 10), ("s2", 20), ("s3", 30), ("s4", 40)])
        try a.enqueue([IncomingRow(profile: "q", event: "viewed", at: 25, data: ValueEncoding.eventBlob([.string("q1")], def))])
        try a.commit()

        try a.begin()
        XCTAssertTrue(a.historyTakenOnly, "nothing taken yet")
        XCTAssertEqual(try skus(a), [], "nothing is seen before it is taken")
        let items = try a.inbox(until: nil, limit: 10)
        XCTAssertEqual(items.map(\.at), [10, 20, 25, 30, 40])
        for item in items.prefix(3) { a.markTaken(item) }
        XCTAssertEqual(try skus(a), [.string("s1"), .string("s2")])
        XCTAssertEqual(try skus(a, since: 15), [.string("s2")])
        XCTAssertEqual(try a.historyCount(profile: "q", event: "viewed", since: nil), 1)
        XCTAssertEqual(a.historyCacheRows, 3, "the three taken events, read from no table")
        // Another definition of the event reads the rows again: only the taken ones.
        let newer = EventDef(name: "viewed", fields: [FieldDef(name: "price", type: .optional(.money)), FieldDef(name: "sku", type: .string)])
        XCTAssertEqual(try a.records(profile: "p", event: newer, index: 3, since: nil).map { $0.fields[1] }, [.string("s1"), .string("s2")])
        a.markTaken(items[3])
        XCTAssertTrue(a.historyTakenOnly)
        XCTAssertEqual(try skus(a), [.string("s1"), .string("s2"), .string("s3")])
        // Taken by its key alone, an event cannot join the cache: the cache is read again.
        a.markTaken(at: items[4].at, seq: items[4].seq)
        XCTAssertFalse(a.historyTakenOnly)
        XCTAssertEqual(try skus(a), [.string("s1"), .string("s2"), .string("s3"), .string("s4")])
        try a.commit()

        try b.begin()
        XCTAssertFalse(b.historyTakenOnly, "events are taken: the table is read")
        XCTAssertEqual(try skus(b), [.string("s1"), .string("s2"), .string("s3"), .string("s4")])
        XCTAssertEqual(try b.historyCount(profile: "q", event: "viewed", since: nil), 1)
        try b.commit()
    }

    /// Taken events of a kind no journey reads the history of stay out of the cache of taken
    /// events (a million sign-ups nobody counts were a million cached histories); asked for
    /// after all (a bundle that reads them, or a query), they come from the table, whole.
    func testEventsNoJourneyReadsStayOutOfTheCache() throws {
        /// A store holding Ann and four views of hers, none taken yet.
        func fourViews() throws -> SQLiteStore {
            let (s, _) = try makeStores()
            try s.begin()
            try s.saveProfile("p", [.string("Ann")])
            try ingest(s, [("s1", 10), ("s2", 20), ("s3", 30), ("s4", 40)])
            try s.commit()
            return s
        }
        for askedBy in ["a query", "a bundle"] {
            let c = try fourViews()
            c.readsHistory(of: ["order"])
            try c.begin()
            XCTAssertTrue(c.historyTakenOnly)
            let items = try c.inbox(until: nil, limit: 10)
            for item in items.prefix(2) { c.markTaken(item) }
            XCTAssertEqual(c.historyCacheRows, 0, "no journey reads 'viewed': nothing cached")
            XCTAssertTrue(c.historyTakenOnly)
            if askedBy == "a bundle" {
                c.readsHistory(of: ["viewed"])
                XCTAssertFalse(c.historyTakenOnly, "read after all: the cache goes back to the table")
            }
            XCTAssertEqual(try skus(c), [.string("s1"), .string("s2")], askedBy)
            XCTAssertFalse(c.historyTakenOnly, askedBy)
            c.markTaken(items[2])
            XCTAssertEqual(try skus(c), [.string("s1"), .string("s2"), .string("s3")], askedBy)
            try c.commit()
        }
        // Told nothing, the store caches every kind it takes.
        let a = try fourViews()
        try a.begin()
        let items = try a.inbox(until: nil, limit: 10)
        for item in items.prefix(2) { a.markTaken(item) }
        XCTAssertEqual(a.historyCacheRows, 2)
        try a.commit()
    }

    /// Audience scans served from a complete profile cache find the same profiles, in the same
    /// order, as the scans' statements: each zone group (none, empty and UTC together; a named
    /// zone exactly), every profile, and again after a profile moves zone or joins.
    func testScansFromTheCacheMatchTheStatements() throws {
        let dir = try scratchFolder("journey-scan")
        var schema = RuntimeSchema()
        schema.attributes = [FieldDef(name: "points", type: .int), FieldDef(name: "timezone", type: .optional(.string))]
        let a = try SQLiteStore(path: dir.appendingPathComponent("j.db").path)
        a.missesBeforeScan = 3
        try a.begin(); try a.migrateProfiles(schema); try a.commit()
        let zones: [String?] = [nil, "", "UTC", "Europe/Paris", "Asia/Tokyo", "Europe/Paris", nil, "utc"]
        // Ids whose order by bytes differs from other orders: upper case first, "é" last.
        let ids = ["b", "B", "a10", "a9", "é", "Z", "a", "ab"]
        try a.begin()
        for (k, id) in ids.enumerated() { try a.saveProfile(id, [.int(Int64(k)), zones[k].map { .string($0) } ?? .none]) }
        try a.commit()
        let even = { (_: () -> String, values: [Value]) in values[0] == .int(0) || (values[0].text.last.map { "02468".contains($0) } ?? false) }
        /// Each group's scan: (zone asked, every zone), outside a transaction (SQLite) or in one.
        func scans() throws -> [[String]] {
            try [nil, "UTC", "Europe/Paris", "Asia/Tokyo", "Nowhere", ""].map { try a.scanProfiles(timezone: $0, attributes: [0], condition: nil, filter: even) }
                + [try a.scanAllProfiles(attributes: [0], filter: even), try a.scanProfiles(timezone: "Europe/Paris", attributes: [0], condition: nil) { _, _ in true }]
        }
        var bySQL = try scans()
        XCTAssertEqual(bySQL[0], ["a", "a10", "b"], "no zone, an empty one or UTC, in byte order")
        XCTAssertEqual(bySQL[7], ["Z", "a9"], "Europe/Paris exactly")
        XCTAssertEqual(bySQL[6], ["a", "a10", "b", "é"], "every zone")
        try a.begin()
        for _ in 0..<3 { _ = try a.scanProfiles(timezone: "Asia/Tokyo", attributes: [0], condition: nil, filter: even) }
        XCTAssertTrue(a.profilesComplete, "three scans count as three misses: the table is read whole")
        XCTAssertEqual(try scans(), bySQL)
        XCTAssertNotNil(a.zoneGroups)
        // A profile moves from Tokyo to Paris and one joins in Paris: the groups follow.
        try a.saveProfile("Z", [.int(5), .string("Asia/Tokyo")])
        XCTAssertNil(a.zoneGroups, "a profile that moves zone drops the groups")
        try a.saveProfile("a9", [.int(20), .string("Europe/Paris")])
        try a.saveProfile("c", [.int(22), .string("Europe/Paris")])
        let inCache = try scans()
        try a.commit()
        bySQL = try scans()
        XCTAssertEqual(inCache, bySQL)
        XCTAssertEqual(bySQL[2], ["a9", "c"])
        XCTAssertEqual(bySQL[7], ["a9", "c"])
        // A zone written with a Kelvin sign is the same String as with a K, not the same text
        // to SQL: the scan of the K zone keeps to SQL's answer.
        try a.begin()
        try a.saveProfile("k1", [.int(0), .string("Europe/Kiev")])
        try a.saveProfile("k2", [.int(0), .string("Europe/\u{212A}iev")])
        let kiev = try a.scanProfiles(timezone: "Europe/Kiev", attributes: [0], condition: nil) { _, _ in true }
        XCTAssertTrue(a.profilesComplete)
        try a.commit()
        XCTAssertEqual(kiev, ["k1"])
        XCTAssertEqual(try a.scanProfiles(timezone: "Europe/Kiev", attributes: [0], condition: nil) { _, _ in true }, ["k1"])
    }

    /// A zone first seen in a transaction that rolls back is recorded again by the next
    /// profile that has it (its audience runs depend on it).
    func testAZoneRolledBackIsRecordedAgain() throws {
        let dir = try scratchFolder("journey-zone")
        var schema = RuntimeSchema()
        schema.attributes = [FieldDef(name: "timezone", type: .optional(.string))]
        let a = try SQLiteStore(path: dir.appendingPathComponent("j.db").path)
        try a.begin(); try a.migrateProfiles(schema); try a.commit()
        try a.begin()
        try a.saveProfile("p", [.string("Asia/Tokyo")])
        a.rollback()
        try a.begin()
        try a.saveProfile("q", [.string("Asia/Tokyo")])
        try a.commit()
        XCTAssertEqual(try a.profileTimezones(), [nil, "Asia/Tokyo"])
    }

    /// Entry counts (for re-entry rules) follow this connection's own writes and are read
    /// again after another connection's.
    func testEntryCountsFollowWrites() throws {
        let (a, b) = try makeStores()
        func row(_ id: Int64, _ at: Int64) -> InstanceRow {
            InstanceRow(id: id, journey: "j", profile: "p", bundle: "h", pc: 0, locals: [], sends: 0, status: "active", enteredAt: at)
        }
        try a.begin()
        XCTAssertEqual(try a.entryStats(journey: "j", profile: "p").total, 0)
        try a.insertInstance(row(try a.nextInstanceID(profile: "p"), 10), endedAt: nil)
        var e = try a.entryStats(journey: "j", profile: "p")
        XCTAssertEqual([e.active, e.total], [1, 1])
        XCTAssertEqual(e.lastEntered, 10)
        var done = row(1, 10)
        done.status = "completed"
        try a.endInstance(done, at: 20)
        var ended = row(try a.nextInstanceID(profile: "p"), 30)
        ended.status = "completed"
        try a.insertInstance(ended, endedAt: 30)
        e = try a.entryStats(journey: "j", profile: "p")
        XCTAssertEqual([e.active, e.total], [0, 2])
        XCTAssertEqual(e.lastEntered, 30)
        try a.commit()

        try b.begin()
        try b.insertInstance(row(try b.nextInstanceID(profile: "p"), 40), endedAt: nil)
        try b.commit()
        try a.begin()
        e = try a.entryStats(journey: "j", profile: "p")
        XCTAssertEqual([e.active, e.total], [1, 3], "another connection's entry is counted")
        XCTAssertEqual(e.lastEntered, 40)
        XCTAssertEqual(try a.nextInstanceID(profile: "p"), 4, "ids go on after the other connection's")
        try a.commit()
    }

    /// Cached rows keep only their decoded fields; another bundle's definition of the event
    /// (here with a field added) makes the store read the rows again.
    func testHistoryDecodedForAnotherDefinitionIsReadAgain() throws {
        let (a, _) = try makeStores()
        try a.begin()
        try ingest(a, [("s1", 10), ("s2", 20)])
        a.markTaken(at: 20, seq: 2)
        XCTAssertEqual(try skus(a), [.string("s1"), .string("s2")])
        let newer = EventDef(name: "viewed", fields: [FieldDef(name: "price", type: .optional(.money)), FieldDef(name: "sku", type: .string)])
        let fields = try a.records(profile: "p", event: newer, index: 3, since: nil).map(\.fields)
        XCTAssertEqual(fields, [[.none, .string("s1")], [.none, .string("s2")]])
        XCTAssertEqual(try a.records(profile: "p", event: newer, index: 3, since: nil).map(\.event), [3, 3])
        XCTAssertEqual(try skus(a), [.string("s1"), .string("s2")], "and back to the first definition")
        try a.commit()
    }

    /// Ingesting through the same connection after a full scan: the cache is no longer complete,
    /// and what was taken before is still seen.
    func testIngestAfterAFullScanKeepsTheHistory() throws {
        let (a, _) = try makeStores()
        a.missesBeforeScan = 2
        try a.begin()
        try ingest(a, [("s1", 10)])
        a.markTaken(at: 10, seq: 1)
        XCTAssertEqual(try a.records(profile: "x", event: def, index: 0, since: nil).count, 0)
        XCTAssertEqual(try skus(a), [.string("s1")])
        XCTAssertTrue(a.historyComplete)
        try a.commit()
        try a.begin()
        try ingest(a, [("s2", 20)])
        XCTAssertFalse(a.historyComplete)
        try a.commit()
        try a.begin()
        XCTAssertEqual(try skus(a), [.string("s1")], "s1 was taken; s2 is not yet")
        a.markTaken(at: 20, seq: 2)
        XCTAssertEqual(try skus(a), [.string("s1"), .string("s2")])
        try a.commit()
    }

    /// Tables bigger than the caches are not scanned: reads go to SQLite and stay right.
    func testTablesTooBigForTheCacheAreReadRowByRow() throws {
        let (a, _) = try makeStores()
        a.missesBeforeScan = 2
        a.profileCacheLimit = 2
        a.historyCacheLimit = 2
        try a.begin()
        for (i, name) in ["p", "q", "r"].enumerated() { try a.saveProfile(name, [.string("N\(i)")]) }
        try ingest(a, [("s1", 10), ("s2", 20), ("s3", 30)])
        a.markTaken(at: 30, seq: 3)
        try a.commit()
        try a.begin()
        XCTAssertNil(try a.loadProfile("x"))
        XCTAssertEqual(try a.loadProfile("r"), [.string("N2")])
        XCTAssertFalse(a.profilesComplete, "three profiles do not fit in two")
        XCTAssertEqual(try a.loadProfile("q"), [.string("N1")])
        XCTAssertEqual(try a.records(profile: "x", event: def, index: 0, since: nil).count, 0)
        XCTAssertEqual(try skus(a), [.string("s1"), .string("s2"), .string("s3")])
        XCTAssertFalse(a.historyComplete, "three rows do not fit in two")
        try a.saveProfile("q", [.string("Q")])
        XCTAssertEqual(try a.loadProfile("q"), [.string("Q")])
        try a.commit()
    }

    func testRollbackForgetsWhatItCached() throws {
        let (a, _) = try makeStores()
        try a.begin()
        try a.saveProfile("p", [.string("Ann")])
        try ingest(a, [("s1", 10), ("s2", 20)])
        a.markTaken(at: 10, seq: 1)
        try a.commit()
        try a.begin()
        XCTAssertEqual(try skus(a), [.string("s1")])
        _ = try a.loadProfile("p")
        a.markTaken(at: 20, seq: 2)
        try a.saveProfile("p", [.string("Bea")])
        XCTAssertEqual(try skus(a), [.string("s1"), .string("s2")])
        a.rollback()
        try a.begin()
        XCTAssertEqual(try skus(a), [.string("s1")])
        XCTAssertEqual(try a.loadProfile("p"), [.string("Ann")])
        try a.commit()
    }
}
