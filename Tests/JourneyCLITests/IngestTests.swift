import Foundation
import XCTest

/// Issue 9, item 7: while `run` works through a backlog, other writers get in between its
/// transactions, and a second runner is told clearly that one is running.
final class WriterTurnTests: XCTestCase {
    func testWritersGetInWhileRunWorksThroughABacklog() throws {
        let d = try tempDir()
        let db = try signupDatabase(d, flows: "journey welcome {\n  on signup as s\n  reentry always\n  goal signup where source == \"never\"\n  email \"Hi {profile.first_name} from {s.source}, {count(signup within 30d)}\"\n}\n", profiles: 500)
        var events = ""
        for i in 0..<20_000 { events += "{\"profile\": \"p\(i % 500)\", \"event\": \"signup\", \"at\": \"2025-03-01T10:\(String(format: "%02d", (i / 1000) % 60)):00Z\", \"data\": {\"source\": \"s\(i)\"}}\n" }
        try events.write(to: d.appendingPathComponent("e.jsonl"), atomically: true, encoding: .utf8)
        try "{\"profile\": \"late\", \"event\": \"signup\", \"at\": \"2025-03-02T10:00:00Z\", \"data\": {\"source\": \"late\"}}\n"
            .write(to: d.appendingPathComponent("e2.jsonl"), atomically: true, encoding: .utf8)
        try "{\"id\": \"late\", \"first_name\": \"Late\", \"email\": \"l@x\"}\n".write(to: d.appendingPathComponent("p2.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["ingest", "--db", db, d.appendingPathComponent("e.jsonl").path]).code, 0)

        // The runner, one step per transaction, in the background.
        let runner = Process()
        runner.executableURL = Bundle.main.bundleURL.appendingPathComponent("journey")
        runner.arguments = ["run", "--db", db, "--until", "2025-03-03T00:00:00Z", "--batch-size", "1"]
        runner.standardOutput = FileHandle.nullDevice
        runner.standardError = FileHandle.nullDevice
        try runner.run()
        defer { if runner.isRunning { kill(runner.processIdentifier, SIGKILL) } }
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertTrue(runner.isRunning, "the backlog was too small to test anything")

        // Each gets in within a batch or two, far inside the 30 s busy time-out.
        var began = Date()
        let imported = try journey(["import", "--db", db, d.appendingPathComponent("p2.jsonl").path], timeout: 60)
        XCTAssertEqual(imported.code, 0, imported.err)
        XCTAssertLessThan(Date().timeIntervalSince(began), 15, "import waited for the backlog")
        began = Date()
        let ingested = try journey(["ingest", "--db", db, d.appendingPathComponent("e2.jsonl").path], timeout: 60)
        XCTAssertEqual(ingested.code, 0, ingested.err)
        XCTAssertLessThan(Date().timeIntervalSince(began), 15, "ingest waited for the backlog")
        let second = try journey(["run", "--db", db, "--until", "2025-03-03T00:00:00Z"], timeout: 60)
        XCTAssertEqual(second.code, 2)
        XCTAssertTrue(second.err.contains("another 'journey run' is already processing this database"), second.err)
        XCTAssertTrue(runner.isRunning, "the writers had to wait for the whole backlog")

        let deadline = Date().addingTimeInterval(240)
        while runner.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertFalse(runner.isRunning)
        XCTAssertEqual(runner.terminationStatus, 0)
        // Everything, the late writer's event included, was processed exactly once.
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-03T00:00:00Z"]).code, 0)
        let out = try journey(["outbox", "--db", db]).out
        XCTAssertEqual(out.split(separator: "\n").count, 20_001)
        XCTAssertTrue(out.contains("Hi Late from late, 1"))
    }
}

/// Issue 9, item 8, and issue 8, section 2: events are idempotent. A file ingested whole is
/// known again; an ingest that was killed goes on after its last commit; an event with an id
/// seen before is a duplicate.
final class IdempotentIngestTests: XCTestCase {
    func setUp(_ d: URL) throws -> String {
        try signupDatabase(d, flows: "journey welcome {\n  on signup as s\n  reentry always\n  goal signup where source == \"never\"\n  email \"{s.source} {count(signup within 3650d)}\"\n}\n", profiles: 200)
    }

    func events(_ n: Int, ids: Bool, from: Int = 0) -> String {
        (from..<(from + n)).map { i in
            "{\"profile\": \"p\(i % 200)\", \"event\": \"signup\", \"at\": \"2025-03-01T\(String(format: "%02d", (i / 3600) % 24)):\(String(format: "%02d", (i / 60) % 60)):\(String(format: "%02d", i % 60))Z\", "
                + (ids ? "\"id\": \"e\(i)\", " : "") + "\"data\": {\"source\": \"s\(i)\"}}\n"
        }.joined()
    }

    func testTheSameFileTwiceIsIngestedOnce() throws {
        let d = try tempDir()
        let db = try setUp(d)
        let file = d.appendingPathComponent("e.jsonl").path
        try events(50, ids: false).write(toFile: file, atomically: true, encoding: .utf8)
        let first = try journey(["ingest", "--db", db, file])
        XCTAssertEqual(first.out, "ingested 50 events\n")
        let second = try journey(["ingest", "--db", db, file])
        XCTAssertEqual(second.code, 0)
        XCTAssertTrue(second.out.contains("already ingested (the same content as \(file), 50 events); nothing to do. Give --again"), second.out)
        // The same content under another name is the same file.
        let copy = d.appendingPathComponent("copy.jsonl").path
        try FileManager.default.copyItem(atPath: file, toPath: copy)
        XCTAssertTrue(try journey(["ingest", "--db", db, copy]).out.contains("already ingested"))
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-02T00:00:00Z"]).code, 0)
        XCTAssertEqual(try journey(["outbox", "--db", db]).out.split(separator: "\n").count, 50)
        // --again means it.
        XCTAssertEqual(try journey(["ingest", "--db", db, "--again", file]).out, "ingested 50 events\n")
    }

    func testEventsWithAnIdSeenBeforeAreDuplicates() throws {
        let d = try tempDir()
        let db = try setUp(d)
        let a = d.appendingPathComponent("a.jsonl").path, b = d.appendingPathComponent("b.jsonl").path
        try events(30, ids: true).write(toFile: a, atomically: true, encoding: .utf8)
        // b: ten retries of a's last events, then ten new ones.
        try events(20, ids: true, from: 20).write(toFile: b, atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["ingest", "--db", db, a]).out, "ingested 30 events\n")
        XCTAssertEqual(try journey(["ingest", "--db", db, b]).out, "ingested 10 events, 10 duplicates ignored (an id seen before)\n")
        XCTAssertEqual(try journey(["ingest", "--db", db, "--again", a]).out, "ingested 0 events, 30 duplicates ignored (an id seen before)\n")
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-02T00:00:00Z"]).code, 0)
        let bodies = try journey(["outbox", "--db", db]).out.split(separator: "\n")
        XCTAssertEqual(bodies.count, 40)
        // The same id for another profile is another event.
        try "{\"profile\": \"p1\", \"event\": \"signup\", \"at\": \"2025-03-03T00:00:00Z\", \"id\": \"e0\", \"data\": {\"source\": \"x\"}}\n".write(toFile: a, atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["ingest", "--db", db, a]).out, "ingested 1 event\n")
    }

