import Foundation
import XCTest

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
