import JourneyDiagnostics
import Dispatch
import JourneyBytecode

/// What a deploy changes (`journey deploy --dry-run` prints it), and what refuses it.
public struct DeployPlan: Sendable {
    public var attributesAdded: [String] = []
    public var attributesChanged: [String] = []
    public var attributesRemoved: [String] = []
    public var journeysAdded: [String] = []
    public var journeysChanged: [String] = []
    public var journeysRemoved: [String] = []
    public var problems: [String] = []
}


/// A deploy that would make stored data unreadable: each reason names what and what to do.
public struct DeployRefused: Error, Sendable, CustomStringConvertible {
    public var reasons: [String]
    public init(reasons: [String]) { self.reasons = reasons }
    public var description: String { "deploy refused:\n" + reasons.map { "  - " + $0 }.joined(separator: "\n") }
}

extension Engine {
    /// Verifies and stores a bundle; new entries take it from now on, running instances keep theirs.
    @discardableResult
    public func deploy(_ bytes: [UInt8], at: Int64) throws -> (hash: String, fresh: Bool) {
        let bundle = try JourneyBundle.load(bytes)
        let hash = JourneyBundle.contentHash(bytes)
        let fresh = try store.transaction {
            // Decided inside the transaction: no import can add a profile between the check
            // and the change.
            let problems = try plan(bundle).problems
            guard problems.isEmpty else { throw DeployRefused(reasons: problems) }
            let fresh = try store.deploy(bytes: bytes, hash: hash, at: at)
            try store.migrateProfiles(bundle.schema)
            try store.setHistoryKeyFields(Engine.keyedFields(bundle), schema: bundle.schema)
            try store.setPairingRules(Engine.pairingRules(bundle), schema: bundle.schema)
            try dropStaleSchedules(for: bundle)
            return fresh
        }
        bundles[hash] = bundle
        index(bundle)
        makeCurrent(hash, bundle)
        return (hash, fresh)
    }

    /// The (event, field) pairs the bundle's `for each profile` anchors look up.
    static func keyedFields(_ b: JourneyBundle) -> [String: [String]] {
        var out: [String: Set<String>] = [:]
        for j in b.journeys {
            for a in j.forEach?.allAnchors ?? [] {
                let e = b.schema.events[a.event]
                out[e.name, default: []].insert(e.fields[a.field].name)
            }
        }
        // count_all(E where F == …) counts from the same index.
        for o in b.operands(of: .countAll) {
            let e = b.schema.events[o[0]]
            out[e.name, default: []].insert(e.fields[o[1]].name)
        }
        return out.mapValues { $0.sorted() }
    }

    /// The pairs the bundle's `also` instructions ask about.
    static func pairingRules(_ b: JourneyBundle) -> [PairingRule] {
        var out = Set<PairingRule>()
        for o in b.operands(of: .also) {
            guard case .duration(let w) = b.constants[o[2]] else { continue }
            let e = b.schema.events[o[0]]
            out.insert(PairingRule(event: e.name, field: e.fields[o[1]].name, window: w))
        }
        return out.sorted { $0.line < $1.line }
    }

