import XCTest
import JourneyDiagnostics
@testable import JourneySyntax

final class FormatterTests: XCTestCase {
    func comments(_ f: SourceFile) -> [String] {
        Lexer.lex(f).comments.map { f.slice($0.span).trimmingCharacters(in: .whitespaces) }
    }

    /// Golden pairs: `x.journey` formats to `x.journey.formatted`, which formats to itself.
    func testGoldenPairs() throws {
        let inputs = journeyFiles(in: "Tests/Fixtures/fmt")
        XCTAssertGreaterThanOrEqual(inputs.count, 3)
        for input in inputs {
            let source = try read(input)
            let expected = try String(contentsOf: input.appendingPathExtension("formatted"), encoding: .utf8)
            let once = try XCTUnwrap(Formatter.format(source), input.lastPathComponent)
            XCTAssertEqual(once, expected, input.lastPathComponent)
            let twice = Formatter.format(SourceFile(path: input.path, text: once))
            XCTAssertEqual(twice, once, "not idempotent: \(input.lastPathComponent)")
            XCTAssertEqual(comments(SourceFile(path: "f", text: once)), comments(source), "comments lost: \(input.lastPathComponent)")
        }
    }

    /// Every example and every fixture that parses: formatting is idempotent, keeps every
    /// comment, and means the same (the reformatted tree formats identically).
    func testIdempotentOverExamplesAndFixtures() throws {
        var checked = 0
        for url in journeyFiles(in: "examples") + journeyFiles(in: "Tests/Fixtures") {
            let source = try read(url)
            guard let once = Formatter.format(source) else { continue }
            let again = try XCTUnwrap(Formatter.format(SourceFile(path: url.path, text: once)), "formatted output does not parse: \(url.lastPathComponent)")
            XCTAssertEqual(again, once, "not idempotent: \(url.lastPathComponent)")
            XCTAssertEqual(comments(SourceFile(path: "f", text: once)), comments(source), "comments lost: \(url.lastPathComponent)")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 20)
    }

    func testExamplesAreAlreadyFormatted() throws {
        for url in journeyFiles(in: "examples") {
            let source = try read(url)
            XCTAssertEqual(Formatter.format(source), source.text, "run 'journey fmt examples': \(url.lastPathComponent)")
        }
    }

    /// Trailing spaces after a comment are dropped in one pass (issue 9: 80,000 spaces took 89 s).
    func testLongTrailingSpacesAfterAComment() throws {
        let text = "profile { first_name: string }  # a comment" + String(repeating: " ", count: 200_000) + "\n"
        let out = try XCTUnwrap(Formatter.format(SourceFile(path: "t.journey", text: text)))
        XCTAssertEqual(out, "profile {\n  first_name: string\n}  # a comment\n")
    }

    func testRefusesFilesWithParseErrors() {
        XCTAssertNil(Formatter.format(SourceFile(path: "t", text: "journey j {\n on e\n wait\n}\n")))
    }

    func testStringsKeepBracesEscapesAndNestedStrings() {
        let text = "journey j {\n  on e\n  push \"{{x}} \\\"q\\\" {profile.b ?? \"our shop\"}\"\n}\n"
        XCTAssertEqual(Formatter.format(SourceFile(path: "t", text: text)), text)
    }
}
