import XCTest
import JourneyBytecode
@testable import JourneyRuntime

/// The one-pass reading of event lines (`FastEventLine`) against the full one
/// (`EventInput.validateFully`): whatever the first accepts, the second accepts as the same
/// event, and `validate` (the first, then the second) answers as the second alone would.
final class FastEventLineTests: XCTestCase {
    static let schema: RuntimeSchema = {
        var s = RuntimeSchema()
        s.events = [
            EventDef(name: "order_placed", fields: [FieldDef(name: "order_id", type: .string), FieldDef(name: "total", type: .money),
                                                    FieldDef(name: "note", type: .optional(.string))]),
            EventDef(name: "session", fields: [FieldDef(name: "length", type: .duration), FieldDef(name: "pages", type: .list(.int)),
                                               FieldDef(name: "ratio", type: .decimal), FieldDef(name: "returning", type: .optional(.bool))]),
            EventDef(name: "push_opened", fields: []),
            EventDef(name: "price_drop", fields: [FieldDef(name: "sku", type: .string)], catalog: true),
            // A field named with the Kelvin sign, equal as text to "K": never matched by bytes.
            EventDef(name: "temperature", fields: [FieldDef(name: "\u{212A}", type: .int)]),
            // Two names equal as text (no checked schema has them; a bundle could be made by hand).
            EventDef(name: "kelvin_pair", fields: [FieldDef(name: "\u{212A}", type: .optional(.int)), FieldDef(name: "K", type: .optional(.int))]),
        ]
        return s
    }()

    enum Outcome: Equatable {
        case success(IncomingEvent)
        case reject(String)
        var fields: [Value]? { if case .success(let e) = self { e.fields } else { nil } }
    }

    func read(_ line: String, _ f: (UnsafeBufferPointer<UInt8>) -> Result<IncomingEvent, EventInput.Reject>) -> Outcome {
        switch Array(line.utf8).withUnsafeBufferPointer({ f($0) }) {
        case .success(let e): .success(e)
        case .failure(let r): .reject(r.reason)
        }
    }

    func fast(_ line: String) -> IncomingEvent? {
        Array(line.utf8).withUnsafeBufferPointer { FastEventLine.read($0, schema: Self.schema) }
    }

    func testTheUsualLineIsReadInOnePassAsTheFullReadingReadsIt() throws {
        let line = #"{"profile": "u1", "event": "order_placed", "at": "2025-03-01T10:00:00Z", "data": {"order_id": "o1", "total": "19.90"}}"#
        let e = try XCTUnwrap(fast(line))
        XCTAssertEqual(.success(e), read(line) { EventInput.validateFully($0, schema: Self.schema) })
        XCTAssertEqual(e.fields, [.string("o1"), .money(19_900_000), .none])
        XCTAssertEqual(e.at, 1_740_823_200)
    }

