import JourneyBytecode

extension StatsReport {
    /// The pinned JSON form (`journey stats --format json`): tools depend on its keys.
    public func json() -> String {
        var out = "{\"journeys\": ["
        out += journeys.map { $0.json() }.joined(separator: ", ")
        out += "], \"since\": " + (since.map { JSON.quote(Value.iso8601($0)) } ?? "null") + "}"
        return out
    }
}

/// A number as JSON: integers as they are, fractions by their shortest exact decimal, and
/// what is not a number as null.
func jsonNumber(_ d: Double?) -> String {
    guard let d, d.isFinite else { return "null" }
    if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
    return "\(d)"
}

extension JourneyStats {
    func json() -> String {
        var f: [String] = [
            "\"journey\": \(JSON.quote(journey))",
            "\"title\": \(JSON.quote(title))",
            "\"version\": \(JSON.quote(version))",
            "\"current\": \(isCurrent)",
            "\"deployed_at\": " + (deployedAt.map { JSON.quote(Value.iso8601($0)) } ?? "null"),
            "\"entered\": \(entered)",
            "\"active\": \(active)",
            "\"converted\": \(converted)",
            "\"exited\": \(exited)",
            "\"completed\": \(completed)",
            "\"failed\": \(failed)",
            "\"conversion_rate\": \(jsonNumber(conversionRate))",
        ]
        if let median = medianTimeToConvert {
            f.append("\"time_to_convert\": {\"conversions\": \(conversionTimes.count), \"median_seconds\": \(median), \"mean_seconds\": \(jsonNumber(meanTimeToConvert))}")
        } else {
            f.append("\"time_to_convert\": null")
        }
        f.append("\"steps\": [" + steps.map { $0.json() }.joined(separator: ", ") + "]")
        f.append("\"splits\": [" + splits.map { $0.json() }.joined(separator: ", ") + "]")
        return "{" + f.joined(separator: ", ") + "}"
    }
}

extension StepStats {
    func json() -> String {
        var f: [String] = [
            "\"step\": \(index)",
            "\"line\": \(line)",
            "\"column\": \(column)",
            "\"kind\": \(JSON.quote(kind.name))",
            "\"label\": \(JSON.quote(label))",
            "\"reached\": \(reached)",
            "\"waiting\": \(waiting)",
        ]
        func byChannel(_ items: [(channel: String, n: Int64)]) -> String {
            "{" + items.map { "\(JSON.quote($0.channel)): \($0.n)" }.joined(separator: ", ") + "}"
        }
        switch kind {
        case .waitFor:
            f.append("\"arrived\": \(branches.first?.n ?? 0)")
            f.append("\"timed_out\": \(branches.count > 1 ? branches[1].n : 0)")
        case .if:
            f.append("\"yes\": \(branches.first?.n ?? 0)")
            f.append("\"no\": \(branches.count > 1 ? branches[1].n : 0)")
        case .split:
            f.append("\"branches\": [" + branches.map { "{\"label\": \(JSON.quote($0.label)), \"reached\": \($0.n)}" }.joined(separator: ", ") + "]")
        case .send:
            f.append("\"sent\": " + byChannel(sent))
            f.append("\"suppressed\": " + byChannel(suppressed))
            f.append("\"undeliverable\": \(undeliverable)")
            f.append("\"receipts\": {" + receipts.map { "\(JSON.quote($0.status)): " + byChannel($0.byChannel) }.joined(separator: ", ") + "}")
        default: break
        }
        return "{" + f.joined(separator: ", ") + "}"
    }
}

extension SplitStats {
    func json() -> String {
        var f: [String] = [
            "\"step\": \(step)",
            "\"line\": \(line)",
            "\"label\": \(JSON.quote(label))",
            "\"control\": " + (control.map { JSON.quote(branches[$0].label) } ?? "null"),
            "\"control_rule\": " + (controlRule.map { JSON.quote($0) } ?? "null"),
        ]
        f.append("\"branches\": [" + branches.map {
            "{\"label\": \(JSON.quote($0.label)), \"entered\": \($0.entered), \"converted\": \($0.converted), \"rate\": \(jsonNumber($0.rate))}"
        }.joined(separator: ", ") + "]")
        f.append("\"comparisons\": [" + comparisons.map { c in
            var g = ["\"branch\": \(JSON.quote(c.branch))", "\"control\": \(JSON.quote(c.control))"]
            if let e = c.estimate {
                g += ["\"lift\": \(jsonNumber(e.lift))", "\"relative_lift\": \(jsonNumber(e.relativeLift))",
                      "\"ci95\": [\(jsonNumber(e.ci95.low)), \(jsonNumber(e.ci95.high))]", "\"p_value\": \(jsonNumber(e.pValue))",
                      "\"verdict\": \(JSON.quote(e.verdict.rawValue))"]
            } else {
                g += ["\"lift\": null", "\"relative_lift\": null", "\"ci95\": null", "\"p_value\": null", "\"verdict\": \"too early to tell\""]
            }
            return "{" + g.joined(separator: ", ") + "}"
        }.joined(separator: ", ") + "]")
        return "{" + f.joined(separator: ", ") + "}"
    }
}
