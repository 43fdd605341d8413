import Foundation
import XCTest

/// Regressions found by the adversarial review (issue 9): each test fails without its fix.
final class HardeningTests: XCTestCase {
    let schema = """
    profile {
      first_name: string
      email: string?
      timezone: string?
    }
    event signup { source: string }
    channel email address profile.email

    """

    /// Writes a project (the schema and one file of journeys) and builds it to a bundle.
    func build(_ dir: URL, _ name: String, journeys: String, schema: String? = nil) throws -> String {
        let p = dir.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: p, withIntermediateDirectories: true)
        try (schema ?? self.schema).write(to: p.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
        try journeys.write(to: p.appendingPathComponent("flows.journey"), atomically: true, encoding: .utf8)
        let bundle = dir.appendingPathComponent("\(name).journeyc").path
        let r = try journey(["build", "-o", bundle, p.path])
        XCTAssertEqual(r.code, 0, r.out + r.err)
        return bundle
    }

    func write(_ dir: URL, _ name: String, _ text: String) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func daily(_ name: String, _ at: String) -> String {
        "journey \(name) {\n  on daily at \(at)\n  reentry always\n  email \"\(name) for {profile.first_name}\"\n}\n"
    }

    // MARK: - 1. A redeploy that drops a daily journey

    /// Deploys `from`, imports Ana, runs the morning of 2025-03-01, deploys `to`; returns the database.
    func redeploy(_ d: URL, from: String, to: String) throws -> String {
        let v1 = try build(d, "v1", journeys: from)
        let v2 = try build(d, "v2", journeys: to)
        let db = try testDatabase(d)
        let profiles = try write(d, "p.jsonl", "{\"id\": \"a\", \"first_name\": \"Ana\", \"email\": \"a@x\"}\n")
        XCTAssertEqual(try journey(["deploy", "--db", db, v1]).code, 0)
        XCTAssertEqual(try journey(["import", "--db", db, profiles]).code, 0)
        XCTAssertEqual(try journey(["run", "--db", db, "--start", "2025-03-01T00:00:00Z", "--until", "2025-03-01T12:00:00Z"]).code, 0)
        XCTAssertEqual(try journey(["deploy", "--db", db, v2]).code, 0)
        return db
    }

    func testRedeployWithoutADailyJourneyDoesNotHangTheRun() throws {
        let d = try tempDir()
        let db = try redeploy(d, from: daily("morning", "09:00") + daily("evening", "19:00"), to: daily("morning", "09:00"))
        let r = try journey(["run", "--db", db, "--until", "2025-03-03T12:00:00Z"], timeout: 60)
        XCTAssertEqual(r.code, 0, r.err)
        let out = try journey(["outbox", "--db", db]).out
        let sent = out.split(separator: "\n").map { line -> String in
            let at = line.range(of: "\"at\": \"").map { String(line[$0.upperBound...].prefix(10)) } ?? ""
            let body = line.range(of: "\"body\": \"").map { String(line[$0.upperBound...].prefix { $0 != "\"" }) } ?? ""
            return "\(at) \(body)"
        }
        XCTAssertEqual(sent, ["2025-03-01 morning for Ana", "2025-03-02 morning for Ana", "2025-03-03 morning for Ana"])
    }

    /// A journey moved to another time of day runs at the new time, not once more at the old one.
    func testRedeployAtAnotherTimeReschedules() throws {
        let d = try tempDir()
        let db = try redeploy(d, from: daily("morning", "09:00"), to: daily("morning", "07:00"))
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-02T12:00:00Z"], timeout: 60).code, 0)
        let times = try journey(["outbox", "--db", db]).out.split(separator: "\n").compactMap { line in
            line.range(of: "\"at\": \"").map { String(line[$0.upperBound...].prefix(20)) }
        }
        XCTAssertEqual(times, ["2025-03-01T09:00:00Z", "2025-03-02T07:00:00Z"])
    }

    // MARK: - 14. Event field types that stored data cannot be read as

    func testAnEventFieldThatChangesTypeIsRefusedAtDeploy() throws {
        let d = try tempDir()
        let flow = "journey welcome {\n  on signup as s\n  goal signup\n  wait 1d\n  email \"From {s.source}\"\n}\n"
        let v1 = try build(d, "v1", journeys: flow)
        let v2 = try build(d, "v2", journeys: flow.replacingOccurrences(of: "{s.source}", with: "{s.source + 1}"),
                           schema: schema.replacingOccurrences(of: "source: string", with: "source: int"))
        let v3 = try build(d, "v3", journeys: flow.replacingOccurrences(of: "{s.source}", with: "{s.source ?? \"?\"}"),
                           schema: schema.replacingOccurrences(of: "source: string", with: "source: string?"))
        let db = try testDatabase(d)
        XCTAssertEqual(try journey(["deploy", "--db", db, v1]).code, 0)
        let refused = try journey(["deploy", "--db", db, v2])
        XCTAssertEqual(refused.code, 1)
        XCTAssertTrue(refused.err.contains("event 'signup': field 'source' was string and is now int"), refused.err)
        // Becoming optional reads the old data as it was.
        let widened = try journey(["deploy", "--db", db, v3])
        XCTAssertEqual(widened.code, 0, widened.err)
    }

