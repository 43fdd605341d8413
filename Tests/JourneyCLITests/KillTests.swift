import Foundation
import XCTest

/// Exactly once: `journey run` killed with SIGKILL at random moments and restarted until it
/// finishes produces the same outbox, message ids included, and the same analytics, as an
/// uninterrupted run.
final class KillTests: XCTestCase {
    let schema = """
    profile {
      first_name: string
      email: string?
      phone: string?
      email_opt_in: bool
    }
    event cart_abandoned { cart_id: string, total: money }
    event order_placed { order_id: string }
    channel email address profile.email consent profile.email_opt_in
    channel sms address profile.phone
    policy {
      cap 3 messages per 24h
    }
    """

    let flow = """
    journey nudge "Cart nudges" {
      on cart_abandoned as cart
      goal order_placed
      wait 1h
      email "Your cart {cart.cart_id} ({cart.total}) is waiting, {profile.first_name}" else sms "Cart {cart.cart_id} is waiting"
      wait for order_placed within 1d else {
        sms "Still there, {profile.first_name}?"
      }
      set profile.first_name = profile.first_name + "!"
      wait 2h
      split {
        50% mail { email "Last call for {cart.cart_id}, {profile.first_name}" }
        50% text { sms "Last call for {cart.cart_id}" }
      }
    }
    """

    func prepare(_ dir: URL, profiles n: Int) throws -> String {
        let project = dir.appendingPathComponent("project")
        try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
        try schema.write(to: project.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
        try flow.write(to: project.appendingPathComponent("nudge.journey"), atomically: true, encoding: .utf8)
        var profiles = "", events = ""
        for i in 0..<n {
            let email = i % 3 == 0 ? "null" : "\"u\(i)@example.com\""
            profiles += "{\"id\": \"u\(i)\", \"first_name\": \"P\(i)\", \"email\": \(email), \"phone\": \"+1555\(i)\", \"email_opt_in\": \(i % 5 != 0)}\n"
            let minute = i % 60
            events += "{\"profile\": \"u\(i)\", \"event\": \"cart_abandoned\", \"at\": \"2025-03-01T10:\(minute < 10 ? "0" : "")\(minute):00Z\", \"data\": {\"cart_id\": \"c\(i)\", \"total\": \"\(i).50\"}}\n"
            if i % 4 == 0 {
                events += "{\"profile\": \"u\(i)\", \"event\": \"order_placed\", \"at\": \"2025-03-01T15:00:00Z\", \"data\": {\"order_id\": \"o\(i)\"}}\n"
            }
        }
        try profiles.write(to: dir.appendingPathComponent("profiles.jsonl"), atomically: true, encoding: .utf8)
        try events.write(to: dir.appendingPathComponent("events.jsonl"), atomically: true, encoding: .utf8)
        let bundle = dir.appendingPathComponent("b.journeyc").path
        XCTAssertEqual(try journey(["build", "-o", bundle, project.path]).code, 0)
        return bundle
    }

    func load(_ dir: URL, _ bundle: String) throws -> String {
        let db = dir.appendingPathComponent("j.db").path
        XCTAssertEqual(try journey(["deploy", "--db", db, bundle]).code, 0)
        XCTAssertEqual(try journey(["import", "--db", db, dir.appendingPathComponent("profiles.jsonl").path]).code, 0)
        XCTAssertEqual(try journey(["ingest", "--db", db, dir.appendingPathComponent("events.jsonl").path]).code, 0)
        return db
    }

    func testKilledRunsLoseAndDuplicateNothing() throws {
        let dir = try tempDir()
        let bundle = try prepare(dir, profiles: 1000)
        let until = "2025-03-05T00:00:00Z"

        let reference = dir.appendingPathComponent("ref")
        try FileManager.default.createDirectory(at: reference, withIntermediateDirectories: true)
        for f in ["profiles.jsonl", "events.jsonl"] {
            try FileManager.default.copyItem(at: dir.appendingPathComponent(f), to: reference.appendingPathComponent(f))
        }
        let refDB = try load(reference, bundle)
        XCTAssertEqual(try journey(["run", "--db", refDB, "--until", until, "--batch-size", "8"]).code, 0)
        let expected = try journey(["outbox", "--db", refDB, "--with-ids"]).out
        XCTAssertGreaterThan(expected.split(separator: "\n").count, 2000)

        let db = try load(dir, bundle)
        var kills = 0
        var generator = SystemRandomNumberGenerator()
        for attempt in 0..<200 {
            let p = Process()
            p.executableURL = Bundle.main.bundleURL.appendingPathComponent("journey")
            p.arguments = ["run", "--db", db, "--until", until, "--batch-size", "8"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            let delay = attempt < 60 ? UInt32.random(in: 2_000...40_000, using: &generator) : 2_000_000
            usleep(delay)
            if p.isRunning {
                kill(p.processIdentifier, SIGKILL)
                kills += 1
            }
            p.waitUntilExit()
            if p.terminationReason == .exit, p.terminationStatus == 0 { break }
        }
        XCTAssertGreaterThan(kills, 3, "the run finished before it could be killed; make the workload larger")
        print("killed journey run \(kills) times")
        let got = try journey(["outbox", "--db", db, "--with-ids"]).out
        XCTAssertEqual(got.split(separator: "\n").count, expected.split(separator: "\n").count, "after \(kills) kills")
        XCTAssertEqual(got, expected, "after \(kills) kills")
        // The counters were written with the steps they count: none lost, none twice.
        let counted = try analytics(db), uninterrupted = try analytics(refDB)
        XCTAssertTrue(uninterrupted.contains("\"entered\":1000"), uninterrupted)
        XCTAssertEqual(counted, uninterrupted, "after \(kills) kills")
    }

    /// `journey stats --format json`, without the deploy times (the two databases were deployed
    /// at different moments).
    func analytics(_ db: String) throws -> String {
        let r = try journey(["stats", "--db", db, "--format", "json"])
        XCTAssertEqual(r.code, 0, r.err)
        var doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        doc["journeys"] = (doc["journeys"] as? [[String: Any]])?.map { j in j.filter { $0.key != "deployed_at" } }
        return String(decoding: try JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys]), as: UTF8.self)
    }
}
