import Foundation
import JourneyBytecode
import JourneyDiagnostics
@testable import JourneyDiagrams
@testable import JourneyRuntime
import JourneySemantics
@testable import JourneyService
import JourneySyntax
import XCTest

/// The console's diagram is the graph `journey graph` draws, matched to the bundle's step table
/// by source position: every step has its node, every node of a statement its step.
final class ConsoleUnitTests: XCTestCase {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func examples() throws -> JourneyBundle {
        let dir = root.appendingPathComponent("examples")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".journey") }.sorted()
        let trees = try names.map { Parser.parse(SourceFile(path: $0, bytes: [UInt8](try Data(contentsOf: dir.appendingPathComponent($0))))) }
        let checked = check(trees)
        XCTAssertFalse(checked.hasErrors)
        return try JourneyBundle.load(try Compiler.compile(trees, checked).encode())
    }

    func testEveryStepHasItsNodeInTheDiagram() throws {
        let b = try examples()
        XCTAssertFalse(b.sources.isEmpty, "the bundle carries its journeys' source")
        for j in b.journeys {
            var stats = JourneyStats(journey: j.name, title: j.title, version: "v", deployedAt: nil, isCurrent: true)
            stats.steps = j.steps.enumerated().map { i, s in
                var st = StepStats(index: i, line: s.line, column: s.column, kind: s.kind, label: s.label)
                st.reached = Int64(1000 + i)
                st.branches = s.branches.enumerated().map { ($1, Int64(10 * i + $0 + 1)) }
                return st
            }
            let g = try XCTUnwrap(Diagram.graph(j, in: b, stats: stats), j.name)
            let positioned = g.nodes.filter { $0.line != nil && ($0.link ?? 0) == 0 }
            XCTAssertEqual(positioned.count, j.steps.count, "\(j.name): one node per step")
            for (i, s) in j.steps.enumerated() {
                let node = positioned.first { $0.line == s.line && $0.column == s.column }
                XCTAssertNotNil(node, "\(j.name): step \(i) (\(s.label)) has no node")
                XCTAssertEqual(node?.note?.hasPrefix("reached \(1000 + i)"), true, "\(j.name): step \(i): \(node?.note ?? "no note")")
            }
            // Branch edges carry their counts.
            for (i, s) in j.steps.enumerated() where !s.branches.isEmpty {
                guard let node = positioned.first(where: { $0.line == s.line && $0.column == s.column }) else { continue }
                for (k, label) in s.branches.enumerated() {
                    XCTAssertTrue(g.edges.contains { $0.from == node.id && $0.outcome == k + 1 && $0.label.hasSuffix("(\(10 * i + k + 1))") },
                                  "\(j.name): step \(i)'s \(label) edge has no count")
                }
            }
        }
    }

    /// A diagram's labels reach Graphviz escaped: markup in a message is text in the SVG.
    func testNotesAreEscapedInTheDot() {
        var g = FlowGraph(name: "j", title: "")
        g.nodes = [FlowGraph.Node(id: "j_1", label: "push: <b>\"Hi\" & bye</b>", shape: .send, line: 1, column: 1, link: 0, note: "reached 3 <script>")]
        let dot = GraphRenderer.dot([g])
        XCTAssertTrue(dot.contains("label=<push: &lt;b&gt;&quot;Hi&quot; &amp; bye&lt;/b&gt;<BR/><FONT POINT-SIZE=\"10\" COLOR=\"#1e3a8a\">reached 3 &lt;script&gt;</FONT>>"), dot)
    }
}
