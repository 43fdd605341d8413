import Foundation
import XCTest

/// The PostgreSQL store from the command line: what `--db postgres://…` does beyond the suites
/// that run on both stores (conformance, crashes, ingest, hardening).
final class PostgresStoreTests: XCTestCase {
    func testAPasswordInTheURLIsNeverPrinted() throws {
        // Nothing listens on port 1: the connection fails, and the message names the database.
        for args in [["outbox"], ["run", "--until", "2025-01-01T00:00:00Z"], ["deploy", "x.journeyc"], ["deliveries"], ["redeliver", "m-1"],
                     ["serve", "--no-auth", "--listen", "127.0.0.1:0"]] {
            let r = try journey([args[0], "--db", "postgres://shop:s3cret-pw@127.0.0.1:1/shop"] + args.dropFirst())
            XCTAssertNotEqual(r.code, 0)
            XCTAssertFalse((r.out + r.err).contains("s3cret-pw"), r.err)
            if args[0] != "deploy" { XCTAssertTrue(r.err.contains("postgres://shop:***@127.0.0.1:1/shop"), r.err) }
        }
    }

    func testBackupPointsAtPgDump() throws {
        let b = try journey(["backup", "--db", "postgres://shop@127.0.0.1:1/shop", "/tmp/never-written.db"])
        XCTAssertNotEqual(b.code, 0)
        XCTAssertTrue(b.err.contains("pg_dump"), b.err)
    }

    func testMigrationsApplyOnceAndANewerSchemaIsRefused() throws {
        _ = try PostgresServer.base.get()
        defer { PostgresServer.dropDatabases() }
        let d = try tempDir()
        let db = try PostgresServer.freshDatabase()
        try "profile { first_name: string, email: string? }\nevent signup { source: string }\nchannel email address profile.email\njourney j {\n  on signup\n  email \"hi\"\n}\n"
            .write(to: d.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
        let bundle = d.appendingPathComponent("b.journeyc").path
        XCTAssertEqual(try journey(["build", "-o", bundle, d.path]).code, 0)
        XCTAssertEqual(try journey(["deploy", "--db", db, bundle]).code, 0)
        try "{\"id\": \"a\", \"first_name\": \"A\"}\n".write(to: d.appendingPathComponent("p.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["import", "--db", db, d.appendingPathComponent("p.jsonl").path]).code, 0)
        XCTAssertEqual(try PostgresServer.psql(db, "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_version").trimmingCharacters(in: .whitespacesAndNewlines), "1,2,3")
        try PostgresServer.psql(db, "INSERT INTO schema_version(version) VALUES (99)")
        let r = try journey(["import", "--db", db, d.appendingPathComponent("p.jsonl").path])
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.err.contains("the database's schema is version 99, newer than this journey knows"), r.err)
    }
}
