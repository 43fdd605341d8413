import JourneyRuntime
@testable import JourneyService
import Foundation
import XCTest

final class DeliveryScheduleTests: XCTestCase {
    /// The Standard Webhooks specification's own example.
    func testSignatureMatchesTheStandardWebhooksExample() {
        let key = ServiceConfiguration.secretBytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        XCTAssertEqual(WebhookSignature.sign(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Array(#"{"test": 2432232314}"#.utf8), secret: key),
                       "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        // A secret without the prefix is the key itself.
        XCTAssertEqual(ServiceConfiguration.secretBytes("plain"), Array("plain".utf8))
        XCTAssertEqual(WebhookSignature.hexHMAC("u1", secret: Array("hash-secret".utf8)).count, 64)
    }

    func testTheScheduleRetriesTransientFailuresEightTimesWithJitter() {
        let waits: [Double] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000]
        for (k, wait) in waits.enumerated() {
            for jitter in [0.0, 0.5, 0.999] {
                let (outcome, text) = RetrySchedule.outcome(of: DeliveryAnswer(code: 503), attemptsBefore: k, now: 1000, scale: 1, jitter: jitter)
                guard case .retry(let at) = outcome else { return XCTFail("attempt \(k + 1): \(outcome)") }
                XCTAssertEqual(text, "retry")
                XCTAssertGreaterThanOrEqual(at - 1000, wait * 0.8 - 1e-9)
                XCTAssertLessThanOrEqual(at - 1000, wait * 1.2)
            }
        }
        // The eighth attempt is the last.
        XCTAssertEqual(RetrySchedule.outcome(of: DeliveryAnswer(code: 500), attemptsBefore: 7, now: 0, scale: 1, jitter: 0.5).0, .failed)
        // Time-outs and connection errors are transient; 408 and 429 too.
        for answer in [DeliveryAnswer(error: "timed out"), DeliveryAnswer(code: 408), DeliveryAnswer(code: 429), DeliveryAnswer(code: 599)] {
            XCTAssertEqual(RetrySchedule.outcome(of: answer, attemptsBefore: 0, now: 0, scale: 1, jitter: 0.5).0, .retry(at: 5), "\(answer)")
        }
        // Any other answer that is not 2xx fails at once; 2xx is delivered.
        for code in [400, 401, 404, 410, 422, 301] {
            XCTAssertEqual(RetrySchedule.outcome(of: DeliveryAnswer(code: code), attemptsBefore: 0, now: 0, scale: 1, jitter: 0.5).0, .failed, "\(code)")
        }
        for code in [200, 202, 204] {
            XCTAssertEqual(RetrySchedule.outcome(of: DeliveryAnswer(code: code), attemptsBefore: 3, now: 0, scale: 1, jitter: 0.5).0, .delivered)
        }
        // The scale shrinks every wait: hours of back-off in milliseconds.
        XCTAssertEqual(RetrySchedule.outcome(of: DeliveryAnswer(code: 500), attemptsBefore: 6, now: 10, scale: 0.0001, jitter: 0.5).0, .retry(at: 10 + 3.6))
    }

    func testRetryAfterIsHonoured() {
        // Seconds, or an HTTP date; capped at the longest wait of the schedule.
        XCTAssertEqual(RetrySchedule.outcome(of: DeliveryAnswer(code: 429, retryAfter: 120), attemptsBefore: 0, now: 0, scale: 1, jitter: 0).0, .retry(at: 120))
        XCTAssertEqual(RetrySchedule.outcome(of: DeliveryAnswer(code: 503, retryAfter: 1e9), attemptsBefore: 0, now: 0, scale: 1, jitter: 0).0, .retry(at: 36_000))
        XCTAssertEqual(RetrySchedule.retryAfter("30", now: 0), 30)
        XCTAssertEqual(RetrySchedule.retryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now: 1_445_412_400), 80)
        XCTAssertNil(RetrySchedule.retryAfter("soon", now: 0))
        XCTAssertNil(RetrySchedule.retryAfter(nil, now: 0))
    }

    func testTheWebhookBodyIsTheBriefs() throws {
        let m = PendingDelivery(id: "7-0", at: 1_740_823_200, profile: "ana", journey: "welcome", channel: "push", address: "tok \"1\"",
                                content: #"{"title": "Hi", "body": "Ana"}"#, attempts: 0)
        let body = String(decoding: WebhookBody.make(m), as: UTF8.self)
        XCTAssertEqual(body, #"{"id": "7-0", "at": "2025-03-01T10:00:00Z", "profile": "ana", "journey": "welcome", "channel": "push", "address": "tok \"1\"", "content": {"title": "Hi", "body": "Ana"}}"#)
        XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(body.utf8)))
    }

    func testConfiguration() throws {
        var c = ServiceConfiguration(database: "x.db")
        try c.load(toml: """
            [server]
            listen = "0.0.0.0:9000"
            body_limit = 1024
            [auth]
            ingest_keys = ["a", "b"]
            [delivery]
            retry_scale = 0.5
            [delivery.push]
            webhook = "https://push.example/send"
            secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
            timeout = "500ms"
            concurrency = 3
            [delivery.email]
            stdout = true
            """, file: "j.toml")
        XCTAssertEqual(c.host, "0.0.0.0")
        XCTAssertEqual(c.port, 9000)
        XCTAssertEqual(c.bodyLimit, 1024)
        XCTAssertEqual(c.ingestKeys, ["a", "b"])
        XCTAssertEqual(c.retryScale, 0.5)
        XCTAssertEqual(c.delivery["push"]?.concurrency, 3)
        XCTAssertEqual(c.delivery["email"]?.adapter, .stdout)
        guard case .webhook(let url, _, let timeout)? = c.delivery["push"]?.adapter else { return XCTFail() }
        XCTAssertEqual(url, "https://push.example/send")
        XCTAssertEqual(timeout, 0.5)
        c.apply(environment: ["JOURNEY_INGEST_KEYS": " c ,", "JOURNEY_PUSH_SECRET": "from-env"])
        XCTAssertEqual(c.ingestKeys, ["a", "b", "c"])
        guard case .webhook(_, let secret, _)? = c.delivery["push"]?.adapter else { return XCTFail() }
        XCTAssertEqual(secret, Array("from-env".utf8))
        // Keys are there, so it may start; without any, only --no-auth on loopback.
        XCTAssertNil(c.problem)
        var bare = ServiceConfiguration(database: "x.db")
        XCTAssertNotNil(bare.problem)
        bare.noAuth = true
        XCTAssertNil(bare.problem)
        XCTAssertNil(bare.listen("0.0.0.0:1"))
        XCTAssertNotNil(bare.problem)
        XCTAssertNotNil(bare.listen("nocolon"))
    }

    /// The example configuration in examples/ loads as it is.
    func testTheExampleConfigurationLoads() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("examples/journey.toml").path
        var c = ServiceConfiguration(database: "shop.db")
        try c.load(toml: try String(contentsOfFile: path, encoding: .utf8), file: path)
        XCTAssertEqual(Set(c.delivery.keys), ["push", "whatsapp", "sms", "email"])
        XCTAssertEqual(c.adminKeys, ["dev-admin-key"])
        XCTAssertNotNil(c.userHashSecret)
        XCTAssertNil(c.problem)
    }

