import XCTest
@testable import JourneyBytecode
import JourneyDiagnostics
import JourneySemantics
import JourneySyntax
@testable import JourneyRuntime

/// Audience runs hand the profile part of `when` to the store (SQL with bound values), and the
/// VM tests only the profiles the query lets through: the same entries as testing every one.
final class AudienceConditionTests: XCTestCase {
    let schema = """
    profile {
      vip: bool
      vip2: bool?
      points: int
      bonus: int?
      ltv: money
      tier: string
      nick: string?
      email: string?
    }
    event order_placed { order_id: string }
    channel email address profile.email

    """

    let conditions = [
        "profile.vip",
        "not profile.vip and profile.points > 500",
        "profile.points >= 990 or profile.tier == \"gold\"",
        "profile.bonus != none and profile.bonus > 10",
        "profile.bonus == none",
        "profile.bonus != none and not (profile.bonus < 50)",
        "profile.nick == \"Kim\"",
        "profile.nick != \"Bo\" and profile.vip",
        "profile.ltv > 12.50 and profile.ltv < 100",
        "profile.points * 2 > 1000 and profile.vip",
        "profile.vip2 == true",
        "profile.vip2 != true",
        "profile.points > 5 and profile.tier != \"gold\"",
        "(profile.bonus != none and 3 < profile.bonus) or (profile.points <= 100 and not (profile.tier == \"silver\"))",
        "(profile.bonus ?? 0) > 5 and profile.points < 300",
    ]

    func journeys() -> String {
        conditions.enumerated().map { k, c in
            "journey j\(k) {\n  on daily at 09:00\n  when \(c)\n  goal order_placed\n  reentry always\n  email \"j\(k)\"\n}\n"
        }.joined()
    }

    /// Every journey's entries over `days` days, and the run's counts.
    func run(pushDown: Bool, profiles: [ProfileRow], days: Int64) throws -> ([String], RunStats) {
        let trees = [Parser.parse(SourceFile(path: "s.journey", bytes: Array(schema.utf8))),
                     Parser.parse(SourceFile(path: "j.journey", bytes: Array(journeys().utf8)))]
        let result = check(trees)
        XCTAssertFalse(result.hasErrors, "\(result.diagnostics.filter { $0.severity == .error }.map(\.message))")
        let store = try SQLiteStore(path: ":memory:")
        let engine = try Engine(store: store)
        engine.audienceConditionsInStore = pushDown
        try engine.deploy(try Compiler.compile(trees, result).encode(), at: 0)
        XCTAssertEqual(try engine.importProfiles(profiles).map(\.reason), [])
        let start: Int64 = 1_740_787_200
        let stats = try engine.run(until: start + days * 86_400 - 1, start: start)
        XCTAssertEqual(stats.audienceRuns, conditions.count * Int(days))
        let sent = try store.outbox(afterSeq: 0, limit: 1_000_000).map { "\($0.id) \($0.journey) \($0.profile) \($0.at) \($0.status)" }
        return (sent, stats)
    }

