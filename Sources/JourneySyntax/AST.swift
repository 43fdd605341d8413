import JourneyDiagnostics

// MARK: - Basics

/// A name as written, with where it was written.
public struct Ident: Sendable, Hashable {
    public var name: String
    public var span: Span
    public init(_ name: String, _ span: Span) {
        self.name = name
        self.span = span
    }
}

/// The unit a duration was written in.
public enum DurationUnit: UInt8, Sendable {
    case seconds, minutes, hours, days, weeks

    public var letter: String { ["s", "m", "h", "d", "w"][Int(rawValue)] }
    public var seconds: Int64 { [1, 60, 3600, 86400, 604_800][Int(rawValue)] }
}

/// A duration literal such as `24h`.
public struct DurationLit: Sendable, Hashable {
    public var amount: Int64
    public var unit: DurationUnit
    /// True when written with a leading '-' (always an error, kept to report it well).
    public var negative: Bool
    public var span: Span
    public var seconds: Int64 { (negative ? -1 : 1) * amount * unit.seconds }
    public var text: String { "\(negative ? "-" : "")\(amount)\(unit.letter)" }
}

/// A time of day such as `09:00`, in minutes after midnight.
public struct TimeOfDayLit: Sendable, Hashable {
    public var minutes: Int
    public var span: Span
    public var text: String {
        let h = minutes / 60, m = minutes % 60
        return (h < 10 ? "0" : "") + "\(h):" + (m < 10 ? "0" : "") + "\(m)"
    }
}

/// A percentage, exactly, in basis points (`12.5%` is 1250).
public struct PercentLit: Sendable, Hashable {
    public var basisPoints: Int
    /// False when written with more than two decimals (finer than a basis point).
    public var exact: Bool = true
    public var text: String
    public var span: Span
}

// MARK: - Expressions

/// The index of an expression in its file's arena.
public struct ExprID: Sendable, Hashable {
    public var index: Int32
    public init(_ index: Int) { self.index = Int32(index) }
}

public enum UnaryOp: Sendable { case negate, not }

public enum BinaryOp: String, Sendable, CaseIterable {
    case or, and
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
    /// Membership: an item in a list, or text in a string.
    case `in` = "in", notIn = "not in"
    case coalesce = "??"
    case add = "+", subtract = "-", multiply = "*", divide = "/"

    /// Binding strength; higher binds tighter.
    public var precedence: Int {
        switch self {
        case .or: 1
        case .and: 2
        case .equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual, .in, .notIn: 4
        case .coalesce: 5
        case .add, .subtract: 6
        case .multiply, .divide: 7
        }
    }

    public var isComparison: Bool { precedence == 4 }
    public var spelling: String { self == .or ? "or" : (self == .and ? "and" : rawValue) }
}

/// One piece of a string literal.
public enum StringPart: Sendable, Hashable {
    case text(String)
    case interpolation(ExprID)
}

/// A history query: `count(EVENT [where COND] [within D])`, `sum(EVENT.FIELD …)`, `last(EVENT)`, …
public struct HistoryQuery: Sendable, Hashable {
    public var function: Ident
    public var event: Ident
    public var field: Ident?
    public var condition: ExprID?
    public var within: DurationLit?
    /// `count_all(distinct EVENT …)`: profiles, not events.
    public var distinct: Span? = nil
    /// `top(EVENT.FIELD …, 3)`: how many values (a list); nil for the one most frequent.
    /// `also(…, limit 3)` too.
    public var limit: (value: Int64, span: Span)? = nil
    /// `also(EVENT.FIELD, of: VALUE, …)`: the item whose companions to find.
    public var of: ExprID? = nil

    public static func == (a: HistoryQuery, b: HistoryQuery) -> Bool {
        a.function == b.function && a.event == b.event && a.field == b.field && a.condition == b.condition && a.within == b.within
            && a.distinct == b.distinct && a.limit?.value == b.limit?.value && a.limit?.span == b.limit?.span && a.of == b.of
    }

