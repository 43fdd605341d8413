import Dispatch
import Foundation
import JourneyBytecode
import JourneyDiagnostics
import JourneyRuntime
import JourneySemantics
import JourneySyntax

/// One test's result.
public struct TestOutcome: Sendable {
    public var name: String
    public var file: String
    public var line: Int
    public var seconds: Double
    public var failures: [TestFailure]
    /// A test that could not run (a fault of the runtime, not a failed expectation).
    public var error: String?
    public var passed: Bool { failures.isEmpty && error == nil }
}

/// An expectation that did not hold, with what was expected and what happened instead.
public struct TestFailure: Sendable {
    public var line: Int
    public var column: Int
    /// The expectation as written.
    public var source: String
    public var message: String
    /// The profile's timeline as it ran (messages and journeys), one line each.
    public var timeline: [String]
}

/// Runs a project's tests on the simulator's engine: each from an empty in-memory database, all
/// of them in parallel.
public enum TestRunner {
    /// `trees` and `checked` are the project's (without errors); `filter` keeps the tests whose
    /// name contains it.
    public static func run(_ trees: [SyntaxTree], _ checked: CheckResult, bundle: JourneyBundle, filter: String? = nil) -> [TestOutcome] {
        var cases: [(tree: SyntaxTree, test: TestDecl)] = []
        var fixtures: [String: (SyntaxTree, GivenProfile)] = [:]
        for tree in trees {
            for d in tree.decls {
                switch d.kind {
                case .test(let t) where filter.map { t.name.localizedCaseInsensitiveContains($0) } ?? true: cases.append((tree, t))
                case .fixture(let g): fixtures[g.name.name] = (tree, g)
                default: break
                }
            }
        }
        let bytes = bundle.encode()
        let all = cases, shared = fixtures
        // One database per bundle a test deploys (the whole project, or one journey alone), set
        // up once; each test starts from a copy of it.
        let templates = Templates(bundle: bundle, tests: all.map(\.test))
        var out = [TestOutcome?](repeating: nil, count: all.count)
        out.withUnsafeMutableBufferPointer { buffer in
            // Each iteration writes only its own slot.
            nonisolated(unsafe) let slots = buffer
            DispatchQueue.concurrentPerform(iterations: all.count) { i in
                let (tree, test) = all[i]
                var run = TestRun(tree: tree, test: test, checked: checked, bundle: bundle, bytes: bytes, fixtures: shared, templates: templates)
                slots[i] = run.run()
            }
        }
        return out.compactMap { $0 }
    }
}

/// One test's run: its engine, its profiles and its clock.
struct TestRun {
    let tree: SyntaxTree
    let test: TestDecl
    let checked: CheckResult
    let bundle: JourneyBundle
    let bytes: [UInt8]
    let fixtures: [String: (SyntaxTree, GivenProfile)]
    var templates: Templates?
    var now: Int64?
    var failures: [TestFailure] = []
    /// Message expectations, checked once the run is over.
    var deferred: [TestStmt] = []
    /// The latest instant the test names (its events and its windows).
    var horizon: Int64 = 0

    init(tree: SyntaxTree, test: TestDecl, checked: CheckResult, bundle: JourneyBundle, bytes: [UInt8], fixtures: [String: (SyntaxTree, GivenProfile)], templates: Templates? = nil) {
        self.templates = templates
        self.tree = tree
        self.test = test
        self.checked = checked
        self.bundle = bundle
        self.bytes = bytes
        self.fixtures = fixtures
    }

    var schema: RuntimeSchema { bundle.schema }

    mutating func run() -> TestOutcome {
        let started = DispatchTime.now().uptimeNanoseconds
        let line = tree.source.location(of: test.nameSpan.start).line
        var outcome = TestOutcome(name: test.name, file: tree.source.path, line: line, seconds: 0, failures: [])
        do {
            let engine = try prepare()
            for s in test.statements { try step(s, engine) }
            // Everything left runs out: timers to the end, audience journeys for a day past the
            // last instant the test names.
            if let n = now { try engine.run(until: nil, audienceUntil: max(horizon, n) + 86_400) }
            for s in deferred { check(s, engine) }
            outcome.failures = failures
        } catch {
            outcome.error = "\(error)"
        }
        outcome.seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        return outcome
    }

    /// An empty in-memory database with the bundle deployed (one journey with `only journey`).
    func prepare() throws -> Engine {
        if let store = try templates?.copy(only: Templates.only(test)) { return try Engine(store: store) }
        let engine = try Engine(store: try SQLiteStore(path: ":memory:"))
        _ = try engine.deploy(Templates.bytes(bundle, only: Templates.only(test)) ?? bytes, at: 0)
        return engine
    }

    var firstInstant: Int64? {
        for s in test.statements {
            if case .at(.absolute(let t, _), _, _, _) = s.kind { return t }
        }
        return nil
    }

    func instant(_ t: TestTime) -> Int64 {
        switch t {
        case .absolute(let at, _): at
        case .relative(let d): (now ?? 0) + d.seconds
        }
    }

