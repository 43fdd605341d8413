import JourneyDiagnostics
import JourneyBytecode
import Dispatch

extension Engine {
    /// The event as a record of `bundle`'s schema (nil when that schema has no such event);
    /// `index`: its number there, when known already (not looked up by name again).
    func record(_ e: InboxItem, in b: JourneyBundle, index: Int? = nil) -> Record? {
        guard let idx = index ?? b.schema.eventIndex(e.event) else { return nil }
        return Record(event: idx, at: e.at, fields: ValueEncoding.fields(fromBlob: e.data, b.schema.events[idx]))
    }

    /// A profile's values for the length of one step.
    final class ProfileSlot {
        var id: String
        var values: [Value]
        var dirty = false
        init(id: String, values: [Value]) {
            self.id = id
            self.values = values
        }
    }

    func loadProfile(_ id: String) throws -> ProfileSlot? {
        guard let values = try store.loadProfile(id) else { return nil }
        // The last step's slot serves again once nothing else holds it (a slot made per
        // event was an allocation and a release of each of its parts).
        if spareSlot != nil, isKnownUniquelyReferenced(&spareSlot), let slot = spareSlot {
            slot.id = id
            slot.values = values
            slot.dirty = false
            return slot
        }
        let slot = ProfileSlot(id: id, values: values)
        spareSlot = slot
        return slot
    }

    func saveProfile(_ p: ProfileSlot) throws {
        if p.dirty {
            try store.saveProfile(p.id, p.values)
            p.dirty = false
        }
    }

    // MARK: - Events

    func handleEvent(_ e: InboxItem, _ stats: inout RunStats) throws {
        // The event as each bundle's schema sees it, decoded once per bundle rather than per instance.
        // (Nearly always one bundle: the first apart, the others in a list.)
        var first: (hash: String, record: Record?)?
        var others: [(hash: String, record: Record?)] = []
        // Its kind, found once for its number and whether it is a goal (the waits are asked
        // again below).
        let eventKind = kind(of: e.event)
        // The event is history before any journey reacts to it (the store may keep the current
        // bundle's decoding of it).
        if let b = current, let hash = currentHash, let idx = eventKind.index, let r = self.record(e, in: b, index: idx) {
            first = (hash, r)
            store.markTaken(e, decoded: (r, b.schema.events[idx]))
        } else {
            store.markTaken(e)
        }
        if e.profile.isEmpty { return try handleCatalogEvent(e, first?.record, &stats) }
        guard let profile = try loadProfile(e.profile) else { return }
        func record(in b: JourneyBundle, _ hash: String) -> Record? {
            if let f = first, f.hash == hash { return f.record }
            if let known = others.first(where: { $0.hash == hash }) { return known.record }
            let r = self.record(e, in: b)
            if first == nil { first = (hash, r) } else { others.append((hash, r)) }
            return r
        }
        // Goals and exits end instances the moment their event arrives, even mid-wait.
        var ended = Set<Int64>()
        for var inst in try eventKind.goal ? store.activeInstances(profile: e.profile) : [] {
            guard let b = try bundle(inst.bundle), let j = b.journey(named: inst.journey), let r = record(in: b, inst.bundle) else { continue }
            var outcome: Outcome?
            do {
                for g in j.goals where g.event == r.event {
                    if try g.predicate.map({ try test(j, b, $0, inst, r, profile) }) ?? true { outcome = .converted; break }
                }
                if outcome == nil {
                    for x in j.exits where x.event == r.event {
                        if try x.predicate.map({ try test(j, b, $0, inst, r, profile) }) ?? true { outcome = .exited; break }
                    }
                }
            } catch let fault as RuntimeFault {
                try recordFault(fault, j, inst, in: "a goal or exit condition")
                outcome = .failed
            }
            if let o = outcome {
                inst.status = o.rawValue
                try finish(inst)
                ended.insert(inst.id)
            }
        }
        // Instances waiting for this event.
        // (Asked again: an instance above may have brought a bundle in, and its waits with it.)
        for id in try kind(of: e.event).awaited ? store.waiters(profile: e.profile, event: e.event) : [] where !ended.contains(id) {
            guard var inst = try store.loadInstance(id), inst.status == "active", let b = try bundle(inst.bundle),
                  let j = b.journey(named: inst.journey), let r = record(in: b, inst.bundle) else { continue }
            guard try intact(inst, j) else { continue }
            let code = j.functions[0].code
            guard code[inst.pc] == Opcode.waitFor.rawValue else { continue }
            let ops = Verifier.operands(code, inst.pc, Opcode.waitFor.info)
            guard ops[0] == r.event else { continue }
            if ops[3] != noIndex8 { inst.locals[ops[3]] = .record(r) }
            do {
                if ops[1] != noIndex16, try !test(j, b, ops[1], inst, r, profile) { continue }
            } catch let fault as RuntimeFault {
                try recordFault(fault, j, inst, in: "the wait for's condition")
                inst.status = Outcome.failed.rawValue
                try finish(inst)
                continue
            }
            try store.removeWaits(instance: id)
            try removeTimers(instance: id)
            inst.pc += Opcode.waitFor.info.size
            try resume(&inst, j, b, profile, &stats, holdsNothing: true)
        }
        // New entries, on the current bundle.
        guard let b = current, let hash = currentHash, let r = record(in: b, hash) else { try saveProfile(profile); return }
        for j in b.journeys {
            guard case .event(let ev) = j.trigger, ev == r.event else { continue }
            // A trigger taken long after it happened (a late file, a replay) starts nothing:
            // a cart reminder weeks late is worse than none. The history keeps the event.
            if let d = j.maxDelay, now - e.at > d { continue }
            try enter(j, b, hash, profile, trigger: r, &stats)
        }
        try saveProfile(profile)
    }

