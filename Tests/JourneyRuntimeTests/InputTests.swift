import XCTest
import JourneyBytecode
@testable import JourneyRuntime

final class InputTests: XCTestCase {
    // MARK: - Fixtures

    static let schema: RuntimeSchema = {
        var s = RuntimeSchema()
        s.attributes = [
            FieldDef(name: "first_name", type: .string),
            FieldDef(name: "email", type: .optional(.string)),
            FieldDef(name: "email_opt_in", type: .bool),
            FieldDef(name: "lifetime_value", type: .money),
            FieldDef(name: "orders_count", type: .int),
            FieldDef(name: "birthday", type: .optional(.date)),
            FieldDef(name: "tags", type: .optional(.list(.string))),
        ]
        s.events = [
            EventDef(name: "cart_abandoned", fields: [
                FieldDef(name: "cart_id", type: .string),
                FieldDef(name: "total", type: .money),
                FieldDef(name: "product_image", type: .url),
                FieldDef(name: "note", type: .optional(.string)),
            ]),
            EventDef(name: "order_placed", fields: [FieldDef(name: "order_id", type: .string), FieldDef(name: "total", type: .money)]),
            EventDef(name: "push_opened", fields: []),
            EventDef(name: "session", fields: [
                FieldDef(name: "length", type: .duration),
                FieldDef(name: "started", type: .time),
                FieldDef(name: "day", type: .date),
                FieldDef(name: "ratio", type: .decimal),
                FieldDef(name: "pages", type: .list(.int)),
                FieldDef(name: "returning", type: .bool),
            ]),
        ]
        return s
    }()

    /// 2025-03-01T10:00:00Z.
    let march1at10: Int64 = 1_740_823_200

    func event(_ line: String, number: Int = 1) -> Result<IncomingEvent, InputError> {
        EventInput.parse(line: Array(line.utf8), number: number, schema: Self.schema)
    }

    func reason(_ line: String, file: StaticString = #filePath, lineNumber: UInt = #line) -> String {
        switch event(line) {
        case .success(let e): XCTFail("accepted: \(e)", file: file, line: lineNumber); return ""
        case .failure(let e): return e.reason
        }
    }

    func accepted(_ line: String, file: StaticString = #filePath, lineNumber: UInt = #line) -> IncomingEvent? {
        switch event(line) {
        case .success(let e): return e
        case .failure(let e): XCTFail("rejected: \(e.reason)", file: file, line: lineNumber); return nil
        }
    }

    func assertContains(_ text: String, _ parts: String..., file: StaticString = #filePath, line: UInt = #line) {
        for p in parts where !text.contains(p) { XCTFail("\(JSON.quote(text)) does not contain \(JSON.quote(p))", file: file, line: line) }
    }

    // MARK: - Events: accepted

    func testValidEvent() throws {
        let line = #"{"profile": "u1", "event": "cart_abandoned", "at": "2025-03-01T10:00:00Z", "data": {"cart_id": "c9", "total": 19.99, "product_image": "https://x.test/a.png"}}"#
        let e = try XCTUnwrap(accepted(line))
        XCTAssertEqual(e, IncomingEvent(profile: "u1", event: 0, at: march1at10,
                                        fields: [.string("c9"), .money(19_990_000), .string("https://x.test/a.png"), .none]))
    }

