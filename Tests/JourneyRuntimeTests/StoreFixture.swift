import Foundation
import XCTest
import JourneyBytecode
@testable import JourneyRuntime

/// What the store tests share: two connections to one fresh database file whose schema has a
/// `name` attribute and one event kind, `viewed(sku)`, and ways to put events in and read them.
protocol StoreFixture: XCTestCase {}

extension StoreFixture {
    var def: EventDef { EventDef(name: "viewed", fields: [FieldDef(name: "sku", type: .string)]) }

    /// A fresh folder, removed when the test ends.
    func scratchFolder(_ prefix: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    func makeStores() throws -> (SQLiteStore, SQLiteStore) {
        let path = try scratchFolder("journey-cache").appendingPathComponent("j.db").path
        var schema = RuntimeSchema()
        schema.attributes = [FieldDef(name: "name", type: .string)]
        schema.events = [def]
        let a = try SQLiteStore(path: path), b = try SQLiteStore(path: path)
        try a.begin(); try a.migrateProfiles(schema); try a.commit()
        try b.migrateProfiles(schema)
        return (a, b)
    }

    func skus(_ s: SQLiteStore, since: Int64? = nil) throws -> [Value] {
        try s.records(profile: "p", event: def, index: 0, since: since).map { $0.fields[0] }
    }

    /// Each row a query reads, as `line` writes it.
    func lines(_ s: SQLiteStore, _ sql: String, _ line: (Statement) -> String) throws -> [String] {
        let q = try s.db.prepare(sql)
        var out: [String] = []
        while try q.step() { out.append(line(q)) }
        return out
    }

    /// How many rows a table holds.
    func count(_ s: SQLiteStore, _ table: String) throws -> Int {
        let q = try s.db.prepare("SELECT COUNT(*) FROM \(table)")
        return try q.step() ? q.int(0) : 0
    }

    /// How many events the inbox holds, row by row and in pages (taken or not).
    func inboxCount(_ s: SQLiteStore) throws -> Int {
        let q = try s.db.prepare("SELECT (SELECT COUNT(*) FROM inbox) + (SELECT COALESCE(SUM(n), 0) FROM inbox_pages)")
        return try q.step() ? q.int(0) : 0
    }

    /// Ingests events (sku, at) in one batch; their arrival numbers follow on from earlier ones.
    func ingest(_ s: SQLiteStore, _ events: [(String, Int64)]) throws {
        try s.enqueue(events.map { IncomingRow(profile: "p", event: "viewed", at: $0.1, data: ValueEncoding.eventBlob([.string($0.0)], def)) })
    }
}
