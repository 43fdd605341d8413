import Foundation
import XCTest

/// `journey graph`: every statement of a journey appears, and Graphviz accepts the DOT.
final class GraphTests: XCTestCase {
    /// A long condition wraps onto lines instead of being cut.
    func testLongConditionsWrap() throws {
        let d = try tempDir()
        try FileManager.default.copyItem(at: repoRoot.appendingPathComponent("examples/schema.journey"), to: d.appendingPathComponent("schema.journey"))
        let file = d.appendingPathComponent("long.journey")
        try """
        journey long {
          on cart_abandoned as cart
          goal order_placed
          if cart.total > 100 and profile.loyalty_points > 1000 and profile.orders_count > 3 and profile.city == "Madrid" {
            push "{cart.cart_id}"
          }
        }

        """.write(to: file, atomically: true, encoding: .utf8)
        let r = try journey(["graph", file.path])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains(#"profile.city == \"Madrid\""#), r.out)
        XCTAssertTrue(r.out.contains("\\n"), "a long label is wrapped: \(r.out)")
        XCTAssertFalse(r.out.contains("…\""), r.out)
    }

    func testDotHasEveryStatementAndGraphvizAcceptsIt() throws {
        let r = try journey(["graph", "examples/abandoned_cart.journey"])
        XCTAssertEqual(r.code, 0, r.err)
        for piece in ["on cart_abandoned as cart", "goal: order_placed", "wait 1h", "push: Still thinking about",
                      "whatsapp: Hi {profile.first_name}", "[label=\"else\", style=dashed]", "wait for push_opened within 24h",
                      "[label=\"timed out\"]", "[label=\"arrived\"]", "wait 48h", "if not exists(", "[label=\"yes\"]", "[label=\"no\"]",
                      "email: 10% off your cart", "\"end\""] {
            XCTAssertTrue(r.out.contains(piece), "missing \(piece) in:\n\(r.out)")
        }
        // A fallback link leads to the next step too (whichever channel takes the message).
        XCTAssertTrue(r.out.contains("\"abandoned_cart_5\" -> \"abandoned_cart_6\";"), r.out)
        let split = try journey(["graph", "examples/winback.journey"])
        for piece in ["\"split\"", "label=\"20% holdout\"", "label=\"80% offer\"", "else if sum(", "on daily at 10:00"] {
            XCTAssertTrue(split.out.contains(piece), "missing \(piece)")
        }
        guard let dot = ["/usr/bin/dot", "/usr/local/bin/dot"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("Graphviz is not installed (.ci/run installs it)")
        }
        for file in try FileManager.default.contentsOfDirectory(atPath: repoRoot.appendingPathComponent("examples").path)
            where file.hasSuffix(".journey") && file != "schema.journey" {
            let text = try journey(["graph", "examples/" + file]).out
            let p = Process()
            p.executableURL = URL(fileURLWithPath: dot)
            p.arguments = ["-Tsvg"]
            let input = Pipe(), output = Pipe(), err = Pipe()
            p.standardInput = input
            p.standardOutput = output
            p.standardError = err
            try p.run()
            input.fileHandleForWriting.write(Data(text.utf8))
            try input.fileHandleForWriting.close()
            let svg = output.fileHandleForReading.readDataToEndOfFile()
            _ = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, "dot refused the graph of \(file)")
            XCTAssertTrue(String(decoding: svg, as: UTF8.self).contains("<svg"), file)
        }
        let svg = try journey(["graph", "--format", "svg", "examples/abandoned_cart.journey"])
        XCTAssertEqual(svg.code, 0, svg.err)
        XCTAssertTrue(svg.out.contains("<svg"))
    }

    func testMermaidAndErrors() throws {
        let r = try journey(["graph", "--format", "mermaid", "examples/abandoned_cart.journey"])
        XCTAssertEqual(r.code, 0)
        XCTAssertTrue(r.out.hasPrefix("flowchart TD\n"))
        XCTAssertTrue(r.out.contains("-.->|\"else\"|"))
        XCTAssertTrue(r.out.contains("{\"wait for push_opened within 24h\"}"))
        XCTAssertEqual(try journey(["graph", "examples/schema.journey"]).code, 2, "a file without journeys is a usage error")
        let d = try tempDir()
        let broken = d.appendingPathComponent("b.journey")
        try "journey b {\n on e\n wait\n}\n".write(to: broken, atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["graph", broken.path]).code, 1)
    }
}
