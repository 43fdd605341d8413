import XCTest
import JourneyDiagnostics
@testable import JourneySyntax

/// The syntax of tests: instants, every kind of step and expectation, and the formatter.
final class TestSyntaxTests: XCTestCase {
    func testInstants() {
        XCTAssertEqual(Parser.epochSeconds(ofInstant: "2025-03-01T10:00:00Z"), 1_740_823_200)
        XCTAssertEqual(Parser.epochSeconds(ofInstant: "2025-03-01T10:00Z"), 1_740_823_200)
        XCTAssertEqual(Parser.epochSeconds(ofInstant: "2025-03-01T11:00:00+01:00"), 1_740_823_200)
        XCTAssertEqual(Parser.epochSeconds(ofInstant: "2025-03-01T05:30:00-04:30"), 1_740_823_200)
        XCTAssertEqual(Parser.epochSeconds(ofInstant: "1970-01-01T00:00:00Z"), 0)
        XCTAssertEqual(Parser.epochSeconds(ofInstant: "2024-02-29T23:59:59Z"), 1_709_251_199)
        XCTAssertNil(Parser.epochSeconds(ofInstant: "2025-03-01T10:00:00"))
        // The lexer makes one token of an instant, and refuses one without a zone or out of range.
        let tokens = Lexer.lex(SourceFile(path: "t", text: "at 2025-03-01T10:00:00Z")).tokens.map(\.kind)
        XCTAssertEqual(tokens, [.identifier, .instant, .eof])
        XCTAssertEqual(parse("test \"t\" {\n  at 2025-03-01T10:00\n}\n").diagnostics.map(\.message), ["2025-03-01T10:00 has no time zone"])
        XCTAssertEqual(parse("test \"t\" {\n  at 2025-03-01T25:00Z\n}\n").diagnostics.map(\.message), ["2025-03-01T25:00Z is not a time"])
    }

    func testEveryStepAndExpectation() throws {
        let text = """
        given profile base { first_name: "Ana" }
        test "all of it" {
          only journey cart
          given profile ana like base { orders_count: 3 }
          at 2025-03-01T10:00:00Z ana does cart_abandoned { cart_id: "c1", total: 120 }
          at +2h
          expect push to ana at 2025-03-01T11:00:00Z status sent from cart containing "Trail" with { title: "Hi" }
          expect nothing on sms to ana from cart between 2025-03-01T10:00:00Z and +1d
          expect nothing to ana after +3d
          expect sms to ana before 2025-03-02T00:00:00Z
          expect ana is waiting in cart
          expect ana is not in winback
          expect ana is in cart.treatment
          expect ana.orders_count == 3
        }

        """
        let tree = parse(text)
        XCTAssertEqual(tree.diagnostics.map(\.message), [])
        guard tree.decls.count == 2, case .fixture(let base) = tree.decls[0].kind, case .test(let t) = tree.decls[1].kind else { return XCTFail("\(tree.decls)") }
        XCTAssertEqual(base.name.name, "base")
        XCTAssertEqual(t.name, "all of it")
        XCTAssertEqual(t.statements.count, 12)
        guard case .only(let j) = t.statements[0].kind, case .given(let g) = t.statements[1].kind,
              case .at(.absolute(let at, _), let p?, let e?, let fields) = t.statements[2].kind, case .at(.relative(let d), nil, nil, []) = t.statements[3].kind,
              case .expect(.message(let c, _, .at(.absolute(let when, _))?, let status?, let from?, let containing?, let with)) = t.statements[4].kind,
              case .expect(.nothing(let on?, _, _, .between(.absolute, .relative)?)) = t.statements[5].kind,
              case .expect(.state(_, let waiting, _)) = t.statements[8].kind, case .expect(.state(_, let not, let winback)) = t.statements[9].kind,
              case .expect(.branch(_, _, let branch)) = t.statements[10].kind, case .expect(.attribute(_, let attribute, _)) = t.statements[11].kind else {
            return XCTFail("\(t.statements.map(\.kind))")
        }
        XCTAssertEqual([j.name, g.name.name, g.base?.name, p.name, e.name, c.name, status.name, from.name, on.name, waiting.name, not.name, winback.name, branch.name, attribute.name],
                       ["cart", "ana", "base", "ana", "cart_abandoned", "push", "sent", "cart", "sms", "waiting", "not", "winback", "treatment", "orders_count"])
        XCTAssertEqual(at, 1_740_823_200)
        XCTAssertEqual(when, 1_740_826_800)
        XCTAssertEqual(d.seconds, 7200)
        XCTAssertEqual(fields.map(\.name.name), ["cart_id", "total"])
        XCTAssertEqual(with.map(\.name.name), ["title"])
        XCTAssertEqual(tree.source.slice(tree.exprs.span(containing)), "\"Trail\"")
        // Formatted, it reads the same and formats to itself.
        let formatted = try XCTUnwrap(Formatter.format(tree.source))
        XCTAssertEqual(Formatter.format(SourceFile(path: "t", text: formatted)), formatted)
        XCTAssertTrue(formatted.contains("  expect push to ana at 2025-03-01T11:00:00Z status sent from cart containing \"Trail\" with { title: \"Hi\" }\n"), formatted)
        XCTAssertTrue(formatted.contains("  expect nothing on sms to ana from cart between 2025-03-01T10:00:00Z and +1d\n"), formatted)
    }

    func testMistakesAreReportedWhereTheyAre() {
        func messages(_ body: String) -> [String] { parse("test \"t\" {\n\(body)\n}\n").diagnostics.map(\.message) }
        XCTAssertEqual(messages("  given ana"), ["expected 'profile', found 'ana'"])
        XCTAssertEqual(messages("  at 2025-03-01T10:00:00Z ana cart_abandoned"), ["expected 'does', found 'cart_abandoned'"])
        XCTAssertEqual(messages("  at tomorrow"), ["expected an instant such as 2025-03-01T10:00:00Z or a time after the last one such as +2h, found 'tomorrow'"])
        XCTAssertEqual(messages("  expect ana is in cart"), ["expected '.' and a split branch, found the end of the line"])
        XCTAssertEqual(messages("  wait 1h"), ["expected 'given', 'at', 'expect' or 'only' in a test, found 'wait'"])
        XCTAssertEqual(parse("test \"hi {name}\" { }\n").diagnostics.map(\.message), ["a test's name cannot hold '{…}'"])
        // A name in quotes is what makes `test` a test: `test` alone is still a name elsewhere.
        XCTAssertEqual(parse("profile { test: string, given: bool }\n").diagnostics.map(\.message), [])
    }
}
