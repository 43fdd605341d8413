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
