import Crypto
import Foundation
import Hummingbird
import JourneyBytecode
import JourneyRuntime
import Mustache

/// The console's signed-in sessions: a random token in an HttpOnly, SameSite=Strict cookie, kept
/// here by its SHA-256 (so neither a lookup's timing nor a memory dump gives a usable token), each
/// with its own CSRF token for the forms, ending after `idle` without use.
actor ConsoleSessions {
    struct Session {
        var csrf: String
        var lastUsed: Date
    }

    var sessions: [String: Session] = [:]
    let idle: TimeInterval
    /// At most this many at once: the oldest gives way.
    let limit = 1000

    init(idle: TimeInterval = 8 * 3600) { self.idle = idle }

    static func randomToken() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }

    static func key(_ token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// A new session: its cookie token and its CSRF token.
    func open() -> (token: String, csrf: String) {
        let now = Date()
        sessions = sessions.filter { now.timeIntervalSince($0.value.lastUsed) < idle }
        if sessions.count >= limit, let oldest = sessions.min(by: { $0.value.lastUsed < $1.value.lastUsed }) { sessions[oldest.key] = nil }
        let token = Self.randomToken(), csrf = Self.randomToken()
        sessions[Self.key(token)] = Session(csrf: csrf, lastUsed: now)
        return (token, csrf)
    }

    /// The session's CSRF token when the cookie's token is a live session (which it keeps alive).
    func check(_ token: String) -> String? {
        let k = Self.key(token)
        guard var s = sessions[k] else { return nil }
        let now = Date()
        guard now.timeIntervalSince(s.lastUsed) < idle else {
            sessions[k] = nil
            return nil
        }
        s.lastUsed = now
        sessions[k] = s
        return s.csrf
    }

    func close(_ token: String) { sessions[Self.key(token)] = nil }
}

extension HTTPFields {
    static let frameOptions = HTTPFields.Element.Name("X-Frame-Options")
    static let forwardedProto = HTTPFields.Element.Name("X-Forwarded-Proto")
    static let referrerPolicy = HTTPFields.Element.Name("Referrer-Policy")
}

/// `journey simulate --report`: the console's journey page for every journey of a simulation, in
/// one HTML file that needs nothing else (its stylesheet inside, no script).
public enum SimulationReport {
    public static func html(_ report: StatsReport, bundle: JourneyBundle, subtitle: String) -> String {
        var sections: [String] = []
        var toc: [[String: Any]] = []
        for j in report.journeys {
            var view = ConsoleViews.journey(j, all: [])
            let graph = bundle.journey(named: j.journey).flatMap { Diagram.graph($0, in: bundle, stats: j) }
            if let graph, let svg = Diagram.svgNow(graph, title: "Diagram of journey \(j.journey) with its counts") {
                view["svg"] = svg
            } else {
                view["noDiagram"] = ConsoleViews.noDiagram(carriesSource: graph != nil)
            }
            view["version"] = nil
            var body = Console.library.render(view, withTemplate: "journey") ?? ""
            // One h1 for the file: each journey's headings one level down, and its own anchor.
            for level in [3, 2, 1] { body = body.replacingOccurrences(of: "<h\(level)", with: "<h\(level + 1)").replacingOccurrences(of: "</h\(level)>", with: "</h\(level + 1)>") }
            for id in ["diagram", "steps", "splits"] { body = body.replacingOccurrences(of: "id=\"\(id)\"", with: "id=\"\(j.journey)-\(id)\"").replacingOccurrences(of: "aria-labelledby=\"\(id)\"", with: "aria-labelledby=\"\(j.journey)-\(id)\"") }
            sections.append("<section id=\"\(j.journey)\" aria-label=\"Journey \(j.journey)\">\n" + body + "</section>\n")
            toc.append(["name": j.journey, "entered": j.entered, "converted": j.converted, "rate": StatsFormat.percent(j.conversionRate)])
        }
        let page: [String: Any] = ["subtitle": subtitle, "css": ConsoleTemplates.css, "journeys": toc, "body": sections.joined()]
        return library.render(page, withTemplate: "report") ?? ""
    }

    static let library: MustacheLibrary = {
        var l = MustacheLibrary()
        try? l.register(ConsoleTemplates.report, named: "report")
        return l
    }()
}

