#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which files of a folder belong to a project: every `*.journey` below it, hidden folders and
/// files left out. The CLI and the language server both ask here, so they see the same project.
public enum ProjectFolder {
    /// The paths, sorted; nil when the folder cannot be read. A link to a `.journey` file is one
    /// of them; a link to a folder is not followed (a loop of links could not hang the walk).
    /// The walk reads the directories itself (`opendir`): Foundation's enumerator built a URL
    /// and several bridged strings per entry, a tenth of checking a small project.
    public static func journeyFiles(in dir: String) -> [String]? {
        guard let top = opendir(dir) else { return nil }
        var found: [String] = []
        var pending: [(handle: OpaquePointer, path: String)] = [(top, dir.hasSuffix("/") ? String(dir.dropLast()) : dir)]
        if dir == "/" { pending[0].path = "" }
        while let (handle, path) = pending.popLast() {
            defer { closedir(handle) }
            while let entry = readdir(handle) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name.utf8.first == UInt8(ascii: ".") { continue }
                let full = path + "/" + name
                var isDirectory = entry.pointee.d_type == UInt8(DT_DIR)
                if entry.pointee.d_type == UInt8(DT_UNKNOWN) {
                    var info = stat()
                    isDirectory = lstat(full, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
                }
                if isDirectory {
                    if let sub = opendir(full) { pending.append((sub, full)) }
                } else if name.hasSuffix(".journey") {
                    found.append(full)
                }
            }
        }
        return found.sorted()
    }
}
