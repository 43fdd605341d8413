import Foundation
import XCTest
import JourneyBytecode
@testable import JourneyRuntime

final class ArithmeticTests: XCTestCase {
    func testMoneyIsExactAndShownInCents() throws {
        let price = Value.money(19_990_000) // 19.99
        XCTAssertEqual(try Arithmetic.multiply(price, .int(3)), .money(59_970_000))
        XCTAssertEqual(try Arithmetic.multiply(price, .decimal(900_000)).text, "17.99") // 17.991 → 17.99
        XCTAssertEqual(try Arithmetic.divide(.money(10_000_000), .int(3)).text, "3.33")
        XCTAssertEqual(try Arithmetic.add(.money(100_000), .money(200_000), negate: false), .money(300_000)) // 0.1 + 0.2 == 0.3
        XCTAssertEqual(Value.money(25_000).text, "0.02") // 0.025 → half to even
        XCTAssertEqual(Value.money(35_000).text, "0.04")
        XCTAssertThrowsError(try Arithmetic.divide(.int(1), .int(0)))
        XCTAssertThrowsError(try Arithmetic.add(.int(Int64.max), .int(1), negate: false))
    }

    /// Dates, times, durations and negation fault instead of wrapping or trapping (issue 9:
    /// `today + 1000000000w` gave a date in the year -4351068).
    func testDateAndTimeArithmeticFaultsOutsideItsRange() throws {
        let today = Value.date(20_148) // 2025-03-01
        XCTAssertThrowsError(try Arithmetic.add(today, .duration(1_000_000_000 * 604_800), negate: false)) { XCTAssertTrue("\($0)".contains("years 1 to 9999")) }
        XCTAssertThrowsError(try Arithmetic.add(today, .duration(1_000_000_000 * 604_800), negate: true))
        XCTAssertThrowsError(try Arithmetic.add(.time(253_402_300_799), .duration(86_400), negate: false))
        XCTAssertThrowsError(try Arithmetic.add(.time(Int64.max - 5), .duration(10), negate: false))
        XCTAssertThrowsError(try Arithmetic.add(.duration(Int64.min), .duration(1), negate: true))
        XCTAssertThrowsError(try Arithmetic.multiply(.duration(Int64.max / 2), .int(3)))
        XCTAssertThrowsError(try Arithmetic.divide(.duration(Int64.min), .int(-1)))
        XCTAssertThrowsError(try Arithmetic.negate(.int(Int64.min)))
        XCTAssertThrowsError(try Arithmetic.add(.int(10_000_000_000_000), .money(1), negate: false), "an int too large for money faults, never caps")
        XCTAssertThrowsError(try Arithmetic.add(today, .duration(Int64.min), negate: false), "the ends of the range fault, never trap")
        XCTAssertThrowsError(try Arithmetic.add(.time(0), .duration(Int64.min + 1), negate: false))
        XCTAssertThrowsError(try Arithmetic.add(.duration(Int64.min), today, negate: false))
        XCTAssertEqual(try Arithmetic.add(today, .duration(2 * 86_400), negate: true), .date(20_146))
        XCTAssertEqual(try Arithmetic.add(today, .duration(-1), negate: false), .date(20_147))
    }

    func testComparisonsAcrossNumericKinds() {
        XCTAssertEqual(Arithmetic.compare(.int(3), .money(2_990_000)), 1)
        XCTAssertTrue(Arithmetic.equal(.int(2), .decimal(2_000_000)))
        XCTAssertFalse(Arithmetic.equal(.none, .string("")))
        XCTAssertTrue(Arithmetic.equal(.none, .none))
    }

    func testTimeArithmetic() throws {
        let t = Value.time(1_740_787_200)
        XCTAssertEqual(try Arithmetic.add(t, .duration(3600), negate: false), .time(1_740_790_800))
        XCTAssertEqual(try Arithmetic.add(t, .time(1_740_700_800), negate: true), .duration(86_400))
        XCTAssertEqual(try Arithmetic.add(.date(10), .duration(2 * 86_400), negate: false), .date(12))
    }
}