/// `/console`: server-rendered pages over the same engine as the API, behind the admin key.
enum Console {
    static let cookie = "journey_session"
    static let loginCookie = "journey_login"
    /// No script, no frames, no other hosts: only this server's stylesheet and forms posting to it.
    static let policy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    static let library: MustacheLibrary = {
        var l = MustacheLibrary()
        for (name, text) in [("layout", ConsoleTemplates.layout), ("login", ConsoleTemplates.login), ("journeys", ConsoleTemplates.journeys),
                             ("journey", ConsoleTemplates.journey), ("profile", ConsoleTemplates.profile), ("deliveries", ConsoleTemplates.deliveries),
                             ("rejects", ConsoleTemplates.rejects), ("error", ConsoleTemplates.error)] {
            // The templates are part of the program; one that does not parse fails every test.
            try? l.register(text, named: name)
        }
        return l
    }()

    /// Who is asking: signed in (with the session's CSRF token), or not.
    enum Visitor {
        case signedIn(csrf: String, token: String?)
        case anonymous
    }

    static func routes(_ router: Router<BasicRequestContext>, config: ServiceConfiguration, host: EngineHost, reader: ConsoleReader) {
        let sessions = ConsoleSessions()
        // Without keys and with --no-auth the console is open like the API; its forms still
        // carry a token only its pages know.
        let open = config.ingestKeys.isEmpty && config.adminKeys.isEmpty && config.noAuth
        let openCSRF = ConsoleSessions.randomToken()

        @Sendable func visitor(_ request: Request) async -> Visitor {
            if open { return .signedIn(csrf: openCSRF, token: nil) }
            guard let token = cookies(request)[cookie], let csrf = await sessions.check(token) else { return .anonymous }
            return .signedIn(csrf: csrf, token: token)
        }

        /// A signed-in page, or the way to the login form.
        @Sendable func page(_ request: Request, _ body: @escaping @Sendable (String) async throws -> Response) async throws -> Response {
            guard case .signedIn(let csrf, _) = await visitor(request) else { return redirect("/console/login") }
            return try await body(csrf)
        }

        /// A form post with a matching CSRF token and no foreign Origin, and its fields.
        @Sendable func post(_ request: Request, _ body: @escaping @Sendable ([String: String], String) async throws -> Response) async throws -> Response {
            guard case .signedIn(let csrf, _) = await visitor(request) else { return redirect("/console/login") }
            if let refused = foreignOrigin(request) { return refused }
            guard let bytes = await JourneyServer.body(of: request, limit: 16 * 1024) else { return html(.contentTooLarge, errorPage("Too large", "The form is over 16 KiB.")) }
            let form = formFields(bytes)
            guard JourneyServer.constantTimeEqual(Array((form["csrf"] ?? "").utf8), Array(csrf.utf8)) else {
                return html(.forbidden, errorPage("Refused", "The form's token does not match this session. Reload the page and try again."))
            }
            return try await body(form, csrf)
        }

        router.get("console/style.css") { _, _ -> Response in
            var r = Response(status: .ok, headers: [.contentType: "text/css; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: ConsoleTemplates.css)))
            secure(&r)
            r.headers[.cacheControl] = "max-age=3600"
            return r
        }
        router.get("console/icon.svg") { _, _ -> Response in
            var r = Response(status: .ok, headers: [.contentType: "image/svg+xml"], body: .init(byteBuffer: ByteBuffer(string: ConsoleTemplates.icon)))
            secure(&r)
            r.headers[.cacheControl] = "max-age=86400"
            return r
        }
        router.get("console/login") { request, _ -> Response in
            if case .signedIn = await visitor(request) { return redirect("/console") }
            return loginPage(request, problem: nil)
        }
        router.post("console/login") { request, _ -> Response in
            if let refused = foreignOrigin(request) { return refused }
            guard let bytes = await JourneyServer.body(of: request, limit: 16 * 1024) else { return html(.contentTooLarge, errorPage("Too large", "The form is over 16 KiB.")) }
            let form = formFields(bytes)
            // The form must come from our own login page (its token is in a cookie only we set).
            let expected = cookies(request)[loginCookie] ?? ""
            guard !expected.isEmpty, JourneyServer.constantTimeEqual(Array((form["login"] ?? "").utf8), Array(expected.utf8)) else {
                return loginPage(request, problem: "The sign-in form had expired. Please sign in again.", status: .forbidden)
            }
            let key = Array((form["key"] ?? "").utf8)
            // Every admin key is compared, whichever matches.
            var admin = false
            for k in config.adminKeys where JourneyServer.constantTimeEqual(Array(k.utf8), key) { admin = true }
            guard admin, !key.isEmpty else {
                return loginPage(request, problem: "That is not an admin key.", status: .unauthorized)
            }
            let (token, _) = await sessions.open()
            var r = redirect("/console")
            r.headers[values: .setCookie] = ["\(cookie)=\(token); Path=/console; HttpOnly; SameSite=Strict\(secureFlag(request))",
                                             "\(loginCookie)=; Path=/console/login; Max-Age=0; HttpOnly; SameSite=Strict\(secureFlag(request))"]
            return r
        }
        router.post("console/logout") { request, _ -> Response in
            try await post(request) { _, _ in
                if case .signedIn(_, let token?) = await visitor(request) { await sessions.close(token) }
                var r = redirect("/console/login")
                r.headers[.setCookie] = "\(cookie)=; Path=/console; Max-Age=0; HttpOnly; SameSite=Strict\(secureFlag(request))"
                return r
            }
        }
        router.get("console") { request, _ -> Response in
            try await page(request) { csrf in
                let report = try await reader.stats(journey: nil)
                return html(.ok, render("journeys", ConsoleViews.journeys(report), title: "Journeys", nav: "navJourneys", csrf: csrf))
            }
        }
        router.get("console/journeys/:name") { request, context -> Response in
            try await page(request) { csrf in
                let name = context.parameters.get("name") ?? ""
                let version = request.uri.queryParameters.get("version")
                let report = try await reader.stats(journey: name)
                guard !report.journeys.isEmpty else {
                    return html(.notFound, render("error", ["heading": "No such journey", "message": "No journey named “\(name)” is deployed or counted."],
                                                  title: "Not found", nav: "navJourneys", csrf: csrf))
                }
                let chosen = report.journeys.first { $0.version == version } ?? report.journeys.first { $0.isCurrent } ?? report.journeys[report.journeys.count - 1]
                var view = ConsoleViews.journey(chosen, all: report.journeys)
                let b = try await reader.bundle(chosen.version)
                let graph = b.flatMap { b in b.journey(named: chosen.journey).flatMap { Diagram.graph($0, in: b, stats: chosen) } }
                if let graph, let svg = await Diagram.svg(graph, title: "Diagram of journey \(chosen.journey) with its counts") {
                    view["svg"] = svg
                } else {
                    view["noDiagram"] = ConsoleViews.noDiagram(carriesSource: graph != nil)
                }
                return html(.ok, render("journey", view, title: chosen.journey, nav: "navJourneys", csrf: csrf))
            }
        }
        router.get("console/profiles") { request, _ -> Response in
            try await page(request) { csrf in
                let query = request.uri.queryParameters.get("id").map { $0.removingPercentEncoding ?? $0 } ?? ""
                var view: [String: Any] = ["query": query]
                if !query.isEmpty {
                    if let p = try await reader.profile(id: query) { view["profile"] = ConsoleViews.profile(p) } else { view["notFound"] = true }
                }
                return html(.ok, render("profile", view, title: query.isEmpty ? "Profiles" : "Profile \(query)", nav: "navProfiles", csrf: csrf))
            }
        }
        router.get("console/deliveries") { request, _ -> Response in
            try await page(request) { csrf in
                let data = try await reader.deliveryOverview(limit: 100)
                var view = ConsoleViews.deliveries(data, csrf: csrf)
                let query = request.uri.queryParameters
                if let id = query.get("redelivered").map({ $0.removingPercentEncoding ?? $0 }) {
                    view["flash"] = "Message \(id) is back in the queue and will be delivered again."
                } else if let id = query.get("kept").map({ $0.removingPercentEncoding ?? $0 }) {
                    let k = query.get("reason").flatMap { Int($0) } ?? 0
                    view["flash"] = "Message \(id) was not put back: \(redeliverReasons[k >= 0 && k < redeliverReasons.count ? k : 0])."
                }
                return html(.ok, render("deliveries", view, title: "Deliveries", nav: "navDeliveries", csrf: csrf))
            }
        }
        router.post("console/deliveries/:id/redeliver") { request, context -> Response in
            try await post(request) { _, _ in
                let id = JourneyServer.pathID(context)
                let encoded = id.addingPercentEncoding(withAllowedCharacters: ConsoleViews.unreserved) ?? ""
                // The page after says what happened in its own words: the link carries the id
                // and a reason's number, never text to show.
                guard let why = try await host.redeliver(id: id) else { return redirect("/console/deliveries?redelivered=\(encoded)") }
                return redirect("/console/deliveries?kept=\(encoded)&reason=\(redeliverReasons.firstIndex(of: why) ?? 0)")
            }
        }
        router.get("console/rejects") { request, _ -> Response in
            try await page(request) { csrf in
                let data = try await reader.rejectOverview(limit: 200)
                return html(.ok, render("rejects", ConsoleViews.rejects(data), title: "Rejects", nav: "navRejects", csrf: csrf))
            }
        }
    }

    /// Why a message is not put back in the queue (as `SQLiteStore.redeliver` says).
    static let redeliverReasons = ["no message has this id", "it is still pending", "it was delivered",
                                   "it is not a message for a provider (it was not sent, or its channel is in_app)"]

    static func loginPage(_ request: Request, problem: String?, status: HTTPResponse.Status = .ok) -> Response {
        let token = ConsoleSessions.randomToken()
        var view: [String: Any] = ["loginToken": token]
        if let problem { view["problem"] = problem }
        var r = html(status, render("login", view, title: "Sign in", nav: nil, csrf: nil))
        r.headers[.setCookie] = "\(loginCookie)=\(token); Path=/console/login; HttpOnly; SameSite=Strict\(secureFlag(request))"
        return r
    }

    // MARK: - Responses

    static func render(_ template: String, _ view: [String: Any], title: String, nav: String?, csrf: String?) -> String {
        let body = library.render(view, withTemplate: template) ?? ""
        var page: [String: Any] = ["title": title, "body": body]
        if let nav { page[nav] = true }
        if let csrf {
            page["signedIn"] = true
            page["csrf"] = csrf
        }
        return library.render(page, withTemplate: "layout") ?? body
    }

    static func errorPage(_ heading: String, _ message: String) -> String {
        render("error", ["heading": heading, "message": message], title: heading, nav: nil, csrf: nil)
    }

    /// The headers every console answer carries.
    static func secure(_ r: inout Response) {
        r.headers[.contentSecurityPolicy] = policy
        r.headers[.xContentTypeOptions] = "nosniff"
        if let referrer = HTTPFields.referrerPolicy { r.headers[referrer] = "no-referrer" }
        if let frames = HTTPFields.frameOptions { r.headers[frames] = "DENY" }
        r.headers[.cacheControl] = "no-store"
    }

    static func html(_ status: HTTPResponse.Status, _ text: String) -> Response {
        var r = Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
        secure(&r)
        return r
    }

    /// 303: after a form, the browser GETs the next page.
    static func redirect(_ to: String) -> Response {
        var r = Response(status: .seeOther, headers: [.location: to])
        secure(&r)
        return r
    }

    /// `; Secure` behind a TLS-terminating proxy that says so.
    static func secureFlag(_ request: Request) -> String {
        guard let proto = HTTPFields.forwardedProto else { return "" }
        return request.headers[proto]?.lowercased() == "https" ? "; Secure" : ""
    }

    /// A form posted from another site (its Origin names another host) is refused.
    static func foreignOrigin(_ request: Request) -> Response? {
        guard let origin = request.headers[.origin], origin != "null" else { return nil }
        let host = request.head.authority ?? ""
        let originHost = origin.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first.map(String.init) ?? ""
        if originHost.lowercased() == host.lowercased() { return nil }
        return html(.forbidden, errorPage("Refused", "This form was sent from another site (\(origin))."))
    }

    /// The request's cookies by name.
    static func cookies(_ request: Request) -> [String: String] {
        var out: [String: String] = [:]
        for field in request.headers[values: .cookie] {
            for pair in field.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                out[parts[0].trimmingCharacters(in: .whitespaces)] = parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return out
    }

    /// Fields of an `application/x-www-form-urlencoded` body.
    static func formFields(_ bytes: [UInt8]) -> [String: String] {
        var out: [String: String] = [:]
        for pair in String(decoding: bytes, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                let plus = s.replacingOccurrences(of: "+", with: " ")
                return plus.removingPercentEncoding ?? plus
            }
            out[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return out
    }
}
