import JourneyBytecode
import JourneySemantics

/// What the VM asks of the world while it runs one instance for one profile.
public protocol VMHost {
    /// The current instant.
    var now: Int64 { get }
    /// The profile's local date today.
    var today: Int32 { get }
    func attribute(_ index: Int) throws -> Value
    mutating func setAttribute(_ index: Int, _ value: Value)
    /// The profile's stored events of one kind since an instant (inclusive), oldest first.
    func records(event: Int, since: Int64?) throws -> ArraySlice<Record>
    /// How many such events, without reading them.
    func count(event: Int, since: Int64?) throws -> Int
    /// The deterministic split bucket, 0..<10000, for this profile, journey and split position.
    func splitBucket(position: Int) -> Int
    /// Zero in the type of an event's numeric field (an empty sum).
    func zero(event: Int, field: Int) -> Value
    /// The next instant at this local time of day (strictly after now).
    func nextLocalTime(minutes: Int) -> Int64
    /// The code passed a step of the journey (outcome 0: reached it; k: took its k-th branch).
    mutating func mark(step: Int, outcome: Int)
    /// Sends (or holds) a message; the values fill the links' shapes in order.
    mutating func send(_ def: SendDef, index: Int, values: ArraySlice<Value>) throws -> SendResult
    /// An instant on the profile's local clock: the day (since 1970-01-01) and the second of it.
    func localTime(_ t: Int64) -> (day: Int64, seconds: Int64)
    /// The profile's own `locale` and `currency` attributes, when the schema has them.
    var profileLocale: String? { get }
    var profileCurrency: String? { get }
    /// Everyone's events of one kind whose field holds `value`, since an instant (or the
    /// profiles with such an event, when `distinct`): `count_all`.
    func countAll(event: Int, field: Int, value: Value, since: Int64?, distinct: Bool) throws -> Int
    /// The values of an event's field that profiles had within `window` of `value`, most often
    /// first (`also`).
    func companions(event: Int, field: Int, value: Value, window: Int64, limit: Int) throws -> [Value]
}

extension VMHost {
    public func localTime(_ t: Int64) -> (day: Int64, seconds: Int64) {
        let (q, r) = t.quotientAndRemainder(dividingBy: 86400)
        return r < 0 ? (q - 1, r + 86400) : (q, r)
    }
    public var profileLocale: String? { nil }
    public var profileCurrency: String? { nil }
    public func countAll(event: Int, field: Int, value: Value, since: Int64?, distinct: Bool) throws -> Int { 0 }
    public func companions(event: Int, field: Int, value: Value, window: Int64, limit: Int) throws -> [Value] { [] }
}

public enum SendResult: Sendable {
    case done
    /// Quiet hours: try again at this instant.
    case held(until: Int64)
}

/// Why the VM stopped.
public enum Suspension: Sendable, Equatable {
    case wait(until: Int64)
    /// Waiting for an event (the instance's pc is the `wait_for` itself) until a deadline.
    case waitFor(event: Int, deadline: Int64)
    case ended(Outcome)
}

public enum Outcome: String, Sendable {
    case completed, exited, converted, failed
}

/// The interpreter. Only verified bundles reach it, so operands are in range and the stack
/// never underflows; it still never traps on input-dependent values.
public enum VM {
    /// Runs the main code from `pc` to the next suspension.
    public static func run<H: VMHost>(_ j: CompiledJourney, _ constants: [Value], pc: inout Int, locals: inout [Value], host: inout H) throws -> Suspension {
        // The engine checks stored instances before they resume; a library caller gets a fault.
        guard locals.count >= j.localCount, pc == 0 || j.functions[0].resumePoints.contains(pc) else {
            throw RuntimeFault(message: "the instance cannot resume at \(pc) with \(locals.count) of \(j.localCount) values")
        }
        var state = Frame(candidate: .none)
        var stack: [Value] = []
        return try execute(j, 0, constants, &pc, &locals, &state, &host, &stack)
    }

    /// Evaluates a predicate against a candidate event.
    public static func test<H: VMHost>(_ j: CompiledJourney, predicate: Int, _ constants: [Value], locals: [Value], candidate: Value, host: inout H) throws -> Bool {
        var scratch: [Value] = []
        return try test(j, predicate: predicate, constants, locals: locals, candidate: candidate, host: &host, scratch: &scratch)
    }

