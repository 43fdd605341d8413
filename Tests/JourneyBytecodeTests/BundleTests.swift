import Foundation
import XCTest
import JourneyDiagnostics
@testable import JourneyBytecode
import JourneySemantics
import JourneySyntax

let repoRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func compileExamples() throws -> JourneyBundle {
    let dir = repoRoot.appendingPathComponent("examples")
    let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".journey") }.sorted()
    let trees = try names.map { Parser.parse(SourceFile(path: "examples/" + $0, bytes: [UInt8](try Data(contentsOf: dir.appendingPathComponent($0))))) }
    let result = check(trees)
    XCTAssertFalse(result.hasErrors)
    return try Compiler.compile(trees, result)
}

final class BundleTests: XCTestCase {
    func testRoundTripAndDeterminism() throws {
        let bundle = try compileExamples()
        let bytes = bundle.encode()
        XCTAssertEqual(try compileExamples().encode(), bytes, "the same project must compile to the same bytes")
        let loaded = try JourneyBundle.load(bytes)
        XCTAssertEqual(loaded.journeys.map(\.name), bundle.journeys.map(\.name))
        XCTAssertEqual(loaded.constants, bundle.constants)
        XCTAssertEqual(loaded.schema, bundle.schema)
        XCTAssertEqual(loaded.encode(), bytes)
        XCTAssertTrue(loaded.journeys.allSatisfy { $0.functions.allSatisfy { $0.maxStack > 0 } })
    }

    /// The events whose history the examples read record by record, in any condition or step
    /// (history queries, `top`): a store caches no other event's history.
    func testTheEventsWhoseHistoryIsRead() throws {
        let bundle = try compileExamples()
        XCTAssertEqual(bundle.historyEvents, ["item_purchased", "new_arrival", "order_placed", "product_returned", "product_viewed"])
        XCTAssertTrue(bundle.schema.events.contains { $0.name == "cart_abandoned" }, "a trigger only, never read back")
    }

    /// Bundles and journeys share their fields between copies until one is changed: a changed
    /// copy leaves the original (and the other copies) as they were, and equality and hashing
    /// go by the fields, not by which box holds them.
    func testCopiesOfABundleStayValues() throws {
        let bundle = try compileExamples()
        var copy = bundle
        XCTAssertEqual(copy, bundle)
        copy.journeys[0].title = "Another title"
        copy.schema.capCount = (bundle.schema.capCount ?? 0) + 1
        XCTAssertNotEqual(copy.journeys[0].title, bundle.journeys[0].title)
        XCTAssertNotEqual(copy.schema.capCount, bundle.schema.capCount)
        XCTAssertNotEqual(copy, bundle)
        var journey = bundle.journeys[0]
        let before = journey
        journey.steps = []
        journey.localCount += 1
        XCTAssertEqual(before, bundle.journeys[0], "the copy taken first is unchanged")
        XCTAssertNotEqual(journey, before)
        // Equal fields in different boxes are equal, and hash alike.
        let decoded = try compileExamples()
        XCTAssertEqual(decoded, bundle)
        XCTAssertEqual(Set([decoded, bundle]).count, 1)
        XCTAssertEqual(Set(decoded.journeys + bundle.journeys).count, bundle.journeys.count)
    }

