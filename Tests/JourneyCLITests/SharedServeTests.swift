import Foundation
import XCTest

/// Several `journey serve` processes on one PostgreSQL database: they share the profiles'
/// partitions and the delivery queue; one killed, the other takes over its part.
extension ServeTests {
    func testTwoServersShareOneDatabaseAndOneTakesOverWhenTheOtherDies() throws {
        try onPostgres {
            let d = try tempDir()
            let profiles = 40
            let db = try serviceDatabase(d, profiles: profiles)
            // Every answer takes 0.3 s: both servers see the same messages pending meanwhile.
            let receiver = try startReceiver(d, ["--secret", Self.secret, "--slow", "1", "--delay", "0.3"])
            let conf = try config(d, """
                [delivery]
                retry_scale = 0.001
                [delivery.push]
                webhook = "http://127.0.0.1:\(receiver.port)/push"
                secret = "\(Self.secret)"
                timeout = "2s"
                concurrency = 4
                [delivery.sms]
                webhook = "http://127.0.0.1:\(receiver.port)/sms"
                secret = "\(Self.secret)"
                timeout = "2s"
                concurrency = 4
                """)
            let env = ["JOURNEY_INGEST_KEYS": "ik", "JOURNEY_ADMIN_KEYS": "", "JOURNEY_PG_LEASE": "2"]
            let a = try start(db, env: env, ["--config", conf])
            let b = try start(db, env: env, ["--config", conf])
            var order: [String: [String]] = [:] // plans per profile, in the order posted
            var batch = 0
            /// A batch of 10 events for each server, posted to all of them at once.
            func post(to servers: [Server]) throws {
                var calls: [(Process, Pipe)] = []
                for server in servers {
                    let now = ISO8601DateFormatter().string(from: Date())
                    let items = (0..<10).map { k -> String in
                        let p = (batch * 7 + k * 3) % profiles
                        order["u\(p)", default: []].append("b\(batch)k\(k)")
                        return "{\"profile\": \"u\(p)\", \"event\": \"signed_up\", \"at\": \"\(now)\", \"id\": \"b\(batch)-\(k)\", \"data\": {\"plan\": \"b\(batch)k\(k)\"}}"
                    }
                    batch += 1
                    let curl = Process()
                    curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
                    curl.arguments = ["--noproxy", "*", "-s", "-m", "30", "-o", "-", "-w", "\n%{http_code}", "-H", "Authorization: Bearer ik",
                                      "--data-binary", "[" + items.joined(separator: ", ") + "]", "http://127.0.0.1:\(server.port)/v1/events"]
                    let out = Pipe()
                    curl.standardOutput = out
                    try curl.run()
                    calls.append((curl, out))
                }
                for (curl, out) in calls {
                    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                    curl.waitUntilExit()
                    XCTAssertTrue(text.hasSuffix("\n200") && text.hasPrefix(#"{"accepted": 10, "#), text)
                }
            }
            func settled(_ count: Int) throws -> [[String: Any]] {
                var rows: [[String: Any]] = []
                for _ in 0..<600 {
                    rows = try deliveries(db)
                    if rows.count == count, rows.allSatisfy({ $0["status"] as? String == "delivered" }) { break }
                    usleep(100_000)
                }
                return rows
            }
            func owners() throws -> Int {
                Int(try PostgresServer.psql(db, "SELECT COUNT(DISTINCT owner) FROM partitions WHERE lease_until > now()").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            }

            // Both servers take events at the same moments, and deliver: every message exactly
            // once, though both look at the one queue.
            for _ in 0..<4 { try post(to: [a, b]) }
            var rows = try settled(80)
            XCTAssertEqual(rows.count, 80)
            XCTAssertTrue(rows.allSatisfy { $0["status"] as? String == "delivered" }, "\(rows.filter { $0["status"] as? String != "delivered" })")
            XCTAssertEqual(try owners(), 2, "each server leases its share of the partitions")
            var times: [String: Int] = [:]
            for r in received(receiver) where r["valid"] as? Bool == true { times[r["id"] as? String ?? "", default: 0] += 1 }
            XCTAssertEqual(Set(times.keys), Set(rows.compactMap { $0["id"] as? String }))
            XCTAssertEqual(times.filter { $0.value != 1 }.map(\.key), [], "delivered more than once")

            // One dies with deliveries in flight; the other takes over its partitions (after
            // the lease) and its claims (after they run out).
            order = [:]
            try post(to: [a])
            try post(to: [a])
            usleep(400_000)
            kill(a.process.processIdentifier, SIGKILL)
            a.process.waitUntilExit()
            for _ in 0..<4 { try post(to: [b]) }
            rows = try settled(140)
            XCTAssertEqual(rows.count, 140, "one message per event")
            XCTAssertTrue(rows.allSatisfy { $0["status"] as? String == "delivered" }, "\(rows.filter { $0["status"] as? String != "delivered" })")
            var bodies: [String: Set<String>] = [:]
            times = [:]
            for r in received(receiver) where r["code"] as? Int == 200 {
                bodies[r["id"] as? String ?? "", default: []].insert(r["body"] as? String ?? "")
                times[r["id"] as? String ?? "", default: 0] += 1
            }
            XCTAssertEqual(Set(bodies.keys), Set(rows.compactMap { $0["id"] as? String }))
            XCTAssertEqual(bodies.filter { $0.value.count != 1 }.map(\.key), [], "an id came with two bodies")
            // Only what the killed server had in flight (its two channels' concurrency) may
            // have gone twice.
            XCTAssertLessThanOrEqual(times.values.filter { $0 > 1 }.count, 8)
            XCTAssertEqual(try owners(), 1)
            // Each profile's messages of the second part in the order its events were posted.
            let lines = try PostgresServer.psql(db, "SELECT profile || ' ' || substring(content from '[Pp]lan (b[0-9]+k[0-9]+)') FROM outbox WHERE journey = 'welcome' ORDER BY seq")
            var sent: [String: [String]] = [:]
            for line in lines.split(separator: "\n") {
                let parts = line.split(separator: " ")
                // (Posted to two servers at once, the first part's order is the commits'.)
                guard parts.count == 2, let n = Int(parts[1].dropFirst().prefix { $0 != "k" }), n >= 8 else { continue }
                sent[String(parts[0]), default: []].append(String(parts[1]))
            }
            XCTAssertEqual(sent, order)
            stop(b)
        }
    }
}

extension ServeTests {
    /// The console's pages on PostgreSQL (its reads on a session of their own), and its one
    /// write, putting a failed message back.
    func testConsoleOnPostgres() throws {
        try onPostgres {
            let d = try tempDir()
            let db = try serviceDatabase(d, profiles: 2)
            let receiver = try startReceiver(d, ["--refuse", "u1"])
            let conf = try config(d, """
                [delivery.push]
                webhook = "http://127.0.0.1:\(receiver.port)/push"
                [delivery.sms]
                webhook = "http://127.0.0.1:\(receiver.port)/sms"
                """)
            let server = try start(db, env: ["JOURNEY_INGEST_KEYS": "", "JOURNEY_ADMIN_KEYS": ""], ["--no-auth", "--config", conf])
            let now = ISO8601DateFormatter().string(from: Date())
            let posted = try request(server, "POST", "/v1/events", body: signedUp([0, 1], plan: "gold").dropLast()
                                     + ", {\"profile\": \"ghost\", \"event\": \"signed_up\", \"at\": \"\(now)\", \"data\": {\"plan\": \"x\"}}]")
            XCTAssertEqual(posted.0, 200, posted.1)
            var rows: [[String: Any]] = []
            for _ in 0..<100 {
                rows = try deliveries(db)
                if Set(rows.compactMap { $0["status"] as? String }) == ["delivered", "failed"] { break }
                usleep(50_000)
            }
            let failed = try XCTUnwrap(rows.first { $0["status"] as? String == "failed" }?["id"] as? String)
            let jar = d.appendingPathComponent("cookies.txt")
            let home = try browse(server, "GET", "/console", jar: jar)
            XCTAssertEqual(home.status, 200)
            XCTAssertTrue(home.body.contains("<a href=\"/console/journeys/welcome\">welcome</a>"), home.body)
            let page = try browse(server, "GET", "/console/deliveries", jar: jar)
            XCTAssertEqual(page.status, 200)
            XCTAssertTrue(page.body.contains(failed) && page.body.contains("422"), page.body)
            let rejects = try browse(server, "GET", "/console/rejects", jar: jar)
            XCTAssertTrue(rejects.body.contains("unknown profile") && rejects.body.contains("ghost"), rejects.body)
            let profile = try browse(server, "GET", "/console/profiles?id=u0", jar: jar)
            XCTAssertEqual(profile.status, 200)
            XCTAssertTrue(profile.body.contains("tok-0") && profile.body.contains("Plan gold"), profile.body)
            XCTAssertEqual(try browse(server, "GET", "/console/journeys/welcome", jar: jar).status, 200)
            // Put back: it is tried again (and refused again: a second attempt is recorded).
            let csrf = try XCTUnwrap(hiddenField("csrf", in: home.body))
            XCTAssertEqual(try browse(server, "POST", "/console/deliveries/\(failed)/redeliver", jar: jar, form: "csrf=\(csrf)").status, 303)
            var attempts = 0
            for _ in 0..<100 {
                attempts = ((try deliveries(db, status: "failed").first?["attempts"]) as? [Any])?.count ?? 0
                if attempts == 2 { break }
                usleep(50_000)
            }
            XCTAssertEqual(attempts, 2)
            stop(server)
        }
    }
}