    /// The same, with a stack the caller keeps between calls (a scan over many profiles).
    public static func test<H: VMHost>(_ j: CompiledJourney, predicate: Int, _ constants: [Value], locals: [Value], candidate: Value,
                                       host: inout H, scratch: inout [Value]) throws -> Bool {
        var l = locals
        if l.count < j.localCount { l += repeatElement(Value.none, count: j.localCount - l.count) }
        return try test(j, predicate: predicate, constants, inPlace: &l, candidate: candidate, host: &host, scratch: &scratch)
    }

    /// The same over locals the caller lends (at least `j.localCount` of them), which the
    /// predicate may write to: no copy of them is made.
    public static func test<H: VMHost>(_ j: CompiledJourney, predicate: Int, _ constants: [Value], inPlace locals: inout [Value], candidate: Value,
                                       host: inout H, scratch: inout [Value]) throws -> Bool {
        var pc = 0
        var state = Frame(candidate: candidate)
        scratch.removeAll(keepingCapacity: true)
        _ = try execute(j, predicate, constants, &pc, &locals, &state, &host, &scratch)
        return state.result
    }

    struct Frame {
        var candidate: Value
        var result = false
        /// What a function's `return` gave (a predicate's bool, or a repeated text).
        var value: Value = .none
    }

    static func execute<H: VMHost>(_ j: CompiledJourney, _ f: Int, _ constants: [Value], _ pc: inout Int, _ locals: inout [Value],
                                   _ frame: inout Frame, _ host: inout H, _ stack: inout [Value]) throws -> Suspension {
        stack.reserveCapacity(j.functions[f].maxStack + 1)
        return try j.functions[f].code.withUnsafeBufferPointer { code in
            try execute(j, code, constants, &pc, &locals, &frame, &host, &stack)
        }
    }

