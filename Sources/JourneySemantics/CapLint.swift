import JourneyDiagnostics
import JourneySyntax

extension JourneyChecker {
    /// Warns when some path through the journey sends more messages inside one cap window than
    /// the policy allows. Each wait counts at its shortest: a `wait for` may end at once when
    /// its event arrives, or after its full window when it times out.
    mutating func checkCap() {
        guard let cap = schema.policy.cap else { return }
        var paths: [[Int64]] = []
        var truncated = false
        walk(journey.body.statements[...], time: 0, sends: [], paths: &paths, truncated: &truncated)
        var worst = 0
        for sends in paths {
            var lo = 0
            for hi in sends.indices {
                while sends[hi] - sends[lo] >= cap.windowSeconds { lo += 1 }
                worst = max(worst, hi - lo + 1)
            }
        }
        if worst > cap.count {
            report(SemanticCode.exceedsCap, journey.name.span,
                   "the journey '\(journey.name.name)' can send \(worst) messages within \(format(cap.windowSeconds)), more than the policy's cap of \(cap.count)",
                   label: "over the cap", hint: "Space the sends out with waits or remove one; sends over the cap are suppressed.")
        }
    }

    private func format(_ seconds: Int64) -> String {
        for (unit, s) in [("w", Int64(604_800)), ("d", 86400), ("h", 3600), ("m", 60)] where seconds % s == 0 { return "\(seconds / s)\(unit)" }
        return "\(seconds)s"
    }

    /// Enumerates the send times along every path (bounded, so a pathological journey stays fast).
    private func walk(_ rest: ArraySlice<Stmt>, time: Int64, sends: [Int64], paths: inout [[Int64]], truncated: inout Bool) {
        if paths.count >= 4096 { truncated = true; return }
        guard let stmt = rest.first else { paths.append(sends); return }
        let next = rest.dropFirst()
        func branch(_ block: [Stmt]?, _ extra: Int64, _ paths: inout [[Int64]], _ truncated: inout Bool) {
            walk(ArraySlice((block ?? []) + Array(next)), time: time + extra, sends: sends, paths: &paths, truncated: &truncated)
        }
        switch stmt.kind {
        case .wait(let d): walk(next, time: time + max(0, d.seconds), sends: sends, paths: &paths, truncated: &truncated)
        case .waitUntil: walk(next, time: time, sends: sends, paths: &paths, truncated: &truncated)
        case .waitFor(let w):
            branch(w.arrived?.statements, 0, &paths, &truncated)
            branch(w.timedOut?.statements, max(0, w.within.seconds), &paths, &truncated)
        case .if(let branches, let elseBlock):
            for b in branches { branch(b.block.statements, 0, &paths, &truncated) }
            branch(elseBlock?.statements, 0, &paths, &truncated)
        case .split(let branches):
            for b in branches { branch(b.block.statements, 0, &paths, &truncated) }
        case .send: walk(next, time: time, sends: sends + [time], paths: &paths, truncated: &truncated)
        case .set: walk(next, time: time, sends: sends, paths: &paths, truncated: &truncated)
        case .exit: paths.append(sends)
        }
    }
}
