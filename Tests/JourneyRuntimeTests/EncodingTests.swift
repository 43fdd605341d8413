import XCTest
import JourneyBytecode
@testable import JourneyRuntime

final class EncodingTests: XCTestCase {
    func testLocalsRoundTrip() {
        let values: [Value] = [.none, .bool(true), .int(-5), .decimal(1_500_000), .money(19_990_000), .string("héllo"),
                               .date(20_000), .time(1_740_787_200), .duration(3600), .timeOfDay(540),
                               .list([.string("a"), .int(1)]), .record(Record(event: 2, at: 99, fields: [.string("x"), .none]))]
        XCTAssertEqual(ValueEncoding.decode(ValueEncoding.encode(values)), values)
        XCTAssertNil(ValueEncoding.decode([1, 2, 3]), "damaged locals are refused, not misread")
        // The size an event's blob is made room for is the size it takes.
        for v in values + [.list([.list([.string("")]), .record(Record(event: 0, at: -1, fields: []))])] {
            var out: [UInt8] = []
            ValueEncoding.encode(v, &out)
            XCTAssertEqual(out.count, ValueEncoding.encodedSize(v), "\(v)")
        }
        XCTAssertEqual(ValueEncoding.encode([.int(0x0102_0304_0506_0708)]), [1, 0, 0, 0, 0, 0, 0, 0, 2, 8, 7, 6, 5, 4, 3, 2, 1], "little-endian")
    }

    /// An event's blob, written in place, is byte for byte what appending each part gives.
    func testEventBlobsAreWrittenAsTheyAreSpelledOut() {
        let long = String(repeating: "n", count: 300), values: [Value] = [.none, .bool(false), .int(-1), .decimal(5), .money(19_900_000), .string(""),
            .string("héllo \u{1F600}"), .date(-3), .time(1_740_787_200), .duration(60), .timeOfDay(1439), .list([]), .list([.string("a"), .list([.int(2)])]),
            .record(Record(event: 1, at: -5, fields: [.string("x"), .none]))]
        for (k, v) in values.enumerated() {
            let def = EventDef(name: "e", fields: [FieldDef(name: "f\(k)", type: .string), FieldDef(name: k % 2 == 0 ? "é" : long, type: .string)])
            let fields = [v, values[(k + 3) % values.count]]
            var expected: [UInt8] = []
            ValueEncoding.put(2, &expected)
            for (f, x) in zip(def.fields, fields) {
                let n = min(f.name.utf8.count, 255)
                expected.append(UInt8(n))
                expected.append(contentsOf: f.name.utf8.prefix(n))
                ValueEncoding.encode(x, &expected)
            }
            XCTAssertEqual(ValueEncoding.eventBlob(fields, def), expected, "\(v)")
        }
    }

    func testEventDataRoundTripsThroughTheSchema() {
        let def = EventDef(name: "order", fields: [FieldDef(name: "total", type: .money), FieldDef(name: "note", type: .optional(.string)),
                                                    FieldDef(name: "placed", type: .time), FieldDef(name: "day", type: .date)])
        let fields: [Value] = [.money(129_900_000), .none, .time(1_740_787_200), .date(20_148)]
        let data = ValueEncoding.eventBlob(fields, def)
        XCTAssertEqual(ValueEncoding.fields(fromBlob: data, def), fields)
        // A newer schema with an extra field reads old data with the field absent.
        var newer = def
        newer.fields.append(FieldDef(name: "coupon", type: .optional(.string)))
        XCTAssertEqual(ValueEncoding.fields(fromBlob: data, newer), fields + [.none])
        // A field that became money reads an old int as money.
        var widened = def
        widened.fields[0] = FieldDef(name: "total", type: .money)
        XCTAssertEqual(ValueEncoding.fields(fromBlob: ValueEncoding.eventBlob([.int(3), .none, .time(0), .date(0)], def), widened)[0], .money(3_000_000))
        // Fields that moved, or were renamed to a name of the same length, are found by name.
        let reordered = EventDef(name: "order", fields: [def.fields[3], def.fields[2], FieldDef(name: "tital", type: .money), def.fields[0]])
        XCTAssertEqual(ValueEncoding.fields(fromBlob: data, reordered), [.date(20_148), .time(1_740_787_200), .none, .money(129_900_000)])
    }
}
