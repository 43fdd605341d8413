import Foundation
import XCTest
import JourneyDiagnostics
@testable import JourneySyntax

final class ParserTests: XCTestCase {
    /// The single expression of `when …` in a one-line journey, printed with explicit grouping.
    func grouped(_ expr: String) -> String {
        let tree = parse("journey j {\n on e\n when \(expr)\n}\n")
        XCTAssertEqual(tree.diagnostics.map(\.message), [], expr)
        guard case .journey(let j)? = tree.decls.first?.kind, case .when(let e, _)? = j.header.last else { return "?" }
        func show(_ id: ExprID) -> String {
            switch tree.exprs[id].kind {
            case .binary(let op, let l, let r): "(\(show(l)) \(op.spelling) \(show(r)))"
            case .unary(.not, let x): "(not \(show(x)))"
            case .unary(.negate, let x): "(-\(show(x)))"
            case .member(let b, let f): "\(show(b)).\(f.name)"
            case .paren(let x): show(x)
            case .list(let items): "[" + items.map(show).joined(separator: "; ") + "]"
            case .call(let f, let args): f.name + "<" + args.map(show).joined(separator: "; ") + ">"
            default: tree.source.slice(tree.exprs[id].span)
            }
        }
        return show(e)
    }

    func testPrecedence() {
        XCTAssertEqual(grouped("a or b and c"), "(a or (b and c))")
        XCTAssertEqual(grouped("not a == b"), "(not (a == b))")
        XCTAssertEqual(grouped("a ?? b == c"), "((a ?? b) == c)")
        XCTAssertEqual(grouped("a ?? b ?? c"), "(a ?? (b ?? c))")
        XCTAssertEqual(grouped("a + b * c - d"), "((a + (b * c)) - d)")
        XCTAssertEqual(grouped("-a.b * 2"), "((-a.b) * 2)")
        XCTAssertEqual(grouped("(a or b) and c"), "((a or b) and c)")
    }

    func testMembershipListsAndCalls() {
        XCTAssertEqual(grouped("a in b and c not in d"), "((a in b) and (c not in d))")
        XCTAssertEqual(grouped("not a in b"), "(not (a in b))")
        XCTAssertEqual(grouped("a ?? b in c ?? d"), "((a ?? b) in (c ?? d))")
        XCTAssertEqual(grouped("x in [1, 2 + 3, \"a\",]"), "(x in [1; (2 + 3); \"a\"])")
        XCTAssertEqual(grouped("size(p.tags) > 2 or format(t, \"d\") == []"), "((size<p.tags> > 2) or (format<t; \"d\"> == []))")
        // `in` stays a name where it is not an operator.
        XCTAssertEqual(grouped("in == 1"), "(in == 1)")
        // A list may span lines.
        XCTAssertEqual(grouped("x in [\n  \"a\",\n  \"b\"\n]"), "(x in [\"a\"; \"b\"])")
    }

    func testCatalogEventsAndForEach() {
        let tree = parse("""
        catalog event price_dropped { product_id: string }
        event product_viewed { product_id: string }
        journey j {
          on price_dropped as d
          for each profile where exists(product_viewed where product_id == d.product_id)
            and profile.x > 1
            or profile.y
          push "x"
        }

        """)
        XCTAssertEqual(tree.diagnostics.map(\.message), [])
        guard case .event(_, _, let catalog)? = tree.decls.first?.kind else { return XCTFail("no event") }
        XCTAssertNotNil(catalog)
        guard case .event(_, _, nil)? = tree.decls.dropFirst().first?.kind else { return XCTFail("a plain event") }
        guard case .journey(let j)? = tree.decls.last?.kind, case .forEach(let c?, _) = j.header[1] else { return XCTFail("no for each") }
        // The lines that start with `and` / `or` go on with the condition.
        guard case .binary(.or, let l, _) = tree.exprs[c].kind, case .binary(.and, _, _) = tree.exprs[l].kind else { return XCTFail("\(tree.exprs[c].kind)") }
        XCTAssertEqual(j.body.statements.count, 1)
        // `for each` is a header clause: once, and spelt out.
        XCTAssertEqual(parse("journey j {\n on e\n for each profile\n for each profile\n}\n").diagnostics.map(\.message), ["the journey 'j' has more than one 'for each profile'"])
        XCTAssertTrue(parse("journey j {\n on e\n for each customer\n}\n").diagnostics.first?.message.contains("expected 'profile'") ?? false)
    }