    /// Whether events of this kind are a goal or exit, and whether any instance waits for them,
    /// in some bundle known so far (from `eventKinds` when it holds the kind).
    /// `index`: its number in the current bundle's schema (nil: none, or no bundle).
    func kind(of event: String) -> (name: String, goal: Bool, awaited: Bool, index: Int?) {
        if let k = eventKinds.first(where: { $0.name == event }) { return k }
        let k = (event, goalEvents.contains(event), awaitedEvents.contains(event), current?.schema.eventIndex(event))
        if eventKinds.count < 32 { eventKinds.append(k) }
        return k
    }

    /// A catalog event: each `for each profile` journey it starts enters every profile that its
    /// condition holds for. The anchors say which profiles to test (from the history index);
    /// without them every profile is tested. In profile id order, in this one step: the event
    /// is taken and every entry it makes is kept, or none is.
    /// `record`: the event as the current bundle decoded it (nil when it has no such event).
    func handleCatalogEvent(_ e: InboxItem, _ record: Record?, _ stats: inout RunStats) throws {
        guard let b = current, let hash = currentHash, let r = record, b.schema.events[r.event].catalog else { return }
        let map = attributeMap(hash, b)
        for j in b.journeys {
            guard case .event(let ev) = j.trigger, ev == r.event, let plan = j.forEach else { continue }
            if let d = j.maxDelay, now - e.at > d { continue }
            let started = DispatchTime.now().uptimeNanoseconds
            var locals = [Value](repeating: .none, count: j.localCount)
            if j.bindsTrigger, !locals.isEmpty { locals[0] = .record(r) }
            var faults: [(profile: String, message: String)] = []
            let slot = ProfileSlot(id: "", values: [])
            var host = Host(engine: self, bundle: b, hash: hash, journey: j, instance: 0, sends: 0, profile: slot, map: map)
            var scratch: [Value] = []
            var tested = 0
            /// Whether the profile in the slot passes every one of these predicates; one that
            /// faults does not pass, and the fault is kept for the rejects.
            func passes(_ predicates: [Int], _ id: () -> String) throws -> Bool {
                for p in predicates {
                    do {
                        if try !VM.test(j, predicate: p, b.constants, locals: locals, candidate: .none, host: &host, scratch: &scratch) { return false }
                    } catch let fault as RuntimeFault {
                        faults.append((id(), fault.message))
                        return false
                    }
                }
                return true
            }
            /// Of these profiles (in id order), the ones that pass the predicates, each loaded
            /// and tested; all of them when there is nothing to test.
            func passing(_ ids: [String], _ predicates: [Int]) throws -> [String] {
                guard !predicates.isEmpty else { return ids }
                var kept: [String] = []
                for id in ids {
                    guard let values = try store.loadProfile(id) else { continue }
                    slot.id = id
                    slot.values = values
                    tested += 1
                    if try passes(predicates, { id }) { kept.append(id) }
                }
                slot.values = []
                return kept
            }
            /// The profiles any of these anchors names.
            func lookup(_ anchors: [AnchorDef]) throws -> Set<String> {
                var found = Set<String>()
                for a in anchors {
                    let value: Value
                    switch a.source {
                    case .triggerField(let f): value = f < r.fields.count ? r.fields[f] : .none
                    case .constant(let c): value = b.constants[c]
                    }
                    let def = b.schema.events[a.event]
                    for key in ValueEncoding.indexKeys(value) {
                        found.formUnion(try store.profilesWithKey(event: def.name, field: def.fields[a.field].name, key: key,
                                                                  since: a.within.map { now &- $0 }, until: now))
                    }
                }
                return found
            }
            let whole = plan.predicate.map { [$0] } ?? []
            let chosen: [String]
            if let x = plan.exact {
                // The index answers part of the condition exactly; only the rest is tested.
                var found: Set<String>?
                for anchors in x.required {
                    let s = try lookup(anchors)
                    found = found.map { $0.intersection(s) } ?? s
                }
                let candidates = (found ?? []).subtracting(try lookup(x.excluded)).sorted()
                stats.catalogCandidates += candidates.count
                chosen = try passing(candidates, x.residual)
            } else if plan.anchors.isEmpty {
                let needsID = plan.predicate.map { readsHistory(j.functions[$0]) } ?? false
                let used = plan.predicate.map { attributesRead(j.functions[$0], map) } ?? []
                chosen = try store.scanAllProfiles(attributes: used) { id, values in
                    slot.values = values
                    if needsID { slot.id = id() }
                    defer { slot.values = [] }
                    tested += 1
                    return try passes(whole, id)
                }
                stats.catalogCandidates += tested
            } else {
                let candidates = try lookup(plan.anchors).sorted()
                stats.catalogCandidates += candidates.count
                chosen = try passing(candidates, whole)
            }
            stats.catalogTested += tested
            stats.catalogPassed += chosen.count
            stats.catalogSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            for f in faults {
                try store.reject(source: "journey \(j.name)", line: plan.predicate.map { j.functions[$0].line(at: 0) } ?? 0,
                                 reason: "profile \(f.profile) did not enter: its for-each condition stopped: \(f.message)", raw: "", at: now, profile: f.profile)
            }
            for id in chosen {
                guard let profile = try loadProfile(id) else { continue }
                try enter(j, b, hash, profile, trigger: r, &stats)
                try saveProfile(profile)
            }
        }
    }

