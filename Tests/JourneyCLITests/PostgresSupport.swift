import Foundation
import XCTest

/// The PostgreSQL server the tests use: the one `JOURNEY_TEST_POSTGRES` names (a URL whose
/// user may create databases). `.ci/test` starts a private cluster and sets it; without it the
/// PostgreSQL tests are skipped, saying so. Each test gets a database of its own.
enum PostgresServer {
    static let lock = NSLock()
    nonisolated(unsafe) static var counter = 0

    static let base: Result<String, XCTSkip> = {
        if let url = ProcessInfo.processInfo.environment["JOURNEY_TEST_POSTGRES"], !url.isEmpty { return .success(url) }
        return .failure(XCTSkip("no PostgreSQL to test against: run the tests with .ci/test (it starts a private cluster), or set JOURNEY_TEST_POSTGRES=postgres://user@host:port/db"))
    }()

    /// A new, empty database; its URL.
    static func freshDatabase() throws -> String {
        let url = try base.get()
        let name = lock.withLock { counter += 1; made.append("jt_\(getpid())_\(counter)"); return made[made.count - 1] }
        try psql(url, "CREATE DATABASE \(name)")
        return replacingDatabase(url, with: name)
    }

    nonisolated(unsafe) static var made: [String] = []

    /// Drops the databases `freshDatabase` made (a test calls it when it is done with them).
    static func dropDatabases() {
        guard case .success(let url) = base else { return }
        let names = lock.withLock { defer { made = [] }; return made }
        for name in names { _ = try? psql(url, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
    }

    /// `url` naming another database.
    static func replacingDatabase(_ url: String, with name: String) -> String {
        var u = url
        var query = ""
        if let q = u.firstIndex(of: "?") { query = String(u[q...]); u = String(u[..<q]) }
        let afterScheme = u.range(of: "://").map { u[$0.upperBound...] } ?? Substring(u)
        if let slash = afterScheme.firstIndex(of: "/") { u = String(u[..<slash]) }
        return u + "/" + name + query
    }

    /// Runs SQL on a database with psql; its output (unaligned, tuples only).
    @discardableResult
    static func psql(_ url: String, _ sql: String) throws -> String {
        let r = run("/usr/bin/env", ["psql", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
        guard r.code == 0 else { throw NSError(domain: "psql", code: Int(r.code), userInfo: [NSLocalizedDescriptionKey: r.err]) }
        return r.out
    }

    /// Every row of a database as `pg_dump --data-only` writes it, byte strings (bytea) decoded
    /// back into their bytes: what a search for leftover text looks through.
    static func dataBytes(_ url: String) throws -> Data {
        let r = run("/usr/bin/env", ["pg_dump", "--data-only", "--no-owner", url])
        guard r.code == 0 else { throw NSError(domain: "pg_dump", code: Int(r.code), userInfo: [NSLocalizedDescriptionKey: r.err]) }
        var out = Data(r.out.utf8)
        // bytea values come as \\x followed by hex digits.
        var rest = Substring(r.out)
        while let start = rest.range(of: "\\x") {
            let hex = rest[start.upperBound...].prefix { $0.isHexDigit }
            var bytes: [UInt8] = []
            var i = hex.startIndex
            while i < hex.endIndex, let j = hex.index(i, offsetBy: 2, limitedBy: hex.endIndex), let b = UInt8(hex[i..<j], radix: 16) {
                bytes.append(b)
                i = j
            }
            out.append(0x0A)
            out.append(contentsOf: bytes)
            rest = hex.isEmpty ? rest[start.upperBound...] : rest[hex.endIndex...]
        }
        return out
    }

    static func run(_ path: String, _ args: [String]) -> (code: Int32, out: String, err: String) {
        do { return try runProgram(URL(fileURLWithPath: path), args, timeout: 120) } catch { return (127, "", "\(path): \(error)") }
    }
}

/// Where a test's database goes: `d/j.db`, or a new PostgreSQL database while `onPostgres` runs.
nonisolated(unsafe) var postgresOverride = false

func testDatabase(_ d: URL) throws -> String {
    postgresOverride ? try PostgresServer.freshDatabase() : d.appendingPathComponent("j.db").path
}

/// Runs a test's body with its databases on PostgreSQL (skipped when there is no server).
func onPostgres(_ body: () throws -> Void) throws {
    _ = try PostgresServer.base.get()
    postgresOverride = true
    defer { postgresOverride = false; PostgresServer.dropDatabases() }
    try body()
}
