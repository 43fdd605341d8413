import JourneyDiagnostics
import JourneySyntax

/// An alias bound with `as`, and the event it names.
struct Alias {
    /// The event's name; nil when the event is unknown.
    var event: String?
    var span: Span
}

/// What names mean at one point of a journey, and which optional paths are known not to be none.
struct Scope {
    var aliases: [String: Alias] = [:]
    /// The fields of the event a `where` filters, in scope by bare name.
    var bareFields: EventSchema?
    /// Paths such as `profile.email` known to hold a value here.
    var narrowed: Set<String> = []
    /// True in an audience journey, where no trigger alias exists.
    var audience = false
    /// Inside the `where` of an unknown event (already reported): bare names are not checked.
    var unknownBareFields = false
    /// Items of `for ITEM in LIST: …`, by name.
    var items: [String: JType] = [:]
}

/// What a condition tells about optional paths when it is true and when it is false.
struct Narrowing {
    var whenTrue: Set<String> = []
    var whenFalse: Set<String> = []
}

extension JourneyChecker {
    /// The path a narrowing speaks of: `profile.email`, `cart.coupon`, a bare field.
    func pathKey(_ e: ExprID) -> String? {
        switch exprs[e].kind {
        case .profile: "profile"
        case .name(let n): n
        case .member(let b, let f): pathKey(b).map { "\($0).\(f.name)" }
        case .paren(let inner): pathKey(inner)
        // `last(E)` and `days_since(E)` are optional: the call, as written (spaces aside), is the path.
        case .history: "call:" + compactText(e)
        default: nil
        }
    }

    func isNone(_ e: ExprID) -> Bool {
        switch exprs[e].kind {
        case .none: true
        case .paren(let inner): isNone(inner)
        default: false
        }
    }

    /// Flow typing: `x != none` narrows `x` when true; `x == none` when false; through and/or/not.
    func narrowing(_ e: ExprID) -> Narrowing {
        switch exprs[e].kind {
        case .binary(let op, let a, let b) where op == .notEqual || op == .equal:
            var key: String?
            if isNone(b) { key = pathKey(a) } else if isNone(a) { key = pathKey(b) }
            guard let k = key else { return Narrowing() }
            return op == .notEqual ? Narrowing(whenTrue: [k]) : Narrowing(whenFalse: [k])
        case .binary(.in, let a, _):
            // Only a value can be in a list: when true, the item is not none.
            return pathKey(a).map { Narrowing(whenTrue: [$0]) } ?? Narrowing()
        case .binary(.notIn, let a, _):
            return pathKey(a).map { Narrowing(whenFalse: [$0]) } ?? Narrowing()
        case .binary(.and, let a, let b):
            return Narrowing(whenTrue: narrowing(a).whenTrue.union(narrowing(b).whenTrue))
        case .binary(.or, let a, let b):
            return Narrowing(whenFalse: narrowing(a).whenFalse.union(narrowing(b).whenFalse))
        case .unary(.not, let a):
            let n = narrowing(a)
            return Narrowing(whenTrue: n.whenFalse, whenFalse: n.whenTrue)
        case .paren(let inner):
            return narrowing(inner)
        default:
            return Narrowing()
        }
    }
}
