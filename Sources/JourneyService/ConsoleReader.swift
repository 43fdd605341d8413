import Foundation
import JourneyBytecode
import JourneyRuntime

/// The console's reads, on a read-only connection of their own: a page over a big database
/// (the stats scan the active instances) never holds up the engine, the ingest or the deliverer,
/// which share the writing connection. SQLite's write-ahead log lets it read beside them, each
/// query seeing the last commit; on PostgreSQL it is a session of its own.
actor ConsoleReader {
    let store: any ServiceStore
    /// Loaded (and verified) bundles, by hash.
    var bundles: [String: JourneyBundle] = [:]
    /// The bundle whose schema profiles are read with.
    var profileSchema: String?

    init(_ config: ServiceConfiguration) throws {
        store = try config.open(readOnly: true)
    }

    func bundle(_ hash: String) throws -> JourneyBundle? {
        if let b = bundles[hash] { return b }
        guard let bytes = try store.bundleBytes(hash) else { return nil }
        let b = try JourneyBundle.load(bytes)
        bundles[hash] = b
        return b
    }

    /// Every journey version's numbers (or one journey's).
    func stats(journey: String?) throws -> StatsReport {
        try StatsReport.build(store, journey: journey)
    }

    /// The 360° view of a profile, or nil when there is no such profile.
    func profile(id: String) throws -> ProfileView? {
        guard let hash = try store.currentBundleHash(), let schema = try bundle(hash)?.schema else { return nil }
        if profileSchema != hash {
            store.readProfiles(as: schema)
            profileSchema = hash
        }
        return try ProfileView.build(store, schema: schema, id: id)
    }

    /// What waits for delivery per channel, and the newest failures with their attempts.
    func deliveryOverview(limit: Int) throws -> (pending: [(channel: String, count: Int)], failed: [DeliveryRecord], total: Int) {
        let failed = try store.failedDeliveries(limit: limit)
        return (try store.pendingCounts(), failed.rows, failed.total)
    }

    func rejectOverview(limit: Int) throws -> (rows: [RejectRow], total: Int) {
        try store.recentRejects(limit: limit)
    }
}
