import Foundation
import XCTest

let trialSchema = """
profile { first_name: string, push_token: string? }
event signed_up { plan: string }
event purchased { total: money }
channel push address profile.push_token

"""
let trialJourney = """
journey trial "Trial conversion" {
  on signed_up
  goal purchased
  split {
    50% control {
      wait 14d
    }
    50% nudge {
      push "Hi {profile.first_name}, your trial ends soon"
      wait 14d
    }
  }
}

"""

/// The trial database after the sign-ups, and who is in which arm.
struct TrialFixture {
    var d: URL
    var db: String
    var nudged: [String]
    var control: [String]
    var withoutToken: Set<String>
}

/// 1000 customers sign up for the trial (one in ten without a push token) and the run takes them
/// to their waits; who got a message (sent or undeliverable) is in the nudge arm.
func trialSignups() throws -> TrialFixture {
    let d = try tempDir()
    var profiles = ""
    var withoutToken = Set<String>()
    for i in 0..<1000 {
        if i % 10 == 9 {
            profiles += "{\"id\": \"u\(i)\", \"first_name\": \"U\(i)\"}\n"
            withoutToken.insert("u\(i)")
        } else {
            profiles += "{\"id\": \"u\(i)\", \"first_name\": \"U\(i)\", \"push_token\": \"t\(i)\"}\n"
        }
    }
    let db = try deployedProject(d, files: ["schema.journey": trialSchema, "trial.journey": trialJourney], profiles: profiles)
    var events = ""
    for i in 0..<1000 { events += "{\"profile\": \"u\(i)\", \"event\": \"signed_up\", \"at\": \"2025-03-01T10:00:00Z\", \"data\": {\"plan\": \"pro\"}}\n" }
    try events.write(to: d.appendingPathComponent("signups.jsonl"), atomically: true, encoding: .utf8)
    XCTAssertEqual(try journey(["ingest", "--db", db, d.appendingPathComponent("signups.jsonl").path]).code, 0)
    XCTAssertEqual(try journey(["run", "--db", db, "--until", "2025-03-01T11:00:00Z"]).code, 0)
    // Whoever got a message (sent or undeliverable) is in the nudge arm.
    let outbox = try journey(["outbox", "--db", db])
    var nudged = Set<String>()
    for line in outbox.out.split(separator: "\n") {
        guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let p = o["profile"] as? String else { continue }
        nudged.insert(p)
    }
    let all = (0..<1000).map { "u\($0)" }
    return TrialFixture(d: d, db: db, nudged: all.filter { nudged.contains($0) }, control: all.filter { !nudged.contains($0) }, withoutToken: withoutToken)
}


/// Exactly 90 of the nudged and 50 of the control group buy two days after signing up; one more
/// control customer buys after the journey ended (no conversion). Then the run goes to the end.
func trialPurchases(_ f: TrialFixture) throws {
    var events = ""
    for p in f.nudged.prefix(90) + f.control.prefix(50) {
        events += "{\"profile\": \"\(p)\", \"event\": \"purchased\", \"at\": \"2025-03-03T10:00:00Z\", \"data\": {\"total\": 25}}\n"
    }
    events += "{\"profile\": \"\(f.control[60])\", \"event\": \"purchased\", \"at\": \"2025-03-20T10:00:00Z\", \"data\": {\"total\": 25}}\n"
    try events.write(to: f.d.appendingPathComponent("purchases.jsonl"), atomically: true, encoding: .utf8)
    XCTAssertEqual(try journey(["ingest", "--db", f.db, f.d.appendingPathComponent("purchases.jsonl").path]).code, 0)
    XCTAssertEqual(try journey(["run", "--db", f.db, "--until", "2025-04-01T00:00:00Z"]).code, 0)
}

/// `journey stats` after a simulation whose numbers are known by construction: 1000 customers
/// sign up, the split sends half of them a push, and then exactly 90 of the nudged and 50 of the
/// control group buy within the journey (one more control customer buys after it ended).
final class StatsTests: XCTestCase {
    func stats(_ db: String, _ extra: [String] = []) throws -> [String: Any] {
        try trialStats(db, extra)
    }