    func testEveryTruncationIsRefused() throws {
        let bytes = try compileExamples().encode()
        for n in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 300)) {
            XCTAssertThrowsError(try JourneyBundle.load(Array(bytes[0..<n])), "length \(n)") { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("truncated") || text.contains("magic"), "length \(n): \(text)")
            }
        }
    }

    /// A bundle with a checksum and fingerprint made to match, but a name that is not a name
    /// (SQL in an attribute, a NUL in a journey's name), is refused by the verifier.
    func testNamesThatAreNotIdentifiersAreRefused() throws {
        let bundle = try compileExamples()
        func refused(_ change: (inout JourneyBundle) -> Void, _ expected: String, line: UInt = #line) {
            var b = bundle
            change(&b)
            XCTAssertThrowsError(try JourneyBundle.load(b.encode()), line: line) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error)", line: line)
            }
        }
        refused({ $0.schema.attributes[1].name = #"city" TEXT; CREATE TABLE pwned(x); DROP TABLE outbox; --"# }, "a profile attribute is named 'city\" TEXT;")
        refused({ $0.journeys[0].name = "\u{0}" + $0.journeys[0].name }, "a journey is named '\\u{0}")
        refused({ $0.schema.events[0].name = "order placed" }, "an event is named 'order placed'")
        refused({ $0.schema.events[0].fields[0].name = "" }, "a field of event")
        refused({ $0.schema.attributes[1].name = "id" }, "named 'id'")
        refused({ $0.schema.attributes[1].name = $0.schema.attributes[0].name.uppercased() }, "differing only in case")
        refused({ $0.schema.attributes[1].name = String(repeating: "a", count: 129) }, "at most 128")
    }

    /// Every statement is a step with its source position, and the code marks each step and
    /// branch: a split's branches carry their labels, and its control is the branch labelled
    /// `control` or else the only one that sends nothing.
    func testStepTableAndMarks() throws {
        let bundle = try compileExamples()
        let bytes = bundle.encode()
        XCTAssertEqual(Int(bytes[8]), 4, "the examples use lists and format(): format 4, which has the step table of format 3")
        guard let winback = bundle.journey(named: "winback") else { return XCTFail("no winback") }
        let split = try XCTUnwrap(winback.steps.first)
        XCTAssertEqual(split.kind, .split)
        XCTAssertEqual(split.line, 9)
        XCTAssertEqual(split.column, 3)
        XCTAssertEqual(split.branches, ["holdout", "offer"])
        XCTAssertEqual(split.control, 0, "holdout is the only branch that sends nothing")
        XCTAssertEqual(winback.steps.map(\.kind), [.split, .wait, .if, .send, .if, .send, .send, .wait, .send, .wait, .send])
        XCTAssertEqual(winback.steps[4].label, "else if sum(order_placed.total within 365d) >= 1000")
        XCTAssertEqual(winback.steps[8].label, "push else sms")
        XCTAssertEqual(winback.steps[8].send, 3)
        // Each step is marked reached once, and each of its branches once.
        var marks: [[Int]] = []
        let code = winback.functions[0].code
        var pc = 0
        while pc < code.count, let op = Opcode(rawValue: code[pc]) {
            if op == .mark { marks.append(Verifier.operands(code, pc, op.info)) }
            pc += op.size
        }
        for (i, s) in winback.steps.enumerated() {
            for k in 0...s.branches.count {
                XCTAssertEqual(marks.filter { $0 == [i, k] }.count, 1, "step \(i) outcome \(k)")
            }
        }
        XCTAssertEqual(marks.count, winback.steps.reduce(0) { $0 + 1 + $1.branches.count })
        // The step table survives the round trip.
        XCTAssertEqual(try JourneyBundle.load(bytes).journey(named: "winback")?.steps, winback.steps)
    }

    /// A mark naming a step the table does not have, or a branch its step does not have, is
    /// refused; so is code with marks in a bundle without a step table (format 1 or 2).
    func testMarksOutsideTheStepTableAreRefused() throws {
        let end = Opcode.end.rawValue
        let mark = Opcode.mark.rawValue
        XCTAssertTrue(reason(bundle(main: [mark, 0, 0, 0, end])).contains("step 0 does not exist (the journey has 0)"))
        var b = try compileExamples()
        for i in b.journeys.indices { b.journeys[i].steps = [] }
        b.journeys.removeAll { $0.forEach != nil || $0.functions.contains(where: \.usesFormat4) }
        for i in b.schema.events.indices { b.schema.events[i].catalog = false }
        b.sources = []
        XCTAssertLessThan(b.neededVersion, 3)
        XCTAssertTrue(reason(b.encode()).contains("does not exist (the journey has 0)"), reason(b.encode()))
        b = try compileExamples()
        let w = try XCTUnwrap(b.journeys.firstIndex { $0.name == "winback" })
        b.journeys[w].steps[0].branches.removeLast()
        XCTAssertTrue(reason(b.encode()).contains("has no branch 2"), reason(b.encode()))
        b = try compileExamples()
        b.journeys[w].steps[0].control = 7
        XCTAssertTrue(reason(b.encode()).contains("names control branch 7"), reason(b.encode()))
    }

    /// A format 3 bundle carries its journeys' source; one written before the source texts were
    /// added (ending after the journeys) still loads, without them.
    func testSourcesRideAlongAndMayBeAbsent() throws {
        let b = try compileExamples()
        XCTAssertEqual(b.sources.map(\.path), b.sources.map(\.path).sorted())
        let winback = try XCTUnwrap(b.journey(named: "winback"))
        XCTAssertTrue(try XCTUnwrap(b.source(of: winback)).contains("journey winback"))
        var bare = b
        bare.sources = []
        var bytes = bare.encode()
        // Drop the (empty) source count and the checksum; patch the length; checksum again.
        bytes.removeLast(8)
        let total = bytes.count + 4
        for i in 0..<4 { bytes[12 + i] = UInt8(truncatingIfNeeded: total >> (8 * i)) }
        let crc = crc32(bytes)
        for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i)))) }
        let loaded = try JourneyBundle.load(bytes)
        XCTAssertEqual(loaded.sources, [])
        XCTAssertEqual(loaded.journey(named: "winback")?.steps, winback.steps)
    }

    func testDamageIsRefused() throws {
        let bytes = try compileExamples().encode()
        var bad = bytes
        bad[0] ^= 0xFF
        XCTAssertEqual(try? JourneyBundle.load(bad), nil)
        XCTAssertThrowsError(try JourneyBundle.load(bad)) { XCTAssertEqual($0 as? BundleError, .badMagic) }
        bad = bytes
        bad[8] = 99
        XCTAssertThrowsError(try JourneyBundle.load(bad)) { XCTAssertEqual($0 as? BundleError, .unsupportedVersion(99)) }
        // Any flipped byte in the body fails the checksum.
        for i in stride(from: 24, to: bytes.count - 4, by: max(1, bytes.count / 200)) {
            bad = bytes
            bad[i] ^= 0x40
            XCTAssertThrowsError(try JourneyBundle.load(bad), "byte \(i)") { error in
                guard case .badChecksum = error as? BundleError else { return XCTFail("byte \(i): \(error)") }
            }
        }
        XCTAssertThrowsError(try JourneyBundle.load(bytes + [0])) { error in
            XCTAssertTrue("\(error)".contains("unexpected bytes"), "\(error)")
        }
    }

    /// A one-journey bundle around hand-written main code, for the verifier.
    func bundle(main: [UInt8], predicate: [UInt8]? = nil, constants: [Value] = [.duration(3600), .int(1)], locals: Int = 1) -> [UInt8] {
        var schema = RuntimeSchema()
        schema.attributes = [FieldDef(name: "email", type: .optional(.string))]
        schema.events = [EventDef(name: "e", fields: [FieldDef(name: "x", type: .int)])]
        schema.channels = [ChannelDef(kind: "email", address: 0, consent: nil)]
        var functions = [Function(isPredicate: false, code: main, lines: [LineEntry(pc: 0, line: 3)])]
        if let p = predicate { functions.append(Function(isPredicate: true, code: p, lines: [])) }
        let j = CompiledJourney(name: "j", title: "", sourcePath: "j.journey", trigger: .event(0), bindsTrigger: true, onWhere: nil, when: nil,
                                goals: [], exits: [], reentry: .whileActive, localCount: locals, functions: functions,
                                sends: [SendDef(restart: 0, links: [SendLinkDef(channel: "email", shape: .object([("body", .value)]))])])
        return JourneyBundle(schema: schema, constants: constants, journeys: [j]).encode()
    }

    func reason(_ bytes: [UInt8]) -> String {
        do {
            _ = try JourneyBundle.load(bytes)
            return "accepted"
        } catch {
            if case .verification(_, _, _, let why) = error { return why }
            return "\(error)"
        }
    }

    func testVerifierRefusesBadCode() {
        let end = Opcode.end.rawValue
        XCTAssertEqual(reason(bundle(main: [Opcode.wait.rawValue, 0, 0, end])), "accepted")
        XCTAssertTrue(reason(bundle(main: [Opcode.constant.rawValue, 9, 0, Opcode.pop.rawValue, end])).contains("constant 9 is out of range"))
        XCTAssertTrue(reason(bundle(main: [Opcode.jump.rawValue, 2, 0, 0, 0, end])).contains("not the start of an instruction"))
        XCTAssertTrue(reason(bundle(main: [Opcode.pop.rawValue, end])).contains("needs 1 value but the stack holds 0"))
        XCTAssertTrue(reason(bundle(main: [Opcode.pushTrue.rawValue, Opcode.wait.rawValue, 0, 0, end])).contains("suspends with 1 value on"))
        XCTAssertTrue(reason(bundle(main: [Opcode.wait.rawValue, 1, 0, end])).contains("not a positive duration"))
        XCTAssertTrue(reason(bundle(main: [Opcode.pushTrue.rawValue])).contains("runs off its end"))
        XCTAssertTrue(reason(bundle(main: [Opcode.wait.rawValue, 0])).contains("cut short"))
        XCTAssertTrue(reason(bundle(main: [200, end])).contains("unknown opcode 200"))
        XCTAssertTrue(reason(bundle(main: [Opcode.local.rawValue, 5, Opcode.pop.rawValue, end])).contains("local 5 is out of range"))
        XCTAssertTrue(reason(bundle(main: [end], predicate: [Opcode.wait.rawValue, 0, 0, Opcode.pushTrue.rawValue, Opcode.returnValue.rawValue])).contains("not allowed in a predicate"))
        XCTAssertTrue(reason(bundle(main: [Opcode.returnValue.rawValue])).contains("only allowed in a predicate"))
        // A send pops its values: the chain has one.
        XCTAssertEqual(reason(bundle(main: [Opcode.constant.rawValue, 1, 0, Opcode.send.rawValue, 0, 0, end])), "accepted")
        XCTAssertTrue(reason(bundle(main: [Opcode.send.rawValue, 0, 0, end])).contains("needs 1 value but"))
        // Code only goes forward: a jump back would loop forever.
        XCTAssertTrue(reason(bundle(main: [Opcode.pushTrue.rawValue, Opcode.pop.rawValue, Opcode.jump.rawValue, 0, 0, 0, 0, end])).contains("jumps back to 0"))
        // Paths that meet with different stack depths.
        XCTAssertTrue(reason(bundle(main: [Opcode.pushTrue.rawValue, Opcode.jumpIfFalse.rawValue, 7, 0, 0, 0, Opcode.pushTrue.rawValue, Opcode.pop.rawValue, end]))
            .contains("deep on one path"))
    }

    func testListAndFormatInstructionsAreVerified() {
        let end = Opcode.end.rawValue, pop = Opcode.pop.rawValue, one = [Opcode.constant.rawValue, 1, 0]
        let spec: [Value] = [.duration(3600), .int(1), .string("t|en-GB|EEE d MMM")]
        // Two items into a list, then a list and an item into `contains`.
        XCTAssertEqual(reason(bundle(main: one + one + [Opcode.makeList.rawValue, 2, pop, end])), "accepted")
        XCTAssertTrue(reason(bundle(main: one + [Opcode.makeList.rawValue, 2, pop, end])).contains("make_list needs 2 values but the stack holds 1"))
        XCTAssertEqual(reason(bundle(main: one + one + [Opcode.contains.rawValue, pop, end])), "accepted")
        XCTAssertTrue(reason(bundle(main: one + [Opcode.contains.rawValue, pop, end])).contains("needs 2 values"))
        // join takes two arguments, size one; percent and format are not `builtin`s.
        XCTAssertEqual(reason(bundle(main: one + one + [Opcode.builtin.rawValue, Builtin.join.rawValue, pop, end])), "accepted")
        XCTAssertTrue(reason(bundle(main: one + [Opcode.builtin.rawValue, Builtin.join.rawValue, pop, end])).contains("needs 2 values"))
        XCTAssertTrue(reason(bundle(main: one + [Opcode.builtin.rawValue, 99, pop, end])).contains("unknown built-in function 99"))
        XCTAssertTrue(reason(bundle(main: one + [Opcode.builtin.rawValue, Builtin.format.rawValue, pop, end])).contains("unknown built-in"))
        // count_all names a profile event, one of its fields, a window, and distinct or not.
        let countAll = Opcode.countAll.rawValue
        XCTAssertEqual(reason(bundle(main: one + [countAll, 0, 0, 0, 0, 0, 1, pop, end])), "accepted")
        XCTAssertTrue(reason(bundle(main: one + [countAll, 1, 0, 0, 0xFF, 0xFF, 0, pop, end])).contains("not a profile event"))
        XCTAssertTrue(reason(bundle(main: one + [countAll, 0, 0, 3, 0xFF, 0xFF, 0, pop, end])).contains("does not have"))
        XCTAssertTrue(reason(bundle(main: one + [countAll, 0, 0, 0, 1, 0, 0, pop, end])).contains("not a positive duration"))
        XCTAssertTrue(reason(bundle(main: one + [countAll, 0, 0, 0, 0xFF, 0xFF, 2, pop, end])).contains("distinct 2"))
        XCTAssertTrue(reason(bundle(main: [countAll, 0, 0, 0, 0xFF, 0xFF, 0, pop, end])).contains("needs 1 value"))
        // `format` names a string constant that is a valid spec.
        XCTAssertEqual(reason(bundle(main: one + [Opcode.format.rawValue, 2, 0, pop, end], constants: spec)), "accepted")
        XCTAssertTrue(reason(bundle(main: one + [Opcode.format.rawValue, 1, 0, pop, end], constants: spec)).contains("constant 1 is not a format"))
        for bad in ["t|en-GB|QQQ", "d|en|HH:mm", "M|en|EURO", "n|en|0.0.0", "x|en|", "t|not a locale|", "t|en", "p|en|0"] {
            XCTAssertTrue(reason(bundle(main: one + [Opcode.format.rawValue, 2, 0, pop, end], constants: [.duration(1), .int(1), .string(bad)])).contains("is not a format"), bad)
        }
    }

    /// A predicate may only run predicates compiled before it (history queries, repeated
    /// texts): a bundle whose calls go round is refused rather than recursing without end.
    func testPredicatesCannotCallRound() {
        let end = Opcode.end.rawValue, pop = Opcode.pop.rawValue, ret = Opcode.returnValue.rawValue
        // Predicate 1 queries the history with itself as the condition.
        let selfCall: [UInt8] = [Opcode.history.rawValue, 0, 0, 0, 0xFF, 1, 0, 0xFF, 0xFF, ret]
        XCTAssertTrue(reason(bundle(main: [end], predicate: selfCall)).contains("predicate 1 runs predicate 1, which is not an earlier one"))
        // Predicate 1 repeats a text with itself.
        let one = [Opcode.constant.rawValue, 1, 0]
        XCTAssertTrue(reason(bundle(main: [end], predicate: one + [Opcode.mapText.rawValue, 1, 0, 0, ret])).contains("not an earlier one"))
        // The main code may run any predicate.
        XCTAssertEqual(reason(bundle(main: one + [Opcode.makeList.rawValue, 1, Opcode.mapText.rawValue, 1, 0, 0, pop, end], predicate: one + [ret])), "accepted")
    }

    func testFormat4OnlyWhenItsInstructionsAreUsed() throws {
        let plain = try JourneyBundle.load(bundle(main: [Opcode.end.rawValue]))
        XCTAssertEqual(plain.neededVersion, 1)
        let lists = bundle(main: [Opcode.constant.rawValue, 1, 0, Opcode.makeList.rawValue, 1, Opcode.pop.rawValue, Opcode.end.rawValue])
        XCTAssertEqual(lists[8], 4)
        XCTAssertEqual(try JourneyBundle.load(lists).encode(), lists)
        // An operand byte that happens to equal a format-4 opcode does not count.
        let operand = bundle(main: [Opcode.constant.rawValue, Opcode.makeList.rawValue, 0, Opcode.pop.rawValue, Opcode.end.rawValue],
                             constants: Array(repeating: .int(1), count: 60))
        XCTAssertEqual(operand[8], 1)
    }

    func testDisassemblyShowsSourceLines() throws {
        let bundle = try compileExamples()
        let text = Disassembler.listing(bundle, bytes: 0) { path in
            (try? String(contentsOf: repoRoot.appendingPathComponent(path), encoding: .utf8))?.components(separatedBy: "\n")
        }
        XCTAssertTrue(text.contains("journey abandoned_cart \"Omnichannel abandoned cart recovery\""))
        XCTAssertTrue(text.contains("; line 8: wait 1h"))
        XCTAssertTrue(text.contains("wait_for      push_opened within"))
        XCTAssertTrue(text.contains("send          push else whatsapp"))
    }
}