    public func hash(into h: inout Hasher) {
        h.combine(function); h.combine(event); h.combine(field); h.combine(condition); h.combine(within); h.combine(distinct); h.combine(limit?.value)
    }
}

public enum ExprKind: Sendable, Hashable {
    case integer(Int64)
    /// Exact decimal text as written (e.g. "12.50").
    case decimal(String)
    case percent(PercentLit)
    case string([StringPart])
    case bool(Bool)
    case none
    case duration(DurationLit)
    case timeOfDay(TimeOfDayLit)
    case date(year: Int, month: Int, day: Int)
    /// `2025-03-01T10:00:00Z`, as seconds since 1970 (UTC).
    case instant(Int64)
    case name(String)
    case profile
    case now
    case today
    case member(ExprID, Ident)
    case unary(UnaryOp, ExprID)
    case binary(BinaryOp, ExprID, ExprID)
    case paren(ExprID)
    indirect case history(HistoryQuery)
    /// A list literal: `["sneakers", "running"]`.
    case list([ExprID])
    /// A call of a built-in function: `size(profile.tags)`, `format(order.at, "EEE d MMM")`.
    case call(Ident, [ExprID])
    /// `for ITEM in LIST: TEXT`: TEXT once per item, joined (a "Picked for you" section).
    case repeated(item: Ident, list: ExprID, text: ExprID)
    /// Stands where a parse error was reported.
    case error
}

public struct ExprNode: Sendable, Hashable {
    public var kind: ExprKind
    public var span: Span
}

/// All expressions of a file, addressed by `ExprID`; the tree is never mutated after parsing.
public struct ExprArena: Sendable {
    public private(set) var nodes: [ExprNode] = []
    /// Each node's depth (a leaf is 1): the parser keeps it under `Parser.maxNesting`, so every
    /// recursive walk over a tree is bounded.
    public private(set) var depths: [Int32] = []
    public init() {}

    /// Room for `count` nodes, so the arrays do not grow (and copy every node) while parsing.
    mutating func reserve(_ count: Int) {
        nodes.reserveCapacity(count)
        depths.reserveCapacity(count)
    }

    mutating func add(_ kind: consuming ExprKind, _ span: Span) -> ExprID {
        var d: Int32 = 0
        switch kind {
        case .member(let e, _), .unary(_, let e), .paren(let e): d = depths[Int(e.index)]
        case .binary(_, let l, let r): d = max(depths[Int(l.index)], depths[Int(r.index)])
        case .history(let q): d = max(q.condition.map { depths[Int($0.index)] } ?? 0, q.of.map { depths[Int($0.index)] } ?? 0)
        case .list(let items), .call(_, let items): d = items.map { depths[Int($0.index)] }.max() ?? 0
        case .repeated(_, let l, let t): d = max(depths[Int(l.index)], depths[Int(t.index)])
        case .string(let parts):
            for case .interpolation(let e) in parts { d = max(d, depths[Int(e.index)]) }
        default: break
        }
        nodes.append(ExprNode(kind: kind, span: span))
        depths.append(d + 1)
        return ExprID(nodes.count - 1)
    }

    public func depth(_ id: ExprID) -> Int { Int(depths[Int(id.index)]) }

    /// The node, lent rather than copied: `exprs[e].kind` reads the payload in place.
    @inlinable public subscript(id: ExprID) -> ExprNode {
        _read { yield nodes[Int(id.index)] }
    }
    /// The span alone, without copying the node's payload.
    @inlinable public func span(_ id: ExprID) -> Span { nodes[Int(id.index)].span }
    public var count: Int { nodes.count }
}

// MARK: - Types

public indirect enum TypeSyntax: Sendable, Hashable {
    case named(Ident)
    case optional(TypeSyntax, Span)
    case list(TypeSyntax, Span)

    public var span: Span {
        switch self {
        case .named(let i): i.span
        case .optional(_, let s), .list(_, let s): s
        }
    }
}