    func testMembershipErrors() {
        for (text, message) in [
            ("when a in b in c", "comparisons cannot be chained"),
            ("when a == b in c", "comparisons cannot be chained"),
            ("when x in [1, 2", "this '[' is never closed"),
            ("when x in [1 2]", "expected ',' or ']' in the list, found '2'"),
            ("when size(a b)", "expected ',' or ')' in the size(…), found 'b'"),
            ("when x not y", "expected"),
        ] {
            let tree = parse("journey j {\n on e\n \(text)\n}\n")
            XCTAssertTrue(tree.diagnostics.first?.message.hasPrefix(message) ?? false, "\(text): \(tree.diagnostics.map(\.message))")
        }
    }

    func testPolicyRulesByCommaOrNewline() {
        let tree = parse("policy { cap 3 messages per 24h, quiet hours 22:00 to 08:00 }\n")
        XCTAssertEqual(tree.diagnostics.map(\.message), [])
        guard case .policy(let rules)? = tree.decls.first?.kind else { return XCTFail("no policy") }
        XCTAssertEqual(rules.count, 2)
    }

    func testChainedComparisonIsAnError() {
        XCTAssertEqual(parse("journey j {\n on e\n when a < b < c\n}\n").diagnostics.map(\.code.id), ["J0104"])
    }

    func testEveryStatementForm() throws {
        let text = """
        journey j "Title" {
          on cart as c where total > 10
          when count(product_viewed where category == "shoes" within 7d) >= 3
          goal order_placed where total > 0
          exit on unsubscribed
          reentry after 30d
          wait 1h
          wait until 09:00
          wait for push_opened as p where id == c.id within 24h { exit } else {
            sms "x"
          }
          if a { exit } else if b { exit } else { exit }
          split {
            10% control { exit }
            90% { wait 1d }
          }
          push { title: "t", body: "b" } else whatsapp template "cart" { name: profile.first_name } else email "e"
          wallet { pass: "p", fields: { points: 1 } }
          set profile.points = profile.points + 1
          exit
        }
        """
        let tree = parse(text)
        XCTAssertEqual(tree.diagnostics.map(\.message), [])
        guard case .journey(let j)? = tree.decls.first?.kind else { return XCTFail("no journey") }
        XCTAssertEqual(j.header.count, 5)
        let kinds = j.body.statements.map { s -> String in
            switch s.kind {
            case .wait: "wait"
            case .waitUntil: "until"
            case .waitFor(let w): "for(\(w.arrived != nil),\(w.timedOut != nil))"
            case .if(let b, let e): "if\(b.count)\(e != nil)"
            case .split(let b): "split\(b.count)"
            case .send(let l): "send\(l.count)"
            case .set: "set"
            case .exit: "exit"
            }
        }
        XCTAssertEqual(kinds, ["wait", "until", "for(true,true)", "if2true", "split2", "send3", "send1", "set", "exit"])
    }

