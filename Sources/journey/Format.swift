import ArgumentParser
import Foundation
import JourneyDiagnostics
import JourneySyntax

struct Format: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fmt",
        abstract: "Rewrite .journey files in the canonical layout, keeping every comment.",
        discussion: "A file with parse errors is refused and left untouched (exit 1). With --check, nothing is written: the files that would change are listed and the exit status is 1 if any would."
    )

    @Flag(name: .long, help: "List the files that are not formatted; change nothing.")
    var check = false

    @Argument(help: "Files and directories to format.")
    var paths: [String]

    func run() throws {
        let files = try ProjectFiles.collect(paths)
        var failed = false
        var changed: [String] = []
        for path in files {
            let source = try ProjectFiles.read(path)
            let tree = Parser.parse(source)
            let errors = tree.diagnostics.filter { $0.severity == .error }
            if !errors.isEmpty {
                failed = true
                printError(TextRenderer(colour: useColour(2)).render(errors, sources: SourceMap([source])))
                printError("\(path): not formatted: fix the parse errors first")
                continue
            }
            let formatted = Formatter.format(tree)
            if formatted == source.bytes { continue }
            changed.append(path)
            if !check {
                do {
                    try Data(formatted).write(to: URL(fileURLWithPath: path), options: .atomic)
                } catch {
                    throw UsageError(description: "\(path): cannot write: \(error.localizedDescription)")
                }
            }
        }
        if check {
            for p in changed { write(p + "\n") }
            if !changed.isEmpty || failed { throw ExitCode(1) }
        } else {
            if failed { throw ExitCode(1) }
        }
    }
}
