import Foundation
import XCTest

/// A project of profiles that sign up (a schema with `signup { source }` and `flows`), built,
/// deployed to a new database with `profiles` profiles p0, p1, … imported; returns the database.
func signupDatabase(_ d: URL, flows: String, profiles: Int) throws -> String {
    var text = ""
    for i in 0..<profiles { text += "{\"id\": \"p\(i)\", \"first_name\": \"P\(i)\", \"email\": \"p\(i)@x\"}\n" }
    return try deployedProject(d, files: [
        "schema.journey": "profile { first_name: string, email: string? }\nevent signup { source: string }\nchannel email address profile.email\n",
        "flows.journey": flows,
    ], profiles: text)
}

/// A project of these files (name → source) in `d/project`, built, deployed to a new database
/// `d/j.db`, with these profile lines imported; returns the database.
func deployedProject(_ d: URL, files: [String: String], profiles: String) throws -> String {
    let p = d.appendingPathComponent("project")
    try FileManager.default.createDirectory(at: p, withIntermediateDirectories: true)
    for (name, text) in files { try text.write(to: p.appendingPathComponent(name), atomically: true, encoding: .utf8) }
    let bundle = d.appendingPathComponent("b.journeyc").path
    let built = try journey(["build", "-o", bundle, p.path])
    XCTAssertEqual(built.code, 0, built.out)
    let db = try testDatabase(d)
    XCTAssertEqual(try journey(["deploy", "--db", db, bundle]).code, 0)
    try profiles.write(to: d.appendingPathComponent("p.jsonl"), atomically: true, encoding: .utf8)
    XCTAssertEqual(try journey(["import", "--db", db, d.appendingPathComponent("p.jsonl").path]).code, 0)
    return db
}

/// What a Python snippet prints (arguments after the code are `sys.argv[1:]`).
func pythonOutput(_ code: String, _ args: [String], python: String? = nil) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python ?? "/usr/bin/env")
    p.arguments = (python == nil ? ["python3"] : []) + ["-c", code] + args
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
