import Foundation
import JourneyDiagnostics
/// A rejected input line: where and why, and the raw text (kept in the rejects table).
public struct InputError: Error, Sendable, Hashable, CustomStringConvertible {
    /// 1-based line in the input file (for a CSV row, the line where the row starts).
    public var line: Int
    /// What is wrong, in words a person can act on; names the field concerned.
    public var reason: String
    /// The line as it was read, cut to `InputError.rawLimit` characters.
    public var raw: String

    public static let rawLimit = 1000
    /// A reason quotes what it found; a name of megabytes is cut, so no reject is bigger than
    /// a few kilobytes whatever the line held.
    public static let reasonLimit = 1000

    public init(line: Int, reason: String, raw: String) {
        self.line = line
        self.reason = InputError.clip(reason, to: InputError.reasonLimit)
        self.raw = raw
    }

    /// At most `limit` characters, with "…" when cut.
    public static func clip(_ s: String, to limit: Int) -> String {
        guard s.utf8.count > limit else { return s }
        return String(s.prefix(limit)) + "…"
    }

    public var description: String { "line \(line): \(reason)" }
}

// MARK: - Lines

enum InputLines {
    /// Calls `body` with each non-blank line of `bytes` and its 1-based number. A trailing `\r` is
    /// dropped, and so is a UTF-8 byte-order mark at the start of the input.
    static func forEach(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (Int, UnsafeBufferPointer<UInt8>) -> Void) {
        forEach(bytes) { number, _, line in body(number, line) }
    }

    /// The same, with each line's offset in `bytes`.
    static func forEach(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (Int, Int, UnsafeBufferPointer<UInt8>) -> Void) {
        var start = 0
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { start = 3 }
        var number = 1
        while start < bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            var stop = end
            if stop > start, bytes[stop - 1] == 0x0D { stop -= 1 }
            let line = UnsafeBufferPointer(rebasing: bytes[start..<stop])
            if !isBlank(line) { body(number, start, line) }
            number += 1
            start = end + 1
        }
    }

    static func isBlank(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        for c in line where !(c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0B || c == 0x0C) { return false }
        return true
    }

    /// The text kept with a reject: the bytes as UTF-8 (invalid bytes replaced), at most
    /// `InputError.rawLimit` characters.
    static func raw(_ bytes: some Collection<UInt8>) -> String {
        let s = String(decoding: bytes, as: UTF8.self)
        guard s.utf8.count > InputError.rawLimit else { return s }
        return String(s.prefix(InputError.rawLimit))
    }
}

// MARK: - Profile ids

/// What every input (event lines, profile lines, CSV rows) accepts as a profile id: non-empty
/// text of at most `maxBytes` UTF-8 bytes without control characters. A NUL or a line break in an
/// id would make two customers look alike to some tool down the line, so such ids are refused
/// at the door, not stored.
public enum ProfileID {
    public static let maxBytes = 256

    /// Why `id` cannot be a profile id (completing "the profile id …"), or nil when it can.
    public static func problem(_ id: String) -> String? {
        if id.isEmpty { return "is empty" }
        // Printable ASCII (the usual id) has none of the problems below.
        if id.utf8.count <= maxBytes, id.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return nil }
        if id.utf8.count > maxBytes { return "is \(id.utf8.count) bytes long; an id is at most \(maxBytes) bytes" }
        for (k, u) in id.unicodeScalars.enumerated() where isControl(u) {
            let code = "U+" + String(repeating: "0", count: max(0, 4 - String(u.value, radix: 16).count)) + String(u.value, radix: 16, uppercase: true)
            return "contains the control character \(code) (character \(k + 1)); an id may not contain control characters"
        }
        // `é` written as one code point and as `e` and a combining accent are one id to Swift
        // (and to the runtime's caches) but two to SQLite: only the composed form (Unicode's
        // NFC) is taken, so that no two stored ids can be mistaken for each other.
        if id.utf8.contains(where: { $0 >= 0x80 }), !id.utf8.elementsEqual(id.precomposedStringWithCanonicalMapping.utf8) {
            return "is not in Unicode's composed form (NFC): a character in it is written decomposed (such as e and a combining accent for é); send the id normalised to NFC"
        }
        return nil
    }

    /// C0 and C1 control characters and DEL.
    public static func isControl(_ u: Unicode.Scalar) -> Bool { u.value < 0x20 || (0x7F...0x9F).contains(u.value) }
}

// MARK: - Did you mean

enum Suggestion {
    /// The candidate closest to `name` by edit distance (a transposition counts as one edit,
    /// case is ignored), if it is close enough to be a likely typo.
    static func closest(to name: String, among candidates: some Sequence<String>) -> String? {
        suggestion(for: name, among: candidates)
    }

    /// "; did you mean "x"?" or nothing.
    static func hint(_ name: String, among candidates: some Sequence<String>) -> String {
        closest(to: name, among: candidates).map { "; did you mean \(JSON.quote($0))?" } ?? ""
    }
}

// MARK: - Describing what was found

enum Found {
    /// A short rendering of a JSON value for "found …" in a message.
    static func describe(_ v: JSONValue) -> String {
        switch v {
        case .null: "null"
        case .bool(let b): b ? "true" : "false"
        case .number(let n): clip(n)
        case .string(let s): s.isEmpty ? "an empty string" : JSON.quote(clip(s))
        case .array(let a): a.isEmpty ? "an empty list" : "a list"
        case .object: "an object"
        }
    }

    /// A CSV cell for "found …".
    static func describe(cell: String) -> String {
        cell.isEmpty ? "an empty cell" : JSON.quote(clip(cell))
    }

    static func clip(_ s: String) -> String {
        s.utf8.count <= 40 ? s : String(s.prefix(40)) + "…"
    }
}
