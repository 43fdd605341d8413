import Foundation
import JourneyBytecode
import JourneyRuntime

/// What each console page shows, as the values its template reads. A key is left out rather
/// than set to "" or 0 where the template asks "is there one?" (Mustache treats both as present).
enum ConsoleViews {
    static func short(_ hash: String) -> String { String(hash.prefix(12)) }

    /// Why a journey page has no diagram.
    static func noDiagram(carriesSource: Bool) -> String {
        carriesSource
            ? "Graphviz's dot is not installed here, so the diagram cannot be drawn; the table below has every step's numbers."
            : "This version was built before bundles carried their source, so its diagram cannot be drawn; the table below has every step's numbers."
    }

    /// What a URL may carry as it is: letters, digits and `-._~` (RFC 3986's unreserved).
    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// One row per journey: its numbers over all versions, its current version and last deploy.
    static func journeys(_ report: StatsReport) -> [String: Any] {
        var order: [String] = []
        var byName: [String: [JourneyStats]] = [:]
        for j in report.journeys {
            if byName[j.journey] == nil { order.append(j.journey) }
            byName[j.journey, default: []].append(j)
        }
        let rows: [[String: Any]] = order.map { name in
            let versions = byName[name] ?? []
            let entered = versions.reduce(0) { $0 + $1.entered }
            let converted = versions.reduce(0) { $0 + $1.converted }
            let latest = versions.first { $0.isCurrent } ?? versions[versions.count - 1]
            var row: [String: Any] = [
                "name": name,
                "entered": entered,
                "active": versions.reduce(0) { $0 + $1.active },
                "converted": converted,
                "rate": StatsFormat.percent(entered > 0 ? Double(converted) / Double(entered) : nil),
                "version": short(latest.version) + (latest.isCurrent ? "" : " (no longer deployed)"),
                "deployed": latest.deployedAt.map(Format.time) ?? "–",
            ]
            if !latest.title.isEmpty { row["title"] = latest.title }
            if versions.count > 1 { row["versions"] = "\(versions.count) versions" }
            return row
        }
        var view: [String: Any] = ["journeys": rows]
        if !rows.isEmpty { view["hasJourneys"] = true }
        return view
    }

    static func journey(_ j: JourneyStats, all: [JourneyStats]) -> [String: Any] {
        var view: [String: Any] = [
            "name": j.journey,
            "version": short(j.version),
            "current": j.isCurrent,
            "entered": j.entered,
            "active": j.active,
            "converted": j.converted,
            "rate": StatsFormat.percent(j.conversionRate),
            "exited": j.exited,
            "completed": j.completed,
            "timeToConvert": j.medianTimeToConvert.map(StatsFormat.span) ?? "–",
        ]
        if !j.conversionTimes.isEmpty { view["conversions"] = "of \(j.conversionTimes.count) conversion\(j.conversionTimes.count == 1 ? "" : "s")" }
        if !j.title.isEmpty { view["title"] = j.title }
        if let d = j.deployedAt { view["deployed"] = Format.time(d) }
        if j.failed > 0 { view["failed"] = j.failed }
        let others = all.filter { $0.journey == j.journey && $0.version != j.version }
        if !others.isEmpty {
            view["hasOtherVersions"] = true
            view["otherVersions"] = others.map { ["hash": $0.version, "short": short($0.version) + ($0.isCurrent ? " (current)" : "")] as [String: Any] }
        }
        view["steps"] = j.steps.map { s -> [String: Any] in
            ["line": s.line, "label": s.label, "reached": s.reached, "waiting": s.waiting, "outcomes": s.outcomesText]
        }
        let splits: [[String: Any]] = j.splits.map { split in
            var v: [String: Any] = ["line": split.line]
            if let c = split.control, let rule = split.controlRule {
                v["controlText"] = "Each branch is compared with “\(split.branches[c].label)”, " + (rule == "labelled control" ? "the branch labelled control." : "\(rule).")
            } else {
                v["controlText"] = "No branch is compared: none is labelled control, and not exactly one sends nothing. Label one branch “control” to compare the others with it."
            }
            v["branches"] = split.branches.map { ["label": $0.label, "entered": $0.entered, "converted": $0.converted, "rate": StatsFormat.percent($0.rate)] as [String: Any] }
            let comparisons: [[String: Any]] = split.comparisons.map { c in
                guard let e = c.estimate else {
                    return ["branch": c.branch, "control": c.control, "lift": "–", "interval": "–", "relative": "–", "p": "–",
                            "verdict": Verdict.tooEarly.rawValue, "verdictClass": "early"]
                }
                return ["branch": c.branch, "control": c.control, "lift": StatsFormat.points(e.lift) + " points",
                        "interval": "\(StatsFormat.points(e.ci95.low)) to \(StatsFormat.points(e.ci95.high)) points",
                        "relative": e.relativeLift.map { String(format: "%+.1f%%", $0 * 100) } ?? "–", "p": StatsFormat.pValue(e.pValue),
                        "verdict": e.verdict.rawValue, "verdictClass": e.verdict == .better ? "better" : (e.verdict == .worse ? "worse" : "neutral")]
            }
            v["comparisons"] = comparisons
            if !comparisons.isEmpty { v["hasComparisons"] = true }
            return v
        }
        view["splits"] = splits
        if !splits.isEmpty { view["hasSplits"] = true }
        return view
    }

