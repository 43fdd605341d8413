import Foundation
import JourneyDiagnostics
import JourneySemantics
import JourneySyntax
import JourneyBytecode
import JourneyTesting

/// What the language knows about a word, for hover and completion.
enum Vocabulary {
    static let keywords: [String: String] = [
        "journey": "Declares a journey: `journey NAME \"title\" { … }`.",
        "profile": "The customer's profile: `profile.ATTRIBUTE` reads an attribute.",
        "event": "Declares an event and its fields: `event NAME { field: type, … }`.",
        "channel": "Binds a channel kind to the profile attribute holding its address (and consent).",
        "policy": "The global send policy: `cap N messages per D` and `quiet hours HH:MM to HH:MM`.",
        "on": "The entry trigger: `on EVENT [as NAME] [where …]`, or `on daily at HH:MM` for an audience journey.",
        "as": "Names an event so its fields can be read: `on cart_abandoned as cart` → `cart.total`.",
        "where": "Filters events; inside it the event's fields are in scope by their bare names.",
        "when": "The entry filter (segment) on the profile, its history and the trigger.",
        "goal": "When this event arrives the instance ends and counts as converted.",
        "exit": "`exit` ends the instance here; `exit on EVENT` ends it when the event arrives.",
        "reentry": "`reentry never | always | after DURATION`; by default not while an instance is active.",
        "wait": "`wait 1h`, `wait until 09:00` (the profile's local time), or `wait for EVENT within D { … } else { … }`.",
        "for": "`wait for EVENT [as NAME] [where …] within DURATION`; `for each profile where …` on a catalog event.",
        "within": "A time window: how long to wait for an event, or how far back a history query looks.",
        "until": "`wait until HH:MM`: the next such local time of the profile.",
        "if": "`if COND { … } else if COND { … } else { … }`.",
        "else": "The other branch of an `if` or `wait for`, or the next channel of a fallback chain.",
        "split": "`split { 10% control { … } 90% treatment { … } }`: deterministic by profile and journey; must sum to 100%.",
        "set": "`set profile.ATTRIBUTE = value` updates the profile.",
        "template": "`template \"name\" { param: value … }`: a pre-approved message template.",
        "and": "Both conditions.", "or": "Either condition.", "not": "The opposite condition.",
        "true": "bool", "false": "bool", "none": "The absence of a value (for optional attributes and fields).",
        "now": "The current instant (`time`).", "today": "The profile's local date (`date`).",
        "count": "`count(EVENT [where …] [within D])`: how many such events the profile has (int).",
        "exists": "`exists(EVENT [where …] [within D])`: whether the profile has such an event (bool).",
        "sum": "`sum(EVENT.FIELD [where …] [within D])`: the total of a numeric field.",
        "last": "`last(EVENT)`: the most recent such event (optional).",
        "days_since": "`days_since(EVENT)`: whole days since the most recent such event (int?).",
        "count_all": "`count_all([distinct] EVENT where FIELD == value [within D])`: everyone's such events (or, with `distinct`, the profiles with one) — social proof: `count_all(product_viewed where product_id == v.product_id within 1h)`. Counted from an index kept as events arrive (int).",
        "also": "`also(EVENT.FIELD, of: ITEM, within D, limit N)`: what other profiles had together with ITEM (within D), most often first — `also(product_viewed.product_id, of: last(order_placed).product_id, within 30d, limit 3)`; leaves out what the profile already has (a list).",
        "top": "`top(EVENT.FIELD [where …] [within D] [, N])`: the profile's most frequent value of the field (optional; ties go to the one seen last), or a list of the N most frequent: `top(product_viewed.brand within 90d)`.",
        "distinct": "`count_all(distinct EVENT where …)`: count profiles, not events.",
        "catalog": "`catalog event NAME { … }`: an event about a product or a store, not one profile (a price drop, a restock). It comes without a profile, and starts a journey with `for each profile where …`.",
        "each": "`for each profile where …`: on a catalog event, every profile the condition holds for enters. An `exists(EVENT where FIELD == alias.FIELD …)` in it is answered from the history index.",
        "in": "`ITEM in LIST` (or `not in`): whether a list holds the item, e.g. `\"vip\" in profile.tags`; on a string, whether it holds the text.",
        "currency": "`currency EUR` (in the policy): money inserted in a message is shown in this currency, unless the profile has a `currency` attribute of its own.",
        "locale": "`locale \"en-GB\"` (in the policy): how dates and numbers read, unless the profile has a `locale` attribute of its own.",
    ].merging(Builtin.allCases.map { ($0.name, "`\($0.signature)`: \($0.summary)") }) { a, _ in a }
    static let steps = ["wait", "wait until", "wait for", "if", "split", "set profile.", "exit"]
    static let header = ["on", "on daily at", "when", "goal", "exit on", "reentry", "for each profile where"]
}

