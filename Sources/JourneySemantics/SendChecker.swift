import JourneyDiagnostics
import JourneySyntax

extension JourneyChecker {
    /// Checks a send's fallback chain: channels known and declared, no repeats, fields and types.
    mutating func checkSend(_ links: [SendLink], _ scope: Scope) {
        // A chain has a few links: looking back is cheaper than hashing.
        var seen: [String] = []
        for link in links {
            let name = link.channel.name
            guard let kind = ChannelKind.byName[name] else {
                let s = suggestion(for: name, among: Keywords.channelKinds + ["wait", "if", "split", "set", "exit"])
                report(SemanticCode.unknownChannelKind, link.channel.span, "'\(name)' is not a channel kind", label: "unknown channel",
                       hint: s.map { "did you mean '\($0)'?" } ?? "The channel kinds are \(Keywords.channelKinds.joined(separator: ", ")).")
                checkMessage(link.message, kind: nil, scope)
                continue
            }
            if schema.channels[name] == nil {
                report(SemanticCode.undeclaredChannel, link.channel.span, "the channel '\(name)' is not declared in the schema", label: "undeclared channel",
                       hint: "Declare it, e.g. 'channel \(name) address profile.ATTRIBUTE', or use a declared channel (\(schema.channels.keys.sorted().joined(separator: ", "))).")
            }
            if seen.contains(name) {
                report(SemanticCode.repeatedChannel, link.channel.span, "'\(name)' appears twice in this fallback chain", label: "repeated",
                       hint: "If \(name) was not deliverable the first time, it will not be the second; remove the repeat.")
            }
            seen.append(name)
            checkMessage(link.message, kind: kind, scope)
        }
    }

    mutating func checkMessage(_ message: Message, kind: ChannelKind?, _ scope: Scope) {
        switch message {
        case .text(let e):
            let t = check(e, scope)
            if kind?.name == "sms" { checkSMSLength(e) }
            _ = t
        case .fields(let block):
            checkFields(block, kind: kind, scope)
        case .template(let name, let params):
            _ = check(name, scope)
            if case .string(let parts) = exprs[name].kind, parts.contains(where: { if case .interpolation = $0 { true } else { false } }) {
                report(SemanticCode.typeMismatch, exprs.span(name), "a template's name must be fixed text", label: "no '{…}' here")
            }
            if let p = params { checkFields(p, kind: nil, scope) }
        }
    }

    /// A message block's fields (kind given) or a template's parameters / pass fields (kind nil).
    mutating func checkFields(_ block: FieldBlock, kind: ChannelKind?, _ scope: Scope) {
        // A block has a few fields: looking back is cheaper than hashing, up to a point.
        var seen: Set<String> = []
        let few = block.fields.count <= 16
        for (i, field) in block.fields.enumerated() {
            let name = field.name.name
            let again = few ? block.fields[..<i].contains { $0.name.name == name } : !seen.insert(name).inserted
            if again {
                report(SemanticCode.duplicateField, field.name.span, "the field '\(name)' is given twice", label: "second '\(name)'", hint: "Keep one of the two.")
            }
            var want: MessageFieldType? = nil
            if let kind {
                guard let ft = kind.fieldType(name) else {
                    let names = kind.fields.map(\.0)
                    let s = suggestion(for: name, among: names)
                    report(SemanticCode.unknownMessageField, field.name.span, "\(["email", "in_app"].contains(kind.name) ? "an" : "a") \(kind.name) message has no field '\(name)'" + (s.map { "; did you mean '\($0)'?" } ?? ""),
                           label: "not a \(kind.name) field", hint: "\(kind.name) messages have: \(names.joined(separator: ", ")).")
                    checkValue(field.value, want: nil, scope)
                    continue
                }
                want = ft
            }
            checkValue(field.value, want: want, scope)
            if kind?.name == "sms", name == "text", case .expr(let e) = field.value { checkSMSLength(e) }
        }
    }

    mutating func checkValue(_ value: FieldValue, want: MessageFieldType?, _ scope: Scope) {
        switch value {
        case .block(let inner):
            if let want, want != .record {
                report(SemanticCode.typeMismatch, inner.span, "this field takes a single value, not a block of fields", label: "expected a value")
            }
            checkFields(inner, kind: nil, scope)
        case .expr(let e):
            let t = check(e, scope)
            switch want {
            case .value(let w)?:
                expect(t, w, at: e, what: "this field")
            case .record?:
                report(SemanticCode.typeMismatch, exprs.span(e), "this field takes a block of fields: { name: value, … }", label: "expected { … }")
            case nil:
                if t.isOptional, t != .error { unnarrowed(e, t) }
                if case .event = t { report(SemanticCode.typeMismatch, exprs.span(e), "a whole event cannot be a field's value", label: "pick a field") }
                if t == .profile { report(SemanticCode.typeMismatch, exprs.span(e), "the whole profile cannot be a field's value", label: "pick an attribute") }
            }
        }
    }

    /// Warns when an SMS's fixed text alone is longer than one segment.
    mutating func checkSMSLength(_ e: ExprID) {
        guard case .string(let parts) = exprs[e].kind else { return }
        var count = 0
        var gsm = true
        var units = 0
        for case .text(let s) in parts {
            units += s.utf16.count
            for u in s.unicodeScalars {
                if u.value < 128 {
                    // ASCII from a table: 1 basic, 2 extension (escaped), 0 neither.
                    switch GSM7ASCII[Int(u.value)] {
                    case 1: count += 1
                    case 2: count += 2
                    default: gsm = false
                    }
                } else if GSM7.contains(u) {
                    count += 1
                } else if GSM7Extension.contains(u) {
                    count += 2 // an escape and the character
                } else {
                    gsm = false
                }
            }
        }
        if !gsm { count = units }
        let limit = gsm ? 160 : 70
        if count > limit {
            report(SemanticCode.longSMS, exprs.span(e),
                   "this SMS has at least \(count) characters, more than one segment (\(limit)\(gsm ? "" : ", as it uses characters outside GSM-7"))",
                   label: "\(count) characters", hint: "Shorten it to \(limit) characters or fewer, or it is sent and billed as several messages.")
        }
    }
}

/// The GSM 03.38 basic character set; any other character makes an SMS UCS-2 (70 per segment).
let GSM7: Set<Unicode.Scalar> = {
    let chars = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
    return Set(chars.unicodeScalars)
}()

/// The GSM 03.38 extension table: each costs two of the 160 places.
let GSM7Extension: Set<Unicode.Scalar> = Set("^{}\\[~]|€\u{0C}".unicodeScalars)

/// `GSM7` and `GSM7Extension` for the ASCII range, by code: 1 basic, 2 extension, 0 neither.
let GSM7ASCII: [UInt8] = (0..<128).map { v in
    let u = Unicode.Scalar(UInt8(v))
    return GSM7.contains(u) ? 1 : GSM7Extension.contains(u) ? 2 : 0
}
