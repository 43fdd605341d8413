import Foundation
import XCTest

final class DenyWarningsTests: XCTestCase {
    func testDenyWarningsMakesAWarningFailCI() throws {
        let d = try tempDir()
        try "profile { first_name: string, email: string? }\nevent signup { source: string }\nchannel email address profile.email\njourney j {\n  on signup\n  email \"x\"\n}\n"
            .write(to: d.appendingPathComponent("p.journey"), atomically: true, encoding: .utf8)
        let plain = try journey(["check", d.path])
        XCTAssertEqual(plain.code, 0, plain.out)
        XCTAssertTrue(plain.out.contains("J0503"), plain.out)
        XCTAssertEqual(try journey(["check", "--deny-warnings", d.path]).code, 1)
        XCTAssertEqual(try journey(["check", "--deny-warnings", "examples"]).code, 0)
    }
}

final class HonestOutputTests: XCTestCase {
    func testADirectoryWhereAFileIsWantedSaysWhatToGive() throws {
        let deploy = try journey(["deploy", "--db", try tempDir().appendingPathComponent("x.db").path, "examples"])
        XCTAssertEqual(deploy.code, 2)
        XCTAssertTrue(deploy.err.contains("examples: is a directory; build a bundle from it first"), deploy.err)
        let graph = try journey(["graph", "examples"])
        XCTAssertEqual(graph.code, 2)
        XCTAssertTrue(graph.err.contains("examples: is a directory; give one of its .journey files"), graph.err)
    }

    /// The text timeline: one time format with its zone, aligned columns, the reason a message
    /// was not sent, and ids when asked.
    func testTheTextTimeline() throws {
        let r = try journey(["simulate", "--profiles", "examples/data/profiles.jsonl", "--events", "examples/data/events.jsonl",
                             "--until", "2025-03-20T00:00:00Z", "--format", "text", "examples"])
        XCTAssertEqual(r.code, 0, r.err)
        let lines = r.out.split(separator: "\n")
        XCTAssertTrue(lines.allSatisfy { $0.dropFirst(19).hasPrefix(" UTC  ") }, String(r.out.prefix(400)))
        XCTAssertTrue(r.out.contains("emi    abandoned_cart      -         undeliverable  (push: no address (profile.push_token is empty); whatsapp: no address (profile.phone is empty))"), r.out)
        // The status column starts at the same place on every line.
        let starts = Set(lines.compactMap { l in ["sent", "undeliverable", "suppressed"].compactMap { l.range(of: "  \($0) ")?.lowerBound.utf16Offset(in: l) }.first })
        XCTAssertEqual(starts.count, 1, "\(starts)")
        let jsonl = try journey(["simulate", "--profiles", "examples/data/profiles.jsonl", "--events", "examples/data/events.jsonl", "--until", "2025-03-20T00:00:00Z", "examples"]).out
        XCTAssertTrue(jsonl.contains(#""status": "undeliverable", "content": null, "reason": "push: no address (profile.push_token is empty); whatsapp: no address (profile.phone is empty)"}"#), jsonl)
        // A sent message's line is as it always was: no reason.
        XCTAssertTrue(jsonl.split(separator: "\n").filter { $0.contains(#""status": "sent""#) }.allSatisfy { !$0.contains("reason") })
    }
}