    mutating func step(_ s: TestStmt, _ engine: Engine) throws {
        switch s.kind {
        case .given(let g):
            let row = ProfileRow(id: g.name.name, values: profileValues(g))
            let refused = try engine.importProfiles([row])
            if let r = refused.first { throw TestSetupError(message: "profile \(g.name.name) was refused: \(r.reason)") }
        case .only:
            break
        case .at(let time, let profile, let event, let fields):
            let at = instant(time)
            now = at
            horizon = max(horizon, at)
            try engine.run(until: at, audienceUntil: at, start: firstInstant)
            guard let profile, let event else { return }
            let who = profile.name.isEmpty ? "" : "\"profile\": \(JSON.quote(profile.name)), "
            let line = "{" + who + "\"event\": \(JSON.quote(event.name)), \"at\": \(JSON.quote(Value.iso8601(at))), \"data\": {"
                + fields.compactMap { f -> String? in
                    guard let type = checked.schema.events[event.name]?.field(f.name.name)?.type, let lit = literalValue(f.value, type, in: tree) else { return nil }
                    return "\(JSON.quote(f.name.name)): \(Self.json(lit))"
                }.joined(separator: ", ") + "}}"
            let file = EventInput.parseFile(Array(line.utf8), schema: schema, parts: 1)
            if let e = file.errors.first { throw TestSetupError(message: "the event at line \(self.line(s)) was refused: \(e.reason)") }
            let summary = try engine.ingest(file, source: "test")
            if let e = summary.rejected.first { throw TestSetupError(message: "the event at line \(self.line(s)) was refused: \(e.reason)") }
            try engine.run(until: at, audienceUntil: at, start: firstInstant)
        case .expect(let x):
            switch x {
            case .message, .nothing:
                deferred.append(s)
                if case .message(_, _, let w?, _, _, _, _) = x { widen(w) }
                if case .nothing(_, _, _, let w?) = x { widen(w) }
            default:
                check(s, engine)
            }
        }
    }

    mutating func widen(_ w: TestWindow) {
        switch w {
        case .at(let t), .after(let t), .before(let t): horizon = max(horizon, instant(t))
        case .between(_, let t): horizon = max(horizon, instant(t))
        }
    }

    func line(_ s: TestStmt) -> Int { tree.source.location(of: s.span.start).line }

    /// A given profile's values: its base's (a fixture or an earlier profile), then its own
    /// fields; what neither gives is the schema's default, or else none, 0, false or "".
    func profileValues(_ g: GivenProfile) -> [Value] {
        var values = schema.attributes.map { a -> Value in
            if let d = a.defaultValue { return d }
            if a.type.isOptional { return .none }
            return Self.neutral(a.type)
        }
        func apply(_ g: GivenProfile, _ tree: SyntaxTree, depth: Int) {
            if let b = g.base, depth < 16 {
                if let (t, f) = fixtures[b.name] {
                    apply(f, t, depth: depth + 1)
                } else if let earlier = givenBefore(b.name) {
                    apply(earlier, self.tree, depth: depth + 1)
                }
            }
            for f in g.fields {
                guard let i = schema.attributes.firstIndex(where: { $0.name == f.name.name }), let type = checked.schema.attribute(f.name.name)?.type,
                      let lit = literalValue(f.value, type, in: tree) else { continue }
                values[i] = RuntimeSchema.value(lit, schema.attributes[i].type)
            }
        }
        apply(g, tree, depth: 0)
        return values
    }

    func givenBefore(_ name: String) -> GivenProfile? {
        for s in test.statements {
            if case .given(let g) = s.kind, g.name.name == name { return g }
        }
        return nil
    }

    static func neutral(_ type: FieldType) -> Value {
        switch type.unwrapped {
        case .bool: .bool(false)
        case .int: .int(0)
        case .decimal: .decimal(0)
        case .money: .money(0)
        case .string, .url: .string("")
        case .date: .date(0)
        case .time: .time(0)
        case .duration: .duration(0)
        case .list: .list([])
        default: .none
        }
    }

    static func json(_ lit: DefaultLiteral) -> String {
        switch lit {
        case .none: "null"
        case .bool(let b): b ? "true" : "false"
        case .int(let i): String(i)
        case .decimal(let text): JSON.quote(text)
        case .string(let s): JSON.quote(s)
        case .date(let y, let m, let d): JSON.quote(String(format: "%04d-%02d-%02d", y, m, d))
        case .duration(let s): String(s)
        case .time(let t): JSON.quote(Value.iso8601(t))
        case .list(let items): "[" + items.map(json).joined(separator: ", ") + "]"
        }
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// The databases tests start from: per bundle deployed (the project's, or one journey alone), an
/// in-memory database with it deployed at the epoch (audience journeys then start from a
/// test's first instant), copied for each test.
final class Templates: @unchecked Sendable {
    /// Guards the templates: a copy reads its template's connection, which one thread may use at a time.
    let lock = NSLock()
    var stores: [String: SQLiteStore] = [:]

    init(bundle: JourneyBundle, tests: [TestDecl]) {
        var keys: Set<String> = []
        for t in tests { keys.insert(Templates.only(t) ?? "") }
        for key in keys {
            guard let bytes = Templates.bytes(bundle, only: key.isEmpty ? nil : key),
                  let store = try? SQLiteStore(path: ":memory:"), let engine = try? Engine(store: store),
                  (try? engine.deploy(bytes, at: 0)) != nil else { continue }
            stores[key] = store
        }
    }

    /// The journey a test runs alone, if it says so.
    static func only(_ t: TestDecl) -> String? {
        for s in t.statements { if case .only(let j) = s.kind { return j.name } }
        return nil
    }

    /// The bundle's bytes, with only that journey when one is named.
    static func bytes(_ bundle: JourneyBundle, only: String?) -> [UInt8]? {
        guard let only else { return bundle.encode() }
        var b = bundle
        b.journeys = b.journeys.filter { $0.name == only }
        return b.encode()
    }

    /// A fresh database copied from the template for these journeys (nil: set it up afresh).
    func copy(only: String?) throws -> SQLiteStore? {
        lock.lock()
        defer { lock.unlock() }
        guard let template = stores[only ?? ""] else { return nil }
        return try SQLiteStore(copying: template)
    }
}
