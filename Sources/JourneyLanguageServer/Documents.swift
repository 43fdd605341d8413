import Foundation
import JourneyDiagnostics
import JourneySemantics
import JourneySyntax

/// LSP positions count UTF-16 code units; spans count bytes. These convert between the two.
extension SourceFile {
    func position(of offset: Int) -> [String: Int] {
        let line = lineIndex(of: min(max(offset, 0), bytes.count))
        let start = lineStarts[line]
        let prefix = String(decoding: bytes[start..<min(max(offset, start), bytes.count)], as: UTF8.self)
        return ["line": line, "character": prefix.utf16.count]
    }

    func range(_ span: Span) -> [String: Any] {
        ["start": position(of: span.start), "end": position(of: span.end)]
    }

    /// The byte offset of an LSP position (clamped to the line).
    func offset(line: Int, character: Int) -> Int {
        guard line >= 0, line < lineStarts.count else { return bytes.count }
        let start = lineStarts[line]
        var end = line + 1 < lineStarts.count ? lineStarts[line + 1] : bytes.count
        while end > start, bytes[end - 1] == UInt8(ascii: "\n") || bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        var units = 0
        var i = start
        while i < end, units < character {
            let b = bytes[i]
            let len = b < 0x80 ? 1 : (b < 0xE0 ? 2 : (b < 0xF0 ? 3 : 4))
            units += len == 4 ? 2 : 1
            i += len
        }
        return min(i, end)
    }
}

/// A checked view of a project folder, with the open documents' unsaved text laid over it.
struct Analysis {
    var sources: [SourceFile]
    var trees: [SyntaxTree]
    var result: CheckResult

    /// All `.journey` files under `root` plus the open documents (their text wins).
    static func run(root: String?, documents: [String: String]) -> Analysis {
        var texts: [String: String] = [:]
        if let root {
            for path in ProjectFolder.journeyFiles(in: root) ?? [] {
                if let t = try? String(contentsOfFile: path, encoding: .utf8) { texts[path] = t }
            }
        }
        let folder = root.map { $0.hasSuffix("/") ? $0 : $0 + "/" }
        for (path, text) in documents where folder == nil || path.hasPrefix(folder ?? "") { texts[path] = text }
        let sources = texts.keys.sorted().map { SourceFile(path: $0, text: texts[$0] ?? "") }
        let trees = sources.map(Parser.parse)
        return Analysis(sources: sources, trees: trees, result: check(trees))
    }

    func tree(_ path: String) -> SyntaxTree? { trees.first { $0.source.path == path } }
}

/// The word (identifier) around an offset, and what precedes it.
struct WordContext {
    var word: String
    var span: Span
    /// The identifier before a `.` right before the word (`profile` in `profile.first_name`).
    var qualifier: String?
    /// The text of the line before the word.
    var linePrefix: String

    init(_ file: SourceFile, at offset: Int) {
        let b = file.bytes
        func isIdent(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 }
        var s = min(offset, b.count), e = min(offset, b.count)
        while s > 0, isIdent(b[s - 1]) { s -= 1 }
        while e < b.count, isIdent(b[e]) { e += 1 }
        word = String(decoding: b[s..<e], as: UTF8.self)
        span = Span(s, e)
        if s > 0, b[s - 1] == UInt8(ascii: ".") {
            var q = s - 1
            while q > 0, isIdent(b[q - 1]) { q -= 1 }
            qualifier = String(decoding: b[q..<(s - 1)], as: UTF8.self)
        }
        let lineStart = file.lineStarts[file.lineIndex(of: s)]
        linePrefix = String(decoding: b[lineStart..<s], as: UTF8.self)
    }
}
