/// Why a bundle was refused. Every case reads as a sentence for the person deploying it.
public enum BundleError: Error, Sendable, Equatable, CustomStringConvertible {
    case truncated(String)
    case badMagic
    case unsupportedVersion(UInt16)
    case badLength(declared: Int, actual: Int)
    case badChecksum(stored: UInt32, computed: UInt32)
    case malformed(String)
    case schemaMismatch
    case verification(journey: String, function: Int, pc: Int, reason: String)

    public var description: String {
        switch self {
        case .truncated(let what): "truncated bundle: it ends inside \(what)"
        case .badMagic: "not a journey bundle (bad magic number)"
        case .unsupportedVersion(let v): "bundle format version \(v) is not supported (this journey reads version \(JourneyBundle.formatVersion)); rebuild it with 'journey build'"
        case .badLength(let d, let a): a < d ? "truncated bundle: \(a) of its \(d) bytes are present" : "damaged bundle: \(a - d) unexpected bytes after its end"
        case .badChecksum(let s, let c): "damaged bundle: checksum mismatch (stored \(String(s, radix: 16)), computed \(String(c, radix: 16)))"
        case .malformed(let why): "malformed bundle: \(why)"
        case .schemaMismatch: "malformed bundle: its schema does not match its fingerprint"
        case .verification(let j, let f, let pc, let why): "bundle failed verification: journey '\(j)', \(f == 0 ? "main code" : "predicate \(f)"), offset \(pc): \(why)"
        }
    }
}

// MARK: - Writing

struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func u8(_ v: Int) { bytes.append(UInt8(truncatingIfNeeded: v)) }
    mutating func u16(_ v: Int) { for i in 0..<2 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u32(_ v: Int) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func i64(_ v: Int64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * Int64(i)))) } }
    mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        u32(utf8.count)
        bytes.append(contentsOf: utf8)
    }
}

extension JourneyBundle {
    /// The bundle's bytes: header, schema, constants, journeys, checksum.
    public func encode() -> [UInt8] {
        let version = neededVersion
        let schemaBytes = JourneyBundle.encodeSchema(schema, version: version)
        var w = ByteWriter()
        w.bytes.append(contentsOf: JourneyBundle.magic)
        // Version 2 only adds attribute defaults: a bundle without any stays version 1, byte
        // for byte as before.
        w.u16(version)
        w.u16(0)
        w.u32(0) // total length, patched below
        w.i64(Int64(bitPattern: fnv1a64(schemaBytes)))
        w.bytes.append(contentsOf: schemaBytes)
        w.u32(constants.count)
        for c in constants { JourneyBundle.encodeConstant(c, &w) }
        w.u32(journeys.count)
        for j in journeys { JourneyBundle.encodeJourney(j, &w, version: version) }
        if version >= 3 {
            w.u32(sources.count)
            for s in sources { w.string(s.path); w.string(s.text) }
        }
        let total = w.bytes.count + 4
        for i in 0..<4 { w.bytes[12 + i] = UInt8(truncatingIfNeeded: total >> (8 * i)) }
        w.u32(Int(crc32(w.bytes)))
        return w.bytes
    }

    /// The content hash a store files the bundle under.
    public static func contentHash(_ bytes: [UInt8]) -> String { hex(fnv1a64(bytes)) }

    /// The schema's fingerprint.
    public var schemaFingerprint: String { hex(fnv1a64(JourneyBundle.encodeSchema(schema, version: neededVersion))) }

    /// Version 2 only adds attribute defaults and `max_delay`: a bundle that uses neither is
    /// written as version 1, byte for byte as before. Version 3 adds the step table, version 4
    /// the instructions for lists and formatting.
    public var neededVersion: Int {
        if journeys.contains(where: { $0.forEach != nil || $0.functions.contains(where: \.usesFormat4) }) || schema.events.contains(where: \.catalog)
            || schema.attributes.contains(where: { if case .list? = $0.defaultValue { true } else { false } }) { return 4 }
        if journeys.contains(where: { !$0.steps.isEmpty }) || !sources.isEmpty { return 3 }
        return schema.attributes.contains { $0.defaultValue != nil } || journeys.contains { $0.maxDelay != CompiledJourney.defaultMaxDelay } ? 2 : 1
    }

