import XCTest
@testable import JourneySemantics
@testable import JourneyDiagnostics
import JourneySyntax

final class CheckerTests: XCTestCase {
    let schema = (try? String(contentsOf: repoRoot.appendingPathComponent("Tests/Fixtures/snapshots/schema.journey"), encoding: .utf8)) ?? ""

    /// Codes reported for a journey body (header: on cart_abandoned as cart, goal order_placed).
    func codes(_ body: String, header: String = "on cart_abandoned as cart\n  goal order_placed") -> [String] {
        let text = "journey t {\n  \(header)\n\(body)\n  push \"{cart.cart_id}\"\n}\n"
        let result = checkProject([("schema.journey", schema), ("t.journey", text)])
        return result.diagnostics.map(\.code.id).sorted()
    }

    func testNarrowingByIfAndAnd() {
        XCTAssertEqual(codes("if profile.email != none { email \"{profile.email}\" }"), [])
        XCTAssertEqual(codes("if profile.email != none and profile.email == \"a\" { wait 1h }"), [])
        XCTAssertEqual(codes("if profile.email == none or profile.email > \"a\" { wait 1h }"), [])
        XCTAssertEqual(codes("if profile.email == none { wait 1h } else { email \"{profile.email}\" }"), [])
        XCTAssertEqual(codes("email \"{profile.email}\""), ["J0302"])
    }

    func testNarrowingAfterExitAndUndoneBySet() {
        XCTAssertEqual(codes("if profile.email == none { exit }\n email \"{profile.email}\""), [])
        // (and the email after `set profile.email = none` can never go: J0511)
        XCTAssertEqual(codes("if profile.email == none { exit }\n set profile.email = none\n email \"{profile.email}\""), ["J0302", "J0511"])
        XCTAssertEqual(codes("set profile.favorite_brand = \"Acme\"\n email \"{profile.favorite_brand}\""), [])
        XCTAssertEqual(codes("if profile.email != none { wait 1h }\n email \"{profile.email}\""), ["J0302"])
    }

    func testCoalesceAndLiterals() {
        XCTAssertEqual(codes("email \"{profile.favorite_brand ?? \"our shop\"}\""), [])
        XCTAssertEqual(codes("if cart.total * 0.9 > 100 and cart.total - 5 > 10 { wait 1h }"), [])
        XCTAssertEqual(codes("if cart.total + profile.orders_count > 3 { wait 1h }"), ["J0303"])
        XCTAssertEqual(codes("if profile.first_name ?? \"x\" == \"y\" { wait 1h }"), ["J0506"])
        XCTAssertEqual(codes("if (last(product_viewed).category ?? \"shoes\") == \"shoes\" { wait 1h }"), [])
    }

    func testMembershipNarrowsAndOptionalListsHoldNothing() {
        XCTAssertEqual(codes("if profile.favorite_brand in [\"Acme\"] { email \"{profile.favorite_brand}\" }"), [])
        XCTAssertEqual(codes("if profile.favorite_brand not in [\"Acme\"] { wait 1h } else { email \"{profile.favorite_brand}\" }"), [])
        XCTAssertEqual(codes("if profile.favorite_brand not in [\"Acme\"] { email \"{profile.favorite_brand}\" }"), ["J0302"])
        XCTAssertEqual(codes("if cart.total in [10, 19.99] and 3 in [1, 2.5] { wait 1h }"), [])
        XCTAssertEqual(codes("if \"x\" in profile.favorite_brand { wait 1h }"), ["J0302"])
    }

    func testBuiltinNamesMatchTheLexicon() {
        XCTAssertEqual(Builtin.names, Keywords.builtinFunctions)
        XCTAssertEqual(Set(Builtin.names).intersection(Keywords.historyFunctions), [])
    }

    func testOptionalHistoryCallsNarrow() {
        XCTAssertEqual(codes("if days_since(order_placed) != none { if days_since(order_placed) > 3 { exit } }"), [])
        XCTAssertEqual(codes("if last(order_placed) != none { push \"{last(order_placed).total}\" }"), [])
        XCTAssertEqual(codes("if days_since(order_placed) > 3 { exit }"), ["J0302"])
    }

    func testIntAgainstDecimalLiteral() {
        XCTAssertEqual(codes("if profile.orders_count < 2.5 and count(order_placed) > 1.5 and 1.5 == profile.orders_count { exit }"), [])
        XCTAssertEqual(codes("if profile.orders_count < profile.lifetime_value { exit }"), ["J0301"])
    }

    func testWaitForAliasIsScopedToItsBlock() {
        // (the journey's goal is order_placed: its arrived block never runs, J0509)
        XCTAssertEqual(codes("wait for order_placed as o within 1d { email \"{o.order_id}\" }"), ["J0509"])
        XCTAssertEqual(codes("wait for order_placed as o within 1d { email \"{o.order_id}\" }", header: "on cart_abandoned as cart\n  goal push_opened"), [])
        XCTAssertEqual(codes("wait for order_placed as o within 1d\n email \"{o.order_id}\""), ["J0206", "J0501"])
    }

    func testBareFieldsOnlyInsideWhere() {
        XCTAssertEqual(codes("if exists(order_placed where total > 100 within 30d) { wait 1h }"), [])
        XCTAssertEqual(codes("if total > 100 { wait 1h }"), ["J0206"])
    }