    /// The body's array is cut into its elements without parsing them twice; its outline must
    /// be an array, or the whole body is refused.
    func testArrayBodiesAreCutIntoElements() {
        func items(_ s: String) -> [String]? {
            guard case .success(let i) = JourneyServer.arrayItems(Array(s.utf8)) else { return nil }
            return i.map { String(decoding: $0, as: UTF8.self) }
        }
        XCTAssertEqual(items(" [ ] "), [])
        XCTAssertEqual(items(#"[{"a": "x]\"}", "b": [1, {"c": 2}]}, 3 ,"s,t"]"#), [#"{"a": "x]\"}", "b": [1, {"c": 2}]}"#, "3", #""s,t""#])
        XCTAssertEqual(items("[\n  {\"a\":\n 1},\r\n  {\"b\": 2}\n]\n"), [#"{"a":  1}"#, #"{"b": 2}"#], "line breaks between tokens become spaces")
        for bad in ["", "{}", "[1,]", "[,1]", "[1,,2]", "[1] x", "[1", "[[1]", "x[1]"] {
            XCTAssertNil(items(bad), bad)
        }
        // An element whose own text is not JSON is caught when it is parsed as an event.
        XCTAssertEqual(items("[{]]"), ["{]"])
        XCTAssertEqual(items("[{x}]"), ["{x}"])
    }

    func testRoutesGroupWithoutIds() {
        XCTAssertEqual(routeName("/v1/profiles/ana%2Fx/in_app"), "/v1/profiles/{id}/in_app")
        XCTAssertEqual(routeName("/v1/messages/1-0/receipts"), "/v1/messages/{id}/receipts")
        XCTAssertEqual(routeName("/v1/events"), "/v1/events")
        XCTAssertEqual(routeName("/secret-probe/../x"), "other")
        XCTAssertEqual(allowedMethods("/v1/profiles/a%2Fb"), ["GET", "PUT", "PATCH", "DELETE"])
        XCTAssertEqual(allowedMethods("/v1/events"), ["POST"])
        XCTAssertNil(allowedMethods("/v1/profiles/a/b"))
    }
}