final class LocalTimeTests: XCTestCase {
    let iso = { (s: String) -> Int64 in Value.parseISO8601(s) ?? 0 }

    func testNextLocalTime() throws {
        var zones = Zones()
        let ny = zones.zone("America/New_York")
        XCTAssertEqual(Zones.next(minutes: 9 * 60, after: iso("2025-03-01T12:00:00Z"), ny), iso("2025-03-01T14:00:00Z"))
        // Exactly at 09:00 local: the next one is tomorrow.
        XCTAssertEqual(Zones.next(minutes: 9 * 60, after: iso("2025-03-01T14:00:00Z"), ny), iso("2025-03-02T14:00:00Z"))
        // Spring forward (2025-03-09): 02:30 does not exist and moves to 03:00 EDT.
        XCTAssertEqual(Zones.next(minutes: 150, after: iso("2025-03-09T05:00:00Z"), ny), iso("2025-03-09T07:00:00Z"))
        // Fall back (2025-11-02): 01:30 happens twice; the first is 05:30Z (EDT).
        XCTAssertEqual(Zones.next(minutes: 90, after: iso("2025-11-02T04:00:00Z"), ny), iso("2025-11-02T05:30:00Z"))
        // No or unknown time zone: UTC.
        XCTAssertEqual(Zones.next(minutes: 60, after: iso("2025-03-01T00:00:00Z"), zones.zone("Mars/Olympus")), iso("2025-03-01T01:00:00Z"))
    }

    /// Issue 8, section 4: only tz database names (and their links) are zones.
    func testOnlyIANANamesAreZones() {
        var zones = Zones()
        let winter = iso("2025-01-15T12:00:00Z"), summer = iso("2025-07-15T12:00:00Z")
        for name in ["BST", "PST", "CST", "IST", "JST", "AET", "MIT", "SST", "GMT+5", "UTC+05:30", "GMT-3", "europe/paris", "Mars/Olympus"] {
            XCTAssertFalse(TimeZoneNames.isZone(name), name)
            XCTAssertEqual(Zones.offset(zones.zone(name), summer), 0, "\(name) is UTC")
        }
        XCTAssertEqual(Zones.offset(zones.zone("Etc/GMT+5"), winter), -5 * 3600)
        XCTAssertEqual(Zones.offset(zones.zone("US/Eastern"), winter), -5 * 3600, "an IANA link is a zone")
        XCTAssertEqual(Zones.offset(zones.zone("Europe/London"), summer), 3600)
        XCTAssertEqual(Zones.offset(zones.zone("UTC"), summer), 0)
        XCTAssertEqual(TimeZoneNames.suggestion(for: "europe/paris"), "Europe/Paris")
        XCTAssertEqual(TimeZoneNames.suggestion(for: "Europe/Pari"), "Europe/Paris")
        XCTAssertFalse(TimeZoneNames.databaseVersion.isEmpty)
    }

    /// A hold that begins in the repeated hour of a fall-back night ends when the clock first
    /// reaches the window's end after it, in that same repeated hour, not a day later.
    func testQuietHoursEndInTheRepeatedHour() {
        var zones = Zones()
        let paris = zones.zone("Europe/Paris")
        // 2025-10-26T01:00Z is 02:00 CET, the second pass of 02:00–03:00 local.
        XCTAssertEqual(Zones.quiet(iso("2025-10-26T01:00:00Z"), from: 23 * 60, to: 150, paris), iso("2025-10-26T01:30:00Z"))
        // In the first pass (02:00 CEST = 00:00Z) it ends at the first 02:30 (00:30Z).
        XCTAssertEqual(Zones.quiet(iso("2025-10-26T00:00:00Z"), from: 23 * 60, to: 150, paris), iso("2025-10-26T00:30:00Z"))
        // A daily time on that night still comes once, at the first 02:30.
        XCTAssertEqual(Zones.next(minutes: 150, after: iso("2025-10-25T12:00:00Z"), paris), iso("2025-10-26T00:30:00Z"))
        XCTAssertEqual(Zones.next(minutes: 150, after: iso("2025-10-26T00:30:00Z"), paris), iso("2025-10-27T01:30:00Z"))
    }

