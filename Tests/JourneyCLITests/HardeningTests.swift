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
        let db = d.appendingPathComponent("j.db").path
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
        let db = d.appendingPathComponent("j.db").path
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
        let db = d.appendingPathComponent("j.db").path
        XCTAssertEqual(try journey(["deploy", "--db", db, bundle]).code, 0)
        XCTAssertEqual(try journey(["import", "--db", db, profiles]).code, 0)
        XCTAssertEqual(try journey(["ingest", "--db", db, events]).code, 0)
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-02T00:00:00Z"]).code, 0)
        let out = try journey(["outbox", "--db", db]).out
        XCTAssertEqual(out.split(separator: "\n").count, 2, String(out.prefix(300)))
        XCTAssertFalse(out.contains("\"profile\": \"big\""))
        let rejects = try journey(["rejects", "--db", db]).out
        XCTAssertTrue(rejects.contains("instance 1 for profile big stopped: a text would be at least 120000 bytes long; a journey's texts and messages may be at most 100000 bytes"), rejects)
    }

    // MARK: - 2. NUL in ids and text

    func testNulInAnIdIsRefusedAndNulInTextIsKept() throws {
        let d = try tempDir()
        let flow = "journey welcome {\n  on signup as s\n  goal signup\n  email \"Hi {profile.first_name}, from {s.source}\"\n}\n"
        let bundle = try build(d, "v1", journeys: flow)
        let db = d.appendingPathComponent("j.db").path
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
        let db = d.appendingPathComponent("j.db").path
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
}

/// Issue 9, item 6: deep nesting used to overflow the stack (SIGSEGV) in check, fmt, build and
/// the language server at about 4,500 levels. Each shape is now a J0109 diagnostic.
final class NestingTests: XCTestCase {
    let schema = "profile { first_name: string, email: string? }\nevent signup { source: string }\nchannel email address profile.email\n"

    /// A journey whose one condition (or body) is `inner`.
    func journeyWith(condition inner: String) -> String {
        "journey deep {\n  on signup as s\n  goal signup\n  if \(inner) {\n    email \"x\"\n  }\n}\n"
    }

    var shapes: [(String, String)] {
        let n = 5000
        return [
            ("parentheses", journeyWith(condition: String(repeating: "(", count: n) + "true" + String(repeating: ")", count: n))),
            ("a flat sum", journeyWith(condition: Array(repeating: "1", count: n).joined(separator: " + ") + " > 1")),
            ("a chain of and", journeyWith(condition: Array(repeating: "true", count: n).joined(separator: " and "))),
            ("not not", journeyWith(condition: String(repeating: "not ", count: n) + "true")),
            ("minus minus", journeyWith(condition: String(repeating: "- ", count: n) + "1 > 0")),
            ("coalesce", journeyWith(condition: Array(repeating: "profile.email", count: n).joined(separator: " ?? ") + " == \"a\"")),
            ("field chains", journeyWith(condition: "s" + String(repeating: ".source", count: n) + " == \"a\"")),
            ("blocks", "journey deep {\n  on signup\n  goal signup\n" + String(repeating: "if true {\n", count: n) + "email \"x\"\n" + String(repeating: "}\n", count: n) + "}\n"),
            ("interpolations", "journey deep {\n  on signup\n  goal signup\n  email " + String(repeating: "\"{", count: n) + "1" + String(repeating: "}\"", count: n) + "\n}\n"),
            ("message blocks", "journey deep {\n  on signup\n  goal signup\n  email " + String(repeating: "{ body: ", count: 1) + String(repeating: "{ a: ", count: n) + "\"x\"" + String(repeating: " }", count: n + 1) + "\n}\n"),
        ]
    }