    static func encodeSchema(_ s: RuntimeSchema, version: Int) -> [UInt8] {
        var w = ByteWriter()
        let defaults = version >= 2
        w.u32(s.attributes.count)
        for a in s.attributes {
            w.string(a.name)
            w.string(a.type.description)
            if defaults {
                if let d = a.defaultValue {
                    w.u8(1)
                    encodeConstant(d, &w)
                } else {
                    w.u8(0)
                }
            }
        }
        w.u32(s.events.count)
        for e in s.events {
            w.string(e.name)
            w.u32(e.fields.count)
            for f in e.fields { w.string(f.name); w.string(f.type.description) }
            if version >= 4 { w.u8(e.catalog ? 1 : 0) }
        }
        w.u32(s.channels.count)
        for c in s.channels { w.string(c.kind); w.u32(c.address); w.u32(c.consent ?? 0xFFFF_FFFF) }
        w.u8(s.capCount == nil ? 0 : 1)
        w.u32(s.capCount ?? 0)
        w.i64(s.capWindow ?? 0)
        w.u8(s.quietFrom == nil ? 0 : 1)
        w.u16(s.quietFrom ?? 0)
        w.u16(s.quietTo ?? 0)
        return w.bytes
    }

    static func encodeConstant(_ v: Value, _ w: inout ByteWriter) {
        switch v {
        case .int(let i): w.u8(0); w.i64(i)
        case .decimal(let d): w.u8(1); w.i64(d)
        case .money(let m): w.u8(2); w.i64(m)
        case .string(let s): w.u8(3); w.string(s)
        case .duration(let d): w.u8(4); w.i64(d)
        case .date(let d): w.u8(5); w.i64(Int64(d))
        case .timeOfDay(let t): w.u8(6); w.i64(Int64(t))
        case .time(let t): w.u8(7); w.i64(t)
        case .bool(let b): w.u8(8); w.u8(b ? 1 : 0)
        case .list(let items):
            w.u8(10)
            w.u32(items.count)
            for item in items { encodeConstant(item, &w) }
        case .none, .record: w.u8(9)
        }
    }

    static func encodeJourney(_ j: CompiledJourney, _ w: inout ByteWriter, version: Int) {
        w.string(j.name)
        w.string(j.title)
        w.string(j.sourcePath)
        switch j.trigger {
        case .event(let e): w.u8(0); w.u32(e)
        case .daily(let m): w.u8(1); w.u32(m)
        }
        w.u8(j.bindsTrigger ? 1 : 0)
        w.u16(j.onWhere ?? noIndex16)
        w.u16(j.when ?? noIndex16)
        for rules in [j.goals, j.exits] {
            w.u32(rules.count)
            for r in rules { w.u32(r.event); w.u16(r.predicate ?? noIndex16) }
        }
        switch j.reentry {
        case .whileActive: w.u8(0); w.i64(0)
        case .never: w.u8(1); w.i64(0)
        case .always: w.u8(2); w.i64(0)
        case .after(let s): w.u8(3); w.i64(s)
        }
        if version >= 2 { w.i64(j.maxDelay ?? -1) }
        w.u16(j.localCount)
        w.u32(j.functions.count)
        for f in j.functions {
            w.u8(f.isPredicate ? 1 : 0)
            w.u32(f.code.count)
            w.bytes.append(contentsOf: f.code)
            w.u32(f.lines.count)
            for l in f.lines { w.u32(l.pc); w.u32(l.line) }
        }
        w.u32(j.sends.count)
        for s in j.sends {
            w.u32(s.restart)
            w.u32(s.links.count)
            for l in s.links { w.string(l.channel); encodeShape(l.shape, &w) }
        }
        if version >= 3 {
            w.u32(j.steps.count)
            for s in j.steps {
                w.u32(s.line)
                w.u32(s.column)
                w.u8(Int(s.kind.rawValue))
                w.string(s.label)
                w.u32(s.branches.count)
                for b in s.branches { w.string(b) }
                w.u16(s.control ?? noIndex16)
                w.u16(s.send ?? noIndex16)
            }
        }
        if version >= 4 {
            func anchors(_ list: [AnchorDef]) {
                w.u32(list.count)
                for a in list {
                    w.u16(a.event)
                    w.u8(a.field)
                    switch a.source {
                    case .triggerField(let f): w.u8(0); w.u16(f)
                    case .constant(let c): w.u8(1); w.u16(c)
                    }
                    w.i64(a.within ?? -1)
                }
            }
            if let plan = j.forEach {
                w.u8(1)
                w.u16(plan.predicate ?? noIndex16)
                anchors(plan.anchors)
                if let x = plan.exact {
                    w.u8(1)
                    w.u32(x.required.count)
                    for r in x.required { anchors(r) }
                    anchors(x.excluded)
                    w.u32(x.residual.count)
                    for p in x.residual { w.u16(p) }
                } else {
                    w.u8(0)
                }
            } else {
                w.u8(0)
            }
        }
    }

