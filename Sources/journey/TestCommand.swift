import ArgumentParser
import Foundation
import JourneyDiagnostics
import JourneyBytecode
import JourneyRuntime
import JourneySemantics
import JourneySyntax
import JourneyTesting

struct Test: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run the project's tests (test \"…\" { … }) on the simulator, each from an empty database, in parallel.",
        discussion: "Exit status: 0 every test passed, 1 a test failed (or the project has errors, which are printed), 2 usage or I/O error."
    )
    enum Format: String, ExpressibleByArgument, CaseIterable { case text, junit, tap, json }

    @Option(help: "Only the tests whose name contains this text (any case).") var filter: String?
    @Option(help: "text (default), junit (XML for CI systems), tap or json.") var format: Format = .text
    @Option(help: "Colour in text output: auto (on a terminal, unless NO_COLOR is set), always or never.") var color: ColourChoice = .auto
    @Flag(help: "Mutation testing: change the journeys one small way at a time (a wait, a comparison, a condition, a goal, a send, a fallback order, an update) and report each change no test notices (exit 1 if any).") var mutate = false
    @Argument(help: "Files and directories of the project (journeys, schema and tests).") var paths: [String]

    func run() throws {
        let started = DispatchTime.now().uptimeNanoseconds
        let (files, sources, trees, checked) = try checkedProject(paths)
        let relative = ProjectFiles.projectRelative(files)
        let bundle: JourneyBundle
        do {
            bundle = try Compiler.compile(trees, checked, sourcePaths: relative)
        } catch {
            var bag = DiagnosticBag()
            bag.add(contentsOf: error.diagnostics)
            printError(TextRenderer(colour: useColour(2)).render(bag.sorted, sources: SourceMap(sources)))
            throw ExitCode(1)
        }
        var results = TestRunner.run(trees, checked, bundle: bundle, filter: filter)
        for i in results.indices { results[i].file = relative[results[i].file] ?? results[i].file }
        if results.isEmpty {
            printError(filter == nil ? "no tests found (write 'test \"…\" { … }' in a .journey file)" : "no test name contains '\(filter ?? "")'")
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        switch format {
        case .text: write(TestReport.text(results, seconds: seconds, colour: color == .always || (color == .auto && useColour(1))))
        case .junit: write(TestReport.junit(results, seconds: seconds))
        case .tap: write(TestReport.tap(results))
        case .json: write(TestReport.json(results, seconds: seconds))
        }
        if results.contains(where: { !$0.passed }) { throw ExitCode(1) }
        if mutate { try mutationTest(sources, trees, relative) }
    }

    /// Each mutant of the journeys against the whole suite; the survivors are the changes that
    /// would go live unseen.
    func mutationTest(_ sources: [SourceFile], _ trees: [SyntaxTree], _ relative: [String: String]) throws {
        let mutants = Mutator.mutants(trees)
        let started = DispatchTime.now().uptimeNanoseconds
        let results = Mutator.run(sources, trees, paths: relative, mutants: mutants)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        var killed = 0, invalid = 0
        var survivors: [Mutant] = []
        for (m, fate) in results {
            switch fate {
            case .killed: killed += 1
            case .invalid: invalid += 1
            case .survived: survivors.append(m)
            }
        }
        let valid = results.count - invalid
        var out = "\nmutation testing: \(plural(results.count, "mutant")) of the journeys in " + String(format: "%.1f s", seconds)
            + ": \(killed) killed, \(survivors.count) survived, \(invalid) did not check"
        if valid > 0 { out += String(format: " (mutation score %.0f%%)", Double(killed) / Double(valid) * 100) }
        out += "\n"
        if !survivors.isEmpty {
            out += "no test notices these changes:\n"
            for m in survivors { out += "  \(relative[m.file] ?? m.file):\(m.line):\(m.column): \(m.description)\n" }
        }
        write(out)
        if !survivors.isEmpty { throw ExitCode(1) }
    }
}