    func testEventWithoutDataWhenItHasNoFields() throws {
        let e = try XCTUnwrap(accepted(#"{"profile":"u1","event":"push_opened","at":"2025-03-01T10:00:00Z"}"#))
        XCTAssertEqual(e.event, 2)
        XCTAssertEqual(e.fields, [])
        XCTAssertNotNil(accepted(#"{"profile":"u1","event":"push_opened","at":"2025-03-01T10:00:00Z","data":{}}"#))
        XCTAssertNotNil(accepted(#"{"profile":"u1","event":"push_opened","at":"2025-03-01T10:00:00Z","data":null}"#))
    }

    func testOptionalFieldNullOrAbsent() throws {
        let base = #""profile":"u1","event":"cart_abandoned","at":"2025-03-01T10:00:00Z""#
        let withNull = try XCTUnwrap(accepted("{\(base),\"data\":{\"cart_id\":\"c\",\"total\":\"1\",\"product_image\":\"u\",\"note\":null}}"))
        XCTAssertEqual(withNull.fields[3], .none)
        let withNote = try XCTUnwrap(accepted("{\(base),\"data\":{\"note\":\"hi\",\"cart_id\":\"c\",\"total\":\"1\",\"product_image\":\"u\"}}"))
        XCTAssertEqual(withNote.fields, [.string("c"), .money(1_000_000), .string("u"), .string("hi")])
    }

    func testNumericProfileIdIsItsText() throws {
        let e = try XCTUnwrap(accepted(#"{"profile": 1042, "event": "push_opened", "at": "2025-03-01T10:00:00Z"}"#))
        XCTAssertEqual(e.profile, "1042")
    }

    func testEveryFieldType() throws {
        let line = #"{"profile":"u1","event":"session","at":"2025-03-01T10:00:00.250Z","data":{"length":"1h30m","started":"2025-03-01T09:00:00-01:00","day":"2024-02-29","ratio":"-0.000001","pages":[1,2,3],"returning":true}}"#
        let e = try XCTUnwrap(accepted(line))
        XCTAssertEqual(e.at, march1at10)
        XCTAssertEqual(e.fields, [.duration(5400), .time(march1at10), .date(19782), .decimal(-1), .list([.int(1), .int(2), .int(3)]), .bool(true)])
    }

    // MARK: - Events: rejected

    func testMalformedJSON() {
        assertContains(reason(#"{"profile": "u1", "event": }"#), "not valid JSON", "column 28", "expected a value")
        assertContains(reason(#"{"profile": "u1""#), "not valid JSON", "expected ',' or '}'")
        assertContains(reason("{'profile': 'u1'}"), "not valid JSON", "double quotes")
        assertContains(reason(#"{"profile": "u1",}"#), "trailing comma")
        assertContains(reason(#"{"profile": "u1"} x"#), "after the end of the JSON value")
        assertContains(reason(#"["u1"]"#), "must be a JSON object", "found a list")
    }

    func testProfileMissingOrIllTyped() {
        assertContains(reason(#"{"event":"push_opened","at":"2025-03-01T10:00:00Z"}"#), "missing \"profile\"")
        assertContains(reason(#"{"profile":"","event":"push_opened","at":"2025-03-01T10:00:00Z"}"#), "\"profile\" must be a non-empty string", "found an empty string")
        assertContains(reason(#"{"profile":true,"event":"push_opened","at":"2025-03-01T10:00:00Z"}"#), "\"profile\"", "found true")
    }

    func testEventMissingIllTypedOrUnknown() {
        assertContains(reason(#"{"profile":"u1","at":"2025-03-01T10:00:00Z"}"#), "missing \"event\"")
        assertContains(reason(#"{"profile":"u1","event":7,"at":"2025-03-01T10:00:00Z"}"#), "\"event\" must be a string", "found 7")
        XCTAssertEqual(reason(#"{"profile":"u1","event":"cart_abandonned","at":"2025-03-01T10:00:00Z"}"#),
                       #"unknown event "cart_abandonned"; did you mean "cart_abandoned"?"#)
        assertContains(reason(#"{"profile":"u1","event":"Order_Placed","at":"2025-03-01T10:00:00Z"}"#), #"did you mean "order_placed"?"#)
        assertContains(reason(#"{"profile":"u1","event":"signup","at":"2025-03-01T10:00:00Z"}"#),
                       #"unknown event "signup""#, "declared events: cart_abandoned, order_placed, push_opened, session")
    }

    func testAtMissingIllTypedOrWithoutZone() {
        assertContains(reason(#"{"profile":"u1","event":"push_opened"}"#), "missing \"at\"")
        assertContains(reason(#"{"profile":"u1","event":"push_opened","at":1740823200}"#), "\"at\" must be an ISO 8601 time with a zone", "found 1740823200")
        assertContains(reason(#"{"profile":"u1","event":"push_opened","at":"2025-03-01T10:00:00"}"#), "\"at\" has no time zone", "add Z")
        assertContains(reason(#"{"profile":"u1","event":"push_opened","at":"yesterday"}"#), "\"at\" must be an ISO 8601", #"found "yesterday""#)
        assertContains(reason(#"{"profile":"u1","event":"push_opened","at":"2025-02-30T10:00:00Z"}"#), "\"at\" must be an ISO 8601")
    }

    func testISO8601WithOffset() throws {
        let plus = try XCTUnwrap(accepted(#"{"profile":"u1","event":"push_opened","at":"2025-03-01T12:00:00+02:00"}"#))
        XCTAssertEqual(plus.at, march1at10)
        let minus = try XCTUnwrap(accepted(#"{"profile":"u1","event":"push_opened","at":"2025-03-01T05:30:00-0430"}"#))
        XCTAssertEqual(minus.at, march1at10)
        // Offsets past ±18:00 or with 60 minutes or more are typos, not zones.
        for bad in ["+99:99", "+19:00", "+05:60", "-2400"] {
            assertContains(reason(#"{"profile":"u1","event":"push_opened","at":"2025-03-01T05:30:00\#(bad)"}"#), "ISO 8601")
        }
        XCTAssertNotNil(accepted(#"{"profile":"u1","event":"push_opened","at":"2025-03-01T05:30:00+14:00"}"#))
    }

    /// A line of megabytes with an unknown name is refused at once, with a short reason.
    func testHugeUnknownNamesGiveShortReasons() {
        let name = String(repeating: "n", count: 5_000_000)
        let r = reason("{\"profile\": \"u1\", \"event\": \"\(name)\", \"at\": \"2025-03-01T10:00:00Z\"}")
        XCTAssertLessThanOrEqual(r.utf8.count, InputError.reasonLimit + 3)
        XCTAssertTrue(r.hasPrefix("unknown event \"nnn"), String(r.prefix(40)))
        let k = reason("{\"profile\": \"u1\", \"\(name)\": 1}")
        XCTAssertLessThanOrEqual(k.utf8.count, InputError.reasonLimit + 3)
    }

    /// Instants before 1970 (which ran as 1970-01-01) or after 9999 are refused at the door.
    func testInstantsOutsideTheRangeAreRefused() {
        assertContains(reason(#"{"profile":"u1","event":"push_opened","at":"0001-01-01T00:00:00Z"}"#), "outside the times the runtime keeps")
        assertContains(reason(#"{"profile":"u1","event":"push_opened","at":"1969-12-31T23:59:59Z"}"#), "outside the times")
        assertContains(reason(#"{"profile":"u1","event":"push_opened","at":"9999-12-31T23:59:59-01:00"}"#), "outside the times")
        XCTAssertNotNil(accepted(#"{"profile":"u1","event":"push_opened","at":"1970-01-01T00:00:00Z"}"#))
        XCTAssertNotNil(accepted(#"{"profile":"u1","event":"push_opened","at":"9999-12-31T23:59:59Z"}"#))
    }

    func testDataNotAnObject() {
        assertContains(reason(#"{"profile":"u1","event":"order_placed","at":"2025-03-01T10:00:00Z","data":["o1"]}"#),
                       "\"data\" must be an object", "order_placed", "found a list")
        assertContains(reason(#"{"profile":"u1","event":"order_placed","at":"2025-03-01T10:00:00Z","data":"o1"}"#), "\"data\" must be an object")
    }

    func testMissingRequiredField() {
        XCTAssertEqual(reason(#"{"profile":"u1","event":"order_placed","at":"2025-03-01T10:00:00Z","data":{"order_id":"o1"}}"#),
                       #"missing field "total" (money) in data of order_placed"#)
        XCTAssertEqual(reason(#"{"profile":"u1","event":"order_placed","at":"2025-03-01T10:00:00Z"}"#),
                       #"missing "data": order_placed needs "order_id" (string), "total" (money)"#)
    }

    func testUndeclaredField() {
        XCTAssertEqual(reason(#"{"profile":"u1","event":"order_placed","at":"2025-03-01T10:00:00Z","data":{"order_id":"o1","totl":5}}"#),
                       #"undeclared field "totl" in data: order_placed has no such field; did you mean "total"?"#)
        assertContains(reason(#"{"profile":"u1","event":"order_placed","at":"2025-03-01T10:00:00Z","data":{"order_id":"o1","total":5,"coupon":"X"}}"#),
                       #"undeclared field "coupon""#, "its fields: order_id, total")
        assertContains(reason(#"{"profile":"u1","event":"push_opened","at":"2025-03-01T10:00:00Z","data":{"x":1}}"#), "push_opened has no fields")
    }

    func testWrongType() {
        XCTAssertEqual(reason(#"{"profile":"u1","event":"order_placed","at":"2025-03-01T10:00:00Z","data":{"order_id":"o1","total":"abc"}}"#),
                       #"field "total" of order_placed: expected money (a number or a decimal string), found "abc""#)
        assertContains(reason(#"{"profile":"u1","event":"order_placed","at":"2025-03-01T10:00:00Z","data":{"order_id":42,"total":1}}"#),
                       #"field "order_id""#, "expected string", "found 42")
        assertContains(reason(#"{"profile":"u1","event":"order_placed","at":"2025-03-01T10:00:00Z","data":{"order_id":null,"total":1}}"#),
                       #"field "order_id""#, "found null", "not optional")
        let session = #"{"profile":"u1","event":"session","at":"2025-03-01T10:00:00Z","data":{"length":"1h","started":"2025-03-01T10:00:00Z","day":"2025-03-01","ratio":1,"returning":false,"pages":%@}}"#
        assertContains(reason(session.replacingOccurrences(of: "%@", with: "[1, 1.5]")), #"field "pages""#, "item 2 of the list", "expected int", "found 1.5")
        assertContains(reason(session.replacingOccurrences(of: "%@", with: "3")), "expected list[int]", "found 3")
    }

    func testUnknownAndDuplicateKeys() {
        assertContains(reason(#"{"profile":"u1","event":"push_opened","at":"2025-03-01T10:00:00Z","dat":{}}"#), #"unknown key "dat""#, #"did you mean "data"?"#)
        assertContains(reason(#"{"profile":"u1","profile":"u2","event":"push_opened","at":"2025-03-01T10:00:00Z"}"#), #""profile" appears twice"#)
        assertContains(reason(#"{"profile":"u1","event":"order_placed","at":"2025-03-01T10:00:00Z","data":{"order_id":"a","order_id":"b","total":1}}"#),
                       #"field "order_id" appears twice"#)
    }

    func testRejectKeepsLineNumberAndRaw() {
        let long = "{\"profile\": \"" + String(repeating: "é", count: 1500) + "\"}"
        guard case .failure(let e) = event(long, number: 42) else { return XCTFail("accepted") }
        XCTAssertEqual(e.line, 42)
        XCTAssertEqual(e.raw.count, 1000)
        XCTAssertTrue(long.hasPrefix(e.raw))
    }

    func testEventLinesSkipBlankLines() {
        let text = "\n" + #"{"profile":"u1","event":"push_opened","at":"2025-03-01T10:00:00Z"}"# + "\r\n   \t\n{oops}\n"
        let file = EventInput.parseFile(Array(text.utf8), schema: Self.schema, parts: 1)
        XCTAssertEqual(file.events.count + file.errors.count, 2)
        guard let good = file.events.first, let e = file.errors.first else { return XCTFail("\(file.events) \(file.errors)") }
        XCTAssertEqual(good.line, 2)
        XCTAssertEqual(e.line, 4)
        XCTAssertEqual(e.raw, "{oops}")
    }

    // MARK: - Money and numbers

    func testMoneyIsExact() {
        for text in [#""19.99""#, "19.99", #"" 19.99 ""#, "19.990", "19.9900000"] {
            XCTAssertEqual(try ValueCoder.decode(JSON.parse(Array(text.utf8)), as: .money).get(), .money(19_990_000), text)
        }
        XCTAssertEqual(try ValueCoder.decode(.number("0.1"), as: .decimal).get(), .decimal(100_000))
        XCTAssertEqual(try ValueCoder.decode(.number("-12"), as: .money).get(), .money(-12_000_000))
        XCTAssertEqual(try ValueCoder.decode(.string("+3.5"), as: .money).get(), .money(3_500_000))
        XCTAssertEqual(try ValueCoder.decode(.number("1234567890123.5"), as: .money).get(), .money(1_234_567_890_123_500_000))
        XCTAssertEqual(try ValueCoder.decode(.number("0.000001"), as: .money).get(), .money(1))
    }

    func testMoneyRejections() {
        assertContains(failure(.number("1e3"), .money), "without an exponent")
        assertContains(failure(.number("1.1234567"), .money), "more than 6 decimal places")
        assertContains(failure(.number("99999999999999999999"), .money), "out of range")
        assertContains(failure(.string("12,50"), .money), "expected money", #"found "12,50""#)
        assertContains(failure(.bool(true), .decimal), "expected decimal", "found true")
    }

    func testIntegers() {
        XCTAssertEqual(try ValueCoder.decode(.number("-42"), as: .int).get(), .int(-42))
        assertContains(failure(.number("1.5"), .int), "expected int (a whole number), found 1.5")
        assertContains(failure(.number("1e2"), .int), "expected int")
        assertContains(failure(.string("5"), .int), "expected int", #"found "5""#)
        assertContains(failure(.number("9223372036854775808"), .int), "out of range for int")
    }

    func testDatesTimesDurations() {
        XCTAssertEqual(try ValueCoder.decode(.string("1970-01-02"), as: .date).get(), .date(1))
        assertContains(failure(.string("03/01/2025"), .date), "expected date (YYYY-MM-DD)")
        assertContains(failure(.string("2025-13-01"), .date), "expected date")
        assertContains(failure(.string("+025-01-01"), .date), "expected date")
        XCTAssertEqual(try ValueCoder.decode(.string("1970-01-01T00:01:00+00:00"), as: .time).get(), .time(60))
        assertContains(failure(.string("2025-03-01 10:00"), .time), "no time zone")
        for (text, secs) in [("45s", 45), ("30m", 1800), ("1h", 3600), ("2d", 172_800), ("1w", 604_800), ("1h30m", 5400), ("90", 90)] as [(String, Int64)] {
            XCTAssertEqual(try ValueCoder.decode(.string(text), as: .duration).get(), .duration(secs), text)
        }
        XCTAssertEqual(try ValueCoder.decode(.number("600"), as: .duration).get(), .duration(600))
        assertContains(failure(.string("1 hour"), .duration), "expected duration")
        assertContains(failure(.string("1h30"), .duration), "expected duration")
        assertContains(failure(.number("-5"), .duration), "cannot be negative")
        assertContains(failure(.number("1.5"), .duration), "expected duration")
    }

    func testOptionalsAndLists() {
        XCTAssertEqual(try ValueCoder.decode(.null, as: .optional(.money)).get(), Value.none)
        XCTAssertEqual(try ValueCoder.decode(.number("2"), as: .optional(.money)).get(), .money(2_000_000))
        XCTAssertEqual(try ValueCoder.decode(.array([.string("a"), .string("b")]), as: .list(.string)).get(), .list([.string("a"), .string("b")]))
        XCTAssertEqual(try ValueCoder.decode(.array([.null, .string("b")]), as: .list(.optional(.string))).get(), .list([.none, .string("b")]))
        assertContains(failure(.null, .list(.string)), "expected list[string]", "not optional")
    }

    func failure(_ json: JSONValue, _ type: FieldType, file: StaticString = #filePath, line: UInt = #line) -> String {
        switch ValueCoder.decode(json, as: type) {
        case .success(let v): XCTFail("accepted as \(v)", file: file, line: line); return ""
        case .failure(let f): return f.message
        }
    }

    // MARK: - JSON

    func testJSONEscapes() throws {
        let text = #"["caf\u00e9", "\ud83d\ude00", "a\"b\\c\/d", "\n\t\r\b\f", "日本", "\u0041"]"#
        XCTAssertEqual(try JSON.parse(Array(text.utf8)),
                       .array([.string("café"), .string("😀"), .string("a\"b\\c/d"), .string("\n\t\r\u{8}\u{c}"), .string("日本"), .string("A")]))
    }

    func testJSONRejections() {
        func error(_ text: String) -> JSONError? {
            do { _ = try JSON.parse(Array(text.utf8)); return nil } catch { return error }
        }
        XCTAssertEqual(error(#""\ud83d""#)?.message.contains("surrogate"), true)
        XCTAssertEqual(error(#""\ude00""#)?.message.contains("lone low surrogate"), true)
        XCTAssertEqual(error(#""\ud83dx""#)?.offset, 1)
        XCTAssertEqual(error(#""\x""#)?.message.contains("unknown escape"), true)
        XCTAssertEqual(error("\"a\nb\"")?.message.contains("line break"), true)
        XCTAssertEqual(error("\"abc")?.message.contains("not closed"), true)
        XCTAssertEqual(error("01")?.message.contains("leading zeros"), true)
        XCTAssertEqual(error("1.")?.message.contains("decimal point"), true)
        XCTAssertEqual(error("-")?.message.contains("digit"), true)
        XCTAssertEqual(error("tru")?.message.contains("true"), true)
        XCTAssertEqual(error("nulls")?.message.contains("null"), true)
        XCTAssertEqual(error("")?.message.contains("end of input"), true)
        XCTAssertEqual(error("[1 2]")?.offset, 3)
        XCTAssertEqual(error(String(repeating: "[", count: 300) + String(repeating: "]", count: 300))?.message.contains("nested"), true)
        do {
            _ = try JSON.parse([0x22, 0xC3, 0x28, 0x22]) // invalid UTF-8
            XCTFail("accepted invalid UTF-8")
        } catch {
            XCTAssertEqual(error.offset, 1)
            XCTAssertTrue(error.message.contains("UTF-8"))
        }
        XCTAssertThrowsError(try JSON.parse([0x22, 0xED, 0xA0, 0x80, 0x22])) // an encoded surrogate
        XCTAssertThrowsError(try JSON.parse([0x22, 0xC0, 0xAF, 0x22])) // overlong
    }

    func testJSONKeepsNumberTextAndKeyOrder() throws {
        let v = try JSON.parse(Array(#" {"z": 19.990, "a": -0, "m": 1E+2, "n": null, "t": [true, false], "o": {}} "#.utf8))
        guard case .object(let members) = v else { return XCTFail("\(v)") }
        XCTAssertEqual(members.map(\.0), ["z", "a", "m", "n", "t", "o"])
        XCTAssertEqual(v["z"], .number("19.990"))
        XCTAssertEqual(v["a"], .number("-0"))
        XCTAssertEqual(v["m"], .number("1E+2"))
        XCTAssertEqual(v["t"], .array([.bool(true), .bool(false)]))
        XCTAssertNotEqual(JSONValue.object([("a", .null), ("b", .null)]), .object([("b", .null), ("a", .null)]))
        XCTAssertEqual(Set([JSONValue.object([("a", .null)]), .object([("a", .null)])]).count, 1)
        XCTAssertEqual(try JSON.parse(ArraySlice(Array("[1]".utf8))), .array([.number("1")]))
        XCTAssertEqual(try JSON.parse("\"x\""), .string("x"))
    }

    func testQuote() throws {
        XCTAssertEqual(JSON.quote("plain"), "\"plain\"")
        XCTAssertEqual(JSON.quote("a\"b\\c\nd\u{1}é"), #""a\"b\\c\nd\u0001é""#)
        for s in ["", "café 😀", "\t\u{0}\u{7f}\"\\"] {
            XCTAssertEqual(try JSON.parse(Array(JSON.quote(s).utf8)), .string(s))
        }
    }

    func testDidYouMean() {
        XCTAssertEqual(Suggestion.closest(to: "frist_name", among: ["first_name", "email"]), "first_name")
        XCTAssertEqual(Suggestion.closest(to: "emial", among: ["first_name", "email"]), "email")
        XCTAssertNil(Suggestion.closest(to: "zzz", among: ["first_name", "email"]))
        XCTAssertEqual(Suggestion.closest(to: "dat", among: ["at", "data"]), "data", "ties go to the longer shared prefix")
    }

    // MARK: - Profiles: JSON lines

    func profiles(_ text: String, path: String = "profiles.jsonl") -> [Result<ProfileRow, InputError>] {
        ProfileInput.parse(Array(text.utf8), path: path, schema: Self.schema)
    }

    func testProfileJSONLines() throws {
        let text = """
        {"id": "u1", "first_name": "Ana", "email_opt_in": true, "lifetime_value": "120.50", "orders_count": 3, "birthday": "1990-05-17", "tags": ["vip"]}

        {"id": 7, "first_name": "Bo", "email": null, "email_opt_in": false, "lifetime_value": 0, "orders_count": 0}
        {"id": "u3", "frist_name": "Cy"}
          
        {"id": "", "first_name": "Di"}
        {"first_name": "Ed"}
        {"id": "u6", "first_name": "Fa", "email_opt_in": true}
        {"id": "u7", "first_name": "Gi", "email_opt_in": "yes", "lifetime_value": 1, "orders_count": 1}
        """
        let rows = profiles(text)
        XCTAssertEqual(rows.count, 7)
        XCTAssertEqual(try rows[0].get(), ProfileRow(id: "u1", values: [.string("Ana"), .none, .bool(true), .money(120_500_000), .int(3), .date(7441), .list([.string("vip")])]))
        XCTAssertEqual(try rows[1].get(), ProfileRow(id: "7", values: [.string("Bo"), .none, .bool(false), .money(0), .int(0), .none, .none]))
        let errors = rows.dropFirst(2).compactMap { if case .failure(let e) = $0 { e } else { nil } }
        XCTAssertEqual(errors.map(\.line), [4, 6, 7, 8, 9])
        XCTAssertEqual(errors[0].reason, #"unknown attribute "frist_name": the profile has no such attribute; did you mean "first_name"?"#)
        XCTAssertEqual(errors[0].raw, #"{"id": "u3", "frist_name": "Cy"}"#)
        assertContains(errors[1].reason, "\"id\" must be a non-empty string")
        assertContains(errors[2].reason, "missing \"id\"")
        XCTAssertEqual(errors[3].reason, #"missing required attributes "lifetime_value" (money), "orders_count" (int)"#)
        XCTAssertEqual(errors[4].reason, #"attribute "email_opt_in": expected bool (true or false), found "yes""#)
    }

    // MARK: - Profiles: CSV

    func testCSVQuotingAndEmptyCells() throws {
        let text = "id,first_name,email,email_opt_in,lifetime_value,orders_count,tags\r\n"
            + "u1,\"Ana \"\"the\"\" Great, Jr.\",,true,19.99,2,\"[\"\"a\"\",\"\"b\"\"]\"\r\n"
            + "u2,\"two\nlines\",bo@x.test,FALSE, 5 ,0,\r\n"
            + "\r\n"
            + "u3,,,false,0,0,\n"
        let rows = profiles(text, path: "people.CSV")
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(try rows[0].get(), ProfileRow(id: "u1", values: [.string("Ana \"the\" Great, Jr."), .none, .bool(true), .money(19_990_000), .int(2), .none, .list([.string("a"), .string("b")])]))
        XCTAssertEqual(try rows[1].get(), ProfileRow(id: "u2", values: [.string("two\nlines"), .string("bo@x.test"), .bool(false), .money(5_000_000), .int(0), .none, .none]))
        XCTAssertEqual(try rows[2].get(), ProfileRow(id: "u3", values: [.string(""), .none, .bool(false), .money(0), .int(0), .none, .none]))
    }

    func testCSVRowErrorsKeepFileLineNumbers() {
        let text = "id,first_name,email_opt_in,lifetime_value,orders_count\n"
            + "u1,\"multi\nline\",true,1,1\n"
            + "u2,Bo,true,abc,1\n"
            + "u3,Cy,true,1\n"
            + ",Di,true,1,1\n"
            + "u5,\"Ed\"x,true,1,1\n"
            + "u6,Fa,maybe,1,1\n"
            + "u7,\"never closed,true,1,1\nu8,Ok,true,1,1\n"
        let rows = profiles(text, path: "p.csv")
        let lines = rows.map { r -> Int in if case .failure(let e) = r { e.line } else { 0 } }
        // The unclosed quote of line 9 costs line 9 only: u8 on line 10 is read.
        XCTAssertEqual(lines, [0, 4, 5, 6, 7, 8, 9, 0])
        XCTAssertEqual(try rows[7].get().id, "u8")
        let reasons = rows.compactMap { if case .failure(let e) = $0 { e.reason } else { nil } }
        XCTAssertEqual(reasons[0], #"column "lifetime_value": expected money (a number or a decimal string), found "abc""#)
        XCTAssertEqual(reasons[1], "the row has 4 cells but the header has 5 columns")
        XCTAssertEqual(reasons[2], #"the "id" cell is empty"#)
        assertContains(reasons[3], "after the closing quote")
        XCTAssertEqual(reasons[4], #"column "email_opt_in": expected bool (true or false), found "maybe""#)
        assertContains(reasons[5], "opened on line 9 is never closed")
        guard case .failure(let bad) = rows[1] else { return XCTFail() }
        XCTAssertEqual(bad.raw, "u2,Bo,true,abc,1")
    }

    /// Ids with control characters (a NUL would let one customer's events reach another's
    /// journey in any tool that stops at it) or of unbounded length are refused by every input.
    func testProfileIdsWithoutControlCharacters() {
        assertContains(reason(#"{"profile": "ana\u0000mallory", "event": "push_opened", "at": "2025-03-01T10:00:00Z"}"#),
                       "\"profile\" contains the control character U+0000 (character 4)")
        assertContains(reason(#"{"profile": "\u0000x", "event": "push_opened", "at": "2025-03-01T10:00:00Z"}"#), "U+0000 (character 1)")
        assertContains(reason(#"{"profile": "a\nb", "event": "push_opened", "at": "2025-03-01T10:00:00Z"}"#), "U+000A")
        assertContains(reason(#"{"profile": "a\u0085b", "event": "push_opened", "at": "2025-03-01T10:00:00Z"}"#), "U+0085")
        assertContains(reason("{\"profile\": \"\(String(repeating: "x", count: 257))\", \"event\": \"push_opened\", \"at\": \"2025-03-01T10:00:00Z\"}"),
                       "257 bytes long; an id is at most 256 bytes")
        XCTAssertNotNil(accepted(#"{"profile": "zoë 42", "event": "push_opened", "at": "2025-03-01T10:00:00Z"}"#))
        assertProfileFilesRefuse(json: #"a\u0000b"#, csv: "a\u{1}b", "contains the control character U+0000", "contains the control character U+0001")
    }

    /// A profile file, as JSON lines and as CSV, with `id` (as written in the JSON and in the
    /// CSV) refused for `reason`, and the next CSV row ("ok") taken.
    func assertProfileFilesRefuse(json id: String, csv cell: String, _ reason: String, _ csvReason: String, line: UInt = #line) {
        let json = profiles(#"{"id": ""# + id + #"", "first_name": "A", "email_opt_in": true, "lifetime_value": 0, "orders_count": 0}"# + "\n", path: "p.jsonl")
        guard case .failure(let e) = json.first else { return XCTFail("the id \(id) was accepted", line: line) }
        assertContains(e.reason, "\"id\" " + reason)
        let csv = profiles("id,first_name,email_opt_in,lifetime_value,orders_count\n\(cell),A,true,0,0\nok,B,true,0,0\n", path: "p.csv")
        guard case .failure(let c) = csv.first else { return XCTFail("the CSV id \(cell) was accepted", line: line) }
        assertContains(c.reason, "the \"id\" cell " + csvReason)
        XCTAssertEqual(try csv.last?.get().id, "ok", line: line)
    }

    /// An id written decomposed (e and a combining accent) is refused by every input: the
    /// runtime's caches compare ids as Swift does, which would take it for its composed twin
    /// (another customer in SQLite), and could read one's address for the other.
    func testProfileIdsOnlyInComposedForm() {
        assertContains(reason(#"{"profile": "cafe\u0301", "event": "push_opened", "at": "2025-03-01T10:00:00Z"}"#),
                       "\"profile\" is not in Unicode's composed form (NFC)", "send the id normalised to NFC")
        XCTAssertNotNil(accepted(#"{"profile": "caf\u00e9", "event": "push_opened", "at": "2025-03-01T10:00:00Z"}"#))
        assertProfileFilesRefuse(json: #"cafe\u0301"#, csv: "cafe\u{301}", "is not in Unicode's composed form (NFC)", "is not in Unicode's composed form (NFC)")
        XCTAssertEqual(try profiles("id,first_name,email_opt_in,lifetime_value,orders_count\ncaf\u{e9},B,true,0,0\n", path: "p.csv").first?.get().id, "caf\u{e9}")
        XCTAssertNil(ProfileID.problem("Zoë-42"))
        XCTAssertNotNil(ProfileID.problem("Zoe\u{308}-42"))
    }

    func testCSVHeaderErrorsRejectEveryRow() {
        func reasons(_ text: String) -> [String] {
            profiles(text, path: "p.csv").map { r in if case .failure(let e) = r { "\(e.line): \(e.reason)" } else { "ok" } }
        }
        let rows = "u1,Ana,true,1,1\n\nu2,Bo,true,1,1\n"
        XCTAssertEqual(reasons("id,frist_name,email_opt_in,lifetime_value,orders_count\n" + rows), [
            #"2: the header names "frist_name", which is not a profile attribute; did you mean "first_name"?"#,
            #"4: the header names "frist_name", which is not a profile attribute; did you mean "first_name"?"#,
        ])
        XCTAssertEqual(reasons("key,first_name,email_opt_in,lifetime_value,orders_count\n" + rows).first,
                       #"2: the header names "key", which is not a profile attribute"#)
        XCTAssertEqual(reasons("first_name,email_opt_in,lifetime_value,orders_count,email\n" + rows).first,
                       #"2: the header has no "id" column"#)
        XCTAssertEqual(reasons("id,first_name,email_opt_in,lifetime_value,email\n" + rows),
                       Array(repeating: #"the header has no column for the required attribute "orders_count" (int)"#, count: 2).enumerated().map { "\($0 * 2 + 2): \($1)" })
        XCTAssertEqual(reasons("id,first_name,first_name,email_opt_in,lifetime_value,orders_count\n" + rows).first,
                       #"2: the header names "first_name" twice"#)
        XCTAssertEqual(reasons("id,first_name,email_opt_in,lifetime_value,orders_count\n"), [])
        XCTAssertEqual(reasons(""), [])
    }

    func testCSVByteOrderMarkAndHeaderSpaces() throws {
        let text = "\u{FEFF}id, first_name ,email_opt_in,lifetime_value,orders_count\nu1,Ana,true,1,1"
        let rows = profiles(text, path: "p.csv")
        XCTAssertEqual(try rows.first?.get().values.first, .string("Ana"))
    }

    func testCSVCells() {
        XCTAssertEqual(try ValueCoder.decode(csvCell: "", as: .string).get(), .string(""))
        XCTAssertEqual(try ValueCoder.decode(csvCell: "", as: .optional(.string)).get(), Value.none)
        XCTAssertEqual(try ValueCoder.decode(csvCell: " 12 ", as: .int).get(), .int(12))
        XCTAssertEqual(try ValueCoder.decode(csvCell: "2025-03-01T10:00:00Z", as: .time).get(), .time(march1at10))
        XCTAssertEqual(try ValueCoder.decode(csvCell: "3600", as: .duration).get(), .duration(3600))
        XCTAssertEqual(try ValueCoder.decode(csvCell: "", as: .list(.int)).get(), .list([]))
        XCTAssertEqual(try ValueCoder.decode(csvCell: "[1, 2]", as: .list(.int)).get(), .list([.int(1), .int(2)]))
        XCTAssertTrue((try? ValueCoder.decode(csvCell: "", as: .int).get()) == nil)
        XCTAssertTrue((try? ValueCoder.decode(csvCell: "1.5", as: .int).get()) == nil)
        XCTAssertTrue((try? ValueCoder.decode(csvCell: "a;b", as: .list(.string)).get()) == nil)
    }

    func testPathChoosesFormat() {
        let jsonl = #"{"id":"u1","first_name":"A","email_opt_in":true,"lifetime_value":1,"orders_count":1}"#
        XCTAssertNotNil(try? profiles(jsonl, path: "x.jsonl").first?.get())
        XCTAssertNil(try? profiles(jsonl, path: "x.csv").first?.get())
    }
}
