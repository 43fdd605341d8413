import Foundation
import XCTest
import JourneyBytecode
import JourneyRuntime

/// The durable commands end to end: versions, bad input, damaged bundles.
final class RuntimeCommandTests: XCTestCase {
    let schema = """
    profile {
      first_name: string
      email: string?
    }
    event signup { source: string }
    channel email address profile.email
    """

    func project(_ dir: URL, _ name: String, flow: String, extraSchema: String = "") throws -> String {
        let p = dir.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: p, withIntermediateDirectories: true)
        let s = extraSchema.isEmpty ? schema : schema.replacingOccurrences(of: "  email: string?\n", with: "  email: string?\n" + extraSchema)
        try s.write(to: p.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
        try flow.write(to: p.appendingPathComponent("welcome.journey"), atomically: true, encoding: .utf8)
        let bundle = dir.appendingPathComponent("\(name).journeyc").path
        let r = try journey(["build", "-o", bundle, p.path])
        XCTAssertEqual(r.code, 0, r.err)
        return bundle
    }

    /// Signups of profile "a", one a (source, time) pair, written to a file of `dir`.
    func signups(_ dir: URL, _ name: String, _ items: [(String, String)]) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try items.map { "{\"profile\": \"a\", \"event\": \"signup\", \"at\": \"\($0.1)\", \"data\": {\"source\": \"\($0.0)\"}}\n" }.joined()
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The body text of each outbox message, in order.
    func outboxBodies(_ db: String) throws -> [String] {
        try journey(["outbox", "--db", db]).out.split(separator: "\n").map { line -> String in
            guard let r = line.range(of: "\"body\": \"") else { return String(line) }
            return String(line[r.upperBound...].prefix { $0 != "\"" })
        }
    }

    func welcome(_ text: String) -> String {
        "journey welcome {\n  on signup\n  goal signup\n  wait 1d\n  email \"\(text) {profile.first_name}\"\n}\n"
    }

