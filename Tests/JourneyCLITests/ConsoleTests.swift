import Foundation
import XCTest

/// The console of `journey serve`: HTTP-level security (sign-in, cookies, CSRF, headers) with curl,
/// and every page in a real browser (headless Chromium driven by Tests/console/browse.py) after a
/// simulation whose numbers are known by construction (the trial of StatsTests).
extension ServeTests {
    static let consoleKey = "console-admin-key-1234567890"

    /// curl with a cookie jar; the status, the headers (lower-cased names) and the body.
    func browse(_ server: Server, _ method: String, _ path: String, jar: URL, form: String? = nil, headers: [String] = []) throws -> (status: Int, headers: [String: [String]], body: String) {
        var args = ["--noproxy", "*", "-s", "-m", "20", "-D", "-", "-b", jar.path, "-c", jar.path, "-X", method]
        for h in headers { args += ["-H", h] }
        if let form { args += ["-H", "Content-Type: application/x-www-form-urlencoded", "--data-binary", form] }
        let text = try curl(args + ["http://127.0.0.1:\(server.port)\(path)"])
        guard let split = text.range(of: "\r\n\r\n") else { return (0, [:], text) }
        var lines = text[..<split.lowerBound].split(separator: "\r\n")
        let status = Int(lines.removeFirst().split(separator: " ").dropFirst().first ?? "") ?? 0
        var fields: [String: [String]] = [:]
        for l in lines {
            guard let colon = l.firstIndex(of: ":") else { continue }
            fields[l[..<colon].lowercased(), default: []].append(l[l.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return (status, fields, String(text[split.upperBound...]))
    }

    /// The hidden field's value in a page (`name="…" value="…"`).
    func hiddenField(_ name: String, in page: String) -> String? {
        guard let r = page.range(of: "name=\"\(name)\" value=\"") else { return nil }
        return String(page[r.upperBound...].prefix { $0 != "\"" })
    }

    func testConsoleSignInCookiesCSRFAndHeaders() throws {
        let d = try tempDir()
        defer { try? FileManager.default.removeItem(at: d) }
        let db = try signupDatabase(d, flows: "journey welcome {\n  on signup\n  email \"Hi {profile.first_name}\"\n}\n", profiles: 2)
        let server = try start(db, env: ["JOURNEY_INGEST_KEYS": "ingest-key-123", "JOURNEY_ADMIN_KEYS": Self.consoleKey])
        defer { stop(server) }
        let jar = d.appendingPathComponent("cookies.txt")

        // Not signed in: every page leads to the sign-in form; every answer carries the headers.
        var r = try browse(server, "GET", "/console", jar: jar)
        XCTAssertEqual(r.status, 303)
        XCTAssertEqual(r.headers["location"], ["/console/login"])
        for path in ["/console/profiles?id=u0", "/console/deliveries", "/console/rejects", "/console/journeys/welcome"] {
            XCTAssertEqual(try browse(server, "GET", path, jar: jar).status, 303, path)
        }
        r = try browse(server, "GET", "/console/login", jar: jar)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["content-security-policy"], ["default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"])
        XCTAssertEqual(r.headers["x-frame-options"], ["DENY"])
        XCTAssertEqual(r.headers["x-content-type-options"], ["nosniff"])
        XCTAssertEqual(r.headers["cache-control"], ["no-store"])
        XCTAssertFalse(r.body.contains("<script"), "no script at all")
        let login = try XCTUnwrap(hiddenField("login", in: r.body))

        // A sign-in without the form's token (from another site) is refused, and so is one from
        // a foreign Origin; an ingest key is not an admin key; a body over 16 KiB is too large.
        let other = d.appendingPathComponent("other.txt")
        XCTAssertEqual(try browse(server, "POST", "/console/login", jar: other, form: "key=\(Self.consoleKey)&login=\(login)").status, 403)
        XCTAssertEqual(try browse(server, "POST", "/console/login", jar: jar, form: "key=\(Self.consoleKey)&login=\(login)",
                                  headers: ["Origin: https://evil.example"]).status, 403)
        // Each answer of the form carries a fresh token for the next try.
        r = try browse(server, "POST", "/console/login", jar: jar, form: "key=ingest-key-123&login=\(login)")
        XCTAssertEqual(r.status, 401)
        XCTAssertTrue(r.body.contains("That is not an admin key."), r.body)
        let next = try XCTUnwrap(hiddenField("login", in: r.body))
        XCTAssertNotEqual(next, login)
        r = try browse(server, "POST", "/console/login", jar: jar, form: "key=wrong&login=\(login)")
        XCTAssertEqual(r.status, 403, "a used token is spent")
        let again = try XCTUnwrap(hiddenField("login", in: r.body))
        XCTAssertNotEqual(again, next)
        XCTAssertEqual(try browse(server, "POST", "/console/login", jar: jar, form: "key=wrong&login=\(again)").status, 401)
        XCTAssertEqual(try browse(server, "POST", "/console/login", jar: jar, form: "key=" + String(repeating: "k", count: 20_000)).status, 413)
        XCTAssertEqual(try browse(server, "GET", "/console", jar: jar).status, 303, "still not signed in")

        // The admin key signs in: a session cookie that scripts cannot read and other sites do not send.
        let fresh = try XCTUnwrap(hiddenField("login", in: try browse(server, "GET", "/console/login", jar: jar).body))
        r = try browse(server, "POST", "/console/login", jar: jar, form: "key=\(Self.consoleKey)&login=\(fresh)")
        XCTAssertEqual(r.status, 303)
        XCTAssertEqual(r.headers["location"], ["/console"])
        let session = try XCTUnwrap(r.headers["set-cookie"]?.first { $0.hasPrefix("journey_session=") })
        XCTAssertTrue(session.contains("HttpOnly"), session)
        XCTAssertTrue(session.contains("SameSite=Strict"), session)
        XCTAssertTrue(session.contains("Path=/console"), session)
        XCTAssertFalse(session.contains(Self.consoleKey), "the key is never the cookie")
        r = try browse(server, "GET", "/console", jar: jar)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.body.contains("<a href=\"/console/journeys/welcome\">welcome</a>"), r.body)
        let csrf = try XCTUnwrap(hiddenField("csrf", in: r.body))

        // Forms need the session's token; a wrong or missing one, or a foreign Origin, is refused.
        XCTAssertEqual(try browse(server, "POST", "/console/deliveries/1-0/redeliver", jar: jar, form: "csrf=nope").status, 403)
        XCTAssertEqual(try browse(server, "POST", "/console/deliveries/1-0/redeliver", jar: jar, form: "").status, 403)
        XCTAssertEqual(try browse(server, "POST", "/console/deliveries/1-0/redeliver", jar: jar, form: "csrf=\(csrf)",
                                  headers: ["Origin: http://attacker.example"]).status, 403)
        r = try browse(server, "POST", "/console/deliveries/1-0/redeliver", jar: jar, form: "csrf=\(csrf)", headers: ["Origin: http://127.0.0.1:\(server.port)"])
        XCTAssertEqual(r.status, 303)
        XCTAssertEqual(r.headers["location"], ["/console/deliveries?kept=1-0&reason=0"])
        r = try browse(server, "GET", "/console/deliveries?kept=1-0&reason=0", jar: jar)
        XCTAssertTrue(r.body.contains("Message 1-0 was not put back: no message has this id."), r.body)
        // Wrong methods and unknown journeys.
        XCTAssertEqual(try browse(server, "DELETE", "/console", jar: jar).status, 405)
        XCTAssertEqual(try browse(server, "GET", "/console/logout", jar: jar).status, 405)
        r = try browse(server, "GET", "/console/journeys/nope", jar: jar)
        XCTAssertEqual(r.status, 404)
        XCTAssertTrue(r.body.contains("No journey named “nope”"), r.body)
        // A profile id with markup is text on the page, never markup.
        r = try browse(server, "GET", "/console/profiles?id=%3Cscript%3Ealert(1)%3C%2Fscript%3E", jar: jar)
        XCTAssertEqual(r.status, 200)
        XCTAssertFalse(r.body.contains("<script>"), r.body)
        XCTAssertTrue(r.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), r.body)

        // Signing out ends the session on the server: the old cookie no longer opens a page.
        let cookieLine = try String(contentsOf: jar, encoding: .utf8).split(separator: "\n").first { $0.contains("journey_session") }
        let token = String(cookieLine?.split(separator: "\t").last ?? "")
        XCTAssertEqual(try browse(server, "POST", "/console/logout", jar: jar, form: "csrf=\(csrf)").status, 303)
        let replay = d.appendingPathComponent("replay.txt")
        try "127.0.0.1\tFALSE\t/console\tFALSE\t0\tjourney_session\t\(token)\n".write(to: replay, atomically: true, encoding: .utf8)
        XCTAssertEqual(try browse(server, "GET", "/console", jar: replay).status, 303)
    }