    /// Evaluates a predicate for an instance against a candidate event.
    func test(_ j: CompiledJourney, _ b: JourneyBundle, _ predicate: Int, _ inst: InstanceRow, _ candidate: Record, _ profile: ProfileSlot) throws -> Bool {
        var host = Host(engine: self, bundle: b, hash: inst.bundle, journey: j, instance: inst.id, sends: inst.sends, profile: profile)
        return try VM.test(j, predicate: predicate, b.constants, locals: inst.locals, candidate: .record(candidate), host: &host)
    }

    // MARK: - Entry

    /// Whether a predicate queries the profile's history (and so needs the profile's id).
    func readsHistory(_ f: Function) -> Bool {
        var pc = 0
        while pc < f.code.count, let op = Opcode(rawValue: f.code[pc]) {
            if op == .history { return true }
            pc += op.info.size
        }
        return false
    }

    /// The current profile columns a predicate reads (all of them when it also reads history or
    /// `today`, which need the whole profile and its time zone).
    func attributesRead(_ f: Function, _ map: [Int?]) -> [Int] {
        var out = Set<Int>()
        var pc = 0
        while pc < f.code.count, let op = Opcode(rawValue: f.code[pc]) {
            if op == .attribute, let i = map[Verifier.operands(f.code, pc, op.info)[0]] { out.insert(i) }
            if op == .history || op == .today || op == .format { return Array(0..<(current?.schema.attributes.count ?? 0)) }
            pc += op.info.size
        }
        return out.sorted()
    }

