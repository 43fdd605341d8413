import Foundation
import JourneyDiagnostics
import JourneySemantics
import JourneySyntax

let repoRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func journeyFiles(in relative: String) -> [URL] {
    let dir = repoRoot.appendingPathComponent(relative)
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return [] }
    return names.filter { $0.hasSuffix(".journey") }.sorted().map { dir.appendingPathComponent($0) }
}

func source(_ url: URL) throws -> SourceFile {
    SourceFile(path: url.path, bytes: [UInt8](try Data(contentsOf: url)))
}

/// Checks sources given as (path, text) pairs as one project.
func checkProject(_ files: [(String, String)]) -> CheckResult {
    check(files.map { Parser.parse(SourceFile(path: $0.0, text: $0.1)) })
}

/// One expected or reported diagnostic: where it starts and its code.
struct Expectation: Hashable, CustomStringConvertible {
    var line: Int
    var code: String
    var description: String { "\(line): \(code)" }
}

/// The expectation comments of a fixture: `# expect: J0203 J0302` on the line a diagnostic
/// starts on, or `# expect-line N: J0002` anywhere for lines that cannot hold a comment.
func expectations(in file: SourceFile) -> [Expectation] {
    var out: [Expectation] = []
    for c in Lexer.lex(file).comments {
        let text = file.slice(c.span)
        let line = file.location(of: c.span.start).line
        if let r = text.range(of: "# expect:") {
            out += text[r.upperBound...].split(separator: " ").map { Expectation(line: line, code: String($0)) }
        } else if let r = text.range(of: "# expect-line ") {
            let rest = text[r.upperBound...]
            guard let colon = rest.firstIndex(of: ":"), let n = Int(rest[..<colon]) else { continue }
            out += rest[rest.index(after: colon)...].split(separator: " ").map { Expectation(line: n, code: String($0)) }
        }
    }
    return out
}
