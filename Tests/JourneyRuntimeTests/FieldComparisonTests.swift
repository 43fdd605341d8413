import XCTest
import JourneyBytecode
import JourneyDiagnostics
import JourneySemantics
import JourneySyntax
@testable import JourneyRuntime

/// History predicates of the shape `field == value` (or `!=`) are answered by comparing each
/// record's field with the value, found once, instead of running the predicate's code for each
/// record: the same answer as the code, record by record.
final class FieldComparisonTests: XCTestCase {
    /// A host for predicates that read only their record and locals.
    struct RecordsOnly: VMHost {
        var now: Int64 { 0 }
        var today: Int32 { 0 }
        func attribute(_ index: Int) throws -> Value { .none }
        mutating func setAttribute(_ index: Int, _ value: Value) {}
        func records(event: Int, since: Int64?) throws -> ArraySlice<Record> { [] }
        func count(event: Int, since: Int64?) throws -> Int { 0 }
        func splitBucket(position: Int) -> Int { 0 }
        func zero(event: Int, field: Int) -> Value { .int(0) }
        func nextLocalTime(minutes: Int) -> Int64 { 0 }
        mutating func mark(step: Int, outcome: Int) {}
        mutating func send(_ def: SendDef, index: Int, values: ArraySlice<Value>) throws -> SendResult { .done }
    }

    func testDirectComparisonsAnswerAsTheCodeDoes() throws {
        let schema = """
        profile { email: string? }
        event viewed { sku: string, price: money, qty: int?, tag: string? }
        channel email address profile.email

        """
        let conditions = [
            "count(viewed where sku == v.sku within 7d) >= 1",   // a local's field
            "count(viewed where price == 19.90) >= 1",            // a constant
            "count(viewed where qty != v.qty) >= 1",              // not equal, optional
            "count(viewed where tag == v.tag) >= 1",              // optional string
            "count(viewed where qty == 3) >= 1",                  // optional against an int
            "count(viewed where v.sku == sku) >= 1",              // the other way round: the code runs
            "count(viewed where price > 5) >= 1",                 // another comparison: the code runs
            "count(viewed where sku == v.sku and price == 19.90) >= 1",
        ]
        let journey = "journey j {\n  on viewed as v\n  when " + conditions.joined(separator: "\n    and ") + "\n  email \"x\"\n}\n"
        let trees = [Parser.parse(SourceFile(path: "s.journey", bytes: Array(schema.utf8))),
                     Parser.parse(SourceFile(path: "j.journey", bytes: Array(journey.utf8)))]
        let result = check(trees)
        XCTAssertFalse(result.hasErrors, "\(result.diagnostics.filter { $0.severity == .error }.map(\.message))")
        let bundle = try Compiler.compile(trees, result)
        let j = bundle.journeys[0]

        var rng = SeededRandom(state: 11)
        func pick<T>(_ xs: [T]) -> T { xs[Int.random(in: 0..<xs.count, using: &rng)] }
        func record() -> Record {
            let fields: [Value] = [pick([.string("a"), .string("b"), .string("K"), .string("\u{212A}")]), .money(pick([19_900_000, 5_000_000, 19_900_001])),
                                   pick([.none, .int(3), .int(4)]), pick([.none, .string("x"), .string("y")])]
            // Some rows from an older definition, with fewer fields.
            return Record(event: 0, at: 0, fields: Array(fields.prefix(pick([2, 4, 4, 4]))))
        }
        let triggers = (0..<12).map { _ in record() }
        let rows = (0..<60).map { _ in record() }
        var host = RecordsOnly()
        var direct = Set<Int>()
        for f in j.functions.indices.dropFirst() {
            for t in triggers {
                let locals = [Value.record(t)]
                guard let comparison = j.functions[f].code.withUnsafeBufferPointer({ FieldComparison($0, locals: locals, constants: bundle.constants) }) else { continue }
                direct.insert(f)
                for r in rows {
                    let byCode = try VM.test(j, predicate: f, bundle.constants, locals: locals, candidate: .record(r), host: &host)
                    XCTAssertEqual(comparison.matches(r), byCode, "predicate \(f), trigger \(t.fields), record \(r.fields)")
                }
            }
        }
        XCTAssertEqual(direct.count, 5, "the first five shapes are compared directly, the others run their code")
    }
}
