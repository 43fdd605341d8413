#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A half-open range of byte offsets into one source file.
public struct Span: Sendable, Hashable, Codable {
    // Stored as 32-bit offsets: tokens and nodes stay small (files are far below 2 GiB).
    private var lo: Int32
    private var hi: Int32

    public var start: Int {
        get { Int(lo) }
        set { lo = Int32(truncatingIfNeeded: newValue) }
    }
    public var end: Int {
        get { Int(hi) }
        set { hi = Int32(truncatingIfNeeded: newValue) }
    }

    public init(_ start: Int, _ end: Int) {
        self.lo = Int32(truncatingIfNeeded: start)
        self.hi = Int32(truncatingIfNeeded: max(start, end))
    }

    /// The smallest span covering both.
    public func merged(with other: Span) -> Span {
        Span(min(start, other.start), max(end, other.end))
    }

    public var isEmpty: Bool { start == end }
}

/// A 1-based line and column (column counted in Unicode scalars, as editors and SARIF expect).
public struct LineColumn: Sendable, Hashable, Codable {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }
}

/// One source file: its path as the user named it, its UTF-8 bytes, and where its lines start.
public struct SourceFile: Sendable {
    public let path: String
    public let bytes: [UInt8]
    /// Byte offset of the first byte of each line.
    public let lineStarts: [Int]

    public init(path: String, bytes: [UInt8]) {
        self.path = path
        self.bytes = bytes
        var starts = [0]
        starts.reserveCapacity(bytes.count / 24 + 1)
        bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            // memchr finds each line break many bytes at a time.
            var at = 0
            while at < buffer.count, let hit = memchr(base + at, 0x0A, buffer.count - at) {
                let i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                starts.append(i + 1)
                at = i + 1
            }
        }
        self.lineStarts = starts
    }

    public init(path: String, text: String) {
        self.init(path: path, bytes: Array(text.utf8))
    }

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The 0-based index of the line holding `offset`.
    public func lineIndex(of offset: Int) -> Int {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// Line and column of a byte offset; the column counts scalars, not bytes.
    public func location(of offset: Int) -> LineColumn {
        let clamped = min(max(offset, 0), bytes.count)
        let line = lineIndex(of: clamped)
        var column = 1
        var i = lineStarts[line]
        while i < clamped {
            // Count only the first byte of each UTF-8 sequence.
            if bytes[i] & 0xC0 != 0x80 { column += 1 }
            i += 1
        }
        return LineColumn(line: line + 1, column: column)
    }

    /// The text of a 0-based line, without its line break.
    public func lineText(_ index: Int) -> String {
        guard index >= 0, index < lineStarts.count else { return "" }
        let start = lineStarts[index]
        var end = index + 1 < lineStarts.count ? lineStarts[index + 1] : bytes.count
        while end > start, bytes[end - 1] == UInt8(ascii: "\n") || bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    /// The text a span covers.
    public func slice(_ span: Span) -> String {
        let s = min(max(span.start, 0), bytes.count), e = min(max(span.end, s), bytes.count)
        return String(decoding: bytes[s..<e], as: UTF8.self)
    }
}