    func enter(_ j: CompiledJourney, _ b: JourneyBundle, _ hash: String, _ profile: ProfileSlot, trigger: Record?, whenChecked: Bool = false, _ stats: inout RunStats) throws {
        let onWhere = trigger == nil ? nil : j.onWhere, when = whenChecked ? nil : j.when
        if onWhere != nil || when != nil {
            // The conditions run over locals of their own (the trigger bound, as the instance's
            // will be), lent from one event to the next; the instance's are made if it enters.
            var locals: [Value] = [], stack: [Value] = []
            swap(&locals, &testLocals); swap(&stack, &testStack)
            defer { swap(&locals, &testLocals); swap(&stack, &testStack) }
            func fresh() {
                if locals.count == j.localCount {
                    for i in locals.indices { locals[i] = .none }
                } else {
                    locals = ValueEncoding.nones(j.localCount)
                }
                if j.bindsTrigger, let t = trigger, !locals.isEmpty { locals[0] = .record(t) }
            }
            var running = onWhere
            do {
                if let w = onWhere, let t = trigger {
                    fresh()
                    var host = Host(engine: self, bundle: b, hash: hash, journey: j, instance: 0, sends: 0, profile: profile)
                    guard try VM.test(j, predicate: w, b.constants, inPlace: &locals, candidate: .record(t), host: &host, scratch: &stack) else { return }
                }
                running = when
                if let w = when {
                    fresh()
                    var host = Host(engine: self, bundle: b, hash: hash, journey: j, instance: 0, sends: 0, profile: profile)
                    guard try VM.test(j, predicate: w, b.constants, inPlace: &locals, candidate: trigger.map { .record($0) } ?? .none, host: &host, scratch: &stack) else { return }
                }
            } catch let fault as RuntimeFault {
                // A condition that cannot be decided is not an entry; the reason is kept.
                try store.reject(source: "journey \(j.name)", line: j.functions[running ?? 0].line(at: 0),
                                 reason: "profile \(profile.id) did not enter: its entry condition stopped: \(fault.message)", raw: "", at: now, profile: profile.id)
                return
            }
        }
        let stats0 = try store.entryStats(journey: j.name, profile: profile.id)
        switch j.reentry {
        case .whileActive: if stats0.active > 0 { return }
        case .never: if stats0.total > 0 { return }
        case .always: break
        // "within D" is inclusive, as for `wait for … within`: an entry exactly D later is refused.
        case .after(let d): if let last = stats0.lastEntered, now - last <= d { return }
        }
        var locals = ValueEncoding.nones(j.localCount)
        if j.bindsTrigger, let t = trigger { locals[0] = .record(t) }
        var probe = InstanceRow(id: 0, journey: j.name, profile: profile.id, bundle: hash, pc: 0, locals: locals, sends: 0, status: "active", enteredAt: now)
        // The instance is stored once, as its first step leaves it.
        probe.id = try store.nextInstanceID(profile: profile.id)
        countJourney(probe, entered: true)
        try resume(&probe, j, b, profile, &stats, holdsNothing: true, isNew: true)
    }

    // MARK: - Timers and audiences

