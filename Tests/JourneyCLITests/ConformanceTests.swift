import Foundation
import XCTest

/// The conformance suite: each folder of Tests/Conformance is a project with profiles, events and
/// the expected message timeline. Both the simulator and the durable path
/// (build → deploy → import → ingest → run → outbox) must produce it byte for byte.
final class ConformanceTests: XCTestCase {
    struct Case {
        var name: String
        var dir: URL
        var profiles: URL
        var events: URL?
        var args: [String]
        var expected: String
    }

    func cases() throws -> [Case] {
        let root = repoRoot.appendingPathComponent("Tests/Conformance")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        var out: [Case] = []
        for name in names.sorted() {
            let dir = root.appendingPathComponent(name)
            let expected = dir.appendingPathComponent("expected.jsonl")
            guard FileManager.default.fileExists(atPath: expected.path) else { continue }
            let csv = dir.appendingPathComponent("profiles.csv")
            let profiles = FileManager.default.fileExists(atPath: csv.path) ? csv : dir.appendingPathComponent("profiles.jsonl")
            let events = dir.appendingPathComponent("events.jsonl")
            let argsFile = dir.appendingPathComponent("args")
            let args = ((try? String(contentsOf: argsFile, encoding: .utf8)) ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
            out.append(Case(name: name, dir: dir, profiles: profiles,
                            events: FileManager.default.fileExists(atPath: events.path) ? events : nil,
                            args: args, expected: try String(contentsOf: expected, encoding: .utf8)))
        }
        return out
    }

    func option(_ name: String, in args: [String]) -> String? {
        guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
        return args[i + 1]
    }

    func testSimulator() throws {
        let all = try cases()
        XCTAssertGreaterThanOrEqual(all.count, 1)
        for c in all {
            var args = ["simulate", "--profiles", c.profiles.path]
            if let e = c.events { args += ["--events", e.path] }
            let r = try journey(args + c.args + [c.dir.path])
            XCTAssertEqual(r.out, c.expected, "\(c.name) (simulate): \(r.err)")
            // Deterministic: a second run gives the same bytes.
            XCTAssertEqual(try journey(args + c.args + [c.dir.path]).out, r.out, "\(c.name): not deterministic")
        }
    }

    func testDurableRuntime() throws {
        try durableRuntime { tmp in tmp.appendingPathComponent("j.db").path }
    }

    /// The same, on the PostgreSQL store: byte for byte the same outboxes.
    func testDurableRuntimeOnPostgres() throws {
        _ = try PostgresServer.base.get()
        defer { PostgresServer.dropDatabases() }
        try durableRuntime { _ in try PostgresServer.freshDatabase() }
    }

    func durableRuntime(_ database: (URL) throws -> String) throws {
        for c in try cases() {
            let tmp = try tempDir()
            let db = try database(tmp)
            let bundle = tmp.appendingPathComponent("b.journeyc").path
            var r = try journey(["build", "-o", bundle, c.dir.path])
            XCTAssertEqual(r.code, 0, "\(c.name): \(r.err)")
            r = try journey(["deploy", "--db", db, bundle])
            XCTAssertEqual(r.code, 0, "\(c.name): \(r.err)")
            _ = try journey(["import", "--db", db, c.profiles.path])
            if let e = c.events { _ = try journey(["ingest", "--db", db, e.path]) }
            var run = ["run", "--db", db, "--until", option("--until", in: c.args) ?? "2100-01-01T00:00:00Z"]
            if let s = option("--start", in: c.args) { run += ["--start", s] }
            r = try journey(run)
            XCTAssertEqual(r.code, 0, "\(c.name): \(r.err)")
            r = try journey(["outbox", "--db", db])
            XCTAssertEqual(r.out, c.expected, "\(c.name) (deploy → run → outbox)")
        }
    }
}
