import Foundation

/// Which files of a folder belong to a project: every `*.journey` below it, hidden folders and
/// files left out. The CLI and the language server both ask here, so they see the same project.
public enum ProjectFolder {
    /// The paths, sorted; nil when the folder cannot be read.
    public static func journeyFiles(in dir: String) -> [String]? {
        guard let walker = FileManager.default.enumerator(atPath: dir) else { return nil }
        var found: [String] = []
        for case let rel as String in walker where rel.hasSuffix(".journey") {
            if rel.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { continue }
            found.append(dir.hasSuffix("/") ? dir + rel : dir + "/" + rel)
        }
        return found.sorted()
    }
}