    static func encodeShape(_ s: ContentShape, _ w: inout ByteWriter) {
        switch s {
        case .value: w.u8(0)
        case .literal(let t): w.u8(1); w.string(t)
        case .object(let items):
            w.u8(2)
            w.u32(items.count)
            for (k, v) in items { w.string(k); encodeShape(v, &w) }
        }
    }
}

// MARK: - Reading

/// Bounds-checked reads: every short read is "truncated bundle", never a crash.
struct ByteReader {
    let bytes: [UInt8]
    var at = 0
    let limit: Int

    mutating func take(_ n: Int, _ what: String) throws(BundleError) -> ArraySlice<UInt8> {
        guard n >= 0, at + n <= limit else { throw .truncated(what) }
        defer { at += n }
        return bytes[at..<(at + n)]
    }
    mutating func u8(_ what: String) throws(BundleError) -> Int { Int(try take(1, what).first ?? 0) }
    mutating func u16(_ what: String) throws(BundleError) -> Int {
        let s = try take(2, what)
        return Int(s[s.startIndex]) | Int(s[s.startIndex + 1]) << 8
    }
    mutating func u32(_ what: String) throws(BundleError) -> Int {
        let s = try take(4, what)
        var v = 0
        for (i, b) in s.enumerated() { v |= Int(b) << (8 * i) }
        return v
    }
    mutating func i64(_ what: String) throws(BundleError) -> Int64 {
        let s = try take(8, what)
        var v: UInt64 = 0
        for (i, b) in s.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return Int64(bitPattern: v)
    }
    mutating func string(_ what: String) throws(BundleError) -> String {
        let n = try u32(what)
        let s = try take(n, what)
        guard let text = String(validating: s, as: UTF8.self) else { throw .malformed("\(what) is not UTF-8") }
        return text
    }
    /// A count of items each at least `minSize` bytes, checked against what is left.
    mutating func count(_ what: String, minSize: Int) throws(BundleError) -> Int {
        let n = try u32(what)
        guard n <= (limit - at) / max(1, minSize) else { throw .truncated(what) }
        return n
    }
}