    /// The interpreter loop over one function's code.
    static func execute<H: VMHost>(_ j: CompiledJourney, _ code: UnsafeBufferPointer<UInt8>, _ constants: [Value], _ pc: inout Int, _ locals: inout [Value],
                                   _ frame: inout Frame, _ host: inout H, _ stack: inout [Value]) throws -> Suspension {
        do {
            while pc < code.count {
                guard let op = Opcode(rawValue: code[pc]) else { throw RuntimeFault(message: "bad opcode") }
                let at = pc
                pc += op.size
                switch op {
                case .constant: stack.append(constants[readOperand(code, at + 1, .u16)])
                case .pushNone: stack.append(.none)
                case .pushTrue: stack.append(.bool(true))
                case .pushFalse: stack.append(.bool(false))
                case .local: stack.append(locals[readOperand(code, at + 1, .u8)])
                case .setLocal: locals[readOperand(code, at + 1, .u8)] = stack.removeLast()
                case .candidate: stack.append(frame.candidate)
                case .attribute: stack.append(try host.attribute(readOperand(code, at + 1, .u16)))
                case .field:
                    let i = readOperand(code, at + 1, .u8)
                    if case .record(let r) = stack.removeLast(), i < r.fields.count { stack.append(r.fields[i]) } else { stack.append(.none) }
                case .not:
                    let v = stack.removeLast()
                    stack.append(.bool(v != .bool(true)))
                case .negate: stack.append(try Arithmetic.negate(stack.removeLast()))
                case .add, .subtract:
                    let b = stack.removeLast(), a = stack.removeLast()
                    stack.append(try Arithmetic.add(a, b, negate: op == .subtract))
                case .multiply:
                    let b = stack.removeLast(), a = stack.removeLast()
                    stack.append(try Arithmetic.multiply(a, b))
                case .divide:
                    let b = stack.removeLast(), a = stack.removeLast()
                    stack.append(try Arithmetic.divide(a, b))
                case .equal, .notEqual:
                    let b = stack.removeLast(), a = stack.removeLast()
                    stack.append(.bool(Arithmetic.equal(a, b) == (op == .equal)))
                case .less, .lessEqual, .greater, .greaterEqual:
                    let b = stack.removeLast(), a = stack.removeLast()
                    let c = Arithmetic.compare(a, b)
                    let r: Bool = switch op {
                    case .less: c.map { $0 < 0 } ?? false
                    case .lessEqual: c.map { $0 <= 0 } ?? false
                    case .greater: c.map { $0 > 0 } ?? false
                    default: c.map { $0 >= 0 } ?? false
                    }
                    stack.append(.bool(r))
                case .coalesce:
                    let b = stack.removeLast(), a = stack.removeLast()
                    stack.append(a.isNone ? b : a)
                case .concat:
                    let n = readOperand(code, at + 1, .u8)
                    var s = ""
                    for v in stack[(stack.count - n)...] {
                        let piece = v.text
                        guard s.utf8.count + piece.utf8.count <= Value.maxTextBytes else { throw Arithmetic.tooLong(s.utf8.count + piece.utf8.count) }
                        s += piece
                    }
                    stack.removeLast(n)
                    stack.append(.string(s))
                case .now: stack.append(.time(host.now))
                case .today: stack.append(.date(host.today))
                case .history:
                    stack.append(try history(j, constants, code, at, locals, &host))
                case .jump: pc = readOperand(code, at + 1, .u32)
                case .jumpIfFalse:
                    if stack.removeLast() != .bool(true) { pc = readOperand(code, at + 1, .u32) }
                case .pop: stack.removeLast()
                case .splitBucket: stack.append(.int(Int64(host.splitBucket(position: readOperand(code, at + 1, .u16)))))
                case .wait:
                    guard case .duration(let d) = constants[readOperand(code, at + 1, .u16)] else { throw RuntimeFault(message: "bad wait") }
                    return .wait(until: try instant(host.now, plus: d))
                case .waitUntil:
                    return .wait(until: host.nextLocalTime(minutes: readOperand(code, at + 1, .u16)))
                case .waitFor:
                    pc = at // resumed by the event or the deadline, which decide where to go on
                    guard case .duration(let d) = constants[readOperand(code, at + 5, .u16)] else { throw RuntimeFault(message: "bad wait") }
                    return .waitFor(event: readOperand(code, at + 1, .u16), deadline: try instant(host.now, plus: d))
                case .send:
                    let index = readOperand(code, at + 1, .u16)
                    let def = j.sends[index]
                    let n = def.valueCount
                    let result = try host.send(def, index: index, values: stack[(stack.count - n)...])
                    stack.removeLast(n)
                    if case .held(let until) = result {
                        pc = def.restart
                        return .wait(until: until)
                    }
                case .setAttribute: host.setAttribute(readOperand(code, at + 1, .u16), stack.removeLast())
                case .exit: return .ended(.exited)
                case .end: return .ended(.completed)
                case .returnValue:
                    frame.value = stack.removeLast()
                    frame.result = frame.value == .bool(true)
                    return .ended(.completed)
                case .mark: host.mark(step: readOperand(code, at + 1, .u16), outcome: readOperand(code, at + 3, .u8))
                case .top:
                    stack.append(try top(j, constants, code, at, locals, &host))
                case .also:
                    let item = stack.removeLast()
                    guard case .duration(let window) = constants[readOperand(code, at + 4, .u16)] else { throw RuntimeFault(message: "bad also") }
                    let n = readOperand(code, at + 6, .u8)
                    let exceptEvent = readOperand(code, at + 7, .u16), exceptField = readOperand(code, at + 9, .u8)
                    // What the profile already has (e.g. bought) is left out, as is the item.
                    var owned: Set<Value> = [item]
                    if exceptEvent != noIndex16 {
                        for r in try host.records(event: exceptEvent, since: nil) where exceptField < r.fields.count { owned.insert(r.fields[exceptField]) }
                    }
                    var picks: [Value] = []
                    if !item.isNone {
                        let found = try host.companions(event: readOperand(code, at + 1, .u16), field: readOperand(code, at + 3, .u8), value: item,
                                                        window: window, limit: n + owned.count)
                        for v in found where !owned.contains(where: { Arithmetic.equal($0, v) }) && picks.count < n { picks.append(v) }
                    }
                    stack.append(.list(picks))
                case .countAll:
                    let value = stack.removeLast()
                    var since: Int64?
                    let w = readOperand(code, at + 4, .u16)
                    if w != noIndex16, case .duration(let d) = constants[w] { since = host.now &- d }
                    let n = try host.countAll(event: readOperand(code, at + 1, .u16), field: readOperand(code, at + 3, .u8), value: value,
                                              since: since, distinct: readOperand(code, at + 6, .u8) == 1)
                    stack.append(.int(Int64(n)))
                case .mapText:
                    let body = readOperand(code, at + 1, .u16), slot = readOperand(code, at + 3, .u8)
                    guard case .list(let items) = stack.removeLast() else { stack.append(.string("")); break }
                    var out = ""
                    var inner: [Value] = []
                    for item in items {
                        locals[slot] = item
                        var sub = Frame(candidate: frame.candidate)
                        var subPC = 0
                        _ = try execute(j, body, constants, &subPC, &locals, &sub, &host, &inner)
                        let piece = sub.value.text
                        guard out.utf8.count + piece.utf8.count <= Value.maxTextBytes else { throw Arithmetic.tooLong(out.utf8.count + piece.utf8.count) }
                        out += piece
                    }
                    stack.append(.string(out))
                case .makeList:
                    let n = readOperand(code, at + 1, .u8)
                    let items = Array(stack[(stack.count - n)...])
                    stack.removeLast(n)
                    stack.append(.list(items))
                case .contains:
                    let container = stack.removeLast(), item = stack.removeLast()
                    stack.append(.bool(Lists.contains(container, item)))
                case .builtin:
                    guard let fn = Builtin(rawValue: UInt8(readOperand(code, at + 1, .u8))) else { throw RuntimeFault(message: "bad built-in") }
                    let n = fn.arity
                    let result = try Lists.call(fn, stack[(stack.count - n)...])
                    stack.removeLast(n)
                    stack.append(result)
                case .format:
                    guard case .string(let text) = constants[readOperand(code, at + 1, .u16)], let spec = FormatSpec(text) else { throw RuntimeFault(message: "bad format") }
                    let v = stack.removeLast()
                    let out = MessageFormat.render(v, spec, profileLocale: host.profileLocale, profileCurrency: host.profileCurrency, local: { host.localTime($0) })
                    guard out.utf8.count <= Value.maxTextBytes else { throw Arithmetic.tooLong(out.utf8.count) }
                    stack.append(.string(out))
                }
            }
            return .ended(.completed)
        }
    }

