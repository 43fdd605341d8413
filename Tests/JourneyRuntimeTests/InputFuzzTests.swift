import Foundation
import XCTest
import JourneyBytecode
@testable import JourneyRuntime

/// Bounded fuzzing of the event and profile readers, run with the suite: the examples' event
/// and profile lines, and a CSV made from the profiles, changed a few bytes at a time. Every
/// non-blank line must come back exactly once, accepted or rejected with a reason that names
/// its line, and an accepted line must satisfy what the schema says of it.
final class InputFuzzTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let pieces = ["\"", "\\", "\\u0000", "\\ud800", "{", "}", "[", "]", ",", ":", "null", "true", "1e999", "-0", "99999999999999999999",
                         "\"at\"", "\"id\"", "\"data\"", "\n", "\r", "\u{0}", "\u{FEFF}", "é", "\"2025-13-45T99:99:99+99:99\"", "\"0001-01-01T00:00:00Z\""]

    func testMutatedInputLinesAreAcceptedOrRejectedOneByOne() throws {
        let dir = Self.repo.appendingPathComponent("examples")
        let trees = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".journey") }.sorted()
        XCTAssertFalse(trees.isEmpty)
        let schema = BundleFuzzTests.base.schema
        let events = try [UInt8](Data(contentsOf: dir.appendingPathComponent("data/events.jsonl")))
        let profiles = try [UInt8](Data(contentsOf: dir.appendingPathComponent("data/profiles.jsonl")))
        let env = ProcessInfo.processInfo.environment
        var rng = SeededRandom(state: env["JOURNEY_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x6576_656E)
        let count = env["JOURNEY_FUZZ_COUNT"].flatMap { Int($0) } ?? 1500
        var accepted = 0, rejected = 0
        for n in 0..<count {
            let useEvents = n % 2 == 0
            var bytes = useEvents ? events : profiles
            for _ in 0..<Int.random(in: 1...6, using: &rng) { Self.mutate(&bytes, &rng) }
            let lines = bytes.withUnsafeBufferPointer { b -> [Int] in
                var numbers: [Int] = []
                InputLines.forEach(b) { number, _ in numbers.append(number) }
                return numbers
            }
            if useEvents {
                let file = EventInput.parseFile(bytes, schema: schema, parts: 2)
                let got = (file.events.map(\.line) + file.errors.map(\.line)).sorted()
                XCTAssertEqual(got, lines, "input \(n): every line once")
                for e in file.errors { XCTAssertFalse(e.reason.isEmpty) }
                for e in file.events {
                    XCTAssertTrue(Value.instantRange.contains(e.event.at), "input \(n): accepted an instant outside the range")
                    let def = schema.events[e.event.event]
                    // A catalog event has no profile; any other has a valid one.
                    if def.catalog {
                        XCTAssertEqual(e.event.profile, "", "input \(n): a catalog event with a profile")
                    } else {
                        XCTAssertNil(ProfileID.problem(e.event.profile), "input \(n): accepted a bad profile id")
                    }
                    for (k, f) in def.fields.enumerated() where !f.type.isOptional {
                        XCTAssertNotEqual(e.event.fields[k], .none, "input \(n): accepted a missing required field")
                    }
                }
                accepted += file.events.count
                rejected += file.errors.count
            } else {
                let csv = n % 4 == 1
                let input = csv ? Self.csv(from: bytes, schema) : bytes
                let results = ProfileInput.parse(input, path: csv ? "p.csv" : "p.jsonl", schema: schema)
                if !csv { XCTAssertEqual(results.count, lines.count, "input \(n): every line once") }
                for r in results {
                    switch r {
                    case .success(let row):
                        XCTAssertNil(ProfileID.problem(row.id))
                        XCTAssertEqual(row.values.count, schema.attributes.count)
                        accepted += 1
                    case .failure(let e):
                        XCTAssertFalse(e.reason.isEmpty)
                        XCTAssertGreaterThan(e.line, 0)
                        rejected += 1
                    }
                }
            }
        }
        XCTAssertGreaterThan(accepted, 0)
        XCTAssertGreaterThan(rejected, 0)
        print("input fuzz: \(count) files, \(accepted) lines accepted, \(rejected) rejected")
    }

    /// The same bytes as a CSV with a header of the schema's attributes: each JSON line's
    /// values, in order, as cells (quotes and commas inside left as they are).
    static func csv(from bytes: [UInt8], _ schema: RuntimeSchema) -> [UInt8] {
        var out = "id," + schema.attributes.map(\.name).joined(separator: ",") + "\n"
        for line in bytes.split(separator: 0x0A) {
            let text = String(decoding: line, as: UTF8.self)
            let cells = text.split(separator: ",").map { cell -> String in
                let v = cell.split(separator: ":", maxSplits: 1).last.map(String.init) ?? ""
                return v.trimmingCharacters(in: CharacterSet(charactersIn: " {}"))
            }
            out += cells.joined(separator: ",") + "\n"
        }
        return Array(out.utf8)
    }

    static func mutate(_ b: inout [UInt8], _ rng: inout SeededRandom) {
        guard !b.isEmpty else { return }
        let at = Int.random(in: 0..<b.count, using: &rng)
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: b[at] = UInt8.random(in: 0...255, using: &rng)
        case 1: b.remove(at: at)
        case 2: b.insert(contentsOf: Array((pieces.randomElement(using: &rng) ?? "\"").utf8), at: at)
        default: b.removeSubrange(at..<min(b.count, at + Int.random(in: 1...30, using: &rng)))
        }
    }
}
