import Foundation
import XCTest
import JourneyDiagnostics
import JourneySyntax
import JourneySemantics
@testable import JourneyBytecode
@testable import JourneyRuntime

private let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A small seeded generator (SplitMix64): the same seed gives the same mutants on every machine.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Structure-aware fuzzing of the bundle loader, verifier and VM: the bundle of the bundled
/// examples is decoded, one of its fields changed, and encoded again with its fingerprint and
/// checksum recomputed (so damage gets past the checksum and reaches the verifier). Every mutant
/// must be refused whole, or run the examples' profiles and events to the end: a fault may fail
/// an instance, with its reason, but never stops the run or the process.
final class BundleFuzzTests: XCTestCase {
    static let base: JourneyBundle = {
        let dir = repoRoot.appendingPathComponent("examples")
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".journey") }.sorted()
        let trees = names.map { name in
            Parser.parse(SourceFile(path: name, bytes: (try? [UInt8](Data(contentsOf: dir.appendingPathComponent(name)))) ?? []))
        }
        return (try? Compiler.compile(trees, check(trees))) ?? JourneyBundle(schema: RuntimeSchema(), constants: [], journeys: [])
    }()
    static let profiles = (try? [UInt8](Data(contentsOf: repoRoot.appendingPathComponent("examples/data/profiles.jsonl")))) ?? []
    static let events = (try? [UInt8](Data(contentsOf: repoRoot.appendingPathComponent("examples/data/events.jsonl")))) ?? []

    enum Outcome: Equatable {
        case refused
        case ran(failedInstances: Int)
    }

    /// Deploys the bundle on a fresh in-memory store and runs the examples' data through it.
    func run(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws -> Outcome {
        let engine = try Engine(store: SQLiteStore(path: ":memory:"))
        do {
            try engine.deploy(bytes, at: 0)
        } catch is BundleError {
            return .refused
        }
        guard let schema = engine.schema else { throw RuntimeFault(message: "no schema after deploy") }
        let rows = ProfileInput.parseJSONLines(Self.profiles, schema: schema).compactMap { try? $0.get() }
        try engine.importProfiles(rows)
        let file = EventInput.parseFile(Self.events, schema: schema, parts: 1)
        _ = try engine.ingest(file, source: "events.jsonl")
        let start = file.events.map(\.event.at).min() ?? 0
        try engine.run(until: start + 20 * 86400, start: start)
        return .ran(failedInstances: try engine.store.rejects().filter { $0.reason.contains("stopped") }.count)
    }

    func testTheExamplesBundleRunsCleanly() throws {
        XCTAssertEqual(try run(Self.base.encode()), .ran(failedInstances: 0))
    }

    // MARK: - The cases the review found

    /// A daily trigger on a journey whose filter reads the trigger alias: there is no event to
    /// bind, so the bundle is refused (it crashed the VM on every run).
    func testAnAudienceJourneyCannotBindATrigger() throws {
        var b = Self.base
        guard let k = b.journeys.firstIndex(where: { $0.bindsTrigger && $0.when != nil }) ?? b.journeys.firstIndex(where: \.bindsTrigger) else {
            return XCTFail("the examples have no journey with a trigger alias")
        }
        b.journeys[k].trigger = .daily(9 * 60)
        XCTAssertEqual(try run(b.encode()), .refused)
        // Without the alias, reading its slot gives none: the journey runs, nothing crashes.
        b.journeys[k].bindsTrigger = false
        if case .ran = try run(b.encode()) {} else if try run(b.encode()) != .refused { XCTFail() }
    }

    /// A send whose restart offset is moved anywhere but a step boundary with an empty stack is
    /// refused (a hold for quiet hours would have resumed there and emptied an empty stack).
    func testSendRestartsMustBeStepBoundaries() throws {
        let b = Self.base
        guard let k = b.journeys.firstIndex(where: { !$0.sends.isEmpty }) else { return XCTFail("no sends") }
        let good = b.journeys[k].sends[0].restart
        var refused = 0, accepted = 0
        for restart in 0..<b.journeys[k].functions[0].code.count where restart != good {
            var m = b
            m.journeys[k].sends[0].restart = restart
            switch try run(m.encode()) {
            case .refused: refused += 1
            case .ran: accepted += 1
            }
        }
        XCTAssertGreaterThan(refused, 0)
        // Only other empty-stack boundaries before the send may stand; they run cleanly.
        XCTAssertLessThan(accepted, refused)
    }

    func testNamesWithControlCharactersAreRefused() throws {
        var b = Self.base
        guard let k = b.journeys.firstIndex(where: { if case .daily = $0.trigger { true } else { false } }) else { return XCTFail("no daily journey") }
        b.journeys[k].name = "\u{0}" + b.journeys[k].name
        XCTAssertEqual(try run(b.encode()), .refused)
    }

    /// A stored instance whose position was damaged fails with a reason instead of resuming
    /// in the middle of an instruction.
    func testADamagedInstancePositionFailsOnlyThatInstance() throws {
        let store = try SQLiteStore(path: ":memory:")
        let engine = try Engine(store: store)
        try engine.deploy(Self.base.encode(), at: 0)
        guard let schema = engine.schema else { return XCTFail() }
        try engine.importProfiles(ProfileInput.parseJSONLines(Self.profiles, schema: schema).compactMap { try? $0.get() })
        let file = EventInput.parseFile(Self.events, schema: schema, parts: 1)
        _ = try engine.ingest(file, source: "events.jsonl")
        let start = file.events.map(\.event.at).min() ?? 0
        try engine.run(until: start + 60, start: start)
        try store.db.exec("UPDATE instances SET pc = pc + 1 WHERE status = 'active'")
        let damaged = try store.db.prepare("SELECT COUNT(*) FROM instances WHERE status = 'active'")
        XCTAssertTrue(try damaged.step())
        let n = damaged.int(0)
        XCTAssertGreaterThan(n, 0)
        try engine.run(until: start + 20 * 86400)
        let stopped = try store.rejects().filter { $0.reason.contains("is not a place where journey") }
        XCTAssertGreaterThan(stopped.count, 0)
        XCTAssertLessThanOrEqual(stopped.count, n)
    }

    // MARK: - Random mutants

    func testMutatedBundlesAreRefusedOrRunCleanly() throws {
        // JOURNEY_FUZZ_SEED and JOURNEY_FUZZ_COUNT run other or longer campaigns by hand.
        let env = ProcessInfo.processInfo.environment
        var rng = SeededRandom(state: env["JOURNEY_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x4A52_4E59)
        var refused = 0, ran = 0, failed = 0
        let count = env["JOURNEY_FUZZ_COUNT"].flatMap { Int($0) } ?? 1200
        for _ in 0..<count {
            var b = Self.base
            Self.mutate(&b, &rng)
            switch try run(b.encode()) {
            case .refused: refused += 1
            case .ran(let f): ran += 1; failed += f
            }
        }
        // Both ends must be exercised, or the mutations are not reaching the VM.
        XCTAssertGreaterThan(refused, count / 10, "refused \(refused), ran \(ran)")
        XCTAssertGreaterThan(ran, count / 10, "refused \(refused), ran \(ran)")
        print("bundle fuzz: \(count) mutants, \(refused) refused, \(ran) ran (\(failed) instances failed with a reason)")
    }

    static func pick<T>(_ a: [T], _ rng: inout SeededRandom) -> Int? { a.isEmpty ? nil : Int.random(in: 0..<a.count, using: &rng) }

    static func interesting(_ limit: Int, _ rng: inout SeededRandom) -> Int {
        [0, 1, limit - 1, limit, limit + 1, 0xFF, 0xFFFF, Int.random(in: 0...max(0, limit * 2), using: &rng)].randomElement(using: &rng) ?? 0
    }

    /// One change to one field of the bundle.
    static func mutate(_ b: inout JourneyBundle, _ rng: inout SeededRandom) {
        guard let j = pick(b.journeys, &rng) else { return }
        let fCount = b.journeys[j].functions.count
        let f = Int.random(in: 0..<fCount, using: &rng)
        let code = b.journeys[j].functions[f].code
        switch Int.random(in: 0..<14, using: &rng) {
        case 0, 1, 2: // a byte of code
            guard !code.isEmpty else { return }
            let i = Int.random(in: 0..<code.count, using: &rng)
            b.journeys[j].functions[f].code[i] = UInt8.random(in: 0...255, using: &rng)
        case 3, 4: // an operand of an instruction, set to a boundary value
            var starts: [Int] = []
            var pc = 0
            while pc < code.count, let op = Opcode(rawValue: code[pc]) { if !op.info.operands.isEmpty { starts.append(pc) }; pc += op.info.size }
            guard let s = starts.randomElement(using: &rng), let op = Opcode(rawValue: code[s]) else { return }
            let k = Int.random(in: 0..<op.info.operands.count, using: &rng)
            let width = op.info.operands[k].rawValue
            let offset = 1 + op.info.operands[0..<k].reduce(0) { $0 + $1.rawValue }
            let v = interesting(code.count, &rng)
            for i in 0..<width { b.journeys[j].functions[f].code[s + offset + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) }
        case 5: // a send's restart
            guard let s = pick(b.journeys[j].sends, &rng) else { return }
            b.journeys[j].sends[s].restart = Int.random(in: 0...max(0, b.journeys[j].functions[0].code.count), using: &rng)
        case 6: // the trigger and its alias
            b.journeys[j].bindsTrigger.toggle()
            if Bool.random(using: &rng) {
                b.journeys[j].trigger = .daily(interesting(1440, &rng))
            } else {
                b.journeys[j].trigger = .event(interesting(b.schema.events.count, &rng))
            }
        case 7: // the number of locals
            b.journeys[j].localCount = max(0, b.journeys[j].localCount + Int.random(in: -2...2, using: &rng))
        case 8: // the header's predicates
            let p = Bool.random(using: &rng) ? nil : interesting(fCount, &rng)
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: b.journeys[j].when = p
            case 1: b.journeys[j].onWhere = p
            default: if !b.journeys[j].goals.isEmpty { b.journeys[j].goals[0].predicate = p }
            }
        case 9: // a constant's kind
            guard let c = pick(b.constants, &rng) else { return }
            b.constants[c] = [.int(0), .int(-1), .duration(0), .duration(-5), .duration(Int64.max), .string(""), .none, .bool(true),
                              .time(Int64.min), .money(Int64.max), .date(Int32.max)].randomElement(using: &rng) ?? .none
        case 10: // code cut short, or the functions swapped
            if Bool.random(using: &rng), fCount > 1 {
                b.journeys[j].functions.swapAt(0, Int.random(in: 1..<fCount, using: &rng))
            } else if !code.isEmpty {
                b.journeys[j].functions[f].code.removeLast(Int.random(in: 1...code.count, using: &rng))
            }
        case 11: // a type in the schema
            let types: [FieldType] = [.int, .string, .bool, .money, .time, .optional(.string), .list(.int)]
            if Bool.random(using: &rng), let a = pick(b.schema.attributes, &rng) {
                b.schema.attributes[a].type = types.randomElement(using: &rng) ?? .int
            } else if let e = pick(b.schema.events, &rng), let fi = pick(b.schema.events[e].fields, &rng) {
                b.schema.events[e].fields[fi].type = types.randomElement(using: &rng) ?? .int
            }
        case 12: // a name
            let bad = ["", "\u{0}", "a b", "x\"; DROP TABLE outbox; --", "é", String(repeating: "n", count: 200)].randomElement(using: &rng) ?? ""
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: b.journeys[j].name = bad
            case 1: if let a = pick(b.schema.attributes, &rng) { b.schema.attributes[a].name = bad }
            default: if let e = pick(b.schema.events, &rng) { b.schema.events[e].name = bad }
            }
        default: // a send's channel or shape
            guard let s = pick(b.journeys[j].sends, &rng), let l = pick(b.journeys[j].sends[s].links, &rng) else { return }
            if Bool.random(using: &rng) {
                b.journeys[j].sends[s].links[l].channel = ["push", "sms", "fax", ""].randomElement(using: &rng) ?? ""
            } else {
                b.journeys[j].sends[s].links[l].shape = [.value, .literal("x"), .object([("a", .value), ("b", .value)])].randomElement(using: &rng) ?? .value
            }
        }
    }
}

