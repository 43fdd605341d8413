/// A minimal, exact JSON value: numbers keep their text, so money never passes through a Double.
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    /// The number exactly as written (already checked against the JSON grammar).
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in the order they were written; duplicates are kept (the reader decides).
    case object([(String, JSONValue)])
}

extension JSONValue: Hashable {
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case (.bool(let x), .bool(let y)): x == y
        case (.number(let x), .number(let y)): x == y
        case (.string(let x), .string(let y)): x == y
        case (.array(let x), .array(let y)): x == y
        case (.object(let x), .object(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    public func hash(into h: inout Hasher) {
        switch self {
        case .null: h.combine(0)
        case .bool(let b): h.combine(1); h.combine(b)
        case .number(let n): h.combine(2); h.combine(n)
        case .string(let s): h.combine(3); h.combine(s)
        case .array(let a): h.combine(4); h.combine(a)
        case .object(let members):
            h.combine(5)
            h.combine(members.count)
            for (k, v) in members { h.combine(k); h.combine(v) }
        }
    }
}

extension JSONValue {
    /// The first member named `key`, when this is an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }
}

/// Why a JSON document could not be read, and the byte offset (0-based) where it went wrong.
public struct JSONError: Error, Sendable, Hashable, CustomStringConvertible {
    public var offset: Int
    public var message: String
    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }
    public var description: String { "\(message) (at byte \(offset))" }
}

public enum JSON {
    /// Nesting deeper than this is refused rather than risking the stack.
    public static let maximumDepth = 256

    /// Parses one JSON document (RFC 8259) from UTF-8 bytes; surrounding whitespace is allowed.
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONError) -> JSONValue {
        if let result = bytes.withContiguousStorageIfAvailable({ parse(buffer: $0) }) { return try result.get() }
        return try Array(bytes).withUnsafeBufferPointer { parse(buffer: $0) }.get()
    }

    /// Parses a document held in a string.
    public static func parse(_ text: String) throws(JSONError) -> JSONValue {
        var text = text
        return try text.withUTF8 { parse(buffer: $0) }.get()
    }

    static func parse(buffer: UnsafeBufferPointer<UInt8>) -> Result<JSONValue, JSONError> {
        var p = JSONParser(buffer)
        do throws(JSONError) {
            return .success(try p.document())
        } catch {
            return .failure(error)
        }
    }

    /// Appends `quote(s)` to `out` (the usual string, with nothing to escape, without a string
    /// made for it first).
    public static func appendQuoted(_ s: String, to out: inout String) {
        for c in s.utf8 where c < 0x20 || c == 0x22 || c == 0x5C || c == 0x7F {
            out += quote(s)
            return
        }
        out += "\""
        out += s
        out += "\""
    }

    /// Serializes a string as a JSON string literal: escapes `"`, `\` and control characters,
    /// keeps everything else (non-ASCII included) as UTF-8.
    public static func quote(_ s: String) -> String {
        var needsEscape = false
        for c in s.utf8 where c < 0x20 || c == 0x22 || c == 0x5C || c == 0x7F {
            needsEscape = true
            break
        }
        if !needsEscape { return "\"" + s + "\"" }
        var out: [UInt8] = [0x22]
        out.reserveCapacity(s.utf8.count + 8)
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        for c in s.utf8 {
            switch c {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0x08: out += [0x5C, UInt8(ascii: "b")]
            case 0x0C: out += [0x5C, UInt8(ascii: "f")]
            case 0..<0x20, 0x7F:
                out += [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 15)]]
            default: out.append(c)
            }
        }
        out.append(0x22)
        return String(decoding: out, as: UTF8.self)
    }
}

// MARK: - Parser

/// A recursive-descent reader over UTF-8 bytes. Strings are validated as UTF-8 while scanned.
struct JSONParser {
    let b: UnsafeBufferPointer<UInt8>
    var i = 0

    init(_ b: UnsafeBufferPointer<UInt8>) { self.b = b }

    mutating func document() throws(JSONError) -> JSONValue {
        let v = try value(depth: 0)
        skipSpace()
        if i < b.count { throw fail("unexpected \(found()) after the end of the JSON value") }
        return v
    }

    func fail(_ message: String) -> JSONError { JSONError(offset: i, message: message) }

    /// A short description of the byte at `i`, for messages.
    func found() -> String {
        guard i < b.count else { return "end of input" }
        let c = b[i]
        if c >= 0x21, c < 0x7F { return "'\(Character(Unicode.Scalar(c)))'" }
        switch c {
        case 0x20: return "space"
        case 0x0A: return "line break"
        case 0x09: return "tab"
        default: return c < 0x80 ? "control character 0x\(String(c, radix: 16))" : "non-ASCII text"
        }
    }

