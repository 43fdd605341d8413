import XCTest
@testable import JourneyRuntime

/// The interval and test behind `journey stats`' verdicts, against published values. (The CLI
/// tests check them again against statsmodels.)
final class StatisticsTests: XCTestCase {
    /// Newcombe (1998), Statistics in Medicine 17:873–890, Table II, method 10 (hybrid score).
    func testNewcombeMatchesThePublishedExamples() {
        let cases: [(Int64, Int64, Int64, Int64, Double, Double)] = [
            (56, 70, 48, 80, 0.0524, 0.3339),
            (9, 10, 3, 10, 0.1705, 0.8090),
            (6, 7, 2, 7, 0.0582, 0.8062),
            (5, 56, 0, 29, -0.0381, 0.1926),
        ]
        for (x1, n1, x2, n2, low, high) in cases {
            let ci = Statistics.newcombe(x1, n1, x2, n2)
            XCTAssertEqual(ci.low, low, accuracy: 0.00006, "\(x1)/\(n1) − \(x2)/\(n2)")
            XCTAssertEqual(ci.high, high, accuracy: 0.00006, "\(x1)/\(n1) − \(x2)/\(n2)")
        }
    }

    func testWilsonAndPValue() {
        // Wilson's interval for 0 of 10 starts at 0; for 10 of 10 ends at 1.
        XCTAssertEqual(Statistics.wilson(0, 10).low, 0)
        XCTAssertEqual(Statistics.wilson(10, 10).high, 1, accuracy: 1e-12)
        // The pooled z-test: 56/70 vs 48/80 gives z = 2.6502, two-sided p = 0.0080451.
        XCTAssertEqual(Statistics.pValue(56, 70, 48, 80), 0.0080451, accuracy: 0.0000005)
        XCTAssertEqual(Statistics.pValue(5, 10, 5, 10), 1, accuracy: 1e-12)
        XCTAssertEqual(Statistics.pValue(0, 10, 0, 20), 1, "no variance: no evidence")
    }

    func testVerdicts() throws {
        // Below 30 conversions in an arm there is no verdict, whatever the interval says.
        XCTAssertEqual(Statistics.lift(treatment: 29, of: 100, control: 5, of: 100)?.verdict, .tooEarly)
        XCTAssertEqual(Statistics.lift(treatment: 300, of: 1000, control: 200, of: 1000)?.verdict, .better)
        XCTAssertEqual(Statistics.lift(treatment: 200, of: 1000, control: 300, of: 1000)?.verdict, .worse)
        XCTAssertEqual(Statistics.lift(treatment: 105, of: 1000, control: 100, of: 1000)?.verdict, .noClearDifference)
        let e = try XCTUnwrap(Statistics.lift(treatment: 300, of: 1000, control: 200, of: 1000))
        XCTAssertEqual(e.lift, 0.1, accuracy: 1e-12)
        XCTAssertEqual(e.relativeLift ?? 0, 0.5, accuracy: 1e-12)
        XCTAssertNil(Statistics.lift(treatment: 3, of: 0, control: 1, of: 10), "an empty arm has no rate")
        XCTAssertNotNil(Statistics.lift(treatment: 3, of: 10, control: 0, of: 10))
        XCTAssertNil(Statistics.lift(treatment: 3, of: 10, control: 0, of: 10)?.relativeLift, "no relative lift over a rate of 0")
    }
}