/// Issue 8, section 1: a value that is none where the schema promised one is a fault, and a
/// fault undoes the step for its instance (no update, no message, no half-message).
final class FaultRollbackTests: XCTestCase {
    func compile(_ schema: String, _ flows: String) throws -> [UInt8] {
        let trees = [Parser.parse(SourceFile(path: "schema.journey", text: schema)), Parser.parse(SourceFile(path: "flows.journey", text: flows))]
        let result = check(trees)
        XCTAssertFalse(result.hasErrors, "\(result.diagnostics.map(\.message))")
        return try Compiler.compile(trees, result).encode()
    }

    func testNoneWhereAValueIsPromisedFailsTheInstanceAndUndoesItsStep() throws {
        let schema = "profile {\n  first_name: string\n  email: string?\n  loyalty_points: int\n  bonus: int = 0\n  divisor: int\n}\nevent order_placed { order_id: string }\nchannel email address profile.email\n"
        let flows = """
        journey loyalty {
          on order_placed
          goal order_placed where order_id == "never"
          reentry always
          set profile.loyalty_points = profile.loyalty_points + profile.bonus
          email "you have {profile.loyalty_points} points"
        }
        journey half {
          on order_placed
          goal order_placed where order_id == "never"
          reentry always
          email "first of two"
          set profile.first_name = "Changed"
          email "second: {100 / profile.divisor}"
        }

        """
        let store = try SQLiteStore(path: ":memory:")
        let engine = try Engine(store: store)
        try engine.deploy(try compile(schema, flows), at: 0)
        guard let s = engine.schema else { return XCTFail() }
        try engine.importProfiles(ProfileInput.parseJSONLines(Array(#"{"id": "ana", "first_name": "Ana", "email": "a@x", "loyalty_points": 1200, "bonus": 5, "divisor": 0}"#.utf8), schema: s).compactMap { try? $0.get() })
        // The stored bonus is lost (a damaged row, or an attribute removed and added back).
        try store.db.exec("UPDATE profiles SET bonus = NULL")
        _ = try engine.ingest(EventInput.parseFile(Array(#"{"profile": "ana", "event": "order_placed", "at": "2025-03-01T10:00:00Z", "data": {"order_id": "o1"}}"#.utf8), schema: s, parts: 1), source: "e")
        try engine.run(until: 1_741_000_000)
        XCTAssertEqual(try store.outbox(afterSeq: 0, limit: 100).count, 0, "no message of a failed step goes out")
        try store.begin()
        let ana = try store.loadProfile("ana")
        try store.commit()
        XCTAssertEqual(ana?[2], .int(1200), "the points are not replaced by none")
        XCTAssertEqual(ana?[0], .string("Ana"), "the other instance's update is undone with its step")
        let failed = try store.instanceSummaries(journey: nil, status: "failed", limit: 10)
        XCTAssertEqual(failed.map(\.journey).sorted(), ["half", "loyalty"])
        XCTAssertTrue(failed.first { $0.journey == "loyalty" }?.reason?.contains("profile.bonus has no value, though the schema says it always has one") ?? false, "\(failed)")
        XCTAssertTrue(failed.first { $0.journey == "half" }?.reason?.contains("division by zero; its 1 message of this step was not sent") ?? false, "\(failed)")
    }
}

/// Resumable ingest at the engine: an ingest that stops after a commit goes on from there,
/// and one that started from a stale reading of the progress is stopped before it adds anything.
final class ResumableIngestTests: XCTestCase {
    struct Crash: Error {}

    func testAStoppedIngestGoesOnAndAStaleOneIsStopped() throws {
        let schemaText = "profile { first_name: string }\nevent signup { source: string }\n"
        let trees = [Parser.parse(SourceFile(path: "schema.journey", text: schemaText))]
        let bundle = try Compiler.compile(trees, check(trees)).encode()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("journey-resume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("j.db").path
        let engine = try Engine(store: SQLiteStore(path: path))
        try engine.deploy(bundle, at: 0)
        guard let schema = engine.schema else { return XCTFail() }
        try engine.importProfiles([ProfileRow(id: "a", values: [.string("A")])])
        let text = (1...10).map { "{\"profile\": \"a\", \"event\": \"signup\", \"at\": \"2025-03-01T10:00:0\($0 % 10)Z\", \"data\": {\"source\": \"s\($0)\"}}\n" }.joined() + "oops\n"
        let bytes = Array(text.utf8)
        let file = EventInput.parseFile(bytes, schema: schema, parts: 1)
        // One piece per line; the ingest dies after its second piece (one commit of 2 lines).
        func pieces(crashAfter: Int?) -> () throws -> IngestPiece? {
            var k = 0
            return {
                defer { k += 1 }
                if let c = crashAfter, k == c { throw Crash() }
                guard k < 11 else { return nil }
                return IngestPiece(events: file.events.filter { $0.line == k + 1 }[...], errors: file.errors.filter { $0.line == k + 1 }, throughLine: k + 1)
            }
        }
        XCTAssertThrowsError(try engine.ingest(pieces: pieces(crashAfter: 3), of: bytes, source: "e", file: "F", transactionSize: 2))
        let progress = try XCTUnwrap(engine.store.ingestProgress(file: "F"))
        XCTAssertEqual(progress.lines, 2)
        XCTAssertFalse(progress.complete)
        // A second ingest that read no progress (it started before the first committed) stops.
        XCTAssertThrowsError(try engine.ingest(pieces: pieces(crashAfter: nil), of: bytes, source: "e", file: "F", resuming: nil, transactionSize: 2)) {
            XCTAssertTrue($0 is IngestConflict, "\($0)")
        }
        let summary = try engine.ingest(pieces: pieces(crashAfter: nil), of: bytes, source: "e", file: "F", resuming: progress, transactionSize: 2)
        XCTAssertEqual(summary.ingested, 10)
        XCTAssertEqual(summary.rejected.map(\.line), [11])
        XCTAssertEqual(try engine.store.ingestProgress(file: "F")?.complete, true)
        try engine.run(until: 1_741_000_000)
        XCTAssertEqual(try engine.store.historyCount(profile: "a", event: "signup", since: nil), 10, "no event twice")
        XCTAssertEqual(try engine.store.rejects().count, 1, "the bad line is kept once")
    }
}
