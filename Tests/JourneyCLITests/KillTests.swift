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

    journey checkin "Daily check-in" {
      on daily at 12:00
      when not profile.email_opt_in
      sms "Daily check-in for {profile.first_name}, {today}"
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

    func load(_ dir: URL, _ bundle: String, into database: String? = nil) throws -> String {
        let db = database ?? dir.appendingPathComponent("j.db").path
        XCTAssertEqual(try journey(["deploy", "--db", db, bundle]).code, 0)
        XCTAssertEqual(try journey(["import", "--db", db, dir.appendingPathComponent("profiles.jsonl").path]).code, 0)
        XCTAssertEqual(try journey(["ingest", "--db", db, dir.appendingPathComponent("events.jsonl").path]).code, 0)
        return db
    }

    func testKilledRunsLoseAndDuplicateNothing() throws {
        try killedRuns(database: { nil })
    }

    /// The same on the PostgreSQL store.
    func testKilledRunsOnPostgresLoseAndDuplicateNothing() throws {
        _ = try PostgresServer.base.get()
        defer { PostgresServer.dropDatabases() }
        try killedRuns(database: { try PostgresServer.freshDatabase() })
    }

    func killedRuns(database: () throws -> String?) throws {
        let dir = try tempDir()
        let bundle = try prepare(dir, profiles: 1000)
        let until = "2025-03-05T00:00:00Z"

        let reference = dir.appendingPathComponent("ref")
        try FileManager.default.createDirectory(at: reference, withIntermediateDirectories: true)
        for f in ["profiles.jsonl", "events.jsonl"] {
            try FileManager.default.copyItem(at: dir.appendingPathComponent(f), to: reference.appendingPathComponent(f))
        }
        let refDB = try load(reference, bundle, into: try database())
        XCTAssertEqual(try journey(["run", "--db", refDB, "--until", until, "--batch-size", "8"]).code, 0)
        let expected = try journey(["outbox", "--db", refDB, "--with-ids"]).out
        XCTAssertGreaterThan(expected.split(separator: "\n").count, 2000)

        let db = try load(dir, bundle, into: try database())
        var kills = 0
        var generator = SystemRandomNumberGenerator()
        for attempt in 0..<200 {
            let p = Process()
            p.executableURL = Bundle.main.bundleURL.appendingPathComponent("journey")
            p.arguments = ["run", "--db", db, "--until", until, "--batch-size", "8"]
            p.environment = ProcessInfo.processInfo.environment.merging(["JOURNEY_PG_LEASE": "2"]) { $1 }
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
        if db.hasPrefix("postgres") {
            // Partitions go their own ways: the same messages, each profile's in the same order.
            let (g, e) = (try outboxByProfile(db), try outboxByProfile(refDB))
            XCTAssertTrue(g.sorted == e.sorted, "after \(kills) kills: \(firstDifference(g.sorted, e.sorted))")
            XCTAssertTrue(g.perProfile == e.perProfile, "after \(kills) kills, a profile's messages came in another order")
        } else {
            let (g, e) = (got.split(separator: "\n").map(String.init), expected.split(separator: "\n").map(String.init))
            XCTAssertTrue(got == expected, "after \(kills) kills: \(firstDifference(g, e))")
        }
        // The counters were written with the steps they count: none lost, none twice.
        let counted = try analytics(db), uninterrupted = try analytics(refDB)
        XCTAssertTrue(uninterrupted.contains("\"entered\":1000"), uninterrupted)
        XCTAssertEqual(counted, uninterrupted, "after \(kills) kills")
    }

    // MARK: - Many workers on PostgreSQL

    /// A `journey run` worker on PostgreSQL, with a short lease.
    func worker(_ db: String, until: String, lease: String = "2") throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = Bundle.main.bundleURL.appendingPathComponent("journey")
        p.arguments = ["run", "--db", db, "--until", until, "--batch-size", "8"]
        p.environment = ProcessInfo.processInfo.environment.merging(["JOURNEY_PG_LEASE": lease]) { $1 }
        let err = Pipe()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        try p.run()
        return (p, err)
    }

    /// Waits for a process to end, at most `seconds`; false if it had not.
    func wait(_ p: Process, _ seconds: Double) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while p.isRunning, Date() < end { usleep(20_000) }
        if p.isRunning { return false }
        p.waitUntilExit()
        return true
    }

    /// The outbox of a database (with ids), sorted, and each profile's messages in order.
    func outboxByProfile(_ db: String) throws -> (sorted: [String], perProfile: [String: [String]]) {
        let lines = try journey(["outbox", "--db", db, "--with-ids"]).out.split(separator: "\n").map(String.init)
        var per: [String: [String]] = [:]
        for l in lines {
            guard let r = l.range(of: "\"profile\": \""), let end = l[r.upperBound...].firstIndex(of: "\"") else { continue }
            per[String(l[r.upperBound..<end]), default: []].append(l)
        }
        return (lines.sorted(), per)
    }

    /// The first line where two outboxes differ, and how many lines each has.
    func firstDifference(_ a: [String], _ b: [String]) -> String {
        let onlyA = Array(Set(a).subtracting(b)).sorted().prefix(3), onlyB = Array(Set(b).subtracting(a)).sorted().prefix(3)
        return "\(a.count) lines against \(b.count); only in the first: \(onlyA.joined(separator: " | ")); only in the second: \(onlyB.joined(separator: " | "))"
    }

    /// A reference: the same workload run by one worker, uninterrupted.
    func referenceRun(_ dir: URL, _ bundle: String, until: String) throws -> String {
        let reference = dir.appendingPathComponent("ref")
        try FileManager.default.createDirectory(at: reference, withIntermediateDirectories: true)
        for f in ["profiles.jsonl", "events.jsonl"] {
            try FileManager.default.copyItem(at: dir.appendingPathComponent(f), to: reference.appendingPathComponent(f))
        }
        let refDB = try load(reference, bundle, into: try PostgresServer.freshDatabase())
        let r = try journey(["run", "--db", refDB, "--until", until, "--batch-size", "8"], env: ["JOURNEY_PG_LEASE": "2"])
        XCTAssertEqual(r.code, 0, r.err)
        return refDB
    }

    /// Four workers on one database, SIGKILLed at random moments and started again: the same
    /// messages as one worker's clean run (ids included), each profile's in the same order.
    func testFourWorkersKilledAtRandomLoseAndDuplicateNothing() throws {
        _ = try PostgresServer.base.get()
        defer { PostgresServer.dropDatabases() }
        let dir = try tempDir()
        let bundle = try prepare(dir, profiles: 1000)
        let until = "2025-03-05T00:00:00Z"
        let refDB = try referenceRun(dir, bundle, until: until)
        let expected = try outboxByProfile(refDB)
        XCTAssertGreaterThan(expected.sorted.count, 2000)

        let db = try load(dir, bundle, into: try PostgresServer.freshDatabase())
        var workers = try (0..<4).map { _ in try worker(db, until: until).0 }
        var kills = 0, owners = 0
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<16 {
            usleep(UInt32.random(in: 100_000...700_000, using: &generator))
            owners = max(owners, Int((try? PostgresServer.psql(db, "SELECT COUNT(DISTINCT owner) FROM partitions WHERE lease_until > now()"))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "0") ?? 0)
            let k = Int.random(in: 0..<4, using: &generator)
            if workers[k].isRunning {
                kill(workers[k].processIdentifier, SIGKILL)
                workers[k].waitUntilExit()
                kills += 1
            }
            workers[k] = try worker(db, until: until).0
        }
        for w in workers {
            XCTAssertTrue(wait(w, 240), "a worker did not finish")
            XCTAssertEqual(w.terminationStatus, 0)
        }
        XCTAssertGreaterThan(kills, 3)
        XCTAssertGreaterThan(owners, 1, "the workers never shared the partitions")
        print("killed a worker \(kills) times; at most \(owners) workers held partitions at once")
        let got = try outboxByProfile(db)
        XCTAssertEqual(got.sorted.count, expected.sorted.count)
        XCTAssertTrue(got.sorted == expected.sorted, "messages differ: \(firstDifference(got.sorted, expected.sorted))")
        XCTAssertTrue(got.perProfile == expected.perProfile, "a profile's messages came in another order")
    }

    /// A worker paused (SIGSTOP) past its lease, its partitions taken over, then resumed: it
    /// commits nothing of what it was doing, and the messages are those of one clean run.
    func testAPausedWorkerCommitsNothingAnotherTookOver() throws {
        _ = try PostgresServer.base.get()
        defer { PostgresServer.dropDatabases() }
        let dir = try tempDir()
        let bundle = try prepare(dir, profiles: 1000)
        let until = "2025-03-05T00:00:00Z"
        let refDB = try referenceRun(dir, bundle, until: until)
        let expected = try outboxByProfile(refDB)

        let db = try load(dir, bundle, into: try PostgresServer.freshDatabase())
        let (a, aErr) = try worker(db, until: until)
        // Let it take every partition and commit some work, then pause it inside a batch.
        let started = Date()
        while Date().timeIntervalSince(started) < 30, (Int(try PostgresServer.psql(db, "SELECT COUNT(*) FROM outbox").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) < 50 {
            usleep(20_000)
        }
        XCTAssertTrue(a.isRunning, "the first worker finished before it could be paused; make the workload larger")
        kill(a.processIdentifier, SIGSTOP)
        let sentBefore = try PostgresServer.psql(db, "SELECT COUNT(*) FROM outbox").trimmingCharacters(in: .whitespacesAndNewlines)
        let (b, _) = try worker(db, until: until)
        XCTAssertTrue(wait(b, 240), "the second worker did not finish")
        XCTAssertEqual(b.terminationStatus, 0)
        // Everything was done by the second worker; now the first wakes up.
        kill(a.processIdentifier, SIGCONT)
        XCTAssertTrue(wait(a, 120), "the resumed worker did not finish")
        let said = String(decoding: aErr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(a.terminationStatus, 0, said)
        // Paused inside a transaction, it wakes to a closed connection and says so; paused
        // between two (it happens), it wakes to partitions it no longer holds and has nothing
        // to say. Either way what it commits is checked below, message by message.
        print("paused worker had sent \(sentBefore) messages; on waking it said: \(said.isEmpty ? "nothing" : String(said.prefix(300)))")
        let got = try outboxByProfile(db)
        XCTAssertTrue(got.sorted == expected.sorted, "messages differ: \(firstDifference(got.sorted, expected.sorted))")
        XCTAssertTrue(got.perProfile == expected.perProfile, "a profile's messages came in another order")
    }

    /// `journey migrate`: a SQLite database run half way, copied into PostgreSQL and run on
    /// there to the end, sends what one SQLite run to the end sends, in the same order; the
    /// messages sent before the copy keep their ids.
    func testMigrateToPostgresCarriesOnExactly() throws {
        _ = try PostgresServer.base.get()
        defer { PostgresServer.dropDatabases() }
        let dir = try tempDir()
        let bundle = try prepare(dir, profiles: 300)
        let (mid, until) = ("2025-03-01T13:00:00Z", "2025-03-05T00:00:00Z")
        let reference = dir.appendingPathComponent("ref")
        try FileManager.default.createDirectory(at: reference, withIntermediateDirectories: true)
        for f in ["profiles.jsonl", "events.jsonl"] {
            try FileManager.default.copyItem(at: dir.appendingPathComponent(f), to: reference.appendingPathComponent(f))
        }
        let refDB = try load(reference, bundle)
        XCTAssertEqual(try journey(["run", "--db", refDB, "--until", until]).code, 0)

        let db = try load(dir, bundle)
        XCTAssertEqual(try journey(["run", "--db", db, "--until", mid]).code, 0)
        let before = try journey(["outbox", "--db", db, "--with-ids"]).out
        XCTAssertGreaterThan(before.split(separator: "\n").count, 50)
        XCTAssertTrue(try journey(["instances", "--db", db, "--state", "active"]).out.contains("waits"))
        let pg = try PostgresServer.freshDatabase()
        let m = try journey(["migrate", "--from", db, "--to", pg])
        XCTAssertEqual(m.code, 0, m.err)
        XCTAssertTrue(m.out.contains("the same count in every table on both sides"), m.out)
        // Only the events not taken yet wait in PostgreSQL's inbox: the 75 orders of 15:00 (the
        // carts taken before 13:00 stay in SQLite's, below the mark, until it empties).
        XCTAssertTrue(m.out.contains("  inbox" + String(repeating: " ", count: 14) + "75\n"), m.out)
        // Into a database that holds data already: refused, nothing written.
        let again = try journey(["migrate", "--from", db, "--to", pg])
        XCTAssertNotEqual(again.code, 0)
        XCTAssertTrue(again.err.contains("migrate into an empty database"), again.err)

        let r = try journey(["run", "--db", pg, "--until", until])
        XCTAssertEqual(r.code, 0, r.err)
        let got = try journey(["outbox", "--db", pg]).out, expected = try journey(["outbox", "--db", refDB]).out
        XCTAssertTrue(got == expected, firstDifference(got.split(separator: "\n").map(String.init), expected.split(separator: "\n").map(String.init)))
        XCTAssertTrue(try journey(["outbox", "--db", pg, "--with-ids"]).out.hasPrefix(before))
        XCTAssertEqual(try journey(["rejects", "--db", pg]).out, try journey(["rejects", "--db", refDB]).out)
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