// MARK: - Statements

public struct Block: Sendable, Hashable {
    public var statements: [Stmt]
    public var span: Span
}

public struct FieldBlock: Sendable, Hashable {
    public var fields: [MessageField]
    public var span: Span
}

public enum FieldValue: Sendable, Hashable {
    case expr(ExprID)
    case block(FieldBlock)
}

public struct MessageField: Sendable, Hashable {
    public var name: Ident
    public var value: FieldValue
    public var span: Span
}

public enum Message: Sendable, Hashable {
    /// A string: the body or text.
    case text(ExprID)
    case fields(FieldBlock)
    case template(name: ExprID, params: FieldBlock?)
}

/// One link of a send's fallback chain.
public struct SendLink: Sendable, Hashable {
    public var channel: Ident
    public var message: Message
    public var span: Span
}

public struct WaitFor: Sendable, Hashable {
    public var event: Ident
    public var alias: Ident?
    public var condition: ExprID?
    public var within: DurationLit
    public var arrived: Block?
    public var timedOut: Block?
}

public struct IfBranch: Sendable, Hashable {
    public var condition: ExprID
    public var block: Block
}

public struct SplitBranch: Sendable, Hashable {
    public var percent: PercentLit
    public var label: Ident?
    public var block: Block
}

public enum StmtKind: Sendable, Hashable {
    case wait(DurationLit)
    case waitUntil(TimeOfDayLit)
    case waitFor(WaitFor)
    case `if`([IfBranch], else: Block?)
    case split([SplitBranch])
    case send([SendLink])
    case set(attribute: Ident, value: ExprID)
    case exit
}

public struct Stmt: Sendable, Hashable {
    public var kind: StmtKind
    public var span: Span
}

// MARK: - Declarations

public struct FieldDecl: Sendable, Hashable {
    public var name: Ident
    public var type: TypeSyntax
    /// `= literal`: the value existing profiles get when the attribute is added.
    public var defaultValue: ExprID?
    public var span: Span

    public init(name: Ident, type: TypeSyntax, defaultValue: ExprID? = nil, span: Span) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.span = span
    }
}

public enum PolicyRule: Sendable, Hashable {
    case cap(count: Int, countSpan: Span, per: DurationLit, span: Span)
    case quietHours(from: TimeOfDayLit, to: TimeOfDayLit, span: Span)
    /// `currency EUR`: the currency money is shown in when the profile has none of its own.
    case currency(Ident, span: Span)
    /// `locale "en-GB"`: how dates and numbers read when the profile has no locale of its own.
    case locale(String, valueSpan: Span, span: Span)
}

public enum Reentry: Sendable, Hashable {
    case never, always
    case after(DurationLit)
}

public enum HeaderClause: Sendable, Hashable {
    case on(event: Ident, alias: Ident?, condition: ExprID?, span: Span)
    case daily(at: TimeOfDayLit, alias: Ident?, span: Span)
    case when(ExprID, span: Span)
    case goal(event: Ident, condition: ExprID?, span: Span)
    case exitOn(event: Ident, condition: ExprID?, span: Span)
    case reentry(Reentry, span: Span)
    /// `max_delay D` (nil: `max_delay none`): triggers older than D when taken start nothing.
    case maxDelay(DurationLit?, span: Span)
    /// `for each profile [where COND]`: a journey on a catalog event enters every profile that
    /// matches (the trigger alias is in scope in COND).
    case forEach(ExprID?, span: Span)

    public var span: Span {
        switch self {
        case .on(_, _, _, let s), .daily(_, _, let s), .when(_, let s), .goal(_, _, let s), .exitOn(_, _, let s), .reentry(_, let s), .maxDelay(_, let s), .forEach(_, let s): s
        }
    }
}

