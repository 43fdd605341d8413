import XCTest
import JourneyBytecode
import JourneyDiagnostics
import JourneySemantics
import JourneySyntax

/// Tests that deploy journeys written out in their text: a schema of their own, and journeys
/// compiled against it (any error fails the test).
protocol BundleFixture: XCTestCase {
    var schema: String { get }
}

extension BundleFixture {
    func bundle(_ journeys: String, file: StaticString = #filePath, line: UInt = #line) throws -> [UInt8] {
        let trees = [Parser.parse(SourceFile(path: "schema.journey", bytes: Array(schema.utf8))),
                     Parser.parse(SourceFile(path: "j.journey", bytes: Array(journeys.utf8)))]
        let result = check(trees)
        XCTAssertEqual(result.diagnostics.filter { $0.severity == .error }.map(\.message), [], file: file, line: line)
        return try Compiler.compile(trees, result).encode()
    }
}
