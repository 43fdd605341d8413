import Foundation
import XCTest
import JourneyBytecode
import JourneyDiagnostics
import JourneySemantics
import JourneySyntax
@testable import JourneyRuntime

/// Bundles deployed by another process while an engine runs: the instances they start are
/// served by an engine that never made them current.
final class BundleArrivalTests: XCTestCase, StoreFixture, BundleFixture {
    let schema = """
    profile {
      first_name: string
      email: string?
    }
    event signed_up { source: string }
    event order_placed { order_id: string }
    channel email address profile.email

    """

    func ingest(_ engine: Engine, _ line: String) throws {
        let file = EventInput.parseFile(Array((line + "\n").utf8), schema: engine.current!.schema, parts: 1)
        XCTAssertEqual(file.errors.map(\.reason), [])
        _ = try engine.ingest(file, source: "test")
    }

    /// An event that is a goal in the bundle an engine knows, and awaited in one another process
    /// deployed (and replaced) since: the goal check brings that bundle in, and the instance
    /// waiting for the event in it is woken by it, not left to its time-out.
    func testAWaitInABundleDeployedElsewhereIsWokenByAGoalEvent() throws {
        let path = try scratchFolder("journey-arrival").appendingPathComponent("j.db").path
        let goal = "journey thanks {\n  on signed_up\n  goal order_placed\n  wait 1d\n  email \"still there?\"\n}\n"
        let waits = "journey welcome {\n  on signed_up\n  wait for order_placed within 7d {\n    email \"got your order\"\n  } else {\n    email \"no order yet\"\n  }\n}\n"
        let first = try Engine(store: try SQLiteStore(path: path))
        try first.deploy(try bundle(goal), at: 0)
        XCTAssertEqual(try first.importProfiles([ProfileRow(id: "p", values: [.string("Ana"), .string("a@x")])]).count, 0)
        // Another process: a bundle with the wait, an instance of it, then a third bundle current.
        let other = try Engine(store: try SQLiteStore(path: path))
        try other.deploy(try bundle(waits), at: 0)
        try ingest(other, "{\"profile\": \"p\", \"event\": \"signed_up\", \"at\": \"2025-03-01T10:00:00Z\", \"data\": {\"source\": \"web\"}}")
        try other.run(until: Value.parseISO8601("2025-03-01T11:00:00Z"))
        try other.deploy(try bundle(goal + "journey extra {\n  on order_placed\n  email \"thanks\"\n}\n"), at: 0)
        // The first engine, which never saw the second bundle, takes the order.
        try ingest(first, "{\"profile\": \"p\", \"event\": \"order_placed\", \"at\": \"2025-03-01T12:00:00Z\", \"data\": {\"order_id\": \"o1\"}}")
        try first.run(until: Value.parseISO8601("2025-03-10T00:00:00Z"))
        let sent = try first.store.outbox(afterSeq: 0, limit: 100).map { "\($0.journey) \($0.content ?? "")" }
        XCTAssertTrue(sent.contains { $0.hasPrefix("welcome") && $0.contains("got your order") }, "\(sent)")
        XCTAssertFalse(sent.contains { $0.contains("no order yet") }, "\(sent)")
    }
}
