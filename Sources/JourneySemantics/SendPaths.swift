import JourneyDiagnostics
import JourneySyntax

/// One way through a journey: what happens along it and when (from entry, each wait at its
/// shortest: a `wait for` may end at once, or after its whole window; `wait until` at once).
public struct JourneyPath: Sendable, Hashable {
    public struct Step: Sendable, Hashable {
        /// Seconds after entry.
        public var at: Int64
        public var text: String
        public var line: Int
        /// The channels of a send, in fallback order; nil for other steps.
        public var channels: [String]?
    }
    public var steps: [Step] = []
    /// "completed" or "exited".
    public var ending = "completed"

    public var sendTimes: [Int64] { steps.compactMap { $0.channels == nil ? nil : $0.at } }
}

public enum JourneyPaths {
    /// Every path (at most `limit`; `truncated` says when there were more).
    public static func of(_ j: JourneyDecl, in tree: SyntaxTree, limit: Int = 4096) -> (paths: [JourneyPath], truncated: Bool) {
        var out: [JourneyPath] = []
        var truncated = false
        func text(_ e: ExprID) -> String { tree.source.slice(tree.exprs.span(e)) }
        func line(_ s: Span) -> Int { tree.source.location(of: s.start).line }
        func walk(_ rest: ArraySlice<Stmt>, _ time: Int64, _ path: JourneyPath) {
            if out.count >= limit { truncated = true; return }
            guard let stmt = rest.first else { out.append(path); return }
            let next = rest.dropFirst()
            func go(_ block: [Stmt]?, _ extra: Int64, _ step: String?) {
                var p = path
                if let step { p.steps.append(JourneyPath.Step(at: time + extra, text: step, line: line(stmt.span), channels: nil)) }
                walk(ArraySlice((block ?? []) + Array(next)), time + extra, p)
            }
            switch stmt.kind {
            case .wait(let d): go(nil, max(0, d.seconds), "wait \(d.text)")
            case .waitUntil(let t): go(nil, 0, "wait until \(t.text) (counted as at once)")
            case .waitFor(let w):
                go(w.arrived?.statements, 0, "\(w.event.name) arrives")
                go(w.timedOut?.statements, max(0, w.within.seconds), "no \(w.event.name) within \(w.within.text)")
            case .if(let branches, let elseBlock):
                for b in branches { go(b.block.statements, 0, "if \(text(b.condition))") }
                go(elseBlock?.statements, 0, branches.count == 1 ? "not: \(text(branches[0].condition))" : "else (none of the \(branches.count) conditions)")
            case .split(let branches):
                for b in branches { go(b.block.statements, 0, "split: \(b.percent.text)" + (b.label.map { " \($0.name)" } ?? "")) }
            case .send(let links):
                var p = path
                p.steps.append(JourneyPath.Step(at: time, text: links.map(\.channel.name).joined(separator: " else "), line: line(stmt.span),
                                                channels: links.map(\.channel.name)))
                walk(next, time, p)
            case .set(let attr, let value):
                var p = path
                p.steps.append(JourneyPath.Step(at: time, text: "set profile.\(attr.name) = \(text(value))", line: line(stmt.span), channels: nil))
                walk(next, time, p)
            case .exit:
                var p = path
                p.ending = "exited"
                out.append(p)
            }
        }
        walk(j.body.statements[...], 0, JourneyPath())
        return (out, truncated)
    }

    /// The send times alone of every path (at most `limit` paths, as `of`), each sorted, each
    /// distinct set once: what the cap checks need, without the steps' texts and lines.
    public static func sendTimes(of j: JourneyDecl, limit: Int = 4096) -> [[Int64]] {
        var out: [[Int64]] = []
        // The way down is kept in two stacks, pushed and popped as the walk goes, rather than
        // copied at every branch: the sends so far, and what follows each enclosing block.
        var sends: [Int64] = []
        var after: [ArraySlice<Stmt>] = []
        func walk(_ rest: ArraySlice<Stmt>, _ time: Int64) {
            if out.count >= limit { return }
            guard let stmt = rest.first else {
                // The block is done: on with what follows it, or the path is whole.
                guard let outer = after.popLast() else { out.append(sends); return }
                walk(outer, time)
                after.append(outer)
                return
            }
            let next = rest.dropFirst()
            func go(_ block: [Stmt]?, _ extra: Int64) {
                if let block, !block.isEmpty {
                    after.append(next)
                    walk(block[...], time + extra)
                    after.removeLast()
                } else {
                    walk(next, time + extra)
                }
            }
            switch stmt.kind {
            case .wait(let d): go(nil, max(0, d.seconds))
            case .waitUntil: go(nil, 0)
            case .waitFor(let w):
                go(w.arrived?.statements, 0)
                go(w.timedOut?.statements, max(0, w.within.seconds))
            case .if(let branches, let elseBlock):
                for b in branches { go(b.block.statements, 0) }
                go(elseBlock?.statements, 0)
            case .split(let branches):
                for b in branches { go(b.block.statements, 0) }
            case .send:
                sends.append(time)
                walk(next, time)
                sends.removeLast()
            case .set:
                walk(next, time)
            case .exit:
                out.append(sends)
            }
        }
        walk(j.body.statements[...], 0)
        return distinctSorted(out)
    }