    // The same on the PostgreSQL store.
    func testTheFunnelAndTheSplitAreCountedExactlyOnPostgres() throws { try onPostgres { try testTheFunnelAndTheSplitAreCountedExactly() } }
    func testTooEarlyToTellAndSinceOnPostgres() throws { try onPostgres { try testTooEarlyToTellAndSince() } }
}

/// The trial journey's entry of `journey stats --format json`.
func trialStats(_ db: String, _ extra: [String] = []) throws -> [String: Any] {
    let r = try journey(["stats", "--db", db, "--format", "json"] + extra)
    XCTAssertEqual(r.code, 0, r.err)
    let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
    let journeys = try XCTUnwrap(doc["journeys"] as? [[String: Any]])
    return try XCTUnwrap(journeys.first { $0["journey"] as? String == "trial" })
}

extension StatsTests {
    func testTheFunnelAndTheSplitAreCountedExactly() throws {
        let f = try trialSignups()
        defer { try? FileManager.default.removeItem(at: f.d) }
        let (nT, nC) = (f.nudged.count, f.control.count)
        XCTAssertEqual(nT + nC, 1000)
        XCTAssertGreaterThan(nT, 400, "the split is about even")
        XCTAssertGreaterThan(nC, 400, "the split is about even")
        let noToken = f.nudged.filter { f.withoutToken.contains($0) }.count

        // While everyone waits: all are active, each at the wait of their branch.
        var j = try stats(f.db)
        XCTAssertEqual(j["entered"] as? Int, 1000)
        XCTAssertEqual(j["active"] as? Int, 1000)
        var steps = try XCTUnwrap(j["steps"] as? [[String: Any]])
        XCTAssertEqual(steps.map { $0["kind"] as? String }, ["split", "wait", "send", "wait"])
        XCTAssertEqual(steps.map { $0["line"] as? Int }, [4, 6, 9, 10])
        XCTAssertEqual(steps[1]["waiting"] as? Int, nC)
        XCTAssertEqual(steps[3]["waiting"] as? Int, nT)

        // Then 90 of the nudged and 50 of the control group buy two days after signing up; one
        // more control customer buys after the journey ended, which is no conversion.
        try trialPurchases(f)

        j = try stats(f.db)
        XCTAssertEqual(j["entered"] as? Int, 1000)
        XCTAssertEqual(j["active"] as? Int, 0)
        XCTAssertEqual(j["converted"] as? Int, 140)
        XCTAssertEqual(j["completed"] as? Int, 860)
        XCTAssertEqual(j["exited"] as? Int, 0)
        XCTAssertEqual(j["conversion_rate"] as? Double ?? 0, 0.14, accuracy: 1e-12)
        let ttc = try XCTUnwrap(j["time_to_convert"] as? [String: Any])
        XCTAssertEqual(ttc["conversions"] as? Int, 140)
        XCTAssertEqual(ttc["median_seconds"] as? Int, 2 * 86400)
        steps = try XCTUnwrap(j["steps"] as? [[String: Any]])
        XCTAssertEqual(steps.map { $0["reached"] as? Int }, [1000, nC, nT, nT])
        XCTAssertEqual((steps[0]["branches"] as? [[String: Any]])?.map { $0["reached"] as? Int }, [nC, nT])
        XCTAssertEqual(steps[2]["sent"] as? [String: Int], ["push": nT - noToken])
        XCTAssertEqual(steps[2]["undeliverable"] as? Int, noToken)
        XCTAssertEqual(steps.map { $0["waiting"] as? Int }, [0, 0, 0, 0])
        XCTAssertEqual(steps[2]["receipts"] as? [String: [String: Int]], [:])

        // Receipts (as `journey serve` records them) count at the step that sent the message,
        // each message once per status however often it was opened.
        let sent = try journey(["outbox", "--db", f.db, "--with-ids"]).out.split(separator: "\n").compactMap { line -> String? in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], o["status"] as? String == "sent" else { return nil }
            return o["id"] as? String
        }
        XCTAssertEqual(sent.count, nT - noToken)
        let opened = Array(sent.prefix(10))
        let insert = """
        import sqlite3, sys
        db = sqlite3.connect(sys.argv[1])
        for i, m in enumerate(sys.argv[2:]):
            db.execute("INSERT INTO receipts(message, status, at, received_at) VALUES (?, 'opened', 0, 0)", (m,))
            if i == 0:
                db.execute("INSERT INTO receipts(message, status, at, received_at) VALUES (?, 'opened', 1, 1)", (m,))
                db.execute("INSERT INTO receipts(message, status, at, received_at) VALUES (?, 'clicked', 1, 1)", (m,))
        db.commit()
        print("ok")
        """
        if f.db.hasPrefix("postgres") {
            // Receipts come through the service, which runs on SQLite only so far: written here.
            var sql = opened.map { "INSERT INTO receipts(message, status, at, received_at) VALUES ('\($0)', 'opened', 0, 0);" }.joined()
            sql += "INSERT INTO receipts(message, status, at, received_at) VALUES ('\(opened[0])', 'opened', 1, 1), ('\(opened[0])', 'clicked', 1, 1);"
            try PostgresServer.psql(f.db, sql)
        } else {
            XCTAssertEqual(try pythonOutput(insert, [f.db] + opened).trimmingCharacters(in: .whitespacesAndNewlines), "ok")
        }
        j = try stats(f.db)
        steps = try XCTUnwrap(j["steps"] as? [[String: Any]])
        XCTAssertEqual(steps[2]["receipts"] as? [String: [String: Int]], ["opened": ["push": 10], "clicked": ["push": 1]])