    func testInterpolationHoldsStringsAndKeepsAbsoluteSpans() throws {
        let text = #"journey j { on e \#n push "Hi {profile.brand ?? "our shop"}!" }"#.replacingOccurrences(of: "\\#n", with: "\n")
        let tree = parse(text)
        XCTAssertEqual(tree.diagnostics.map(\.message), [])
        let strings = tree.exprs.nodes.compactMap { n -> [StringPart]? in if case .string(let p) = n.kind { return p } else { return nil } }
        let outer = try XCTUnwrap(strings.first { $0.count == 3 })
        guard case .interpolation(let id) = outer[1] else { return XCTFail("no interpolation") }
        XCTAssertEqual(tree.source.slice(tree.exprs[id].span), #"profile.brand ?? "our shop""#)
    }

    func testRecoversAndReportsEveryIndependentError() {
        let text = """
        journey j {
          on e
          wait 1x
          push
          wait 2h
          if { exit }
          set x = 1
        }
        journey k {
          on e
          wait for x 1h
        }
        """
        let codes = parse(text).diagnostics.map { "\(parse(text).source.location(of: $0.span.start).line):\($0.code.id)" }
        XCTAssertEqual(codes, ["3:J0003", "4:J0105", "6:J0101", "7:J0101", "11:J0101"])
    }

    func testHeaderAfterStepAndDuplicateTrigger() {
        let codes = parse("journey j {\n on e\n on f\n wait 1h\n goal g\n}\njourney k {\n wait 1h\n}\n").diagnostics.map(\.code.id)
        XCTAssertEqual(codes, ["J0103", "J0107", "J0108"])
    }

    func testUnclosedJourneyIsReported() {
        XCTAssertEqual(parse("journey j {\n on e\n wait 1h\n").diagnostics.map(\.code.id), ["J0102"])
    }

    func testMisspeltStepSuggestsTheKeyword() {
        let d = parse("journey j {\n on e\n wiat 1h\n}\n").diagnostics
        XCTAssertEqual(d.first?.hint, "did you mean 'wait'?")
    }

    /// A project folder's files: `.journey` files at any depth, sorted; hidden files and folders
    /// left out; a link to a file kept, a link to a folder not followed (a loop of links ends).
    func testProjectFolderWalk() throws {
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("journey-walk-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: root) }
        let p = root.appendingPathComponent("p")
        for dir in ["p/b/deep", "p/.hidden", "p/a.journey", "outside"] {
            try fm.createDirectory(at: root.appendingPathComponent(dir), withIntermediateDirectories: true)
        }
        for file in ["p/z.journey", "p/b/deep/c.journey", "p/b/notes.txt", "p/.hidden/h.journey", "p/.x.journey", "p/a.journey/inner.journey", "outside/o.journey"] {
            try "journey x {}\n".write(to: root.appendingPathComponent(file), atomically: true, encoding: .utf8)
        }
        try fm.createSymbolicLink(atPath: p.appendingPathComponent("linked.journey").path, withDestinationPath: "../outside/o.journey")
        try fm.createSymbolicLink(atPath: p.appendingPathComponent("linkdir").path, withDestinationPath: "../outside")
        try fm.createSymbolicLink(atPath: p.appendingPathComponent("b/loop").path, withDestinationPath: "..")
        let expected = ["a.journey/inner.journey", "b/deep/c.journey", "linked.journey", "z.journey"].map { p.path + "/" + $0 }
        XCTAssertEqual(ProjectFolder.journeyFiles(in: p.path), expected)
        XCTAssertEqual(ProjectFolder.journeyFiles(in: p.path + "/"), expected)
        XCTAssertNil(ProjectFolder.journeyFiles(in: root.appendingPathComponent("missing").path))
        XCTAssertNil(ProjectFolder.journeyFiles(in: p.appendingPathComponent("z.journey").path))

        // Many folders side by side are walked with one open at a time: under a limit of open
        // files lower than their number, none is left out.
        let wide = root.appendingPathComponent("wide")
        for k in 0..<300 {
            let d = wide.appendingPathComponent(String(format: "f%03d", k))
            try fm.createDirectory(at: d, withIntermediateDirectories: true)
            try "journey x {}\n".write(to: d.appendingPathComponent("j.journey"), atomically: true, encoding: .utf8)
        }
        var limit = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit), 0)
        // Room for fifty more than the process has open now (other tests may hold many).
        let open = try fm.contentsOfDirectory(atPath: "/proc/self/fd").count
        var low = limit
        low.rlim_cur = rlim_t(open + 50)
        XCTAssertEqual(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &low), 0)
        let walked = ProjectFolder.journeyFiles(in: wide.path)
        XCTAssertEqual(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit), 0)
        XCTAssertEqual(walked?.count, 300)
    }
}
