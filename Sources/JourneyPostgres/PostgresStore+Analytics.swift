import JourneyBytecode
import JourneyRuntime

// What `journey stats` reads back, as on SQLite.

extension PostgresStore: AnalyticsReading {
    public func deploys() throws -> [(hash: String, deployedAt: Int64)] {
        let r = try q("SELECT hash, deployed_at FROM bundles ORDER BY seq")
        return (0..<r.count).map { (r.text($0, 0), r.int64($0, 1)) }
    }

    public func stepCounts(journey: String?, sinceHour: Int64) throws -> [StepCount] {
        let r = try q("SELECT journey, bundle, step, what, SUM(n)::bigint FROM step_counts WHERE ($1::text IS NULL OR journey = $1) AND entered_hour >= $2 GROUP BY journey, bundle, step, what",
                      [.from(journey), .int(sinceHour)])
        return (0..<r.count).map { StepCount(journey: r.text($0, 0), bundle: r.text($0, 1), step: r.int($0, 2), what: r.text($0, 3), hour: sinceHour, n: r.int64($0, 4)) }
    }

    public func receiptCounts(journey: String?, since: Int64?) throws -> [(journey: String, bundle: String, step: Int, channel: String, status: String, n: Int64)] {
        let r = try q("""
            SELECT o.journey, o.bundle, o.step, o.channel, r.status, COUNT(DISTINCT o.id) FROM receipts r JOIN outbox o ON o.id = r.message
            WHERE o.step IS NOT NULL AND o.bundle IS NOT NULL AND o.channel IS NOT NULL AND ($1::text IS NULL OR o.journey = $1)
              AND ($2::bigint IS NULL OR EXISTS (SELECT 1 FROM instances i WHERE i.id = split_part(o.id, '-', 1)::bigint AND i.entered_at >= $2))
            GROUP BY o.journey, o.bundle, o.step, o.channel, r.status
            """, [.from(journey), .from(since)])
        return (0..<r.count).map { (r.text($0, 0), r.text($0, 1), r.int($0, 2), r.text($0, 3), r.text($0, 4), r.int64($0, 5)) }
    }

    public func instanceOutcomes(journey: String, bundle: String, since: Int64) throws -> [String: Int64] {
        let r = try q("SELECT status, COUNT(*) FROM instances WHERE journey = $1 AND bundle = $2 AND entered_at >= $3 GROUP BY status", [.text(journey), .text(bundle), .int(since)])
        var out: [String: Int64] = [:]
        for i in 0..<r.count { out[r.text(i, 0)] = r.int64(i, 1) }
        return out
    }

    public func activeInstances(journey: String?, since: Int64) throws -> [(journey: String, bundle: String, pc: Int, n: Int64)] {
        let r = try q("SELECT journey, bundle, pc, COUNT(*) FROM instances WHERE status = 'active' AND ($1::text IS NULL OR journey = $1) AND entered_at >= $2 GROUP BY journey, bundle, pc",
                      [.from(journey), .int(since)])
        return (0..<r.count).map { (r.text($0, 0), r.text($0, 1), r.int($0, 2), r.int64($0, 3)) }
    }

    public func conversionTimes(journey: String, bundle: String, since: Int64) throws -> [Int64] {
        let r = try q("""
            SELECT ended_at - entered_at AS took FROM instances
            WHERE journey = $1 AND bundle = $2 AND status = 'converted' AND entered_at >= $3 AND ended_at IS NOT NULL ORDER BY took
            """, [.text(journey), .text(bundle), .int(since)])
        return (0..<r.count).map { r.int64($0, 0) }
    }

    public func branchOutcomes(journey: String?, since: Int64) throws -> [(journey: String, bundle: String, step: Int, branch: Int, entered: Int64, converted: Int64)] {
        let r = try q("""
            SELECT i.journey, i.bundle, b.step, b.branch, COUNT(*), COUNT(*) FILTER (WHERE i.status = 'converted') FROM instance_branches b JOIN instances i ON i.id = b.instance
            WHERE ($1::text IS NULL OR i.journey = $1) AND i.entered_at >= $2 GROUP BY i.journey, i.bundle, b.step, b.branch
            """, [.from(journey), .int(since)])
        return (0..<r.count).map { (r.text($0, 0), r.text($0, 1), r.int($0, 2), r.int($0, 3), r.int64($0, 4), r.int64($0, 5)) }
    }
}
