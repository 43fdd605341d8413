import JourneyDiagnostics
import JourneySyntax

/// A declared field (profile attribute or event field) with its resolved type.
public struct SchemaField: Sendable, Hashable {
    public var name: String
    public var type: JType
    public var file: String
    public var span: Span
    /// A profile attribute's checked default (`bonus: int = 0`).
    public var defaultValue: DefaultLiteral?
}

/// A default value as the schema may give one: a literal of the attribute's type.
public enum DefaultLiteral: Sendable, Hashable {
    case none
    case bool(Bool)
    case int(Int64)
    /// Decimal text, at most six decimals, within the range of money.
    case decimal(String)
    case string(String)
    case date(Int, Int, Int)
    case duration(Int64)
    /// An instant (`time`), in seconds since 1970.
    case time(Int64)
    /// A list of literals of the item type: `["vip", "runner"]`, `[]`.
    indirect case list([DefaultLiteral])
}

/// A declared event.
public struct EventSchema: Sendable, Hashable {
    public var name: String
    public var fields: [SchemaField] { didSet { index = fieldIndex(fields) } }
    public var file: String
    public var span: Span
    /// A catalog event: about a product or a store, not one profile (`catalog event`).
    public var catalog: Bool
    private var index: [String: Int]

    public init(name: String, fields: [SchemaField], file: String, span: Span, catalog: Bool = false) {
        self.name = name
        self.fields = fields
        self.file = file
        self.span = span
        self.catalog = catalog
        self.index = fieldIndex(fields)
    }

    public func field(_ name: String) -> SchemaField? { index[name].map { fields[$0] } }
    /// A field's type alone: what the checker asks for every `alias.field`, without copying
    /// the field's name and file.
    public func fieldType(_ name: String) -> JType? { index[name].map { fields[$0].type } }
}

func fieldIndex(_ fields: [SchemaField]) -> [String: Int] {
    var out: [String: Int] = [:]
    for (i, f) in fields.enumerated() where out[f.name] == nil { out[f.name] = i }
    return out
}

/// A declared channel: its kind bound to profile attributes.
public struct ChannelBinding: Sendable, Hashable {
    public var kind: String
    /// The profile attribute holding the address, and the one holding consent.
    public var address: String?
    public var consent: String?
    public var file: String
    public var span: Span
}

/// The global send policy.
public struct Policy: Sendable, Hashable {
    public var cap: (count: Int, windowSeconds: Int64)?
    public var quietHours: (from: Int, to: Int)?
    /// ISO 4217 code money is shown in, unless the profile has a `currency` of its own.
    public var currency: String?
    /// How dates and numbers read, unless the profile has a `locale` of its own.
    public var locale: String?

    public init() {}

    public static func == (a: Policy, b: Policy) -> Bool {
        a.cap?.count == b.cap?.count && a.cap?.windowSeconds == b.cap?.windowSeconds
            && a.quietHours?.from == b.quietHours?.from && a.quietHours?.to == b.quietHours?.to
            && a.currency == b.currency && a.locale == b.locale
    }
    public func hash(into h: inout Hasher) {
        h.combine(cap?.count); h.combine(cap?.windowSeconds); h.combine(quietHours?.from); h.combine(quietHours?.to)
        h.combine(currency); h.combine(locale)
    }
}

/// Everything the project's schema declares.
public struct Schema: Sendable {
    public var profile: [SchemaField] = [] { didSet { profileIndex = fieldIndex(profile) } }
    private var profileIndex: [String: Int] = [:]
    public var hasProfile = false
    public var events: [String: EventSchema] = [:]
    public var channels: [String: ChannelBinding] = [:]
    public var policy = Policy()

    public init() {}

    public func attribute(_ name: String) -> SchemaField? { profileIndex[name].map { profile[$0] } }
    /// An attribute's type alone (every `profile.x` the checker reads asks).
    public func attributeType(_ name: String) -> JType? { profileIndex[name].map { profile[$0].type } }
    /// An event field's type alone, without copying the event's schema out of the table.
    public func fieldType(event: String, _ field: String) -> JType? {
        guard let i = events.index(forKey: event) else { return nil }
        return events.values[i].fieldType(field)
    }
}
