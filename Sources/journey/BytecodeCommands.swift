import ArgumentParser
import Foundation
import JourneyBytecode
import JourneyDiagnostics
import JourneySemantics
import JourneySyntax

/// Parses and checks a project; on errors prints them (text, to standard error) and exits 1.
/// A project read and checked: its files, sources and trees, and the check's result. Errors
/// are printed (on standard error) and exit 1.
func checkedProject(_ paths: [String]) throws -> (files: [String], sources: [SourceFile], trees: [SyntaxTree], result: CheckResult) {
    let (files, trees) = try ProjectFiles.parsedProject(paths)
    let sources = trees.map(\.source)
    let result = check(trees)
    if result.hasErrors { try failWith(result.diagnostics.filter { $0.severity == .error }, sources) }
    return (files, sources, trees, result)
}

func failWith(_ errors: [Diagnostic], _ sources: [SourceFile]) throws -> Never {
    var bag = DiagnosticBag()
    bag.add(contentsOf: errors)
    printError(TextRenderer(colour: useColour(2)).render(bag.sorted, sources: SourceMap(sources)))
    throw ExitCode(1)
}

func compileProject(_ paths: [String]) throws -> JourneyBundle {
    let (files, sources, trees, result) = try checkedProject(paths)
    func fail(_ errors: [Diagnostic]) throws -> Never { try failWith(errors, sources) }
    do {
        return try Compiler.compile(trees, result, sourcePaths: ProjectFiles.projectRelative(files))
    } catch {
        try fail(error.diagnostics)
    }
}

/// Reads and loads a bundle file; a bundle that fails any check exits 1 with the reason.
func loadBundle(_ path: String) throws -> (JourneyBundle, [UInt8]) {
    try ProjectFiles.requireFile(path, instead: "build a bundle from it first ('journey build -o shop.journeyc \(path)') and give the bundle")
    guard let data = FileManager.default.contents(atPath: path) else { throw UsageError(description: "\(path): cannot read the file") }
    let bytes = [UInt8](data)
    do {
        return (try JourneyBundle.load(bytes), bytes)
    } catch {
        printError("error: \(path): \(error)")
        throw ExitCode(1)
    }
}

struct Build: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "build", abstract: "Compile a project into one .journeyc bundle.")

    @Option(name: .shortAndLong, help: "The bundle to write.")
    var output: String

    @Argument(help: "Files and directories of the project.")
    var paths: [String]

    func run() throws {
        let bundle = try compileProject(paths)
        let bytes = bundle.encode()
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: output), options: .atomic)
        } catch {
            throw UsageError(description: "\(output): cannot write: \(error.localizedDescription)")
        }
        write("wrote \(output): \(plural(bundle.journeys.count, "journey")), \(bytes.count) bytes, hash \(JourneyBundle.contentHash(bytes))\n")
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify", abstract: "Check a bundle (format, checksum, bytecode) without running it. Exit 0 valid, 1 refused.")

    @Argument(help: "The .journeyc bundle.")
    var bundle: String

    func run() throws {
        let (b, bytes) = try loadBundle(bundle)
        write("\(bundle): valid bundle, format \(b.neededVersion), \(plural(b.journeys.count, "journey")), schema \(b.schemaFingerprint), hash \(JourneyBundle.contentHash(bytes))\n")
    }
}

struct Disasm: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "disasm", abstract: "Print a bundle's bytecode readably, with source lines.")

    @Argument(help: "The .journeyc bundle.")
    var bundle: String

    func run() throws {
        let (b, bytes) = try loadBundle(bundle)
        write(Disassembler.listing(b, bytes: bytes.count) { path in
            (try? String(contentsOfFile: path, encoding: .utf8)).map { $0.components(separatedBy: "\n") }
        })
    }
}

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "explain", abstract: "Say what a journey can do: the most messages one profile can get (alone, and with the other journeys its event starts), the channels, and every path with its delays.")

    @Argument(help: "The journey's name.")
    var journey: String

    @Argument(help: "Files and directories of the project (default: the current directory).")
    var paths: [String] = ["."]

    func run() throws {
        let (_, _, trees, result) = try checkedProject(paths)
        guard let text = JourneySemantics.Explain.text(journey, trees: trees, schema: result.schema) else {
            var names: [String] = []
            for t in trees { for d in t.decls { if case .journey(let j) = d.kind { names.append(j.name.name) } } }
            throw UsageError(description: "no journey is named '\(journey)'; the project has \(names.sorted().joined(separator: ", "))")
        }
        write(text)
    }
}
