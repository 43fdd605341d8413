import XCTest
import JourneyBytecode
import JourneyDiagnostics
import JourneySemantics
import JourneySyntax
@testable import JourneyRuntime

/// Catalog events and the history index behind `for each profile`.
final class CatalogTests: XCTestCase, BundleFixture {
    let schema = """
    profile {
      first_name: string
      push_token: string?
    }
    event product_viewed { product_id: string, tags: list[string]? }
    event order_placed { order_id: string }
    catalog event price_dropped { product_id: string, new_price: money }
    channel push address profile.push_token

    """

    let alert = """
    journey alert {
      on price_dropped as drop
      for each profile where exists(product_viewed where product_id == drop.product_id within 30d)
        or exists(product_viewed where drop.product_id in tags within 30d)
      goal order_placed
      push "{profile.first_name}: {drop.product_id} now {drop.new_price}"
    }

    """
    let quiet = "journey quiet {\n  on order_placed\n  goal order_placed\n  push \"thanks\"\n}\n"

    func ingest(_ engine: Engine, _ lines: [String]) throws -> IngestSummary {
        let file = EventInput.parseFile(Array((lines.joined(separator: "\n") + "\n").utf8), schema: engine.current!.schema, parts: 1)
        XCTAssertEqual(file.errors.map(\.reason), [])
        return try engine.ingest(file, source: "test")
    }

    func keys(_ store: SQLiteStore) throws -> [String] {
        let s = try store.db.prepare("SELECT profile || ' ' || field || ' ' || key FROM history_keys ORDER BY 1")
        var out: [String] = []
        while try s.step() { out.append(s.text(0)) }
        return out
    }

    func view(_ p: String, _ product: String, at: String, tags: String = "null") -> String {
        "{\"profile\": \"\(p)\", \"event\": \"product_viewed\", \"at\": \"\(at)\", \"data\": {\"product_id\": \"\(product)\", \"tags\": \(tags)}}"
    }

    /// History ingested before the journey exists is indexed when it is deployed; ingest keeps
    /// the index after; erasure takes a profile's rows out; a drop reaches the viewers only.
    func testTheIndexIsBuiltOnDeployKeptOnIngestAndErased() throws {
        let store = try SQLiteStore(path: ":memory:")
        let engine = try Engine(store: store)
        try engine.deploy(try bundle(quiet), at: 0)
        let rows = (1...5).map { ProfileRow(id: "u\($0)", values: [.string("N\($0)"), .string("t\($0)")]) }
        XCTAssertEqual(try engine.importProfiles(rows).count, 0)
        _ = try ingest(engine, [view("u1", "p1", at: "2025-03-01T09:00:00Z"), view("u2", "p2", at: "2025-03-01T09:00:00Z"),
                                view("u3", "p3", at: "2025-03-01T09:00:00Z", tags: "[\"p1\", \"px\"]")])
        XCTAssertEqual(try keys(store), [], "nothing is indexed while no journey asks")
        try engine.deploy(try bundle(alert + quiet), at: 0)
        XCTAssertEqual(try keys(store), ["u1 product_id sp1", "u2 product_id sp2", "u3 product_id sp3", "u3 tags sp1", "u3 tags spx"])
        _ = try ingest(engine, [view("u4", "p1", at: "2025-03-01T09:30:00Z"), view("u5", "p1", at: "2025-03-01T09:40:00Z")])
        XCTAssertTrue(try keys(store).contains("u4 product_id sp1"))
        XCTAssertTrue(try store.transaction { try store.erase(profile: "u5") })
        XCTAssertFalse(try keys(store).contains { $0.hasPrefix("u5 ") }, "erasure takes the profile's index rows")
        let summary = try ingest(engine, ["{\"event\": \"price_dropped\", \"at\": \"2025-03-01T10:00:00Z\", \"data\": {\"product_id\": \"p1\", \"new_price\": 9.5}}"])
        XCTAssertEqual(summary.rejected.map(\.reason), [])
        try engine.run(until: nil)
        let out = try store.outbox(afterSeq: 0, limit: 100)
        XCTAssertEqual(out.map(\.profile), ["u1", "u3", "u4"], "viewers of p1 (u3 through its tags), in id order")
        XCTAssertEqual(out.first?.content, "{\"body\": \"N1: p1 now 9.50\"}")
        // A journey that no longer asks drops its pairs from the index.
        try engine.deploy(try bundle(quiet), at: 0)
        XCTAssertEqual(try keys(store), [])
    }