    /// `ingest` killed at random moments and started again until it finishes leaves exactly
    /// the history, rejects and messages of one uninterrupted ingest.
    func testKilledIngestsGoOnWhereTheyStopped() throws {
        let d = try tempDir()
        let db = try setUp(d)
        let file = d.appendingPathComponent("e.jsonl").path
        var text = events(30_000, ids: false)
        text += "{\"profile\": \"nobody\", \"event\": \"signup\", \"at\": \"2025-03-01T23:00:00Z\", \"data\": {\"source\": \"x\"}}\nnot json\n"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        var kills = 0, finished = false
        var generator = SystemRandomNumberGenerator()
        for attempt in 0..<100 {
            let p = Process()
            p.executableURL = Bundle.main.bundleURL.appendingPathComponent("journey")
            p.arguments = ["ingest", "--db", db, "--batch-size", "500", file]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            usleep(attempt < 12 ? UInt32.random(in: 50_000...400_000, using: &generator) : 5_000_000)
            if p.isRunning {
                kill(p.processIdentifier, SIGKILL)
                kills += 1
            }
            p.waitUntilExit()
            if p.terminationReason == .exit { finished = true; break }
        }
        XCTAssertTrue(finished)
        XCTAssertGreaterThan(kills, 1, "the ingest finished before it could be killed; make the file larger")
        print("killed journey ingest \(kills) times")
        let again = try journey(["ingest", "--db", db, file])
        XCTAssertTrue(again.out.contains("already ingested"), again.out)
        let rejects = try journey(["rejects", "--db", db]).out
        XCTAssertEqual(rejects.components(separatedBy: "unknown profile 'nobody'").count - 1, 1, rejects)
        XCTAssertEqual(rejects.components(separatedBy: "not valid JSON").count - 1, 1, rejects)
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-02T00:00:00Z"]).code, 0)
        let out = try journey(["outbox", "--db", db]).out
        XCTAssertEqual(out.split(separator: "\n").count, 30_000)
        // Every profile's count went 1, 2, … 150 exactly: no event is in the history twice.
        XCTAssertTrue(out.contains("\"s29999 150\""), String(out.suffix(300)))
        XCTAssertFalse(out.contains(" 151\""))
    }