extension JourneyBundle {
    /// Loads a bundle: header, length, checksum, structure, fingerprint, then the verifier.
    /// Nothing of a bundle that fails any check is used.
    public static func load(_ bytes: [UInt8]) throws(BundleError) -> JourneyBundle {
        let headerSize = 8 + 2 + 2 + 4 + 8
        guard bytes.count >= 8 else { throw bytes.elementsEqual(magic.prefix(bytes.count)) ? .truncated("the header") : .badMagic }
        guard Array(bytes[0..<8]) == magic else { throw .badMagic }
        guard bytes.count >= headerSize + 4 else { throw .truncated("the header") }
        var r = ByteReader(bytes: bytes, at: 8, limit: bytes.count - 4)
        let version = try r.u16("the header")
        guard (1...Int(formatVersion)).contains(version) else { throw .unsupportedVersion(UInt16(version)) }
        _ = try r.u16("the header")
        let declared = try r.u32("the header")
        guard declared == bytes.count else { throw .badLength(declared: declared, actual: bytes.count) }
        let stored = UInt32(bytes[bytes.count - 4]) | UInt32(bytes[bytes.count - 3]) << 8 | UInt32(bytes[bytes.count - 2]) << 16 | UInt32(bytes[bytes.count - 1]) << 24
        let computed = crc32(bytes[0..<(bytes.count - 4)])
        guard stored == computed else { throw .badChecksum(stored: stored, computed: computed) }
        let fingerprint = UInt64(bitPattern: try r.i64("the header"))
        let schemaStart = r.at
        let schema = try decodeSchema(&r, version: version)
        guard fnv1a64(bytes[schemaStart..<r.at]) == fingerprint else { throw .schemaMismatch }
        var constants: [Value] = []
        for _ in 0..<(try r.count("the constant pool", minSize: 2)) { constants.append(try decodeConstant(&r)) }
        var journeys: [CompiledJourney] = []
        for _ in 0..<(try r.count("the journey table", minSize: 8)) { journeys.append(try decodeJourney(&r, version: version)) }
        var sources: [SourceText] = []
        // Format 3 ends with the source texts (bundles written before they were added end
        // after the journeys).
        if version >= 3, r.at < r.limit {
            for _ in 0..<(try r.count("the source texts", minSize: 8)) {
                sources.append(SourceText(path: try r.string("the source texts"), text: try r.string("the source texts")))
            }
        }
        guard r.at == r.limit else { throw .malformed("\(r.limit - r.at) bytes left over after the last journey") }
        var bundle = JourneyBundle(schema: schema, constants: constants, journeys: journeys, sources: sources)
        try Verifier.verify(&bundle)
        return bundle
    }

    static func decodeSchema(_ r: inout ByteReader, version: Int) throws(BundleError) -> RuntimeSchema {
        var s = RuntimeSchema()
        func field(_ r: inout ByteReader, _ what: String) throws(BundleError) -> FieldDef {
            let name = try r.string(what)
            let t = try r.string(what)
            guard let type = FieldType(Substring(t)) else { throw .malformed("unknown type '\(t)' in \(what)") }
            return FieldDef(name: name, type: type)
        }
        for _ in 0..<(try r.count("the profile attributes", minSize: 8)) {
            var a = try field(&r, "the profile attributes")
            if version >= 2, try r.u8("the profile attributes") == 1 {
                let d = try decodeConstant(&r)
                guard Verifier.fits(d, a.type) else { throw .malformed("the default of attribute \(Verifier.printable(a.name)) is not a \(a.type)") }
                a.defaultValue = d
            }
            s.attributes.append(a)
        }
        for _ in 0..<(try r.count("the events", minSize: 8)) {
            let name = try r.string("the events")
            var fields: [FieldDef] = []
            for _ in 0..<(try r.count("the fields of event \(name)", minSize: 8)) { fields.append(try field(&r, "the fields of event \(name)")) }
            let catalog = version >= 4 ? try r.u8("the events") : 0
            guard catalog <= 1 else { throw .malformed("event \(Verifier.printable(name)) has an unknown kind \(catalog)") }
            s.events.append(EventDef(name: name, fields: fields, catalog: catalog == 1))
        }
        for _ in 0..<(try r.count("the channels", minSize: 12)) {
            let kind = try r.string("the channels")
            let address = try r.u32("the channels")
            let consent = try r.u32("the channels")
            guard address < s.attributes.count, consent == 0xFFFF_FFFF || consent < s.attributes.count else {
                throw .malformed("channel \(kind) names an attribute that does not exist")
            }
            s.channels.append(ChannelDef(kind: kind, address: address, consent: consent == 0xFFFF_FFFF ? nil : consent))
        }
        let hasCap = try r.u8("the policy")
        let capCount = try r.u32("the policy")
        let capWindow = try r.i64("the policy")
        if hasCap == 1 { s.capCount = capCount; s.capWindow = capWindow }
        let hasQuiet = try r.u8("the policy")
        let from = try r.u16("the policy"), to = try r.u16("the policy")
        if hasQuiet == 1 {
            guard from < 1440, to < 1440 else { throw .malformed("quiet hours outside the day") }
            s.quietFrom = from
            s.quietTo = to
        }
        return s
    }