extension LanguageServer {
    /// The aliases bound in the journey around `offset`: name → (event, where bound).
    func aliases(_ tree: SyntaxTree, _ offset: Int) -> [String: (event: String, span: Span)] {
        var out: [String: (String, Span)] = [:]
        for d in tree.decls {
            guard case .journey(let j) = d.kind, d.span.start <= offset, offset <= d.span.end else { continue }
            for h in j.header { if case .on(let e, let a?, _, _) = h { out[a.name] = (e.name, a.span) } }
            func walk(_ stmts: [Stmt]) {
                for s in stmts {
                    switch s.kind {
                    case .waitFor(let w):
                        if let a = w.alias { out[a.name] = (w.event.name, a.span) }
                        walk(w.arrived?.statements ?? [])
                        walk(w.timedOut?.statements ?? [])
                    case .if(let branches, let e):
                        for b in branches { walk(b.block.statements) }
                        walk(e?.statements ?? [])
                    case .split(let branches):
                        for b in branches { walk(b.block.statements) }
                    default: break
                    }
                }
            }
            walk(j.body.statements)
        }
        return out
    }

    func location(_ file: String, _ span: Span) -> [String: Any]? {
        guard let source = analysis?.sources.first(where: { $0.path == file }) else { return nil }
        return ["uri": uri(file), "range": source.range(span)]
    }

    func describe(_ e: EventSchema) -> String {
        "event \(e.name) { " + e.fields.map { "\($0.name): \($0.type)" }.joined(separator: ", ") + " }"
    }

    // MARK: - Hover

    func hover(_ source: SourceFile, _ offset: Int) -> Any? {
        guard let a = analysis, let tree = a.tree(source.path) else { return nil }
        let w = WordContext(source, at: offset)
        guard !w.word.isEmpty else { return nil }
        let schema = a.result.schema
        let als = aliases(tree, offset)
        var text: String?
        if w.qualifier == "profile", let f = schema.attribute(w.word) {
            text = "```journey\nprofile.\(f.name): \(f.type)\n```\nProfile attribute, declared in \((f.file as NSString).lastPathComponent) line \(lineOf(f.file, f.span))."
        } else if let q = w.qualifier, let alias = als[q], let e = schema.events[alias.event], let f = e.field(w.word) {
            text = "```journey\n\(q).\(f.name): \(f.type)\n```\nField of event `\(e.name)`."
        } else if let alias = als[w.word] {
            text = "```journey\n\(w.word): event \(alias.event)\n```\n" + (schema.events[alias.event].map { describe($0) } ?? "")
        } else if let e = schema.events[w.word] {
            text = "```journey\n\(describe(e))\n```"
        } else if let kind = ChannelKind.byName[w.word] {
            var t = "**\(kind.name)** channel. Message fields: " + kind.fields.map { "`\($0.0)`" }.joined(separator: ", ") + "; a plain string fills `\(kind.textField)`."
            if let c = schema.channels[kind.name] {
                t += "\n\nAddress: `profile.\(c.address ?? "?")`" + (c.consent.map { ", consent: `profile.\($0)`" } ?? "") + "."
            } else {
                t += "\n\nNot declared in this project's schema."
            }
            text = t
        } else if let f = tree.decls.lazy.compactMap({ d -> FieldDecl? in
            if case .event(_, let fs, _) = d.kind { return fs.first { $0.name.span.start <= offset && offset <= $0.name.span.end } }
            if case .profile(let fs) = d.kind { return fs.first { $0.name.span.start <= offset && offset <= $0.name.span.end } }
            return nil
        }).first {
            text = "```journey\n\(f.name.name): \(typeText(f.type))\n```"
        } else if let k = Vocabulary.keywords[w.word] {
            text = "**\(w.word)** — \(k)"
        }
        guard let value = text else { return nil }
        return ["contents": ["kind": "markdown", "value": value], "range": source.range(w.span)]
    }

