import XCTest
import JourneyDiagnostics
@testable import JourneySyntax

final class LexerTests: XCTestCase {
    func kinds(_ text: String) -> [TokenKind] {
        Lexer.lex(SourceFile(path: "t", text: text)).tokens.map(\.kind)
    }

    func testLiterals() {
        XCTAssertEqual(kinds("12 12.50 30s 15m 1h 2d 1w 10% 12.5% 09:00 2025-12-24 true none"),
                       [.integer, .decimal, .duration, .duration, .duration, .duration, .duration, .percent, .percent,
                        .timeOfDay, .date, .kwTrue, .kwNone, .eof])
    }

    func testKeywordsAndContextualWords() {
        XCTAssertEqual(kinds("journey wait for within address daily"), [.kwJourney, .kwWait, .kwFor, .kwWithin, .identifier, .identifier, .eof])
    }

    func testNewlinesCollapseAndVanishInsideParentheses() {
        XCTAssertEqual(kinds("a\n\n# c\n\nb (c\nd)\n"), [.identifier, .newline, .identifier, .lParen, .identifier, .identifier, .rParen, .newline, .eof])
    }

    func testCommentsAreKeptWithTheirPlacement() {
        let lexed = Lexer.lex(SourceFile(path: "t", text: "# own\nwait 1h  # trailing\n"))
        XCTAssertEqual(lexed.comments.map(\.ownLine), [true, false])
        XCTAssertEqual(lexed.comments.count, 2)
    }

    func testStringWithNestedInterpolatedStringIsOneToken() {
        let text = #""Hi {profile.favorite_brand ?? "our {{shop}}"}!" x"#
        let lexed = Lexer.lex(SourceFile(path: "t", text: text))
        XCTAssertEqual(lexed.tokens.map(\.kind), [.string, .identifier, .eof])
        XCTAssertTrue(lexed.diagnostics.isEmpty)
    }

    func testOperators() {
        XCTAssertEqual(kinds("== != <= >= < > ?? ? = + - * /"),
                       [.equal, .notEqual, .lessEqual, .greaterEqual, .less, .greater, .questionQuestion, .question, .assign, .plus, .minus, .star, .slash, .eof])
    }

    func testErrorsNameTheProblem() {
        let cases: [(String, String)] = [
            ("\"open\n", "J0002"), ("1.5h", "J0003"), ("3days", "J0003"), ("25:00", "J0004"),
            ("2025-02-30", "J0005"), (#""a\q""#, "J0006"), ("a & b", "J0001"), (#""a } b""#, "J0006"),
        ]
        for (text, code) in cases {
            let lexed = Lexer.lex(SourceFile(path: "t", text: text))
            XCTAssertEqual(lexed.diagnostics.map(\.code.id), [code], text)
        }
    }

    func testSpansAreByteOffsets() {
        let lexed = Lexer.lex(SourceFile(path: "t", text: "\"é\" wait"))
        XCTAssertEqual(lexed.tokens[0].span, Span(0, 4))
        XCTAssertEqual(lexed.tokens[1].span, Span(5, 9))
    }

    func testColumnsCountScalars() {
        let f = SourceFile(path: "t", text: "\"é\" wait\nx")
        XCTAssertEqual(f.location(of: 5), LineColumn(line: 1, column: 5))
        XCTAssertEqual(f.location(of: 10), LineColumn(line: 2, column: 1))
    }
}
