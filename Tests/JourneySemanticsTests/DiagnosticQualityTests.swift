import XCTest
import JourneyDiagnostics
import JourneySemantics
import JourneySyntax

/// Issue 8, section 3: diagnostics that lead to the right fix.
final class DiagnosticQualityTests: XCTestCase {
    let schema = (try? String(contentsOf: repoRoot.appendingPathComponent("Tests/Fixtures/snapshots/schema.journey"), encoding: .utf8)) ?? ""

    func diagnostics(_ text: String) -> [Diagnostic] {
        checkProject([("schema.journey", schema), ("t.journey", text)]).diagnostics.filter { $0.file == "t.journey" }
    }

    func line(_ d: Diagnostic, _ text: String) -> Int { SourceFile(path: "t", text: text).lineIndex(of: d.span.start) + 1 }

    /// A `} else {` block missing its `}`: reported at the block's opening line, with the `}`
    /// suggested where the indentation drops; the steps after it are checked as steps of the
    /// journey, not of the `else`.
    func testAMissingBraceIsFoundByIndentation() {
        let text = """
        journey j {
          on cart_abandoned as cart
          goal order_placed
          if cart.total > 10 {
            push "big"
          } else {
            push "small"

          wait 1h
          push {
            title: "Hi"
            body: "b"

          wait 2h
          push "{profile.frist_name}"
        }

        """
        let ds = diagnostics(text)
        let unclosed = ds.filter { $0.code == SyntaxCode.unclosedBlock }
        XCTAssertEqual(unclosed.map { line($0, text) }, [6, 10])
        XCTAssertEqual(unclosed.first?.hint, "Add a '}' on its own line before line 9, where the indentation drops.")
        XCTAssertEqual(unclosed.last?.hint, "Add a '}' on its own line before line 14, where the indentation drops.")
        XCTAssertFalse(ds.contains { $0.message.contains("reserved word") }, "\(ds.map(\.message))")
        // The step after the missing braces is still checked.
        XCTAssertTrue(ds.contains { $0.code == SemanticCode.unknownAttribute && line($0, text) == 15 }, "\(ds.map(\.message))")
        // A file that is only unindented, but whole, is not second-guessed.
        let flat = "journey j {\non cart_abandoned as cart\ngoal order_placed\nif cart.total > 10 {\npush \"x\"\n}\n}\n"
        XCTAssertEqual(diagnostics(flat).map(\.code.id), [])
    }

    /// `&&`, `||` and `!` each give one error with the word to write, and what follows is
    /// still checked.
    func testCOperatorsGiveOneErrorEachAndParsingGoesOn() {
        let text = "journey j {\n  on cart_abandoned as cart\n  goal order_placed\n  if profile.email != none && cart.total > 10 || !exists(order_placed) {\n    push \"{profile.frist_name}\"\n  }\n}\n"
        let ds = diagnostics(text)
        XCTAssertEqual(ds.map(\.code.id), ["J0001", "J0001", "J0001", "J0203"], "\(ds.map(\.message))")
        XCTAssertEqual(ds.prefix(3).map(\.message), ["'&&' is not an operator here", "'||' is not an operator here", "'!' is not an operator here"])
    }

    func testATypoInAnAudienceJourneysWhereGetsADidYouMean() {
        let text = "journey a {\n  on daily at 09:00\n  when exists(order_placed where totl > 10)\n  goal order_placed\n  push \"x\"\n}\n"
        let ds = diagnostics(text)
        XCTAssertEqual(ds.map(\.code.id), ["J0206"])
        XCTAssertEqual(ds.first?.hint, "did you mean 'total'?")
    }

    func testAHintIsSaidOnce() {
        let ds = diagnostics("journey j {\n  on cart_abandoned as cart\n  goal order_placed\n  push \"{cart.cart_id} {profile.frist_name}\"\n}\n")
        XCTAssertEqual(ds.count, 1)
        XCTAssertTrue(ds[0].message.contains("did you mean `first_name`?"))
        XCTAssertFalse(ds[0].hint?.contains("first_name") ?? false, ds[0].hint ?? "")
    }

    func testOneFileWithoutItsSchemaGetsOneError() {
        let text = "journey j {\n  on cart_abandoned as cart\n  goal order_placed\n  push \"{profile.first_name} {cart.cart_id}\"\n}\n"
        let ds = checkProject([("flows/j.journey", text)]).diagnostics
        XCTAssertEqual(ds.map(\.code.id), ["J0211"], "\(ds.map(\.message))")
        XCTAssertTrue(ds[0].hint?.contains("journey check flows") ?? false, ds[0].hint ?? "")
    }

    func testAnOptionalTheWhenTestedGetsTheReasonInItsHelp() {
        let text = "journey j {\n  on cart_abandoned as cart\n  when profile.email != none\n  goal order_placed\n  push \"{cart.cart_id} {profile.email}\"\n}\n"
        let ds = diagnostics(text)
        XCTAssertEqual(ds.map(\.code.id), ["J0302"])
        XCTAssertTrue(ds[0].hint?.contains("The journey's `when` tested it, but only at entry") ?? false, ds[0].hint ?? "")
        XCTAssertTrue(ds[0].hint?.contains("if profile.email != none") ?? false)
    }
}