public struct JourneyDecl: Sendable, Hashable {
    public var name: Ident
    public var title: ExprID?
    public var header: [HeaderClause]
    public var body: Block
}

public enum DeclKind: Sendable, Hashable {
    case profile([FieldDecl])
    /// `event NAME { … }`; `catalog event NAME { … }` (with the span of `catalog`) is about
    /// a product or a store rather than one profile.
    case event(Ident, [FieldDecl], catalog: Span?)
    case channel(kind: Ident, address: ExprID, consent: ExprID?)
    case policy([PolicyRule])
    case journey(JourneyDecl)
    /// `test "name" { … }`: a scenario the simulator runs (`journey test`).
    case test(TestDecl)
    /// `given profile NAME { … }` outside a test: a profile every test may start from (`like NAME`).
    case fixture(GivenProfile)
}

// MARK: - Tests

/// `name: value` in a test's profile or event; the value is a literal (or a list of them).
public struct TestField: Sendable, Hashable {
    public var name: Ident
    public var value: ExprID
    public var span: Span
}

/// `given profile NAME [like BASE] [{ field: value, … }]`.
public struct GivenProfile: Sendable, Hashable {
    public var name: Ident
    public var base: Ident?
    public var fields: [TestField]
    public var span: Span
}

/// An instant in a test: absolute (`2025-03-01T10:00:00Z`, as epoch seconds) or after the
/// test's last instant (`+2h`).
public enum TestTime: Sendable, Hashable {
    case absolute(Int64, Span)
    case relative(DurationLit)

    public var span: Span {
        switch self {
        case .absolute(_, let s): s
        case .relative(let d): d.span
        }
    }
}

/// When a message is expected (or not): at an instant, between two (inclusive), after or before one.
public enum TestWindow: Sendable, Hashable {
    case at(TestTime)
    case between(TestTime, TestTime)
    case after(TestTime)
    case before(TestTime)
}

public enum Expectation: Sendable, Hashable {
    /// `expect CHANNEL to P [window] [status S] [from JOURNEY] [containing "text"] [with { field: value }]`
    case message(channel: Ident, profile: Ident, window: TestWindow?, status: Ident?, journey: Ident?, containing: ExprID?, fields: [TestField])
    /// `expect nothing [on CHANNEL] to P [from JOURNEY] [window]`: no message sent.
    case nothing(channel: Ident?, profile: Ident, journey: Ident?, window: TestWindow?)
    /// `expect P is waiting|converted|exited|completed|failed in JOURNEY`; `expect P is not in JOURNEY`.
    case state(profile: Ident, state: Ident, journey: Ident)
    /// `expect P is in JOURNEY.BRANCH`: the split branch the profile's instance took.
    case branch(profile: Ident, journey: Ident, branch: Ident)
    /// `expect P.ATTRIBUTE == value`
    case attribute(profile: Ident, attribute: Ident, value: ExprID)
}

public enum TestStmtKind: Sendable, Hashable {
    case given(GivenProfile)
    /// `only journey NAME`: the test runs that journey alone.
    case only(Ident)
    /// `at TIME [P does EVENT [{ field: value, … }]]`: the clock moves on to TIME (an event, if
    /// given, happens then).
    case at(TestTime, profile: Ident?, event: Ident?, fields: [TestField])
    case expect(Expectation)
}

public struct TestStmt: Sendable, Hashable {
    public var kind: TestStmtKind
    public var span: Span
}

public struct TestDecl: Sendable, Hashable {
    public var name: String
    public var nameSpan: Span
    public var statements: [TestStmt]
    public var body: Span
}

public struct Decl: Sendable, Hashable {
    public var kind: DeclKind
    public var span: Span
}

/// A parsed file: its declarations, its expression arena, its comments and its parse diagnostics.
public struct SyntaxTree: Sendable {
    public var source: SourceFile
    public var decls: [Decl]
    public var exprs: ExprArena
    public var comments: [Comment]
    public var diagnostics: [Diagnostic]
}
