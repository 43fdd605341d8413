import JourneyBytecode

extension Engine {
    /// The VM's view of the world for one instance of one profile, during one step.
    struct Host: VMHost {
        /// Unowned and unchecked: a host lives for one step, inside a call on the engine that
        /// made it, so the engine outlives it; a checked reference cost two atomic counts per
        /// host and two more per use (`now`, `records`, …).
        unowned(unsafe) let engine: Engine
        let bundle: JourneyBundle
        let hash: String
        let journey: CompiledJourney
        let instance: Int64
        var sends: Int
        let profile: ProfileSlot
        var messages = 0
        /// The steps this run passed, counted once the run stands (`Engine.countSteps`).
        var marks: [Mark] = []
        let map: [Int?]
        let required: [Bool]
        let zoneAttribute: Int?

        init(engine: Engine, bundle: JourneyBundle, hash: String, journey: CompiledJourney, instance: Int64, sends: Int, profile: ProfileSlot, map: [Int?]? = nil) {
            self.engine = engine
            self.bundle = bundle
            self.hash = hash
            self.journey = journey
            self.instance = instance
            self.sends = sends
            self.profile = profile
            self.map = map ?? engine.attributeMap(hash, bundle)
            self.required = engine.required(hash, bundle)
            self.zoneAttribute = engine.currentZoneAttribute
        }

        /// The profile's IANA time zone, read each time: a scan reuses one host for many profiles.
        var zone: String? {
            guard let tz = zoneAttribute, tz < profile.values.count, case .string(let s) = profile.values[tz] else { return nil }
            return s
        }

        var now: Int64 { engine.now }

        var today: Int32 {
            let tz = engine.zones.zone(zone)
            return Int32(truncatingIfNeeded: Zones.local(engine.now, tz).day)
        }

        /// A required attribute without a value is a fault, never a silent none: the schema
        /// promised a value, and a message or an update built on none would be wrong.
        func attribute(_ index: Int) throws -> Value {
            let v: Value
            if index < map.count, let i = map[index], i < profile.values.count { v = profile.values[i] } else { v = .none }
            if case .none = v, index < required.count, required[index] {
                throw RuntimeFault(message: "profile.\(bundle.schema.attributes[index].name) has no value, though the schema says it always has one (an attribute added without a default, or removed since)")
            }
            return v
        }

        mutating func setAttribute(_ index: Int, _ value: Value) {
            guard index < map.count, let i = map[index], i < profile.values.count else { return }
            profile.values[i] = Coerce.value(value, to: bundle.schema.attributes[index].type)
            profile.dirty = true
        }

        func records(event: Int, since: Int64?) throws -> ArraySlice<Record> {
            try engine.store.records(profile: profile.id, event: bundle.schema.events[event], index: event, since: since)
        }

        func zero(event: Int, field: Int) -> Value {
            let fields = bundle.schema.events[event].fields
            guard field < fields.count else { return .int(0) }
            return Coerce.value(.int(0), to: fields[field].type)
        }

        func count(event: Int, since: Int64?) throws -> Int {
            try engine.store.historyCount(profile: profile.id, event: bundle.schema.events[event].name, since: since)
        }

        /// FNV-1a of (profile id, journey name, split position), mixed by MurmurHash3's finalizer
        /// so that similar ids (u1, u2, …) spread evenly, in basis points.
        func splitBucket(position: Int) -> Int {
            let key = Array(profile.id.utf8) + [0] + Array(journey.name.utf8) + [0] + Array(String(position).utf8)
            var h = fnv1a64(key)
            h ^= h >> 33
            h = h &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 33
            h = h &* 0xC4CE_B9FE_1A85_EC53
            h ^= h >> 33
            return Int(h % 10_000)
        }

        struct Mark {
            var step: Int32
            var what: Int32
        }

        mutating func mark(step: Int, outcome: Int) {
            note(Mark(step: Int32(step), what: Int32(outcome)))
        }

        /// Keeps a step passed, with room for a few at the first (a run passes two or three:
        /// grown one by one, the list was allocated two or three times).
        mutating func note(_ m: Mark) {
            if marks.isEmpty { marks.reserveCapacity(4) }
            marks.append(m)
        }

        func countAll(event: Int, field: Int, value: Value, since: Int64?, distinct: Bool) throws -> Int {
            let def = bundle.schema.events[event]
            guard field < def.fields.count else { return 0 }
            return try engine.store.countWithKey(event: def.name, field: def.fields[field].name, keys: ValueEncoding.indexKeys(value),
                                                 since: since, until: engine.now, distinct: distinct)
        }

        func companions(event: Int, field: Int, value: Value, window: Int64, limit: Int) throws -> [Value] {
            let def = bundle.schema.events[event]
            guard field < def.fields.count, let key = ValueEncoding.indexKeys(value).first else { return [] }
            return try engine.store.companions(event: def.name, field: def.fields[field].name, window: window, key: key, limit: limit)
                .compactMap { ValueEncoding.value(fromIndexKey: $0, def.fields[field].type) }
        }

        func localTime(_ t: Int64) -> (day: Int64, seconds: Int64) {
            Zones.local(t, engine.zones.zone(zone))
        }

        /// The profile's `locale` and `currency` attributes, when the deployed schema has them.
        var profileLocale: String? { text(of: "locale") }
        var profileCurrency: String? { text(of: "currency") }

        func text(of attribute: String) -> String? {
            guard let i = bundle.schema.attributeIndex(attribute), i < map.count, let k = map[i], k < profile.values.count,
                  case .string(let s) = profile.values[k] else { return nil }
            return s
        }

