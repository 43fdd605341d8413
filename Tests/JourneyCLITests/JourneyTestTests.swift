import Foundation
import XCTest

/// `journey test`: the examples' promises pass; a broken one fails with its line and the
/// profile's timeline; JUnit, TAP and JSON say the same; --filter picks tests.
final class JourneyTestTests: XCTestCase {
    /// The examples with one more test file.
    func project(with tests: String) throws -> URL {
        let d = try tempDir()
        let examples = repoRoot.appendingPathComponent("examples")
        for name in try FileManager.default.contentsOfDirectory(atPath: examples.path) where name.hasSuffix(".journey") {
            try FileManager.default.copyItem(at: examples.appendingPathComponent(name), to: d.appendingPathComponent(name))
        }
        try FileManager.default.createDirectory(at: d.appendingPathComponent("tests"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: examples.appendingPathComponent("tests/promises.journey"), to: d.appendingPathComponent("tests/promises.journey"))
        try tests.write(to: d.appendingPathComponent("tests/more.journey"), atomically: true, encoding: .utf8)
        return d
    }

    static let broken = """
    test "a buyer gets the whatsapp too (wrong on purpose)" {
      only journey abandoned_cart
      given profile ivy like shopper { first_name: "Ivy" }
      at 2025-03-03T10:00:00Z ivy does cart_abandoned { cart_id: "c9", product_id: "p1", product_name: "Trail Runner", product_image: "https://cdn.shop.example/p1.jpg", total: 120 }
      at +90m ivy does order_placed { order_id: "o9", total: 120 }
      expect ivy is converted in abandoned_cart
      expect whatsapp to ivy containing "still in your cart"
    }

    """

    func testTheExamplesPromisesPass() throws {
        let r = try journey(["test", "--color", "never", "examples"])
        XCTAssertEqual(r.code, 0, r.out + r.err)
        XCTAssertEqual(r.out.split(separator: "\n").filter { $0.hasPrefix("✓ ") }.count, 8, r.out)
        XCTAssertTrue(r.out.contains("✓ a buyer on another device gets nothing more  (tests/promises.journey:16, "), r.out)
        XCTAssertTrue(r.out.contains("8 passed, 0 failed, 8 tests in "), r.out)
    }

    func testAFailureSaysWhereAndWhatHappened() throws {
        let d = try project(with: Self.broken)
        defer { try? FileManager.default.removeItem(at: d) }
        let r = try journey(["test", "--color", "never", d.path])
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.out.contains("✗ a buyer gets the whatsapp too (wrong on purpose)  (tests/more.journey:1, "), r.out)
        XCTAssertTrue(r.out.contains("    tests/more.journey:7:3: expect whatsapp to ivy containing \"still in your cart\"\n"), r.out)
        XCTAssertTrue(r.out.contains("      expected a sent whatsapp message to ivy containing \"still in your cart\", and there is none\n"), r.out)
        for line in ["        2025-03-03T10:00:00Z  entered abandoned_cart", "        2025-03-03T11:00:00Z  push sent from abandoned_cart",
                     "        2025-03-03T11:30:00Z  converted in abandoned_cart"] {
            XCTAssertTrue(r.out.contains(line), "no “\(line)” in\n\(r.out)")
        }
        XCTAssertTrue(r.out.contains("8 passed, 1 failed, 9 tests in "), r.out)

        // The same in JUnit XML (read back by Python's XML parser), TAP and JSON.
        let junit = try journey(["test", "--format", "junit", d.path])
        XCTAssertEqual(junit.code, 1)
        let read = try pythonOutput("""
            import sys, xml.etree.ElementTree as ET
            root = ET.parse(sys.argv[1]).getroot()
            cases = root.findall('.//testcase')
            failed = [c for c in cases if c.find('failure') is not None]
            print(root.get('tests'), root.get('failures'), len(cases), failed[0].get('name'), failed[0].get('line'), failed[0].find('failure').get('message'))
            """, [try write(junit.out, in: d, "junit.xml")])
        XCTAssertEqual(read.trimmingCharacters(in: .whitespacesAndNewlines), "9 1 9 a buyer gets the whatsapp too (wrong on purpose) 1 expected a sent whatsapp message to ivy containing \"still in your cart\", and there is none")
        let tap = try journey(["test", "--format", "tap", d.path])
        XCTAssertTrue(tap.out.hasPrefix("TAP version 14\n1..9\n"), tap.out)
        XCTAssertEqual(tap.out.split(separator: "\n").filter { $0.hasPrefix("not ok ") }.count, 1, tap.out)
        let json = try journey(["test", "--format", "json", d.path])
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
        XCTAssertEqual(doc["passed"] as? Int, 8)
        XCTAssertEqual(doc["failed"] as? Int, 1)
        let failing = try XCTUnwrap((doc["tests"] as? [[String: Any]])?.first { $0["passed"] as? Bool == false })
        XCTAssertEqual((failing["failures"] as? [[String: Any]])?.first?["line"] as? Int, 7)

        // --filter runs only the matching tests.
        let one = try journey(["test", "--color", "never", "--filter", "WRONG ON PURPOSE", d.path])
        XCTAssertEqual(one.code, 1)
        XCTAssertTrue(one.out.contains("0 passed, 1 failed, 1 test in "), one.out)
        let none = try journey(["test", "--filter", "no such test", d.path])
        XCTAssertEqual(none.code, 0)
        XCTAssertTrue(none.err.contains("no test name contains 'no such test'"), none.err)
    }