    func testTheStoresQueryLetsThroughEveryProfileTheVMWouldLetIn() throws {
        var rng = SeededRandom(state: 7)
        func pick<T>(_ xs: [T]) -> T { xs[Int.random(in: 0..<xs.count, using: &rng)] }
        let profiles = (0..<500).map { i -> ProfileRow in
            let points: Int64 = i == 3 ? -9_300_000_000_000 : i == 4 ? 9_300_000_000_000 : pick([0, 5, 6, 100, 101, 300, 499, 500, 501, 989, 990, 991, 5000])
            let nick: Value = pick([.none, .string("Kim"), .string("\u{212A}im"), .string("Bo"), .string("bo"), .string("Kim "), .string("Zoë")])
            // u3 and u4: ints the VM's millionths cannot hold (it saturates them: -9.3e12 counts as
            // more than anything), not vip, not gold.
            let big = i == 3 || i == 4
            return ProfileRow(id: "u\(i)", values: [
                .bool(big ? false : pick([true, false])), pick([.none, .bool(true), .bool(false)]), .int(points),
                pick([.none, .int(0), .int(3), .int(4), .int(10), .int(11), .int(49), .int(50), .int(51)]),
                .money(pick([0, 12_500_000, 12_500_001, 99_990_000, 100_000_000, 250_000_000])),
                .string(big ? "silver" : pick(["gold", "silver", "bronze"])), nick, .string("u\(i)@example.com"),
            ])
        }
        let (inStore, a) = try run(pushDown: true, profiles: profiles, days: 2)
        let (vmOnly, b) = try run(pushDown: false, profiles: profiles, days: 2)
        XCTAssertGreaterThan(inStore.count, 1000)
        XCTAssertEqual(inStore.count, vmOnly.count)
        XCTAssertTrue(inStore == vmOnly, "the entries differ: \(Set(inStore).symmetricDifference(vmOnly).sorted().prefix(5))")
        // Testing every profile reads 500 per run; the queries leave most of them out.
        XCTAssertEqual(b.audienceTested, 500 * conditions.count * 2)
        XCTAssertLessThan(a.audienceTested, b.audienceTested / 2, "the store's queries left out too few")
        // The Kelvin sign (U+212A) is K to Swift: the profile with it enters "Kim"'s journey,
        // though its bytes differ (the query keeps texts that are not plain ASCII for the VM).
        let kelvin = profiles.filter { $0.values[6] == .string("\u{212A}im") }.map(\.id)
        XCTAssertFalse(kelvin.isEmpty)
        XCTAssertTrue(inStore.contains { $0.contains(" j6 \(kelvin[0]) ") })
    }

    func testWhatTheAnalysisLeavesToTheVM() throws {
        // A backward jump or an unknown instruction: every profile.
        let loop = Function(isPredicate: true, code: [Opcode.jump.rawValue, 0, 0, 0, 0], lines: [])
        XCTAssertEqual(ProfileCondition.of(predicate: loop, constants: [], required: { _ in false }), .always)
        // `attribute 0 > constant 0`, then return: the comparison itself.
        let code: [UInt8] = [Opcode.attribute.rawValue, 0, 0, Opcode.constant.rawValue, 0, 0, Opcode.greater.rawValue, Opcode.returnValue.rawValue]
        let f = Function(isPredicate: true, code: code, lines: [])
        XCTAssertEqual(ProfileCondition.of(predicate: f, constants: [.int(5)], required: { _ in false }), .compare(attribute: 0, op: .greater, value: .int(5)))
        // A required attribute that may be missing faults: those profiles are kept.
        XCTAssertEqual(ProfileCondition.of(predicate: f, constants: [.int(5)], required: { _ in true }),
                       .or(.isNone(attribute: 0), .compare(attribute: 0, op: .greater, value: .int(5))))
        var schema = RuntimeSchema()
        schema.attributes = [FieldDef(name: "points", type: .int)]
        let sql = ProfileConditionSQL(schema: schema)
        guard case .sql(let text, let binds)? = sql.clause(.compare(attribute: 0, op: .greater, value: .int(5))) else { return XCTFail("no clause") }
        XCTAssertEqual(text, #"("points" > ? OR ("points" < -9223372036854 OR "points" > 9223372036854))"#)
        XCTAssertEqual(binds.count, 1)
        // Negated, a missing value passes (the VM's `not` of a false comparison).
        guard case .sql(let negated, _)? = sql.clause(.not(.compare(attribute: 0, op: .greater, value: .int(5)))) else { return XCTFail("no clause") }
        XCTAssertEqual(negated, #"(("points" IS NULL OR "points" <= ?) OR ("points" < -9223372036854 OR "points" > 9223372036854))"#)
        // A constant the VM's millionths cannot hold is saturated by the VM: that test is its alone.
        XCTAssertNil(sql.clause(.compare(attribute: 0, op: .less, value: .int(-10_000_000_000_000))))
        XCTAssertNotNil(sql.clause(.compare(attribute: 0, op: .less, value: .int(-9_000_000_000_000))))
        // A required attribute that nothing left without a value is never missing.
        XCTAssertNil(sql.clause(.or(.isNone(attribute: 0), .unknown)))
        guard case .no? = sql.clause(.isNone(attribute: 0)) else { return XCTFail("a required attribute read as missing") }
    }
}