    /// An instant a wait ends at, which must be one the runtime can hold.
    static func instant(_ now: Int64, plus d: Int64) throws -> Int64 {
        let (t, overflow) = now.addingReportingOverflow(d)
        guard !overflow, Value.instantRange.contains(t) else {
            throw RuntimeFault(message: "the wait would end after \(Value.iso8601(Value.instantRange.upperBound)), the last instant the runtime keeps")
        }
        return t
    }

    /// count / exists / sum / last / days_since over the profile's history.
    static func history<H: VMHost>(_ j: CompiledJourney, _ constants: [Value], _ code: UnsafeBufferPointer<UInt8>, _ at: Int,
                                   _ locals: [Value], _ host: inout H) throws -> Value {
        let fn = HistoryFunction(rawValue: UInt8(readOperand(code, at + 1, .u8))) ?? .count
        let event = readOperand(code, at + 2, .u16)
        let field = readOperand(code, at + 4, .u8)
        let predicate = readOperand(code, at + 5, .u16)
        let withinIndex = readOperand(code, at + 7, .u16)
        var since: Int64?
        if withinIndex != noIndex16, case .duration(let d) = constants[withinIndex] { since = host.now &- d }
        if predicate == noIndex16, fn == .count || fn == .exists {
            let n = try host.count(event: event, since: since)
            return fn == .count ? .int(Int64(n)) : .bool(n > 0)
        }
        let records = try host.records(event: event, since: since)
        guard predicate != noIndex16 else { return try aggregate(fn, records, field, event, &host, host.now) }
        // The predicate runs once per record: one stack and one view of its code serve them all,
        // and exists / last / days_since stop at the first match (from the newest for the last two).
        var stack: [Value] = []
        var l = locals
        return try j.functions[predicate].code.withUnsafeBufferPointer { code in
            // `field == value` (or `!=`) with a value known before the records: compared directly
            // (and then no stack is needed).
            let direct = records.isEmpty ? nil : FieldComparison(code, locals: l, constants: constants)
            if direct == nil { stack.reserveCapacity(j.functions[predicate].maxStack + 1) }
            func test(_ r: Record) throws -> Bool {
                if let d = direct { return d.matches(r) }
                return try matches(j, code, constants, r, &l, &host, &stack)
            }
            switch fn {
            case .count:
                var n = 0
                for r in records where try test(r) { n += 1 }
                return .int(Int64(n))
            case .exists:
                for r in records where try test(r) { return .bool(true) }
                return .bool(false)
            case .last, .daysSince:
                for r in records.reversed() where try test(r) {
                    return try aggregate(fn, [r], field, event, &host, host.now)
                }
                return .none
            case .sum:
                var kept: [Record] = []
                for r in records where try test(r) { kept.append(r) }
                return try aggregateSum(kept[...], field, event, &host)
            }
        }
    }

