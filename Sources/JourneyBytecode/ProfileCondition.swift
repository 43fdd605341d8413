import JourneySemantics

/// What a predicate over a profile's attributes says, as far as a store can check it before the
/// VM runs: a profile for which the condition is false is one for which the predicate returns
/// false and does not fault. Parts the analysis cannot follow are `unknown` (any profile may
/// pass them), so a condition is never stricter than the predicate; the VM still tests every
/// profile the store hands it. An audience run gives it to the store to read only the profiles
/// that can pass (`SQLiteStore` turns it into a `WHERE` clause with bound values).
public indirect enum ProfileCondition: Sendable, Hashable {
    case always
    case never
    /// Cannot be told before the VM runs.
    case unknown
    /// `attribute op value`, as the VM compares (a missing value compares false).
    case compare(attribute: Int, op: Comparison, value: Value)
    /// The attribute holds `true`.
    case isTrue(attribute: Int)
    /// The attribute has no value.
    case isNone(attribute: Int)
    case not(ProfileCondition)
    case and(ProfileCondition, ProfileCondition)
    case or(ProfileCondition, ProfileCondition)

    public enum Comparison: Sendable, Hashable {
        case equal, notEqual, less, lessEqual, greater, greaterEqual

        /// The same comparison with its operands swapped (`3 < a` is `a > 3`).
        var swapped: Comparison {
            switch self {
            case .equal, .notEqual: self
            case .less: .greater
            case .lessEqual: .greaterEqual
            case .greater: .less
            case .greaterEqual: .lessEqual
            }
        }
    }

    static func all(_ a: ProfileCondition, _ b: ProfileCondition) -> ProfileCondition {
        switch (a, b) {
        case (.never, _), (_, .never): .never
        case (.always, let x), (let x, .always): x
        default: a == b ? a : .and(a, b)
        }
    }

    static func any(_ a: ProfileCondition, _ b: ProfileCondition) -> ProfileCondition {
        switch (a, b) {
        case (.always, _), (_, .always): .always
        case (.never, let x), (let x, .never): x
        default: a == b ? a : .or(a, b)
        }
    }

    static func negation(_ a: ProfileCondition) -> ProfileCondition {
        switch a {
        case .always: .never
        case .never: .always
        case .unknown: .unknown
        case .not(let x): x
        default: .not(a)
        }
    }

    /// The same condition with attributes renumbered (`nil`: the attribute is not there, and
    /// a test of it can no longer be told).
    public func renumbered(_ map: (Int) -> Int?) -> ProfileCondition {
        switch self {
        case .always, .never, .unknown: self
        case .compare(let a, let op, let v): map(a).map { .compare(attribute: $0, op: op, value: v) } ?? .unknown
        case .isTrue(let a): map(a).map { .isTrue(attribute: $0) } ?? .unknown
        case .isNone(let a): map(a).map { .isNone(attribute: $0) } ?? .always
        case .not(let x): Self.negation(x.renumbered(map))
        case .and(let x, let y): Self.all(x.renumbered(map), y.renumbered(map))
        case .or(let x, let y): Self.any(x.renumbered(map), y.renumbered(map))
        }
    }

    /// The profiles for which a predicate can return true or fault, from its code: every path
    /// through it is followed with the values it compares kept symbolic. A path ends at the
    /// `return` (the condition of the path and what it returns) or at an instruction that may
    /// fault (the condition of the path: those profiles reach it). `required(a)`: attribute `a`
    /// may not be missing (reading it faults when it is). Nil-free: code the analysis does not
    /// follow (a backward jump, too many paths) gives `always`.
    public static func of(predicate f: Function, constants: [Value], required: (Int) -> Bool) -> ProfileCondition {
        enum Sym: Hashable {
            case attribute(Int)
            case constant(Value)
            case condition(ProfileCondition)
            case unknown
        }
        func truth(_ s: Sym) -> ProfileCondition {
            switch s {
            case .condition(let c): c
            case .attribute(let a): .isTrue(attribute: a)
            case .constant(let v): v == .bool(true) ? .always : .never
            case .unknown: .unknown
            }
        }
        struct Path {
            var pc: Int
            var stack: [Sym]
            var condition: ProfileCondition
        }
        let code = f.code
        var result = ProfileCondition.never
        var paths = [Path(pc: 0, stack: [], condition: .always)]
        var steps = 0
        while var p = paths.popLast() {
            walk: while p.pc < code.count {
                steps += 1
                guard steps < 20_000, let op = Opcode(rawValue: code[p.pc]) else { return .always }
                let info = op.info
                let ops = Verifier.operands(code, p.pc, info)
                let next = p.pc + info.size
                switch op {
                case .constant:
                    guard ops[0] < constants.count else { return .always }
                    p.stack.append(.constant(constants[ops[0]]))
                case .pushNone: p.stack.append(.constant(.none))
                case .pushTrue: p.stack.append(.constant(.bool(true)))
                case .pushFalse: p.stack.append(.constant(.bool(false)))
                case .attribute:
                    // Reading a required attribute that is missing faults.
                    if required(ops[0]) { result = any(result, all(p.condition, .isNone(attribute: ops[0]))) }
                    p.stack.append(.attribute(ops[0]))
                case .local, .candidate, .now, .today:
                    p.stack.append(.unknown)
                case .field:
                    guard p.stack.popLast() != nil else { return .always }
                    p.stack.append(.unknown)
                case .coalesce:
                    guard p.stack.count >= 2 else { return .always }
                    p.stack.removeLast(2)
                    p.stack.append(.unknown)
                case .not:
                    guard let v = p.stack.popLast() else { return .always }
                    p.stack.append(.condition(negation(truth(v))))
                case .equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual:
                    guard let b = p.stack.popLast(), let a = p.stack.popLast() else { return .always }
                    let cmp: Comparison = switch op {
                    case .equal: .equal
                    case .notEqual: .notEqual
                    case .less: .less
                    case .lessEqual: .lessEqual
                    case .greater: .greater
                    default: .greaterEqual
                    }
                    switch (a, b) {
                    case (.attribute(let x), .constant(let v)): p.stack.append(.condition(.compare(attribute: x, op: cmp, value: v)))
                    case (.constant(let v), .attribute(let x)): p.stack.append(.condition(.compare(attribute: x, op: cmp.swapped, value: v)))
                    default: p.stack.append(.condition(.unknown))
                    }
                case .jump:
                    guard ops[0] > p.pc else { return .always }
                    p.pc = ops[0]
                    continue walk
                case .jumpIfFalse:
                    guard let v = p.stack.popLast(), ops[0] > p.pc else { return .always }
                    let c = truth(v)
                    switch c {
                    case .always: p.pc = next
                    case .never: p.pc = ops[0]
                    default:
                        // Both ways: on with the condition, to the target without it.
                        paths.append(Path(pc: next, stack: p.stack, condition: all(p.condition, c)))
                        p.condition = all(p.condition, negation(c))
                        p.pc = ops[0]
                    }
                    continue walk
                case .pop:
                    guard p.stack.popLast() != nil else { return .always }
                case .returnValue:
                    guard let v = p.stack.popLast() else { return .always }
                    result = any(result, all(p.condition, truth(v)))
                    break walk
                default:
                    // Anything else may fault (arithmetic, texts, history, built-ins): the
                    // profiles that reach it are kept; what it leaves is unknown.
                    result = any(result, p.condition)
                    let pops: Int = switch op {
                    case .concat, .makeList: ops[0]
                    case .builtin: Builtin(rawValue: UInt8(ops[0]))?.arity ?? 0
                    default: info.pops ?? 0
                    }
                    guard p.stack.count >= pops, info.control == .next else { return .always }
                    p.stack.removeLast(pops)
                    for _ in 0..<info.pushes { p.stack.append(.unknown) }
                }
                p.pc = next
            }
            if paths.count > 256 { return .always }
        }
        return result
    }
}
