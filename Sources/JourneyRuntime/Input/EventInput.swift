import Dispatch
import JourneyBytecode

/// An event line that passed validation.
public struct IncomingEvent: Sendable, Hashable {
    public var profile: String
    /// Index into `schema.events`.
    public var event: Int
    /// Seconds since the epoch, UTC.
    public var at: Int64
    /// In schema field order; `.none` for an absent or null optional field.
    public var fields: [Value]
    /// The sender's id for the event, if it gave one: a second event with the same profile and
    /// id is a duplicate (a retry) and is ignored.
    public var id: String?

    public init(profile: String, event: Int, at: Int64, fields: [Value], id: String? = nil) {
        self.profile = profile
        self.event = event
        self.at = at
        self.fields = fields
        self.id = id
    }
}

/// Reads event lines: `{"profile": "u1", "event": "cart_abandoned", "at": "2025-03-01T10:00:00Z", "data": {…}}`.
public enum EventInput {
    static let keys = ["profile", "event", "at", "data", "id"]
    /// How the reason for a line that is not JSON at all begins.
    public static let notJSON = "not valid JSON at column "

    /// Validates one JSON line. Rejects, naming the field: malformed JSON; a missing or ill-typed
    /// `profile`, `event` or `at`; an unknown event (with "did you mean"); `at` without a zone;
    /// `data` not an object; a missing required field; an undeclared field; a value of the wrong
    /// type. `data` may be absent when the event needs no field.
    public static func parse(line: some Collection<UInt8>, number: Int, schema: RuntimeSchema) -> Result<IncomingEvent, InputError> {
        let result = line.withContiguousStorageIfAvailable { validate($0, schema: schema) }
            ?? Array(line).withUnsafeBufferPointer { validate($0, schema: schema) }
        switch result {
        case .success(let e): return .success(e)
        case .failure(let f): return .failure(InputError(line: number, reason: f.reason, raw: InputLines.raw(line)))
        }
    }


    /// An events file read on `parts` threads at once. The events keep file order (with their
    /// line numbers and the byte range of their line, for a later reject); the rejected lines
    /// come with their reasons.
    public static func parseFile(_ bytes: [UInt8], schema: RuntimeSchema, parts: Int) -> EventFile {
        let ranges = pieces(bytes, count: parts)
        let out = UnsafeMutableBufferPointer<EventFile.Part>.allocate(capacity: ranges.count)
        out.initialize(repeating: EventFile.Part())
        defer { out.deinitialize().deallocate() }
        // Each part writes only its own slot; line numbers are made global afterwards.
        nonisolated(unsafe) let slots = out
        DispatchQueue.concurrentPerform(iterations: ranges.count) { k in
            slots[k] = parsePiece(bytes, ranges[k], schema: schema)
        }
        var file = EventFile(bytes: bytes)
        var offset = 0
        for var part in out {
            part.shiftLines(by: offset)
            // Each part's ranks follow the parts before it: unique over the file, each part
            // a sorted run.
            let base = Int32(clamping: file.events.count)
            for i in part.events.indices where part.events[i].historyRank >= 0 { part.events[i].historyRank += base }
            file.events += part.events
            file.errors += part.errors
            offset += part.lines
        }
        return file
    }

    /// Cuts `bytes` after line ends into about `count` pieces of about equal size.
    public static func pieces(_ bytes: [UInt8], count: Int) -> [Range<Int>] {
        var cuts = [0]
        for k in 1..<max(1, count) {
            var p = max(cuts[cuts.count - 1], bytes.count * k / count)
            while p < bytes.count, bytes[p - 1] != 0x0A { p += 1 }
            if p < bytes.count, p > cuts[cuts.count - 1] { cuts.append(p) }
        }
        cuts.append(bytes.count)
        return (0..<(cuts.count - 1)).map { cuts[$0]..<cuts[$0 + 1] }
    }

