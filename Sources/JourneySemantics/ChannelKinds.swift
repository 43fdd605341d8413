/// What a message field holds.
public enum MessageFieldType: Sendable, Hashable {
    case value(JType)
    /// A nested `{ name: value … }` block (wallet pass fields).
    case record
}

/// The built-in channel kinds and the fields of their messages.
public struct ChannelKind: Sendable, Hashable {
    public let name: String
    /// Field names in their canonical order, with their types.
    public let fields: [(String, MessageFieldType)]
    /// The field a plain-string message fills.
    public let textField: String

    public static func == (a: ChannelKind, b: ChannelKind) -> Bool { a.name == b.name }
    public func hash(into h: inout Hasher) { h.combine(name) }

    public func fieldType(_ name: String) -> MessageFieldType? { fields.first { $0.0 == name }?.1 }

    public static let all: [ChannelKind] = [
        ChannelKind(name: "push", fields: [("title", .value(.string)), ("body", .value(.string)), ("image", .value(.url)), ("link", .value(.url))], textField: "body"),
        ChannelKind(name: "web_push", fields: [("title", .value(.string)), ("body", .value(.string)), ("link", .value(.url))], textField: "body"),
        ChannelKind(name: "email", fields: [("subject", .value(.string)), ("body", .value(.string)), ("from", .value(.string))], textField: "body"),
        ChannelKind(name: "sms", fields: [("text", .value(.string))], textField: "text"),
        ChannelKind(name: "whatsapp", fields: [("text", .value(.string))], textField: "text"),
        ChannelKind(name: "wallet", fields: [("pass", .value(.string)), ("fields", .record)], textField: "pass"),
        ChannelKind(name: "in_app", fields: [("slot", .value(.string)), ("content", .value(.string)), ("expires", .value(.duration))], textField: "content"),
    ]

    public static let byName: [String: ChannelKind] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
}
