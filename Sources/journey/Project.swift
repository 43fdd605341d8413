import Foundation
import JourneyDiagnostics
import JourneySyntax

/// A usage or I/O problem: exit code 2.
struct UsageError: Error, CustomStringConvertible {
    var description: String
}

/// The `.journey` files a command was given: files as named, directories searched recursively.
enum ProjectFiles {
    static func collect(_ paths: [String]) throws -> [String] {
        var out: [String] = []
        for path in paths {
            var info = stat()
            guard stat(path, &info) == 0 else {
                throw UsageError(description: "\(path): no such file or directory")
            }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                guard let found = ProjectFolder.journeyFiles(in: path) else { throw UsageError(description: "\(path): cannot read the directory") }
                out.append(contentsOf: found)
            } else {
                out.append(path)
            }
        }
        // One file named twice (`.` and `./x.journey`, or a relative and an absolute path) is one file.
        var seen = Set<String>()
        return out.filter { seen.insert(identity($0)).inserted }
    }

    /// The path a file is known by whatever it was called: absolute, links resolved, `.` and
    /// `..` gone (`realpath`; Foundation's URL methods did the same at ten times the cost).
    static func identity(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else {
            return URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Each file's path relative to the folder that holds them all: what a bundle records, so
    /// the same project built in two folders gives the same bytes.
    static func projectRelative(_ files: [String]) -> [String: String] {
        let absolute = files.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        var root = absolute.first.map { ($0 as NSString).deletingLastPathComponent } ?? ""
        for a in absolute.dropFirst() {
            while !root.isEmpty, root != "/", !a.hasPrefix(root.hasSuffix("/") ? root : root + "/") {
                root = (root as NSString).deletingLastPathComponent
            }
        }
        let prefix = root.hasSuffix("/") ? root : root + "/"
        var out: [String: String] = [:]
        for (f, a) in zip(files, absolute) { out[f] = a.hasPrefix(prefix) ? String(a.dropFirst(prefix.count)) : a }
        return out
    }

    /// Refuses a directory where one file is wanted, saying what to give instead.
    static func requireFile(_ path: String, instead: String) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            throw UsageError(description: "\(path): is a directory; \(instead)")
        }
    }

    static func read(_ path: String) throws -> SourceFile {
        guard let bytes = readBytes(path) else {
            throw UsageError(description: "\(path): cannot read the file")
        }
        return SourceFile(path: path, bytes: bytes)
    }

    /// The project's files (see `collect`) read and parsed (see `parseAll`); none is a usage error.
    static func parsedProject(_ paths: [String]) throws -> (files: [String], trees: [SyntaxTree]) {
        let files = try collect(paths)
        if files.isEmpty { throw UsageError(description: "no .journey files found in \(paths.joined(separator: ", "))") }
        return (files, try parseAll(files))
    }

    /// Reads and parses every file, each file read and parsed by the same worker, spread over
    /// the machine's cores; the trees come back in order, or the first file (in order) that
    /// cannot be read is the error.
    static func parseAll(_ paths: [String]) throws -> [SyntaxTree] {
        let trees = concurrentMap(paths.count) { i in (try? read(paths[i])).map(Parser.parse) }
        return try paths.indices.map { i in try trees[i] ?? Parser.parse(read(paths[i])) }
    }

    /// A whole file's bytes straight into an array (no `Data` in between), or nil.
    static func readBytes(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            return FileManager.default.contents(atPath: path).map { [UInt8]($0) }
        }
        let size = Int(info.st_size)
        var complete = true
        let bytes = [UInt8](unsafeUninitializedCapacity: size + 1) { buffer, initialized in
            initialized = 0
            guard let base = buffer.baseAddress else { return }
            // One byte more than the size asks whether the file grew since it was measured.
            while initialized < buffer.count {
                let n = systemRead(fd, base + initialized, buffer.count - initialized)
                if n < 0, errno == EINTR { continue }
                if n < 0 { complete = false; return }
                if n == 0 { return }
                initialized += n
            }
        }
        if !complete { return nil }
        // A file that grew while it was read: read it the plain way.
        if bytes.count > size { return FileManager.default.contents(atPath: path).map { [UInt8]($0) } }
        return bytes
    }
}

/// The system's read(2), named apart from `ProjectFiles.read`.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, buffer, count)
}

/// Writes to standard error.
func printError(_ s: String) {
    FileHandle.standardError.write(Data((s.hasSuffix("\n") ? s : s + "\n").utf8))
}

/// Writes to standard output without Swift's per-call buffering surprises.
func write(_ s: String) {
    FileHandle.standardOutput.write(Data(s.utf8))
}

/// Colour only on a terminal, and never when NO_COLOR is set.
func useColour(_ fd: Int32) -> Bool {
    if let v = ProcessInfo.processInfo.environment["NO_COLOR"], !v.isEmpty { return false }
    return isatty(fd) == 1
}
