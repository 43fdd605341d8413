import JourneyBytecode

/// What `journey serve`, its console and the delivery commands need of a store beyond the
/// engine's `JourneyStore`: the delivery queue, receipts, erasure and the pages' reads. Both
/// stores implement it; the service knows only this protocol.
public protocol ServiceStore: JourneyStore, InstanceListing, AnalyticsReading {
    /// Pending messages of one channel whose next attempt is due by `now`, oldest due first,
    /// leaving out those already being tried (`busy`). A store that several servers share
    /// claims what it returns for `claimFor` seconds, so no other server tries them meanwhile
    /// (an attempt not recorded by then is made again: at least once, with the same id), and
    /// judges what is due, and the claims, by its own clock rather than `now`.
    func dueDeliveries(channel: String, now: Double, limit: Int, busy: Set<String>, claimFor: Double) throws -> [PendingDelivery]
    /// When the earliest pending message of these channels is due (nil: none is pending).
    func nextDeliveryDue(channels: [String]) throws -> Double?
    /// Records finished attempts and their consequences in one transaction of their own, which
    /// need not wait for the disk (losing it only repeats attempts, with the same ids).
    func recordAttempts(_ batch: [(message: String, attempt: DeliveryAttempt, outcome: DeliveryOutcome)]) throws
    /// Puts failed messages back in the queue, due now; for each id nil, or why not.
    func redeliver(ids: [String], now: Double) throws -> [String?]
    /// Messages for providers with their attempts, oldest first (one delivery status only when given).
    func deliveries(status: String?, afterSeq: Int64, limit: Int) throws -> [DeliveryRecord]
    /// Pending messages per channel (the outbox backlog).
    func pendingCounts() throws -> [(channel: String, count: Int)]
    /// Messages whose delivery failed, newest first, with their attempts, and how many there are.
    func failedDeliveries(limit: Int) throws -> (rows: [DeliveryRecord], total: Int)
    /// Records a receipt; false when no sent message has this id.
    func addReceipt(message: String, status: String, at: Int64, receivedAt: Int64) throws -> Bool
    func receipts(message: String) throws -> [Receipt]
    /// A profile's messages, newest first, with their delivery columns.
    func messages(profile: String, channel: String?, limit: Int) throws -> [DeliveryRecord]
    /// A profile's most recent events, newest first, decoded with `schema`.
    func recentEvents(profile: String, limit: Int, schema: RuntimeSchema) throws -> [StoredEvent]
    /// Erases a profile in the caller's transaction (see `SQLiteStore.erase`); whether it existed.
    func erase(profile: String) throws -> Bool
    /// The newest rejected lines first, and how many there are in all.
    func recentRejects(limit: Int) throws -> (rows: [RejectRow], total: Int)
    /// Profiles are read as `schema` says (a reader that does not deploy).
    func readProfiles(as schema: RuntimeSchema)
}

/// A store that many processes share, each a worker with a part of the profiles (PostgreSQL).
/// Front ends use it to join the work and to carry on after a setback; the engine never does.
public protocol SharedWorkStore: AnyObject {
    /// Joins the workers, leasing partitions for `lease` seconds at a time.
    func becomeWorker(lease: Double) throws
    /// Whether `error` is one a worker carries on after (a lease it lost, a session the server
    /// ended, a transient failure), once it has called `recover`.
    func isSetback(_ error: Error) -> Bool
    /// Whether the transaction `error` ended surely did not commit, so that it may be made
    /// again after `recover` (a session lost during its commit may have committed it).
    func isRetryable(_ error: Error) -> Bool
    /// The next transaction holds the writers' lock alone from its start: work that spans
    /// partitions (an ingest, an erasure, another partition's profile).
    func holdAloneNext()
    /// Forgets the transaction in hand, reconnects when needed and looks at the leases again.
    func recover() throws
    /// Whether anything due by `until` is left in any partition.
    func workDue(by until: Int64) throws -> Bool
    /// How often a worker renews its leases, in seconds.
    var heartbeatInterval: Double { get }
}

extension RejectedLine {
    /// Whether a rejected line (JSON or CSV) names this profile: the JSON line's "profile" or
    /// "id", or one of the CSV line's cells (quotes and spaces around it aside).
    public static func names(_ raw: String, profile id: String) -> Bool {
        if raw.utf8.first == UInt8(ascii: "{") { return profile(raw) == id }
        return raw.split(separator: ",", omittingEmptySubsequences: false).contains { cell in
            Array(cell.drop(while: { $0 == " " || $0 == "\"" }).reversed().drop(while: { $0 == " " || $0 == "\"" }).reversed()) == Array(id)
        }
    }
}
