import Foundation
import XCTest

/// Runs the editor suite (TextMate grammar, Vim syntax, and the language server driven by a real
/// LSP client, pytest-lsp) against this build, so `swift test` covers the editors too. `.ci/run`
/// installs the Python packages into `.venv-ci`; elsewhere the first Python that has pytest runs it.
final class EditorSuiteTests: XCTestCase {
    /// The first Python that can run the whole suite, else the first that can run all but the
    /// language-server tests (which pytest then leaves out).
    func python() -> String? {
        python(importing: "pytest, regex, pytest_lsp") ?? python(importing: "pytest, regex")
    }

    func python(importing modules: String) -> String? { findPython(importing: modules) }

    func testEditorSuite() throws {
        guard let python = python() else {
            throw XCTSkip("no Python with pytest and regex; run .ci/run (or pip install -r editors/tests/requirements.txt)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-m", "pytest", "editors/tests", "-q", "-p", "no:cacheprovider"]
        p.currentDirectoryURL = repoRoot
        var env = ProcessInfo.processInfo.environment
        env["JOURNEY_BIN"] = Bundle.main.bundleURL.appendingPathComponent("journey").path
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, text)
        let summary = text.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(summary.contains("passed"), summary)
        print("editor suite (\(python)): \(summary)")
    }
}

/// The first Python (JOURNEY_PYTHON, the CI venv, the system's, then PATH) that imports these modules.
func findPython(importing modules: String) -> String? {
    var candidates: [String] = []
    if let p = ProcessInfo.processInfo.environment["JOURNEY_PYTHON"] { candidates.append(p) }
    candidates += [".venv-ci/bin/python", ".venv-lsp/bin/python"].map { repoRoot.appendingPathComponent($0).path }
    candidates += ["/usr/bin/python3", "/usr/local/bin/python3"]
    let which = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/python3" }
    for c in candidates + which where FileManager.default.isExecutableFile(atPath: c) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: c)
        p.arguments = ["-c", "import \(modules)"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { continue }
        p.waitUntilExit()
        if p.terminationStatus == 0 { return c }
    }
    return nil
}
