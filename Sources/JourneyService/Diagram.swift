import Foundation
import JourneyBytecode
import JourneyDiagnostics
import JourneyDiagrams
import JourneyRuntime
import JourneySyntax

/// A journey version's diagram, as `journey graph` draws it, with each node annotated with its
/// counts: built from the source the bundle carries, matched to the step table by position.
enum Diagram {
    /// The annotated graph, or nil when the bundle carries no source (format 1 or 2).
    static func graph(_ j: CompiledJourney, in b: JourneyBundle, stats: JourneyStats) -> FlowGraph? {
        guard let text = b.source(of: j) else { return nil }
        let tree = Parser.parse(SourceFile(path: j.sourcePath, bytes: Array(text.utf8)))
        guard var g = FlowGraph.build(tree).first(where: { $0.name == j.name }) else { return nil }
        annotate(&g, stats)
        return g
    }

    static func annotate(_ g: inout FlowGraph, _ s: JourneyStats) {
        var steps: [Position: StepStats] = [:]
        for st in s.steps { steps[Position(line: st.line, column: st.column)] = st }
        var outcomes: [String: StepStats] = [:]
        for i in g.nodes.indices {
            let n = g.nodes[i]
            var note: String?
            if let line = n.line, let column = n.column, let st = steps[Position(line: line, column: column)] {
                outcomes[n.id] = st
                if let k = n.link {
                    var parts: [String] = []
                    if k == 0 { parts.append("reached \(st.reached)") }
                    if k < st.sent.count { parts.append("sent \(st.sent[k].n)") }
                    if k < st.suppressed.count, st.suppressed[k].n > 0 { parts.append("suppressed \(st.suppressed[k].n)") }
                    for r in st.receipts where k < r.byChannel.count && r.byChannel[k].n > 0 { parts.append("\(r.status) \(r.byChannel[k].n)") }
                    if k == 0, st.undeliverable > 0 { parts.append("undeliverable \(st.undeliverable)") }
                    if k == 0, st.waiting > 0 { parts.append("held \(st.waiting)") }
                    note = parts.joined(separator: " · ")
                } else {
                    note = "reached \(st.reached)" + (st.waiting > 0 ? " · waiting \(st.waiting)" : "")
                }
            } else {
                switch n.shape {
                case .start: note = "entered \(s.entered) · active \(s.active)"
                case .note where n.label.hasPrefix("goal"): note = "converted \(s.converted)" + (s.conversionRate.map { " (\(StatsFormat.percent($0)))" } ?? "")
                case .note: note = "exited \(s.exited)"
                case .end where n.line == nil: note = "completed \(s.completed)"
                default: break
                }
            }
            g.nodes[i].note = note
        }
        for i in g.edges.indices {
            guard let k = g.edges[i].outcome, let st = outcomes[g.edges[i].from], k >= 1, k <= st.branches.count else { continue }
            g.edges[i].label += " (\(st.branches[k - 1].n))"
        }
    }

    struct Position: Hashable {
        var line: Int
        var column: Int
    }

    /// Graphviz's `dot` on the PATH, if there is one.
    static let dotPath: String? = {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return paths.map { "\($0)/dot" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// The graph as an SVG element to put in a page (nil without Graphviz, or when it fails or
    /// takes over five seconds), off the caller's thread.
    static func svg(_ g: FlowGraph, title: String) async -> String? {
        await withCheckedContinuation { done in
            DispatchQueue.global().async { done.resume(returning: svgNow(g, title: title)) }
        }
    }

    /// The same, on this thread (for a command that has nothing else to do meanwhile).
    static func svgNow(_ g: FlowGraph, title: String) -> String? {
        guard let dot = dotPath else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: dot)
        p.arguments = ["-Tsvg"]
        let input = Pipe(), out = Pipe()
        p.standardInput = input
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let killer = DispatchWorkItem { if p.isRunning { p.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 5, execute: killer)
        input.fileHandleForWriting.write(Data(GraphRenderer.dot([g]).utf8))
        try? input.fileHandleForWriting.close()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        killer.cancel()
        guard p.terminationStatus == 0, let text = String(data: data, encoding: .utf8), let start = text.range(of: "<svg") else { return nil }
        // Only the element: no XML prolog or doctype inside HTML; labelled for screen readers.
        var svg = String(text[start.lowerBound...])
        svg.replaceSubrange(svg.startIndex..<svg.index(svg.startIndex, offsetBy: 4), with: "<svg role=\"img\" aria-label=\"\(Format.attribute(title))\"")
        return svg
    }
}

/// Numbers and text as the console shows them.
enum Format {
    /// An instant as the pages show it: "2025-03-01 10:00 UTC".
    static func time(_ t: Int64) -> String {
        let iso = Value.iso8601(t)
        return String(iso.prefix(10)) + " " + String(iso.dropFirst(11).prefix(5)) + " UTC"
    }

    static func time(_ t: Double) -> String { time(Int64(t.rounded(.down))) }

    /// Text for an HTML attribute value in double quotes.
    static func attribute(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