        let split = try XCTUnwrap((j["splits"] as? [[String: Any]])?.first)
        XCTAssertEqual(split["line"] as? Int, 4)
        XCTAssertEqual(split["control"] as? String, "control")
        XCTAssertEqual(split["control_rule"] as? String, "labelled control")
        let branches = try XCTUnwrap(split["branches"] as? [[String: Any]])
        XCTAssertEqual(branches.map { $0["label"] as? String }, ["control", "nudge"])
        XCTAssertEqual(branches.map { $0["entered"] as? Int }, [nC, nT])
        XCTAssertEqual(branches.map { $0["converted"] as? Int }, [50, 90])
        XCTAssertEqual(branches[1]["rate"] as? Double ?? 0, 90 / Double(nT), accuracy: 1e-12)
        let c = try XCTUnwrap((split["comparisons"] as? [[String: Any]])?.first)
        XCTAssertEqual(c["branch"] as? String, "nudge")
        XCTAssertEqual(c["control"] as? String, "control")
        let lift = try XCTUnwrap(c["lift"] as? Double)
        XCTAssertEqual(lift, 90 / Double(nT) - 50 / Double(nC), accuracy: 1e-12)
        XCTAssertEqual(c["relative_lift"] as? Double ?? 0, lift / (50 / Double(nC)), accuracy: 1e-12)
        let ci = try XCTUnwrap(c["ci95"] as? [Double])
        let p = try XCTUnwrap(c["p_value"] as? Double)

        // The interval and the p-value, computed independently by statsmodels.
        guard let python = findPython(importing: "statsmodels") else {
            throw XCTSkip("statsmodels is not installed (.ci/run installs it into .venv-ci)")
        }
        let code = """
        import sys
        from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
        x1, n1, x2, n2 = map(int, sys.argv[1:])
        lo, hi = confint_proportions_2indep(x1, n1, x2, n2, method='newcomb', compare='diff')
        z, p = proportions_ztest([x1, x2], [n1, n2])
        print(repr(float(lo)), repr(float(hi)), repr(float(p)))
        """
        let out = try pythonOutput(code, ["90", String(nT), "50", String(nC)], python: python).split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        XCTAssertEqual(out.count, 3, "statsmodels printed \(out)")
        guard out.count == 3 else { return }
        XCTAssertEqual(ci[0], out[0], accuracy: 1e-12)
        XCTAssertEqual(ci[1], out[1], accuracy: 1e-12)
        XCTAssertEqual(p, out[2], accuracy: 1e-12)
        let verdict = out[0] > 0 ? "better" : (out[1] < 0 ? "worse" : "no clear difference")
        XCTAssertEqual(c["verdict"] as? String, verdict)