    func write(_ text: String, in d: URL, _ name: String) throws -> String {
        let url = d.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// A test with a mistake is not run: the project's errors are printed, exit 1.
    func testAProjectWithErrorsIsNotRun() throws {
        let d = try project(with: "test \"typo\" {\n  given profile ivy like shoper\n}\n")
        defer { try? FileManager.default.removeItem(at: d) }
        let r = try journey(["test", d.path])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("error[J0214]: no profile 'shoper' is given to start from"), r.err)
        XCTAssertTrue(r.err.contains("Did you mean 'shopper'?"), r.err)
        XCTAssertEqual(r.out, "")
        XCTAssertEqual(try journey(["test", d.appendingPathComponent("nothing-here").path]).code, 2)
    }
}

extension JourneyTestTests {
    /// `journey test --mutate`: each mutant no test notices is reported (exit 1); a test that
    /// covers it kills it.
    func testMutationTestingFindsWhatNoTestNotices() throws {
        let d = try tempDir()
        defer { try? FileManager.default.removeItem(at: d) }
        try """
        profile { first_name: string, push_token: string? }
        event signed_up { plan: string }
        event purchased { total: money }
        channel push address profile.push_token

        journey nudge {
          on signed_up
          goal purchased
          wait 2h
          push "Hi {profile.first_name}"
        }

        """.write(to: d.appendingPathComponent("shop.journey"), atomically: true, encoding: .utf8)
        let timing = """
        test "the nudge comes two hours after signing up" {
          given profile ana { first_name: "Ana", push_token: "t" }
          at 2025-03-03T10:00:00Z ana does signed_up { plan: "pro" }
          expect push to ana at 2025-03-03T12:00:00Z containing "Hi Ana"
        }

        """
        try timing.write(to: d.appendingPathComponent("tests.journey"), atomically: true, encoding: .utf8)
        var r = try journey(["test", "--mutate", "--color", "never", d.path])
        XCTAssertEqual(r.code, 1, r.out + r.err)
        XCTAssertTrue(r.out.contains("mutation testing: 4 mutants of the journeys in "), r.out)
        XCTAssertTrue(r.out.contains(": 3 killed, 1 survived, 0 did not check (mutation score 75%)"), r.out)
        XCTAssertTrue(r.out.contains("no test notices these changes:\n  shop.journey:8:3: the goal purchased was removed\n"), r.out)

        // A test that a buyer gets nothing kills that mutant too.
        try (timing + """
        test "a buyer gets no nudge" {
          given profile bo { first_name: "Bo", push_token: "t" }
          at 2025-03-03T10:00:00Z bo does signed_up { plan: "pro" }
          at +1h bo does purchased { total: 10 }
          expect nothing to bo
        }

        """).write(to: d.appendingPathComponent("tests.journey"), atomically: true, encoding: .utf8)
        r = try journey(["test", "--mutate", "--color", "never", d.path])
        XCTAssertEqual(r.code, 0, r.out + r.err)
        XCTAssertTrue(r.out.contains(": 4 killed, 0 survived, 0 did not check (mutation score 100%)"), r.out)
    }
}

extension JourneyTestTests {
    /// An instant is a `time` literal: in journeys, in given profiles and in expectations.
    func testInstantsAreTimeLiterals() throws {
        let d = try tempDir()
        defer { try? FileManager.default.removeItem(at: d) }
        try """
        profile { first_name: string, push_token: string?, last_order_at: time? }
        event signed_up { plan: string }
        channel push address profile.push_token

        journey nudge {
          on signed_up
          when (profile.last_order_at ?? 1970-01-01T00:00:00Z) < 2025-01-01T00:00:00Z
          wait 2h
          push "Hi {profile.first_name}"
        }

        test "only those who have not ordered since 2025 get a nudge" {
          given profile ana { first_name: "Ana", push_token: "t", last_order_at: 2025-02-01T10:00:00Z }
          given profile bo { first_name: "Bo", push_token: "t", last_order_at: 2024-02-01T10:00:00+01:00 }
          at 2025-03-03T10:00:00Z ana does signed_up { plan: "pro" }
          at 2025-03-03T10:00:00Z bo does signed_up { plan: "pro" }
          expect nothing to ana
          expect push to bo at 2025-03-03T12:00:00Z
          expect bo.last_order_at == 2024-02-01T09:00:00Z
        }

        """.write(to: d.appendingPathComponent("shop.journey"), atomically: true, encoding: .utf8)
        let r = try journey(["test", "--color", "never", d.path])
        XCTAssertEqual(r.code, 0, r.out + r.err)
        XCTAssertTrue(r.out.contains("1 passed, 0 failed"), r.out)
    }
}