    func testQuietHoursWrapMidnight() {
        var zones = Zones()
        let paris = zones.zone("Europe/Paris")
        // 23:30 Paris (22:30Z) is quiet until 08:00 Paris (07:00Z).
        XCTAssertEqual(Zones.quiet(iso("2025-03-01T22:30:00Z"), from: 22 * 60, to: 8 * 60, paris), iso("2025-03-02T07:00:00Z"))
        // 08:00 exactly is outside the window.
        XCTAssertNil(Zones.quiet(iso("2025-03-02T07:00:00Z"), from: 22 * 60, to: 8 * 60, paris))
    }
}

final class EncodingTests: XCTestCase {
    func testLocalsRoundTrip() {
        let values: [Value] = [.none, .bool(true), .int(-5), .decimal(1_500_000), .money(19_990_000), .string("héllo"),
                               .date(20_000), .time(1_740_787_200), .duration(3600), .timeOfDay(540),
                               .list([.string("a"), .int(1)]), .record(Record(event: 2, at: 99, fields: [.string("x"), .none]))]
        XCTAssertEqual(ValueEncoding.decode(ValueEncoding.encode(values)), values)
        XCTAssertNil(ValueEncoding.decode([1, 2, 3]), "damaged locals are refused, not misread")
        // The size an event's blob is made room for is the size it takes.
        for v in values + [.list([.list([.string("")]), .record(Record(event: 0, at: -1, fields: []))])] {
            var out: [UInt8] = []
            ValueEncoding.encode(v, &out)
            XCTAssertEqual(out.count, ValueEncoding.encodedSize(v), "\(v)")
        }
        XCTAssertEqual(ValueEncoding.encode([.int(0x0102_0304_0506_0708)]), [1, 0, 0, 0, 0, 0, 0, 0, 2, 8, 7, 6, 5, 4, 3, 2, 1], "little-endian")
    }

    /// An event's blob, written in place, is byte for byte what appending each part gives.
    func testEventBlobsAreWrittenAsTheyAreSpelledOut() {
        let long = String(repeating: "n", count: 300), values: [Value] = [.none, .bool(false), .int(-1), .decimal(5), .money(19_900_000), .string(""),
            .string("héllo \u{1F600}"), .date(-3), .time(1_740_787_200), .duration(60), .timeOfDay(1439), .list([]), .list([.string("a"), .list([.int(2)])]),
            .record(Record(event: 1, at: -5, fields: [.string("x"), .none]))]
        for (k, v) in values.enumerated() {
            let def = EventDef(name: "e", fields: [FieldDef(name: "f\(k)", type: .string), FieldDef(name: k % 2 == 0 ? "é" : long, type: .string)])
            let fields = [v, values[(k + 3) % values.count]]
            var expected: [UInt8] = []
            ValueEncoding.put(2, &expected)
            for (f, x) in zip(def.fields, fields) {
                let n = min(f.name.utf8.count, 255)
                expected.append(UInt8(n))
                expected.append(contentsOf: f.name.utf8.prefix(n))
                ValueEncoding.encode(x, &expected)
            }
            XCTAssertEqual(ValueEncoding.eventBlob(fields, def), expected, "\(v)")
        }
    }