    static func decodeConstant(_ r: inout ByteReader, depth: Int = 0) throws(BundleError) -> Value {
        let what = "the constant pool"
        switch try r.u8(what) {
        case 10:
            guard depth < 4 else { throw .malformed("a list constant nested too deeply") }
            var items: [Value] = []
            for _ in 0..<(try r.count(what, minSize: 1)) { items.append(try decodeConstant(&r, depth: depth + 1)) }
            return .list(items)
        case 0: return .int(try r.i64(what))
        case 1: return .decimal(try r.i64(what))
        case 2: return .money(try r.i64(what))
        case 3: return .string(try r.string(what))
        case 4: return .duration(try r.i64(what))
        case 5: return .date(Int32(truncatingIfNeeded: try r.i64(what)))
        case 6: return .timeOfDay(Int32(truncatingIfNeeded: try r.i64(what)))
        case 7: return .time(try r.i64(what))
        case 8: return .bool(try r.u8(what) != 0)
        case 9: return .none
        case let tag: throw .malformed("unknown constant tag \(tag)")
        }
    }

    static func decodeJourney(_ r: inout ByteReader, version: Int) throws(BundleError) -> CompiledJourney {
        let name = try r.string("a journey's name")
        let what = "journey '\(name)'"
        let title = try r.string(what)
        let path = try r.string(what)
        let trigger: Trigger
        switch try r.u8(what) {
        case 0: trigger = .event(try r.u32(what))
        case 1: trigger = .daily(try r.u32(what))
        case let k: throw .malformed("\(what) has an unknown trigger kind \(k)")
        }
        let binds = try r.u8(what) == 1
        let onWhere = try r.u16(what), when = try r.u16(what)
        var ruleLists: [[EventRule]] = []
        for _ in 0..<2 {
            var rules: [EventRule] = []
            for _ in 0..<(try r.count(what, minSize: 6)) {
                let e = try r.u32(what), p = try r.u16(what)
                rules.append(EventRule(event: e, predicate: p == noIndex16 ? nil : p))
            }
            ruleLists.append(rules)
        }
        let reentry: ReentryRule
        let kind = try r.u8(what), seconds = try r.i64(what)
        switch kind {
        case 0: reentry = .whileActive
        case 1: reentry = .never
        case 2: reentry = .always
        case 3: reentry = .after(seconds)
        default: throw .malformed("\(what) has an unknown re-entry rule \(kind)")
        }
        var maxDelay: Int64? = CompiledJourney.defaultMaxDelay
        if version >= 2 {
            let d = try r.i64(what)
            guard d == -1 || d > 0 else { throw .malformed("\(what) has a max_delay of \(d) seconds") }
            maxDelay = d == -1 ? nil : d
        }
        let locals = try r.u16(what)
        var functions: [Function] = []
        for _ in 0..<(try r.count(what, minSize: 9)) {
            let isPredicate = try r.u8(what) == 1
            let n = try r.u32(what)
            let code = Array(try r.take(n, "the code of \(what)"))
            var lines: [LineEntry] = []
            for _ in 0..<(try r.count("the line table of \(what)", minSize: 8)) {
                lines.append(LineEntry(pc: try r.u32(what), line: try r.u32(what)))
            }
            functions.append(Function(isPredicate: isPredicate, code: code, lines: lines))
        }
        var sends: [SendDef] = []
        for _ in 0..<(try r.count(what, minSize: 8)) {
            let restart = try r.u32(what)
            var links: [SendLinkDef] = []
            for _ in 0..<(try r.count(what, minSize: 5)) {
                links.append(SendLinkDef(channel: try r.string(what), shape: try decodeShape(&r, depth: 0)))
            }
            sends.append(SendDef(restart: restart, links: links))
        }
        var steps: [StepDef] = []
        if version >= 3 {
            let where_ = "the step table of \(what)"
            for _ in 0..<(try r.count(where_, minSize: 21)) {
                let line = try r.u32(where_), column = try r.u32(where_)
                let k = try r.u8(where_)
                guard let kind = StepKind(rawValue: UInt8(k)) else { throw .malformed("\(what) has a step of unknown kind \(k)") }
                let label = try r.string(where_)
                var branches: [String] = []
                for _ in 0..<(try r.count(where_, minSize: 4)) { branches.append(try r.string(where_)) }
                let control = try r.u16(where_), send = try r.u16(where_)
                steps.append(StepDef(line: line, column: column, kind: kind, label: label, branches: branches,
                                     control: control == noIndex16 ? nil : control, send: send == noIndex16 ? nil : send))
            }
        }
        var journey = CompiledJourney(name: name, title: title, sourcePath: path, trigger: trigger, bindsTrigger: binds,
                                      onWhere: onWhere == noIndex16 ? nil : onWhere, when: when == noIndex16 ? nil : when,
                                      goals: ruleLists[0], exits: ruleLists[1], reentry: reentry, localCount: locals,
                                      functions: functions, sends: sends, maxDelay: maxDelay)
        journey.steps = steps
        if version >= 4, try r.u8("the audience of \(what)") == 1 {
            let where_ = "the audience of \(what)"
            let predicate = try r.u16(where_)
            func anchors(_ r: inout ByteReader) throws(BundleError) -> [AnchorDef] {
                var out: [AnchorDef] = []
                for _ in 0..<(try r.count(where_, minSize: 14)) {
                    let event = try r.u16(where_), field = try r.u8(where_)
                    let kind = try r.u8(where_), index = try r.u16(where_)
                    guard kind <= 1 else { throw .malformed("\(what) has an anchor of unknown kind \(kind)") }
                    let within = try r.i64(where_)
                    out.append(AnchorDef(event: event, field: field, source: kind == 0 ? .triggerField(index) : .constant(index), within: within < 0 ? nil : within))
                }
                return out
            }
            var plan = ForEachPlan(predicate: predicate == noIndex16 ? nil : predicate, anchors: try anchors(&r))
            if try r.u8(where_) == 1 {
                var required: [[AnchorDef]] = []
                for _ in 0..<(try r.count(where_, minSize: 4)) { required.append(try anchors(&r)) }
                let excluded = try anchors(&r)
                var residual: [Int] = []
                for _ in 0..<(try r.count(where_, minSize: 2)) { residual.append(try r.u16(where_)) }
                plan.exact = ExactPlan(required: required, excluded: excluded, residual: residual)
            }
            journey.forEach = plan
        }
        return journey
    }

    static func decodeShape(_ r: inout ByteReader, depth: Int) throws(BundleError) -> ContentShape {
        guard depth < 16 else { throw .malformed("message content nested too deeply") }
        switch try r.u8("a message shape") {
        case 0: return .value
        case 1: return .literal(try r.string("a message shape"))
        case 2:
            var items: [(String, ContentShape)] = []
            for _ in 0..<(try r.count("a message shape", minSize: 5)) {
                items.append((try r.string("a message shape"), try decodeShape(&r, depth: depth + 1)))
            }
            return .object(items)
        case let t: throw .malformed("unknown message shape tag \(t)")
        }
    }
}
