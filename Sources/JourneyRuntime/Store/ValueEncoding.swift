import JourneyBytecode
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Values to and from the interchange JSON (event data, list attributes), and a compact,
/// self-describing binary form for instance locals.
public enum ValueEncoding {
    /// Interchange JSON: what `ValueCoder.decode` reads back with the declared type.
    public static func json(_ v: Value) -> String {
        switch v {
        case .none: "null"
        case .bool(let b): b ? "true" : "false"
        case .int(let i): String(i)
        case .decimal(let d): Value.fixed(d, minimumDecimals: 0)
        case .money(let m): Value.fixed(m, minimumDecimals: 2)
        case .string(let s): JSON.quote(s)
        case .date, .time, .duration, .timeOfDay: JSON.quote(v.text)
        case .list(let items): "[" + items.map(json).joined(separator: ",") + "]"
        case .record(let r): "[" + r.fields.map(json).joined(separator: ",") + "]"
        }
    }

    /// An event's fields, each with its name, in the binary form: a newer schema reads old
    /// events by field name (fields it added are none; numbers take the declared type).
    public static func eventBlob(_ fields: [Value], _ def: EventDef) -> [UInt8] {
        // Its size first, then written in place (an ingest makes one per event).
        var size = 8
        for (f, v) in zip(def.fields, fields) { size += 1 + min(f.name.utf8.count, 255) + encodedSize(v) }
        var fits = true
        let out = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            var w = BlobWriter(buffer)
            w.put(Int64(fields.count))
            for (f, v) in zip(def.fields, fields) {
                var name = f.name
                name.withUTF8 { u in
                    let n = min(u.count, 255)
                    w.byte(UInt8(truncatingIfNeeded: n))
                    w.bytes(UnsafeBufferPointer(rebasing: u[0..<n]))
                }
                w.value(v)
            }
            fits = !w.overflowed
            count = fits ? w.at : 0
        }
        // (Never, while `encodedSize` is right.)
        return fits ? out : appendedEventBlob(fields, def)
    }

    /// The same blob made by appending each part with `encode`: the reference the in-place
    /// writer is held to.
    static func appendedEventBlob(_ fields: [Value], _ def: EventDef) -> [UInt8] {
        var out: [UInt8] = []
        put(Int64(fields.count), &out)
        for (f, v) in zip(def.fields, fields) {
            let name = f.name.utf8
            let n = min(name.count, 255)
            out.append(UInt8(truncatingIfNeeded: n))
            out.append(contentsOf: name.prefix(n))
            encode(v, &out)
        }
        return out
    }

    /// Writes `encode`'s bytes into a buffer made the right size; a write past its end is
    /// not made, and says so.
    struct BlobWriter {
        let buffer: UnsafeMutableBufferPointer<UInt8>
        var at = 0
        var overflowed = false

        init(_ buffer: UnsafeMutableBufferPointer<UInt8>) { self.buffer = buffer }

        mutating func byte(_ b: UInt8) {
            guard at < buffer.count else { overflowed = true; return }
            buffer[at] = b
            at += 1
        }

        mutating func put(_ v: Int64) {
            guard at + 8 <= buffer.count, let base = buffer.baseAddress else { overflowed = true; return }
            UnsafeMutableRawPointer(base + at).storeBytes(of: v.littleEndian, as: Int64.self)
            at += 8
        }

        mutating func bytes(_ b: UnsafeBufferPointer<UInt8>) {
            guard at + b.count <= buffer.count else { overflowed = true; return }
            if let to = buffer.baseAddress, let from = b.baseAddress, b.count > 0 { (to + at).update(from: from, count: b.count) }
            at += b.count
        }

        mutating func value(_ v: Value) {
            switch v {
            case .none: byte(0)
            case .bool(let b): byte(1); byte(b ? 1 : 0)
            case .int(let i): byte(2); put(i)
            case .decimal(let d): byte(3); put(d)
            case .money(let m): byte(4); put(m)
            case .string(let s):
                var s = s
                byte(5)
                s.withUTF8 { u in put(Int64(u.count)); bytes(u) }
            case .date(let d): byte(6); put(Int64(d))
            case .time(let t): byte(7); put(t)
            case .duration(let d): byte(8); put(d)
            case .timeOfDay(let t): byte(9); put(Int64(t))
            case .list(let items):
                byte(10)
                put(Int64(items.count))
                for i in items { value(i) }
            case .record(let r):
                byte(11)
                put(Int64(r.event)); put(r.at); put(Int64(r.fields.count))
                for f in r.fields { value(f) }
            }
        }
    }

    public static func fields(fromBlob blob: [UInt8], _ def: EventDef) -> [Value] {
        var out = nones(def.fields.count)
        blob.withUnsafeBufferPointer { b in
            var at = 0
            guard let n = take(b, &at), n >= 0, n < 65536 else { return }
            for k in 0..<Int(n) {
                guard at < b.count else { break }
                let len = Int(b[at])
                at += 1
                guard at + len <= b.count else { break }
                let name = UnsafeBufferPointer(rebasing: b[at..<(at + len)])
                at += len
                guard let v = decode(b, &at, depth: 0) else { break }
                // The blob's k-th field is the schema's k-th unless the schema changed since.
                let i = k < def.fields.count && utf8(of: def.fields[k].name, equals: name)
                    ? k : def.fields.indices.first { utf8(of: def.fields[$0].name, equals: name) }
                if let i { out[i] = Coerce.value(v, to: def.fields[i].type) }
            }
        }
        return out
    }

    /// `count` nones: what `[Value](repeating: .none, count:)` makes. Reserved and appended:
    /// both that initializer and `unsafeUninitializedCapacity` allocate through the generic
    /// path (the storage's type looked up at run time, ≈ 600 instructions an array; this way
    /// ≈ 350 with the allocation, for every event's fields and every entry's locals).
    static func nones(_ count: Int) -> [Value] {
        var out: [Value] = []
        out.reserveCapacity(count)
        for _ in 0..<count { out.append(.none) }
        return out
    }

    /// Whether `bytes` are `text`'s UTF-8 (a field name in a blob, a text column).
    static func utf8(of text: String, equals bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let u = text.utf8
        guard u.count == bytes.count else { return false }
        return u.withContiguousStorageIfAvailable { n in
            guard let nb = n.baseAddress, let pb = bytes.baseAddress else { return bytes.isEmpty }
            return memcmp(nb, pb, bytes.count) == 0
        } ?? u.elementsEqual(bytes)
    }

    // MARK: - Binary (instance locals)

    public static func encode(_ values: [Value]) -> [UInt8] {
        var out: [UInt8] = []
        put(Int64(values.count), &out)
        for v in values { encode(v, &out) }
        return out
    }

    /// A string's UTF-8 appended from its own storage (not byte by byte through the view).
    @inline(__always) static func appendUTF8(_ s: String, _ out: inout [UInt8]) {
        if s.utf8.withContiguousStorageIfAvailable({ out.append(contentsOf: $0) }) == nil { out.append(contentsOf: s.utf8) }
    }

    static func put(_ v: Int64, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    /// The bytes `encode(v, &out)` appends.
    static func encodedSize(_ v: Value) -> Int {
        switch v {
        case .none: 1
        case .bool: 2
        case .int, .decimal, .money, .date, .time, .duration, .timeOfDay: 9
        case .string(let s): 9 + s.utf8.count
        case .list(let items): items.reduce(9) { $0 + encodedSize($1) }
        case .record(let r): r.fields.reduce(25) { $0 + encodedSize($1) }
        }
    }

    static func encode(_ v: Value, _ out: inout [UInt8]) {
        switch v {
        case .none: out.append(0)
        case .bool(let b): out.append(1); out.append(b ? 1 : 0)
        case .int(let i): out.append(2); put(i, &out)
        case .decimal(let d): out.append(3); put(d, &out)
        case .money(let m): out.append(4); put(m, &out)
        case .string(let s):
            out.append(5)
            put(Int64(s.utf8.count), &out)
            appendUTF8(s, &out)
        case .date(let d): out.append(6); put(Int64(d), &out)
        case .time(let t): out.append(7); put(t, &out)
        case .duration(let d): out.append(8); put(d, &out)
        case .timeOfDay(let t): out.append(9); put(Int64(t), &out)
        case .list(let items):
            out.append(10)
            put(Int64(items.count), &out)
            for i in items { encode(i, &out) }
        case .record(let r):
            out.append(11)
            put(Int64(r.event), &out)
            put(r.at, &out)
            put(Int64(r.fields.count), &out)
            for f in r.fields { encode(f, &out) }
        }
    }

    public static func decode(_ bytes: [UInt8]) -> [Value]? {
        bytes.withUnsafeBufferPointer { b in
            var at = 0
            guard let n = take(b, &at), n >= 0, n < 65536 else { return nil }
            var out: [Value] = []
            out.reserveCapacity(Int(n))
            for _ in 0..<n {
                guard let v = decode(b, &at, depth: 0) else { return nil }
                out.append(v)
            }
            return out
        }
    }

    static func take(_ b: UnsafeBufferPointer<UInt8>, _ at: inout Int) -> Int64? {
        guard at + 8 <= b.count, let base = b.baseAddress else { return nil }
        let v = UnsafeRawPointer(base + at).loadUnaligned(as: UInt64.self)
        at += 8
        return Int64(bitPattern: UInt64(littleEndian: v))
    }

    static func decode(_ b: UnsafeBufferPointer<UInt8>, _ at: inout Int, depth: Int) -> Value? {
        guard at < b.count, depth < 32 else { return nil }
        let tag = b[at]
        at += 1
        switch tag {
        case 0: return Value.none
        case 1:
            guard at < b.count else { return nil }
            at += 1
            return .bool(b[at - 1] != 0)
        case 2: return take(b, &at).map(Value.int)
        case 3: return take(b, &at).map(Value.decimal)
        case 4: return take(b, &at).map(Value.money)
        case 5:
            guard let n = take(b, &at), n >= 0, at + Int(n) <= b.count else { return nil }
            defer { at += Int(n) }
            return .string(String(decoding: UnsafeBufferPointer(rebasing: b[at..<(at + Int(n))]), as: UTF8.self))
        case 6: return take(b, &at).map { .date(Int32(truncatingIfNeeded: $0)) }
        case 7: return take(b, &at).map(Value.time)
        case 8: return take(b, &at).map(Value.duration)
        case 9: return take(b, &at).map { .timeOfDay(Int32(truncatingIfNeeded: $0)) }
        case 10:
            guard let n = take(b, &at), n >= 0, n < 1_000_000 else { return nil }
            var items: [Value] = []
            for _ in 0..<n {
                guard let v = decode(b, &at, depth: depth + 1) else { return nil }
                items.append(v)
            }
            return .list(items)
        case 11:
            guard let e = take(b, &at), let t = take(b, &at), let n = take(b, &at), n >= 0, n < 65536 else { return nil }
            var fields: [Value] = []
            for _ in 0..<n {
                guard let v = decode(b, &at, depth: depth + 1) else { return nil }
                fields.append(v)
            }
            return .record(Record(event: Int(e), at: t, fields: fields))
        default: return nil
        }
    }
}