    func testEventDataRoundTripsThroughTheSchema() {
        let def = EventDef(name: "order", fields: [FieldDef(name: "total", type: .money), FieldDef(name: "note", type: .optional(.string)),
                                                    FieldDef(name: "placed", type: .time), FieldDef(name: "day", type: .date)])
        let fields: [Value] = [.money(129_900_000), .none, .time(1_740_787_200), .date(20_148)]
        let data = ValueEncoding.eventBlob(fields, def)
        XCTAssertEqual(ValueEncoding.fields(fromBlob: data, def), fields)
        // A newer schema with an extra field reads old data with the field absent.
        var newer = def
        newer.fields.append(FieldDef(name: "coupon", type: .optional(.string)))
        XCTAssertEqual(ValueEncoding.fields(fromBlob: data, newer), fields + [.none])
        // A field that became money reads an old int as money.
        var widened = def
        widened.fields[0] = FieldDef(name: "total", type: .money)
        XCTAssertEqual(ValueEncoding.fields(fromBlob: ValueEncoding.eventBlob([.int(3), .none, .time(0), .date(0)], def), widened)[0], .money(3_000_000))
        // Fields that moved, or were renamed to a name of the same length, are found by name.
        let reordered = EventDef(name: "order", fields: [def.fields[3], def.fields[2], FieldDef(name: "tital", type: .money), def.fields[0]])
        XCTAssertEqual(ValueEncoding.fields(fromBlob: data, reordered), [.date(20_148), .time(1_740_787_200), .none, .money(129_900_000)])
    }
}

/// The store keeps profiles and history in memory across transactions; another connection's
/// commit, or a rollback, must make it read SQLite again.
final class StoreCacheTests: XCTestCase {
    let def = EventDef(name: "viewed", fields: [FieldDef(name: "sku", type: .string)])

    func makeStores() throws -> (SQLiteStore, SQLiteStore) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("journey-cache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("j.db").path
        var schema = RuntimeSchema()
        schema.attributes = [FieldDef(name: "name", type: .string)]
        schema.events = [def]
        let a = try SQLiteStore(path: path), b = try SQLiteStore(path: path)
        try a.begin(); try a.migrateProfiles(schema); try a.commit()
        try b.migrateProfiles(schema)
        return (a, b)
    }

    func skus(_ s: SQLiteStore, since: Int64? = nil) throws -> [Value] {
        try s.records(profile: "p", event: def, index: 0, since: since).map { $0.fields[0] }
    }

    /// Ingests events (sku, at) in one batch; their arrival numbers follow on from earlier ones.
    func ingest(_ s: SQLiteStore, _ events: [(String, Int64)]) throws {
        try s.enqueue(events.map { IncomingRow(profile: "p", event: "viewed", at: $0.1, data: ValueEncoding.eventBlob([.string($0.0)], def)) })
    }

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
        XCTAssertEqual(try b.inbox(until: nil, limit: 1000).count, 300)
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
        XCTAssertEqual(try b.inbox(until: nil, limit: 1000).count, 300)
        try b.commit()
    }

    /// History rows that fail to go in at the commit fail the commit, and every commit after
    /// it, until the transaction is rolled back (its inbox rows go with it); outside a
    /// transaction nothing is held back.
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
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("journey-scan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
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
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("journey-zone-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
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

/// Names reach SQL only as quoted identifiers: even a name the verifier would refuse becomes a
/// column of that exact name, never a statement.
final class StoreIdentifierTests: XCTestCase {
    func testHostileAttributeNamesStayColumnNames() throws {
        let store = try SQLiteStore(path: ":memory:")
        var schema = RuntimeSchema()
        let hostile = #"city" TEXT; CREATE TABLE pwned(x); DROP TABLE outbox; --"#
        schema.attributes = [FieldDef(name: hostile, type: .string), FieldDef(name: "plain", type: .int)]
        try store.begin()
        try store.migrateProfiles(schema)
        try store.saveProfile("p", [.string("Lyon"), .int(3)])
        try store.commit()
        try store.begin()
        XCTAssertEqual(try store.loadProfile("p"), [.string("Lyon"), .int(3)])
        try store.commit()
        let tables = try store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        var names: [String] = []
        while try tables.step() { names.append(tables.text(0)) }
        XCTAssertTrue(names.contains("outbox"), "\(names)")
        XCTAssertFalse(names.contains("pwned"), "\(names)")
        let column = try store.db.prepare("SELECT COUNT(*) FROM pragma_table_info('profiles') WHERE name = ?")
        column.bind(1, hostile)
        XCTAssertTrue(try column.step())
        XCTAssertEqual(column.int(0), 1)
    }
}