    static func profile(_ p: ProfileView) -> [String: Any] {
        var view: [String: Any] = ["id": p.id]
        view["attributes"] = p.attributes.map { ["name": $0.name, "value": ValueEncoding.json($0.value)] as [String: Any] }
        let journeys: [[String: Any]] = p.journeys.map { i, line in
            var whereNow = "–"
            if i.status == "active" {
                whereNow = (i.waitsFor.map { "waits for \($0)" } ?? "waits") + (line.map { " at line \($0)" } ?? "")
                if let d = i.due { whereNow += (i.waitsFor == nil ? " until " : " until at most ") + Format.time(d) }
            } else if let r = i.reason {
                whereNow = r
            }
            return ["journey": i.journey, "state": i.status, "since": Format.time(i.status == "active" ? i.enteredAt : (i.endedAt ?? i.enteredAt)), "where": whereNow]
        }
        view["journeys"] = journeys
        if !journeys.isEmpty { view["hasJourneys"] = true }
        // The timeline: events, entries and endings, messages; newest first.
        var items: [(at: Int64, order: Int, item: [String: Any])] = []
        for e in p.events {
            let data = e.fields.map { "\($0.0): \(ValueEncoding.json($0.1))" }.joined(separator: ", ")
            var item: [String: Any] = ["kind": "event", "what": "did \(e.event)"]
            if !data.isEmpty { item["detail"] = data }
            items.append((e.at, 0, item))
        }
        for (i, _) in p.journeys {
            items.append((i.enteredAt, 1, ["kind": "step", "what": "entered \(i.journey)"]))
            if let ended = i.endedAt, i.status != "active" {
                var item: [String: Any] = ["kind": "step", "what": "\(i.status) in \(i.journey)"]
                if let r = i.reason { item["detail"] = r }
                items.append((ended, 3, item))
            }
        }
        for (m, receipts) in p.messages {
            var what = "\(m.message.channel ?? "no channel") message from \(m.message.journey): \(m.message.status)"
            if let d = m.delivery { what += ", delivery \(d)" }
            if !receipts.isEmpty { what += ", " + receipts.map(\.status).joined(separator: ", ") }
            var item: [String: Any] = ["kind": "message", "what": what]
            let detail = m.message.content ?? m.message.reason ?? ""
            if !detail.isEmpty { item["detail"] = detail }
            items.append((m.message.at, 2, item))
        }
        items.sort { ($0.at, $0.order) > ($1.at, $1.order) }
        view["timeline"] = items.map { x -> [String: Any] in
            var item = x.item
            item["time"] = Format.time(x.at)
            item["iso"] = Value.iso8601(x.at)
            return item
        }
        return view
    }

    static func deliveries(_ d: (pending: [(channel: String, count: Int)], failed: [DeliveryRecord], total: Int), csrf: String) -> [String: Any] {
        var view: [String: Any] = [:]
        view["pending"] = d.pending.map { ["channel": $0.channel, "count": $0.count] as [String: Any] }
        view["failed"] = d.failed.map { r -> [String: Any] in
            var v: [String: Any] = [
                "id": r.message.id,
                "anchor": r.message.id.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) ? String($0) : "-" }.joined(),
                "pathID": r.message.id.addingPercentEncoding(withAllowedCharacters: unreserved) ?? "",
                "channel": r.message.channel ?? "–",
                "journey": r.message.journey,
                "profile": r.message.profile,
                "profileQuery": r.message.profile.addingPercentEncoding(withAllowedCharacters: unreserved) ?? "",
                "at": Format.time(r.message.at),
                "csrf": csrf,
            ]
            if let a = r.address { v["address"] = a }
            v["attempts"] = r.attempts.map { a -> [String: Any] in
                ["n": a.n, "at": Format.time(a.at), "code": a.code.map(String.init) ?? "–", "error": a.error ?? "–", "outcome": a.outcome]
            }
            return v
        }
        if d.total > d.failed.count {
            view["more"] = true
            view["shown"] = d.failed.count
            view["total"] = d.total
        }
        return view
    }

    static func rejects(_ d: (rows: [RejectRow], total: Int)) -> [String: Any] {
        var view: [String: Any] = [:]
        view["rejects"] = d.rows.map { r -> [String: Any] in
            ["at": Format.time(r.at), "source": r.source, "line": r.line > 0 ? String(r.line) : "–", "reason": r.reason, "raw": r.raw.isEmpty ? "–" : r.raw]
        }
        if !d.rows.isEmpty { view["hasRejects"] = true }
        if d.total > d.rows.count {
            view["more"] = true
            view["shown"] = d.rows.count
            view["total"] = d.total
        }
        return view
    }
}