    func handleTimer(_ id: Int64, _ stats: inout RunStats) throws {
        guard var inst = try store.loadInstance(id), inst.status == "active", let b = try bundle(inst.bundle),
              let j = b.journey(named: inst.journey), let profile = try loadProfile(inst.profile) else { return }
        guard try intact(inst, j) else { return }
        let code = j.functions[0].code
        if inst.pc < code.count, code[inst.pc] == Opcode.waitFor.rawValue {
            // The awaited event did not come in time.
            try store.removeWaits(instance: id)
            inst.pc = Verifier.operands(code, inst.pc, Opcode.waitFor.info)[4]
        }
        try resume(&inst, j, b, profile, &stats, holdsNothing: true)
        try saveProfile(profile)
    }

    /// Keeps the reason an instance stopped in a condition it could not decide.
    func recordFault(_ fault: RuntimeFault, _ j: CompiledJourney, _ inst: InstanceRow, in what: String) throws {
        try store.reject(source: "journey \(j.name)", line: j.functions[0].line(at: inst.pc),
                         reason: "instance \(inst.id) for profile \(inst.profile) stopped in \(what): \(fault.message)", raw: "", at: now, profile: inst.profile)
    }

    /// Whether a stored instance can go on: its position is one where its journey's code may
    /// resume and its locals are as many as the journey has. One that cannot (a damaged
    /// database) fails with the reason, rather than running from a wrong place.
    func intact(_ inst: InstanceRow, _ j: CompiledJourney) throws -> Bool {
        let why: String
        if !j.functions[0].resumePoints.contains(inst.pc) {
            why = "its stored position \(inst.pc) is not a place where journey \(j.name) can go on"
        } else if inst.locals.count != j.localCount {
            why = "its stored values are damaged (\(inst.locals.count) of \(j.localCount))"
        } else {
            return true
        }
        try store.reject(source: "journey \(j.name)", line: 0, reason: "instance \(inst.id) for profile \(inst.profile) stopped: \(why)", raw: "", at: now, profile: inst.profile)
        var failed = inst
        failed.status = Outcome.failed.rawValue
        try finish(failed)
        return false
    }

    /// An audience run: one scan of the time zone's profiles reading only what `when` reads,
    /// then entries for the profiles that pass.
    func handleAudience(_ journey: String, _ tz: String, _ at: Int64, _ stats: inout RunStats) throws {
        guard let b = current, let hash = currentHash, let j = b.journey(named: journey), case .daily(let minutes) = j.trigger else {
            // No longer a daily journey on the current bundle: its schedule goes.
            try store.removeAudience(journey: journey)
            return
        }
        let map = attributeMap(hash, b)
        let plan = audiencePlan(hash, b, j, map)
        let used = plan.attributes
        // One profile slot, host and VM stack serve the whole scan.
        let slot = ProfileSlot(id: "", values: [])
        var host = Host(engine: self, bundle: b, hash: hash, journey: j, instance: 0, sends: 0, profile: slot, map: map)
        var scratch: [Value] = []
        let needsID = j.when.map { readsHistory(j.functions[$0]) } ?? false
        let noLocals = [Value](repeating: .none, count: j.localCount)
        var faults: [(profile: String, message: String)] = []
        try store.audienceRunStarts(journey: journey, timezone: tz, at: at)
        let condition = audienceConditionsInStore ? plan.condition : nil
        let started = DispatchTime.now().uptimeNanoseconds
        var tested = 0
        let passed = try store.scanProfiles(timezone: tz == "UTC" ? nil : tz, attributes: used, condition: condition) { id, values in
            tested += 1
            guard let w = j.when else { return true }
            slot.values = values
            if needsID { slot.id = id() }
            // Let go of the row again, so the scan can refill it in place.
            defer { slot.values = [] }
            do {
                return try VM.test(j, predicate: w, b.constants, locals: noLocals, candidate: .none, host: &host, scratch: &scratch)
            } catch let fault as RuntimeFault {
                faults.append((needsID ? slot.id : id(), fault.message))
                return false
            }
        }
        stats.audienceTested += tested
        stats.audienceSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        for f in faults {
            try store.reject(source: "journey \(j.name)", line: j.when.map { j.functions[$0].line(at: 0) } ?? 0,
                             reason: "profile \(f.profile) did not enter: its entry condition stopped: \(f.message)", raw: "", at: now, profile: f.profile)
        }
        for id in passed {
            guard let profile = try loadProfile(id) else { continue }
            try enter(j, b, hash, profile, trigger: nil, whenChecked: true, &stats)
            try saveProfile(profile)
        }
        try store.setAudience(journey: journey, timezone: tz, nextAt: Zones.next(minutes: minutes, after: at, zones.zone(tz)))
    }

