import XCTest
import JourneyDiagnostics
@testable import JourneySyntax

/// Keeps grammar/journey.ebnf honest: it names every word the lexer knows, and every example parses.
final class GrammarTests: XCTestCase {
    func testGrammarNamesEveryKeyword() throws {
        let grammar = try String(contentsOf: repoRoot.appendingPathComponent("grammar/journey.ebnf"), encoding: .utf8)
        let words = Keywords.reserved.map(\.0) + Keywords.contextual + Keywords.channelKinds + Keywords.historyFunctions
        for word in words {
            XCTAssertTrue(grammar.contains("\"\(word)\""), "grammar/journey.ebnf does not mention \"\(word)\"")
        }
        // And the keyword production lists exactly the reserved words.
        let start = try XCTUnwrap(grammar.range(of: "keyword ::="))
        let end = try XCTUnwrap(grammar.range(of: "/*", range: start.upperBound..<grammar.endIndex))
        let listed = grammar[start.upperBound..<end.lowerBound].split(separator: "\"").enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
        XCTAssertEqual(Set(listed), Set(Keywords.reserved.map(\.0)))
    }

    func testEveryExampleParses() throws {
        let examples = journeyFiles(in: "examples")
        XCTAssertGreaterThanOrEqual(examples.count, 11)
        for url in examples {
            let tree = Parser.parse(try read(url))
            XCTAssertEqual(tree.diagnostics.map(\.message), [], url.lastPathComponent)
            XCTAssertFalse(tree.decls.isEmpty, url.lastPathComponent)
        }
    }
}