    /// The console open with --no-auth (no keys): pages without signing in, forms still guarded.
    func testConsoleWithoutAuth() throws {
        let d = try tempDir()
        defer { try? FileManager.default.removeItem(at: d) }
        let db = try signupDatabase(d, flows: "journey welcome {\n  on signup\n  email \"Hi {profile.first_name}\"\n}\n", profiles: 1)
        let server = try start(db, env: ["JOURNEY_INGEST_KEYS": "", "JOURNEY_ADMIN_KEYS": ""], ["--no-auth"])
        defer { stop(server) }
        let jar = d.appendingPathComponent("cookies.txt")
        let r = try browse(server, "GET", "/console", jar: jar)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.body.contains("welcome"))
        XCTAssertEqual(try browse(server, "POST", "/console/deliveries/1-0/redeliver", jar: jar, form: "csrf=guess").status, 403)
        let csrf = try XCTUnwrap(hiddenField("csrf", in: r.body))
        XCTAssertEqual(try browse(server, "POST", "/console/deliveries/1-0/redeliver", jar: jar, form: "csrf=\(csrf)").status, 303)
    }

    /// Every page in headless Chromium after the known trial: the numbers on the pages are the
    /// simulation's, the forms work, and the pages are accessible, readable on a phone and free
    /// of Content-Security-Policy violations.
    func testConsoleInARealBrowser() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium"), FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver") else {
            throw XCTSkip("chromium and chromium-driver are not installed (.ci/run installs them)")
        }
        guard let python = findPython(importing: "selenium") else { throw XCTSkip("selenium is not installed (.ci/run installs it into .venv-ci)") }
        let f = try trialSignups()
        defer { try? FileManager.default.removeItem(at: f.d) }
        try trialPurchases(f)
        // One line that is not JSON: kept aside, shown on the rejects page.
        try "{\"profile\": \"u1\", \"event\": \"purchased\", oops\n".write(to: f.d.appendingPathComponent("bad.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["ingest", "--db", f.db, f.d.appendingPathComponent("bad.jsonl").path]).code, 1)
        let expected = try trialStats(f.db)
        let (nT, nC) = (f.nudged.count, f.control.count)
        let noToken = f.nudged.filter { f.withoutToken.contains($0) }.count
        let buyer = try XCTUnwrap(f.nudged.prefix(90).first { !f.withoutToken.contains($0) })
        let refused = try XCTUnwrap(f.nudged.dropFirst(90).first { !f.withoutToken.contains($0) })

        // The pushes go to a receiver that refuses one profile's message (422: failed at once).
        let receiver = try startReceiver(f.d, ["--refuse", refused])
        let config = try self.config(f.d, """
            [auth]
            admin_keys = ["\(Self.consoleKey)"]
            ingest_keys = ["ingest-key-123"]
            [delivery]
            retry_scale = 0.001
            [delivery.push]
            webhook = "http://127.0.0.1:\(receiver.port)/push"
            """)
        let server = try start(f.db, env: [:], ["--config", config])
        defer { stop(server) }
        var failed: [[String: Any]] = []
        for _ in 0..<600 {
            failed = try deliveries(f.db, status: "failed")
            if try deliveries(f.db, status: "pending").isEmpty, !failed.isEmpty { break }
            usleep(100_000)
        }
        XCTAssertEqual(failed.count, 1)
        let message = try XCTUnwrap(failed.first?["id"] as? String)

        let out = f.d.appendingPathComponent("browser")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [repoRoot.appendingPathComponent("Tests/console/browse.py").path, "--url", "http://127.0.0.1:\(server.port)", "--key", Self.consoleKey,
                       "--out", out.path, "--journey", "trial", "--profile", buyer, "--message", message]
        let log = Pipe()
        p.standardOutput = log
        p.standardError = log
        try p.run()
        let killer = DispatchWorkItem { if p.isRunning { p.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 180, execute: killer)
        let said = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        killer.cancel()
        XCTAssertEqual(p.terminationStatus, 0, said)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("pages.json"))) as? [String: Any], said)
        let pages = try XCTUnwrap(report["pages"] as? [String: [String: Any]])
        func text(_ page: String) -> String { pages[page]?["text"] as? String ?? "" }
        func html(_ page: String) -> String { pages[page]?["html"] as? String ?? "" }

        // Signing in, the cookie, the keyboard, signing out.
        XCTAssertTrue((report["redirectedTo"] as? String)?.hasSuffix("/console/login") ?? false)
        XCTAssertTrue((report["wrongKey"] as? String)?.contains("That is not an admin key.") ?? false)
        XCTAssertTrue((report["afterLogin"] as? String)?.hasSuffix("/console") ?? false)
        let cookie = try XCTUnwrap((report["cookies"] as? [[String: Any]])?.first { $0["name"] as? String == "journey_session" })
        XCTAssertEqual(cookie["httpOnly"] as? Bool, true)
        XCTAssertEqual(cookie["sameSite"] as? String, "Strict")
        XCTAssertEqual(report["firstTab"] as? String, "Skip to the content")
        XCTAssertTrue((report["afterSignOutVisit"] as? String)?.hasSuffix("/console/login") ?? false)

        // The journeys page.
        XCTAssertTrue(text("journeys").contains("trial\nTrial conversion\n1000 0 140 14.0%"), text("journeys"))
        // The journey page: the numbers, the annotated diagram, the split and its lift.
        let j = text("journey")
        for s in ["Entered\n1000", "Active\n0", "Converted\n140", "Conversion rate\n14.0%", "Completed\n860", "Median time to convert\n2d\nof 140 conversions",
                  "4 split 50% control / 50% nudge 1000 0 control \(nC), nudge \(nT)", "9 push \(nT) 0 sent push \(nT - noToken) · undeliverable \(noToken)",
                  "control \(nC) 50 \(percent(50, nC))", "nudge \(nT) 90 \(percent(90, nT))"] {
            XCTAssertTrue(j.contains(s), "journey page lacks “\(s)”:\n\(j)")
        }
        let comparison = try XCTUnwrap(((expected["splits"] as? [[String: Any]])?.first?["comparisons"] as? [[String: Any]])?.first)
        let lift = try XCTUnwrap(comparison["lift"] as? Double), ci = try XCTUnwrap(comparison["ci95"] as? [Double])
        let row = "nudge vs control \(points(lift)) points \(points(ci[0])) to \(points(ci[1])) points"
        XCTAssertTrue(j.contains(row), "journey page lacks “\(row)”:\n\(j)")
        XCTAssertTrue(j.contains(try XCTUnwrap(comparison["verdict"] as? String)))
        let svg = html("journey")
        for s in ["<svg role=\"img\" aria-label=\"Diagram of journey trial", "entered 1000 · active 0", "converted 140 (14.0%)", "reached 1000",
                  "50% control (\(nC))", "50% nudge (\(nT))", "reached \(nT) · sent \(nT - noToken)", "completed 860"] {
            XCTAssertTrue(svg.contains(s), "the diagram lacks “\(s)”")
        }
        // The profile page: attributes, journeys and the timeline, newest first.
        let profile = text("profile")
        XCTAssertTrue(profile.contains("first_name \"U\(buyer.dropFirst())\""), profile)
        XCTAssertTrue(profile.contains("trial converted 2025-03-03 10:00 UTC"), profile)
        let order = ["converted in trial", "did purchased", "push message from trial: sent, delivery delivered", "entered trial", "did signed_up"]
        let positions = order.map { profile.range(of: $0)?.lowerBound }
        XCTAssertFalse(positions.contains(nil), "the timeline lacks one of \(order):\n\(profile)")
        XCTAssertEqual(positions.compactMap { $0 }, positions.compactMap { $0 }.sorted(), "the timeline is newest first")
        XCTAssertTrue(text("missingProfile").contains("No profile has the id “nobody-here”."))
        // Deliveries: the failure with its attempt, then redelivered with its button.
        let deliveries = text("deliveries")
        XCTAssertTrue(deliveries.contains("Failed\n\(message) · push · trial"), deliveries)
        XCTAssertTrue(deliveries.contains("To \(refused)"), deliveries)
        XCTAssertTrue(deliveries.contains("422"), deliveries)
        XCTAssertTrue(text("redelivered").contains("Message \(message) is back in the queue"), text("redelivered"))
        // Rejects: the line that was not JSON, with where it was.
        XCTAssertTrue(text("rejects").contains("bad.jsonl 1"), text("rejects"))

        // What the browser itself checks on every page.
        for (name, page) in pages {
            let checks = try XCTUnwrap(page["checks"] as? [String: Any], name)
            XCTAssertEqual(checks["lang"] as? String, "en", name)
            XCTAssertEqual(checks["h1"] as? Int, 1, "\(name): one h1")
            XCTAssertEqual(checks["headingsSkipLevels"] as? Bool, false, name)
            XCTAssertEqual((checks["unlabelled"] as? [Any])?.count, 0, "\(name): inputs without a label: \(checks)")
            XCTAssertEqual(checks["unnamedButtons"] as? Int, 0, name)
            XCTAssertEqual((checks["lowContrast"] as? [Any])?.count, 0, "\(name): text below WCAG AA contrast: \(checks)")
            XCTAssertEqual(checks["scripts"] as? Int, 0, "\(name): no JavaScript")
            XCTAssertEqual((checks["externalResources"] as? [Any])?.count, 0, "\(name): nothing from other hosts")
            XCTAssertEqual(checks["svgsWithoutName"] as? Int, 0, name)
            XCTAssertLessThanOrEqual(page["phoneOverflow"] as? Int ?? 1, 0, "\(name): wider than a phone's screen")
        }
        // No Content-Security-Policy violation or failed load, but the refused sign-in's 401.
        let severe = (report["console"] as? [[String: Any]] ?? []).filter { $0["level"] as? String == "SEVERE" }
            .compactMap { $0["message"] as? String }.filter { !($0.contains("/console/login") && $0.contains("401")) }
        XCTAssertEqual(severe, [])
        for shot in ["journey.png", "profile.png"] {
            let bytes = try Data(contentsOf: out.appendingPathComponent(shot))
            XCTAssertEqual(Array(bytes.prefix(4)), [0x89, 0x50, 0x4E, 0x47], shot)
            XCTAssertGreaterThan(bytes.count, 20_000, shot)
        }
    }

    func percent(_ x: Int, _ n: Int) -> String { String(format: "%.1f%%", Double(x) / Double(n) * 100) }
    func points(_ d: Double) -> String { String(format: "%+.1f", d * 100) }
}