    /// Each path's send times sorted; the same times once.
    static func distinctSorted(_ paths: [[Int64]]) -> [[Int64]] {
        // (Times along a path never go back, so each is sorted already: checked, not assumed.)
        let sorted = paths.map { p in zip(p, p.dropFirst()).allSatisfy { $0 <= $1 } ? p : p.sorted() }
        // A journey has few paths, as a rule: looking back is cheaper than hashing.
        if sorted.count <= 16 {
            var out: [[Int64]] = []
            out.reserveCapacity(sorted.count)
            for p in sorted where !out.contains(p) { out.append(p) }
            return out
        }
        var seen = Set<[Int64]>()
        return sorted.filter { seen.insert($0).inserted }
    }

    /// The most sends of one path inside any window of `window` seconds, and where.
    public static func worst(_ sends: [Int64], window: Int64) -> (count: Int, start: Int64) {
        var best = (0, Int64(0))
        var lo = 0
        for hi in sends.indices {
            while sends[hi] - sends[lo] >= window { lo += 1 }
            if hi - lo + 1 > best.0 { best = (hi - lo + 1, sends[lo]) }
        }
        return best
    }

    /// Journeys started by the same event at once: the most messages one profile can get from
    /// all of them inside one window (each journey on its worst path for that window), the
    /// window's start, and each journey's share.
    public static func combined(_ journeys: [(name: String, paths: [JourneyPath])], window: Int64) -> (count: Int, start: Int64, shares: [(String, Int)]) {
        combined(journeys.map { ($0.name, sendTimes(of: $0.paths)) }, window: window)
    }

    /// Each path's send times, sorted; paths that send at the same times once.
    public static func sendTimes(of paths: [JourneyPath]) -> [[Int64]] {
        distinctSorted(paths.map(\.sendTimes))
    }

    /// `combined` over each journey's sorted send times per path (`sendTimes(of:)`).
    public static func combined(_ journeys: [(name: String, sends: [[Int64]])], window: Int64) -> (count: Int, start: Int64, shares: [(String, Int)]) {
        // Each path's send times sorted, so a window's count is two binary searches.
        let times = journeys.map(\.sends)
        var starts = Set<Int64>()
        for paths in times { for sends in paths { for t in sends { starts.insert(t) } } }
        func firstIndex(_ sends: [Int64], notBelow t: Int64) -> Int {
            var lo = 0, hi = sends.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if sends[mid] < t { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
        func most(_ paths: [[Int64]], from s: Int64) -> Int {
            let (end, overflow) = s.addingReportingOverflow(window)
            var n = 0
            for sends in paths {
                n = max(n, (overflow ? sends.count : firstIndex(sends, notBelow: end)) - firstIndex(sends, notBelow: s))
            }
            return n
        }
        var best = (count: 0, start: Int64(0), shares: [(String, Int)]())
        for s in starts.sorted() {
            var total = 0
            for paths in times { total += most(paths, from: s) }
            if total > best.count {
                var shares: [(String, Int)] = []
                for (j, paths) in zip(journeys, times) {
                    let n = most(paths, from: s)
                    if n > 0 { shares.append((j.name, n)) }
                }
                best = (total, s, shares)
            }
        }
        return best
    }

    /// Seconds as a duration literal (1h, 2d, 90s).
    public static func duration(_ seconds: Int64) -> String {
        if seconds == 0 { return "0s" }
        for (unit, s) in [("w", Int64(604_800)), ("d", 86400), ("h", 3600), ("m", 60)] where seconds % s == 0 { return "\(seconds / s)\(unit)" }
        return "\(seconds)s"
    }
}