    func lineOf(_ file: String, _ span: Span) -> Int {
        (analysis?.sources.first { $0.path == file }?.location(of: span.start).line) ?? 0
    }

    // MARK: - Definition

    func definition(_ source: SourceFile, _ offset: Int) -> Any? {
        guard let a = analysis, let tree = a.tree(source.path) else { return nil }
        let w = WordContext(source, at: offset)
        let schema = a.result.schema
        let als = aliases(tree, offset)
        if w.qualifier == "profile", let f = schema.attribute(w.word) { return location(f.file, f.span) }
        if let q = w.qualifier, let alias = als[q], let f = schema.events[alias.event]?.field(w.word) { return location(f.file, f.span) }
        if let alias = als[w.word] { return location(source.path, alias.span) }
        if let e = schema.events[w.word] { return location(e.file, e.span) }
        if let c = schema.channels[w.word] { return location(c.file, c.span) }
        return nil
    }

    // MARK: - Completion

    func completion(_ source: SourceFile, _ offset: Int) -> Any? {
        guard let a = analysis else { return [] as [Any] }
        let tree = a.tree(source.path)
        let w = WordContext(source, at: offset)
        let schema = a.result.schema
        let als = tree.map { aliases($0, offset) } ?? [:]
        func item(_ label: String, _ kind: Int, _ detail: String = "") -> [String: Any] {
            var o: [String: Any] = ["label": label, "kind": kind]
            if !detail.isEmpty { o["detail"] = detail }
            return o
        }
        if w.qualifier == "profile" {
            return schema.profile.map { item($0.name, 10, "\($0.type)") }
        }
        if let q = w.qualifier, let alias = als[q], let e = schema.events[alias.event] {
            return e.fields.map { item($0.name, 5, "\($0.type)") }
        }
        let prefix = w.linePrefix
        let trimmed = prefix.trimmingCharacters(in: .whitespaces)
        let events = schema.events.keys.sorted().map { item($0, 23, schema.events[$0].map { describe($0) } ?? "") }
        // In tests: a given profile's attributes, an event's fields, the events a profile does.
        if let opener = enclosingBlockOpener(source, offset), trimmed.isEmpty || trimmed.hasSuffix(",") || trimmed.hasSuffix("{") {
            let words = opener.split(whereSeparator: { !$0.isLetter && !$0.isNumber && $0 != "_" }).map(String.init)
            if words.count >= 3, words.contains("given"), words.contains("profile") {
                return schema.profile.map { item($0.name, 10, "\($0.type)") }
            }
            if let does = words.lastIndex(of: "does"), does + 1 < words.count, let e = schema.events[words[does + 1]] {
                return e.fields.map { item($0.name, 5, "\($0.type)") }
            }
        }
        if trimmed.hasSuffix(" does") { return events }
        let insideTest = tree?.decls.contains { d in
            if case .test = d.kind { return d.span.start < offset && offset < d.span.end }
            return false
        } ?? false
        if insideTest, trimmed.isEmpty {
            return [("given profile", "a profile for this test"), ("at", "a time, and what happens then"), ("expect", "what should follow"), ("only journey", "run one journey alone")]
                .map { item($0.0, 14, $0.1) }
        }
        if insideTest, trimmed == "expect" {
            return [item("nothing", 14, "no message")] + schema.channels.keys.sorted().map { item($0, 9, "a message on \($0)") }
        }
        if trimmed == "on" { return events + [item("daily at", 14)] }
        if ["goal", "exit on", "wait for"].contains(trimmed) || prefix.hasSuffix("(") { return events }
        if let kind = enclosingMessageKind(source, offset), trimmed.isEmpty || trimmed.hasSuffix(",") || trimmed.hasSuffix("{") {
            return kind.fields.map { item($0.0, 5, "\(kind.name) field") }
        }
        let insideDeclaration = tree?.decls.contains { $0.span.start < offset && offset < $0.span.end } ?? false
        if !insideDeclaration, trimmed.isEmpty {
            return ["journey", "event", "profile", "channel", "policy"].map { item($0, 14, Vocabulary.keywords[$0] ?? "") }
                + [item("test", 14, "a test: test \"what it shows\" { … }"), item("given profile", 14, "a profile every test may start from")]
        }
        if trimmed.hasSuffix(" else") || trimmed == "else" || trimmed.hasSuffix("}else") {
            return schema.channels.keys.sorted().map { item($0, 9, "send on \($0)") }
        }
        if trimmed.isEmpty {
            let kinds = schema.channels.keys.sorted().map { item($0, 9, "send on \($0)") }
            return (Vocabulary.steps + Vocabulary.header).map { item($0, 14) } + kinds
        }
        var items = ["and", "or", "not", "true", "false", "none", "now", "today", "profile"].map { item($0, 14) }
        items += (Keywords.historyFunctions + Builtin.names).map { item($0, 3, Vocabulary.keywords[$0] ?? "") }
        items += [item("in", 14, Vocabulary.keywords["in"] ?? ""), item("not in", 14, Vocabulary.keywords["in"] ?? "")]
        items += als.keys.sorted().map { item($0, 6, "event \(als[$0]?.event ?? "")") }
        return items
    }