    func testDeepNestingIsADiagnosticEverywhere() throws {
        for (what, source) in shapes {
            let d = try tempDir()
            try schema.write(to: d.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
            let file = d.appendingPathComponent("deep.journey")
            try source.write(to: file, atomically: true, encoding: .utf8)
            let checked = try journey(["check", d.path], env: ["NO_COLOR": "1"], timeout: 60)
            XCTAssertEqual(checked.code, 1, "\(what): check \(checked.err)")
            XCTAssertTrue(checked.out.contains("J0109"), "\(what): \(checked.out.prefix(600))")
            let built = try journey(["build", "-o", d.appendingPathComponent("b.journeyc").path, d.path], timeout: 60)
            XCTAssertEqual(built.code, 1, "\(what): build \(built.err.prefix(300))")
            let formatted = try journey(["fmt", "--check", file.path], timeout: 60)
            XCTAssertTrue(formatted.code == 1 || formatted.code == 2, "\(what): fmt exited \(formatted.code)")
        }
    }

    /// Exactly at the limit is fine; one more level is not.
    func testTheLimitIsExact() throws {
        let d = try tempDir()
        try schema.write(to: d.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
        // The condition `(((true)))` with k parentheses is k + 1 deep; the `if` itself adds nothing.
        for (k, expected) in [(98, Int32(0)), (101, Int32(1))] {
            let source = journeyWith(condition: String(repeating: "(", count: k) + "true" + String(repeating: ")", count: k))
            try source.write(to: d.appendingPathComponent("deep.journey"), atomically: true, encoding: .utf8)
            let r = try journey(["check", d.path], env: ["NO_COLOR": "1"])
            XCTAssertEqual(r.code, expected, "\(k) parentheses: \(r.out.prefix(400))")
        }
    }

    /// The language server answers about a file nested 5,000 deep and carries on.
    func testTheLanguageServerSurvivesAnyFile() throws {
        let d = try tempDir()
        try schema.write(to: d.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
        let uri = d.appendingPathComponent("deep.journey").absoluteString
        func frame(_ json: String) -> String { "Content-Length: \(json.utf8.count)\r\n\r\n\(json)" }
        var input = frame(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"rootUri":"\#(d.absoluteString)","capabilities":{}}}"#)
        input += frame(#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#)
        for (k, (_, source)) in shapes.enumerated() {
            let text = JSONEscape.quote(source)
            input += frame(#"{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"\#(uri)\#(k)","languageId":"journey","version":1,"text":\#(text)}}}"#)
            input += frame(#"{"jsonrpc":"2.0","id":\#(10 + k),"method":"textDocument/hover","params":{"textDocument":{"uri":"\#(uri)\#(k)"},"position":{"line":3,"character":6}}}"#)
            input += frame(#"{"jsonrpc":"2.0","id":\#(100 + k),"method":"textDocument/formatting","params":{"textDocument":{"uri":"\#(uri)\#(k)"},"options":{"tabSize":2,"insertSpaces":true}}}"#)
        }
        input += frame(#"{"jsonrpc":"2.0","id":999,"method":"shutdown"}"#)
        input += frame(#"{"jsonrpc":"2.0","method":"exit"}"#)
        let inFile = d.appendingPathComponent("in.lsp")
        try input.write(to: inFile, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = Bundle.main.bundleURL.appendingPathComponent("journey")
        p.arguments = ["lsp"]
        p.standardInput = try FileHandle(forReadingFrom: inFile)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let killer = DispatchWorkItem { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 120, execute: killer)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        killer.cancel()
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertEqual(p.terminationReason, .exit, "the server died of a signal")
        XCTAssertTrue(text.contains(#""id":999"#), "no answer to shutdown: \(text.suffix(500))")
        XCTAssertTrue(text.contains("J0109"), "no nesting diagnostic published")
    }
}

/// JSON string quoting for test inputs (Foundation's encoder).
enum JSONEscape {
    static func quote(_ s: String) -> String {
        (try? JSONEncoder().encode(s)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
    }
}

/// A project of profiles that sign up (a schema with `signup { source }` and `flows`), built,
/// deployed to a new database with `profiles` profiles p0, p1, … imported; returns the database.
func signupDatabase(_ d: URL, flows: String, profiles: Int) throws -> String {
    let p = d.appendingPathComponent("project")
    try FileManager.default.createDirectory(at: p, withIntermediateDirectories: true)
    try "profile { first_name: string, email: string? }\nevent signup { source: string }\nchannel email address profile.email\n"
        .write(to: p.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
    try flows.write(to: p.appendingPathComponent("flows.journey"), atomically: true, encoding: .utf8)
    let bundle = d.appendingPathComponent("b.journeyc").path
    let built = try journey(["build", "-o", bundle, p.path])
    XCTAssertEqual(built.code, 0, built.out)
    let db = d.appendingPathComponent("j.db").path
    XCTAssertEqual(try journey(["deploy", "--db", db, bundle]).code, 0)
    var text = ""
    for i in 0..<profiles { text += "{\"id\": \"p\(i)\", \"first_name\": \"P\(i)\", \"email\": \"p\(i)@x\"}\n" }
    try text.write(to: d.appendingPathComponent("p.jsonl"), atomically: true, encoding: .utf8)
    XCTAssertEqual(try journey(["import", "--db", db, d.appendingPathComponent("p.jsonl").path]).code, 0)
    return db
}

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
}

/// Issue 9, items 13 and 16: the database file is whole after each command, `backup` copies it
/// while it is used, reading commands only read, and message text cannot drive the terminal.
final class DatabaseFileTests: XCTestCase {
    func prepare(_ d: URL) throws -> String {
        let bundle = d.appendingPathComponent("b.journeyc").path
        XCTAssertEqual(try journey(["build", "-o", bundle, "examples"]).code, 0)
        let db = d.appendingPathComponent("shop.db").path
        XCTAssertEqual(try journey(["deploy", "--db", db, bundle]).code, 0)
        XCTAssertEqual(try journey(["import", "--db", db, "examples/data/profiles.jsonl"]).code, 0)
        XCTAssertEqual(try journey(["ingest", "--db", db, "examples/data/events.jsonl"]).code, 0)
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-20T00:00:00Z"]).code, 0)
        return db
    }

    func testTheDatabaseFileAloneHoldsEveryCommit() throws {
        let d = try tempDir()
        let db = try prepare(d)
        let expected = try journey(["outbox", "--db", db]).out
        XCTAssertGreaterThan(expected.split(separator: "\n").count, 10)
        // A plain copy of the file, without its -wal: everything is there.
        let copyDir = d.appendingPathComponent("copy")
        try FileManager.default.createDirectory(at: copyDir, withIntermediateDirectories: true)
        let copy = copyDir.appendingPathComponent("shop.db").path
        try FileManager.default.copyItem(atPath: db, toPath: copy)
        XCTAssertEqual(try journey(["outbox", "--db", copy]).out, expected)
        // A backup is a file of its own, refused over an existing one.
        let backup = d.appendingPathComponent("backup.db").path
        let r = try journey(["backup", "--db", db, backup])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(try journey(["outbox", "--db", backup]).out, expected)
        XCTAssertEqual(try journey(["backup", "--db", db, backup]).code, 2)
    }

    func testReadingCommandsLeaveTheFileAsItIs() throws {
        let d = try tempDir()
        let db = try prepare(d)
        let before = try Data(contentsOf: URL(fileURLWithPath: db))
        XCTAssertEqual(try journey(["outbox", "--db", db, "--format", "text"]).code, 0)
        XCTAssertEqual(try journey(["rejects", "--db", db]).code, 0)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: db)), before)
        XCTAssertEqual(try journey(["outbox", "--db", d.appendingPathComponent("none.db").path]).code, 2)
    }

    func testMessageTextCannotDriveTheTerminal() throws {
        let d = try tempDir()
        let p = d.appendingPathComponent("project")
        try FileManager.default.createDirectory(at: p, withIntermediateDirectories: true)
        try "profile { first_name: string, email: string? }\nevent signup { source: string }\nchannel email address profile.email\n"
            .write(to: p.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
        try "journey welcome {\n  on signup\n  goal signup\n  email \"Hi {profile.first_name}\"\n}\n".write(to: p.appendingPathComponent("w.journey"), atomically: true, encoding: .utf8)
        try #"{"id": "a", "first_name": "\u001b[2J\u001b]0;owned\u0007Ana", "email": "a@x"}"#.appending("\n").write(to: d.appendingPathComponent("p.jsonl"), atomically: true, encoding: .utf8)
        try #"{"profile": "a", "event": "signup", "at": "2025-03-01T10:00:00Z", "data": {"source": "w"}}"#.appending("\n").write(to: d.appendingPathComponent("e.jsonl"), atomically: true, encoding: .utf8)
        let r = try journey(["simulate", "--profiles", d.appendingPathComponent("p.jsonl").path, "--events", d.appendingPathComponent("e.jsonl").path, "--format", "text", p.path])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertFalse(r.out.contains("\u{1B}"), r.out)
        XCTAssertFalse(r.out.contains("\u{07}"), r.out)
        XCTAssertTrue(r.out.contains(#"Hi \u{1B}[2J\u{1B}]0;owned\u{7}Ana"#), r.out)
    }

    func testRepeatedIdsInOneImportAreReported() throws {
        let d = try tempDir()
        let db = try prepare(d)
        try "{\"id\": \"ana\", \"first_name\": \"A1\", \"email_opt_in\": true, \"whatsapp_opt_in\": false, \"sms_opt_in\": false, \"city\": \"x\", \"lifetime_value\": 0, \"orders_count\": 0, \"loyalty_points\": 0, \"loyalty_tier\": \"Silver\"}\n{\"id\": \"ana\", \"first_name\": \"A2\", \"email_opt_in\": true, \"whatsapp_opt_in\": false, \"sms_opt_in\": false, \"city\": \"x\", \"lifetime_value\": 0, \"orders_count\": 0, \"loyalty_points\": 0, \"loyalty_tier\": \"Silver\"}\n"
            .write(to: d.appendingPathComponent("twice.jsonl"), atomically: true, encoding: .utf8)
        let r = try journey(["import", "--db", db, d.appendingPathComponent("twice.jsonl").path])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.err.contains(#"profile "ana" is given 2 times; each line replaces the one before, so the last one counts"#), r.err)
    }
}

/// Issue 9, item 16: a bundle records project-relative paths, so where a project is built does
/// not change its bytes or content hash.
final class ReproducibleBuildTests: XCTestCase {
    func testTheSameProjectInTwoFoldersBuildsTheSameBytes() throws {
        let d = try tempDir()
        let a = d.appendingPathComponent("one/shop"), b = d.appendingPathComponent("two/elsewhere/shop")
        for dir in [a, b] {
            try FileManager.default.createDirectory(at: dir.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: repoRoot.appendingPathComponent("examples"), to: dir)
        }
        let x = d.appendingPathComponent("x.journeyc").path, y = d.appendingPathComponent("y.journeyc").path
        XCTAssertEqual(try journey(["build", "-o", x, a.path]).code, 0)
        XCTAssertEqual(try journey(["build", "-o", y, "shop"], cwd: b.deletingLastPathComponent()).code, 0)
        let bx = try Data(contentsOf: URL(fileURLWithPath: x)), by = try Data(contentsOf: URL(fileURLWithPath: y))
        XCTAssertEqual(bx, by)
        XCTAssertFalse(String(decoding: bx, as: UTF8.self).contains(d.path), "the bundle holds an absolute path")
    }
}

/// Issue 8, section 1: schema changes never corrupt a profile.
final class SchemaEvolutionTests: XCTestCase {
    let v1 = "profile {\n  first_name: string\n  email: string?\n  email_opt_in: bool\n  loyalty_points: int\n}\nevent order_placed { order_id: string }\nchannel email address profile.email consent profile.email_opt_in\n"
    let flow = "journey loyalty {\n  on order_placed\n  goal order_placed where order_id == \"never\"\n  reentry always\n  set profile.loyalty_points = profile.loyalty_points + profile.bonus\n  email \"you have {profile.loyalty_points} points\"\n}\n"

    func build(_ d: URL, _ name: String, _ schema: String, _ journeys: String) throws -> String {
        let p = d.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: p, withIntermediateDirectories: true)
        try schema.write(to: p.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
        try journeys.write(to: p.appendingPathComponent("flows.journey"), atomically: true, encoding: .utf8)
        let bundle = d.appendingPathComponent("\(name).journeyc").path
        let r = try journey(["build", "-o", bundle, p.path])
        XCTAssertEqual(r.code, 0, r.out + r.err)
        return bundle
    }

    /// The repro of the issue: v2 adds `bonus: int` and a journey that adds it to the points.
    func testANewRequiredAttributeNeedsADefault() throws {
        let d = try tempDir()
        let b1 = try build(d, "v1", v1, "")
        let b2 = try build(d, "v2", v1.replacingOccurrences(of: "  loyalty_points: int\n", with: "  loyalty_points: int\n  bonus: int\n"), flow)
        let b3 = try build(d, "v3", v1.replacingOccurrences(of: "  loyalty_points: int\n", with: "  loyalty_points: int\n  bonus: int = 0\n"), flow)
        let db = d.appendingPathComponent("j.db").path
        try "{\"id\": \"ana\", \"first_name\": \"Ana\", \"email\": \"ana@x\", \"email_opt_in\": true, \"loyalty_points\": 1200}\n"
            .write(to: d.appendingPathComponent("p.jsonl"), atomically: true, encoding: .utf8)
        try "{\"profile\": \"ana\", \"event\": \"order_placed\", \"at\": \"2025-03-01T10:00:00Z\", \"data\": {\"order_id\": \"o1\"}}\n"
            .write(to: d.appendingPathComponent("e.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["deploy", "--db", db, b1]).code, 0)
        XCTAssertEqual(try journey(["import", "--db", db, d.appendingPathComponent("p.jsonl").path]).code, 0)

        let refused = try journey(["deploy", "--db", db, b2])
        XCTAssertEqual(refused.code, 1)
        XCTAssertTrue(refused.err.contains("profile attribute 'bonus' is new and required, but the 1 stored profile has no value for it"), refused.err)
        XCTAssertTrue(refused.err.contains("Give it a default (`bonus: int = …`") && refused.err.contains("make it optional (`bonus: int?`)"), refused.err)

        let dry = try journey(["deploy", "--db", db, "--dry-run", b3])
        XCTAssertEqual(dry.code, 0, dry.err)
        XCTAssertTrue(dry.out.contains("add profile attribute bonus: int = 0 (the 1 stored profile gets the default)"), dry.out)
        XCTAssertTrue(dry.out.contains("add journey loyalty"), dry.out)
        XCTAssertEqual(try journey(["deploy", "--db", db, b3]).code, 0)
        XCTAssertEqual(try journey(["ingest", "--db", db, d.appendingPathComponent("e.jsonl").path]).code, 0)
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-02T00:00:00Z"]).code, 0)
        let out = try journey(["outbox", "--db", db]).out
        XCTAssertTrue(out.contains("\"body\": \"you have 1200 points\""), out)
    }

    func testRemovingNarrowingAndRequiringAreRefusedUnlessTheDataAllows() throws {
        let d = try tempDir()
        let withNick = v1.replacingOccurrences(of: "  email_opt_in: bool\n", with: "  email_opt_in: bool\n  nickname: string?\n")
        let b1 = try build(d, "v1", withNick, "")
        let removed = try build(d, "removed", v1, "")
        let narrowed = try build(d, "narrowed", withNick.replacingOccurrences(of: "loyalty_points: int", with: "loyalty_points: string"), "")
        let required = try build(d, "required", withNick.replacingOccurrences(of: "nickname: string?", with: "nickname: string"), "")
        let requiredDefault = try build(d, "required_default", withNick.replacingOccurrences(of: "nickname: string?", with: "nickname: string = \"friend\""),
                                        "journey hi {\n  on order_placed\n  goal order_placed where order_id == \"never\"\n  email \"hi {profile.nickname}\"\n}\n")
        // An attribute nobody holds a value for may go.
        let spare = try build(d, "spare", withNick.replacingOccurrences(of: "  nickname: string?\n", with: "  nickname: string?\n  spare: string?\n"), "")
        let db = d.appendingPathComponent("j.db").path
        try "{\"id\": \"ana\", \"first_name\": \"Ana\", \"email_opt_in\": true, \"loyalty_points\": 1, \"nickname\": \"A\"}\n{\"id\": \"ben\", \"first_name\": \"Ben\", \"email_opt_in\": true, \"loyalty_points\": 2}\n"
            .write(to: d.appendingPathComponent("p.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["deploy", "--db", db, spare]).code, 0)
        XCTAssertEqual(try journey(["import", "--db", db, d.appendingPathComponent("p.jsonl").path]).code, 0)
        let dropSpare = try journey(["deploy", "--db", db, "--dry-run", b1])
        XCTAssertEqual(dropSpare.code, 0, dropSpare.err)
        XCTAssertTrue(dropSpare.out.contains("drop profile attribute spare (no profile has a value for it; its column stays)"), dropSpare.out)
        XCTAssertEqual(try journey(["deploy", "--db", db, b1]).code, 0)
        let r1 = try journey(["deploy", "--db", db, removed])
        XCTAssertEqual(r1.code, 1)
        XCTAssertTrue(r1.err.contains("profile attribute 'nickname' is removed, but 1 profile holds a value for it"), r1.err)
        let r2 = try journey(["deploy", "--db", db, narrowed])
        XCTAssertEqual(r2.code, 1)
        XCTAssertTrue(r2.err.contains("profile attribute 'loyalty_points' was int and is now string"), r2.err)
        let r3 = try journey(["deploy", "--db", db, required])
        XCTAssertEqual(r3.code, 1)
        XCTAssertTrue(r3.err.contains("profile attribute 'nickname' is now required, but 1 profile has no value for it"), r3.err)
        let r4 = try journey(["deploy", "--db", db, requiredDefault])
        XCTAssertEqual(r4.code, 0, r4.err)
        // The default filled Ben's missing nickname, and only his: Ana keeps hers.
        try "{\"profile\": \"ben\", \"event\": \"order_placed\", \"at\": \"2025-03-01T10:00:00Z\", \"data\": {\"order_id\": \"o1\"}}\n{\"profile\": \"ana\", \"event\": \"order_placed\", \"at\": \"2025-03-01T10:00:00Z\", \"data\": {\"order_id\": \"o2\"}}\n"
            .write(to: d.appendingPathComponent("e.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["ingest", "--db", db, d.appendingPathComponent("e.jsonl").path]).code, 0)
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-02T00:00:00Z"]).code, 0)
        let bodies = try journey(["outbox", "--db", db]).out
        XCTAssertFalse(bodies.contains("\"body\""), "nobody has an email: \(bodies)")
        XCTAssertEqual(bodies.components(separatedBy: "undeliverable").count - 1, 2, bodies)
        // The refused deploys changed nothing: the removed and narrowed schemas are refused still.
        XCTAssertEqual(try journey(["deploy", "--db", db, "--dry-run", removed]).code, 1)
        XCTAssertEqual(try journey(["deploy", "--db", db, "--dry-run", narrowed]).code, 1)
    }
}

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

final class DenyWarningsTests: XCTestCase {
    func testDenyWarningsMakesAWarningFailCI() throws {
        let d = try tempDir()
        try "profile { first_name: string, email: string? }\nevent signup { source: string }\nchannel email address profile.email\njourney j {\n  on signup\n  email \"x\"\n}\n"
            .write(to: d.appendingPathComponent("p.journey"), atomically: true, encoding: .utf8)
        let plain = try journey(["check", d.path])
        XCTAssertEqual(plain.code, 0, plain.out)
        XCTAssertTrue(plain.out.contains("J0503"), plain.out)
        XCTAssertEqual(try journey(["check", "--deny-warnings", d.path]).code, 1)
        XCTAssertEqual(try journey(["check", "--deny-warnings", "examples"]).code, 0)
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

final class HonestOutputTests: XCTestCase {
    func testADirectoryWhereAFileIsWantedSaysWhatToGive() throws {
        let deploy = try journey(["deploy", "--db", try tempDir().appendingPathComponent("x.db").path, "examples"])
        XCTAssertEqual(deploy.code, 2)
        XCTAssertTrue(deploy.err.contains("examples: is a directory; build a bundle from it first"), deploy.err)
        let graph = try journey(["graph", "examples"])
        XCTAssertEqual(graph.code, 2)
        XCTAssertTrue(graph.err.contains("examples: is a directory; give one of its .journey files"), graph.err)
    }

    /// The text timeline: one time format with its zone, aligned columns, the reason a message
    /// was not sent, and ids when asked.
    func testTheTextTimeline() throws {
        let r = try journey(["simulate", "--profiles", "examples/data/profiles.jsonl", "--events", "examples/data/events.jsonl",
                             "--until", "2025-03-20T00:00:00Z", "--format", "text", "examples"])
        XCTAssertEqual(r.code, 0, r.err)
        let lines = r.out.split(separator: "\n")
        XCTAssertTrue(lines.allSatisfy { $0.dropFirst(19).hasPrefix(" UTC  ") }, String(r.out.prefix(400)))
        XCTAssertTrue(r.out.contains("emi    abandoned_cart      -         undeliverable  (push: no address (profile.push_token is empty); whatsapp: no address (profile.phone is empty))"), r.out)
        // The status column starts at the same place on every line.
        let starts = Set(lines.compactMap { l in ["sent", "undeliverable", "suppressed"].compactMap { l.range(of: "  \($0) ")?.lowerBound.utf16Offset(in: l) }.first })
        XCTAssertEqual(starts.count, 1, "\(starts)")
        let jsonl = try journey(["simulate", "--profiles", "examples/data/profiles.jsonl", "--events", "examples/data/events.jsonl", "--until", "2025-03-20T00:00:00Z", "examples"]).out
        XCTAssertTrue(jsonl.contains(#""status": "undeliverable", "content": null, "reason": "push: no address (profile.push_token is empty); whatsapp: no address (profile.phone is empty)"}"#), jsonl)
        // A sent message's line is as it always was: no reason.
        XCTAssertTrue(jsonl.split(separator: "\n").filter { $0.contains(#""status": "sent""#) }.allSatisfy { !$0.contains("reason") })
    }
}

final class MergeImportTests: XCTestCase {
    func testMergeChangesOnlyTheAttributesGiven() throws {
        let d = try tempDir()
        let p = d.appendingPathComponent("project")
        try FileManager.default.createDirectory(at: p, withIntermediateDirectories: true)
        try "profile {\n  first_name: string\n  email: string?\n  points: int\n  city: string?\n}\nevent ping {}\nchannel email address profile.email\njourney j {\n  on ping\n  goal ping\n  email \"{profile.first_name} {profile.points} {profile.city ?? \"-\"}\"\n}\n"
            .write(to: p.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
        let bundle = d.appendingPathComponent("b.journeyc").path
        let built = try journey(["build", "-o", bundle, p.path])
        XCTAssertEqual(built.code, 0, built.out)
        let db = d.appendingPathComponent("j.db").path
        XCTAssertEqual(try journey(["deploy", "--db", db, bundle]).code, 0)
        try "{\"id\": \"a\", \"first_name\": \"Ana\", \"email\": \"a@x\", \"points\": 10, \"city\": \"Lyon\"}\n".write(to: d.appendingPathComponent("p.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["import", "--db", db, d.appendingPathComponent("p.jsonl").path]).code, 0)
        // A partial line without --merge is refused whole, as before.
        try "{\"id\": \"a\", \"points\": 20}\n{\"id\": \"new\", \"points\": 1}\n".write(to: d.appendingPathComponent("patch.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["import", "--db", db, d.appendingPathComponent("patch.jsonl").path]).code, 1)
        let merged = try journey(["import", "--db", db, "--merge", d.appendingPathComponent("patch.jsonl").path])
        XCTAssertEqual(merged.code, 1)
        XCTAssertTrue(merged.err.contains(#"patch.jsonl:2: rejected: profile "new" is not stored yet, so it needs every required attribute; missing "first_name""#), merged.err)
        XCTAssertTrue(merged.out.contains("updated 1 profile, rejected 1"), merged.out)
        try "id,city\na,\n".write(to: d.appendingPathComponent("patch.csv"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["import", "--db", db, "--merge", d.appendingPathComponent("patch.csv").path]).code, 0)
        try "{\"profile\": \"a\", \"event\": \"ping\", \"at\": \"2025-03-01T10:00:00Z\"}\n".write(to: d.appendingPathComponent("e.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["ingest", "--db", db, d.appendingPathComponent("e.jsonl").path]).code, 0)
        XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-02T00:00:00Z"]).code, 0)
        XCTAssertTrue(try journey(["outbox", "--db", db]).out.contains(#""body": "Ana 20 -""#))
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


/// Findings of the review of this work, each a regression test.
final class ReviewFindingTests: XCTestCase {
    func setUp(_ d: URL) throws -> String {
        let p = d.appendingPathComponent("project")
        try FileManager.default.createDirectory(at: p, withIntermediateDirectories: true)
        try "profile { first_name: string, email: string? }\nevent signup { source: string }\nchannel email address profile.email\njourney j {\n  on signup as s\n  goal signup\n  reentry always\n  email \"{s.source}\"\n}\n"
            .write(to: p.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
        let bundle = d.appendingPathComponent("b.journeyc").path
        XCTAssertEqual(try journey(["build", "-o", bundle, p.path]).code, 0)
        let db = d.appendingPathComponent("j.db").path
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