    /// The events of one piece of a file (see `pieces`), with line numbers counted from the
    /// piece's start (1) and byte ranges in the whole file.
    public static func parsePiece(_ bytes: [UInt8], _ range: Range<Int>, schema: RuntimeSchema) -> EventFile.Part {
        bytes.withUnsafeBufferPointer { all in
            let part = UnsafeBufferPointer(rebasing: all[range])
            var result = EventFile.Part()
            let names = schema.events.map(FastEventLine.asciiNames)
            InputLines.forEach(part) { number, offset, line in
                let start = range.lowerBound + offset
                switch validate(line, schema: schema, names: names) {
                case .success(let e):
                    result.events.append(EventFile.Event(line: number, start: start, end: start + line.count, event: e,
                                                         blob: ValueEncoding.eventBlob(e.fields, schema.events[e.event])))
                case .failure(let f): result.errors.append(InputError(line: number, reason: f.reason, raw: InputLines.raw(line)))
                }
            }
            for c in part where c == 0x0A { result.lines += 1 }
            // The history's key order, worked out here beside the thread that writes: the
            // pieces' events then reach the commit's sort in sorted runs.
            let events = result.events
            let order = StoreSchema.historyOrder(count: events.count, profile: { events[$0].event.profile },
                                                 event: { schema.events[events[$0].event.event].name },
                                                 at: { events[$0].event.at }, tiebreak: { Int64($0) })
            for (rank, k) in order.enumerated() { result.events[k].historyRank = Int32(rank) }
            return result
        }
    }

    /// A reason, before the line number and raw text are attached.
    struct Reject: Error {
        var reason: String
        init(_ reason: String) { self.reason = reason }
    }

    static func validate(_ bytes: UnsafeBufferPointer<UInt8>, schema: RuntimeSchema, names: [[String.UTF8View]?]? = nil) -> Result<IncomingEvent, Reject> {
        if let e = FastEventLine.read(bytes, schema: schema, names: names) { return .success(e) }
        return validateFully(bytes, schema: schema)
    }

    /// Reads a line as a JSON document first, then checks it: every reject's reason comes from
    /// here (`FastEventLine` only ever accepts what this accepts, with the same result).
    static func validateFully(_ bytes: UnsafeBufferPointer<UInt8>, schema: RuntimeSchema) -> Result<IncomingEvent, Reject> {
        let doc: JSONValue
        switch JSON.parse(buffer: bytes) {
        case .success(let v): doc = v
        case .failure(let e): return .failure(Reject("\(notJSON)\(e.offset + 1): \(e.message)"))
        }
        guard case .object(let members) = doc else {
            return .failure(Reject("an event must be a JSON object like {\"profile\": …, \"event\": …, \"at\": …, \"data\": {…}}, found \(Found.describe(doc))"))
        }
        var profileValue: JSONValue?, eventValue: JSONValue?, atValue: JSONValue?, dataValue: JSONValue?, idValue: JSONValue?
        for (key, value) in members {
            switch key {
            case "profile": if profileValue != nil { return .failure(duplicate(key)) }; profileValue = value
            case "event": if eventValue != nil { return .failure(duplicate(key)) }; eventValue = value
            case "at": if atValue != nil { return .failure(duplicate(key)) }; atValue = value
            case "data": if dataValue != nil { return .failure(duplicate(key)) }; dataValue = value
            case "id": if idValue != nil { return .failure(duplicate(key)) }; idValue = value
            default:
                return .failure(Reject("unknown key \(JSON.quote(key)) (an event has profile, event, at, data and an optional id)" + Suggestion.hint(key, among: keys)))
            }
        }

        let head: Header
        switch header(profile: profileValue, event: eventValue, at: atValue, id: idValue, schema: schema) {
        case .success(let h): head = h
        case .failure(let f): return .failure(f)
        }
        let (index, def) = (head.index, schema.events[head.index])

        // data
        var fields = [Value](repeating: .none, count: def.fields.count)
        var seen = [Bool](repeating: false, count: def.fields.count)
        switch dataValue {
        case nil, .null?:
            break
        case .object(let data)?:
            for (key, value) in data {
                guard let k = def.fieldIndex(key) else {
                    return .failure(Reject(undeclared(key, in: def)))
                }
                if seen[k] { return .failure(Reject("field \(JSON.quote(key)) appears twice in data")) }
                seen[k] = true
                switch ValueCoder.decode(value, as: def.fields[k].type) {
                case .success(let v): fields[k] = v
                case .failure(let why): return .failure(Reject("field \(JSON.quote(key)) of \(def.name): \(why.message)"))
                }
            }
        case let other?:
            return .failure(Reject("\"data\" must be an object holding the fields of \(def.name), found \(Found.describe(other))"))
        }
        if let missing = missingFields(seen, of: def, noData: dataValue == nil || dataValue == .null) { return .failure(missing) }
        return .success(IncomingEvent(profile: head.profile, event: index, at: head.at, fields: fields, id: head.id))
    }