    // MARK: - 17. A message has a size limit

    func testAnOversizedMessageFailsItsInstanceAndNothingIsSent() throws {
        let d = try tempDir()
        let flows = "journey welcome {\n  on signup\n  goal signup\n  email \"{profile.first_name}{profile.first_name}\"\n  email \"never sent\"\n}\n"
        let bundle = try build(d, "v1", journeys: flows)
        let big = String(repeating: "x", count: 60_000)
        let profiles = try write(d, "p.jsonl", "{\"id\": \"big\", \"first_name\": \"\(big)\", \"email\": \"b@x\"}\n{\"id\": \"ok\", \"first_name\": \"Ok\", \"email\": \"o@x\"}\n")
        let events = try write(d, "e.jsonl", "{\"profile\": \"big\", \"event\": \"signup\", \"at\": \"2025-03-01T10:00:00Z\", \"data\": {\"source\": \"w\"}}\n{\"profile\": \"ok\", \"event\": \"signup\", \"at\": \"2025-03-01T10:00:00Z\", \"data\": {\"source\": \"w\"}}\n")
        let db = try testDatabase(d)
        XCTAssertEqual(try journey(["deploy", "--db", db, bundle]).code, 0)
        XCTAssertEqual(try journey(["import", "--db", db, profiles]).code, 0)
        XCTAssertEqual(try journey(["ingest", "--db", db, events]).code, 0)
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-02T00:00:00Z"]).code, 0)
        let out = try journey(["outbox", "--db", db]).out
        XCTAssertEqual(out.split(separator: "\n").count, 2, String(out.prefix(300)))
        XCTAssertFalse(out.contains("\"profile\": \"big\""))
        let rejects = try journey(["rejects", "--db", db]).out
        // (The instance's number is the store's: 1 on SQLite, numbered by partition on PostgreSQL.)
        XCTAssertTrue(rejects.contains(postgresOverride ? " for profile big stopped: a text would be at least 120000 bytes long" : "instance 1 for profile big stopped: a text would be at least 120000 bytes long; a journey's texts and messages may be at most 100000 bytes"), rejects)
    }

    // MARK: - 2. NUL in ids and text

