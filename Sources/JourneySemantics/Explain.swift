import JourneySyntax

/// `journey explain`: what a journey can do, read from its text — its trigger, the most
/// messages one profile can get from it (and with the other journeys its event starts) inside
/// the cap's window, the channels it may use, and every path with its delays.
public enum Explain {
    public static func text(_ name: String, trees: [SyntaxTree], schema: Schema) -> String? {
        var found: (JourneyDecl, SyntaxTree)?
        var siblings: [String: [(String, [JourneyPath])]] = [:]
        for tree in trees {
            for decl in tree.decls {
                guard case .journey(let j) = decl.kind else { continue }
                if j.name.name == name { found = (j, tree) }
                for case .on(let e, _, _, _) in j.header { siblings[e.name, default: []].append((j.name.name, JourneyPaths.of(j, in: tree).paths)) }
            }
        }
        guard let (j, tree) = found else { return nil }
        let (paths, truncated) = JourneyPaths.of(j, in: tree)
        var out = "journey \(j.name.name)  (\(tree.source.path):\(tree.source.location(of: j.name.span.start).line))\n"
        var trigger: String?
        for clause in j.header {
            out += "  " + tree.source.slice(clause.span).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ") + "\n"
            if case .on(let e, _, _, _) = clause { trigger = e.name }
        }
        var channels: [String] = []
        for p in paths { for s in p.steps { for c in s.channels ?? [] where !channels.contains(c) { channels.append(c) } } }
        out += "\n  channels it may use: " + (channels.isEmpty ? "none" : channels.joined(separator: ", ")) + "\n"
        if let cap = schema.policy.cap {
            let window = JourneyPaths.duration(cap.windowSeconds)
            let each = paths.map { JourneyPaths.worst($0.sendTimes, window: cap.windowSeconds).count }
            let worst = each.max() ?? 0
            out += "  at most \(worst) message\(worst == 1 ? "" : "s") to one profile within \(window) (the cap is \(cap.count) per \(window))\n"
            if let t = trigger, let all = siblings[t], all.count > 1 {
                let (count, _, shares) = JourneyPaths.combined(all, window: cap.windowSeconds)
                out += "  with the other journeys one \(t) starts: at most \(count) within \(window)" + (shares.isEmpty ? "" : " (" + shares.map { "\($0.0) \($0.1)" }.joined(separator: ", ") + ")") + "\n"
            }
        } else {
            let most = paths.map { $0.sendTimes.count }.max() ?? 0
            out += "  at most \(most) message\(most == 1 ? "" : "s") to one profile in all (the policy has no cap)\n"
        }
        out += "\n  \(paths.count)\(truncated ? "+" : "") path\(paths.count == 1 ? "" : "s"):\n"
        for (k, p) in paths.enumerated() {
            let sends = p.sendTimes.count
            out += "  \(k + 1). \(sends) message\(sends == 1 ? "" : "s"), then \(p.ending)\n"
            for s in p.steps {
                let at = "+" + JourneyPaths.duration(s.at)
                out += "       " + at.padding(toLength: 8, withPad: " ", startingAt: 0) + (s.channels == nil ? "" : "send ") + s.text + "  (line \(s.line))\n"
            }
        }
        return out
    }
}