        // The text form says the same.
        let text = try journey(["stats", "--db", f.db, "--journey", "trial"])
        XCTAssertEqual(text.code, 0)
        XCTAssertTrue(text.out.contains("entered 1000 · active 0 · converted 140 (14.0%)"), text.out)
        XCTAssertTrue(text.out.contains("split at line 4 (control: control, labelled control)"), text.out)
        XCTAssertTrue(text.out.contains("nudge vs control: \(String(format: "%+.1f", lift * 100)) points"), text.out)
        XCTAssertTrue(text.out.contains("→ \(verdict)"), text.out)
    }

    /// Fewer than 30 conversions in an arm: no verdict yet. And --since takes the customers who
    /// entered since then: none of these.
    func testTooEarlyToTellAndSince() throws {
        let f = try trialSignups()
        defer { try? FileManager.default.removeItem(at: f.d) }
        var events = ""
        for p in f.nudged.prefix(40) + f.control.prefix(29) {
            events += "{\"profile\": \"\(p)\", \"event\": \"purchased\", \"at\": \"2025-03-02T10:00:00Z\", \"data\": {\"total\": 25}}\n"
        }
        try events.write(to: f.d.appendingPathComponent("purchases.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["ingest", "--db", f.db, f.d.appendingPathComponent("purchases.jsonl").path]).code, 0)
        XCTAssertEqual(try journey(["run", "--db", f.db, "--until", "2025-04-01T00:00:00Z"]).code, 0)
        var j = try stats(f.db)
        let split = try XCTUnwrap((j["splits"] as? [[String: Any]])?.first)
        let c = try XCTUnwrap((split["comparisons"] as? [[String: Any]])?.first)
        XCTAssertEqual(c["verdict"] as? String, "too early to tell")
        XCTAssertNotNil(c["ci95"] as? [Double], "the interval is still given")
        XCTAssertEqual(j["converted"] as? Int, 69)

        j = try stats(f.db, ["--since", "2025-03-01T11:00:00Z"])
        XCTAssertEqual(j["entered"] as? Int, 0)
        XCTAssertEqual(j["converted"] as? Int, 0)
        XCTAssertEqual(((j["splits"] as? [[String: Any]])?.first?["branches"] as? [[String: Any]])?.map { $0["entered"] as? Int }, [0, 0])
        j = try stats(f.db, ["--since", "2025-03-01"])
        XCTAssertEqual(j["entered"] as? Int, 1000)
        XCTAssertEqual(j["converted"] as? Int, 69)

        let unknown = try journey(["stats", "--db", f.db, "--journey", "nope"])
        XCTAssertEqual(unknown.code, 2)
        XCTAssertTrue(unknown.err.contains("no journey named 'nope'"), unknown.err)
    }
}

extension StatsTests {
    /// `journey simulate --report`: the console's journey page for a simulation, offline, in one
    /// HTML file; its numbers are those the simulation's database gives `journey stats`.
    func testSimulateWritesAReport() throws {
        let d = try tempDir()
        defer { try? FileManager.default.removeItem(at: d) }
        let project = d.appendingPathComponent("project")
        try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
        try trialSchema.write(to: project.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
        try trialJourney.write(to: project.appendingPathComponent("trial.journey"), atomically: true, encoding: .utf8)
        var profiles = "", signups = ""
        for i in 0..<400 {
            profiles += "{\"id\": \"u\(i)\", \"first_name\": \"U\(i)\", \"push_token\": \"t\(i)\"}\n"
            signups += "{\"profile\": \"u\(i)\", \"event\": \"signed_up\", \"at\": \"2025-03-01T10:00:00Z\", \"data\": {\"plan\": \"pro\"}}\n"
        }
        try profiles.write(to: d.appendingPathComponent("p.jsonl"), atomically: true, encoding: .utf8)
        try signups.write(to: d.appendingPathComponent("e.jsonl"), atomically: true, encoding: .utf8)
        // The split is deterministic: a first simulation says who is nudged.
        let first = try journey(["simulate", "--profiles", d.appendingPathComponent("p.jsonl").path, "--events", d.appendingPathComponent("e.jsonl").path, project.path])
        XCTAssertEqual(first.code, 0, first.err)
        let nudged = Set(first.out.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["profile"] as? String })
        let all = (0..<400).map { "u\($0)" }
        var events = signups
        for p in all.filter({ nudged.contains($0) }).prefix(40) + all.filter({ !nudged.contains($0) }).prefix(30) {
            events += "{\"profile\": \"\(p)\", \"event\": \"purchased\", \"at\": \"2025-03-04T10:00:00Z\", \"data\": {\"total\": 25}}\n"
        }
        try events.write(to: d.appendingPathComponent("e.jsonl"), atomically: true, encoding: .utf8)
        let report = d.appendingPathComponent("report.html"), db = d.appendingPathComponent("sim.db")
        let r = try journey(["simulate", "--profiles", d.appendingPathComponent("p.jsonl").path, "--events", d.appendingPathComponent("e.jsonl").path,
                             "--db", db.path, "--report", report.path, project.path])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.err.contains("wrote \(report.path)"), r.err)
        let html = try String(contentsOf: report, encoding: .utf8)
        let stats = try trialStats(db.path)
        XCTAssertEqual(stats["entered"] as? Int, 400)
        XCTAssertEqual(stats["converted"] as? Int, 70)
        let (nT, nC) = (nudged.count, 400 - nudged.count)
        for s in ["<h1>Simulation report</h1>", "400 profiles, events from", "from 2025-03-01 10:00:00 UTC",
                  "<a href=\"#trial\">trial</a></th><td class=\"num\">400</td><td class=\"num\">70</td><td class=\"num\">17.5%</td>",
                  "<dt>Entered</dt><dd>400</dd>", "<dt>Converted</dt><dd>70</dd>",
                  "<th scope=\"row\">control</th><td class=\"num\">\(nC)</td><td class=\"num\">30</td>",
                  "<th scope=\"row\">nudge</th><td class=\"num\">\(nT)</td><td class=\"num\">40</td>",
                  "<h2>trial <span class=\"sub\">Trial conversion</span></h2>", "id=\"trial-diagram\""] {
            XCTAssertTrue(html.contains(s), "the report lacks “\(s)”")
        }
        XCTAssertEqual(html.components(separatedBy: "<h1").count - 1, 1, "one h1")
        XCTAssertFalse(html.contains("<script"))
        XCTAssertFalse(html.contains("/console/"), "the report links to nothing of a server")
        XCTAssertFalse(html.contains("Version <code>"), "a simulation has no deployed version")
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/dot") {
            XCTAssertTrue(html.contains("<svg role=\"img\" aria-label=\"Diagram of journey trial"), "the diagram")
            XCTAssertTrue(html.contains("50% nudge (\(nT))"), "the diagram's counts")
        }
        // A report that cannot be written is an error that names it, after the timeline.
        let bad = try journey(["simulate", "--profiles", d.appendingPathComponent("p.jsonl").path, "--events", d.appendingPathComponent("e.jsonl").path,
                               "--report", d.appendingPathComponent("no/such/dir/r.html").path, project.path])
        XCTAssertEqual(bad.code, 2)
        XCTAssertTrue(bad.err.contains("cannot write the report"), bad.err)
    }
}