    func testWhatTheOnePassLeavesToTheFullReading() {
        // Each is either a reject or a shape the one pass does not take; `validate` still
        // answers as the full reading does.
        let lines = [
            #"{"event": "order_placed", "data": {"order_id": "o1", "total": 5}, "profile": "u1", "at": "2025-03-01T10:00:00Z"}"#, // fine
            #"{"data": {"order_id": "o1", "total": 5}, "profile": "u1", "event": "order_placed", "at": "2025-03-01T10:00:00Z"}"#, // data first: fine
            #"{"pro\u0066ile": "u1", "event": "push_opened", "at": "2025-03-01T10:00:00Z"}"#, // an escape in a key
            #"{"profile": "u1", "profile": "u2", "event": "push_opened", "at": "2025-03-01T10:00:00Z"}"#,
            #"{"profile": "u1", "event": "push_opened", "at": "2025-03-01T10:00:00Z", "extra": 1}"#,
            #"{"profile": "u1", "event": "temperature", "at": "2025-03-01T10:00:00Z", "data": {"K": 3}}"#, // Kelvin: equal as text
            #"{"profile": "u1", "event": "order_placed", "at": "2025-03-01T10:00:00Z", "data": {"order_id": "o1"}}"#,
            #"{"profile": "u1", "event": "order_placed", "at": "2025-03-01T10:00:00", "data": {"order_id": "o1", "total": 1}}"#,
            #"{"event": "price_drop", "at": "2025-03-01T10:00:00Z", "data": {"sku": "s1"}}"#,
            #"{"profile": "u1", "event": "price_drop", "at": "2025-03-01T10:00:00Z", "data": {"sku": "s1"}}"#,
            #"{"profile": "u1", "event": "push_opened", "at": "2025-03-01T10:00:00Z",}"#,
            #"{"profile": "u1", "event": "order_placed", "at": "2025-03-01T10:00:00Z", "data": {"order_id": "o1", "total": 1, "order_id": "o2"}}"#,
            #"{}"#, "", "[]", #"{"profile": "u1""#,
            #"{"profile": "u1", "event": "kelvin_pair", "at": "2025-03-01T10:00:00Z", "data": {"K": 3}}"#, // the first field equal as text
        ]
        var taken: [Int] = []
        for (k, line) in lines.enumerated() {
            let whole = read(line) { EventInput.validateFully($0, schema: Self.schema) }
            XCTAssertEqual(read(line) { EventInput.validate($0, schema: Self.schema) }, whole, line)
            if let e = fast(line) { taken.append(k); XCTAssertEqual(Outcome.success(e), whole, line) }
        }
        XCTAssertEqual(taken, [0, 1, 8], "only good lines without unusual keys are the one pass's to take")
        XCTAssertEqual(fast(lines[0])?.fields, [.string("o1"), .money(5_000_000), .none])
        XCTAssertEqual(fast(lines[1]), fast(lines[0]), "data before the event reads the same")
        XCTAssertEqual(read(lines[5]) { EventInput.validateFully($0, schema: Self.schema) }.fields, [.int(3)])
        XCTAssertEqual(read(lines[lines.count - 1]) { EventInput.validate($0, schema: Self.schema) }.fields, [.int(3), .none])
    }

