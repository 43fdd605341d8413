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

/// One compiled journey.
public struct CompiledJourney: Sendable, Hashable {
    public var name: String
    public var title: String
    public var sourcePath: String
    public var trigger: Trigger
    /// True when the trigger event is bound to local slot 0.
    public var bindsTrigger: Bool
    public var onWhere: Int?
    public var when: Int?
    public var goals: [EventRule]
    public var exits: [EventRule]
    public var reentry: ReentryRule
    public var localCount: Int
    public var functions: [Function]
    public var sends: [SendDef]
    /// A trigger taken more than this many seconds after it happened starts nothing (nil:
    /// `max_delay none`). Event-triggered journeys only.
    public var maxDelay: Int64? = CompiledJourney.defaultMaxDelay
    /// A journey on a catalog event: who enters (format 4).
    public var forEach: ForEachPlan?
    /// The steps the analytics count (format 3; empty in older bundles, which count entries
    /// and endings only).
    public var steps: [StepDef] = []

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

    public var schema: RuntimeSchema
    public var constants: [Value]
    public var journeys: [CompiledJourney]
    /// The source text of each file that holds journeys, by the path the journeys record
    /// (format 3): what the console draws a deployed journey's diagram from.
    public var sources: [SourceText] = []

    public init(schema: RuntimeSchema, constants: [Value], journeys: [CompiledJourney], sources: [SourceText] = []) {
        self.schema = schema
        self.constants = constants
        self.journeys = journeys
        self.sources = sources
    }

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
