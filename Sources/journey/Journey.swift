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
            if let check = Check.Options(CommandLine.arguments.dropFirst()) {
                try Check.perform(check)
            }
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

    /// What a check is asked to do.
    struct Options: Equatable {
        var format: OutputFormat = .text
        var color: ColourChoice = .auto
        var denyWarnings = false
        var paths: [String] = []
    }

    func run() throws {
        try Self.perform(Options(format: format, color: color, denyWarnings: denyWarnings, paths: paths))
    }

    /// Checks the project and exits: 0 clean, 1 errors (or warnings, when they are denied).
    static func perform(_ options: Options) throws -> Never {
        let (format, color, denyWarnings, paths) = (options.format, options.color, options.denyWarnings, options.paths)
        // A short run that allocates several times the project's size at once, then exits.
        LargePages.enable()
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
        // a tenth of the run, for memory the process is about to give back anyway. And past the
        // C library's exit handlers (the runtime's and Foundation's tidying, 2–3 ms): what is
        // written goes straight to the file descriptor, and stdio's buffers are flushed first
        // (a coverage build's profile is not written: measure coverage with other commands).
        fflush(nil)
        _exit(bag.hasErrors || (denyWarnings && !diagnostics.isEmpty) ? 1 : 0)
    }
}

extension Check.Options {
    /// `journey check`'s usual command lines read directly: ArgumentParser works out its
    /// commands by reflection, and in this statically linked binary each of the runtime's
    /// first look-ups scans every protocol conformance of the standard library and
    /// Foundation, some 8 ms before the first file is read. Nil for anything else (help,
    /// another command, an option not spelled exactly so, a bad value, no paths, an
    /// option given twice): ArgumentParser then reads the line and says what is wrong.
    init?<C: Collection>(_ arguments: C) where C.Element == String {
        var rest = arguments[...]
        guard rest.popFirst() == "check" else { return nil }
        var seen: Set<String> = []
        var onlyPaths = false
        while let arg = rest.popFirst() {
            if onlyPaths || !arg.hasPrefix("-") {
                paths.append(arg)
                continue
            }
            if arg == "--" { onlyPaths = true; continue }
            var name = arg
            var value: String?
            if let eq = arg.firstIndex(of: "=") {
                name = String(arg[..<eq])
                value = String(arg[arg.index(after: eq)...])
            }
            guard seen.insert(name).inserted else { return nil }
            switch name {
            case "--deny-warnings":
                guard value == nil else { return nil }
                denyWarnings = true
            case "--format", "--color":
                if value == nil { value = rest.popFirst() }
                guard let value else { return nil }
                if name == "--format" {
                    guard let f = OutputFormat(rawValue: value) else { return nil }
                    format = f
                } else {
                    guard let c = ColourChoice(rawValue: value) else { return nil }
                    color = c
                }
            default:
                return nil
            }
        }
        if paths.isEmpty { return nil }
    }
}

/// Every diagnostic code of every phase, for SARIF's rule list.
let allRules: [DiagnosticCode] = SyntaxCode.all + SemanticCode.all