    /// A catalog line with a profile, and a profile event without one, are rejected and say why.
    func testCatalogLinesCarryNoProfile() throws {
        let engine = try Engine(store: try SQLiteStore(path: ":memory:"))
        try engine.deploy(try bundle(alert), at: 0)
        let text = """
        {"event": "price_dropped", "profile": "u1", "at": "2025-03-01T10:00:00Z", "data": {"product_id": "p1", "new_price": 1}}
        {"event": "product_viewed", "at": "2025-03-01T10:00:00Z", "data": {"product_id": "p1"}}
        {"event": "price_dropped", "profile": null, "at": "2025-03-01T10:00:00Z", "data": {"product_id": "p1", "new_price": 1}}

        """
        let file = EventInput.parseFile(Array(text.utf8), schema: engine.current!.schema, parts: 1)
        XCTAssertEqual(file.errors.map(\.line), [1, 2])
        XCTAssertTrue(file.errors[0].reason.contains("price_dropped is a catalog event, about a product rather than one profile: it takes no \"profile\""), file.errors[0].reason)
        XCTAssertTrue(file.errors[1].reason.contains("missing \"profile\""), file.errors[1].reason)
        XCTAssertEqual(file.events.count, 1)
    }

    /// The same audience three ways over random history: answered by the index exactly (with
    /// the rest of the condition tested), narrowed by the index and tested whole, and tested on
    /// every profile.
    func testExactNarrowedAndScannedPlansAgree() throws {
        let schema = """
        profile { vip: bool, push_token: string? }
        event product_viewed { product_id: string, price: int }
        event order_placed { product_id: string }
        catalog event price_dropped { product_id: string }
        channel push address profile.push_token

        """
        func journey(_ name: String, _ condition: String) -> String {
            "journey \(name) {\n  on price_dropped as drop\n  for each profile where \(condition)\n  reentry always\n  push \"\(name)\"\n}\n"
        }
        let flows = journey("exact", "exists(product_viewed where product_id == drop.product_id within 7d) and not exists(order_placed where product_id == drop.product_id) and profile.vip")
            + journey("narrowed", "exists(product_viewed where product_id == drop.product_id and price >= 0 within 7d) and not exists(order_placed where product_id == drop.product_id) and profile.vip")
            + journey("scanned", "profile.vip and (exists(product_viewed where product_id == drop.product_id within 7d) or false) and not exists(order_placed where product_id == drop.product_id)")
        let trees = [Parser.parse(SourceFile(path: "s.journey", bytes: Array(schema.utf8))), Parser.parse(SourceFile(path: "j.journey", bytes: Array(flows.utf8)))]
        let result = check(trees)
        XCTAssertFalse(result.hasErrors, "\(result.diagnostics.map(\.message))")
        let bundle = try Compiler.compile(trees, result)
        XCTAssertNotNil(bundle.journey(named: "exact")?.forEach?.exact)
        XCTAssertNil(bundle.journey(named: "narrowed")?.forEach?.exact)
        XCTAssertFalse(bundle.journey(named: "narrowed")?.forEach?.anchors.isEmpty ?? true)
        XCTAssertEqual(bundle.journey(named: "scanned")?.forEach?.anchors, [])

        let store = try SQLiteStore(path: ":memory:")
        let engine = try Engine(store: store)
        try engine.deploy(bundle.encode(), at: 0)
        var rng = SeededRandom(state: 42)
        let rows = (0..<300).map { ProfileRow(id: "u\($0)", values: [.bool(Int.random(in: 0..<3, using: &rng) > 0), .string("t\($0)")]) }
        XCTAssertEqual(try engine.importProfiles(rows).count, 0)
        var lines: [String] = []
        let start: Int64 = 1_740_787_200
        for k in 0..<3000 {
            let at = Value.iso8601(start + Int64(k) * 300)
            let p = "u\(Int.random(in: 0..<300, using: &rng))", product = "p\(Int.random(in: 0..<10, using: &rng))"
            if Int.random(in: 0..<8, using: &rng) == 0 {
                lines.append("{\"profile\": \"\(p)\", \"event\": \"order_placed\", \"at\": \"\(at)\", \"data\": {\"product_id\": \"\(product)\"}}")
            } else {
                lines.append("{\"profile\": \"\(p)\", \"event\": \"product_viewed\", \"at\": \"\(at)\", \"data\": {\"product_id\": \"\(product)\", \"price\": 5}}")
            }
            if k % 600 == 599 {
                lines.append("{\"event\": \"price_dropped\", \"at\": \"\(at)\", \"data\": {\"product_id\": \"\(product)\"}}")
            }
        }
        _ = try ingest(engine, lines)
        try engine.run(until: nil)
        var audiences: [String: [Int64: [String]]] = [:]
        for m in try store.outbox(afterSeq: 0, limit: 100_000) { audiences[m.journey, default: [:]][m.at, default: []].append(m.profile) }
        XCTAssertEqual(audiences["exact"]?.count, 5, "every drop reaches someone")
        XCTAssertEqual(audiences["exact"], audiences["narrowed"])
        XCTAssertEqual(audiences["exact"], audiences["scanned"])
    }

