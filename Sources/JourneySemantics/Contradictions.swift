import JourneyDiagnostics
import JourneySyntax

/// What the checker can prove about the flow of one journey: a `wait for` whose arrived block
/// can never run, a condition already decided by an enclosing one, a send whose channels were
/// all switched off by the journey itself on every path to it.
struct FlowFacts {
    /// Conditions known here, by their text (spaces dropped), with their value and where
    /// they were established.
    var known: [String: (value: Bool, line: Int, stable: Bool)] = [:]
    /// Attributes the journey set to false or none on every path here, with the line.
    var revoked: [String: Int] = [:]
}

extension JourneyChecker {
    mutating func checkContradictions() {
        // Events that end the instance whatever they hold: a goal or exit without `where`.
        var ending: [String: String] = [:]
        for clause in journey.header {
            switch clause {
            case .goal(let e, nil, _): ending[e.name] = "goal \(e.name)"
            case .exitOn(let e, nil, _): ending[e.name] = ending[e.name] ?? "exit on \(e.name)"
            default: break
            }
        }
        var facts = FlowFacts()
        _ = flow(journey.body.statements, &facts, ending)
    }

    /// Walks a block; true when it always exits.
    mutating func flow(_ statements: [Stmt], _ facts: inout FlowFacts, _ ending: [String: String]) -> Bool {
        for stmt in statements {
            switch stmt.kind {
            case .wait, .waitUntil:
                suspend(&facts)
            case .waitFor(let w):
                suspend(&facts)
                if let arrived = w.arrived, !arrived.statements.isEmpty, let clause = ending[w.event.name] {
                    report(SemanticCode.deadWaitFor, w.event.span, "the block for when \(w.event.name) arrives can never run: '\(clause)' ends the journey the moment it does",
                           label: "never runs", hint: "Remove the block (the goal already handles \(w.event.name)), or wait for another event.")
                }
                var states: [FlowFacts] = []
                for block in [w.arrived?.statements ?? [], w.timedOut?.statements ?? []] {
                    var inner = facts
                    if !flow(block, &inner, ending) { states.append(inner) }
                }
                if merge(states, into: &facts) { return true }
            case .if(let branches, let elseBlock):
                var base = facts
                var states: [FlowFacts] = []
                // A decided condition leaves only one way on: the other is never taken.
                var rest = true
                for br in branches where rest {
                    let known = decided(br.condition, base)
                    var inner = base
                    assume(br.condition, true, &inner, line: line(of: br.condition))
                    if !flow(br.block.statements, &inner, ending), known != false { states.append(inner) }
                    assume(br.condition, false, &base, line: line(of: br.condition))
                    if known == true { rest = false }
                }
                if rest {
                    var inner = base
                    if !flow(elseBlock?.statements ?? [], &inner, ending) { states.append(inner) }
                }
                if merge(states, into: &facts) { return true }
            case .split(let branches):
                var states: [FlowFacts] = []
                for br in branches {
                    var inner = facts
                    if !flow(br.block.statements, &inner, ending) { states.append(inner) }
                }
                if merge(states, into: &facts) { return true }
            case .send(let links):
                checkConsent(links, facts)
                suspend(&facts) // quiet hours may hold a send
            case .set(let attr, let value):
                let path = "profile." + attr.name
                facts.known = facts.known.filter { !$0.key.contains(path) }
                switch exprs[value].kind {
                case .bool(false), .none: facts.revoked[attr.name] = tree.source.location(of: stmt.span.start).line
                default: facts.revoked[attr.name] = nil
                }
            case .exit:
                return true
            }
        }
        return false
    }

    func line(of e: ExprID) -> Int { tree.source.location(of: exprs.span(e).start).line }

    /// The profile and the clock may change while the instance waits: only facts about the
    /// trigger and literals survive a suspension.
    func suspend(_ facts: inout FlowFacts) {
        if facts.known.contains(where: { !$0.value.stable }) { facts.known = facts.known.filter { $0.value.stable } }
    }

    /// After branches: what holds on every branch that goes on (after `if C { exit }`, C is
    /// false); true when none goes on.
    func merge(_ states: [FlowFacts], into facts: inout FlowFacts) -> Bool {
        guard let first = states.first else { return true }
        facts.known = first.known.filter { k, v in states.dropFirst().allSatisfy { $0.known[k]?.value == v.value } }
        var revoked = first.revoked
        for s in states.dropFirst() { revoked = revoked.filter { s.revoked[$0.key] != nil } }
        facts.revoked = revoked
        return false
    }

    /// The text a condition is known by: its source without spaces and outer parentheses.
    func key(_ e: ExprID) -> String {
        if case .paren(let inner) = exprs[e].kind { return key(inner) }
        return compactText(e)
    }

