import ArgumentParser
import Foundation
import JourneyBytecode
import JourneyRuntime

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "How the journeys do: the funnel step by step, conversions, and each split's lift over its control with a 95% interval.",
        discussion: """
        Counts are per journey version (bundle). --since takes the instances that entered since then (to the hour: \
        counts are kept per hour of entry), so the funnel, the conversions and the splits all count the same customers. \
        A split's control is its branch labelled `control`, or else its only branch that sends nothing. \
        The interval is Newcombe's hybrid score interval for a difference of proportions; the p-value is the pooled \
        two-proportion z-test's. With fewer than 30 conversions in either arm the verdict is "too early to tell".
        """
    )
    @Option(help: "The database: a SQLite file, or postgres://user@host:port/dbname.") var db: String
    @Option(help: "Only this journey.") var journey: String?
    @Option(help: "Only the customers who entered since this instant (ISO 8601, or a date; counted to the hour).") var since: String?
    @Option(help: "text (default) or json.") var format: StatsFormat = .text

    enum StatsFormat: String, ExpressibleByArgument, CaseIterable { case text, json }

    func run() throws {
        let store = try openAnyStoreForReading(db)
        let report = try StatsReport.build(store, journey: journey, since: try since.map { try parseInstant($0, "--since") })
        if let j = journey, report.journeys.isEmpty {
            throw UsageError(description: "no journey named '\(j)' in \(db) (neither deployed nor counted)")
        }
        switch format {
        case .json: write(report.json() + "\n")
        case .text: write(StatsText.render(report))
        }
    }
}

/// The stats as a person reads them in a terminal.
enum StatsText {
    static func percent(_ r: Double?) -> String { StatsFormat.percent(r) }
    static func points(_ d: Double) -> String { StatsFormat.points(d) }
    static func span(_ seconds: Int64) -> String { StatsFormat.span(seconds) }

    static func render(_ report: StatsReport) -> String {
        if report.journeys.isEmpty { return "no journeys deployed or counted\n" }
        var out = ""
        if let s = report.since { out += "since \(timelineTime(s))\n\n" }
        for j in report.journeys {
            out += journey(j) + "\n"
        }
        return out
    }

    static func journey(_ j: JourneyStats) -> String {
        var out = "\(j.journey)" + (j.title.isEmpty ? "" : " \"\(terminalSafe(j.title))\"") + "\n"
        out += "  version \(j.version)" + (j.isCurrent ? " (current" : " (earlier") + (j.deployedAt.map { ", deployed \(timelineTime($0))" } ?? "") + ")\n"
        out += "  entered \(j.entered) · active \(j.active) · converted \(j.converted) (\(percent(j.conversionRate))) · exited \(j.exited) · completed \(j.completed)"
        out += j.failed > 0 ? " · failed \(j.failed)\n" : "\n"
        if let m = j.medianTimeToConvert, let mean = j.meanTimeToConvert {
            out += "  time to convert: median \(span(m)), mean \(span(Int64(mean.rounded()))) (\(j.conversionTimes.count) conversion\(j.conversionTimes.count == 1 ? "" : "s"))\n"
        }
        if !j.steps.isEmpty {
            out += "\n  " + "line".padded(6) + "step".padded(44) + "reached".leftPadded(8) + "waiting".leftPadded(9) + "  outcomes\n"
            for s in j.steps {
                var label = terminalSafe(s.label)
                if label.count > 42 { label = String(label.prefix(41)) + "…" }
                out += "  " + String(s.line).leftPadded(4) + "  " + label.padded(44) + String(s.reached).leftPadded(8) + String(s.waiting).leftPadded(9)
                let outcomes = terminalSafe(s.outcomesText)
                out += outcomes.isEmpty ? "\n" : "  " + outcomes + "\n"
            }
        }
        for split in j.splits {
            out += "\n  split at line \(split.line)"
            if let c = split.control, let rule = split.controlRule {
                out += " (control: \(split.branches[c].label), \(rule))\n"
            } else {
                out += " (no control: no branch is labelled control, and not exactly one sends nothing; label one `control` to compare)\n"
            }
            out += "    " + "branch".padded(16) + "entered".leftPadded(9) + "converted".leftPadded(11) + "rate".leftPadded(8) + "\n"
            for b in split.branches {
                out += "    " + terminalSafe(b.label).padded(16) + String(b.entered).leftPadded(9) + String(b.converted).leftPadded(11) + percent(b.rate).leftPadded(8) + "\n"
            }
            for c in split.comparisons {
                out += "    \(c.branch) vs \(c.control): "
                guard let e = c.estimate else {
                    out += "too early to tell (an arm has no entries yet)\n"
                    continue
                }
                out += "\(points(e.lift)) points (95% CI \(points(e.ci95.low)) to \(points(e.ci95.high)))"
                if let r = e.relativeLift { out += ", relative " + String(format: "%+.1f%%", r * 100) }
                out += ", p = " + StatsFormat.pValue(e.pValue)
                out += " → \(e.verdict.rawValue)\n"
            }
        }
        return out
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
