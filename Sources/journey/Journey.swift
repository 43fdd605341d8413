import ArgumentParser
import Foundation
import JourneyDiagnostics
import JourneySemantics
import JourneySyntax
import JourneyRuntime

let toolVersion = "0.1.0"

@main
struct Journey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journey",
        abstract: "Check, format and run customer journeys written in the .journey language.",
        version: "\(toolVersion) (tz database \(TimeZoneNames.databaseVersion))",
        subcommands: [Check.self, Format.self, Build.self, Verify.self, Disasm.self, Simulate.self, Deploy.self, Import.self, Ingest.self, Run.self, Outbox.self, Rejects.self, Instances.self, Stats.self, Test.self, Backup.self, Migrate.self, Serve.self, Deliveries.self, Redeliver.self, LSP.self, Graph.self, Explain.self]
    )

    /// Argument errors exit 2 (usage), not swift-argument-parser's default 64.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let e as UsageError {
            printError("error: \(e.description)")
            Foundation.exit(2)
        } catch let e as ExitCode {
            Foundation.exit(e.rawValue)
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { write(message + "\n") }
                Foundation.exit(0)
            }
            printError(message)
            Foundation.exit(2)
        }
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, sarif, github
}

enum ColourChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, always, never
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Type-check a project: every file and directory named (recursively, *.journey) is one project.",
        discussion: "Exit status: 0 clean (warnings allowed, unless --deny-warnings), 1 errors found, 2 usage or I/O error."
    )

    @Option(name: .long, help: "Output format: text, json, sarif or github.")
    var format: OutputFormat = .text

    @Option(name: .long, help: "Colour in text output: auto (on a terminal, unless NO_COLOR is set), always or never.")
    var color: ColourChoice = .auto

    @Flag(name: .customLong("deny-warnings"), help: "Exit 1 when there are warnings too (for CI).")
    var denyWarnings = false

    @Argument(help: "Files and directories of the project.")
    var paths: [String]

    func run() throws {
        let (files, trees) = try ProjectFiles.parsedProject(paths)
        let sources = trees.map(\.source)
        let result = check(trees)
        var bag = DiagnosticBag()
        bag.add(contentsOf: result.diagnostics)
        let diagnostics = bag.sorted
        let map = SourceMap(sources)
        switch format {
        case .text:
            let colour = color == .always || (color == .auto && useColour(1))
            write(TextRenderer(colour: colour).render(diagnostics, sources: map))
        case .json:
            write(JSONRenderer.render(diagnostics, sources: map, files: files.count))
        case .sarif:
            write(SARIFRenderer.render(diagnostics, sources: map, rules: allRules, toolVersion: toolVersion,
                                       baseDirectory: FileManager.default.currentDirectoryPath))
        case .github:
            write(GitHubRenderer.render(diagnostics, sources: map))
        }
        // Exit here rather than return: freeing every tree and table on the way out would cost
        // a tenth of the run, for memory the process is about to give back anyway.
        Foundation.exit(bag.hasErrors || (denyWarnings && !diagnostics.isEmpty) ? 1 : 0)
    }
}

/// Every diagnostic code of every phase, for SARIF's rule list.
let allRules: [DiagnosticCode] = SyntaxCode.all + SemanticCode.all