    @inline(__always) mutating func skipSpace() {
        while i < b.count {
            let c = b[i]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            i += 1
        }
    }

    mutating func value(depth: Int) throws(JSONError) -> JSONValue {
        skipSpace()
        guard i < b.count else { throw fail("expected a value, found the end of input") }
        switch b[i] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try word("true"); return .bool(true)
        case UInt8(ascii: "f"): try word("false"); return .bool(false)
        case UInt8(ascii: "n"): try word("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        case UInt8(ascii: "'"): throw fail("strings must use double quotes, found '")
        default: throw fail("expected a value, found \(found())")
        }
    }

    mutating func word(_ w: StaticString) throws(JSONError) {
        let n = w.utf8CodeUnitCount
        let start = w.utf8Start
        guard i + n <= b.count else { throw fail("expected '\(w)'") }
        for k in 0..<n where b[i + k] != start[k] { throw fail("expected '\(w)'") }
        i += n
        if i < b.count, isWordByte(b[i]) { throw fail("expected '\(w)', found a longer word") }
    }

    func isWordByte(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == 0x5F
    }

    mutating func object(depth: Int) throws(JSONError) -> JSONValue {
        guard depth <= JSON.maximumDepth else { throw fail("nested more than \(JSON.maximumDepth) levels deep") }
        i += 1 // {
        var members: [(String, JSONValue)] = []
        skipSpace()
        if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
        while true {
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: "\"") else {
                if i < b.count, b[i] == UInt8(ascii: "}") { throw fail("a trailing comma is not allowed before '}'") }
                throw fail("expected a key in double quotes, found \(found())")
            }
            let key = try string()
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':' after the key \(JSON.quote(key)), found \(found())") }
            i += 1
            let v = try value(depth: depth)
            members.append((key, v))
            skipSpace()
            guard i < b.count else { throw fail("expected ',' or '}', found the end of input (an object is not closed)") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            throw fail("expected ',' or '}' after the value of \(JSON.quote(key)), found \(found())")
        }
    }

    mutating func array(depth: Int) throws(JSONError) -> JSONValue {
        guard depth <= JSON.maximumDepth else { throw fail("nested more than \(JSON.maximumDepth) levels deep") }
        i += 1 // [
        var items: [JSONValue] = []
        skipSpace()
        if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
        while true {
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "]") { throw fail("a trailing comma is not allowed before ']'") }
            items.append(try value(depth: depth))
            skipSpace()
            guard i < b.count else { throw fail("expected ',' or ']', found the end of input (a list is not closed)") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            throw fail("expected ',' or ']' in a list, found \(found())")
        }
    }

