import Foundation
import XCTest

/// Issue 9, item 6: deep nesting used to overflow the stack (SIGSEGV) in check, fmt, build and
/// the language server at about 4,500 levels. Each shape is now a J0109 diagnostic.
final class NestingTests: XCTestCase {
    let schema = "profile { first_name: string, email: string? }\nevent signup { source: string }\nchannel email address profile.email\n"

    /// A journey whose one condition (or body) is `inner`.
    func journeyWith(condition inner: String) -> String {
        "journey deep {\n  on signup as s\n  goal signup\n  if \(inner) {\n    email \"x\"\n  }\n}\n"
    }

    var shapes: [(String, String)] {
        let n = 5000
        return [
            ("parentheses", journeyWith(condition: String(repeating: "(", count: n) + "true" + String(repeating: ")", count: n))),
            ("a flat sum", journeyWith(condition: Array(repeating: "1", count: n).joined(separator: " + ") + " > 1")),
            ("a chain of and", journeyWith(condition: Array(repeating: "true", count: n).joined(separator: " and "))),
            ("not not", journeyWith(condition: String(repeating: "not ", count: n) + "true")),
            ("minus minus", journeyWith(condition: String(repeating: "- ", count: n) + "1 > 0")),
            ("coalesce", journeyWith(condition: Array(repeating: "profile.email", count: n).joined(separator: " ?? ") + " == \"a\"")),
            ("field chains", journeyWith(condition: "s" + String(repeating: ".source", count: n) + " == \"a\"")),
            ("blocks", "journey deep {\n  on signup\n  goal signup\n" + String(repeating: "if true {\n", count: n) + "email \"x\"\n" + String(repeating: "}\n", count: n) + "}\n"),
            ("interpolations", "journey deep {\n  on signup\n  goal signup\n  email " + String(repeating: "\"{", count: n) + "1" + String(repeating: "}\"", count: n) + "\n}\n"),
            ("message blocks", "journey deep {\n  on signup\n  goal signup\n  email " + String(repeating: "{ body: ", count: 1) + String(repeating: "{ a: ", count: n) + "\"x\"" + String(repeating: " }", count: n + 1) + "\n}\n"),
        ]
    }

    func testDeepNestingIsADiagnosticEverywhere() throws {
        for (what, source) in shapes {
            let d = try tempDir()
            try schema.write(to: d.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
            let file = d.appendingPathComponent("deep.journey")
            try source.write(to: file, atomically: true, encoding: .utf8)
            let checked = try journey(["check", d.path], env: ["NO_COLOR": "1"], timeout: 60)
            XCTAssertEqual(checked.code, 1, "\(what): check \(checked.err)")
            XCTAssertTrue(checked.out.contains("J0109"), "\(what): \(checked.out.prefix(600))")
            let built = try journey(["build", "-o", d.appendingPathComponent("b.journeyc").path, d.path], timeout: 60)
            XCTAssertEqual(built.code, 1, "\(what): build \(built.err.prefix(300))")
            let formatted = try journey(["fmt", "--check", file.path], timeout: 60)
            XCTAssertTrue(formatted.code == 1 || formatted.code == 2, "\(what): fmt exited \(formatted.code)")
        }
    }

    /// Exactly at the limit is fine; one more level is not.
    func testTheLimitIsExact() throws {
        let d = try tempDir()
        try schema.write(to: d.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
        // The condition `(((true)))` with k parentheses is k + 1 deep; the `if` itself adds nothing.
        for (k, expected) in [(98, Int32(0)), (101, Int32(1))] {
            let source = journeyWith(condition: String(repeating: "(", count: k) + "true" + String(repeating: ")", count: k))
            try source.write(to: d.appendingPathComponent("deep.journey"), atomically: true, encoding: .utf8)
            let r = try journey(["check", d.path], env: ["NO_COLOR": "1"])
            XCTAssertEqual(r.code, expected, "\(k) parentheses: \(r.out.prefix(400))")
        }
    }

    /// The language server answers about a file nested 5,000 deep and carries on.
    func testTheLanguageServerSurvivesAnyFile() throws {
        let d = try tempDir()
        try schema.write(to: d.appendingPathComponent("schema.journey"), atomically: true, encoding: .utf8)
        let uri = d.appendingPathComponent("deep.journey").absoluteString
        func frame(_ json: String) -> String { "Content-Length: \(json.utf8.count)\r\n\r\n\(json)" }
        var input = frame(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"rootUri":"\#(d.absoluteString)","capabilities":{}}}"#)
        input += frame(#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#)
        for (k, (_, source)) in shapes.enumerated() {
            let text = JSONEscape.quote(source)
            input += frame(#"{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"\#(uri)\#(k)","languageId":"journey","version":1,"text":\#(text)}}}"#)
            input += frame(#"{"jsonrpc":"2.0","id":\#(10 + k),"method":"textDocument/hover","params":{"textDocument":{"uri":"\#(uri)\#(k)"},"position":{"line":3,"character":6}}}"#)
            input += frame(#"{"jsonrpc":"2.0","id":\#(100 + k),"method":"textDocument/formatting","params":{"textDocument":{"uri":"\#(uri)\#(k)"},"options":{"tabSize":2,"insertSpaces":true}}}"#)
        }
        input += frame(#"{"jsonrpc":"2.0","id":999,"method":"shutdown"}"#)
        input += frame(#"{"jsonrpc":"2.0","method":"exit"}"#)
        let inFile = d.appendingPathComponent("in.lsp")
        try input.write(to: inFile, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = Bundle.main.bundleURL.appendingPathComponent("journey")
        p.arguments = ["lsp"]
        p.standardInput = try FileHandle(forReadingFrom: inFile)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let killer = DispatchWorkItem { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 120, execute: killer)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        killer.cancel()
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertEqual(p.terminationReason, .exit, "the server died of a signal")
        XCTAssertTrue(text.contains(#""id":999"#), "no answer to shutdown: \(text.suffix(500))")
        XCTAssertTrue(text.contains("J0109"), "no nesting diagnostic published")
    }
}

/// JSON string quoting for test inputs (Foundation's encoder).
enum JSONEscape {
    static func quote(_ s: String) -> String {
        (try? JSONEncoder().encode(s)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
    }
}
