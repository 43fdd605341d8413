import Foundation
import XCTest
import JourneyDiagnostics
import JourneySemantics
import JourneySyntax

/// A small seeded generator (SplitMix64): the same seed gives the same inputs on every machine.
struct FuzzRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Bounded fuzzing of the front end, run with the suite: sources from the examples and the
/// fixture corpus, each changed a few times (bytes flipped, lines cut, copied or swapped, tokens
/// of the language dropped in), go through the lexer, parser, checker and formatter. Nothing may
/// crash; every diagnostic must point inside its file; the formatter's output, when it gives
/// one, must parse clean and format to itself. JOURNEY_FUZZ_SEED and JOURNEY_FUZZ_COUNT run
/// other or longer campaigns by hand.
final class FrontEndFuzzTests: XCTestCase {
    static let tokens: [String] = [
        "{", "}", "(", ")", "\"", "{{", "}}", "\"{", "}\"", ".", ",", ":", "?", "??", "==", "!=", "&&", "||", "!", "=", "+", "-", "*", "/",
        "#", "\n", "\t", " ", "\u{0}", "\u{FEFF}", "é", "🙂", "\r\n", "journey", "profile", "event", "channel", "policy", "on", "as", "where",
        "when", "goal", "exit", "exit on", "reentry", "wait", "wait for", "within", "until", "if", "else", "split", "set", "daily at",
        "none", "true", "not", "and", "or", "now", "today", "count(", "exists(", "sum(", "last(", "days_since(", "1h", "0s", "-3d", "99999999999999999999",
        "12.5", "10%", "100.001%", "09:00", "25:61", "2025-02-30", "list[", "]", "string?", "money", "push", "email", "in_app",
        "9223372036854775807w", "cap 4294967296 messages per 24h", "quiet hours 22:00 to 22:00",
    ]

    func testMutatedSourcesNeverCrashTheFrontEnd() throws {
        let corpus = (journeyFiles(in: "examples") + journeyFiles(in: "Tests/Fixtures/check") + journeyFiles(in: "Tests/Fixtures/check-alone"))
            .compactMap { try? [UInt8](Data(contentsOf: $0)) }
        XCTAssertGreaterThan(corpus.count, 50)
        let schema = corpus.first { String(decoding: $0, as: UTF8.self).contains("profile {") } ?? []
        let env = ProcessInfo.processInfo.environment
        var rng = FuzzRandom(state: env["JOURNEY_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x6A6F_7572)
        let count = env["JOURNEY_FUZZ_COUNT"].flatMap { Int($0) } ?? 2000
        var formatted = 0, clean = 0
        for n in 0..<count {
            var bytes = corpus[Int.random(in: 0..<corpus.count, using: &rng)]
            for _ in 0..<Int.random(in: 1...4, using: &rng) { Self.mutate(&bytes, &rng) }
            let file = SourceFile(path: "fuzz\(n).journey", bytes: bytes)
            let tree = Parser.parse(file)
            let result = check([Parser.parse(SourceFile(path: "schema.journey", bytes: schema)), tree])
            for d in result.diagnostics where d.file == file.path {
                XCTAssertLessThanOrEqual(d.span.end, bytes.count, "input \(n): \(d.message)")
                XCTAssertLessThanOrEqual(d.span.start, d.span.end, "input \(n): \(d.message)")
            }
            if !result.hasErrors { clean += 1 }
            if let once = Formatter.format(file) {
                formatted += 1
                let again = SourceFile(path: file.path, text: once)
                XCTAssertTrue(Parser.parse(again).diagnostics.isEmpty, "input \(n): the formatter's output does not parse")
                XCTAssertEqual(Formatter.format(again), once, "input \(n): formatting is not idempotent")
            }
        }
        XCTAssertGreaterThan(formatted, count / 20, "the mutations never left a file that parses")
        print("front-end fuzz: \(count) inputs, \(formatted) formatted, \(clean) checked clean")
    }

    static func mutate(_ b: inout [UInt8], _ rng: inout FuzzRandom) {
        let at = b.isEmpty ? 0 : Int.random(in: 0..<b.count, using: &rng)
        switch Int.random(in: 0..<7, using: &rng) {
        case 0: if !b.isEmpty { b[at] = UInt8.random(in: 0...255, using: &rng) }
        case 1: if !b.isEmpty { b.remove(at: at) }
        case 2, 3: b.insert(contentsOf: Array((tokens.randomElement(using: &rng) ?? "{").utf8), at: at)
        case 4: // cut a run of bytes
            let end = min(b.count, at + Int.random(in: 1...40, using: &rng))
            b.removeSubrange(at..<end)
        case 5: // copy a run of bytes elsewhere
            let end = min(b.count, at + Int.random(in: 1...80, using: &rng))
            let piece = Array(b[at..<end])
            b.insert(contentsOf: piece, at: b.isEmpty ? 0 : Int.random(in: 0..<b.count, using: &rng))
        default: // swap two lines
            var lines = b.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
            guard lines.count > 1 else { return }
            lines.swapAt(Int.random(in: 0..<lines.count, using: &rng), Int.random(in: 0..<lines.count, using: &rng))
            b = Array(lines.joined(separator: [0x0A]))
        }
    }
}
