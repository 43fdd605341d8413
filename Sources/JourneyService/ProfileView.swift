import JourneyBytecode
import JourneyRuntime

/// A profile as the 360° view shows it: attributes, recent events, journeys (where each stands)
/// and messages with their delivery and receipts. The API answers it as JSON; the console
/// draws it as a page with a timeline.
struct ProfileView: Sendable {
    var id: String
    var attributes: [(name: String, value: Value)] = []
    /// Newest first.
    var events: [StoredEvent] = []
    /// Each instance, newest first, with the source line it stands at.
    var journeys: [(instance: InstanceSummary, line: Int?)] = []
    /// Newest first.
    var messages: [(record: DeliveryRecord, receipts: [Receipt])] = []

    init(id: String) { self.id = id }

    /// The view from a store whose profiles read as `schema`, or nil when there is no such profile.
    static func build(_ store: any ServiceStore, schema: RuntimeSchema, id: String) throws -> ProfileView? {
        guard let values = try store.loadProfile(id) else { return nil }
        var view = ProfileView(id: id)
        view.attributes = zip(schema.attributes, values).map { ($0.name, $1) }
        view.events = try store.recentEvents(profile: id, limit: 50, schema: schema)
        var lines = InstanceLines(store: store)
        view.journeys = try store.instanceSummaries(journey: nil, status: nil, limit: 50, profile: id).map { ($0, lines.line($0)) }
        view.messages = try store.messages(profile: id, channel: nil, limit: 50).map { ($0, try store.receipts(message: $0.message.id)) }
        return view
    }

    func json() -> String {
        let attributes = self.attributes.map { "\(JSON.quote($0.name)): \(ValueEncoding.json($0.value))" }
        let events = self.events.map { e in
            "{\"event\": \(JSON.quote(e.event)), \"at\": \(JSON.quote(Value.iso8601(e.at))), \"data\": {"
                + e.fields.map { "\(JSON.quote($0.0)): \(ValueEncoding.json($0.1))" }.joined(separator: ", ") + "}}"
        }
        let journeys = self.journeys.map { i, line -> String in
            var fields = ["\"journey\": \(JSON.quote(i.journey))", "\"version\": \(JSON.quote(String(i.bundle.prefix(12))))",
                          "\"state\": \(JSON.quote(i.status))", "\"since\": \(JSON.quote(Value.iso8601(i.status == "active" ? i.enteredAt : (i.endedAt ?? i.enteredAt))))"]
            if i.status == "active" {
                var waiting: [String] = []
                if let l = line { waiting.append("\"line\": \(l)") }
                if let e = i.waitsFor { waiting.append("\"for\": \(JSON.quote(e))") }
                if let d = i.due { waiting.append("\"until\": \(JSON.quote(Value.iso8601(d)))") }
                fields.append("\"waiting\": {\(waiting.joined(separator: ", "))}")
            } else {
                fields.append("\"waiting\": null")
            }
            if let r = i.reason { fields.append("\"reason\": \(JSON.quote(r))") }
            return "{" + fields.joined(separator: ", ") + "}"
        }
        let messages = self.messages.map { m, receipts -> String in
            var fields = ["\"id\": \(JSON.quote(m.message.id))", "\"at\": \(JSON.quote(Value.iso8601(m.message.at)))",
                          "\"journey\": \(JSON.quote(m.message.journey))", "\"channel\": \(m.message.channel.map(JSON.quote) ?? "null")",
                          "\"status\": \(JSON.quote(m.message.status))", "\"delivery\": \(m.delivery.map(JSON.quote) ?? "null")",
                          "\"address\": \(m.address.map(JSON.quote) ?? "null")", "\"content\": \(m.message.content ?? "null")"]
            if let r = m.message.reason { fields.append("\"reason\": \(JSON.quote(r))") }
            fields.append("\"receipts\": [" + receipts.map { "{\"status\": \(JSON.quote($0.status)), \"at\": \(JSON.quote(Value.iso8601($0.at)))}" }.joined(separator: ", ") + "]")
            return "{" + fields.joined(separator: ", ") + "}"
        }
        return "{\"id\": \(JSON.quote(id)), \"attributes\": {\(attributes.joined(separator: ", "))}, \"events\": [\(events.joined(separator: ", "))], "
            + "\"journeys\": [\(journeys.joined(separator: ", "))], \"messages\": [\(messages.joined(separator: ", "))]}"
    }
}
