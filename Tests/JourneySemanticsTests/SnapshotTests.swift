import XCTest
import JourneyDiagnostics
import JourneySemantics
import JourneySyntax

/// Rendered diagnostics, compared with reviewed snapshots (`UPDATE_SNAPSHOTS=1` rewrites them).
final class SnapshotTests: XCTestCase {
    func testRenderedDiagnostics() throws {
        let dir = repoRoot.appendingPathComponent("Tests/Fixtures/snapshots")
        let schemaURL = dir.appendingPathComponent("schema.journey")
        let schema = SourceFile(path: "schema.journey", bytes: [UInt8](try Data(contentsOf: schemaURL)))
        let inputs = journeyFiles(in: "Tests/Fixtures/snapshots").filter { $0 != schemaURL }
        XCTAssertGreaterThanOrEqual(inputs.count, 3)
        for url in inputs {
            let file = SourceFile(path: url.lastPathComponent, bytes: [UInt8](try Data(contentsOf: url)))
            let result = check([Parser.parse(schema), Parser.parse(file)])
            var bag = DiagnosticBag()
            bag.add(contentsOf: result.diagnostics)
            let rendered = TextRenderer(colour: false).render(bag.sorted, sources: SourceMap([schema, file]))
            let snapshot = url.deletingPathExtension().appendingPathExtension("txt")
            if ProcessInfo.processInfo.environment["UPDATE_SNAPSHOTS"] != nil {
                try rendered.write(to: snapshot, atomically: true, encoding: .utf8)
            }
            let expected = try String(contentsOf: snapshot, encoding: .utf8)
            XCTAssertEqual(rendered, expected, url.lastPathComponent)
        }
    }

    func testColourOnlyWhenAsked() {
        let file = SourceFile(path: "a.journey", text: "journey j {\n wait 1h\n}\n")
        let d = Parser.parse(file).diagnostics
        XCTAssertFalse(TextRenderer(colour: false).render(d, sources: SourceMap([file])).contains("\u{1B}["))
        XCTAssertTrue(TextRenderer(colour: true).render(d, sources: SourceMap([file])).contains("\u{1B}["))
    }
}