    func testAudienceJourney() {
        let header = "on daily at 09:00\n  when profile.orders_count > 0\n  goal order_placed"
        let text = "journey a {\n  \(header)\n  email \"hi\"\n}\n"
        XCTAssertEqual(checkProject([("schema.journey", schema), ("a.journey", text)]).diagnostics.map(\.code.id), [])
        let withAlias = "journey a {\n  on daily at 09:00 as d\n  goal order_placed\n  email \"hi\"\n}\n"
        XCTAssertEqual(checkProject([("schema.journey", schema), ("a.journey", withAlias)]).diagnostics.map(\.code.id), ["J0404"])
    }

    func testCapCountsSendsInsideTheWindow() {
        // push, whatsapp and email: at most 3 within 24h, cap 3 → fine.
        XCTAssertEqual(codes("email \"a\"\n whatsapp \"b\""), [])
        // four sends within the same day → over the cap.
        XCTAssertEqual(codes("email \"a\"\n whatsapp \"b\"\n email \"c\""), ["J0505"])
        // spread over days → fine.
        XCTAssertEqual(codes("email \"a\"\n wait 1d\n whatsapp \"b\"\n wait 1d\n email \"c\""), [])
    }

    func testDuplicatesAcrossFilesPointAtTheFirst() throws {
        let result = checkProject([("schema.journey", schema), ("more.journey", "event order_placed { x: int }\n")])
        let d = try XCTUnwrap(result.diagnostics.first)
        XCTAssertEqual(d.code.id, "J0201")
        XCTAssertEqual(d.notes.first?.file, "schema.journey")
    }

    func testTypesSideTable() throws {
        let text = "journey t {\n  on cart_abandoned as cart\n  goal order_placed\n  if cart.total > 3 { push \"x\" }\n}\n"
        let result = checkProject([("schema.journey", schema), ("t.journey", text)])
        XCTAssertEqual(result.diagnostics.map(\.message), [])
        XCTAssertTrue(result.types[1].contains(.money))
        XCTAssertTrue(result.types[1].contains(.bool))
    }

    func testSuggestions() {
        XCTAssertEqual(suggestion(for: "frist_name", among: ["first_name", "city"]), "first_name")
        XCTAssertEqual(suggestion(for: "xyz", among: ["first_name", "city"]), nil)
    }
}

/// The bundle's operand widths, checked by `check` where they are first known (issue 9: a
/// 300-field event used to render field 43, 256 aliases passed check and build).
final class LimitTests: XCTestCase {
    func messages(_ files: [(String, String)]) -> [String] {
        checkProject(files).diagnostics.filter { $0.code.id == "J0409" }.map(\.message)
    }

    func testEventFieldsAliasesAndStringPieces() {
        let fields = (0..<300).map { "f\($0): string" }.joined(separator: ", ")
        let schema = "profile { first_name: string, email: string? }\nevent wide { \(fields) }\nchannel email address profile.email\n"
        XCTAssertEqual(messages([("schema.journey", schema)]), ["event 'wide' has 300 fields; an event may have at most 255"])

        let ok = "profile { first_name: string, email: string? }\nevent signup { source: string }\nchannel email address profile.email\n"
        let waits = (0..<256).map { "  wait for signup as s\($0) within 1h\n" }.joined()
        let many = "journey j {\n  on signup as first\n  goal signup\n\(waits)  email \"x\"\n}\n"
        XCTAssertEqual(messages([("schema.journey", ok), ("j.journey", many)]), ["journey 'j' has 257 aliases and splits; a journey may have at most 255"])

        let pieces = (0..<200).map { _ in "a{profile.first_name}" }.joined()
        let long = "journey k {\n  on signup\n  goal signup\n  email \"\(pieces)\"\n}\n"
        XCTAssertEqual(messages([("schema.journey", ok), ("k.journey", long)]), ["this text has 400 pieces (text and {…} insertions); one text may have at most 255"])
    }

    func testGroupedCounts() {
        XCTAssertEqual(Limits.grouped(4_294_967_295), "4,294,967,295")
        XCTAssertEqual(Limits.grouped(255), "255")
        XCTAssertEqual(Limits.grouped(65_535), "65,535")
    }
}

/// "Did you mean" is bounded (issue 9: a 207 KB schema of long names took 34 s to check).
final class SuggestionTests: XCTestCase {
    func testBandedDistanceAgreesWithTheFullTable() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("abcde_".utf8)
        for _ in 0..<3000 {
            let a = (0..<Int.random(in: 0...12, using: &rng)).map { _ in alphabet.randomElement(using: &rng) ?? 97 }
            let b = (0..<Int.random(in: 0...12, using: &rng)).map { _ in alphabet.randomElement(using: &rng) ?? 97 }
            let full = JourneyDiagnostics.editDistance(a, b)
            for limit in 1...3 {
                XCTAssertEqual(JourneyDiagnostics.editDistance(a, b, limit: limit), min(full, limit + 1), "\(a) \(b) limit \(limit)")
            }
        }
    }

    func testSuggestionsStayBoundedAndRight() {
        XCTAssertEqual(suggestion(for: "frist_name", among: ["first_name", "email"]), "first_name")
        XCTAssertEqual(suggestion(for: "emial", among: ["first_name", "email"]), "email")
        XCTAssertNil(suggestion(for: String(repeating: "x", count: 10_000_000), among: ["first_name"]))
        // Many long candidates: each is skipped by its length or a band of the table.
        let names = (0..<20_000).map { "attribute_with_a_rather_long_name_number_\($0)" }
        XCTAssertEqual(suggestion(for: "attribute_with_a_rather_long_name_numbr_17", among: names), "attribute_with_a_rather_long_name_number_17")
    }
}