    /// A file of several pieces (parsed by two threads, each taking the next piece nobody has
    /// started, and stored in the file's order): events of one instant are taken in the file's
    /// order, and each rejected line is named by its own number.
    func testAFileOfManyPiecesKeepsItsOrder() throws {
        let d = try tempDir()
        let db = try setUp(d)
        let file = d.appendingPathComponent("e.jsonl").path
        // ≈ 190 bytes a line: 30,000 lines are five pieces of about a megabyte.
        let pad = String(repeating: "x", count: 100)
        var lines = (0..<30_000).map { i in
            "{\"profile\": \"p\(i % 200)\", \"event\": \"signup\", \"at\": \"2025-03-01T10:00:00Z\", \"data\": {\"source\": \"s\(i)\(pad)\"}}"
        }
        // Bad lines at the start, in the middle of pieces, and last.
        let badLines = [1, 7_001, 14_002, 21_003, 30_005]
        for n in badLines { lines.insert("not json \(n)", at: n - 1) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertGreaterThan(try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int ?? 0, 4 << 20)
        let ingest = try journey(["ingest", "--db", db, file])
        XCTAssertEqual(ingest.code, 1)
        XCTAssertTrue(ingest.out.hasSuffix("ingested 30000 events, rejected 5\n"), ingest.out)
        let rejects = try journey(["rejects", "--db", db]).out.split(separator: "\n")
        XCTAssertEqual(rejects.count, 5)
        for (r, n) in zip(rejects, badLines) {
            XCTAssertTrue(r.contains("\"line\": \(n),") && r.contains("not json \(n)"), String(r))
        }
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-02T00:00:00Z"]).code, 0)
        // Each profile's messages say its events' sources in the file's order, counted 1, 2, …
        var seen: [String: (count: Int, last: Int)] = [:]
        let out = try journey(["outbox", "--db", db]).out.split(separator: "\n")
        XCTAssertEqual(out.count, 30_000)
        for line in out {
            guard let p = line.range(of: "\"profile\": \"p"), let s = line.range(of: "\"body\": \"s") else {
                return XCTFail("unexpected message: \(line)")
            }
            let profile = String(line[p.upperBound...].prefix { $0.isNumber })
            let source = Int(line[s.upperBound...].prefix { $0.isNumber }) ?? -1
            guard let x = line[s.upperBound...].firstIndex(of: " ") else { return XCTFail("no count: \(line)") }
            let count = Int(line[line.index(after: x)...].prefix { $0.isNumber }) ?? -1
            let before = seen[profile] ?? (0, -1)
            XCTAssertEqual(count, before.count + 1, String(line))
            XCTAssertGreaterThan(source, before.last, String(line))
            XCTAssertEqual(source % 200, Int(profile), String(line))
            seen[profile] = (count, source)
        }
        XCTAssertEqual(seen.count, 200)
    }

    // The same on the PostgreSQL store.
    func testTheSameFileTwiceIsIngestedOnceOnPostgres() throws { try onPostgres { try testTheSameFileTwiceIsIngestedOnce() } }
    func testEventsWithAnIdSeenBeforeAreDuplicatesOnPostgres() throws { try onPostgres { try testEventsWithAnIdSeenBeforeAreDuplicates() } }
    func testKilledIngestsGoOnWhereTheyStoppedOnPostgres() throws { try onPostgres { try testKilledIngestsGoOnWhereTheyStopped() } }
}


/// Findings of the review of this work, each a regression test.
final class ReviewFindingTests: XCTestCase {
    func setUp(_ d: URL) throws -> String {
        let p = d.appendingPathComponent("project")
        try FileManager.default.createDirectory(at: p, withIntermediateDirectories: true)
        try "profile { first_name: string, email: string? }\nevent signup { source: string }\nchannel email address profile.email\njourney j {\n  on signup as s\n  goal signup\n  reentry always\n  email \"{s.source}\"\n}\n"
            .write(to: p.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
        let bundle = d.appendingPathComponent("b.journeyc").path
        XCTAssertEqual(try journey(["build", "-o", bundle, p.path]).code, 0)
        let db = try testDatabase(d)
        XCTAssertEqual(try journey(["deploy", "--db", db, bundle]).code, 0)
        try "{\"id\": \"a\", \"first_name\": \"A\", \"email\": \"a@x\"}\n".write(to: d.appendingPathComponent("p.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["import", "--db", db, d.appendingPathComponent("p.jsonl").path]).code, 0)
        return db
    }

    /// The last line of a file without a final line break is kept aside like any other.
    func testABadLastLineWithoutALineBreakIsRejected() throws {
        let d = try tempDir()
        let db = try setUp(d)
        let file = d.appendingPathComponent("e.jsonl").path
        try "{\"profile\": \"a\", \"event\": \"signup\", \"at\": \"2025-03-01T10:00:00Z\", \"data\": {\"source\": \"w\"}}\n{\"profile\": \"a\", \"event\"".write(toFile: file, atomically: true, encoding: .utf8)
        let r = try journey(["ingest", "--db", db, file])
        XCTAssertEqual(r.code, 1, r.out + r.err)
        XCTAssertTrue(r.err.contains("e.jsonl:2: rejected: not valid JSON"), r.err)
        XCTAssertTrue(try journey(["rejects", "--db", db]).out.contains("\"line\": 2"))
    }

    func testNegativeAndHugeDecimalDefaultsAreChecked() throws {
        let d = try tempDir()
        try "profile {\n  first_name: string\n  credit: decimal = -0.0000001\n  bonus: money = 9223372036854.9\n  ok: money = -12.50\n}\n"
            .write(to: d.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
        let r = try journey(["check", d.path], env: ["NO_COLOR": "1"])
        XCTAssertEqual(r.code, 1)
        XCTAssertEqual(r.out.components(separatedBy: "error[J0304]").count - 1, 2, r.out)
    }
}
