import XCTest
import JourneyBytecode
@testable import JourneyRuntime

/// Names reach SQL only as quoted identifiers: even a name the verifier would refuse becomes a
/// column of that exact name, never a statement.
final class StoreIdentifierTests: XCTestCase {
    func testHostileAttributeNamesStayColumnNames() throws {
        let store = try SQLiteStore(path: ":memory:")
        var schema = RuntimeSchema()
        let hostile = #"city" TEXT; CREATE TABLE pwned(x); DROP TABLE outbox; --"#
        schema.attributes = [FieldDef(name: hostile, type: .string), FieldDef(name: "plain", type: .int)]
        try store.begin()
        try store.migrateProfiles(schema)
        try store.saveProfile("p", [.string("Lyon"), .int(3)])
        try store.commit()
        try store.begin()
        XCTAssertEqual(try store.loadProfile("p"), [.string("Lyon"), .int(3)])
        try store.commit()
        let tables = try store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        var names: [String] = []
        while try tables.step() { names.append(tables.text(0)) }
        XCTAssertTrue(names.contains("outbox"), "\(names)")
        XCTAssertFalse(names.contains("pwned"), "\(names)")
        let column = try store.db.prepare("SELECT COUNT(*) FROM pragma_table_info('profiles') WHERE name = ?")
        column.bind(1, hostile)
        XCTAssertTrue(try column.step())
        XCTAssertEqual(column.int(0), 1)
    }
}