    /// An expression's text without the spaces between its tokens, read as bytes. Inside a
    /// string literal the spaces are part of its value and kept; inside a `{…}` insertion in a
    /// string it is code again, and its spaces go (so `"{profile . city}"` names profile.city).
    func compactText(_ e: ExprID) -> String {
        let bytes = tree.source.bytes, span = exprs.span(e)
        let start = min(max(span.start, 0), bytes.count), end = min(max(span.end, start), bytes.count)
        var out: [UInt8] = []
        out.reserveCapacity(end - start)
        // What encloses the current byte: true a string, false an insertion's code; empty is
        // the expression's own code.
        var within: [Bool] = []
        let quote = UInt8(ascii: "\""), open = UInt8(ascii: "{"), close = UInt8(ascii: "}")
        var i = start
        while i < end {
            let b = bytes[i]
            if within.last == true {
                if b == UInt8(ascii: "\\"), i + 1 < end {
                    out.append(b); out.append(bytes[i + 1]); i += 2; continue
                }
                if (b == open || b == close), i + 1 < end, bytes[i + 1] == b {
                    out.append(b); out.append(b); i += 2; continue
                }
                if b == quote { within.removeLast() } else if b == open { within.append(false) }
                out.append(b)
            } else {
                if b == quote {
                    within.append(true)
                } else if b == close, !within.isEmpty {
                    within.removeLast()
                } else if b == 0x20 || (0x09...0x0D).contains(b) {
                    i += 1; continue
                }
                out.append(b)
            }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// True when the condition reads only the trigger and literals (it cannot change later).
    func stable(_ e: ExprID) -> Bool {
        switch exprs[e].kind {
        case .profile, .now, .today, .history, .call, .error: return false
        case .member(let b, _), .unary(_, let b), .paren(let b): return stable(b)
        case .binary(_, let l, let r): return stable(l) && stable(r)
        case .list(let items): return items.allSatisfy(stable)
        case .string(let parts): return parts.allSatisfy { if case .interpolation(let x) = $0 { stable(x) } else { true } }
        default: return true
        }
    }

    /// Records what a condition being true (or false) tells: itself, and its parts under
    /// `and` (true) or `or` (false), `not` flipping.
    func assume(_ e: ExprID, _ value: Bool, _ facts: inout FlowFacts, line: Int) {
        switch exprs[e].kind {
        case .paren(let inner): assume(inner, value, &facts, line: line)
        case .unary(.not, let inner): assume(inner, !value, &facts, line: line)
        case .binary(.and, let l, let r) where value:
            assume(l, true, &facts, line: line); assume(r, true, &facts, line: line)
        case .binary(.or, let l, let r) where !value:
            assume(l, false, &facts, line: line); assume(r, false, &facts, line: line)
        default: break
        }
        facts.known[key(e)] = (value, line, stable(e))
    }

    /// Warns when a condition (or its negation) is already known here; its value then.
    @discardableResult
    mutating func decided(_ e: ExprID, _ facts: FlowFacts) -> Bool? {
        var inner = e
        var flip = false
        while true {
            switch exprs[inner].kind {
            case .paren(let x): inner = x; continue
            case .unary(.not, let x): inner = x; flip.toggle(); continue
            default: break
            }
            break
        }
        guard let fact = facts.known[key(inner)] else { return nil }
        let value = fact.value != flip
        report(SemanticCode.constantCondition, exprs.span(e), "this condition is always \(value) here: line \(fact.line) already decided it",
               label: "always \(value)", hint: value ? "Remove the test and keep its block." : "Remove the test and its block: it never runs.")
        return value
    }

    /// Warns about each channel of a send that the journey switched off before it on every path.
    mutating func checkConsent(_ links: [SendLink], _ facts: FlowFacts) {
        guard !facts.revoked.isEmpty else { return }
        var dead: [(SendLink, String, Int)] = []
        for link in links {
            guard let c = schema.channels[link.channel.name] else { continue }
            if let a = c.consent, let at = facts.revoked[a] {
                dead.append((link, "profile.\(a) (its consent) was set to false", at))
            } else if let a = c.address, let at = facts.revoked[a] {
                dead.append((link, "profile.\(a) (its address) was set to none", at))
            }
        }
        for (link, why, at) in dead {
            let all = dead.count == links.count
            report(SemanticCode.sendWithoutConsent, link.channel.span,
                   "this \(link.channel.name) is never sent: \(why) on line \(at), on every path here" + (all ? ", so nothing is sent" : ""),
                   label: "switched off", hint: "Send before the 'set', use another channel, or drop this one.")
        }
    }
}
