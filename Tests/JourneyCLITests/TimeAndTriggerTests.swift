import Foundation
import XCTest

/// Issue 8, section 2: a trigger taken long after it happened starts nothing (max_delay).
final class MaxDelayTests: XCTestCase {
    func testStaleTriggersStartNothingUnlessMaxDelayIsOff() throws {
        let d = try tempDir()
        let p = d.appendingPathComponent("project")
        try FileManager.default.createDirectory(at: p, withIntermediateDirectories: true)
        try "profile { first_name: string, email: string? }\nevent signup { source: string }\nevent tick {}\nchannel email address profile.email\n"
            .write(to: p.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
        try """
        journey default_delay {
          on signup as s
          goal tick
          reentry always
          email "default {s.source} {count(signup within 30d)}"
        }
        journey short {
          on signup as s
          goal tick
          reentry always
          max_delay 2h
          email "short {s.source}"
        }
        journey off {
          on signup as s
          goal tick
          reentry always
          max_delay none
          email "off {s.source}"
        }

        """.write(to: p.appendingPathComponent("flows.journey"), atomically: true, encoding: .utf8)
        let bundle = d.appendingPathComponent("b.journeyc").path
        let built = try journey(["build", "-o", bundle, p.path])
        XCTAssertEqual(built.code, 0, built.out)
        let db = d.appendingPathComponent("j.db").path
        try "{\"id\": \"a\", \"first_name\": \"Ana\", \"email\": \"a@x\"}\n".write(to: d.appendingPathComponent("p.jsonl"), atomically: true, encoding: .utf8)
        func events(_ name: String, _ items: [(String, String)]) throws -> String {
            let path = d.appendingPathComponent(name).path
            try items.map { "{\"profile\": \"a\", \"event\": \"signup\", \"at\": \"\($0.1)\", \"data\": {\"source\": \"\($0.0)\"}}\n" }.joined().write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        XCTAssertEqual(try journey(["deploy", "--db", db, bundle]).code, 0)
        XCTAssertEqual(try journey(["import", "--db", db, d.appendingPathComponent("p.jsonl").path]).code, 0)
        XCTAssertEqual(try journey(["ingest", "--db", db, try events("e1.jsonl", [("now", "2025-03-10T10:00:00Z")])]).code, 0)
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-10T12:00:00Z"]).code, 0)
        // Arrive late: 3 hours and 3 days after they happened.
        XCTAssertEqual(try journey(["ingest", "--db", db, try events("e2.jsonl", [("hours", "2025-03-10T09:00:00Z"), ("days", "2025-03-07T12:00:00Z")])]).code, 0)
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-10T12:00:00Z"]).code, 0)
        let bodies = try journey(["outbox", "--db", db]).out.split(separator: "\n").compactMap { line in
            line.range(of: "\"body\": \"").map { String(line[$0.upperBound...].prefix { $0 != "\"" }) }
        }
        // The 3-day-late event starts only the journey without a max_delay, and the 3-hour-late
        // one also the default (24h); both are in the history ("hours" counts 3: now, days, hours).
        XCTAssertEqual(bodies.sorted(), ["default hours 3", "default now 1", "off days", "off hours", "off now", "short now"])
    }
}

final class TimeZoneImportTests: XCTestCase {
    func testImportWarnsOfNamesThatAreNotZones() throws {
        let d = try tempDir()
        let bundle = d.appendingPathComponent("b.journeyc").path
        XCTAssertEqual(try journey(["build", "-o", bundle, "examples"]).code, 0)
        let db = d.appendingPathComponent("j.db").path
        XCTAssertEqual(try journey(["deploy", "--db", db, bundle]).code, 0)
        let base = "\"first_name\": \"A\", \"email_opt_in\": true, \"whatsapp_opt_in\": false, \"sms_opt_in\": false, \"city\": \"x\", \"lifetime_value\": 0, \"orders_count\": 0, \"loyalty_points\": 0, \"loyalty_tier\": \"Silver\""
        try ["{\"id\": \"a\", \(base), \"timezone\": \"BST\"}", "{\"id\": \"b\", \(base), \"timezone\": \"europe/paris\"}", "{\"id\": \"c\", \(base), \"timezone\": \"Europe/Paris\"}"]
            .joined(separator: "\n").appending("\n").write(to: d.appendingPathComponent("p.jsonl"), atomically: true, encoding: .utf8)
        let r = try journey(["import", "--db", db, d.appendingPathComponent("p.jsonl").path])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.err.contains(#"profile "a": timezone "BST" is not an IANA time zone name, so its local times are in UTC"#), r.err)
        XCTAssertTrue(r.err.contains(#"profile "b": timezone "europe/paris" is not an IANA time zone name, so its local times are in UTC; did you mean "Europe/Paris"?"#), r.err)
        XCTAssertFalse(r.err.contains(#"profile "c""#), r.err)
        XCTAssertTrue(try journey(["--version"]).out.contains("tz database"))
    }
}

/// Issue 9, item 11: an old event does not make a wall-clock run replay daily audience runs
/// from its day on; they start at the deploy.
final class AudienceStartTests: XCTestCase {
    func testAudienceRunsNeverStartBeforeTheDeploy() throws {
        let d = try tempDir()
        let bundle = d.appendingPathComponent("b.journeyc").path
        XCTAssertEqual(try journey(["build", "-o", bundle, "examples"]).code, 0)
        let db = d.appendingPathComponent("j.db").path
        XCTAssertEqual(try journey(["deploy", "--db", db, bundle]).code, 0)
        XCTAssertEqual(try journey(["import", "--db", db, "examples/data/profiles.jsonl"]).code, 0)
        try "{\"profile\": \"ana\", \"event\": \"push_opened\", \"at\": \"1970-01-02T00:00:00Z\"}\n".write(to: d.appendingPathComponent("old.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["ingest", "--db", db, d.appendingPathComponent("old.jsonl").path]).code, 0)
        let r = try journey(["run", "--db", db], timeout: 120)
        XCTAssertEqual(r.code, 0, r.err)
        // Three daily journeys over five time zone groups: at most a day's runs of each.
        let runs = r.out.range(of: #"(\d+) audience runs?"#, options: .regularExpression).map { Int(r.out[$0].split(separator: " ")[0]) ?? -1 } ?? -1
        XCTAssertGreaterThanOrEqual(runs, 0, r.out)
        XCTAssertLessThanOrEqual(runs, 2 * 3 * 5, r.out)
    }
}
