import Foundation
import XCTest

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
