import JourneyBytecode

/// The usual event line read in one pass, without a JSON document in between: the members
/// are found by their bytes, in any order, and `data`'s fields decoded by the event's
/// definition. Anything unusual (an unknown or repeated key, an escape or a non-ASCII letter
/// in a key, a value that does not fit, any reject at all) gives nil, and
/// `EventInput.validateFully` reads the line again, giving the reason. What this accepts, that accepts too, with the same event: the members
/// are read by the same JSON reader (`JSONParser`), the header checked by the same code
/// (`EventInput.header`), the fields decoded by `ValueCoder` like there. A field is matched by
/// its bytes only when every field name of the event is ASCII (otherwise text equality, which
/// `validateFully` uses, could match where bytes do not).
enum FastEventLine {
    /// `names`: each event kind's `asciiNames`, worked out once for many lines (else per line).
    static func read(_ b: UnsafeBufferPointer<UInt8>, schema: RuntimeSchema, names: [[String.UTF8View]?]? = nil) -> IncomingEvent? {
        func fieldNames(_ k: Int) -> [String.UTF8View]? {
            if let names { return names[k] }
            return asciiNames(schema.events[k])
        }
        var p = JSONParser(b)
        p.skipSpace()
        guard p.i < b.count, b[p.i] == UInt8(ascii: "{") else { return nil }
        p.i += 1
        var profile: JSONValue?, event: JSONValue?, at: JSONValue?, id: JSONValue?
        var sawData = false
        // `data`'s fields: decoded as they are read when the event came first (the usual
        // order), else kept as members and decoded once the event is known.
        var members: [Member] = []
        var direct: (index: Int, data: DataFields)?
        p.skipSpace()
        // `{}` and other objects without members are rejects: left to the full reading.
        while true {
            p.skipSpace()
            guard let key = memberKey(&p) else { return nil }
            p.skipSpace()
            guard p.i < b.count, b[p.i] == UInt8(ascii: ":") else { return nil }
            p.i += 1
            switch key {
            case .profile, .event, .at, .id:
                guard let v = try? p.value(depth: 1) else { return nil }
                switch key {
                case .profile: if profile != nil { return nil }; profile = v
                case .event: if event != nil { return nil }; event = v
                case .at: if at != nil { return nil }; at = v
                default: if id != nil { return nil }; id = v
                }
            case .data:
                if sawData { return nil }
                sawData = true
                p.skipSpace()
                guard p.i < b.count else { return nil }
                if b[p.i] == UInt8(ascii: "n") {
                    // (`data: null` is as no data: every field none.)
                    guard case .null? = try? p.value(depth: 1) else { return nil }
                } else if case .string(let name)? = event, let k = schema.eventIndex(name), var data = DataFields(schema.events[k], names: fieldNames(k)) {
                    guard b[p.i] == UInt8(ascii: "{"), readMembers(&p, { data.take($0, $1, in: b) }) else { return nil }
                    direct = (k, data)
                } else {
                    guard b[p.i] == UInt8(ascii: "{"), readMembers(&p, { key, value in members.append(Member(key: key, value: value)); return true }) else { return nil }
                }
            }
            p.skipSpace()
            guard p.i < b.count else { return nil }
            if b[p.i] == UInt8(ascii: ",") { p.i += 1; continue }
            guard b[p.i] == UInt8(ascii: "}") else { return nil }
            p.i += 1
            break
        }
        p.skipSpace()
        guard p.i == b.count else { return nil }
        guard case .success(let head) = EventInput.header(profile: profile, event: event, at: at, id: id, schema: schema) else { return nil }
        let data: DataFields
        if let d = direct {
            guard d.index == head.index else { return nil }
            data = d.data
        } else {
            guard var d = DataFields(schema.events[head.index], names: fieldNames(head.index)) else { return nil }
            for m in members { guard d.take(m.key, m.value, in: b) else { return nil } }
            data = d
        }
        guard data.allRequired else { return nil }
        return IncomingEvent(profile: head.profile, event: head.index, at: head.at, fields: data.fields, id: head.id)
    }

    /// `data`'s fields as they are decoded by the event's definition, at most 64 (which of
    /// them came is a bit each).
    struct DataFields {
        let def: EventDef
        /// The field names as bytes, when every one is ASCII (otherwise no member is matched).
        let names: [String.UTF8View]?
        var fields: [Value]
        var seen: UInt64 = 0

        init?(_ def: EventDef, names: [String.UTF8View]?) {
            guard def.fields.count <= 64 else { return nil }
            self.def = def
            self.names = names
            fields = ValueEncoding.nones(def.fields.count)
        }