    @inline(__always) func isDigit(_ k: Int) -> Bool { k < b.count && b[k] >= 0x30 && b[k] <= 0x39 }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, returned as written.
    mutating func number() throws(JSONError) -> String {
        let start = i
        if b[i] == UInt8(ascii: "-") { i += 1 }
        guard isDigit(i) else { throw fail("expected a digit after '-', found \(found())") }
        if b[i] == 0x30 {
            i += 1
            if isDigit(i) { throw fail("a number may not start with 0 (leading zeros are not allowed)") }
        } else {
            while isDigit(i) { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            guard isDigit(i) else { throw fail("expected a digit after the decimal point, found \(found())") }
            while isDigit(i) { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard isDigit(i) else { throw fail("expected a digit in the exponent, found \(found())") }
            while isDigit(i) { i += 1 }
        }
        if i < b.count, isWordByte(b[i]) || b[i] == UInt8(ascii: ".") { throw fail("unexpected \(found()) in a number") }
        return String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
    }

    /// Reads a string literal at `i` (the opening quote). Plain runs are sliced straight from
    /// the input; a string with escapes is rebuilt byte by byte.
    mutating func string() throws(JSONError) -> String {
        let open = i
        i += 1
        let start = i
        while i < b.count {
            let c = b[i]
            if c == 0x22 {
                let s = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
                i += 1
                return s
            }
            if c == 0x5C { break }
            if c < 0x20 { throw controlInString(c) }
            if c < 0x80 { i += 1 } else { i += try utf8Length() }
        }
        guard i < b.count else { throw JSONError(offset: open, message: "a string is not closed (missing \")") }
        var out = Array(UnsafeBufferPointer(rebasing: b[start..<i]))
        while i < b.count {
            let c = b[i]
            if c == 0x22 {
                i += 1
                return String(decoding: out, as: UTF8.self)
            }
            if c == 0x5C {
                try escape(into: &out)
            } else if c < 0x20 {
                throw controlInString(c)
            } else if c < 0x80 {
                out.append(c)
                i += 1
            } else {
                let n = try utf8Length()
                out.append(contentsOf: UnsafeBufferPointer(rebasing: b[i..<(i + n)]))
                i += n
            }
        }
        throw JSONError(offset: open, message: "a string is not closed (missing \")")
    }

    func controlInString(_ c: UInt8) -> JSONError {
        c == 0x0A ? fail("a line break inside a string must be written \\n")
            : c == 0x09 ? fail("a tab inside a string must be written \\t")
            : fail("control character 0x\(String(c, radix: 16)) inside a string must be escaped")
    }

    mutating func escape(into out: inout [UInt8]) throws(JSONError) {
        guard i + 1 < b.count else { throw fail("a string ends inside an escape") }
        let e = b[i + 1]
        switch e {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "u"):
            let escapeStart = i
            var scalar = try hex4(at: i + 2)
            i += 6
            if scalar >= 0xD800, scalar <= 0xDBFF {
                guard i + 1 < b.count, b[i] == 0x5C, b[i + 1] == UInt8(ascii: "u") else {
                    throw JSONError(offset: escapeStart, message: "\\u\(String(scalar, radix: 16, uppercase: true)) is half of a surrogate pair; the low half (\\uDC00–\\uDFFF) must follow")
                }
                let low = try hex4(at: i + 2)
                guard low >= 0xDC00, low <= 0xDFFF else {
                    throw JSONError(offset: escapeStart, message: "\\u\(String(scalar, radix: 16, uppercase: true)) must be followed by a low surrogate (\\uDC00–\\uDFFF)")
                }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                i += 6
            } else if scalar >= 0xDC00, scalar <= 0xDFFF {
                throw JSONError(offset: escapeStart, message: "\\u\(String(scalar, radix: 16, uppercase: true)) is a lone low surrogate")
            }
            appendUTF8(scalar, to: &out)
            return
        default:
            i += 1
            throw fail("unknown escape \\\(found()) (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)")
        }
        i += 2
    }

    func hex4(at k: Int) throws(JSONError) -> UInt32 {
        guard k + 4 <= b.count else { throw JSONError(offset: k, message: "\\u needs four hex digits") }
        var v: UInt32 = 0
        for j in k..<(k + 4) {
            let c = b[j]
            let d: UInt8
            switch c {
            case 0x30...0x39: d = c - 0x30
            case 0x41...0x46: d = c - 0x41 + 10
            case 0x61...0x66: d = c - 0x61 + 10
            default: throw JSONError(offset: j, message: "\\u needs four hex digits")
            }
            v = v << 4 | UInt32(d)
        }
        return v
    }

    func appendUTF8(_ s: UInt32, to out: inout [UInt8]) {
        switch s {
        case 0..<0x80: out.append(UInt8(s))
        case 0x80..<0x800: out += [UInt8(0xC0 | s >> 6), UInt8(0x80 | s & 0x3F)]
        case 0x800..<0x10000: out += [UInt8(0xE0 | s >> 12), UInt8(0x80 | s >> 6 & 0x3F), UInt8(0x80 | s & 0x3F)]
        default: out += [UInt8(0xF0 | s >> 18), UInt8(0x80 | s >> 12 & 0x3F), UInt8(0x80 | s >> 6 & 0x3F), UInt8(0x80 | s & 0x3F)]
        }
    }

    /// The length of the well-formed UTF-8 sequence at `i` (whose first byte is ≥ 0x80).
    func utf8Length() throws(JSONError) -> Int {
        guard let n = UTF8Check.sequenceLength(b, at: i) else { throw fail("the text is not valid UTF-8") }
        return n
    }
}

/// UTF-8 well-formedness (Unicode table 3-7): no overlongs, no surrogates, nothing past U+10FFFF.
enum UTF8Check {
    static func sequenceLength(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Int? {
        let c = b[i]
        func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool { k < b.count && b[k] >= lo && b[k] <= hi }
        switch c {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: return cont(i + 1) ? 2 : nil
        case 0xE0: return cont(i + 1, 0xA0) && cont(i + 2) ? 3 : nil
        case 0xE1...0xEC, 0xEE...0xEF: return cont(i + 1) && cont(i + 2) ? 3 : nil
        case 0xED: return cont(i + 1, 0x80, 0x9F) && cont(i + 2) ? 3 : nil
        case 0xF0: return cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3) ? 4 : nil
        case 0xF1...0xF3: return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : nil
        case 0xF4: return cont(i + 1, 0x80, 0x8F) && cont(i + 2) && cont(i + 3) ? 4 : nil
        default: return nil
        }
    }

    static func isValid(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        while i < b.count {
            if b[i] < 0x80 { i += 1; continue }
            guard let n = sequenceLength(b, at: i) else { return false }
            i += n
        }
        return true
    }
}
