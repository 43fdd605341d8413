import JourneyBytecode

/// The usual event line read in one pass, without a JSON document in between: the members
/// are found by their bytes and `data`'s fields decoded as they are met. Anything unusual (an
/// unknown or repeated key, an escape in a key, `data` before `event`, a value that does not
/// fit, any reject at all) gives nil, and `EventInput.validateFully` reads the line again,
/// giving the reason. What this accepts, that accepts too, with the same event: the members
/// are read by the same JSON reader (`JSONParser`), the header checked by the same code
/// (`EventInput.header`), the fields decoded by `ValueCoder` like there. A field is matched by
/// its bytes only when every field name of the event is ASCII (otherwise text equality, which
/// `validateFully` uses, could match where bytes do not).
enum FastEventLine {
    static func read(_ b: UnsafeBufferPointer<UInt8>, schema: RuntimeSchema) -> IncomingEvent? {
        var p = JSONParser(b)
        p.skipSpace()
        guard p.i < b.count, b[p.i] == UInt8(ascii: "{") else { return nil }
        p.i += 1
        var profile: JSONValue?, event: JSONValue?, at: JSONValue?, id: JSONValue?
        var sawData = false, dataNull = false
        var index = -1
        var fields: [Value] = [], seen: [Bool] = []
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
                // The fields are decoded by the event's definition: the event must come first.
                guard case .string(let name)? = event, let k = schema.eventIndex(name) else { return nil }
                index = k
                p.skipSpace()
                guard p.i < b.count else { return nil }
                if b[p.i] == UInt8(ascii: "n") {
                    guard case .null? = try? p.value(depth: 1) else { return nil }
                    dataNull = true
                } else {
                    guard b[p.i] == UInt8(ascii: "{"), readData(&p, schema.events[k], &fields, &seen) else { return nil }
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
        let def = schema.events[head.index]
        if !sawData || dataNull {
            fields = [Value](repeating: .none, count: def.fields.count)
            seen = [Bool](repeating: false, count: def.fields.count)
        } else if index != head.index {
            return nil
        }
        guard EventInput.missingFields(seen, of: def, noData: !sawData || dataNull) == nil else { return nil }
        return IncomingEvent(profile: head.profile, event: head.index, at: head.at, fields: fields, id: head.id)
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

    /// `data`'s object at `p.i`: every member a field of `def`, once, of its type.
    static func readData(_ p: inout JSONParser, _ def: EventDef, _ fields: inout [Value], _ seen: inout [Bool]) -> Bool {
        let b = p.b
        fields = [Value](repeating: .none, count: def.fields.count)
        seen = [Bool](repeating: false, count: def.fields.count)
        p.i += 1 // {
        p.skipSpace()
        if p.i < b.count, b[p.i] == UInt8(ascii: "}") { p.i += 1; return true }
        while true {
            p.skipSpace()
            guard let (start, end) = plainKey(&p), let k = field(def, b, start, end), !seen[k] else { return false }
            p.skipSpace()
            guard p.i < b.count, b[p.i] == UInt8(ascii: ":") else { return false }
            p.i += 1
            // The depth `validateFully` reads it at: the line's object, then data's.
            guard let v = try? p.value(depth: 2), case .success(let value) = ValueCoder.decode(v, as: def.fields[k].type) else { return false }
            fields[k] = value
            seen[k] = true
            p.skipSpace()
            guard p.i < b.count else { return false }
            if b[p.i] == UInt8(ascii: ",") { p.i += 1; continue }
            guard b[p.i] == UInt8(ascii: "}") else { return false }
            p.i += 1
            return true
        }
    }

    /// The field named by the bytes `start..<end` (ASCII), when every field name is ASCII.
    static func field(_ def: EventDef, _ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Int? {
        let key = UnsafeBufferPointer(rebasing: b[start..<end])
        var found: Int?
        for (k, f) in def.fields.enumerated() {
            var ascii = true
            let same: Bool = f.name.utf8.withContiguousStorageIfAvailable { n in
                for c in n where c >= 0x80 { ascii = false }
                return n.count == key.count && zip(n, key).allSatisfy { $0 == $1 }
            } ?? false
            guard ascii else { return nil }
            if same, found == nil { found = k }
        }
        return found
    }
}
