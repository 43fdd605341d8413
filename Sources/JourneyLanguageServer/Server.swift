import Foundation
import JourneyDiagnostics
import JourneySemantics
import JourneySyntax

/// A Language Server Protocol server over stdio: diagnostics for the whole project folder as the
/// user types, hover, completion, go to definition, document symbols and formatting. A malformed
/// request gets a JSON-RPC error; the server keeps serving whatever the documents contain.
public final class LanguageServer {
    var documents: [String: String] = [:]
    var root: String?
    var analysis: Analysis?
    /// Files we published diagnostics for, so they can be cleared when they have none.
    var published: Set<String> = []
    var shutdownRequested = false
    let writer: MessageWriter

    public init(output: FileHandle = .standardOutput) {
        writer = MessageWriter(output: output)
    }

    /// Serves until `exit` or the end of input; returns the process exit code.
    public func serve(input: FileHandle = .standardInput) -> Int32 {
        var reader = MessageReader(input: input)
        while let body = reader.next() {
            if let code = handle(body) { return code }
        }
        return shutdownRequested ? 0 : 1
    }

    /// Handles one message; returns an exit code when the server should stop.
    func handle(_ body: [UInt8]) -> Int32? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) else {
            writer.send(["jsonrpc": "2.0", "id": NSNull(), "error": ["code": -32700, "message": "parse error: the message is not JSON"]])
            return nil
        }
        guard let message = object as? [String: Any], let method = message["method"] as? String else {
            let id = (object as? [String: Any])?["id"] ?? NSNull()
            if (object as? [String: Any])?["result"] == nil { // not a response from the client
                writer.send(["jsonrpc": "2.0", "id": id, "error": ["code": -32600, "message": "invalid request: no method"]])
            }
            return nil
        }
        let id = message["id"]
        let params = message["params"] as? [String: Any] ?? [:]
        if method == "exit" { return shutdownRequested ? 0 : 1 }
        do {
            let result = try dispatch(method, params)
            if let id { writer.send(["jsonrpc": "2.0", "id": id, "result": result ?? NSNull()]) }
        } catch let e as RequestError {
            if let id { writer.send(["jsonrpc": "2.0", "id": id, "error": ["code": e.code, "message": e.message]]) }
        } catch {
            if let id { writer.send(["jsonrpc": "2.0", "id": id, "error": ["code": -32603, "message": "internal error: \(error)"]]) }
        }
        return nil
    }

    struct RequestError: Error {
        var code: Int
        var message: String
        static func invalidParams(_ m: String) -> RequestError { RequestError(code: -32602, message: "invalid params: \(m)") }
    }

    func dispatch(_ method: String, _ p: [String: Any]) throws -> Any? {
        switch method {
        case "initialize":
            if let folders = p["workspaceFolders"] as? [[String: Any]], let uri = folders.first?["uri"] as? String {
                root = path(uri)
            } else if let uri = p["rootUri"] as? String {
                root = path(uri)
            } else if let r = p["rootPath"] as? String {
                root = r
            }
            return [
                "capabilities": [
                    "textDocumentSync": ["openClose": true, "change": 1, "save": ["includeText": false]],
                    "hoverProvider": true,
                    "completionProvider": ["triggerCharacters": [".", " ", "("]],
                    "definitionProvider": true,
                    "documentSymbolProvider": true,
                    "documentFormattingProvider": true,
                    "codeLensProvider": ["resolveProvider": false],
                    "executeCommandProvider": ["commands": ["journey.runTest"]],
                ],
                "serverInfo": ["name": "journey", "version": "0.1.0"],
            ]
        case "initialized", "$/cancelRequest", "$/setTrace", "workspace/didChangeConfiguration", "workspace/didChangeWatchedFiles":
            if method == "workspace/didChangeWatchedFiles" { refresh() }
            return nil
        case "shutdown":
            shutdownRequested = true
            return nil
        case "textDocument/didOpen":
            guard let doc = p["textDocument"] as? [String: Any], let uri = doc["uri"] as? String, let text = doc["text"] as? String else {
                throw RequestError.invalidParams("textDocument.uri and textDocument.text are required")
            }
            documents[path(uri)] = text
            refresh()
            return nil
        case "textDocument/didChange":
            guard let doc = p["textDocument"] as? [String: Any], let uri = doc["uri"] as? String,
                  let changes = p["contentChanges"] as? [[String: Any]], let text = changes.last?["text"] as? String else {
                throw RequestError.invalidParams("textDocument.uri and contentChanges[].text are required")
            }
            documents[path(uri)] = text
            refresh()
            return nil
        case "textDocument/didSave":
            refresh()
            return nil
        case "textDocument/didClose":
            if let doc = p["textDocument"] as? [String: Any], let uri = doc["uri"] as? String { documents[path(uri)] = nil }
            refresh()
            return nil
        case "textDocument/hover": return try at(p) { hover($0, $1) }
        case "textDocument/completion": return try at(p) { completion($0, $1) }
        case "textDocument/definition": return try at(p) { definition($0, $1) }
        case "textDocument/documentSymbol":
            guard let uri = (p["textDocument"] as? [String: Any])?["uri"] as? String else { throw RequestError.invalidParams("textDocument.uri is required") }
            return symbols(path(uri))
        case "textDocument/codeLens":
            guard let uri = (p["textDocument"] as? [String: Any])?["uri"] as? String else { throw RequestError.invalidParams("textDocument.uri is required") }
            return codeLenses(path(uri))
        case "workspace/executeCommand":
            guard p["command"] as? String == "journey.runTest" else { throw RequestError.invalidParams("unknown command \(p["command"] ?? "")") }
            return try runTest(p["arguments"] as? [Any] ?? [])
        case "textDocument/formatting":
            guard let uri = (p["textDocument"] as? [String: Any])?["uri"] as? String else { throw RequestError.invalidParams("textDocument.uri is required") }
            return formatting(path(uri))
        default:
            if method.hasPrefix("$/") { return nil }
            throw RequestError(code: -32601, message: "method not found: \(method)")
        }
    }

    /// Runs a position request against the analysed document.
    func at(_ p: [String: Any], _ body: (SourceFile, Int) -> Any?) throws -> Any? {
        guard let uri = (p["textDocument"] as? [String: Any])?["uri"] as? String,
              let pos = p["position"] as? [String: Any], let line = pos["line"] as? Int, let character = pos["character"] as? Int else {
            throw RequestError.invalidParams("textDocument.uri and position {line, character} are required")
        }
        let file = path(uri)
        if analysis == nil { refresh() }
        guard let tree = analysis?.tree(file) else { return nil }
        return body(tree.source, tree.source.offset(line: line, character: character))
    }

    // MARK: - Diagnostics

    func refresh() {
        let folder = root ?? documents.keys.first.map { ($0 as NSString).deletingLastPathComponent }
        let a = Analysis.run(root: folder, documents: documents)
        analysis = a
        var byFile: [String: [Diagnostic]] = [:]
        for d in a.result.diagnostics { byFile[d.file, default: []].append(d) }
        let sources = Dictionary(uniqueKeysWithValues: a.sources.map { ($0.path, $0) })
        var now: Set<String> = []
        for (file, source) in sources {
            let items = (byFile[file] ?? []).map { lspDiagnostic($0, source, sources) }
            if items.isEmpty, !published.contains(file) { continue }
            writer.send(["jsonrpc": "2.0", "method": "textDocument/publishDiagnostics", "params": ["uri": uri(file), "diagnostics": items]])
            if !items.isEmpty { now.insert(file) }
        }
        for file in published.subtracting(now) where sources[file] == nil {
            writer.send(["jsonrpc": "2.0", "method": "textDocument/publishDiagnostics", "params": ["uri": uri(file), "diagnostics": []]])
        }
        published = now
    }

    func lspDiagnostic(_ d: Diagnostic, _ source: SourceFile, _ sources: [String: SourceFile]) -> [String: Any] {
        var message = d.message
        if let h = d.hint { message += "\nhelp: \(h)" }
        var out: [String: Any] = [
            "range": source.range(d.span),
            "severity": d.severity == .error ? 1 : (d.severity == .warning ? 2 : 3),
            "code": d.code.id, "source": "journey", "message": message,
        ]
        let related: [[String: Any]] = d.notes.compactMap { n in
            guard let f = sources[n.file] else { return nil }
            return ["location": ["uri": uri(n.file), "range": f.range(n.span)], "message": n.message]
        }
        if !related.isEmpty { out["relatedInformation"] = related }
        return out
    }

    // MARK: - Formatting and symbols

    func formatting(_ file: String) -> Any? {
        guard let text = documents[file] ?? (try? String(contentsOfFile: file, encoding: .utf8)) else { return [] }
        let source = SourceFile(path: file, text: text)
        guard let formatted = Formatter.format(source), formatted != text else { return [] as [Any] }
        let end = source.position(of: source.bytes.count)
        return [["range": ["start": ["line": 0, "character": 0], "end": end], "newText": formatted]]
    }

    func symbols(_ file: String) -> Any? {
        if analysis == nil { refresh() }
        guard let tree = analysis?.tree(file) else { return [] as [Any] }
        let s = tree.source
        func symbol(_ name: String, _ kind: Int, _ span: Span, _ selection: Span, _ detail: String = "", children: [[String: Any]] = []) -> [String: Any] {
            var o: [String: Any] = ["name": name, "kind": kind, "range": s.range(span), "selectionRange": s.range(selection)]
            if !detail.isEmpty { o["detail"] = detail }
            if !children.isEmpty { o["children"] = children }
            return o
        }
        func fields(_ fs: [FieldDecl]) -> [[String: Any]] {
            fs.map { symbol($0.name.name, 8, $0.span, $0.name.span, typeText($0.type)) }
        }
        return tree.decls.map { d -> [String: Any] in
            let head = Span(d.span.start, min(d.span.end, d.span.start + 7))
            switch d.kind {
            case .profile(let fs): return symbol("profile", 23, d.span, head, children: fields(fs))
            case .event(let name, let fs, let catalog): return symbol(name.name, 24, d.span, name.span, catalog == nil ? "event" : "catalog event", children: fields(fs))
            case .channel(let kind, _, _): return symbol(kind.name, 11, d.span, kind.span, "channel")
            case .policy: return symbol("policy", 3, d.span, head)
            case .journey(let j):
                let title: String
                if let t = j.title, case .string(let parts) = tree.exprs[t].kind {
                    title = parts.compactMap { if case .text(let x) = $0 { x } else { nil } }.joined()
                } else {
                    title = ""
                }
                return symbol(j.name.name, 12, d.span, j.name.span, title)
            case .test(let t):
                return symbol("test \"\(t.name)\"", 12, d.span, t.nameSpan)
            case .fixture(let g):
                return symbol("given profile \(g.name.name)", 13, d.span, g.name.span)
            }
        }
    }

    func typeText(_ t: TypeSyntax) -> String {
        switch t {
        case .named(let i): i.name
        case .optional(let inner, _): typeText(inner) + "?"
        case .list(let inner, _): "list[\(typeText(inner))]"
        }
    }

    // MARK: - URIs

    func path(_ uri: String) -> String {
        guard uri.hasPrefix("file://") else { return uri }
        let rest = String(uri.dropFirst(7))
        return rest.removingPercentEncoding ?? rest
    }

    func uri(_ path: String) -> String {
        "file://" + (path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? path)
    }
}
