import JourneySemantics

/// The type of a declared attribute or event field, as the runtime needs it.
public indirect enum FieldType: Sendable, Hashable, CustomStringConvertible {
    case bool, int, decimal, money, string, url, date, time, duration
    case optional(FieldType)
    case list(FieldType)

    public var description: String {
        switch self {
        case .bool: "bool"
        case .int: "int"
        case .decimal: "decimal"
        case .money: "money"
        case .string: "string"
        case .url: "url"
        case .date: "date"
        case .time: "time"
        case .duration: "duration"
        case .optional(let t): "\(t)?"
        case .list(let t): "list[\(t)]"
        }
    }

    public var isOptional: Bool { if case .optional = self { true } else { false } }
    public var unwrapped: FieldType { if case .optional(let t) = self { t } else { self } }

    /// Parses the spelling `description` gives.
    public init?(_ s: Substring) {
        if s.hasSuffix("?") {
            guard let inner = FieldType(s.dropLast()) else { return nil }
            self = .optional(inner)
            return
        }
        if s.hasPrefix("list["), s.hasSuffix("]") {
            guard let inner = FieldType(s.dropFirst(5).dropLast()) else { return nil }
            self = .list(inner)
            return
        }
        switch s {
        case "bool": self = .bool
        case "int": self = .int
        case "decimal": self = .decimal
        case "money": self = .money
        case "string": self = .string
        case "url": self = .url
        case "date": self = .date
        case "time": self = .time
        case "duration": self = .duration
        default: return nil
        }
    }

    init?(_ t: JType) {
        switch t {
        case .bool: self = .bool
        case .int: self = .int
        case .decimal: self = .decimal
        case .money: self = .money
        case .string: self = .string
        case .url: self = .url
        case .date: self = .date
        case .time: self = .time
        case .duration: self = .duration
        case .optional(let inner): guard let i = FieldType(inner) else { return nil }; self = .optional(i)
        case .list(let inner): guard let i = FieldType(inner) else { return nil }; self = .list(i)
        default: return nil
        }
    }
}

/// A named, typed attribute or field.
public struct FieldDef: Sendable, Hashable {
    public var name: String
    public var type: FieldType
    /// A profile attribute's default: what existing profiles get when it is added.
    public var defaultValue: Value?
    public init(name: String, type: FieldType, defaultValue: Value? = nil) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
    }
}

public struct EventDef: Sendable, Hashable {
    public var name: String
    public var fields: [FieldDef]
    /// About a product or a store, not one profile: it comes without a profile (format 4).
    public var catalog = false
    public init(name: String, fields: [FieldDef], catalog: Bool = false) {
        self.name = name
        self.fields = fields
        self.catalog = catalog
    }
    public func fieldIndex(_ name: String) -> Int? { fields.firstIndex { $0.name == name } }
}

public struct ChannelDef: Sendable, Hashable {
    public var kind: String
    /// Profile attribute indices.
    public var address: Int
    public var consent: Int?
    public init(kind: String, address: Int, consent: Int?) {
        self.kind = kind
        self.address = address
        self.consent = consent
    }
}

/// The schema a bundle was compiled against: everything the runtime needs to validate input,
/// store profiles and decide deliverability.
public struct RuntimeSchema: Sendable, Hashable {
    public var attributes: [FieldDef] = []
    public var events: [EventDef] = []
    public var channels: [ChannelDef] = []
    public var capCount: Int?
    public var capWindow: Int64?
    /// Quiet hours in minutes after local midnight.
    public var quietFrom: Int?
    public var quietTo: Int?

    public init() {}

    public func attributeIndex(_ name: String) -> Int? { attributes.firstIndex { $0.name == name } }
    public func eventIndex(_ name: String) -> Int? { events.firstIndex { $0.name == name } }
    public func channel(_ kind: String) -> ChannelDef? { channels.first { $0.kind == kind } }
    /// The profile attribute holding the IANA time zone, if the schema declares one.
    public var timezoneAttribute: Int? { attributeIndex("timezone") }

    /// Built from a checked project's schema, in a stable order (declaration order for the
    /// profile, names sorted for events and channels).
    public init(_ s: Schema) {
        attributes = s.profile.compactMap { f in
            FieldType(f.type).map { t in FieldDef(name: f.name, type: t, defaultValue: f.defaultValue.map { RuntimeSchema.value($0, t) }) }
        }
        events = s.events.keys.sorted().compactMap { name in
            s.events[name].map { e in EventDef(name: name, fields: e.fields.compactMap { f in FieldType(f.type).map { FieldDef(name: f.name, type: $0) } }, catalog: e.catalog) }
        }
        for kind in s.channels.keys.sorted() {
            guard let c = s.channels[kind], let a = c.address.flatMap({ name in attributes.firstIndex { $0.name == name } }) else { continue }
            channels.append(ChannelDef(kind: kind, address: a, consent: c.consent.flatMap { name in attributes.firstIndex { $0.name == name } }))
        }
        capCount = s.policy.cap?.count
        capWindow = s.policy.cap?.windowSeconds
        quietFrom = s.policy.quietHours?.from
        quietTo = s.policy.quietHours?.to
    }
}

extension RuntimeSchema {
    /// A checked default literal as the value its attribute holds.
    public static func value(_ d: DefaultLiteral, _ type: FieldType) -> Value {
        switch d {
        case .none: return .none
        case .bool(let b): return .bool(b)
        case .int(let i):
            switch type.unwrapped {
            case .money: return .money(i * Value.scale)
            case .decimal: return .decimal(i * Value.scale)
            default: return .int(i)
            }
        case .decimal(let text):
            let v = Value.parseFixed(Substring(text)) ?? 0
            return type.unwrapped == .money ? .money(v) : .decimal(v)
        case .string(let s): return .string(s)
        case .date(let y, let m, let d): return .date(Int32(CivilDate(year: Int64(y), month: Int64(m), day: Int64(d))?.days ?? 0))
        case .duration(let s): return .duration(s)
        case .time(let t): return .time(t)
        case .list(let items):
            guard case .list(let element) = type.unwrapped else { return .none }
            return .list(items.map { value($0, element) })
        }
    }
}
