/// How a message's content is laid out: the values a `send` pops, in order, fill its `value` leaves.
public indirect enum ContentShape: Sendable, Hashable {
    case value
    case literal(String)
    case object([(String, ContentShape)])

    public static func == (a: ContentShape, b: ContentShape) -> Bool {
        switch (a, b) {
        case (.value, .value): true
        case (.literal(let x), .literal(let y)): x == y
        case (.object(let x), .object(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }
    public func hash(into h: inout Hasher) {
        switch self {
        case .value: h.combine(0)
        case .literal(let s): h.combine(1); h.combine(s)
        case .object(let items): h.combine(2); for (k, v) in items { h.combine(k); h.combine(v) }
        }
    }

    /// How many values fill it.
    public var valueCount: Int {
        switch self {
        case .value: 1
        case .literal: 0
        case .object(let items): items.reduce(0) { $0 + $1.1.valueCount }
        }
    }
}

/// One link of a fallback chain: the channel kind and its message's shape.
public struct SendLinkDef: Sendable, Hashable {
    public var channel: String
    public var shape: ContentShape
}

/// A send statement: its chain, and where to re-evaluate it when quiet hours held it.
public struct SendDef: Sendable, Hashable {
    public var restart: Int
    public var links: [SendLinkDef]
    public var valueCount: Int { links.reduce(0) { $0 + $1.shape.valueCount } }
}

/// A line-table entry: instructions from `pc` on come from source `line`.
public struct LineEntry: Sendable, Hashable {
    public var pc: Int
    public var line: Int
}

/// A journey file's text as compiled.
public struct SourceText: Sendable, Hashable {
    public var path: String
    public var text: String

    public init(path: String, text: String) {
        self.path = path
        self.text = text
    }
}

/// What kind of statement a step is.
public enum StepKind: UInt8, Sendable, CaseIterable {
    case wait, waitUntil, waitFor, `if`, split, send, set, exit

    /// As `journey stats` and the console name it.
    public var name: String {
        switch self {
        case .wait: "wait"
        case .waitUntil: "wait_until"
        case .waitFor: "wait_for"
        case .if: "if"
        case .split: "split"
        case .send: "send"
        case .set: "set"
        case .exit: "exit"
        }
    }
}

/// A step of a journey: a statement the graph draws, which the analytics count. The code's
/// `mark` instructions name a step and what happened there (0: reached; k: its k-th branch).
public struct StepDef: Sendable, Hashable {
    /// Where the statement (for an `if`, its condition) starts in the source, 1-based.
    public var line: Int
    public var column: Int
    public var kind: StepKind
    /// The statement as written, shortened.
    public var label: String
    /// The outcomes a step can branch to: a split's branches, an `if`'s yes and no, a wait
    /// for's arrived and timed out.
    public var branches: [String] = []
    /// A split's control branch (labelled `control`, or else the only branch that sends
    /// nothing), which the others are compared against.
    public var control: Int?
    /// A send step's send.
    public var send: Int?

    public init(line: Int, column: Int, kind: StepKind, label: String, branches: [String] = [], control: Int? = nil, send: Int? = nil) {
        self.line = line
        self.column = column
        self.kind = kind
        self.label = label
        self.branches = branches
        self.control = control
        self.send = send
    }
}

/// A piece of code: the journey's main body (index 0) or a predicate.
public struct Function: Sendable, Hashable {
    public var isPredicate: Bool
    public var code: [UInt8]
    public var lines: [LineEntry]
    /// Filled by the verifier.
    public var maxStack: Int = 0
    /// Filled by the verifier: the offsets a stored instance may resume at (after a wait, at a
    /// `wait_for`, its time-out target, a send's restart), each with an empty stack.
    public var resumePoints: Set<Int> = []

    /// True when the code holds an instruction of format 4 (walked instruction by instruction;
    /// an unknown byte stops the walk, for the verifier to report).
    public var usesFormat4: Bool {
        var pc = 0
        while pc < code.count, let op = Opcode(rawValue: code[pc]) {
            if op.rawValue >= Opcode.firstOfFormat4.rawValue { return true }
            pc += op.size
        }
        return false
    }

    /// The source line of the instruction at `pc`.
    public func line(at pc: Int) -> Int {
        var lo = 0, hi = lines.count - 1, best = 0
        while lo <= hi {
            let mid = (lo + hi) / 2
            if lines[mid].pc <= pc { best = lines[mid].line; lo = mid + 1 } else { hi = mid - 1 }
        }
        return best
    }
}

public enum Trigger: Sendable, Hashable {
    case event(Int)
    /// Minutes after local midnight.
    case daily(Int)
}

public enum ReentryRule: Sendable, Hashable {
    case whileActive, never, always
    case after(Int64)
}

/// `for each profile [where …]` on a catalog event (format 4): the condition each profile is
/// tested with, and the anchors into the history index that say which profiles to test.
public struct ForEachPlan: Sendable, Hashable {
    /// The predicate (with the trigger in its locals), or nil: every profile enters.
    public var predicate: Int?
    /// Empty: every profile is tested. Else the union of these anchors' profiles.
    public var anchors: [AnchorDef]
    /// When parts of the condition are answered exactly by the index: the profiles are found
    /// by set operations, and only the rest of the condition is tested.
    public var exact: ExactPlan?
    public init(predicate: Int?, anchors: [AnchorDef], exact: ExactPlan? = nil) {
        self.predicate = predicate
        self.anchors = anchors
        self.exact = exact
    }

    /// Every anchor the plan may look up (the index must hold their pairs).
    public var allAnchors: [AnchorDef] { anchors + (exact.map { $0.required.flatMap { $0 } + $0.excluded } ?? []) }
}

/// A profile passes when it is in each `required` union of anchors, in none of the `excluded`
/// anchors, and passes each `residual` predicate.
public struct ExactPlan: Sendable, Hashable {
    public var required: [[AnchorDef]]
    public var excluded: [AnchorDef]
    public var residual: [Int]
    public init(required: [[AnchorDef]], excluded: [AnchorDef], residual: [Int]) {
        self.required = required
        self.excluded = excluded
        self.residual = residual
    }
}

/// The profiles with an `event` whose `field` equals a value known when the catalog event
/// arrives: a field of the trigger, or a constant; seen within `within` seconds (nil: ever).
public struct AnchorDef: Sendable, Hashable {
    public enum Source: Sendable, Hashable {
        case triggerField(Int)
        case constant(Int)
    }
    public var event: Int
    public var field: Int
    public var source: Source
    public var within: Int64?
    public init(event: Int, field: Int, source: Source, within: Int64?) {
        self.event = event
        self.field = field
        self.source = source
        self.within = within
    }
}

/// A goal or `exit on`: the event, and the predicate its `where` compiled to.
public struct EventRule: Sendable, Hashable {
    public var event: Int
    public var predicate: Int?
}

/// One compiled journey. Its fields live in one shared, copy-on-write box: the runtime hands
/// journeys around by value at every step, and a copy is then one reference count, not one per
/// field.
public struct CompiledJourney: Sendable, Hashable {
    @usableFromInline struct Fields: Hashable, Sendable {
        @usableFromInline var name: String
        @usableFromInline var title: String
        @usableFromInline var sourcePath: String
        @usableFromInline var trigger: Trigger
        @usableFromInline var bindsTrigger: Bool
        @usableFromInline var onWhere: Int?
        @usableFromInline var when: Int?
        @usableFromInline var goals: [EventRule]
        @usableFromInline var exits: [EventRule]
        @usableFromInline var reentry: ReentryRule
        @usableFromInline var localCount: Int
        @usableFromInline var functions: [Function]
        @usableFromInline var sends: [SendDef]
        @usableFromInline var maxDelay: Int64?
        @usableFromInline var forEach: ForEachPlan?
        @usableFromInline var steps: [StepDef]
    }

    @usableFromInline final class Box: @unchecked Sendable {
        // Mutated only through `fields`' modify accessor, after `isKnownUniquelyReferenced`:
        // a box shared between copies (or threads) is never written, so no access can overlap
        // a write (and reads skip the run-time exclusivity check, as a struct's fields do).
        @usableFromInline @exclusivity(unchecked) var fields: Fields
        @usableFromInline init(_ fields: Fields) { self.fields = fields }
    }

    @usableFromInline var box: Box

    public init(name: String, title: String, sourcePath: String, trigger: Trigger, bindsTrigger: Bool, onWhere: Int?, when: Int?, goals: [EventRule], exits: [EventRule], reentry: ReentryRule, localCount: Int, functions: [Function], sends: [SendDef], maxDelay: Int64? = CompiledJourney.defaultMaxDelay, forEach: ForEachPlan? = nil, steps: [StepDef] = []) {
        box = Box(Fields(name: name, title: title, sourcePath: sourcePath, trigger: trigger, bindsTrigger: bindsTrigger, onWhere: onWhere, when: when, goals: goals, exits: exits, reentry: reentry, localCount: localCount, functions: functions, sends: sends, maxDelay: maxDelay, forEach: forEach, steps: steps))
    }

    @inlinable var fields: Fields {
        _read { yield box.fields }
        _modify {
            if !isKnownUniquelyReferenced(&box) { box = Box(box.fields) }
            yield &box.fields
        }
    }

    @inlinable public var name: String {
        _read { yield box.fields.name }
        _modify { yield &fields.name }
    }
    @inlinable public var title: String {
        _read { yield box.fields.title }
        _modify { yield &fields.title }
    }
    @inlinable public var sourcePath: String {
        _read { yield box.fields.sourcePath }
        _modify { yield &fields.sourcePath }
    }
    @inlinable public var trigger: Trigger {
        _read { yield box.fields.trigger }
        _modify { yield &fields.trigger }
    }
    /// True when the trigger event is bound to local slot 0.
    @inlinable public var bindsTrigger: Bool {
        _read { yield box.fields.bindsTrigger }
        _modify { yield &fields.bindsTrigger }
    }
    @inlinable public var onWhere: Int? {
        _read { yield box.fields.onWhere }
        _modify { yield &fields.onWhere }
    }
    @inlinable public var when: Int? {
        _read { yield box.fields.when }
        _modify { yield &fields.when }
    }
    @inlinable public var goals: [EventRule] {
        _read { yield box.fields.goals }
        _modify { yield &fields.goals }
    }
    @inlinable public var exits: [EventRule] {
        _read { yield box.fields.exits }
        _modify { yield &fields.exits }
    }
    @inlinable public var reentry: ReentryRule {
        _read { yield box.fields.reentry }
        _modify { yield &fields.reentry }
    }
    @inlinable public var localCount: Int {
        _read { yield box.fields.localCount }
        _modify { yield &fields.localCount }
    }
    @inlinable public var functions: [Function] {
        _read { yield box.fields.functions }
        _modify { yield &fields.functions }
    }
    @inlinable public var sends: [SendDef] {
        _read { yield box.fields.sends }
        _modify { yield &fields.sends }
    }
    /// A trigger taken more than this many seconds after it happened starts nothing (nil:
    /// `max_delay none`). Event-triggered journeys only.
    @inlinable public var maxDelay: Int64? {
        _read { yield box.fields.maxDelay }
        _modify { yield &fields.maxDelay }
    }
    /// A journey on a catalog event: who enters (format 4).
    @inlinable public var forEach: ForEachPlan? {
        _read { yield box.fields.forEach }
        _modify { yield &fields.forEach }
    }
    /// The steps the analytics count (format 3; empty in older bundles, which count entries
    /// and endings only).
    @inlinable public var steps: [StepDef] {
        _read { yield box.fields.steps }
        _modify { yield &fields.steps }
    }

    public static func == (a: CompiledJourney, b: CompiledJourney) -> Bool { a.box === b.box || a.box.fields == b.box.fields }
    public func hash(into h: inout Hasher) { h.combine(box.fields) }

    /// 24 hours, when the journey does not say.
    public static let defaultMaxDelay: Int64? = 86_400
}

/// A compiled project: the schema it was compiled against, its constants and its journeys.
public struct JourneyBundle: Sendable, Hashable {
    public static let magic: [UInt8] = [0x89, 0x4A, 0x52, 0x4E, 0x59, 0x0D, 0x0A, 0x1A] // \x89 "JRNY" \r \n \x1a
    /// 2: attributes may carry defaults (a bundle without any is still written as 1).
    /// 3: journeys carry a step table, and their code `mark`s the steps it passes; the bundle
    /// carries its journeys' source text.
    public static let formatVersion: UInt16 = 4

    // The fields live in one shared, copy-on-write box (as `CompiledJourney`'s do).
    @usableFromInline struct Fields: Hashable, Sendable {
        @usableFromInline var schema: RuntimeSchema
        @usableFromInline var constants: [Value]
        @usableFromInline var journeys: [CompiledJourney]
        @usableFromInline var sources: [SourceText]
    }

    @usableFromInline final class Box: @unchecked Sendable {
        // Mutated only through `fields`' modify accessor, after `isKnownUniquelyReferenced`.
        @usableFromInline @exclusivity(unchecked) var fields: Fields
        @usableFromInline init(_ fields: Fields) { self.fields = fields }
    }

    @usableFromInline var box: Box

    @inlinable var fields: Fields {
        _read { yield box.fields }
        _modify {
            if !isKnownUniquelyReferenced(&box) { box = Box(box.fields) }
            yield &box.fields
        }
    }

    @inlinable public var schema: RuntimeSchema {
        _read { yield box.fields.schema }
        _modify { yield &fields.schema }
    }
    @inlinable public var constants: [Value] {
        _read { yield box.fields.constants }
        _modify { yield &fields.constants }
    }
    @inlinable public var journeys: [CompiledJourney] {
        _read { yield box.fields.journeys }
        _modify { yield &fields.journeys }
    }
    /// The source text of each file that holds journeys, by the path the journeys record
    /// (format 3): what the console draws a deployed journey's diagram from.
    @inlinable public var sources: [SourceText] {
        _read { yield box.fields.sources }
        _modify { yield &fields.sources }
    }

    public init(schema: RuntimeSchema, constants: [Value], journeys: [CompiledJourney], sources: [SourceText] = []) {
        box = Box(Fields(schema: schema, constants: constants, journeys: journeys, sources: sources))
    }

    public static func == (a: JourneyBundle, b: JourneyBundle) -> Bool { a.box === b.box || a.box.fields == b.box.fields }
    public func hash(into h: inout Hasher) { h.combine(box.fields) }

    /// The source text a journey was compiled from, when the bundle carries it.
    public func source(of j: CompiledJourney) -> String? { sources.first { $0.path == j.sourcePath }?.text }

    public func journey(named name: String) -> CompiledJourney? { journeys.first { $0.name == name } }
}

// MARK: - Hashes

/// FNV-1a, 64 bits: schema fingerprints, content ids and split buckets.
public func fnv1a64(_ bytes: some Sequence<UInt8>, seed: UInt64 = 0xCBF2_9CE4_8422_2325) -> UInt64 {
    var h = seed
    for b in bytes {
        h ^= UInt64(b)
        h = h &* 0x0000_0100_0000_01B3
    }
    return h
}

/// CRC-32 (IEEE), the bundle's checksum.
public func crc32(_ bytes: some Sequence<UInt8>) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
    return c ^ 0xFFFF_FFFF
}

private let crcTable: [UInt32] = (0..<256).map { n in
    var c = UInt32(n)
    for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
}

public func hex(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}

extension JourneyBundle {
    /// The operands of every instruction of one kind in the bundle's code.
    public func operands(of kind: Opcode) -> [[Int]] {
        var out: [[Int]] = []
        for j in journeys {
            for f in j.functions {
                var pc = 0
                while pc < f.code.count, let op = Opcode(rawValue: f.code[pc]) {
                    if op == kind { out.append(Verifier.operands(f.code, pc, op.info)) }
                    pc += op.size
                }
            }
        }
        return out
    }

    /// The events whose history some journey of the bundle reads record by record (history
    /// queries and `top`, in any condition or step, and the events `also` leaves out): the only
    /// ones a store need keep in a cache of history. (`count_all` and `also`'s own event are
    /// answered from the keyed and paired tables in SQL.)
    public var historyEvents: Set<String> {
        let indices = operands(of: .history).map { $0[1] } + operands(of: .top).map { $0[0] }
            + operands(of: .also).map { $0[4] }.filter { $0 != noIndex16 }
        return Set(indices.compactMap { $0 < schema.events.count ? schema.events[$0].name : nil })
    }
}