    func testNulInAnIdIsRefusedAndNulInTextIsKept() throws {
        let d = try tempDir()
        let flow = "journey welcome {\n  on signup as s\n  goal signup\n  email \"Hi {profile.first_name}, from {s.source}\"\n}\n"
        let bundle = try build(d, "v1", journeys: flow)
        let db = try testDatabase(d)
        let profiles = try write(d, "p.jsonl", #"""
        {"id": "ana", "first_name": "Ana", "email": "ana@x"}
        {"id": "ana\u0000mallory", "first_name": "Mallory", "email": "m@x"}
        {"id": "zed", "first_name": "a\u0000b", "email": "z@x"}

        """#)
        let events = try write(d, "e.jsonl", #"""
        {"profile": "ana\u0000mallory", "event": "signup", "at": "2025-03-01T10:00:00Z", "data": {"source": "mallory's cart"}}
        {"profile": "\u0000x", "event": "signup", "at": "2025-03-01T10:00:00Z", "data": {"source": "x"}}
        {"profile": "zed", "event": "signup", "at": "2025-03-01T11:00:00Z", "data": {"source": "w\u0000eb"}}

        """#)
        XCTAssertEqual(try journey(["deploy", "--db", db, bundle]).code, 0)
        let imported = try journey(["import", "--db", db, profiles])
        XCTAssertTrue(imported.err.contains("p.jsonl:2: rejected: \"id\" contains the control character U+0000"), imported.out + imported.err)
        let ingested = try journey(["ingest", "--db", db, events])
        XCTAssertTrue(ingested.err.contains("e.jsonl:1: rejected: \"profile\" contains") && ingested.err.contains("e.jsonl:2: rejected"), ingested.out + ingested.err)
        XCTAssertEqual(try journey(["run", "--db", db]).code, 0)
        let out = try journey(["outbox", "--db", db]).out
        XCTAssertEqual(out, #"""
        {"at": "2025-03-01T11:00:00Z", "profile": "zed", "journey": "welcome", "channel": "email", "status": "sent", "content": {"body": "Hi a\u0000b, from w\u0000eb"}}

        """#)
        // Both refused lines are kept aside with their reasons.
        let rejects = try journey(["rejects", "--db", db]).out
        XCTAssertEqual(rejects.components(separatedBy: "U+0000").count - 1, 3, rejects)
    }

    // MARK: - 4. A fault in a condition stops one profile or instance, never the run

    func testAFaultInAConditionIsKeptAsideAndTheRunGoesOn() throws {
        let d = try tempDir()
        let schema = self.schema.replacingOccurrences(of: "  timezone: string?\n", with: "  timezone: string?\n  orders: int\n")
        let flows = """
        journey welcome {
          on signup as s
          when 10 / profile.orders > 1
          goal signup where 10 / profile.orders > 100
          email "Hi {profile.first_name}"
        }
        journey daily_check {
          on daily at 09:00
          when 100 / profile.orders > 1
          email "Daily {profile.first_name}"
        }

        """
        let bundle = try build(d, "v1", journeys: flows, schema: schema)
        let db = try testDatabase(d)
        let profiles = try write(d, "p.jsonl", """
        {"id": "zero", "first_name": "Zed", "email": "z@x", "orders": 0}
        {"id": "two", "first_name": "Two", "email": "t@x", "orders": 2}

        """)
        let events = try write(d, "e.jsonl", """
        {"profile": "zero", "event": "signup", "at": "2025-03-01T10:00:00Z", "data": {"source": "web"}}
        {"profile": "two", "event": "signup", "at": "2025-03-01T10:00:00Z", "data": {"source": "web"}}

        """)
        XCTAssertEqual(try journey(["deploy", "--db", db, bundle]).code, 0)
        XCTAssertEqual(try journey(["import", "--db", db, profiles]).code, 0)
        XCTAssertEqual(try journey(["ingest", "--db", db, events]).code, 0)
        let r = try journey(["run", "--db", db, "--until", "2025-03-02T12:00:00Z"])
        XCTAssertEqual(r.code, 0, r.err)
        let bodies = try journey(["outbox", "--db", db]).out.split(separator: "\n").compactMap { line in
            line.range(of: "\"body\": \"").map { String(line[$0.upperBound...].prefix { $0 != "\"" }) }
        }
        XCTAssertEqual(bodies, ["Hi Two", "Daily Two"])
        let rejects = try journey(["rejects", "--db", db]).out
        XCTAssertTrue(rejects.contains("profile zero did not enter: its entry condition stopped"), rejects)
        XCTAssertTrue(rejects.contains("journey daily_check"), rejects)
    }

    // MARK: - 5. Limits of the bundle are diagnostics, never wrapped operands

    /// 70,000 distinct texts: the 65,536th used to be sent as the first ("m65536" → "m0").
    func testTooManyConstantsIsADiagnosticAtBuild() throws {
        let d = try tempDir()
        var flows = ""
        for j in 0..<14 {
            flows += "journey j\(j) {\n  on signup\n  goal signup\n  reentry always\n"
            for k in 0..<5000 { flows += "  email \"m\(j * 5000 + k)\"\n" }
            flows += "}\n"
        }
        let p = d.appendingPathComponent("big")
        try FileManager.default.createDirectory(at: p, withIntermediateDirectories: true)
        try schema.write(to: p.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
        try flows.write(to: p.appendingPathComponent("flows.journey"), atomically: true, encoding: .utf8)
        let r = try journey(["build", "-o", d.appendingPathComponent("b.journeyc").path, p.path], env: ["NO_COLOR": "1"])
        XCTAssertEqual(r.code, 1, r.out + r.err)
        XCTAssertTrue(r.err.contains("error[J0409]: with journey 'j13' the project has more than 65,535 distinct texts"), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: d.appendingPathComponent("b.journeyc").path))
    }

    // The same on the PostgreSQL store.
    func testRedeployWithoutADailyJourneyDoesNotHangTheRunOnPostgres() throws { try onPostgres { try testRedeployWithoutADailyJourneyDoesNotHangTheRun() } }
    func testRedeployAtAnotherTimeReschedulesOnPostgres() throws { try onPostgres { try testRedeployAtAnotherTimeReschedules() } }
    func testAnEventFieldThatChangesTypeIsRefusedAtDeployOnPostgres() throws { try onPostgres { try testAnEventFieldThatChangesTypeIsRefusedAtDeploy() } }
    func testAnOversizedMessageFailsItsInstanceAndNothingIsSentOnPostgres() throws { try onPostgres { try testAnOversizedMessageFailsItsInstanceAndNothingIsSent() } }
    func testNulInAnIdIsRefusedAndNulInTextIsKeptOnPostgres() throws { try onPostgres { try testNulInAnIdIsRefusedAndNulInTextIsKept() } }
    func testAFaultInAConditionIsKeptAsideAndTheRunGoesOnOnPostgres() throws { try onPostgres { try testAFaultInAConditionIsKeptAsideAndTheRunGoesOn() } }
}