    /// The text of the line before the `{` of the block around `offset`, if any.
    func enclosingBlockOpener(_ source: SourceFile, _ offset: Int) -> String? {
        let b = source.bytes
        var depth = 0
        var i = min(offset, b.count) - 1
        while i >= 0 {
            if b[i] == UInt8(ascii: "}") { depth += 1 }
            if b[i] == UInt8(ascii: "{") {
                if depth == 0 {
                    let line = source.lineIndex(of: i)
                    return String(decoding: b[source.lineStarts[line]..<i], as: UTF8.self)
                }
                depth -= 1
            }
            i -= 1
        }
        return nil
    }

    // MARK: - Tests: a code lens on each, and a command that runs one

    func codeLenses(_ file: String) -> Any? {
        if analysis == nil { refresh() }
        guard let tree = analysis?.tree(file) else { return [] as [Any] }
        return tree.decls.compactMap { d -> [String: Any]? in
            guard case .test(let t) = d.kind else { return nil }
            return ["range": tree.source.range(Span(d.span.start, t.nameSpan.end)),
                    "command": ["title": "▶ Run test", "command": "journey.runTest", "arguments": [uri(file), t.name]]]
        }
    }

    /// Runs one test of the project (by name) on the simulator; shows and returns the result.
    func runTest(_ arguments: [Any]) throws -> Any? {
        guard arguments.count == 2, let name = arguments[1] as? String else { throw RequestError.invalidParams("journey.runTest takes [uri, test name]") }
        refresh()
        guard let a = analysis else { return nil }
        var outcome: [String: Any] = ["name": name]
        var message: String
        var type = 1
        if a.result.hasErrors {
            message = "“\(name)” cannot run: the project has errors"
        } else if let bundle = try? Compiler.compile(a.trees, a.result),
                  let r = TestRunner.run(a.trees, a.result, bundle: bundle, filter: nil).first(where: { $0.name == name }) {
            outcome["passed"] = r.passed
            outcome["seconds"] = r.seconds
            outcome["failures"] = r.failures.map { ["line": $0.line, "message": $0.message, "timeline": $0.timeline] }
            if r.passed {
                message = "✓ \(name) passed (\(String(format: "%.1f", r.seconds * 1000)) ms)"
                type = 3
            } else if let f = r.failures.first {
                message = "✗ \(name): line \(f.line): \(f.message)"
            } else {
                message = "✗ \(name): \(r.error ?? "did not run")"
            }
        } else {
            message = "no test is named “\(name)”"
        }
        writer.send(["jsonrpc": "2.0", "method": "window/showMessage", "params": ["type": type, "message": message]])
        outcome["message"] = message
        return outcome
    }

    /// The channel kind of the message block `{ … }` around `offset`, if any.
    func enclosingMessageKind(_ source: SourceFile, _ offset: Int) -> ChannelKind? {
        let words = enclosingBlockOpener(source, offset)?.split(whereSeparator: { !$0.isLetter && $0 != "_" })
        return words?.last.flatMap { ChannelKind.byName[String($0)] }
    }
}
