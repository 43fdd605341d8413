import Foundation

/// The source files of a run, by path, so renderers can turn spans into lines and columns.
public struct SourceMap: Sendable {
    public private(set) var files: [String: SourceFile] = [:]
    public init(_ files: [SourceFile] = []) {
        for f in files { self.files[f.path] = f }
    }
    public mutating func add(_ f: SourceFile) { files[f.path] = f }
    public subscript(path: String) -> SourceFile? { files[path] }

    /// Start and end line/column of a diagnostic's span (1-based; end column exclusive).
    public func range(of file: String, _ span: Span) -> (LineColumn, LineColumn) {
        guard let f = files[file] else { return (LineColumn(line: 1, column: 1), LineColumn(line: 1, column: 1)) }
        return (f.location(of: span.start), f.location(of: span.end))
    }
}

// MARK: - Text

/// Renders diagnostics the way the best compilers do: header, source line, caret underline, help.
public struct TextRenderer: Sendable {
    public var colour: Bool
    public init(colour: Bool) { self.colour = colour }

    private func paint(_ s: String, _ code: String) -> String { colour ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }

    public func render(_ d: Diagnostic, sources: SourceMap) -> String {
        let (start, end) = sources.range(of: d.file, d.span)
        let sevColour = d.severity == .error ? "1;31" : (d.severity == .warning ? "1;33" : "1;36")
        var out = "\(paint("\(d.file):\(start.line):\(start.column):", "1")) "
        out += paint("\(d.severity.rawValue)[\(d.code.id)]:", sevColour) + " " + paint(d.message, "1") + "\n"
        if let file = sources[d.file] {
            out += snippet(file: file, span: d.span, start: start, end: end, label: d.label, caretColour: sevColour)
        }
        for n in d.notes {
            guard let file = sources[n.file] else { continue }
            let (s, e) = (file.location(of: n.span.start), file.location(of: n.span.end))
            out += "\(paint("note:", "1;36")) \(n.message)\n"
            out += " --> \(n.file):\(s.line):\(s.column)\n"
            out += snippet(file: file, span: n.span, start: s, end: e, label: "", caretColour: "1;36")
        }
        if let hint = d.hint {
            let width = sources[d.file] == nil ? 1 : String(start.line).count
            out += "\(String(repeating: " ", count: width)) = \(paint("help:", "1;36")) \(hint)\n"
        }
        return out
    }

    private func snippet(file: SourceFile, span: Span, start: LineColumn, end: LineColumn, label: String, caretColour: String) -> String {
        let lineText = file.lineText(start.line - 1).replacingOccurrences(of: "\t", with: " ")
        let gutter = String(start.line)
        let pad = String(repeating: " ", count: gutter.count)
        let width: Int
        if end.line == start.line {
            width = max(1, end.column - start.column)
        } else {
            width = max(1, lineText.unicodeScalars.count - start.column + 1)
        }
        let carets = String(repeating: " ", count: start.column - 1) + String(repeating: "^", count: width)
        var out = "\(pad) \(paint("|", "1;34"))\n"
        out += "\(paint(gutter, "1;34")) \(paint("|", "1;34")) \(lineText)\n"
        out += "\(pad) \(paint("|", "1;34")) \(paint(carets + (label.isEmpty ? "" : " " + label), caretColour))\n"
        return out
    }

    /// Every diagnostic, then a one-line summary.
    public func render(_ ds: [Diagnostic], sources: SourceMap) -> String {
        var out = ds.map { render($0, sources: sources) }.joined(separator: "\n")
        let e = ds.filter { $0.severity == .error }.count, w = ds.filter { $0.severity == .warning }.count
        if !ds.isEmpty { out += "\n" }
        out += "\(plural(e, "error")), \(plural(w, "warning"))\n"
        return out
    }
}

/// "1 event", "2 events": every count a person reads goes through this.
public func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }

// MARK: - GitHub workflow annotations

/// `::error file=…,line=…,col=…,endLine=…,endColumn=…,title=…::message` lines.
public enum GitHubRenderer {
    public static func render(_ ds: [Diagnostic], sources: SourceMap) -> String {
        var out = ""
        for d in ds {
            let (s, e) = sources.range(of: d.file, d.span)
            let kind = d.severity == .error ? "error" : (d.severity == .warning ? "warning" : "notice")
            var msg = d.message
            if let h = d.hint { msg += "\nhelp: \(h)" }
            out += "::\(kind) file=\(property(d.file)),line=\(s.line),col=\(s.column),endLine=\(e.line),endColumn=\(e.column),title=\(property("\(d.code.id) \(d.code.name)"))::\(data(msg))\n"
        }
        return out
    }

