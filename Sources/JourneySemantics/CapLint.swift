import JourneyDiagnostics
import JourneySyntax

/// A journey's paths, and the most sends one of them makes inside the cap's window: worked out
/// once by its checker, and used again across journeys.
struct CapPaths {
    /// Each path's send times, sorted, once per distinct set.
    var sends: [[Int64]]
    var worst: Int
}

extension JourneyChecker {
    /// Warns when some path through the journey sends more messages inside one cap window than
    /// the policy allows. Each wait counts at its shortest: a `wait for` may end at once when
    /// its event arrives, or after its full window when it times out.
    mutating func checkCap() {
        guard let cap = schema.policy.cap else { return }
        let sends = JourneyPaths.sendTimes(of: journey)
        let worst = sends.map { JourneyPaths.worst($0, window: cap.windowSeconds).count }.max() ?? 0
        capPaths = CapPaths(sends: sends, worst: worst)
        if worst > cap.count {
            report(SemanticCode.exceedsCap, journey.name.span,
                   "the journey '\(journey.name.name)' can send \(worst) messages within \(JourneyPaths.duration(cap.windowSeconds)), more than the policy's cap of \(cap.count)",
                   label: "over the cap", hint: "Space the sends out with waits or remove one; sends over the cap are suppressed.")
        }
    }
}

extension ProjectChecker {
    /// Across journeys: one event can start several journeys at once, and together they may
    /// send one profile more than the cap allows in its window, though none does alone. Uses the
    /// paths each journey's checker worked out (`capPaths`, by file and journey position).
    mutating func checkEventCaps() {
        guard let cap = schema.policy.cap else { return }
        // Each journey by where its paths are (file, place in the file), not by a copy of them.
        struct Started {
            var name: String
            var file: Int, journey: Int
            var span: Span
        }
        var byEvent: [String: [Started]] = [:]
        for (f, tree) in trees.enumerated() {
            var k = 0
            for decl in tree.decls {
                guard case .journey(let j) = decl.kind else { continue }
                defer { k += 1 }
                guard f < capPaths.count, k < capPaths[f].count, capPaths[f][k] != nil else { continue }
                for case .on(let event, _, _, let span) in j.header {
                    byEvent[event.name, default: []].append(Started(name: j.name.name, file: f, journey: k, span: span))
                }
            }
        }
        for (event, started) in byEvent.sorted(by: { $0.key < $1.key }) where started.count > 1 {
            let paths = started.compactMap { capPaths[$0.file][$0.journey] }
            // A journey over the cap on its own has its own warning (J0505).
            guard paths.count == started.count, paths.allSatisfy({ $0.worst <= cap.count }) else { continue }
            let (count, start, shares) = JourneyPaths.combined(zip(started, paths).map { (name: $0.name, sends: $1.sends) }, window: cap.windowSeconds)
            guard count > cap.count, let first = started.first else { continue }
            let firstFile = trees[first.file].source.path
            // The journeys that send the most first (in their order otherwise); past nine, eight
            // are named and the rest counted: a project with hundreds on one event gets a line,
            // not a page.
            let named = 8
            let ranked = shares.enumerated().sorted { ($0.element.1, -$0.offset) > ($1.element.1, -$1.offset) }.map(\.element)
            let shown = ranked.count > named + 1 ? Array(ranked.prefix(named)) : ranked
            let rest = ranked.count - shown.count
            let parts = shown.map { "\($0.0) (\($0.1))" }.joined(separator: ", ")
                + (rest > 0 ? " and \(rest) more journeys (\(ranked.dropFirst(shown.count).reduce(0) { $0 + $1.1 }) messages)" : "")
            report(SemanticCode.eventExceedsCap, firstFile, first.span,
                   "one \(event) can bring a profile \(count) messages within \(JourneyPaths.duration(cap.windowSeconds)) from \(parts), more than the policy's cap of \(cap.count)",
                   label: "together over the cap",
                   hint: "From +\(JourneyPaths.duration(start)) after the event, the journeys' sends fall in one window; space them apart or give one a condition (see 'journey explain \(first.name)').")
        }
    }
}
