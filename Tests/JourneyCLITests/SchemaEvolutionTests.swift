import Foundation
import XCTest

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