    /// What deploying `bundle` would change, and why it would be refused: a required attribute
    /// that existing profiles have no value for (and no default), an attribute removed while
    /// profiles hold values for it, a type the stored values are not, an event field that the
    /// stored events cannot be read as.
    public func plan(_ bundle: JourneyBundle) throws -> DeployPlan {
        var plan = DeployPlan()
        let columns = try store.profileColumns()
        let before = current?.schema
        let profiles = try store.profileCount()
        for a in bundle.schema.attributes {
            let declared = a.type.unwrapped.description
            let old = before?.attributes.first { $0.name == a.name }
            let shown = "\(a.name): \(a.type)" + (a.defaultValue.map { " = \(Self.literal($0))" } ?? "")
            guard let had = columns[a.name] else {
                if !a.type.isOptional, a.defaultValue == nil, profiles > 0 {
                    plan.problems.append("profile attribute '\(a.name)' is new and required, but the \(plural(profiles, "stored profile")) \(profiles == 1 ? "has" : "have") no value for it. Give it a default (`\(a.name): \(a.type) = …`, which they get now) or make it optional (`\(a.name): \(a.type)?`)")
                } else {
                    plan.attributesAdded.append(shown + (a.defaultValue != nil && profiles > 0 ? " (the \(plural(profiles, "stored profile")) \(profiles == 1 ? "gets" : "get") the default)" : ""))
                }
                continue
            }
            guard had == declared else {
                plan.problems.append("profile attribute '\(a.name)' was \(had) and is now \(declared); the stored profiles hold \(had) values. Keep its type, or add an attribute with a new name")
                continue
            }
            if !a.type.isOptional, old?.type.isOptional ?? true {
                let missing = try store.valueCounts(attribute: a.name).missing
                if missing > 0 {
                    if a.defaultValue == nil {
                        plan.problems.append("profile attribute '\(a.name)' is now required, but \(plural(missing, "profile")) \(missing == 1 ? "has" : "have") no value for it. Give it a default (`\(a.name): \(a.type) = …`) or keep it optional")
                    } else {
                        plan.attributesChanged.append(shown + " (now required; \(plural(missing, "profile")) without a value \(missing == 1 ? "gets" : "get") the default)")
                    }
                } else if old != nil {
                    plan.attributesChanged.append(shown + " (now required; every profile has a value)")
                }
            } else if let o = old, o.type != a.type {
                plan.attributesChanged.append(shown + " (was \(o.type))")
            }
        }
        for o in before?.attributes ?? [] where !bundle.schema.attributes.contains(where: { $0.name == o.name }) {
            let set = try store.valueCounts(attribute: o.name).set
            if set > 0 {
                plan.problems.append("profile attribute '\(o.name)' is removed, but \(plural(set, "profile")) \(set == 1 ? "holds" : "hold") a value for it. Keep the attribute (journeys need not use it)")
            } else {
                plan.attributesRemoved.append(o.name)
            }
        }
        plan.problems += try eventChanges(bundle.schema)
        let old = Dictionary((current?.journeys ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for j in bundle.journeys {
            if let o = old[j.name] {
                if o.functions != j.functions || o.sends != j.sends || o.trigger != j.trigger || o.goals != j.goals || o.exits != j.exits
                    || o.reentry != j.reentry || o.bindsTrigger != j.bindsTrigger || o.when != j.when || o.onWhere != j.onWhere
                    || o.maxDelay != j.maxDelay { plan.journeysChanged.append(j.name) }
            } else {
                plan.journeysAdded.append(j.name)
            }
        }
        plan.journeysRemoved = old.keys.filter { name in !bundle.journeys.contains { $0.name == name } }.sorted()
        return plan
    }

    /// A default as the schema wrote it.
    static func literal(_ v: Value) -> String {
        switch v {
        case .string(let s): JSON.quote(s)
        case .none: "none"
        default: v.text
        }
    }

    /// Event fields whose type changed against any stored bundle in a way the stored history
    /// (and the instances in flight, which hold events) cannot be read as.
    func eventChanges(_ schema: RuntimeSchema) throws -> [String] {
        var problems: [String] = []
        var said = Set<String>()
        for hash in try store.bundleHashes() {
            guard let old = try bundle(hash)?.schema else { continue }
            for e in schema.events {
                guard let k = old.eventIndex(e.name) else { continue }
                for f in e.fields {
                    guard let before = old.events[k].fields.first(where: { $0.name == f.name }), !Compatibility.canRead(before.type, as: f.type),
                          said.insert("\(e.name).\(f.name)").inserted else { continue }
                    problems.append("event '\(e.name)': field '\(f.name)' was \(before.type) and is now \(f.type); the stored events and the journeys in flight hold it as \(before.type). Keep its type (or make it optional, or widen a number), or add a field with a new name")
                }
            }
        }
        return problems
    }

    /// Scheduled audience runs of journeys that the new bundle no longer runs daily at the same
    /// time (removed, renamed, retriggered or moved) are dropped; the next run schedules the
    /// rest from its clock.
    func dropStaleSchedules(for bundle: JourneyBundle) throws {
        var daily: [String: Int] = [:]
        for j in bundle.journeys { if case .daily(let m) = j.trigger { daily[j.name] = m } }
        var stale = Set<String>()
        for row in try store.audienceSchedule() {
            // A run scheduled at another local time than the journey's now is stale too.
            guard let m = daily[row.journey], Zones.next(minutes: m, after: row.nextAt - 1, zones.zone(row.timezone)) == row.nextAt else {
                stale.insert(row.journey)
                continue
            }
        }
        for journey in stale.sorted() { try store.removeAudience(journey: journey) }
        nextAudience = nil
    }
}
