import Foundation
import JourneyDiagnostics
@testable import JourneySyntax

/// The repository root, found from this file's path.
let repoRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func journeyFiles(in relative: String) -> [URL] {
    let dir = repoRoot.appendingPathComponent(relative)
    guard let walker = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil) else { return [] }
    return walker.compactMap { $0 as? URL }.filter { $0.pathExtension == "journey" }.sorted { $0.path < $1.path }
}

func parse(_ text: String, path: String = "test.journey") -> SyntaxTree {
    Parser.parse(SourceFile(path: path, text: text))
}

func read(_ url: URL) throws -> SourceFile {
    SourceFile(path: url.path, bytes: [UInt8](try Data(contentsOf: url)))
}