        /// Decodes the member whose key is the bytes `key`: false when it names no field, names
        /// one already given, or does not fit its type.
        mutating func take(_ key: Range<Int>, _ value: JSONValue, in b: UnsafeBufferPointer<UInt8>) -> Bool {
            guard let names, let k = FastEventLine.field(names, b, key), seen & (1 << UInt64(k)) == 0,
                  case .success(let v) = ValueCoder.decode(value, as: def.fields[k].type) else { return false }
            fields[k] = v
            seen |= 1 << UInt64(k)
            return true
        }

        /// Whether every field that is not optional came (`EventInput.missingFields` would find
        /// none missing).
        var allRequired: Bool {
            for (k, f) in def.fields.enumerated() where seen & (1 << UInt64(k)) == 0 && !f.type.isOptional { return false }
            return true
        }
    }

    /// The event's field names as bytes, when every one is ASCII (so that bytes and text
    /// compare alike); nil otherwise.
    static func asciiNames(_ def: EventDef) -> [String.UTF8View]? {
        var out: [String.UTF8View] = []
        out.reserveCapacity(def.fields.count)
        for f in def.fields {
            let ascii = f.name.utf8.withContiguousStorageIfAvailable { !$0.contains { $0 >= 0x80 } } ?? false
            guard ascii else { return nil }
            out.append(f.name.utf8)
        }
        return out
    }

    enum Key { case profile, event, at, data, id }

    /// A member's key at `p.i` (its opening quote), when it is one of the five, written plainly.
    static func memberKey(_ p: inout JSONParser) -> Key? {
        guard let (start, end) = plainKey(&p) else { return nil }
        let b = p.b
        switch end - start {
        case 2:
            if b[start] == UInt8(ascii: "a"), b[start + 1] == UInt8(ascii: "t") { return .at }
            if b[start] == UInt8(ascii: "i"), b[start + 1] == UInt8(ascii: "d") { return .id }
        case 4:
            if equal(b, start, "data") { return .data }
        case 5:
            if equal(b, start, "event") { return .event }
        case 7:
            if equal(b, start, "profile") { return .profile }
        default: break
        }
        return nil
    }

    /// The bytes of a key at `p.i` without escapes or control characters, ASCII only; `p.i`
    /// moves past its closing quote.
    static func plainKey(_ p: inout JSONParser) -> (Int, Int)? {
        let b = p.b
        guard p.i < b.count, b[p.i] == 0x22 else { return nil }
        let start = p.i + 1
        var k = start
        while k < b.count {
            let c = b[k]
            if c == 0x22 { p.i = k + 1; return (start, k) }
            if c == 0x5C || c < 0x20 || c >= 0x80 { return nil }
            k += 1
        }
        return nil
    }

    static func equal(_ b: UnsafeBufferPointer<UInt8>, _ at: Int, _ word: StaticString) -> Bool {
        let w = word.utf8Start
        for k in 0..<word.utf8CodeUnitCount where b[at + k] != w[k] { return false }
        return true
    }

    /// A member of `data`: its key's bytes (ASCII, plain) and its value.
    struct Member {
        var key: Range<Int>
        var value: JSONValue
    }

    /// `data`'s object at `p.i`, each member (its key's bytes, plain ASCII, and its value)
    /// handed to `take`; false when the object is not read to its end or `take` refuses one.
    static func readMembers(_ p: inout JSONParser, _ take: (Range<Int>, JSONValue) -> Bool) -> Bool {
        let b = p.b
        p.i += 1 // {
        p.skipSpace()
        if p.i < b.count, b[p.i] == UInt8(ascii: "}") { p.i += 1; return true }
        while true {
            p.skipSpace()
            guard let (start, end) = plainKey(&p) else { return false }
            p.skipSpace()
            guard p.i < b.count, b[p.i] == UInt8(ascii: ":") else { return false }
            p.i += 1
            // The depth `validateFully` reads it at: the line's object, then data's.
            guard let v = try? p.value(depth: 2), take(start..<end, v) else { return false }
            p.skipSpace()
            guard p.i < b.count else { return false }
            if b[p.i] == UInt8(ascii: ",") { p.i += 1; continue }
            guard b[p.i] == UInt8(ascii: "}") else { return false }
            p.i += 1
            return true
        }
    }

    /// The first of `names` (ASCII) that is the bytes `range`.
    static func field(_ names: [String.UTF8View], _ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int? {
        let key = UnsafeBufferPointer(rebasing: b[range])
        for (k, name) in names.enumerated() {
            let same = name.withContiguousStorageIfAvailable { n in n.count == key.count && zip(n, key).allSatisfy { $0 == $1 } }
                ?? name.elementsEqual(key)
            if same { return k }
        }
        return nil
    }
}
