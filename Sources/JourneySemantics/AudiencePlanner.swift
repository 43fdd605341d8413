import JourneySyntax

/// One way into the history index: the profiles that have an `event` whose `field` equals a
/// value known when the catalog event arrives (a field of the trigger, or a literal), within a
/// window. A `for each profile` condition with anchors tests only those profiles.
public struct Anchor: Sendable, Hashable {
    public enum Source: Sendable, Hashable {
        /// A field of the catalog event (`drop.product_id`).
        case triggerField(String)
        /// A literal written in the condition.
        case literal(ExprID)
    }
    public var event: String
    public var field: String
    public var source: Source
    /// Seconds back from the catalog event; nil for the whole history.
    public var within: Int64?
}

/// A condition split into what the history index answers exactly and what is left: a profile
/// passes when it is in every `required` union, in no `excluded` anchor, and passes each of the
/// `residual` conjuncts.
public struct ExactAudience: Sendable, Hashable {
    public var required: [[Anchor]]
    public var excluded: [Anchor]
    public var residual: [ExprID]
}

/// Finds the anchors of a `for each profile where …` condition: a set of profiles, taken from
/// the history index, that holds every profile for which the condition can be true. The whole
/// condition is still tested on each of them; the anchors only spare the others.
public struct AudiencePlanner {
    let exprs: ExprArena
    let schema: Schema
    /// The trigger's alias (`on price_dropped as drop`), and its event.
    let alias: String?
    let trigger: EventSchema?

    public init(exprs: ExprArena, schema: Schema, alias: String?, trigger: String? = nil) {
        self.exprs = exprs
        self.schema = schema
        self.alias = alias
        self.trigger = trigger.flatMap { schema.events[$0] }
    }

    /// The condition as index lookups and what is left to test, when at least one of its
    /// `and`-joined parts is answered exactly by the index (`exists(E where F == alias.G
    /// within D)`, the same under `or`, or `not` of one); nil otherwise.
    public func exact(_ condition: ExprID?) -> ExactAudience? {
        guard let c = condition else { return nil }
        var parts: [ExprID] = []
        func flatten(_ e: ExprID) {
            switch exprs[e].kind {
            case .paren(let inner): flatten(inner)
            case .binary(.and, let l, let r): flatten(l); flatten(r)
            default: parts.append(e)
            }
        }
        flatten(c)
        var out = ExactAudience(required: [], excluded: [], residual: [])
        for p in parts {
            if let a = anchors(p, exact: true) {
                out.required.append(a)
            } else if case .unary(.not, let inner) = stripped(p).kind, let a = anchors(inner, exact: true) {
                out.excluded += a
            } else {
                out.residual.append(p)
            }
        }
        return out.required.isEmpty ? nil : out
    }

    func stripped(_ e: ExprID) -> ExprNode {
        if case .paren(let inner) = exprs[e].kind { return stripped(inner) }
        return exprs[e]
    }

    /// The anchors whose union holds every profile that may pass `condition`; nil when there
    /// are none (no condition, or one the index cannot answer): every profile is tested.
    public func anchors(_ condition: ExprID?) -> [Anchor]? {
        condition.flatMap { anchors($0, exact: false) }
    }

    /// The anchors whose union holds every profile for which `e` may be true; with `exact`,
    /// only when it holds exactly those profiles (no `and`, a `where` of matches alone).
    func anchors(_ e: ExprID, exact: Bool) -> [Anchor]? {
        switch exprs[e].kind {
        case .paren(let inner): return anchors(inner, exact: exact)
        // Both must hold: either side's profiles hold the answer (the left, as written, first).
        case .binary(.and, let l, let r) where !exact: return anchors(l, exact: false) ?? anchors(r, exact: false)
        // Either may hold: both sides must be narrowed.
        case .binary(.or, let l, let r):
            guard let a = anchors(l, exact: exact), let b = anchors(r, exact: exact) else { return nil }
            return a + b
        case .history(let q) where q.function.name == "exists":
            return query(q, exact: exact)
        // count(…) > 0, count(…) >= 1
        case .binary(.greater, let l, let r) where isInteger(r, 0), .binary(.greaterEqual, let l, let r) where isInteger(r, 1):
            guard case .history(let q) = exprs[l].kind, q.function.name == "count" else { return nil }
            return query(q, exact: exact)
        default:
            return nil
        }
    }

    func isInteger(_ e: ExprID, _ v: Int64) -> Bool {
        if case .integer(let x) = exprs[e].kind { return x == v }
        return false
    }

    /// A query's anchors; exact when its `where` is made only of matches (joined by `or`): then
    /// the index rows are the events.
    func query(_ q: HistoryQuery, exact: Bool) -> [Anchor]? {
        guard let ev = schema.events[q.event.name], !ev.catalog, let c = q.condition else { return nil }
        if exact, !onlyMatches(c, ev) { return nil }
        return matches(c, ev).map { found in
            found.map { Anchor(event: ev.name, field: $0.field, source: $0.source, within: q.within?.seconds) }
        }
    }

    func onlyMatches(_ e: ExprID, _ ev: EventSchema) -> Bool {
        switch exprs[e].kind {
        case .paren(let inner): return onlyMatches(inner, ev)
        case .binary(.or, let l, let r): return onlyMatches(l, ev) && onlyMatches(r, ev)
        case .binary(.equal, _, _), .binary(.in, _, _): return matches(e, ev) != nil
        default: return false
        }
    }

    /// Inside the query's `where`: `FIELD == alias.F`, `alias.F == FIELD`, `FIELD == "literal"`,
    /// `alias.F in LIST_FIELD`.
    func matches(_ c: ExprID, _ ev: EventSchema) -> [(field: String, source: Anchor.Source)]? {
        switch exprs[c].kind {
        case .paren(let inner): return matches(inner, ev)
        case .binary(.and, let l, let r): return matches(l, ev) ?? matches(r, ev)
        case .binary(.or, let l, let r):
            guard let a = matches(l, ev), let b = matches(r, ev) else { return nil }
            return a + b
        case .binary(.equal, let l, let r):
            if let f = field(l, ev, list: false), let s = source(r, ev) { return [(f, s)] }
            if let f = field(r, ev, list: false), let s = source(l, ev) { return [(f, s)] }
            return nil
        case .binary(.in, let item, let container):
            if let f = field(container, ev, list: true), let s = source(item, ev) { return [(f, s)] }
            return nil
        default:
            return nil
        }
    }

    /// A bare field of the queried event (a list field for `in`).
    func field(_ e: ExprID, _ ev: EventSchema, list: Bool) -> String? {
        guard case .name(let n) = exprs[e].kind, let f = ev.field(n) else { return nil }
        if case .list = f.type.unwrapped { return list ? n : nil }
        // An optional field may be none, which the index does not file.
        return list || f.type.isOptional ? nil : n
    }

    /// A value known when the catalog event arrives.
    func source(_ e: ExprID, _ ev: EventSchema) -> Anchor.Source? {
        switch exprs[e].kind {
        case .paren(let inner): return source(inner, ev)
        case .member(let base, let f):
            guard let a = alias, case .name(a) = exprs[base].kind, ev.field(a) == nil,
                  let t = trigger?.field(f.name), !t.type.isOptional else { return nil }
            if case .list = t.type { return nil }
            return .triggerField(f.name)
        case .string(let parts) where parts.allSatisfy({ if case .text = $0 { true } else { false } }): return .literal(e)
        case .integer: return .literal(e)
        default: return nil
        }
    }
}
