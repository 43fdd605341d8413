import Foundation
import XCTest

/// `journey serve`, first part of issue 10: a real server on a free loopback port, real HTTP
/// (curl), real SQLite; every wait bounded.
final class ServeTests: XCTestCase {
    struct Server {
        let process: Process
        let port: Int
    }

    /// Starts `journey serve` on a free port; the tests talk to it with curl.
    func start(_ db: String, env: [String: String], _ extra: [String] = []) throws -> Server {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") else { throw XCTSkip("curl is not installed (.ci/run installs it)") }
        let (p, port) = try launchListening(Bundle.main.bundleURL.appendingPathComponent("journey"), ["serve", "--db", db, "--listen", "127.0.0.1:0"] + extra, env: env)
        return Server(process: p, port: port)
    }

    /// SIGTERM: the server finishes what it is doing and exits 0.
    func stop(_ server: Server) {
        kill(server.process.processIdentifier, SIGTERM)
        for _ in 0..<400 where server.process.isRunning { usleep(50_000) }
        XCTAssertFalse(server.process.isRunning)
        XCTAssertEqual(server.process.terminationStatus, 0)
    }

    /// Starts a program that prints "listening on 127.0.0.1:PORT" when ready (killed at the
    /// end of the test); its process and port.
    func launchListening(_ program: URL, _ arguments: [String], env: [String: String] = [:]) throws -> (Process, Int) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("listening-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let p = Process()
        p.executableURL = program
        p.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment.merge(env) { $1 }
        p.environment = environment
        p.standardOutput = try FileHandle(forWritingTo: log)
        p.standardError = FileHandle.nullDevice
        try p.run()
        addTeardownBlock { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        for _ in 0..<200 {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let r = text.range(of: #"listening on 127\.0\.0\.1:(\d+)"#, options: .regularExpression),
               let port = Int(text[r].split(separator: ":").last ?? "") {
                return (p, port)
            }
            usleep(50_000)
        }
        throw XCTSkip("\(program.lastPathComponent) did not start in 10 s")
    }

    /// One request with curl: the status code and the body.
    /// What curl prints for these arguments.
    func curl(_ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    func request(_ server: Server, _ method: String, _ path: String, key: String? = nil, body: String? = nil, contentType: String = "application/json",
                 headers: [String] = []) throws -> (Int, String) {
        var args = ["--noproxy", "*", "-s", "-m", "20", "-o", "-", "-w", "\n%{http_code}", "-X", method, "-H", "Content-Type: \(contentType)"]
        if let key { args += ["-H", "Authorization: Bearer \(key)"] }
        for h in headers { args += ["-H", h] }
        if let body { args += ["--data-binary", body] }
        let text = try curl(args + ["http://127.0.0.1:\(server.port)\(path)"])
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    func testEventsInOverHTTPWithKeysLimitsAndIds() throws {
        let d = try tempDir()
        let db = try signupDatabase(d, flows: "journey welcome {\n  on signup as s\n  goal signup where source == \"never\"\n  reentry always\n  email \"Hi {profile.first_name} from {s.source}\"\n}\n", profiles: 2)
        // No keys and no --no-auth: refused, saying why.
        let refused = try journey(["serve", "--db", db, "--listen", "127.0.0.1:0"], env: ["JOURNEY_INGEST_KEYS": "", "JOURNEY_ADMIN_KEYS": ""], timeout: 30)
        XCTAssertEqual(refused.code, 2)
        XCTAssertTrue(refused.err.contains("no keys are configured"), refused.err)

        let server = try start(db, env: ["JOURNEY_INGEST_KEYS": "ingest-key", "JOURNEY_ADMIN_KEYS": "admin-key"], ["--body-limit", "4096"])
        XCTAssertEqual(try request(server, "GET", "/healthz").0, 200)
        XCTAssertEqual(try request(server, "POST", "/v1/events", body: "[]").0, 401)
        XCTAssertEqual(try request(server, "POST", "/v1/events", key: "wrong", body: "[]").0, 401)
        let now = ISO8601DateFormatter().string(from: Date())
        func event(_ profile: String, _ source: String, id: String) -> String {
            "{\"profile\": \"\(profile)\", \"event\": \"signup\", \"at\": \"\(now)\", \"id\": \"\(id)\", \"data\": {\"source\": \"\(source)\"}}"
        }
        let (status, body) = try request(server, "POST", "/v1/events", key: "ingest-key",
                                         body: "[\(event("p0", "web", id: "e1")), \(event("nobody", "web", id: "e2")), {\"profile\": \"p1\"}]")
        XCTAssertEqual(status, 200, body)
        XCTAssertTrue(body.hasPrefix(#"{"accepted": 1, "duplicates": 0, "rejected": [{"index": 1, "reason": "unknown profile 'nobody'"#), body)
        XCTAssertTrue(body.contains(#"{"index": 2, "reason": "missing \"event\""#), body)
        // A retry of the same event (same id) is acknowledged and ignored; JSON lines work too.
        let retry = try request(server, "POST", "/v1/events", key: "admin-key", body: event("p0", "web", id: "e1") + "\n" + event("p1", "app", id: "e3") + "\n", contentType: "application/x-ndjson")
        XCTAssertEqual(retry.0, 200, retry.1)
        XCTAssertEqual(retry.1, #"{"accepted": 1, "duplicates": 1, "rejected": []}"#)
        // Not JSON: 400 and nothing stored; over the limit: 413.
        let bad = try request(server, "POST", "/v1/events", key: "ingest-key", body: "[" + event("p1", "bad", id: "e4") + ", {oops")
        XCTAssertEqual(bad.0, 400, bad.1)
        // An element (or a line) that is not JSON fails the whole body too, naming it.
        let badItem = try request(server, "POST", "/v1/events", key: "ingest-key", body: "[" + event("p1", "bad", id: "e5") + ", {oops}]")
        XCTAssertEqual(badItem.0, 400, badItem.1)
        XCTAssertTrue(badItem.1.contains("item 1 of the body is not valid JSON"), badItem.1)
        let badLine = try request(server, "POST", "/v1/events", key: "ingest-key", body: event("p1", "bad", id: "e6") + "\n{oops\n", contentType: "application/x-ndjson")
        XCTAssertEqual(badLine.0, 400, badLine.1)
        XCTAssertEqual(try request(server, "POST", "/v1/events", key: "ingest-key", body: "[" + String(repeating: " ", count: 5000) + "]").0, 413)
        // The engine runs on the wall clock: the two accepted signups are sent promptly.
        var out = ""
        for _ in 0..<100 where out.split(separator: "\n").count < 2 {
            usleep(100_000)
            out = try journey(["outbox", "--db", db]).out
        }
        XCTAssertTrue(out.contains("Hi P0 from web") && out.contains("Hi P1 from app"), out)
        XCTAssertFalse(out.contains("bad"), out)
        // SIGTERM: it finishes and exits 0.
        stop(server)
        let rejects = try journey(["rejects", "--db", db]).out
        XCTAssertTrue(rejects.contains(#""source": "POST /v1/events""#) && rejects.contains("nobody"), rejects)
    }

    /// PUT replaces a profile, PATCH merges into it; both check as `journey import` does.
    func testProfilesOverHTTP() throws {
        let d = try tempDir()
        let db = try signupDatabase(d, flows: "journey welcome {\n  on signup as s\n  goal signup where source == \"never\"\n  reentry always\n  email \"Hi {profile.first_name}\"\n}\n", profiles: 1)
        let server = try start(db, env: ["JOURNEY_INGEST_KEYS": "k", "JOURNEY_ADMIN_KEYS": ""])
        XCTAssertEqual(try request(server, "PUT", "/v1/profiles/n1", body: #"{"first_name": "Nia"}"#).0, 401)
        let put = try request(server, "PUT", "/v1/profiles/n1", key: "k", body: #"{"first_name": "Nia", "email": "n@x"}"#)
        XCTAssertEqual(put.0, 200, put.1)
        XCTAssertEqual(put.1, #"{"id": "n1"}"#)
        XCTAssertEqual(try request(server, "PATCH", "/v1/profiles/n1", key: "k", body: #"{"first_name": "Nina"}"#).0, 200)
        // An id with a slash, a quote or SQL is just an id.
        let odd = "a/b'; DROP TABLE profiles; --"
        let encoded = odd.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        XCTAssertEqual(try request(server, "PUT", "/v1/profiles/\(encoded)", key: "k", body: #"{"first_name": "Odd"}"#).0, 200)
        // A new profile through PATCH must give every required attribute; a wrong type is refused.
        let missing = try request(server, "PATCH", "/v1/profiles/new", key: "k", body: #"{"email": "x@y"}"#)
        XCTAssertEqual(missing.0, 400)
        XCTAssertTrue(missing.1.contains("is not stored yet, so it needs every required attribute"), missing.1)
        let wrong = try request(server, "PUT", "/v1/profiles/n2", key: "k", body: #"{"first_name": 3}"#)
        XCTAssertEqual(wrong.0, 400)
        XCTAssertTrue(wrong.1.contains(#"first_name"#), wrong.1)
        XCTAssertEqual(try request(server, "PUT", "/v1/profiles/n3", key: "k", body: "not json").0, 400)
        let now = ISO8601DateFormatter().string(from: Date())
        XCTAssertEqual(try request(server, "POST", "/v1/events", key: "k", body: "[{\"profile\": \"n1\", \"event\": \"signup\", \"at\": \"\(now)\", \"data\": {\"source\": \"w\"}}, {\"profile\": \(JSONEscape.quote(odd)), \"event\": \"signup\", \"at\": \"\(now)\", \"data\": {\"source\": \"w\"}}]").0, 200)
        var out = ""
        for _ in 0..<100 where !(out.contains("Hi Nina") && out.contains(odd)) {
            usleep(100_000)
            out = try journey(["outbox", "--db", db]).out
        }
        XCTAssertTrue(out.contains("\"body\": \"Hi Nina\""), out)
        // The odd id came through intact (it has no email: undeliverable, as its own profile).
        XCTAssertTrue(out.contains("\"profile\": \(JSONEscape.quote(odd).replacingOccurrences(of: "\\/", with: "/")), \"journey\": \"welcome\", \"channel\": null, \"status\": \"undeliverable\""), out)
        stop(server)
        XCTAssertTrue(try journey(["outbox", "--db", db]).code == 0)
    }
}