    /// Escapes a message: `%`, CR and LF.
    public static func data(_ s: String) -> String {
        s.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D").replacingOccurrences(of: "\n", with: "%0A")
    }

    /// Escapes a property value: also `:` and `,`.
    public static func property(_ s: String) -> String {
        data(s).replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: ",", with: "%2C")
    }
}

// MARK: - JSON

/// One JSON document listing every diagnostic.
public enum JSONRenderer {
    public static func render(_ ds: [Diagnostic], sources: SourceMap, files: Int) -> String {
        let items: [[String: Any]] = ds.map { d in
            let (s, e) = sources.range(of: d.file, d.span)
            var o: [String: Any] = [
                "file": d.file, "severity": d.severity.rawValue, "code": d.code.id, "name": d.code.name,
                "message": d.message,
                "span": ["start": ["offset": d.span.start, "line": s.line, "column": s.column],
                         "end": ["offset": d.span.end, "line": e.line, "column": e.column]],
            ]
            o["hint"] = d.hint ?? NSNull()
            if !d.label.isEmpty { o["label"] = d.label }
            return o
        }
        let doc: [String: Any] = [
            "version": 1,
            "files": files,
            "errors": ds.filter { $0.severity == .error }.count,
            "warnings": ds.filter { $0.severity == .warning }.count,
            "diagnostics": items,
        ]
        return jsonString(doc)
    }
}

func jsonString(_ object: Any) -> String {
    guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) else { return "{}" }
    return String(decoding: data, as: UTF8.self) + "\n"
}

// MARK: - SARIF 2.1.0

/// SARIF 2.1.0 with everything GitHub code scanning reads.
public enum SARIFRenderer {
    public static func render(_ ds: [Diagnostic], sources: SourceMap, rules: [DiagnosticCode], toolVersion: String, baseDirectory: String) -> String {
        let ruleIndex = Dictionary(uniqueKeysWithValues: rules.enumerated().map { ($1.id, $0) })
        let ruleObjects: [[String: Any]] = rules.map { r in
            [
                "id": r.id, "name": r.name,
                "shortDescription": ["text": r.summary],
                "fullDescription": ["text": "\(r.summary). \(r.help)"],
                "help": ["text": r.help, "markdown": r.help],
                "defaultConfiguration": ["level": level(r.severity)],
                "properties": ["tags": [r.severity == .error ? "correctness" : "maintainability"]],
            ]
        }
        let results: [[String: Any]] = ds.map { d in
            let (s, e) = sources.range(of: d.file, d.span)
            var text = d.message
            if let h = d.hint { text += " (\(h))" }
            var r: [String: Any] = [
                "ruleId": d.code.id,
                "level": level(d.severity),
                "message": ["text": text],
                "locations": [[
                    "physicalLocation": [
                        "artifactLocation": ["uri": relativeURI(d.file, base: baseDirectory), "uriBaseId": "%SRCROOT%"],
                        "region": ["startLine": s.line, "startColumn": s.column, "endLine": e.line, "endColumn": max(e.column, e.line == s.line ? s.column + 1 : e.column)],
                    ],
                ]],
            ]
            if let i = ruleIndex[d.code.id] { r["ruleIndex"] = i }
            return r
        }
        let doc: [String: Any] = [
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [[
                "tool": ["driver": [
                    "name": "journey", "version": toolVersion, "semanticVersion": toolVersion,
                    "informationUri": "https://example.invalid/journey",
                    "rules": ruleObjects,
                ]],
                "columnKind": "unicodeCodePoints",
                "originalUriBaseIds": ["%SRCROOT%": ["uri": "file://" + (baseDirectory.hasSuffix("/") ? baseDirectory : baseDirectory + "/")]],
                "results": results,
            ]],
        ]
        return jsonString(doc)
    }

    static func level(_ s: Severity) -> String {
        switch s {
        case .error: "error"
        case .warning: "warning"
        case .note: "note"
        }
    }

    /// A path relative to the base directory, percent-encoded as a URI reference.
    static func relativeURI(_ path: String, base: String) -> String {
        var p = path
        let b = base.hasSuffix("/") ? base : base + "/"
        if p.hasPrefix(b) { p.removeFirst(b.count) }
        while p.hasPrefix("./") { p.removeFirst(2) }
        let allowed = CharacterSet.urlPathAllowed
        return p.addingPercentEncoding(withAllowedCharacters: allowed) ?? p
    }
}