        func nextLocalTime(minutes: Int) -> Int64 {
            Zones.next(minutes: minutes, after: engine.now, engine.zones.zone(zone))
        }

        /// Walks the fallback chain: the first channel with an address and consent gets the
        /// message, unless the cap is reached (suppressed); none at all is undeliverable. Inside
        /// quiet hours nothing is decided yet: the send is held until they end.
        mutating func send(_ def: SendDef, index: Int, values: ArraySlice<Value>) throws -> SendResult {
            // (The schema read where it is: a copy of it was three retains and releases a send.)
            let tz = engine.zones.zone(zone)
            if let from = bundle.schema.quietFrom, let to = bundle.schema.quietTo, let end = Zones.quiet(engine.now, from: from, to: to, tz) {
                return .held(until: end)
            }
            var offset = values.startIndex
            var chosen: (SendLinkDef, ArraySlice<Value>, Value)?
            var why: [String] = []
            for link in def.links {
                let n = link.shape.valueCount
                let slice = values[offset..<(offset + n)]
                offset += n
                guard chosen == nil, let ch = bundle.schema.channel(link.channel) else { continue }
                let address = try attribute(ch.address)
                let hasAddress: Bool = switch address {
                case .none: false
                case .string(let s): s.hasNonWhitespace()
                default: true
                }
                let consent = try ch.consent.map { try attribute($0) == .bool(true) } ?? true
                if hasAddress && consent {
                    chosen = (link, slice, address)
                } else if !hasAddress {
                    why.append("\(link.channel): no address (profile.\(bundle.schema.attributes[ch.address].name) is empty)")
                } else if let c = ch.consent {
                    why.append("\(link.channel): no consent (profile.\(bundle.schema.attributes[c].name) is not true)")
                }
            }
            let id = String(instance) + "-" + String(sends)
            sends += 1
            messages += 1
            let step = journey.steps.firstIndex { $0.send == index }
            guard let (link, slice, address) = chosen else {
                try engine.store.appendOutbox(id: id, at: engine.now, profile: profile.id, journey: journey.name, channel: nil, status: "undeliverable", content: nil,
                                              reason: why.joined(separator: "; "), address: nil, bundle: hash, step: step)
                if let step { note(Mark(step: Int32(step), what: Engine.Tally.undeliverable)) }
                return .done
            }
            var status = "sent"
            var reason: String?
            if let cap = bundle.schema.capCount, let window = bundle.schema.capWindow,
               try engine.store.sentCount(profile: profile.id, since: engine.now - window) >= cap {
                status = "suppressed"
                reason = "cap: \(cap) message\(cap == 1 ? "" : "s") per \(Value.durationText(window)) already sent"
            }
            var it = slice.makeIterator()
            let content = Content.render(link.shape, &it)
            // Checked before anything is written: an oversized message fails its instance whole.
            guard content.utf8.count <= Value.maxTextBytes else { throw Arithmetic.tooLong(content.utf8.count) }
            try engine.store.appendOutbox(id: id, at: engine.now, profile: profile.id, journey: journey.name, channel: link.channel, status: status, content: content, reason: reason,
                                          address: address.text, bundle: hash, step: step)
            if let step, let c = bundle.schema.channels.firstIndex(where: { $0.kind == link.channel }) {
                note(Mark(step: Int32(step), what: Engine.Tally.sendBase + Int32(c * 2 + (status == "sent" ? 0 : 1))))
            }
            return .done
        }
    }
}

/// Message content as JSON, from a shape and the values that fill it.
enum Content {
    static func render(_ shape: ContentShape, _ values: inout IndexingIterator<ArraySlice<Value>>) -> String {
        var out = ""
        out.reserveCapacity(128)
        write(shape, &values, into: &out)
        return out
    }

    /// Appends the content to `out` (one string grown in place, not one per part).
    static func write(_ shape: ContentShape, _ values: inout IndexingIterator<ArraySlice<Value>>, into out: inout String) {
        switch shape {
        case .value:
            // (A text, the usual value, is quoted straight into `out`.)
            switch values.next() ?? .none {
            case .string(let s): JSON.appendQuoted(s, to: &out)
            case let v: out += json(v)
            }
        case .literal(let s): JSON.appendQuoted(s, to: &out)
        case .object(let items):
            out += "{"
            for (k, item) in items.enumerated() {
                if k > 0 { out += ", " }
                JSON.appendQuoted(item.0, to: &out)
                out += ": "
                write(item.1, &values, into: &out)
            }
            out += "}"
        }
    }

    static func json(_ v: Value) -> String {
        switch v {
        case .none: "null"
        case .bool(let b): b ? "true" : "false"
        case .int(let i): String(i)
        case .decimal(let d): Value.fixed(d, minimumDecimals: 0)
        case .money(let m): Value.fixed(Value.cents(m), minimumDecimals: 2)
        case .list(let items): "[" + items.map(json).joined(separator: ", ") + "]"
        default: JSON.quote(v.text)
        }
    }
}

extension String {
    /// Whether the text holds anything but white space: decided by the first ASCII letter,
    /// digit or sign when there is one (the usual address), else character by character.
    func hasNonWhitespace() -> Bool {
        for b in utf8 where b > 0x20 && b < 0x7F { return true }
        return !trimmingWhitespace().isEmpty
    }

    func trimmingWhitespace() -> Substring {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return s
    }
}