    // MARK: - Running an instance

    /// Runs an instance to its next suspension and stores what it became.
    /// `holdsNothing`: the instance has no timer or wait left (new, or its timer or event just
    /// came and was removed), so ending it needs no clean-up.
    /// `isNew`: not stored yet (it has just entered).
    func resume(_ inst: inout InstanceRow, _ j: CompiledJourney, _ b: JourneyBundle, _ profile: ProfileSlot, _ stats: inout RunStats, holdsNothing: Bool, isNew: Bool = false) throws {
        var host = Host(engine: self, bundle: b, hash: inst.bundle, journey: j, instance: inst.id, sends: inst.sends, profile: profile)
        let suspension: Suspension
        // A fault undoes the step for this instance: its profile updates and the messages it
        // made are taken back, and it fails where it stood, with the reason.
        let (valuesBefore, dirtyBefore, sendsBefore, pcBefore) = (profile.values, profile.dirty, inst.sends, inst.pc)
        do {
            suspension = try VM.run(j, b.constants, pc: &inst.pc, locals: &inst.locals, host: &host)
        } catch let fault as RuntimeFault {
            let line = j.functions[0].line(at: inst.pc)
            profile.values = valuesBefore
            profile.dirty = dirtyBefore
            let made = (sendsBefore..<host.sends).map { "\(inst.id)-\($0)" }
            if !made.isEmpty { try store.removeOutbox(ids: made) }
            host.sends = sendsBefore
            host.messages = 0
            inst.pc = pcBefore
            let undone = made.isEmpty ? "" : "; its \(plural(made.count, "message")) of this step \(made.count == 1 ? "was" : "were") not sent"
            try store.reject(source: "journey \(j.name)", line: line, reason: "instance \(inst.id) for profile \(inst.profile) stopped: \(fault.message)\(undone)", raw: "", at: now, profile: inst.profile)
            suspension = .ended(.failed)
        }
        inst.sends = host.sends
        stats.messages += host.messages
        if !host.marks.isEmpty, suspension != .ended(.failed) { countSteps(host.marks, inst, j) }
        switch suspension {
        case .wait(let until):
            try addTimer(due: until, instance: inst.id)
            try storeWaiting(inst, isNew: isNew)
        case .waitFor(let event, let deadline):
            try store.addWait(instance: inst.id, profile: inst.profile, event: b.schema.events[event].name)
            try addTimer(due: deadline, instance: inst.id)
            try storeWaiting(inst, isNew: isNew)
        case .ended(let outcome):
            inst.status = outcome.rawValue
            try finish(inst, cleanUp: !holdsNothing, isNew: isNew)
        }
    }

    /// Stores an instance that now waits: its first row, or its changed state.
    func storeWaiting(_ inst: InstanceRow, isNew: Bool) throws {
        try isNew ? store.insertInstance(inst, endedAt: nil) : store.updateInstance(inst, endedAt: nil)
    }

    func finish(_ inst: InstanceRow, cleanUp: Bool = true, isNew: Bool = false) throws {
        countJourney(inst)
        if cleanUp {
            try removeTimers(instance: inst.id)
            try store.removeWaits(instance: inst.id)
        }
        if isNew {
            try store.insertInstance(inst, endedAt: now)
        } else {
            try store.endInstance(inst, at: now)
        }
    }
}