    /// What an event line says of itself besides its data: checked.
    struct Header {
        var profile: String
        var id: String?
        var index: Int
        var at: Int64
    }

    /// Checks the members beside `data` (nil: absent), in the order the reasons are given.
    static func header(profile profileValue: JSONValue?, event eventValue: JSONValue?, at atValue: JSONValue?, id idValue: JSONValue?,
                       schema: RuntimeSchema) -> Result<Header, Reject> {
        // profile: none for a catalog event (about a product or a store, not one profile)
        let profile: String
        if case .string(let name)? = eventValue, let k = schema.eventIndex(name), schema.events[k].catalog {
            if let p = profileValue, p != .null {
                return .failure(Reject("\(name) is a catalog event, about a product rather than one profile: it takes no \"profile\", found \(Found.describe(p)); remove it"))
            }
            profile = ""
        } else {
            guard let p = profileValue else { return .failure(Reject("missing \"profile\" (the profile id)")) }
            switch p {
            case .string(let s) where !s.isEmpty: profile = s
            case .number(let n): profile = n
            default: return .failure(Reject("\"profile\" must be a non-empty string (the profile id), found \(Found.describe(p))"))
            }
            if let why = ProfileID.problem(profile) { return .failure(Reject("\"profile\" \(why)")) }
        }

        // id (optional): the same rules as a profile id.
        var eventID: String?
        switch idValue {
        case nil, .null?: break
        case .string(let s)?:
            if let why = ProfileID.problem(s) { return .failure(Reject("\"id\" \(why)")) }
            eventID = s
        case .number(let n)?: eventID = n
        case let other?: return .failure(Reject("\"id\" must be a string (the event's own id, for retries), found \(Found.describe(other))"))
        }

        // event
        guard let e = eventValue else { return .failure(Reject("missing \"event\" (the event name)")) }
        guard case .string(let name) = e else {
            return .failure(Reject("\"event\" must be a string naming a declared event, found \(Found.describe(e))"))
        }
        guard let index = schema.eventIndex(name) else { return .failure(Reject(unknownEvent(name, schema: schema))) }

        // at
        guard let a = atValue else { return .failure(Reject("missing \"at\" (when it happened, ISO 8601 like \"2025-03-01T10:00:00Z\")")) }
        guard case .string(let atText) = a else {
            return .failure(Reject("\"at\" must be an ISO 8601 time with a zone, like \"2025-03-01T10:00:00Z\", found \(Found.describe(a))"))
        }
        guard let at = Value.parseISO8601(atText) else {
            if Value.parseISO8601(atText + "Z") != nil {
                return .failure(Reject("\"at\" has no time zone: \(Found.describe(a)); add Z (UTC) or an offset like +02:00"))
            }
            return .failure(Reject("\"at\" must be an ISO 8601 time with a zone, like \"2025-03-01T10:00:00Z\", found \(Found.describe(a))"))
        }
        guard Value.instantRange.contains(at) else {
            return .failure(Reject("\"at\" is \(Found.describe(a)), outside the times the runtime keeps (1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z)"))
        }
        return .success(Header(profile: profile, id: eventID, index: index, at: at))
    }

