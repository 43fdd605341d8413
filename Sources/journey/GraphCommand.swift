import ArgumentParser
import Foundation
import JourneyDiagnostics
import JourneyDiagrams
import JourneySyntax

struct Graph: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Draw each journey of a file as a flow diagram (DOT, SVG through Graphviz, or Mermaid)."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case dot, svg, mermaid }

    @Option(help: "dot (default), svg (needs Graphviz's dot), or mermaid.") var format: Format = .dot
    @Option(name: .shortAndLong, help: "Write here instead of standard output.") var output: String?
    @Argument(help: "A .journey file.") var file: String

    func run() throws {
        try ProjectFiles.requireFile(file, instead: "give one of its .journey files (e.g. '\(file)/abandoned_cart.journey')")
        let source = try ProjectFiles.read(file)
        let tree = Parser.parse(source)
        let errors = tree.diagnostics.filter { $0.severity == .error }
        if !errors.isEmpty {
            printError(TextRenderer(colour: useColour(2)).render(errors, sources: SourceMap([source])))
            throw ExitCode(1)
        }
        let graphs = FlowGraph.build(tree)
        if graphs.isEmpty { throw UsageError(description: "\(file): no journey to draw") }
        var bytes: Data
        switch format {
        case .dot: bytes = Data(GraphRenderer.dot(graphs).utf8)
        case .mermaid: bytes = Data(GraphRenderer.mermaid(graphs).utf8)
        case .svg: bytes = try svg(GraphRenderer.dot(graphs))
        }
        if let output {
            do { try bytes.write(to: URL(fileURLWithPath: output)) } catch { throw UsageError(description: "\(output): cannot write: \(error.localizedDescription)") }
        } else {
            FileHandle.standardOutput.write(bytes)
        }
    }

    /// Renders DOT with Graphviz's `dot`, found on the PATH.
    func svg(_ dot: String) throws -> Data {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        guard let exe = paths.map({ "\($0)/dot" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw UsageError(description: "--format svg needs Graphviz's 'dot' on the PATH (Debian: apt-get install graphviz); --format dot or mermaid work without it")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = ["-Tsvg"]
        let input = Pipe(), out = Pipe(), err = Pipe()
        p.standardInput = input
        p.standardOutput = out
        p.standardError = err
        try p.run()
        input.fileHandleForWriting.write(Data(dot.utf8))
        try input.fileHandleForWriting.close()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let message = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw UsageError(description: "dot failed: \(String(decoding: message, as: UTF8.self))") }
        return data
    }
}