    /// also()'s pair counts are the same whether they were counted from the stored history at
    /// deploy or kept as the events arrived.
    func testPairCountsFromHistoryEqualThoseKeptAtIngest() throws {
        let flows = #"""
        journey picks {
          on order_placed
          goal order_placed
          push "{join(also(product_viewed.product_id, of: "p1", within 1h, limit 5), ",")}"
        }

        """#
        var rng = SeededRandom(state: 9)
        let start: Int64 = 1_740_787_200
        var lines: [String] = []
        for k in 0..<600 {
            let p = "u\(Int.random(in: 1...5, using: &rng))", product = "p\(Int.random(in: 0..<12, using: &rng))"
            lines.append(view(p, product, at: Value.iso8601(start + Int64(k) * 97)))
        }
        func counts(deployFirst: Bool) throws -> [String] {
            let store = try SQLiteStore(path: ":memory:")
            let engine = try Engine(store: store)
            try engine.deploy(try bundle(deployFirst ? flows : quiet), at: 0)
            XCTAssertEqual(try engine.importProfiles((1...5).map { ProfileRow(id: "u\($0)", values: [.string("N"), .string("t")]) }).count, 0)
            _ = try ingest(engine, lines)
            if !deployFirst { try engine.deploy(try bundle(flows), at: 0) }
            let s = try store.db.prepare("SELECT a || ' ' || b || ' ' || n FROM cooccur ORDER BY 1")
            var out: [String] = []
            while try s.step() { out.append(s.text(0)) }
            return out
        }
        let kept = try counts(deployFirst: true)
        XCTAssertGreaterThan(kept.count, 20)
        XCTAssertEqual(kept, try counts(deployFirst: false))
    }

    func testIndexKeysCompareNumbersByValue() {
        XCTAssertEqual(ValueEncoding.indexKeys(.int(12)), ValueEncoding.indexKeys(.money(12_000_000)))
        XCTAssertEqual(ValueEncoding.indexKeys(.decimal(12_500_000)), ["n12500000"])
        XCTAssertNotEqual(ValueEncoding.indexKeys(.string("12")), ValueEncoding.indexKeys(.int(12)))
        XCTAssertEqual(ValueEncoding.indexKeys(.list([.string("b"), .string("a"), .string("b")])), ["sa", "sb"])
        XCTAssertEqual(ValueEncoding.indexKeys(.none), [])
    }
}