    /// The reject for required fields the data left out (`noData`: it had none), if any.
    static func missingFields(_ seen: [Bool], of def: EventDef, noData: Bool) -> Reject? {
        let missing = def.fields.indices.filter { !seen[$0] && !def.fields[$0].type.isOptional }
        guard !missing.isEmpty else { return nil }
        let list = missing.map { "\(JSON.quote(def.fields[$0].name)) (\(def.fields[$0].type))" }.joined(separator: ", ")
        if noData { return Reject("missing \"data\": \(def.name) needs \(list)") }
        return Reject("missing field\(missing.count > 1 ? "s" : "") \(list) in data of \(def.name)")
    }

    static func duplicate(_ key: String) -> Reject { Reject("\(JSON.quote(key)) appears twice") }

    static func unknownEvent(_ name: String, schema: RuntimeSchema) -> String {
        let names = schema.events.map(\.name)
        if let s = Suggestion.closest(to: name, among: names) {
            return "unknown event \(JSON.quote(name)); did you mean \(JSON.quote(s))?"
        }
        if names.isEmpty { return "unknown event \(JSON.quote(name)) (the schema declares no events)" }
        let shown = names.prefix(8).joined(separator: ", ") + (names.count > 8 ? ", …" : "")
        return "unknown event \(JSON.quote(name)) (declared events: \(shown))"
    }

    static func undeclared(_ key: String, in def: EventDef) -> String {
        if def.fields.isEmpty { return "undeclared field \(JSON.quote(key)) in data: \(def.name) has no fields" }
        return "undeclared field \(JSON.quote(key)) in data: \(def.name) has no such field"
            + (Suggestion.closest(to: key, among: def.fields.map(\.name)).map { "; did you mean \(JSON.quote($0))?" }
                ?? " (its fields: \(def.fields.map(\.name).joined(separator: ", ")))")
    }
}

/// A parsed events file: its valid events in file order and its rejected lines.
public struct EventFile: Sendable {
    public struct Event: Sendable {
        public var line: Int
        /// The line's bytes in the file.
        public var start: Int
        public var end: Int
        public var event: IncomingEvent
        /// Its fields as the history stores them (`ValueEncoding.eventBlob`), when the parser
        /// made them (on its own thread, beside the one that writes).
        public var blob: [UInt8]?
        /// Its place among its piece's events in the history's key order (profile, event, at,
        /// line), when the parser worked it out; -1 otherwise.
        public var historyRank: Int32 = -1

        public init(line: Int, start: Int, end: Int, event: IncomingEvent, blob: [UInt8]? = nil) {
            self.line = line
            self.start = start
            self.end = end
            self.event = event
            self.blob = blob
        }
    }

    /// A piece of a file: its events and rejects, and how many lines it spans.
    public struct Part: Sendable {
        public var events: [Event] = []
        public var errors: [InputError] = []
        public var lines = 0

        /// Makes line numbers count from the file's start, given the lines before the piece.
        public mutating func shiftLines(by offset: Int) {
            for i in events.indices { events[i].line += offset }
            for i in errors.indices { errors[i].line += offset }
        }
    }

    public let bytes: [UInt8]
    public var events: [Event] = []
    public var errors: [InputError] = []

    public init(bytes: [UInt8], events: [Event] = [], errors: [InputError] = []) {
        self.bytes = bytes
        self.events = events
        self.errors = errors
    }

    /// The text of an event's line in the file's `bytes`, as a reject keeps it.
    static func raw(_ e: Event, in bytes: [UInt8]) -> String { InputLines.raw(bytes[e.start..<e.end]) }
}
