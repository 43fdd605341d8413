import Foundation
import JourneyRuntime

/// The results of a test run as a person or a CI system reads them.
public enum TestReport {
    /// ✓/✗ per test with its time; for a failure, where, what, and the profile's timeline.
    public static func text(_ results: [TestOutcome], seconds: Double, colour: Bool = false) -> String {
        func paint(_ s: String, _ code: String) -> String { colour ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
        var out = ""
        for r in results.sorted(by: { ($0.file, $0.line) < ($1.file, $1.line) }) {
            let ms = String(format: "%.1f ms", r.seconds * 1000)
            out += (r.passed ? paint("✓", "32") : paint("✗", "31")) + " \(r.name)  (\(r.file):\(r.line), \(ms))\n"
            if let e = r.error { out += "    the test could not run: \(e)\n" }
            for f in r.failures {
                out += "    \(r.file):\(f.line):\(f.column): \(f.source)\n"
                out += "      " + paint(f.message, "31") + "\n"
                out += "      what happened:\n"
                for l in f.timeline { out += "        \(l)\n" }
            }
        }
        let failed = results.filter { !$0.passed }.count
        out += "\n\(results.count - failed) passed, \(failed) failed, \(results.count) test\(results.count == 1 ? "" : "s") in " + String(format: "%.2f s", seconds) + "\n"
        return out
    }

    /// JUnit XML, as CI systems show it.
    public static func junit(_ results: [TestOutcome], seconds: Double) -> String {
        func x(_ s: String) -> String {
            var out = ""
            for u in s.unicodeScalars {
                switch u {
                case "&": out += "&amp;"
                case "<": out += "&lt;"
                case ">": out += "&gt;"
                case "\"": out += "&quot;"
                case "'": out += "&apos;"
                default:
                    // XML 1.0 cannot hold most control characters, even escaped.
                    if u.value < 0x20 && u != "\n" && u != "\t" && u != "\r" { out += "?" } else { out.unicodeScalars.append(u) }
                }
            }
            return out
        }
        let failed = results.filter { !$0.failures.isEmpty }.count, errors = results.filter { $0.error != nil }.count
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuites name=\"journey test\" tests=\"\(results.count)\" failures=\"\(failed)\" errors=\"\(errors)\" time=\"\(String(format: "%.3f", seconds))\">\n"
        var byFile: [String: [TestOutcome]] = [:]
        for r in results { byFile[r.file, default: []].append(r) }
        for file in byFile.keys.sorted() {
            let rs = byFile[file]!.sorted { $0.line < $1.line }
            out += "  <testsuite name=\"\(x(file))\" tests=\"\(rs.count)\" failures=\"\(rs.filter { !$0.failures.isEmpty }.count)\" errors=\"\(rs.filter { $0.error != nil }.count)\" time=\"\(String(format: "%.3f", rs.reduce(0) { $0 + $1.seconds }))\">\n"
            for r in rs {
                out += "    <testcase classname=\"\(x(file))\" name=\"\(x(r.name))\" file=\"\(x(file))\" line=\"\(r.line)\" time=\"\(String(format: "%.3f", r.seconds))\""
                if r.passed { out += "/>\n"; continue }
                out += ">\n"
                if let e = r.error { out += "      <error message=\"\(x(e))\"/>\n" }
                for f in r.failures {
                    out += "      <failure message=\"\(x(f.message))\" type=\"expectation\">\(x("\(file):\(f.line):\(f.column): \(f.source)\n\(f.message)\nwhat happened:\n" + f.timeline.joined(separator: "\n")))</failure>\n"
                }
                out += "    </testcase>\n"
            }
            out += "  </testsuite>\n"
        }
        return out + "</testsuites>\n"
    }

    /// TAP version 14.
    public static func tap(_ results: [TestOutcome]) -> String {
        var out = "TAP version 14\n1..\(results.count)\n"
        for (i, r) in results.enumerated() {
            out += "\(r.passed ? "ok" : "not ok") \(i + 1) - \(r.name.replacingOccurrences(of: "#", with: "\\#"))\n"
            guard !r.passed else { continue }
            out += "  ---\n  file: \(JSON.quote(r.file))\n  line: \(r.line)\n"
            if let e = r.error { out += "  error: \(JSON.quote(e))\n" }
            if !r.failures.isEmpty {
                out += "  failures:\n"
                for f in r.failures {
                    out += "    - line: \(f.line)\n      expectation: \(JSON.quote(f.source))\n      message: \(JSON.quote(f.message))\n      timeline:\n"
                    for l in f.timeline { out += "        - \(JSON.quote(l))\n" }
                }
            }
            out += "  ...\n"
        }
        return out
    }

    /// One JSON document: every test with its result.
    public static func json(_ results: [TestOutcome], seconds: Double) -> String {
        let tests = results.map { r -> String in
            let failures = r.failures.map { f in
                "{\"line\": \(f.line), \"column\": \(f.column), \"expectation\": \(JSON.quote(f.source)), \"message\": \(JSON.quote(f.message)), \"timeline\": ["
                    + f.timeline.map(JSON.quote).joined(separator: ", ") + "]}"
            }
            return "{\"name\": \(JSON.quote(r.name)), \"file\": \(JSON.quote(r.file)), \"line\": \(r.line), \"passed\": \(r.passed), \"seconds\": \(String(format: "%.4f", r.seconds)), "
                + "\"error\": \(r.error.map(JSON.quote) ?? "null"), \"failures\": [\(failures.joined(separator: ", "))]}"
        }
        let failed = results.filter { !$0.passed }.count
        return "{\"passed\": \(results.count - failed), \"failed\": \(failed), \"seconds\": \(String(format: "%.4f", seconds)), \"tests\": [\(tests.joined(separator: ", "))]}\n"
    }
}