    /// `top`: the profile's most frequent value of a field (ties: the one seen last first, then
    /// by text), or a list of the `n` most frequent.
    static func top<H: VMHost>(_ j: CompiledJourney, _ constants: [Value], _ code: UnsafeBufferPointer<UInt8>, _ at: Int,
                               _ locals: [Value], _ host: inout H) throws -> Value {
        let event = readOperand(code, at + 1, .u16)
        let field = readOperand(code, at + 3, .u8)
        let predicate = readOperand(code, at + 4, .u16)
        let withinIndex = readOperand(code, at + 6, .u16)
        let n = readOperand(code, at + 8, .u8)
        var since: Int64?
        if withinIndex != noIndex16, case .duration(let d) = constants[withinIndex] { since = host.now &- d }
        let records = try host.records(event: event, since: since)
        var counts: [Value: (n: Int, last: Int)] = [:]
        var stack: [Value] = []
        var l = locals
        try j.functions[predicate == noIndex16 ? 0 : predicate].code.withUnsafeBufferPointer { pcode in
            for (k, r) in records.enumerated() where field < r.fields.count && !r.fields[field].isNone {
                if predicate != noIndex16, try !matches(j, pcode, constants, r, &l, &host, &stack) { continue }
                let v = r.fields[field]
                counts[v] = ((counts[v]?.n ?? 0) + 1, k)
            }
        }
        let ranked = counts.sorted { a, b in
            if a.value.n != b.value.n { return a.value.n > b.value.n }
            if a.value.last != b.value.last { return a.value.last > b.value.last }
            return a.key.text < b.key.text
        }.map(\.key)
        if n == 0 { return ranked.first ?? .none }
        return .list(Array(ranked.prefix(n)))
    }

    /// Runs a predicate's code on one candidate record.
    static func matches<H: VMHost>(_ j: CompiledJourney, _ code: UnsafeBufferPointer<UInt8>, _ constants: [Value], _ r: Record,
                                   _ locals: inout [Value], _ host: inout H, _ stack: inout [Value]) throws -> Bool {
        var pc = 0
        var frame = Frame(candidate: .record(r))
        stack.removeAll(keepingCapacity: true)
        _ = try execute(j, code, constants, &pc, &locals, &frame, &host, &stack)
        return frame.result
    }

    static func aggregate<H: VMHost>(_ fn: HistoryFunction, _ matching: ArraySlice<Record>, _ field: Int, _ event: Int, _ host: inout H, _ now: Int64) throws -> Value {
        switch fn {
        case .count: return .int(Int64(matching.count))
        case .exists: return .bool(!matching.isEmpty)
        case .last: return matching.last.map { .record($0) } ?? .none
        case .daysSince:
            guard let last = matching.last else { return .none }
            return .int((now - last.at) / 86400)
        case .sum:
            return try aggregateSum(matching, field, event, &host)
        }
    }

    static func aggregateSum<H: VMHost>(_ matching: ArraySlice<Record>, _ field: Int, _ event: Int, _ host: inout H) throws -> Value {
        // An empty sum has the field's own type (0.00 for money).
        if matching.isEmpty { return host.zero(event: event, field: field) }
        var total: Value = .int(0)
        for r in matching where field < r.fields.count && !r.fields[field].isNone {
            total = try Arithmetic.add(total, r.fields[field], negate: false)
        }
        return total
    }
}
