import Foundation
import XCTest

/// `journey explain`: a journey's bound, alone and with the journeys its event also starts, its
/// channels and its paths, read from the text.
final class ExplainTests: XCTestCase {
    func testExplainGivesTheBoundsChannelsAndPaths() throws {
        let d = try tempDir()
        defer { try? FileManager.default.removeItem(at: d) }
        try """
        profile { first_name: string, push_token: string?, phone: string?, sms_opt_in: bool }
        event cart_abandoned { cart_id: string }
        event order_placed { order_id: string }
        channel push address profile.push_token
        channel sms address profile.phone consent profile.sms_opt_in
        policy { cap 3 messages per 24h }

        """.write(to: d.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
        try """
        journey a {
          on cart_abandoned as cart
          goal order_placed
          push "1"
          wait for order_placed within 2h else {
            push "2" else sms "2"
          }
        }

        journey b {
          on cart_abandoned
          goal order_placed
          wait 1h
          sms "3"
          wait 2h
          sms "4"
        }

        """.write(to: d.appendingPathComponent("flows.journey"), atomically: true, encoding: .utf8)
        let r = try journey(["explain", "a", d.path])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("channels it may use: push, sms\n"), r.out)
        XCTAssertTrue(r.out.contains("at most 2 messages to one profile within 1d (the cap is 3 per 1d)\n"), r.out)
        XCTAssertTrue(r.out.contains("with the other journeys one cart_abandoned starts: at most 4 within 1d (a 2, b 2)\n"), r.out)
        XCTAssertTrue(r.out.contains("2 paths:\n"), r.out)
        XCTAssertTrue(r.out.contains("+2h     no order_placed within 2h"), r.out)
        XCTAssertTrue(r.out.contains("+2h     send push else sms  (line 6)"), r.out)
        // The same bound is a warning at check time.
        let c = try journey(["check", d.path])
        XCTAssertTrue(c.out.contains("warning[J0508]: one cart_abandoned can bring a profile 4 messages within 1d from a (2), b (2)"), c.out)
        // Without paths, the project is the current directory.
        XCTAssertEqual(try journey(["explain", "b"], cwd: d).out, try journey(["explain", "b", d.path]).out.replacingOccurrences(of: d.path + "/", with: "./"))
        let missing = try journey(["explain", "c", d.path])
        XCTAssertEqual(missing.code, 2)
        XCTAssertTrue(missing.err.contains("no journey is named 'c'; the project has a, b"), missing.err)
    }

    /// Many journeys on one event over the cap: the warning names the eight that send the most
    /// and counts the rest, rather than listing every one.
    func testTheEventWideCapNamesAFewJourneys() throws {
        let d = try tempDir()
        defer { try? FileManager.default.removeItem(at: d) }
        try """
        profile { first_name: string, push_token: string? }
        event cart_abandoned { cart_id: string }
        channel push address profile.push_token
        policy { cap 3 messages per 24h }

        """.write(to: d.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
        // j0…j11 send once, j12 twice: j12 first, then j0…j6; j7…j11 counted.
        let flows = (0..<13).map { k in
            "journey j\(k) {\n  on cart_abandoned\n  push \"1\"\n" + (k == 12 ? "  push \"2\"\n" : "") + "}\n"
        }.joined(separator: "\n")
        try flows.write(to: d.appendingPathComponent("flows.journey"), atomically: true, encoding: .utf8)
        let c = try journey(["check", d.path])
        XCTAssertTrue(c.out.contains("warning[J0508]: one cart_abandoned can bring a profile 14 messages within 1d from j12 (2), j0 (1), j1 (1), j2 (1), j3 (1), j4 (1), j5 (1), j6 (1) and 5 more journeys (5 messages), more than the policy's cap of 3"), c.out)
    }
}