    func testInstancesFinishOnTheVersionTheyStartedOn() throws {
        let d = try tempDir()
        let v1 = try project(d, "v1", flow: welcome("v1 for"))
        let v2 = try project(d, "v2", flow: welcome("v2 for"), extraSchema: "  tier: string?\n")
        let db = d.appendingPathComponent("j.db").path
        try "{\"id\": \"a\", \"first_name\": \"Ana\", \"email\": \"a@x\"}\n{\"id\": \"b\", \"first_name\": \"Ben\", \"email\": \"b@x\"}\n"
            .write(to: d.appendingPathComponent("p.jsonl"), atomically: true, encoding: .utf8)
        try "{\"profile\": \"a\", \"event\": \"signup\", \"at\": \"2025-03-01T10:00:00Z\", \"data\": {\"source\": \"web\"}}\n"
            .write(to: d.appendingPathComponent("e1.jsonl"), atomically: true, encoding: .utf8)
        try "{\"profile\": \"b\", \"event\": \"signup\", \"at\": \"2025-03-01T12:00:00Z\", \"data\": {\"source\": \"app\"}}\n"
            .write(to: d.appendingPathComponent("e2.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["deploy", "--db", db, v1]).code, 0)
        XCTAssertEqual(try journey(["import", "--db", db, d.appendingPathComponent("p.jsonl").path]).code, 0)
        XCTAssertEqual(try journey(["ingest", "--db", db, d.appendingPathComponent("e1.jsonl").path]).code, 0)
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-01T11:00:00Z"]).code, 0)
        // A new version, with a new profile attribute (a column added on deploy).
        let deployed = try journey(["deploy", "--db", db, v2])
        XCTAssertEqual(deployed.code, 0, deployed.err)
        try "{\"id\": \"c\", \"first_name\": \"Cy\", \"email\": \"c@x\", \"tier\": \"gold\"}\n".write(to: d.appendingPathComponent("p2.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["import", "--db", db, d.appendingPathComponent("p2.jsonl").path]).code, 0)
        XCTAssertEqual(try journey(["ingest", "--db", db, d.appendingPathComponent("e2.jsonl").path]).code, 0)
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-05T00:00:00Z"]).code, 0)
        let out = try journey(["outbox", "--db", db]).out
        XCTAssertEqual(out, """
        {"at": "2025-03-02T10:00:00Z", "profile": "a", "journey": "welcome", "channel": "email", "status": "sent", "content": {"body": "v1 for Ana"}}
        {"at": "2025-03-02T12:00:00Z", "profile": "b", "journey": "welcome", "channel": "email", "status": "sent", "content": {"body": "v2 for Ben"}}

        """)
    }

    /// Events that arrive after the run has passed their time are taken first, one by one, and a
    /// history query sees each only once it is taken, never one still waiting behind it.
    func testLateEventsJoinTheHistoryOneByOne() throws {
        let d = try tempDir()
        let flow = """
        journey count_signups {
          on signup as s
          reentry always
          email "{s.source}: {count(signup within 30d)} so far, {count(signup where source == \"late\" within 30d)} late"
        }

        """
        let bundle = try project(d, "late", flow: flow)
        let db = d.appendingPathComponent("j.db").path
        try "{\"id\": \"a\", \"first_name\": \"Ana\", \"email\": \"a@x\"}\n".write(to: d.appendingPathComponent("p.jsonl"), atomically: true, encoding: .utf8)
        let first = try signups(d, "e1.jsonl", [("web", "2025-03-01T10:00:00Z"), ("app", "2025-03-01T12:00:00Z"), ("future", "2025-03-03T00:00:00Z")])
        let late = try signups(d, "e2.jsonl", [("late", "2025-03-01T11:00:00Z"), ("late", "2025-03-01T09:00:00Z")])
        XCTAssertEqual(try journey(["deploy", "--db", db, bundle]).code, 0)
        XCTAssertEqual(try journey(["import", "--db", db, d.appendingPathComponent("p.jsonl").path]).code, 0)
        XCTAssertEqual(try journey(["ingest", "--db", db, first]).code, 0)
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-02T00:00:00Z"]).code, 0)
        XCTAssertEqual(try journey(["ingest", "--db", db, late]).code, 0)
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-04T00:00:00Z"]).code, 0)
        let bodies = try outboxBodies(db)
        XCTAssertEqual(bodies, [
            "web: 1 so far, 0 late",
            "app: 2 so far, 0 late",
            // Taken at 2025-03-02T00:00 in time order (09:00 first); the 3rd of March is still to come.
            "late: 3 so far, 1 late",
            "late: 4 so far, 2 late",
            "future: 5 so far, 2 late",
        ])
    }

    /// A database written before the history was filled at ingest (its history holds only what
    /// was taken, its inbox the rest) is brought up to date when opened, and carries on exactly.
    func testDatabasesFromTheEarlierLayoutCarryOn() throws {
        let d = try tempDir()
        let flow = """
        journey count_signups {
          on signup as s
          reentry always
          email "{s.source}: {count(signup within 30d)} so far"
        }

        """
        let bundle = try project(d, "old", flow: flow)
        let db = d.appendingPathComponent("j.db").path
        try "{\"id\": \"a\", \"first_name\": \"Ana\", \"email\": \"a@x\"}\n".write(to: d.appendingPathComponent("p.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["deploy", "--db", db, bundle]).code, 0)
        XCTAssertEqual(try journey(["import", "--db", db, d.appendingPathComponent("p.jsonl").path]).code, 0)
        XCTAssertEqual(try journey(["ingest", "--db", db, try signups(d, "e1.jsonl", [("web", "2025-03-01T10:00:00Z"), ("future", "2025-03-03T00:00:00Z")])]).code, 0)
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-02T00:00:00Z"]).code, 0)
        do {
            // The earlier layout: no history marks, no table of late arrivals, and the waiting
            // event only in the inbox (which kept nothing taken).
            let old = try Database(path: db)
            try old.exec("""
                DELETE FROM inbox WHERE (at, seq) <= ((SELECT CAST(substr(value, 1, instr(value, ' ') - 1) AS INTEGER) FROM meta WHERE key = 'history_through'),
                                                      (SELECT CAST(substr(value, instr(value, ' ') + 1) AS INTEGER) FROM meta WHERE key = 'history_through'));
                DROP TABLE inbox_late;
                DELETE FROM events WHERE (at, seq) IN (SELECT at, seq FROM inbox);
                DELETE FROM meta WHERE key IN ('history_at_ingest', 'history_through', 'inbox_late', 'inbox_kept')
                """)
        }
        XCTAssertEqual(try journey(["ingest", "--db", db, try signups(d, "e2.jsonl", [("late", "2025-03-01T11:00:00Z")])]).code, 0)
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-04T00:00:00Z"]).code, 0)
        let bodies = try outboxBodies(db)
        XCTAssertEqual(bodies, ["web: 1 so far", "late: 2 so far", "future: 3 so far"])
    }

    /// A file with no valid event at all is still reported, kept and summed up.
    func testAFileOfOnlyBadLinesIsKeptInRejects() throws {
        let d = try tempDir()
        let bundle = try project(d, "p", flow: welcome("hi"))
        let db = d.appendingPathComponent("j.db").path
        XCTAssertEqual(try journey(["deploy", "--db", db, bundle]).code, 0)
        let path = d.appendingPathComponent("bad.jsonl").path
        try "not json\n{\"profile\": \"a\", \"event\": \"nope\", \"at\": \"2025-03-01T10:00:00Z\"}\n".write(toFile: path, atomically: true, encoding: .utf8)
        let r = try journey(["ingest", "--db", db, path])
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.out.contains("ingested 0 events, rejected 2"), r.out + r.err)
        XCTAssertEqual(try journey(["rejects", "--db", db]).out.split(separator: "\n").count, 2)
        // And the database takes the next ingest.
        let good = d.appendingPathComponent("good.jsonl").path
        try "{\"id\": \"a\", \"first_name\": \"Ana\", \"email\": \"a@x\"}\n".write(to: d.appendingPathComponent("p.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["import", "--db", db, d.appendingPathComponent("p.jsonl").path]).code, 0)
        try "{\"profile\": \"a\", \"event\": \"signup\", \"at\": \"2025-03-01T10:00:00Z\", \"data\": {\"source\": \"web\"}}\n".write(toFile: good, atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["ingest", "--db", db, good]).code, 0)
    }

    func testBadInputIsReportedKeptAndTheRestGoesOn() throws {
        let d = try tempDir()
        let bundle = try project(d, "p", flow: welcome("hi"))
        let db = d.appendingPathComponent("j.db").path
        XCTAssertEqual(try journey(["deploy", "--db", db, bundle]).code, 0)
        try "{\"id\": \"a\", \"first_name\": \"Ana\"}\n{\"id\": \"b\"}\nnot json\n".write(to: d.appendingPathComponent("p.jsonl"), atomically: true, encoding: .utf8)
        var r = try journey(["import", "--db", db, d.appendingPathComponent("p.jsonl").path])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("p.jsonl:2: rejected:"), r.err)
        XCTAssertTrue(r.err.contains("p.jsonl:3: rejected:"), r.err)
        let events = """
        {"profile": "a", "event": "signup", "at": "2025-03-01T10:00:00Z", "data": {"source": "web"}}
        {"profile": "a", "event": "signup", "at": "2025-03-01T10:00:00Z", "data": {"source": 5}}
        {"profile": "zed", "event": "signup", "at": "2025-03-01T10:00:00Z", "data": {"source": "web"}}
        {"profile": "a", "event": "signp", "at": "2025-03-01T10:00:00Z"}
        {"profile": "a", "event": "signup", "at": "yesterday", "data": {"source": "web"}}

        """
        try events.write(to: d.appendingPathComponent("e.jsonl"), atomically: true, encoding: .utf8)
        r = try journey(["ingest", "--db", db, d.appendingPathComponent("e.jsonl").path])
        XCTAssertEqual(r.code, 1)
        for line in 2...5 { XCTAssertTrue(r.err.contains("e.jsonl:\(line): rejected:"), "line \(line): \(r.err)") }
        XCTAssertTrue(r.err.contains("unknown profile 'zed'"), r.err)
        XCTAssertTrue(r.err.contains("did you mean"), r.err)
        let kept = try journey(["rejects", "--db", db]).out.split(separator: "\n")
        XCTAssertEqual(kept.count, 6, kept.joined(separator: "\n"))
        XCTAssertTrue(kept.contains { $0.contains("\"line\": 3") && $0.contains("zed") && $0.contains("\\\"profile\\\": \\\"zed\\\"") })
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-05T00:00:00Z"]).code, 0)
        XCTAssertEqual(try journey(["outbox", "--db", db]).out.split(separator: "\n").count, 1, "the good event still ran")
    }

    /// A file of several megabytes is parsed in pieces on another thread while earlier pieces
    /// are stored: line numbers still count from the file's start, and nothing is lost.
    func testLargeEventFilesKeepLineNumbersAcrossPieces() throws {
        let d = try tempDir()
        let flow = "journey welcome {\n  on signup as s\n  reentry always\n  email \"{s.source}\"\n}\n"
        let bundle = try project(d, "big", flow: flow)
        let db = d.appendingPathComponent("j.db").path
        XCTAssertEqual(try journey(["deploy", "--db", db, bundle]).code, 0)
        try (0..<50).map { "{\"id\": \"p\($0)\", \"first_name\": \"P\($0)\", \"email\": \"p\($0)@x.com\"}\n" }.joined()
            .write(to: d.appendingPathComponent("p.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["import", "--db", db, d.appendingPathComponent("p.jsonl").path]).code, 0)
        let n = 40_000
        let bad: Set<Int> = [7, 20_011, 39_998] // 1-based lines
        let padding = String(repeating: "x", count: 60)
        var text = ""
        for line in 1...n {
            if bad.contains(line) { text += "{\"profile\": \"p1\", \"event\": \"signup\"\n"; continue }
            let profile = line == 30_003 ? "nobody" : "p\(line % 50)"
            let at = 1_740_787_200 + line
            text += "{\"profile\": \"\(profile)\", \"event\": \"signup\", \"at\": \"\(Value.iso8601(Int64(at)))\", \"data\": {\"source\": \"s\(line)-\(padding)\"}}\n"
        }
        XCTAssertGreaterThan(text.utf8.count, 4 << 20, "big enough to be cut into pieces")
        let path = d.appendingPathComponent("e.jsonl").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try journey(["ingest", "--db", db, path])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.out.contains("ingested \(n - 4) events, rejected 4"), r.out)
        for line in bad { XCTAssertTrue(r.err.contains("e.jsonl:\(line): rejected:"), "line \(line): \(r.err)") }
        XCTAssertTrue(r.err.contains("e.jsonl:30003: rejected: unknown profile 'nobody'"), r.err)
        let kept = try journey(["rejects", "--db", db]).out.split(separator: "\n")
        XCTAssertEqual(kept.count, 4)
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-05T00:00:00Z"]).code, 0)
        let sent = try journey(["outbox", "--db", db]).out.split(separator: "\n")
        XCTAssertEqual(sent.count, n - 4)
        // In time order, which here is file order: every good line once.
        XCTAssertTrue(sent[0].contains("\"s1-"), String(sent[0]))
        XCTAssertTrue(sent[sent.count - 1].contains("\"s\(n)-"), String(sent[sent.count - 1]))
    }

    func testDamagedBundlesAreRefusedWhole() throws {
        let d = try tempDir()
        let bundle = try project(d, "p", flow: welcome("hi"))
        XCTAssertEqual(try journey(["verify", bundle]).code, 0)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: bundle)))
        let cut = d.appendingPathComponent("cut.journeyc")
        try Data(bytes.prefix(bytes.count / 2)).write(to: cut)
        var r = try journey(["verify", cut.path])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("truncated bundle"), r.err)
        bytes[bytes.count / 2] ^= 0x5A
        let flipped = d.appendingPathComponent("flipped.journeyc")
        try Data(bytes).write(to: flipped)
        r = try journey(["verify", flipped.path])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("checksum mismatch"), r.err)
        let db = d.appendingPathComponent("j.db").path
        r = try journey(["deploy", "--db", db, flipped.path])
        XCTAssertEqual(r.code, 1, "a damaged bundle is never deployed")
        XCTAssertTrue(try journey(["disasm", bundle]).out.contains("wait          #"))
    }

    func testSimulateIsDeterministicAndTheExamplesRun() throws {
        let args = ["simulate", "--profiles", "examples/data/profiles.jsonl", "--events", "examples/data/events.jsonl", "--until", "2025-03-20T00:00:00Z", "examples"]
        let a = try journey(args), b = try journey(args)
        XCTAssertEqual(a.code, 0, a.err)
        XCTAssertEqual(a.out, b.out)
        XCTAssertGreaterThan(a.out.split(separator: "\n").count, 15)
        for j in ["abandoned_cart", "post_purchase", "birthday", "price_drop", "back_in_stock", "web_push_welcome", "new_arrivals"] {
            XCTAssertTrue(a.out.contains("\"journey\": \"\(j)\""), "no message from \(j)")
        }
    }
}

/// `run --follow` keeps going on the wall clock and picks up events ingested while it runs.
final class FollowTests: XCTestCase {
    func testFollowPicksUpNewEvents() throws {
        let d = try tempDir()
        let p = d.appendingPathComponent("project")
        try FileManager.default.createDirectory(at: p, withIntermediateDirectories: true)
        try "profile {\n  first_name: string\n  email: string?\n}\nevent signup { source: string }\nchannel email address profile.email\n"
            .write(to: p.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
        try "journey hello {\n  on signup as s\n  goal signup\n  email \"Hello {profile.first_name} from {s.source}\"\n}\n"
            .write(to: p.appendingPathComponent("hello.journey"), atomically: true, encoding: .utf8)
        let bundle = d.appendingPathComponent("b.journeyc").path
        XCTAssertEqual(try journey(["build", "-o", bundle, p.path]).code, 0)
        let db = d.appendingPathComponent("j.db").path
        XCTAssertEqual(try journey(["deploy", "--db", db, bundle]).code, 0)
        try "{\"id\": \"a\", \"first_name\": \"Ana\", \"email\": \"a@x\"}\n".write(to: d.appendingPathComponent("p.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["import", "--db", db, d.appendingPathComponent("p.jsonl").path]).code, 0)

        let follower = Process()
        follower.executableURL = Bundle.main.bundleURL.appendingPathComponent("journey")
        follower.arguments = ["run", "--db", db, "--follow"]
        let log = d.appendingPathComponent("follow.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        follower.standardOutput = try FileHandle(forWritingTo: log)
        follower.standardError = FileHandle.nullDevice
        try follower.run()
        defer { if follower.isRunning { kill(follower.processIdentifier, SIGKILL) }; follower.waitUntilExit() }

        // Ingest from standard input while the follower runs.
        let ingest = Process()
        ingest.executableURL = follower.executableURL
        ingest.arguments = ["ingest", "--db", db, "-"]
        let input = Pipe()
        ingest.standardInput = input
        ingest.standardOutput = FileHandle.nullDevice
        try ingest.run()
        // An event that just happened: the follower runs on the wall clock, and a trigger
        // older than a day (max_delay) would start nothing.
        let now = ISO8601DateFormatter().string(from: Date())
        input.fileHandleForWriting.write(Data("{\"profile\": \"a\", \"event\": \"signup\", \"at\": \"\(now)\", \"data\": {\"source\": \"stdin\"}}\n".utf8))
        try input.fileHandleForWriting.close()
        ingest.waitUntilExit()
        XCTAssertEqual(ingest.terminationStatus, 0)

        var out = ""
        for _ in 0..<40 where !out.contains("Hello Ana from stdin") {
            usleep(250_000)
            out = try journey(["outbox", "--db", db]).out
        }
        XCTAssertTrue(out.contains("\"content\": {\"body\": \"Hello Ana from stdin\"}"), out)
        XCTAssertTrue(follower.isRunning, "--follow keeps running")
        // It says what it does: a start line, each message, and a summary when stopped.
        var printed = ""
        for _ in 0..<40 where !printed.contains("Hello Ana from stdin") {
            usleep(100_000)
            printed = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        }
        kill(follower.processIdentifier, SIGTERM)
        for _ in 0..<100 where follower.isRunning { usleep(50_000) }
        XCTAssertFalse(follower.isRunning, "SIGTERM stops it")
        XCTAssertEqual(follower.terminationReason, .exit)
        XCTAssertEqual(follower.terminationStatus, 0)
        printed = try String(contentsOf: log, encoding: .utf8)
        XCTAssertTrue(printed.hasPrefix("journey run --follow: \(db), bundle "), printed)
        XCTAssertTrue(printed.contains(" UTC  a  hello  email  sent  Hello Ana from stdin"), printed)
        XCTAssertTrue(printed.contains("stopped: 1 event, 0 timers, 0 audience runs; 1 message"), printed)
    }
}
