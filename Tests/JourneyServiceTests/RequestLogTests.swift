import Hummingbird
import HummingbirdTesting
@testable import JourneyService
import Logging
import XCTest

final class RequestLogTests: XCTestCase {
    struct Broken: Error {}

    /// A route that fails with an error of its own answers 500 in the API's `{"error": …}` shape,
    /// without the error's text; a method a path does not take answers 405 with `Allow`.
    func testFailuresAnswerInTheAPIsShape() async throws {
        let router = Router()
        router.add(middleware: RequestLog(logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, metrics: ServiceMetrics()))
        router.get("v1/profiles/:id") { _, _ -> Response in throw Broken() }
        let app = Application(router: router)
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/profiles/x", method: .get) { response in
                XCTAssertEqual(response.status, .internalServerError)
                XCTAssertEqual(response.headers[.contentType], "application/json")
                XCTAssertEqual(String(buffer: response.body), #"{"error": "the server could not complete this request; it is logged"}"#)
            }
            try await client.execute(uri: "/v1/events", method: .get) { response in
                XCTAssertEqual(response.status, .methodNotAllowed)
                XCTAssertEqual(response.headers[.allow], "POST")
            }
        }
    }
}
