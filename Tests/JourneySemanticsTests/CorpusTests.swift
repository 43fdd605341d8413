import XCTest
import JourneyDiagnostics
@testable import JourneySemantics
import JourneySyntax

/// Runs the fixture corpus: every diagnostic reported must be expected on its line, and every
/// expectation must be reported. `check/` fixtures are checked with `check/schema.journey`;
/// `check-alone/` fixtures on their own.
final class CorpusTests: XCTestCase {
    func run(_ files: [URL], with schema: URL?) throws -> Set<String> {
        var seen = Set<String>()
        for url in files where url != schema {
            let fixture = try source(url)
            var trees = [Parser.parse(fixture)]
            if let schema { trees.insert(Parser.parse(try source(schema)), at: 0) }
            let result = check(trees)
            let reported = result.diagnostics.map { d -> Expectation in
                let f = d.file == fixture.path ? fixture : trees[0].source
                return Expectation(line: d.file == fixture.path ? f.location(of: d.span.start).line : -1, code: d.code.id)
            }
            let expected = expectations(in: fixture)
            XCTAssertEqual(reported.sorted { ($0.line, $0.code) < ($1.line, $1.code) }.map(\.description),
                           expected.sorted { ($0.line, $0.code) < ($1.line, $1.code) }.map(\.description),
                           url.lastPathComponent)
            for e in expected { seen.insert(e.code) }
        }
        return seen
    }

    func testSchemaChecksClean() throws {
        let schema = repoRoot.appendingPathComponent("Tests/Fixtures/check/schema.journey")
        let result = check([Parser.parse(try source(schema))])
        XCTAssertEqual(result.diagnostics.map(\.message), [])
    }

    func testCorpusAndEveryCodeHasANegativeCase() throws {
        let schema = repoRoot.appendingPathComponent("Tests/Fixtures/check/schema.journey")
        var covered = try run(journeyFiles(in: "Tests/Fixtures/check"), with: schema)
        covered.formUnion(try run(journeyFiles(in: "Tests/Fixtures/check-alone"), with: nil))
        for code in SyntaxCode.all + SemanticCode.all {
            XCTAssertTrue(covered.contains(code.id), "no fixture expects \(code.id) (\(code.name))")
        }
    }

    func testExamplesCheckClean() throws {
        let trees = try journeyFiles(in: "examples").map { Parser.parse(try source($0)) }
        XCTAssertGreaterThanOrEqual(trees.count, 11)
        let result = check(trees)
        XCTAssertEqual(result.diagnostics.map { "\($0.file): \($0.message)" }, [])
    }

    /// The cap checks' lean walk (send times only) finds the same paths as the full one that
    /// `journey explain` prints: every journey of the examples and fixtures, and one with more
    /// paths than the limit.
    func testSendTimesMatchTheFullPaths() throws {
        let files = journeyFiles(in: "examples") + journeyFiles(in: "Tests/Fixtures/check") + journeyFiles(in: "Tests/Fixtures/check-alone")
        var journeys = 0, withSends = 0
        func compare(_ tree: SyntaxTree, limit: Int) {
            for decl in tree.decls {
                guard case .journey(let j) = decl.kind else { continue }
                journeys += 1
                let full = JourneyPaths.of(j, in: tree, limit: limit).paths.map { $0.sendTimes.sorted() }
                let lean = JourneyPaths.sendTimes(of: j, limit: limit)
                XCTAssertEqual(Set(lean), Set(full), "\(tree.source.path): \(j.name.name)")
                XCTAssertEqual(lean.count, Set(lean).count, "each set once")
                if full.contains(where: { !$0.isEmpty }) { withSends += 1 }
            }
        }
        for url in files { compare(Parser.parse(try source(url)), limit: 4096) }
        XCTAssertGreaterThan(journeys, 40)
        XCTAssertGreaterThan(withSends, 30)
        // 2^12 ways through twelve ifs, cut at 100 paths.
        var body = "profile {\n  score: int = 0\n}\nevent signed_up {}\njourney many {\n  on signed_up\n"
        for i in 0..<12 { body += "  if profile.score > \(i) {\n    wait \(i + 1)h\n    push \"p\(i)\"\n  } else {\n    email \"e\(i)\"\n  }\n" }
        body += "}\n"
        let tree = Parser.parse(SourceFile(path: "many.journey", text: body))
        XCTAssertEqual(tree.diagnostics.map(\.message), [])
        compare(tree, limit: 100)
        XCTAssertEqual(JourneyPaths.of(tree.decls.compactMap { if case .journey(let j) = $0.kind { j } else { nil } }[0], in: tree, limit: 100).paths.count, 100)
    }

