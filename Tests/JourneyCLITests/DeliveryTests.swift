import Foundation
import XCTest

/// `journey serve`, delivery and the profile endpoints: a real server, a real receiver
/// (examples/receiver.py) on loopback, real SQLite; every wait bounded.
extension ServeTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    /// A project with push, sms and in-app channels, deployed, with profiles u0… (push token
    /// tok-N for even N, a phone for odd N, an app id for all).
    func serviceDatabase(_ d: URL, profiles: Int, extra: String = "") throws -> String {
        let source = """
        profile { name: string, token: string?, phone: string?, app_id: string? }
        event signed_up { plan: string }
        channel push address profile.token
        channel sms address profile.phone
        channel in_app address profile.app_id
        journey welcome "Welcome" {
          on signed_up as s
          goal signed_up where plan == "never"
          reentry always
          push { title: "Welcome {profile.name}", body: "Plan {s.plan}" } else sms "Welcome {profile.name}, plan {s.plan}"
        }
        journey banners "Banners" {
          on signed_up as s
          goal signed_up where plan == "never"
          reentry always
          in_app { slot: "top", content: "Top {s.plan}", expires: 1h }
          in_app { slot: "side", content: "Side {s.plan}", expires: 3s }
        }
        \(extra)
        """
        var text = ""
        for i in 0..<profiles {
            text += "{\"id\": \"u\(i)\", \"name\": \"N\(i)\", " + (i % 2 == 0 ? "\"token\": \"tok-\(i)\"" : "\"phone\": \"+1000\(i)\"") + ", \"app_id\": \"app-\(i)\"}\n"
        }
        return try deployedProject(d, files: ["shop.journey": source], profiles: text)
    }

    struct Receiver {
        let port: Int
        let record: URL
    }

    /// Starts examples/receiver.py on a free port, recording every request.
    func startReceiver(_ d: URL, _ args: [String]) throws -> Receiver {
        let record = d.appendingPathComponent("received-\(UUID().uuidString).jsonl")
        FileManager.default.createFile(atPath: record.path, contents: nil)
        let (_, port) = try launchListening(URL(fileURLWithPath: "/usr/bin/env"),
                                            ["python3", repoRoot.appendingPathComponent("examples/receiver.py").path, "--port", "0", "--quiet", "--record", record.path] + args)
        return Receiver(port: port, record: record)
    }

    func received(_ r: Receiver) -> [[String: Any]] {
        let text = (try? String(contentsOf: r.record, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func deliveries(_ db: String, status: String? = nil) throws -> [[String: Any]] {
        let r = try journey(["deliveries", "--db", db, "--format", "jsonl"] + (status.map { ["--status", $0] } ?? []))
        XCTAssertEqual(r.code, 0, r.err)
        return r.out.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func config(_ d: URL, _ text: String) throws -> String {
        let path = d.appendingPathComponent("journey-\(UUID().uuidString).toml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func signedUp(_ profiles: [Int], plan: String, idPrefix: String = "e") -> String {
        let now = ISO8601DateFormatter().string(from: Date())
        return "[" + profiles.map { "{\"profile\": \"u\($0)\", \"event\": \"signed_up\", \"at\": \"\(now)\", \"id\": \"\(idPrefix)\($0)-\(plan)\", \"data\": {\"plan\": \"\(plan)\"}}" }.joined(separator: ", ") + "]"
    }

    func testDeliveryEndToEndInAppAndTheWholeCustomerOnPostgres() throws { try onPostgres { try testDeliveryEndToEndInAppAndTheWholeCustomer() } }
    func testSecurityAndErasureLeavesNoTraceOnPostgres() throws { try onPostgres { try testSecurityAndErasureLeavesNoTrace() } }
    func testKilledServerLosesNothingAcknowledgedAndDeliversEveryMessageOnPostgres() throws {
        try onPostgres { try testKilledServerLosesNothingAcknowledgedAndDeliversEveryMessage() }
    }

    /// Events in → messages at the receiver with valid Standard Webhooks signatures and the
    /// address each send resolved; in-app slots; receipts; the 360° view; metrics.
    func testDeliveryEndToEndInAppAndTheWholeCustomer() throws {
        let d = try tempDir()
        let db = try serviceDatabase(d, profiles: 2)
        let receiver = try startReceiver(d, ["--secret", Self.secret])
        let conf = try config(d, """
            [auth]
            user_hash_secret = "hash-secret"
            [delivery]
            retry_scale = 0.001
            [delivery.push]
            webhook = "http://127.0.0.1:\(receiver.port)/push"
            secret = "\(Self.secret)"
            [delivery.sms]
            webhook = "http://127.0.0.1:\(receiver.port)/sms"
            timeout = "2s"
            concurrency = 2
            """)
        let server = try start(db, env: ["JOURNEY_INGEST_KEYS": "ik", "JOURNEY_ADMIN_KEYS": "ak", "JOURNEY_SMS_SECRET": Self.secret], ["--config", conf])
        let posted = try request(server, "POST", "/v1/events", key: "ik", body: signedUp([0, 1], plan: "gold"))
        XCTAssertEqual(posted.0, 200, posted.1)
        var got: [[String: Any]] = []
        for _ in 0..<200 where got.count < 2 { usleep(50_000); got = received(receiver) }
        XCTAssertEqual(got.count, 2, "\(got)")
        for r in got {
            XCTAssertEqual(r["valid"] as? Bool, true, "\(r)")
            XCTAssertEqual(r["code"] as? Int, 200)
            let m = r["message"] as? [String: Any] ?? [:]
            XCTAssertEqual(r["id"] as? String, m["id"] as? String, "webhook-id is the message id")
            XCTAssertEqual(Set(m.keys), ["id", "at", "profile", "journey", "channel", "address", "content"])
            switch m["profile"] as? String {
            case "u0":
                XCTAssertEqual(m["channel"] as? String, "push")
                XCTAssertEqual(m["address"] as? String, "tok-0")
                XCTAssertEqual((m["content"] as? [String: Any])?["title"] as? String, "Welcome N0")
            case "u1":
                XCTAssertEqual(m["channel"] as? String, "sms")
                XCTAssertEqual(m["address"] as? String, "+10001")
                XCTAssertEqual((m["content"] as? [String: Any])?["text"] as? String, "Welcome N1, plan gold")
            default: XCTFail("unexpected \(m)")
            }
        }
        // The outbox says delivered, with the attempt (in-app messages are not for providers).
        var rows: [[String: Any]] = []
        for _ in 0..<100 { rows = try deliveries(db); if rows.allSatisfy({ $0["status"] as? String == "delivered" }) { break }; usleep(50_000) }
        XCTAssertEqual(rows.count, 2)
        for r in rows {
            XCTAssertEqual(r["status"] as? String, "delivered", "\(r)")
            XCTAssertEqual((r["attempts"] as? [[String: Any]])?.map { $0["code"] as? Int }, [200])
        }

        // In-app: the newest per slot, for the right visitor only.
        let hash = hmacHex("u0", key: "hash-secret")
        XCTAssertEqual(try request(server, "GET", "/v1/profiles/u0/in_app", key: "ik").0, 403, "no user hash")
        XCTAssertEqual(try request(server, "GET", "/v1/profiles/u0/in_app", key: "ik", headers: ["X-Journey-User-Hash: \(hmacHex("u1", key: "hash-secret"))"]).0, 403, "another visitor's hash")
        XCTAssertEqual(try request(server, "GET", "/v1/profiles/u0/in_app", headers: ["X-Journey-User-Hash: \(hash)"]).0, 401)
        XCTAssertEqual(try request(server, "POST", "/v1/events", key: "ik", body: signedUp([0], plan: "silver")).0, 200)
        var slots: [[String: Any]] = []
        for _ in 0..<100 {
            let (status, body) = try request(server, "GET", "/v1/profiles/u0/in_app", key: "ik", headers: ["X-Journey-User-Hash: \(hash)"])
            XCTAssertEqual(status, 200, body)
            slots = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [[String: Any]]) ?? []
            if slots.contains(where: { $0["content"] as? String == "Top silver" }) { break }
            usleep(50_000)
        }
        XCTAssertEqual(Set(slots.map { $0["content"] as? String ?? "" }), ["Top silver", "Side silver"], "a newer message replaces the older in its slot")
        XCTAssertEqual(slots.first.map { Set($0.keys) }, ["id", "slot", "content", "sent_at", "expires_at"])
        let top = try request(server, "GET", "/v1/profiles/u0/in_app?slot=top", key: "ik", headers: ["X-Journey-User-Hash: \(hash)"])
        let topRows = (try? JSONSerialization.jsonObject(with: Data(top.1.utf8)) as? [[String: Any]]) ?? []
        XCTAssertEqual(topRows.map { $0["slot"] as? String }, ["top"])
        // Receipts: a dismissal hides the message; an unknown message is 404; a wrong status 400.
        let topID = topRows.first?["id"] as? String ?? ""
        XCTAssertEqual(try request(server, "POST", "/v1/messages/\(topID)/receipts", key: "ik", body: #"{"status": "dismissed", "at": "2026-01-01T00:00:00Z"}"#).0, 200)
        XCTAssertEqual(try request(server, "POST", "/v1/messages/nope-0/receipts", key: "ik", body: #"{"status": "opened", "at": "2026-01-01T00:00:00Z"}"#).0, 404)
        XCTAssertEqual(try request(server, "POST", "/v1/messages/\(topID)/receipts", key: "ik", body: #"{"status": "read"}"#).0, 400)
        XCTAssertEqual(try request(server, "POST", "/v1/messages/\(topID)/receipts", key: "ik", body: #"{"status": "opened", "at": "yesterday"}"#).0, 400)
        XCTAssertEqual(try request(server, "GET", "/v1/profiles/u0/in_app?slot=top", key: "ik", headers: ["X-Journey-User-Hash: \(hash)"]).1, "[]")
        // The side slot expires after 3 s.
        var side = ""
        for _ in 0..<100 {
            side = try request(server, "GET", "/v1/profiles/u0/in_app?slot=side", key: "ik", headers: ["X-Journey-User-Hash: \(hash)"]).1
            if side == "[]" { break }
            usleep(100_000)
        }
        XCTAssertEqual(side, "[]")

        // The 360° view: admin only; the whole customer.
        XCTAssertEqual(try request(server, "GET", "/v1/profiles/u0", key: "ik").0, 403)
        XCTAssertEqual(try request(server, "GET", "/v1/profiles/nobody", key: "ak").0, 404)
        let (vs, view) = try request(server, "GET", "/v1/profiles/u0", key: "ak")
        XCTAssertEqual(vs, 200, view)
        let v = (try? JSONSerialization.jsonObject(with: Data(view.utf8)) as? [String: Any]) ?? [:]
        XCTAssertEqual(v["id"] as? String, "u0")
        XCTAssertEqual((v["attributes"] as? [String: Any])?["token"] as? String, "tok-0")
        XCTAssertEqual((v["events"] as? [[String: Any]])?.compactMap { ($0["data"] as? [String: Any])?["plan"] as? String }, ["silver", "gold"], "newest first")
        let journeys = v["journeys"] as? [[String: Any]] ?? []
        XCTAssertEqual(journeys.count, 4)
        XCTAssertTrue(journeys.allSatisfy { $0["state"] as? String == "completed" && $0["version"] is String && $0["since"] is String }, "\(journeys)")
        let messages = v["messages"] as? [[String: Any]] ?? []
        XCTAssertEqual(messages.filter { $0["channel"] as? String == "push" }.first?["delivery"] as? String, "delivered")
        XCTAssertEqual(messages.first { ($0["receipts"] as? [[String: Any]])?.isEmpty == false }?["id"] as? String, topID)

        // Metrics: admin only, Prometheus text.
        XCTAssertEqual(try request(server, "GET", "/metrics", key: "ik").0, 403)
        let metrics = try request(server, "GET", "/metrics", key: "ak").1
        XCTAssertTrue(metrics.contains(#"journey_deliveries_total{channel="push",result="delivered"} 2"#), metrics)
        XCTAssertTrue(metrics.contains("journey_events_accepted_total 3"), metrics)
        XCTAssertTrue(metrics.contains(#"journey_messages_total{journey="banners",channel="in_app",status="sent"} 6"#), metrics)
        stop(server)
    }

    /// A receiver that fails at random (500s, answers past the time-out, dropped connections,
    /// 429 with Retry-After) and refuses one profile: every message ends delivered or failed as
    /// the schedule says, every attempt recorded, each retry with the same id and body.
    func testFlakyReceiverEveryMessageEndsAsTheScheduleSays() throws {
        let d = try tempDir()
        let count = 40
        let db = try serviceDatabase(d, profiles: count)
        let receiver = try startReceiver(d, ["--secret", Self.secret, "--fail", "0.3", "--drop", "0.1", "--throttle", "0.1", "--slow", "0.05", "--delay", "1", "--seed", "7", "--refuse", "u2"])
        let conf = try config(d, """
            [delivery]
            retry_scale = 0.00002
            [delivery.push]
            webhook = "http://127.0.0.1:\(receiver.port)/push"
            secret = "\(Self.secret)"
            timeout = "300ms"
            concurrency = 8
            [delivery.sms]
            webhook = "http://127.0.0.1:\(receiver.port)/sms"
            secret = "\(Self.secret)"
            timeout = "300ms"
            """)
        let server = try start(db, env: ["JOURNEY_INGEST_KEYS": "ik", "JOURNEY_ADMIN_KEYS": ""], ["--config", conf])
        XCTAssertEqual(try request(server, "POST", "/v1/events", key: "ik", body: signedUp(Array(0..<count), plan: "p")).0, 200)
        var rows: [[String: Any]] = []
        for _ in 0..<600 {
            rows = try deliveries(db)
            if rows.count == count, rows.allSatisfy({ $0["status"] as? String != "pending" }) { break }
            usleep(100_000)
        }
        XCTAssertEqual(rows.count, count)
        let requests = received(receiver)
        var byID: [String: [[String: Any]]] = [:]
        for r in requests { byID[r["id"] as? String ?? "", default: []].append(r) }
        var delivered = 0, failed = 0
        for row in rows {
            let id = row["id"] as? String ?? ""
            let attempts = row["attempts"] as? [[String: Any]] ?? []
            let seen = byID[id] ?? []
            XCTAssertEqual(Set(seen.compactMap { $0["body"] as? String }).count, 1, "\(id): every attempt carries the same body")
            XCTAssertTrue(seen.allSatisfy { $0["valid"] as? Bool == true }, "\(id): signed on every attempt")
            // Every answer the receiver gave in time is the recorded attempt's code, in order.
            let answered = seen.filter { $0["action"] as? String == "answer" }.compactMap { $0["code"] as? Int }
            XCTAssertEqual(answered, attempts.compactMap { $0["code"] as? Int }, "\(id): \(seen) vs \(attempts)")
            XCTAssertLessThanOrEqual(seen.count, attempts.count, "\(id)")
            let times = attempts.compactMap { $0["at"] as? String }
            XCTAssertEqual(times, times.sorted(), "\(id): attempts in order")
            XCTAssertEqual(attempts.map { $0["n"] as? Int ?? 0 }, Array(1...max(1, attempts.count)))
            switch row["status"] as? String {
            case "delivered":
                delivered += 1
                XCTAssertEqual(attempts.last?["code"] as? Int, 200, "\(row)")
                XCTAssertTrue(attempts.dropLast().allSatisfy { $0["outcome"] as? String == "retry" }, "\(row)")
                XCTAssertLessThanOrEqual(attempts.count, 8)
            case "failed":
                failed += 1
                if row["profile"] as? String == "u2" {
                    XCTAssertEqual(attempts.map { $0["code"] as? Int }, [422], "another 4xx fails at once")
                } else {
                    XCTAssertEqual(attempts.count, 8, "\(row): failed only after the eighth attempt")
                    XCTAssertTrue(attempts.allSatisfy { a in a["code"] is NSNull || [429, 500].contains(a["code"] as? Int ?? 0) }, "\(row)")
                }
            default: XCTFail("still pending: \(row)")
            }
        }
        XCTAssertGreaterThan(delivered, count / 2)
        XCTAssertTrue(rows.contains { ($0["attempts"] as? [[String: Any]])?.contains { ($0["error"] as? String)?.contains("timed out") == true } == true }, "a slow answer timed out")
        XCTAssertTrue(rows.contains { ($0["attempts"] as? [[String: Any]])?.contains { $0["code"] as? Int == 429 } == true }, "a 429 was retried")
        // Redeliver puts a failed message back; it goes through a new round (numbered on).
        let refused = rows.first { $0["profile"] as? String == "u2" }?["id"] as? String ?? ""
        let again = try journey(["redeliver", "--db", db, refused, "nope-1"])
        XCTAssertEqual(again.code, 1)
        XCTAssertTrue(again.out.contains("\(refused): pending again"), again.out)
        XCTAssertTrue(again.err.contains("nope-1: not put back: no message has this id"), again.err)
        var attempts: [[String: Any]] = []
        for _ in 0..<100 {
            let row = try deliveries(db).first { $0["id"] as? String == refused }
            attempts = row?["attempts"] as? [[String: Any]] ?? []
            if row?["status"] as? String == "failed", attempts.count == 2 { break }
            usleep(100_000)
        }
        XCTAssertEqual(attempts.map { $0["n"] as? Int }, [1, 2])
        XCTAssertEqual(attempts.map { $0["code"] as? Int }, [422, 422])
        stop(server)
    }

    /// Keys and rights, odd ids, and erasure that leaves no trace in the database files.
    func testSecurityAndErasureLeavesNoTrace() throws {
        let d = try tempDir()
        let db = try serviceDatabase(d, profiles: 2)
        let receiver = try startReceiver(d, [])
        let conf = try config(d, """
            [auth]
            admin_keys = ["ak"]
            [delivery.push]
            webhook = "http://127.0.0.1:\(receiver.port)/push"
            """)
        // sms has no adapter: u1's message stays pending, visible.
        let server = try start(db, env: ["JOURNEY_INGEST_KEYS": "ik", "JOURNEY_ADMIN_KEYS": ""], ["--config", conf])
        for (method, path) in [("GET", "/v1/profiles/u0"), ("DELETE", "/v1/profiles/u0"), ("GET", "/metrics")] {
            XCTAssertEqual(try request(server, method, path).0, 401, "\(method) \(path) without a key")
            XCTAssertEqual(try request(server, method, path, key: "nope").0, 401, "\(method) \(path) with a wrong key")
            XCTAssertEqual(try request(server, method, path, key: "ik").0, 403, "\(method) \(path) with an ingest key")
        }
        // A profile whose data must vanish, with odd characters in its id.
        let odd = "zed/../'; DROP TABLE outbox; --\"x"
        let path = "/v1/profiles/" + (odd.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
        XCTAssertEqual(try request(server, "PUT", path, key: "ik", body: #"{"name": "Zed Secretname", "token": "tok-zed-secret", "app_id": "app-zed"}"#).0, 200)
        let now = ISO8601DateFormatter().string(from: Date())
        let oddJSON = JSONEscape.quote(odd)
        let events = "[{\"profile\": \(oddJSON), \"event\": \"signed_up\", \"at\": \"\(now)\", \"id\": \"z1\", \"data\": {\"plan\": \"plan-zed-secret\"}}, "
            + "{\"profile\": \(oddJSON), \"event\": \"signed_up\", \"at\": \"\(now)\", \"data\": {\"plan\": 12345}}, "
            + "{\"profile\": \"u1\", \"event\": \"signed_up\", \"at\": \"\(now)\", \"id\": \"b1\", \"data\": {\"plan\": \"plan-ben-secret\"}}]"
        let posted = try request(server, "POST", "/v1/events", key: "ik", body: events)
        XCTAssertEqual(posted.0, 200, posted.1)
        XCTAssertTrue(posted.1.contains(#""rejected": [{"index": 1"#), posted.1)
        var rows: [[String: Any]] = []
        for _ in 0..<100 {
            rows = try deliveries(db)
            if rows.contains(where: { $0["status"] as? String == "delivered" }) && rows.count == 2 { break }
            usleep(50_000)
        }
        XCTAssertEqual(Set(rows.map { "\($0["channel"] ?? "") \($0["status"] ?? "")" }), ["push delivered", "sms pending"], "\(rows)")
        let view = try request(server, "GET", path, key: "ak")
        XCTAssertEqual(view.0, 200)
        XCTAssertTrue(view.1.contains("plan-zed-secret"), view.1)

        XCTAssertEqual(try request(server, "DELETE", path, key: "ak").0, 204)
        XCTAssertEqual(try request(server, "DELETE", "/v1/profiles/u1", key: "ak").0, 204)
        XCTAssertEqual(try request(server, "DELETE", "/v1/profiles/u1", key: "ak").0, 204, "erasing twice is fine")
        XCTAssertEqual(try request(server, "GET", path, key: "ak").0, 404)
        // Nothing of them is left anywhere in the database files (on PostgreSQL: in any row).
        var bytes = Data()
        if postgresOverride {
            bytes = try PostgresServer.dataBytes(db)
        } else {
            for suffix in ["", "-wal", "-journal"] {
                if let data = FileManager.default.contents(atPath: db + suffix) { bytes.append(data) }
            }
        }
        for secret in ["Zed Secretname", "tok-zed-secret", "app-zed", "plan-zed-secret", "DROP TABLE outbox", "plan-ben-secret", "+10001"] {
            XCTAssertNil(bytes.range(of: Data(secret.utf8)), "\(secret) is still in the database file")
        }
        XCTAssertTrue(bytes.range(of: Data("tok-0".utf8)) != nil, "other profiles stay")
        // The delivered message keeps id, time, journey, channel and status; the pending one is gone.
        let after = try deliveries(db)
        XCTAssertEqual(after.count, 1)
        XCTAssertEqual(after.first?["status"] as? String, "delivered")
        XCTAssertEqual(after.first?["profile"] as? String, "")
        XCTAssertTrue(after.first?["address"] is NSNull)
        // A later event for an erased profile is rejected as for any unknown profile.
        let later = try request(server, "POST", "/v1/events", key: "ik", body: "[{\"profile\": \(oddJSON), \"event\": \"signed_up\", \"at\": \"\(now)\", \"data\": {\"plan\": \"x\"}}]")
        XCTAssertTrue(later.1.contains("unknown profile"), later.1)
        // Instance numbers, and so message ids, are never given again: the erased profiles held
        // the newest instances, and the kept message's id must not come back for someone else
        // (a receiver deduplicating by id would drop the new message).
        let kept = after.first?["id"] as? String
        XCTAssertEqual(try request(server, "POST", "/v1/events", key: "ik", body: signedUp([0], plan: "again")).0, 200)
        var fresh: [[String: Any]] = []
        for _ in 0..<100 {
            fresh = try deliveries(db).filter { $0["profile"] as? String == "u0" && $0["status"] as? String == "delivered" }
            if !fresh.isEmpty { break }
            usleep(50_000)
        }
        XCTAssertEqual(fresh.count, 1, "the new message is made and delivered")
        XCTAssertNotNil(kept)
        XCTAssertNotEqual(fresh.first?["id"] as? String, kept, "a message id is never reused")
        stop(server)
    }

    func testConfigurationErrorsNameTheFileAndTheSetting() throws {
        let d = try tempDir()
        let db = try serviceDatabase(d, profiles: 1)
        let cases: [(String, String)] = [
            ("[delivery.push]\nwebhok = \"http://x\"\n", "delivery.push.webhok: unknown setting"),
            ("[delivery.push]\nwebhook = \"ftp://x\"\n", "delivery.push.webhook: expected an http:// or https:// URL"),
            ("[server]\nlisten = 8080\n", "server.listen: expected a string"),
            ("[auth\n", ":1:"),
            ("[delivery.fax]\nstdout = true\n", "delivery.fax: unknown setting"),
            ("[delivery.push]\nwebhook = \"http://x\"\ntimeout = \"soon\"\n", "delivery.push.timeout: expected a duration"),
        ]
        for (text, expected) in cases {
            let path = try config(d, text)
            let r = try journey(["serve", "--db", db, "--config", path, "--no-auth", "--listen", "127.0.0.1:0"], timeout: 30)
            XCTAssertEqual(r.code, 2, text)
            XCTAssertTrue(r.err.contains(path) && r.err.contains(expected), "\(text) → \(r.err)")
        }
    }

    func hmacHex(_ text: String, key: String) -> String {
        ((try? pythonOutput("import hmac, hashlib, sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())", [key, text])) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

extension ServeTests {
    /// docs/openapi.yaml is kept true: schemathesis (from PyPI; .ci/run installs it) drives a
    /// live server with generated requests, and every answer must have a documented status,
    /// content type and schema, no 5xx, 405 for undocumented methods, and keys enforced.
    /// (Whether a body is acceptable depends on the deployed project, which a generic document
    /// cannot describe, so the two "data acceptance" checks are left out.)
    func testOpenAPIDocumentHoldsAgainstALiveServer() throws {
        guard let python = findPython(importing: "schemathesis.cli") else {
            throw XCTSkip("no Python with schemathesis; run .ci/run (or pip install -r Tests/requirements.txt)")
        }
        let d = try tempDir()
        let db = try serviceDatabase(d, profiles: 4)
        let server = try start(db, env: ["JOURNEY_INGEST_KEYS": "ik", "JOURNEY_ADMIN_KEYS": "ak"])
        XCTAssertEqual(try request(server, "POST", "/v1/events", key: "ik", body: signedUp([0, 1], plan: "gold")).0, 200)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'schemathesis'; sys.exit(schemathesis())",
                       "run", repoRoot.appendingPathComponent("docs/openapi.yaml").path, "--url", "http://127.0.0.1:\(server.port)",
                       "-H", "Authorization: Bearer ak", "--checks", "all", "--exclude-checks", "positive_data_acceptance,negative_data_rejection",
                       "-n", "25", "--generation-deterministic", "--request-timeout", "20", "--no-color"]
        // schemathesis keeps a cache in its working folder: the test's own, not the project's.
        p.currentDirectoryURL = d
        var env = ProcessInfo.processInfo.environment
        env["NO_PROXY"] = "*"
        env["no_proxy"] = "*"
        p.environment = env
        let out = d.appendingPathComponent("schemathesis.out")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = p.standardOutput
        try p.run()
        let deadline = Date().addingTimeInterval(300)
        while p.isRunning && Date() < deadline { usleep(100_000) }
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
        XCTAssertEqual(p.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("passed"), text)
        stop(server)
    }
}

extension ServeTests {
    /// SIGKILL at random moments while a client posts batches (retrying with the same event ids
    /// until acknowledged) and a receiver records what arrives; the server restarts each time.
    /// At the end every acknowledged event is in the history exactly once, every message was
    /// delivered at least once and always with the same body, and nothing is pending.
    func testKilledServerLosesNothingAcknowledgedAndDeliversEveryMessage() throws {
        let d = try tempDir()
        let profiles = 24
        let db = try serviceDatabase(d, profiles: profiles)
        let receiver = try startReceiver(d, ["--secret", Self.secret, "--fail", "0.1", "--seed", "3"])
        let conf = try config(d, """
            [delivery]
            retry_scale = 0.0001
            [delivery.push]
            webhook = "http://127.0.0.1:\(receiver.port)/push"
            secret = "\(Self.secret)"
            timeout = "2s"
            [delivery.sms]
            webhook = "http://127.0.0.1:\(receiver.port)/sms"
            secret = "\(Self.secret)"
            timeout = "2s"
            """)
        var env = ["JOURNEY_INGEST_KEYS": "ik", "JOURNEY_ADMIN_KEYS": ""]
        // On PostgreSQL a killed server's partitions pass to the next after its lease (2 s here).
        if postgresOverride { env["JOURNEY_PG_LEASE"] = "2" }
        var server = try start(db, env: env, ["--config", conf])
        var rng = SystemRandomNumberGenerator()
        let batches = 24, perBatch = 12
        var kills = 0
        var posted: [Int: Int] = [:] // events per profile
        for b in 0..<batches {
            let now = ISO8601DateFormatter().string(from: Date())
            let items = (0..<perBatch).map { k -> String in
                let p = (b * perBatch + k) % profiles
                return "{\"profile\": \"u\(p)\", \"event\": \"signed_up\", \"at\": \"\(now)\", \"id\": \"b\(b)-\(k)\", \"data\": {\"plan\": \"b\(b)k\(k)\"}}"
            }
            let body = "[" + items.joined(separator: ", ") + "]"
            var acknowledged = false
            for _ in 0..<20 where !acknowledged {
                // The POST runs while, now and then, the server is killed at a random moment.
                let url = "http://127.0.0.1:\(server.port)/v1/events"
                let curl = Process()
                curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
                curl.arguments = ["--noproxy", "*", "-s", "-m", "20", "-o", "-", "-w", "\n%{http_code}", "-H", "Authorization: Bearer ik", "--data-binary", body, url]
                let out = Pipe()
                curl.standardOutput = out
                try curl.run()
                if Int.random(in: 0..<3, using: &rng) == 0 {
                    usleep(UInt32.random(in: 0..<40_000, using: &rng))
                    kill(server.process.processIdentifier, SIGKILL)
                    server.process.waitUntilExit()
                    kills += 1
                }
                let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                curl.waitUntilExit()
                if text.hasSuffix("\n200") {
                    acknowledged = true
                    XCTAssertTrue(text.contains("\"rejected\": []"), text)
                }
                if !server.process.isRunning { server = try start(db, env: env, ["--config", conf]) }
            }
            XCTAssertTrue(acknowledged, "batch \(b) was never acknowledged")
            for k in 0..<perBatch { posted[(b * perBatch + k) % profiles, default: 0] += 1 }
        }
        XCTAssertGreaterThan(kills, 2)
        // Let the last server finish: nothing pending, then a clean stop.
        var rows: [[String: Any]] = []
        for _ in 0..<300 {
            rows = try deliveries(db)
            if rows.count == batches * perBatch, rows.allSatisfy({ $0["status"] as? String == "delivered" }) { break }
            usleep(100_000)
        }
        stop(server)
        XCTAssertEqual(rows.count, batches * perBatch, "one message per event")
        XCTAssertTrue(try deliveries(db, status: "pending").isEmpty)
        XCTAssertTrue(try deliveries(db, status: "failed").isEmpty)
        // Every acknowledged event is in the history exactly once (and ran its journeys once).
        let counted = postgresOverride
            ? try PostgresServer.psql(db, "SELECT profile || ' ' || COUNT(*) FROM events GROUP BY profile ORDER BY profile")
                + PostgresServer.psql(db, "SELECT 'welcome ' || COUNT(*) FROM instances WHERE journey = 'welcome'")
            : try pythonOutput("""
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1])
            for p, n in c.execute("SELECT profile, COUNT(*) FROM events GROUP BY profile ORDER BY profile"): print(p, n)
            print("welcome", c.execute("SELECT COUNT(*) FROM instances WHERE journey = 'welcome'").fetchone()[0])
            """, [db])
        var expected = (0..<profiles).map { "u\($0) \(posted[$0] ?? 0)" }.sorted()
        expected.append("welcome \(batches * perBatch)")
        XCTAssertEqual(counted.split(separator: "\n").map(String.init), expected)
        // Every message arrived at least once, and an id never came with two different bodies.
        var bodies: [String: Set<String>] = [:]
        for r in received(receiver) where r["code"] as? Int == 200 {
            bodies[r["id"] as? String ?? "", default: []].insert(r["body"] as? String ?? "")
        }
        for row in rows {
            let id = row["id"] as? String ?? ""
            XCTAssertEqual(bodies[id]?.count, 1, "\(id) was delivered \(bodies[id]?.count ?? 0) ways")
        }
        XCTAssertEqual(Set(bodies.keys), Set(rows.compactMap { $0["id"] as? String }))
    }
}

extension ServeTests {
    /// Requests that arrive together are committed together (group commit); each still gets its
    /// own answer: its accepted events, its duplicates, its rejected items by its own indexes.
    func testConcurrentBatchesEachGetTheirOwnAnswer() throws {
        let d = try tempDir()
        let db = try serviceDatabase(d, profiles: 4)
        let server = try start(db, env: ["JOURNEY_INGEST_KEYS": "ik", "JOURNEY_ADMIN_KEYS": ""])
        let now = ISO8601DateFormatter().string(from: Date(timeIntervalSinceNow: 86400))
        let clients = 12
        var runs: [(Process, Pipe, Int)] = []
        for c in 0..<clients {
            // k valid events, then a repeat of the first (duplicate), an unknown profile, a non-object.
            let k = 3 + c % 4
            var items = (0..<k).map { "{\"profile\": \"u\(c % 4)\", \"event\": \"signed_up\", \"at\": \"\(now)\", \"id\": \"c\(c)-\($0)\", \"data\": {\"plan\": \"x\"}}" }
            items.append(items[0])
            items.append("{\"profile\": \"ghost\(c)\", \"event\": \"signed_up\", \"at\": \"\(now)\", \"data\": {\"plan\": \"x\"}}")
            items.append("[\(c)]")
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            p.arguments = ["--noproxy", "*", "-s", "-m", "20", "-H", "Authorization: Bearer ik", "--data-binary", "[" + items.joined(separator: ", ") + "]",
                           "http://127.0.0.1:\(server.port)/v1/events"]
            let out = Pipe()
            p.standardOutput = out
            runs.append((p, out, k))
        }
        for r in runs { try r.0.run() }
        for (p, out, k) in runs {
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            let answer = (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
            XCTAssertEqual(answer["accepted"] as? Int, k, text)
            XCTAssertEqual(answer["duplicates"] as? Int, 1, text)
            let rejected = answer["rejected"] as? [[String: Any]] ?? []
            XCTAssertEqual(rejected.map { $0["index"] as? Int }, [k + 1, k + 2], text)
            XCTAssertTrue((rejected.first?["reason"] as? String ?? "").contains("unknown profile 'ghost"), text)
        }
        let metrics = try request(server, "GET", "/metrics", key: "ik")
        XCTAssertEqual(metrics.0, 403)
        stop(server)
        // Everything accepted is in the history once.
        let n = try pythonOutput("import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM events').fetchone()[0])", [db])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(Int(n), (0..<clients).map { 3 + $0 % 4 }.reduce(0, +))
    }
}

extension ServeTests {
    /// `in_app` messages have an `expires` duration, and the checker knows its type.
    func testTheCheckerKnowsInAppExpires() throws {
        let d = try tempDir()
        let base = "profile { app_id: string? }\nevent seen { n: int }\nchannel in_app address profile.app_id\n"
        try (base + "journey a \"A\" {\n  on seen\n  goal seen where n == 0\n  in_app { slot: \"top\", content: \"hi\", expires: 2d }\n}\n")
            .write(to: d.appendingPathComponent("good.journey"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["check", d.appendingPathComponent("good.journey").path]).code, 0)
        let built = try journey(["build", "-o", d.appendingPathComponent("good.journeyc").path, d.appendingPathComponent("good.journey").path])
        XCTAssertTrue(built.out.contains(": 1 journey, "), built.out)
        let bad = d.appendingPathComponent("bad")
        try FileManager.default.createDirectory(at: bad, withIntermediateDirectories: true)
        try (base + "journey a \"A\" {\n  on seen\n  goal seen where n == 0\n  in_app { slot: \"top\", content: \"hi\", expires: \"soon\" }\n}\n")
            .write(to: bad.appendingPathComponent("bad.journey"), atomically: true, encoding: .utf8)
        let r = try journey(["check", bad.path])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.out.contains("bad.journey:7:49") && r.out.contains("must be a duration"), r.out)
    }
}

extension ServeTests {
    /// The commands that write keep working beside a running server (they take turns with it):
    /// an import, an ingest and a deploy; the server sees the new profile, runs the ingested
    /// event, and takes up the new bundle for new entries.
    func testWritingCommandsWorkBesideARunningServer() throws {
        let d = try tempDir()
        let db = try serviceDatabase(d, profiles: 2)
        let receiver = try startReceiver(d, [])
        let conf = try config(d, "[delivery.push]\nwebhook = \"http://127.0.0.1:\(receiver.port)/push\"\n")
        let server = try start(db, env: ["JOURNEY_INGEST_KEYS": "ik", "JOURNEY_ADMIN_KEYS": ""], ["--config", conf])
        // A profile imported from the command line is known to the server at once.
        try "{\"id\": \"late\", \"name\": \"Late\", \"token\": \"tok-late\"}\n".write(to: d.appendingPathComponent("late.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["import", "--db", db, d.appendingPathComponent("late.jsonl").path], timeout: 60).code, 0)
        let now = ISO8601DateFormatter().string(from: Date())
        let posted = try request(server, "POST", "/v1/events", key: "ik",
                                 body: "[{\"profile\": \"late\", \"event\": \"signed_up\", \"at\": \"\(now)\", \"id\": \"l1\", \"data\": {\"plan\": \"http\"}}]")
        XCTAssertEqual(posted.1, #"{"accepted": 1, "duplicates": 0, "rejected": []}"#)
        // An event file ingested from the command line is run by the server.
        try "{\"profile\": \"u0\", \"event\": \"signed_up\", \"at\": \"\(now)\", \"data\": {\"plan\": \"file\"}}\n".write(to: d.appendingPathComponent("e.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["ingest", "--db", db, d.appendingPathComponent("e.jsonl").path], timeout: 60).code, 0)
        func titles() -> Set<String> {
            Set(received(receiver).compactMap { (($0["message"] as? [String: Any])?["content"] as? [String: Any])?["title"] as? String })
        }
        // (Before the next deploy, or the server could take the event up on the new version.)
        for _ in 0..<200 where !titles().contains("Welcome N0") { usleep(50_000) }
        // A new version deployed from the command line: new entries take it.
        let v2 = try String(contentsOf: d.appendingPathComponent("project/shop.journey"), encoding: .utf8).replacingOccurrences(of: "Welcome {profile.name}\", body", with: "Hello again {profile.name}\", body")
        try v2.write(to: d.appendingPathComponent("project/shop.journey"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["build", "-o", d.appendingPathComponent("v2.journeyc").path, d.appendingPathComponent("project").path]).code, 0)
        let deployed = try journey(["deploy", "--db", db, d.appendingPathComponent("v2.journeyc").path], timeout: 60)
        XCTAssertEqual(deployed.code, 0, deployed.err)
        let again = try request(server, "POST", "/v1/events", key: "ik",
                                body: "[{\"profile\": \"u0\", \"event\": \"signed_up\", \"at\": \"\(now)\", \"id\": \"v2\", \"data\": {\"plan\": \"v2\"}}]")
        XCTAssertEqual(again.0, 200)
        var seen: Set<String> = []
        for _ in 0..<200 where seen.count < 3 {
            usleep(50_000)
            seen = titles()
        }
        XCTAssertEqual(seen, ["Welcome Late", "Welcome N0", "Hello again N0"])
        stop(server)
    }
}
