#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which files of a folder belong to a project: every `*.journey` below it, hidden folders and
/// files left out. The CLI and the language server both ask here, so they see the same project.
public enum ProjectFolder {
    /// The paths, sorted; nil when the folder cannot be read. A link to a `.journey` file is one
    /// of them; a link to a folder is not followed (a loop of links could not hang the walk),
    /// nor is a folder on another file system (a mount inside the project). The walk reads the
    /// directories itself (`opendir`), one open at a time: Foundation's enumerator built a URL
    /// and several bridged strings per entry, a tenth of checking a small project.
    public static func journeyFiles(in dir: String) -> [String]? {
        var info = stat()
        guard stat(dir, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR, let top = opendir(dir) else { return nil }
        let device = info.st_dev
        var found: [String] = []
        var pending: [String] = []
        var handle: OpaquePointer? = top
        var path = dir == "/" ? "" : (dir.hasSuffix("/") ? String(dir.dropLast()) : dir)
        while let current = handle {
            while let entry = readdir(current) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name.utf8.first == UInt8(ascii: ".") { continue }
                let full = path + "/" + name
                let type = entry.pointee.d_type
                if type == UInt8(DT_DIR) || type == UInt8(DT_UNKNOWN) {
                    var sub = stat()
                    if lstat(full, &sub) == 0, (sub.st_mode & S_IFMT) == S_IFDIR {
                        if sub.st_dev == device { pending.append(full) }
                        continue
                    }
                }
                if name.hasSuffix(".journey") { found.append(full) }
            }
            closedir(current)
            handle = nil
            // The next folder; one that cannot be opened (no permission) is left out, as
            // Foundation's enumerator left it.
            while handle == nil, let next = pending.popLast() {
                handle = opendir(next)
                path = next
            }
        }
        return found.sorted()
    }
}