    /// The README's tour: its schema and journey check clean together.
    func testReadmeTourChecksClean() throws {
        let readme = try String(contentsOf: repoRoot.appendingPathComponent("README.md"), encoding: .utf8)
        /// The code block that starts with `opening`, up to its closing fence.
        func block(_ opening: String) throws -> String {
            let start = try XCTUnwrap(readme.range(of: "```\n" + opening))
            let end = try XCTUnwrap(readme.range(of: "```", range: start.upperBound..<readme.endIndex))
            return opening + readme[start.upperBound..<end.lowerBound]
        }
        let schema = try block("profile {")
        let flow = try block("journey abandoned_cart")
        let result = checkProject([("schema.journey", schema), ("abandoned_cart.journey", flow)])
        XCTAssertEqual(result.diagnostics.map(\.message), [])
    }

    func testCodesAreUniqueAndDocumented() {
        let all = SyntaxCode.all + SemanticCode.all
        XCTAssertEqual(Set(all.map(\.id)).count, all.count)
        XCTAssertEqual(Set(all.map(\.name)).count, all.count)
        for c in all {
            XCTAssertFalse(c.summary.isEmpty)
            XCTAssertFalse(c.help.isEmpty)
        }
    }
}

/// The event-wide cap's count (`JourneyPaths.combined`) against the plain count it stands for:
/// every start time, every journey's busiest path in the window from it.
final class CombinedCapTests: XCTestCase {
    func reference(_ journeys: [(name: String, sends: [[Int64]])], window: Int64) -> (count: Int, start: Int64, shares: [String]) {
        var best = (count: 0, start: Int64(0), shares: [String]())
        for s in Set(journeys.flatMap { $0.sends.flatMap { $0 } }).sorted() {
            let (end, overflow) = s.addingReportingOverflow(window)
            let most = journeys.map { j in j.sends.map { p in p.filter { $0 >= s && (overflow || $0 < end) }.count }.max() ?? 0 }
            let total = most.reduce(0, +)
            if total > best.count { best = (total, s, zip(journeys, most).filter { $0.1 > 0 }.map { "\($0.0.name) \($0.1)" }) }
        }
        return best
    }

    func testTheCombinedCountIsThePlainCount() {
        var rng = SystemRandomNumberGenerator()
        for round in 0..<300 {
            let journeys = (0..<Int.random(in: 1...5, using: &rng)).map { j in
                (name: "j\(j)", sends: (0..<Int.random(in: 0...4, using: &rng)).map { _ in
                    (0..<Int.random(in: 0...5, using: &rng)).map { _ in Int64.random(in: 0...20, using: &rng) * 3600 }.sorted()
                })
            }
            let window = round % 10 == 0 ? Int64.max : Int64.random(in: 1...10, using: &rng) * 3600
            let got = JourneyPaths.combined(journeys, window: window)
            let want = reference(journeys, window: window)
            XCTAssertEqual(got.count, want.count, "\(journeys) \(window)")
            XCTAssertEqual(got.start, want.start, "\(journeys) \(window)")
            XCTAssertEqual(got.shares.map { "\($0.0) \($0.1)" }, want.shares, "\(journeys) \(window)")
        }
    }
}
