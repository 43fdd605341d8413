import Foundation
import XCTest

let repoRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Runs the built `journey` binary; one still running after `timeout` seconds is killed (exit
/// status 9 from the signal), so a hang fails its test instead of the suite.
func journey(_ args: [String], cwd: URL = repoRoot, env: [String: String] = [:], timeout: Double = 300) throws -> (code: Int32, out: String, err: String) {
    try runProgram(Bundle.main.bundleURL.appendingPathComponent("journey"), args, cwd: cwd, env: env, timeout: timeout)
}

/// Runs a program to its end (killed after `timeout` seconds): its status, output and errors.
func runProgram(_ url: URL, _ args: [String], cwd: URL = repoRoot, env: [String: String] = [:], timeout: Double = 300) throws -> (code: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = url
    p.arguments = args
    p.currentDirectoryURL = cwd
    var environment = ProcessInfo.processInfo.environment
    environment.merge(env) { $1 }
    p.environment = environment
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let killer = DispatchWorkItem { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
    defer { killer.cancel() }
    // Standard error is read beside standard output: a child that fills one pipe while the
    // other is being read would otherwise wait forever.
    nonisolated(unsafe) var e = Data()
    let errRead = DispatchWorkItem { e = err.fileHandleForReading.readDataToEndOfFile() }
    DispatchQueue.global().async(execute: errRead)
    let o = out.fileHandleForReading.readDataToEndOfFile()
    errRead.wait()
    p.waitUntilExit()
    // Closed here, not when Foundation lets go of the pipes (it kept them: a suite of a few
    // hundred runs held a thousand descriptors, and Foundation's run loop cannot watch one
    // numbered past 1024).
    try? out.fileHandleForReading.close()
    try? err.fileHandleForReading.close()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

func tempDir() throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("journey-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}

let badJourney = """
journey bad "Bad" {
  on cart_abandoned as cart
  goal order_placed
  push "Hi {profile.frist_name}, 100% off, {cart.cart_id}"
}

"""

final class CheckCommandTests: XCTestCase {
    func project() throws -> URL {
        let d = try tempDir()
        try FileManager.default.copyItem(at: repoRoot.appendingPathComponent("Tests/Fixtures/snapshots/schema.journey"), to: d.appendingPathComponent("schema.journey"))
        try badJourney.write(to: d.appendingPathComponent("bad.journey"), atomically: true, encoding: .utf8)
        return d
    }

    func testExamplesAreClean() throws {
        let r = try journey(["check", "examples"])
        XCTAssertEqual(r.code, 0, r.out)
        XCTAssertTrue(r.out.hasSuffix("0 errors, 0 warnings\n"), r.out)
    }

    func testErrorsExitOneWithRenderedDiagnostic() throws {
        let d = try project()
        let r = try journey(["check", "."], cwd: d, env: ["NO_COLOR": "1"])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.out.contains("./bad.journey:4:21: error[J0203]: `profile.frist_name` is not a profile attribute; did you mean `first_name`?"), r.out)
        // The suggestion is said once, in the message; the help says what to do in general.
        XCTAssertEqual(r.out.components(separatedBy: "first_name").count - 1, 1, r.out)
        XCTAssertTrue(r.out.contains("help: Use an attribute declared in 'profile { … }', or declare it there."), r.out)
        XCTAssertFalse(r.out.contains("\u{1B}["))
    }

    func testUsageAndIOErrorsExitTwo() throws {
        XCTAssertEqual(try journey(["check", "no/such/dir"]).code, 2)
        XCTAssertEqual(try journey(["check", "--format", "xml", "examples"]).code, 2)
        XCTAssertEqual(try journey(["check", "--no-such-flag", "examples"]).code, 2)
        XCTAssertEqual(try journey(["check"]).code, 2)
        XCTAssertEqual(try journey(["frobnicate"]).code, 2)
        XCTAssertEqual(try journey(["--help"]).code, 0)
    }

    /// `journey check` reads its usual command lines itself (`Check.Options`, no reflection)
    /// and leaves everything else to ArgumentParser: one request spelled either way does the
    /// same, and what the short way does not read still gets ArgumentParser's help and errors.
    func testCheckCommandLinesMeanTheSameEitherWay() throws {
        let d = try project()
        let json = try journey(["check", "--format", "json", "."], cwd: d)
        XCTAssertEqual(json.code, 1)
        XCTAssertTrue(json.out.contains("\"J0203\""), json.out)
        // The last line is ArgumentParser's way (an option given twice is not read directly).
        for args in [["check", "--format=json", "."], ["check", ".", "--format", "json"], ["check", "--color", "never", "--format", "json", "--", "."],
                     ["check", "--color=always", "--format", "json", "--color", "always", "."]] {
            let r = try journey(args, cwd: d)
            XCTAssertEqual(r.code, json.code, "\(args)")
            XCTAssertEqual(r.out, json.out, "\(args)")
        }
        let text = try journey(["check", "--color", "never", "."], cwd: d)
        XCTAssertTrue(text.out.contains("./bad.journey:4:21: error[J0203]"), text.out)
        XCTAssertFalse(text.out.contains("\u{1B}["), text.out)
        XCTAssertTrue(try journey(["check", "--color", "always", "."], cwd: d).out.contains("\u{1B}["))
        // A path that starts with '-' comes after '--'.
        try FileManager.default.moveItem(at: d.appendingPathComponent("bad.journey"), to: d.appendingPathComponent("-bad.journey"))
        let dashed = try journey(["check", "--format", "github", "--", "schema.journey", "-bad.journey"], cwd: d)
        XCTAssertEqual(dashed.code, 1, dashed.err)
        XCTAssertTrue(dashed.out.hasPrefix("::error file=-bad.journey,line=4,col=21"), dashed.out)
        // Warnings alone: exit 0, or 1 when they are denied (either way of writing it).
        try "journey w {\n  on cart_abandoned as cart\n  push \"{cart.cart_id}\"\n}\n".write(to: d.appendingPathComponent("-bad.journey"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try journey(["check", "."], cwd: d).code, 0)
        XCTAssertEqual(try journey(["check", "--deny-warnings", "."], cwd: d).code, 1)
        XCTAssertEqual(try journey(["check", ".", "--deny-warnings", "--deny-warnings"], cwd: d).code, 1)
        // What only ArgumentParser reads.
        let help = try journey(["check", "--help"], cwd: d)
        XCTAssertEqual(help.code, 0)
        XCTAssertTrue(help.out.contains("USAGE: journey check") && help.out.contains("--deny-warnings"), help.out)
        for bad in [["check", "--format"], ["check", "--format", "xml", "."], ["check", "--deny-warnings=yes", "."], ["check", "--frmat", "json", "."],
                    ["check", "--format", "--deny-warnings", "."], ["check", "--deny-warnings"]] {
            let r = try journey(bad, cwd: d)
            XCTAssertEqual(r.code, 2, "\(bad): \(r.out)")
            XCTAssertTrue(r.err.contains("Error:") || r.err.contains("error:"), "\(bad): \(r.err)")
        }
    }

    func testJSON() throws {
        let d = try project()
        let r = try journey(["check", "--format", "json", "."], cwd: d)
        XCTAssertEqual(r.code, 1)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let diags = try XCTUnwrap(doc["diagnostics"] as? [[String: Any]])
        XCTAssertEqual(diags.count, 1)
        let first = diags[0]
        XCTAssertEqual(first["code"] as? String, "J0203")
        XCTAssertEqual(first["severity"] as? String, "error")
        XCTAssertEqual(first["file"] as? String, "./bad.journey")
        XCTAssertEqual(first["hint"] as? String, "Use an attribute declared in 'profile { … }', or declare it there.")
        let start = try XCTUnwrap((first["span"] as? [String: Any])?["start"] as? [String: Any])
        XCTAssertEqual(start["line"] as? Int, 4)
        XCTAssertEqual(start["column"] as? Int, 21)
    }

    func testSARIFHasWhatCodeScanningNeeds() throws {
        let d = try project()
        let r = try journey(["check", "--format", "sarif", "."], cwd: d)
        XCTAssertEqual(r.code, 1)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        XCTAssertEqual(doc["version"] as? String, "2.1.0")
        XCTAssertNotNil(doc["$schema"] as? String)
        let run = try XCTUnwrap((doc["runs"] as? [[String: Any]])?.first)
        let driver = try XCTUnwrap((run["tool"] as? [String: Any])?["driver"] as? [String: Any])
        XCTAssertEqual(driver["name"] as? String, "journey")
        let rules = try XCTUnwrap(driver["rules"] as? [[String: Any]])
        XCTAssertGreaterThan(rules.count, 30)
        for rule in rules {
            XCTAssertNotNil(rule["id"] as? String)
            for key in ["shortDescription", "fullDescription", "help"] {
                XCTAssertNotNil((rule[key] as? [String: Any])?["text"] as? String, "\(rule["id"] ?? "?") \(key)")
            }
        }
        let result = try XCTUnwrap((run["results"] as? [[String: Any]])?.first)
        XCTAssertEqual(result["ruleId"] as? String, "J0203")
        XCTAssertEqual(result["level"] as? String, "error")
        XCTAssertNotNil((result["message"] as? [String: Any])?["text"] as? String)
        let loc = try XCTUnwrap(((result["locations"] as? [[String: Any]])?.first?["physicalLocation"]) as? [String: Any])
        XCTAssertEqual((loc["artifactLocation"] as? [String: Any])?["uri"] as? String, "bad.journey")
        let region = try XCTUnwrap(loc["region"] as? [String: Any])
        XCTAssertEqual(region["startLine"] as? Int, 4)
        XCTAssertEqual(region["startColumn"] as? Int, 21)
        XCTAssertEqual(region["endLine"] as? Int, 4)
        XCTAssertEqual(region["endColumn"] as? Int, 31)
    }

    func testGitHubAnnotationsEscape() throws {
        let d = try project()
        let r = try journey(["check", "--format", "github", "."], cwd: d)
        XCTAssertEqual(r.code, 1)
        let line = try XCTUnwrap(r.out.split(separator: "\n").first)
        XCTAssertTrue(line.hasPrefix("::error file=./bad.journey,line=4,col=21,endLine=4,endColumn=31,title=J0203 unknown-attribute::"), String(line))
        XCTAssertTrue(line.contains("%0Ahelp: Use an attribute declared in 'profile { … }', or declare it there."), String(line))
        XCTAssertEqual(line.components(separatedBy: "first_name").count - 1, 1, String(line))
        XCTAssertEqual(r.out.split(separator: "\n").count, 1)
    }

    func testAFileNamedTwiceIsOneFile() throws {
        let d = try project()
        try "journey w {\n  on cart_abandoned as cart\n  goal order_placed\n  push \"{cart.cart_id}\"\n}\n".write(to: d.appendingPathComponent("bad.journey"), atomically: true, encoding: .utf8)
        let r = try journey(["check", ".", "bad.journey", d.appendingPathComponent("bad.journey").path], cwd: d)
        XCTAssertEqual(r.code, 0, r.out)
    }

    func testWarningsAloneExitZero() throws {
        let d = try project()
        try "journey w {\n  on cart_abandoned as cart\n  push \"{cart.cart_id}\"\n}\n".write(to: d.appendingPathComponent("bad.journey"), atomically: true, encoding: .utf8)
        let r = try journey(["check", "--format", "json", "."], cwd: d)
        XCTAssertEqual(r.code, 0, r.out)
        XCTAssertTrue(r.out.contains("J0503"))
    }
}

final class FormatCommandTests: XCTestCase {
    func testCheckListsAndRewriteFixes() throws {
        let d = try tempDir()
        let messy = d.appendingPathComponent("m.journey")
        try "journey m {\non e\n   wait 1h\n}\n".write(to: messy, atomically: true, encoding: .utf8)
        let clean = d.appendingPathComponent("c.journey")
        try "journey c {\n  on e\n}\n".write(to: clean, atomically: true, encoding: .utf8)
        var r = try journey(["fmt", "--check", d.path])
        XCTAssertEqual(r.code, 1)
        XCTAssertEqual(r.out, messy.path + "\n")
        r = try journey(["fmt", d.path])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(try String(contentsOf: messy, encoding: .utf8), "journey m {\n  on e\n  wait 1h\n}\n")
        r = try journey(["fmt", "--check", d.path])
        XCTAssertEqual(r.code, 0)
        XCTAssertEqual(r.out, "")
    }

    func testRefusesParseErrorsAndLeavesFileUntouched() throws {
        let d = try tempDir()
        let broken = d.appendingPathComponent("b.journey")
        let text = "journey b {\non e\n  wait\n}\n"
        try text.write(to: broken, atomically: true, encoding: .utf8)
        let r = try journey(["fmt", broken.path])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("error[J0101]"), r.err)
        XCTAssertEqual(try String(contentsOf: broken, encoding: .utf8), text)
    }
}