    /// Random lines made of usual and unusual pieces: keys in any order, left out, repeated or
    /// unknown, values of every kind, spaces, escapes, truncations.
    func testRandomLinesReadAlikeBothWays() {
        var rng = SystemRandomNumberGenerator()
        let profiles = [#""u1""#, #""u-2""#, "42", #""""#, "null", "true", #""a b""#, #""é""#, #""\u0041""#, "[1]", #""x\"y""#]
        let events = [#""order_placed""#, #""session""#, #""push_opened""#, #""price_drop""#, #""temperature""#, #""nope""#, "3", "null", #""order_place""#]
        let ats = [#""2025-03-01T10:00:00Z""#, #""2025-03-01T10:00:00+02:00""#, #""2025-03-01T10:00:00""#, #""2025-13-01T10:00:00Z""#, "1740823200", #""1969-12-31T23:59:59Z""#, #""2025-03-01""#]
        let ids = [#""e1""#, "7", "null", #""""#, "{}", #""a\nb""#]
        let values = [#""o1""#, "5", "19.90", #""19.90""#, #"" 19.90 ""#, "-3", "1e3", "0.0000001", "true", "false", "null", #""1h30m""#, "3600",
                      "[1, 2]", "[1, \"2\"]", "[]", "{}", #""\u00e9""#, #""2025-03-01""#, "01", "1.", #""x"#, "[1,]"]
        let fieldNames = ["order_id", "total", "note", "length", "pages", "ratio", "returning", "sku", "K", "\u{212A}", "Order_id", "o\\u0072der_id", "zzz"]
        func pick<T>(_ xs: [T]) -> T { xs[Int.random(in: 0..<xs.count, using: &rng)] }
        // Good values by field, so that many lines are good ones.
        let good: [String: [String]] = ["order_id": [#""o1""#, #""o\u00e9""#, "12"], "total": ["5", "19.90", #""19.90""#, #"" 7 ""#],
                                        "note": ["null", #""hi""#], "length": [#""1h30m""#, "3600"], "pages": ["[]", "[1, 2]"],
                                        "ratio": ["0.5", #""2""#], "returning": ["true", "null"], "sku": [#""s1""#], "\u{212A}": ["3"]]
        var event = ""
        func data() -> String {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0: return "null"
            case 1: return pick(values)
            case 2...6:
                guard let def = Self.schema.events.first(where: { "\"\($0.name)\"" == event }) else { return "{}" }
                var fields = def.fields.filter { !$0.type.isOptional || Bool.random(using: &rng) }.map { f in
                    "\"\(f.name)\": " + (Int.random(in: 0..<20, using: &rng) == 0 ? pick(values) : pick(good[f.name] ?? ["1"]))
                }
                if !fields.isEmpty, Int.random(in: 0..<10, using: &rng) == 0 { fields.append(pick(fields)) }
                if Int.random(in: 0..<4, using: &rng) == 0 { fields.shuffle(using: &rng) }
                return "{" + fields.joined(separator: pick([", ", ","])) + "}"
            default:
                let n = Int.random(in: 0...4, using: &rng)
                return "{" + (0..<n).map { _ in "\"\(pick(fieldNames))\"" + pick([": ", ":", " : "]) + pick(values) }.joined(separator: pick([", ", ","])) + "}"
            }
        }
        var taken = 0, total = 0
        for _ in 0..<6000 {
            var members: [String] = []
            // Each member mostly good (the first of its list), sometimes anything.
            func mostly(_ xs: [String], _ goodOnes: Int) -> String { Int.random(in: 0..<3, using: &rng) > 0 ? pick(Array(xs.prefix(goodOnes))) : pick(xs) }
            if Int.random(in: 0..<10, using: &rng) > 0 { members.append("\"profile\": " + mostly(profiles, 3)) }
            event = mostly(events, 5)
            if Int.random(in: 0..<12, using: &rng) > 0 { members.append("\"event\": " + event) }
            if Int.random(in: 0..<12, using: &rng) > 0 { members.append("\"at\": " + mostly(ats, 2)) }
            if Int.random(in: 0..<6, using: &rng) > 0 { members.append("\"data\": " + data()) }
            if Int.random(in: 0..<4, using: &rng) == 0 { members.append("\"id\": " + pick(ids)) }
            if Int.random(in: 0..<15, using: &rng) == 0 { members.append(pick(members.isEmpty ? ["\"x\": 1"] : members)) }
            if Int.random(in: 0..<15, using: &rng) == 0 { members.append("\"" + pick(["Profile", "dat\\u0061", "ids", "eventt"]) + "\": 1") }
            if Int.random(in: 0..<3, using: &rng) > 0 {
                // Mostly the usual order (profile, event, at, data); sometimes shuffled.
                if Int.random(in: 0..<4, using: &rng) == 0 { members.shuffle(using: &rng) }
            }
            var line = pick(["", " ", "\t"]) + "{" + members.joined(separator: pick([", ", ",", " ,\t"])) + "}" + pick(["", " ", "\r", " x"])
            if Int.random(in: 0..<25, using: &rng) == 0 { line = String(line.dropLast(Int.random(in: 1...5, using: &rng))) }
            let whole = read(line) { EventInput.validateFully($0, schema: Self.schema) }
            XCTAssertEqual(read(line) { EventInput.validate($0, schema: Self.schema) }, whole, line)
            if let e = fast(line) {
                taken += 1
                XCTAssertEqual(Outcome.success(e), whole, line)
            }
            if case .success = whole { total += 1 }
        }
        // The test says something only if both kinds of lines were met in numbers.
        XCTAssertGreaterThan(total, 300)
        XCTAssertGreaterThan(taken, total / 3)
        XCTAssertLessThanOrEqual(taken, total)
    }
}
