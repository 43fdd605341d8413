import JourneyBytecode
import JourneyDiagnostics
import JourneyRuntime
import JourneySemantics
import JourneySyntax

/// A coverage-guided fuzz target for nightly runs (see README, "Fuzzing"): each input goes
/// through every reader of untrusted bytes — as a source file (lexer, parser, checker,
/// formatter), as a bundle (loader, verifier, and the VM on an in-memory store when it loads),
/// and as event and profile lines. Built without FUZZING it replays files given on the command
/// line, so a crash libFuzzer found can be run again under a debugger.
enum Fuzz {
    static let schemaSource = """
    profile {
      first_name: string
      email: string?
      timezone: string?
      points: int
      tags: list[string]?
    }
    event signup { source: string, total: money, at_time: time? }
    event order { total: money }
    channel email address profile.email
    policy {
      cap 3 messages per 24h
      quiet hours 22:00 to 08:00
    }
    """

    static let schemaTree = Parser.parse(SourceFile(path: "schema.journey", text: schemaSource))
    static let schema = RuntimeSchema(check([schemaTree]).schema)

    static func one(_ bytes: [UInt8]) {
        // As source.
        let file = SourceFile(path: "fuzz.journey", bytes: bytes)
        let tree = Parser.parse(file)
        let result = check([schemaTree, tree])
        if !result.hasErrors, let bundle = try? Compiler.compile([schemaTree, tree], result) {
            run(bundle.encode())
        }
        if let once = Formatter.format(file) {
            let again = SourceFile(path: "fuzz.journey", text: once)
            if Formatter.format(again) != once { fatalError("the formatter is not idempotent on this input") }
        }
        // As a bundle.
        run(bytes)
        // As event and profile lines.
        _ = EventInput.parseFile(bytes, schema: schema, parts: 1)
        _ = ProfileInput.parseJSONLines(bytes, schema: schema)
        _ = ProfileInput.parseCSV(bytes, schema: schema)
    }

    /// Deploys a bundle on an in-memory store and runs a few events through it.
    static func run(_ bundle: [UInt8]) {
        guard let engine = try? Engine(store: SQLiteStore(path: ":memory:")), (try? engine.deploy(bundle, at: 0)) != nil,
              let schema = engine.schema else { return }
        let profiles = ProfileInput.parseJSONLines(Array(#"{"id": "a", "first_name": "A", "email": "a@x", "points": 3}"#.utf8), schema: schema)
        _ = try? engine.importProfiles(profiles.compactMap { try? $0.get() })
        let events = schema.events.map { e in #"{"profile": "a", "event": "\#(e.name)", "at": "2025-03-01T10:00:00Z"}"# }.joined(separator: "\n")
        _ = try? engine.ingest(EventInput.parseFile(Array(events.utf8), schema: schema, parts: 1), source: "fuzz")
        _ = try? engine.run(until: 1_741_000_000, start: 1_740_800_000)
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data else { return 0 }
    Fuzz.one(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// libFuzzer's driver, called from the entry point SwiftPM gives an executable target.
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
               _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

@_cdecl("journey_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var c = argc
    var v = argv
    return runDriver(&c, &v) { data, size in fuzzTestOneInput(data, size) }
}
#else
import Foundation

@main
struct Replay {
    static func main() {
        let paths = CommandLine.arguments.dropFirst()
        if paths.isEmpty { print("usage: journey-fuzz FILE… (replays inputs; build with -DFUZZING for libFuzzer)") }
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else { print("\(path): cannot read"); continue }
            Fuzz.one([UInt8](data))
            print("\(path): ok")
        }
    }
}
#endif
