import JourneyDiagnostics
import ArgumentParser
import Foundation
import JourneyBytecode
import JourneyRuntime
import JourneyPostgres
import JourneyService

/// An instant given on the command line: ISO 8601 with a zone, or a date (midnight UTC).
func parseInstant(_ s: String, _ option: String) throws -> Int64 {
    guard let t = Value.parseISO8601(s) ?? CivilDate.parse(s).map({ $0.days * 86400 }) else {
        throw UsageError(description: "\(option) \(s): expected an ISO 8601 time such as 2025-03-01T10:00:00Z, or a date such as 2025-03-01")
    }
    guard Value.instantRange.contains(t) else {
        throw UsageError(description: "\(option) \(s): outside the times the runtime keeps (1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z)")
    }
    return t
}

func readInput(_ path: String) throws -> [UInt8] {
    if path == "-" { return [UInt8](FileHandle.standardInput.readDataToEndOfFile()) }
    // Straight into the array: no Data in between.
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw UsageError(description: "\(path): cannot read the file (\(String(cString: strerror(errno))))") }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
        guard let data = FileManager.default.contents(atPath: path) else { throw UsageError(description: "\(path): cannot read the file") }
        return [UInt8](data)
    }
    let size = Int(info.st_size)
    var failed = false
    let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
        var done = 0
        guard let base = buffer.baseAddress else { count = 0; return }
        while done < size {
            let n = read(fd, base + done, size - done)
            if n <= 0 { failed = n < 0; break }
            done += n
        }
        count = done
    }
    if failed { throw UsageError(description: "\(path): cannot read the file (\(String(cString: strerror(errno))))") }
    return bytes
}

func wallClock() -> Int64 { Int64(Date().timeIntervalSince1970) }

/// Reports rejected lines on standard error as `file:line: reason`.
func reportRejects(_ errors: [InputError], file: String) {
    for e in errors { printError("\(file):\(e.line): rejected: \(e.reason)") }
}

/// Shows progress on a terminal only.
final class Progress {
    let label: String
    /// nil: not known in advance (the count is shown alone).
    let total: Int?
    let enabled = isatty(2) == 1
    private var shown = false

    init(label: String, total: Int?) {
        self.label = label
        self.total = total
    }

    func update(_ done: Int) {
        guard enabled else { return }
        if let total {
            guard done % 10_000 == 0 || done == total else { return }
            FileHandle.standardError.write(Data("\r\(label) \(done)/\(total)".utf8))
            if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else {
            FileHandle.standardError.write(Data("\r\(label) \(done)".utf8))
            shown = true
        }
    }

    /// Ends the line of an open-ended count.
    func finish() {
        if enabled && shown { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// Pieces of work shared by a helper thread and the thread that takes their results, in
/// order: `take` gives the next piece's result, and while it is not ready does the first piece
/// nobody has started, rather than wait. Both cores work until the last piece is started.
final class SharedPieces<T: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private let work: @Sendable (Int) -> T
    private var results: [T?]
    private var ready: [Bool]
    /// The first piece nobody has started, and the next one to hand out.
    private var started = 0
    private var head = 0

    init(count: Int, work: @escaping @Sendable (Int) -> T) {
        self.work = work
        results = Array(repeating: nil, count: count)
        ready = Array(repeating: false, count: count)
    }

    /// Does the first piece nobody has started, outside the lock (called, and returning, with
    /// the lock held), and says that it is ready.
    private func doFirstUnstarted() {
        let k = started
        started += 1
        condition.unlock()
        let r = work(k)
        condition.lock()
        results[k] = r
        ready[k] = true
        condition.signal()
    }

    /// Does pieces nobody has started until none is left (the helper thread's loop).
    func help() {
        condition.lock()
        while started < results.count { doFirstUnstarted() }
        condition.unlock()
    }

    /// The next piece's result (nil once all are taken).
    func take() -> T? {
        condition.lock()
        defer { condition.unlock() }
        while head < results.count, !ready[head] {
            if started < results.count { doFirstUnstarted() } else { condition.wait() }
        }
        guard head < results.count else { return nil }
        let item = results[head]
        results[head] = nil // taken: let it go
        head += 1
        return item
    }
}

/// One outbox message as the interchange JSON line.
func outboxLine(_ r: OutboxRow, withID: Bool = false) -> String {
    var s = "{"
    if withID { s += "\"id\": \(JSON.quote(r.id)), " }
    s += "\"at\": \(JSON.quote(Value.iso8601(r.at))), \"profile\": \(JSON.quote(r.profile)), \"journey\": \(JSON.quote(r.journey)), "
    s += "\"channel\": \(r.channel.map(JSON.quote) ?? "null"), \"status\": \(JSON.quote(r.status)), \"content\": \(r.content ?? "null")"
    // Only a message that was not sent says why, so a sent one's line is as it always was.
    if let why = r.reason { s += ", \"reason\": \(JSON.quote(why))" }
    s += "}"
    return s
}

/// Parses a profiles file; rejected lines are reported and returned.
func loadProfiles(_ path: String, schema: RuntimeSchema, merge: Bool = false) throws -> ([ProfileRow], [InputError]) {
    let results = ProfileInput.parse(try readInput(path), path: path, schema: schema, merge: merge)
    var rows: [ProfileRow] = [], errors: [InputError] = []
    for r in results {
        switch r {
        case .success(let row): rows.append(row)
        case .failure(let e): errors.append(e)
        }
    }
    reportRejects(errors, file: path)
    // The same id twice in one file is allowed (the later line replaces the earlier), but never
    // silently: it is usually an export joined twice.
    var seen: [String: Int] = [:]
    for r in rows { seen[r.id, default: 0] += 1 }
    let repeated = rows.map(\.id).filter { (seen[$0] ?? 0) > 1 }
    var told = Set<String>()
    for id in repeated where told.insert(id).inserted && told.count <= 10 {
        printError("note: \(path): profile \(JSON.quote(id)) is given \(seen[id] ?? 0) times; each line replaces the one before, so the last one counts")
    }
    if told.count > 10 { printError("note: \(path): \(told.count) profiles are given more than once in all") }
    // A time zone that is not a tz database name is kept, but its profile's local times are in
    // UTC: say so, with the name that was probably meant.
    if let tz = schema.timezoneAttribute {
        var warned = 0
        for r in rows {
            guard case .string(let name) = r.values[tz], !name.isEmpty, !TimeZoneNames.isZone(name) else { continue }
            warned += 1
            guard warned <= 20 else { continue }
            let hint = TimeZoneNames.suggestion(for: name).map { "; did you mean \(JSON.quote($0))?" } ?? " (use a name like \"Europe/London\" or \"America/New_York\")"
            printError("warning: \(path): profile \(JSON.quote(r.id)): \(schema.attributes[tz].name) \(JSON.quote(name)) is not an IANA time zone name, so its local times are in UTC\(hint)")
        }
        if warned > 20 { printError("warning: \(path): \(warned) profiles in all have a time zone that is not an IANA name") }
    }
    return (rows, errors)
}

/// Parses an events file on every core; rejected lines are reported and returned. The events
/// come in time order; ties at one instant keep the file's order.
func loadEvents(_ path: String, schema: RuntimeSchema) throws -> EventFile {
    let bytes = try readInput(path)
    let parts = bytes.count < 1 << 20 ? 1 : ProcessInfo.processInfo.activeProcessorCount
    var file = EventInput.parseFile(bytes, schema: schema, parts: parts)
    reportRejects(file.errors, file: path)
    let inOrder = zip(file.events, file.events.dropFirst()).allSatisfy { $0.event.at <= $1.event.at }
    if !inOrder { file.events.sort { ($0.event.at, $0.line) < ($1.event.at, $1.line) } }
    return file
}

/// `--db`: a SQLite file (or `:memory:`), or a PostgreSQL URL (`postgres://user@host:port/db`;
/// what the URL leaves out comes from the `PG*` environment variables).
func openStore(_ db: String, create: Bool = false) throws -> any JourneyStore {
    if PostgresStore.isURL(db) {
        do {
            return try PostgresStore(url: db)
        } catch {
            throw UsageError(description: "\(PostgresStore.redacted(db)): \(error)")
        }
    }
    if !create, db != ":memory:", !FileManager.default.fileExists(atPath: db) {
        throw UsageError(description: "\(db): no such database; create it with 'journey deploy --db \(db) BUNDLE'")
    }
    do {
        return try SQLiteStore(path: db)
    } catch {
        throw UsageError(description: "\(db): \(error)")
    }
}

func openEngine(_ db: String, create: Bool = false) throws -> Engine {
    let store = try openStore(db, create: create)
    do {
        return try Engine(store: store)
    } catch {
        throw UsageError(description: "\(PostgresStore.redacted(db)): \(error)")
    }
}

/// Says that a command does not work on PostgreSQL yet (rather than "no such file").
func refusePostgres(_ db: String, _ command: String) throws {
    if PostgresStore.isURL(db) {
        throw UsageError(description: "\(PostgresStore.redacted(db)): \(command) works on a SQLite database only, not yet on PostgreSQL")
    }
}

/// The store of an existing database, for a command that only reads it: opened read-only, so
/// it works on a database the user may not write (a backup, a read-only mount).
func openStoreForReading(_ db: String) throws -> SQLiteStore {
    try refusePostgres(db, "this command")
    guard FileManager.default.fileExists(atPath: db) else {
        throw UsageError(description: "\(db): no such database; create it with 'journey deploy --db \(db) BUNDLE'")
    }
    do {
        return try SQLiteStore(path: db, readOnly: true)
    } catch {
        throw UsageError(description: "\(db): \(error)")
    }
}

/// Any store, for a command that only reads through the store protocols.
func openAnyStoreForReading(_ db: String) throws -> any ServiceStore {
    if PostgresStore.isURL(db) {
        do {
            return try PostgresStore(url: db, readOnly: true)
        } catch {
            throw UsageError(description: "\(PostgresStore.redacted(db)): \(error)")
        }
    }
    return try openStoreForReading(db)
}

/// Any existing store, for a command that writes through the service's protocol.
func openServiceStore(_ db: String) throws -> any ServiceStore {
    if PostgresStore.isURL(db) {
        do {
            return try PostgresStore(url: db)
        } catch {
            throw UsageError(description: "\(PostgresStore.redacted(db)): \(error)")
        }
    }
    guard FileManager.default.fileExists(atPath: db) else { throw UsageError(description: "\(db): no such database") }
    do {
        return try SQLiteStore(path: db)
    } catch {
        throw UsageError(description: "\(db): \(error)")
    }
}

/// Ends a command that wrote: the write-ahead log goes into the database file (so the file
/// alone is whole), then the process exits without tearing down caches one by one.
func finish(_ engine: Engine, status: Int32 = 0) -> Never {
    do {
        try engine.store.checkpoint()
    } catch {
        printError("note: the database's write-ahead log could not be folded into it (\(error)); nothing is lost, the next command replays it")
    }
    Foundation.exit(status)
}

/// Prints the outbox page by page (memory stays flat however many messages it holds).
func printOutbox(_ store: any JourneyStore, _ format: TimelineFormat, withIDs: Bool = false) throws {
    var after: Int64 = 0
    while true {
        let page = try store.outbox(afterSeq: after, limit: 10_000)
        guard let last = page.last else { break }
        write(timeline(page, format, withIDs: withIDs))
        after = last.seq
    }
}

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run a project's journeys on a virtual clock and print the message timeline as JSON lines.",
        discussion: "Runs from --start (default: the first event) to --until (default: when nothing is left to do; audience journeys then run for the first day only). The same input gives the same output, byte for byte. Exit 1 when some input lines were rejected (they are reported on standard error)."
    )

    @Option(help: "Profiles: JSON lines or CSV (by extension).") var profiles: String
    @Option(help: "Events: JSON lines.") var events: String?
    @Option(help: "Start of the virtual clock (ISO 8601).") var start: String?
    @Option(help: "End of the virtual clock (ISO 8601).") var until: String?
    @Option(help: "Keep the simulation's SQLite database in this file (replaced) instead of in memory.") var db: String?
    @Option(help: "jsonl (default): the interchange format; text: a readable timeline.") var format: TimelineFormat = .jsonl
    @Option(help: "Also write the console's journey page for every journey of this simulation (funnel, diagram, splits) to this HTML file.") var report: String?
    @Argument(help: "Files and directories of the project.") var paths: [String]

    func run() throws {
        let startAt = try start.map { try parseInstant($0, "--start") }
        let untilAt = try until.map { try parseInstant($0, "--until") }
        let bundle = try compileProject(paths)
        if let db { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) } }
        let engine = try openEngine(db ?? ":memory:", create: true)
        try engine.deploy(bundle.encode(), at: 0)
        let (rows, badProfiles) = try loadProfiles(profiles, schema: bundle.schema)
        try engine.importProfiles(rows)
        try engine.recordRejects(badProfiles, source: profiles)
        var rejected = badProfiles.count
        var first: Int64?
        if let path = events {
            let file = try loadEvents(path, schema: bundle.schema)
            let summary = try engine.ingest(file, source: path)
            let reported = Set(file.errors.map(\.line))
            reportRejects(summary.rejected.filter { !reported.contains($0.line) }, file: path)
            rejected += summary.rejected.count
            first = file.events.first?.event.at
        }
        if let from = startAt ?? first {
            let audienceUntil = untilAt == nil ? from + 86400 - 1 : nil
            try engine.run(until: untilAt, audienceUntil: audienceUntil, start: from)
        } else {
            printError("note: no events and no --start: nothing to simulate (give --start to run audience journeys)")
        }
        try printOutbox(engine.store, format)
        if let report, let store = engine.store as? SQLiteStore {
            let stats = try StatsReport.build(store)
            let messages = try store.lastOutboxSeq()
            let profileCount = try store.profileCount()
            var subtitle = "\(paths.joined(separator: ", ")): \(plural(profileCount, "profile"))"
            if let events { subtitle += ", events from \(events)" }
            if let from = startAt ?? first { subtitle += ", from \(timelineTime(from))" }
            subtitle += " to \(timelineTime(engine.now)); \(plural(Int(messages), "message"))."
            let html = SimulationReport.html(stats, bundle: bundle, subtitle: subtitle)
            do {
                try html.write(toFile: report, atomically: true, encoding: .utf8)
            } catch {
                throw UsageError(description: "\(report): cannot write the report (\(error.localizedDescription))")
            }
            printError("wrote \(report)")
        }
        if db != nil { try engine.store.checkpoint() }
        if rejected > 0 { throw ExitCode(1) }
    }
}

struct Deploy: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "deploy", abstract: "Store a bundle in the database; new entries run it, instances in flight keep theirs.")
    @Option(help: "The database: a SQLite file (created if missing), or postgres://user@host:port/dbname (PG* variables fill in the rest).") var db: String
    @Flag(name: .customLong("dry-run"), help: "Say what the deploy would change (attributes, journeys) and whether it would be refused; change nothing.") var dryRun = false
    @Argument(help: "The .journeyc bundle.") var bundle: String

    func run() throws {
        let (loaded, bytes) = try loadBundle(bundle)
        if dryRun {
            let engine = PostgresStore.isURL(db) || FileManager.default.fileExists(atPath: db) ? try openEngine(db) : try openEngine(":memory:", create: true)
            let plan = try engine.plan(loaded)
            var out = ""
            for a in plan.attributesAdded { out += "  add profile attribute \(a)\n" }
            for a in plan.attributesChanged { out += "  change profile attribute \(a)\n" }
            for a in plan.attributesRemoved { out += "  drop profile attribute \(a) (no profile has a value for it; its column stays)\n" }
            for j in plan.journeysAdded { out += "  add journey \(j)\n" }
            for j in plan.journeysChanged { out += "  change journey \(j) (instances in flight finish on their version)\n" }
            for j in plan.journeysRemoved { out += "  remove journey \(j) (instances in flight finish on their version)\n" }
            if plan.problems.isEmpty {
                write(out.isEmpty ? "\(bundle): nothing would change\n" : "\(bundle): deploying would\n" + out)
                return
            }
            write((out.isEmpty ? "" : "\(bundle): deploying would\n" + out))
            printError("error: \(bundle): \(DeployRefused(reasons: plan.problems))")
            throw ExitCode(1)
        }
        let engine = try openEngine(db, create: true)
        let hash: String, fresh: Bool
        do {
            (hash, fresh) = try engine.deploy(bytes, at: wallClock())
        } catch let refused as DeployRefused {
            printError("error: \(bundle): \(refused)")
            throw ExitCode(1)
        }
        write("deployed \(bundle) as \(hash)\(fresh ? "" : " (already stored; now current)")\n")
        finish(engine)
    }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import or update profiles from JSON lines or CSV. Exit 1 when some lines were rejected.",
        discussion: "Each line is a whole profile, unless --merge: then a line changes only the attributes it gives (a CSV only its header's columns), and a profile not stored yet must give every required attribute.")
    @Option(help: "The database: a SQLite file, or postgres://user@host:port/dbname (PG* variables fill in the rest).") var db: String
    @Flag(help: "Partial updates: change only the attributes each line gives.") var merge = false
    @Argument(help: "Profiles file (.csv for CSV, else JSON lines; - for standard input).") var profiles: String

    func run() throws {
        let engine = try openEngine(db)
        guard let schema = engine.schema else { throw UsageError(description: "\(db): no bundle is deployed; run 'journey deploy' first") }
        var (rows, bad) = try loadProfiles(profiles, schema: schema, merge: merge)
        let progress = Progress(label: "importing profiles", total: rows.count)
        var refused: [(index: Int, id: String, reason: String)] = []
        for start in stride(from: 0, to: rows.count, by: 10_000) {
            refused += try engine.importProfiles(Array(rows[start..<min(rows.count, start + 10_000)])).map { ($0.index + start, $0.id, $0.reason) }
            progress.update(min(rows.count, start + 10_000))
        }
        let refusedErrors = refused.map { InputError(line: rows[$0.index].line, reason: $0.reason, raw: "") }
        reportRejects(refusedErrors, file: profiles)
        bad += refusedErrors
        try engine.recordRejects(bad, source: profiles)
        let refusedRows = Set(refused.map(\.index))
        let updated = rows.count - refusedRows.count
        write("\(merge ? "updated" : "imported") \(plural(updated, "profile"))\(bad.isEmpty ? "" : ", rejected \(bad.count)")\n")
        finish(engine, status: bad.isEmpty ? 0 : 1)
    }
}

struct Ingest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Add events (JSON lines) to the inbox. Exit 1 when some lines were rejected; they are kept in the rejects table.",
        discussion: "An event with an \"id\" that its profile sent before is a duplicate and is ignored. A file with the same content as one ingested whole before is skipped (unless --again); one whose ingest stopped half-way (killed, a full disk) goes on after the last line committed.")
    @Option(help: "The database: a SQLite file, or postgres://user@host:port/dbname (PG* variables fill in the rest).") var db: String
    @Argument(help: "Events file (- for standard input).") var events: String
    @Flag(help: "Ingest the file even if the same content was ingested before (events with an id seen before are still ignored).") var again = false
    @Option(name: .customLong("batch-size"), help: "Events per transaction (each records how far the file got).") var batchSize = 100_000

    func run() throws {
        // A short run that allocates several times the file's size at once, then exits: glibc's
        // thresholds where it would settle, and the heaps in large pages (the 100k-event
        // benchmark's ingest: page faults 6.6k -> 0.5k; 0.316 -> 0.295 s, nine runs each).
        HeapThresholds.settle()
        LargePages.enable()
        let engine = try openEngine(db)
        guard let schema = engine.schema else { throw UsageError(description: "\(db): no bundle is deployed; run 'journey deploy' first") }
        // The file is parsed piece by piece, by a helper thread and by this one whenever the
        // next piece is not ready yet; this one stores the pieces in the file's order. Arrival
        // numbers follow the file, so events of one instant keep the file's order.
        let bytes = try readInput(events)
        // The helper starts at once: its first pieces are ready by the time the file's hash is.
        let ranges = EventInput.pieces(bytes, count: max(1, min(64, bytes.count >> 20)))
        let pieces = SharedPieces<EventFile.Part>(count: ranges.count) { EventInput.parsePiece(bytes, ranges[$0], schema: schema) }
        Thread { pieces.help() }.start()
        // A file is known by its content: ingested whole before, it is skipped; stopped
        // half-way, it goes on after the last line that was committed.
        let fileKey = "fnv1a64:\(hex(fnv1a64(bytes))):\(bytes.count)"
        var previous = try engine.store.ingestProgress(file: fileKey)
        if again, let p = previous, !p.complete {
            throw UsageError(description: "\(events): an earlier ingest of this file stopped after line \(p.lines); run without --again to go on from line \(p.lines + 1) (--again would take the lines already in a second time)")
        }
        if again, previous != nil {
            try engine.store.begin()
            try engine.store.forgetIngest(file: fileKey)
            try engine.store.commit()
            previous = nil
        }
        if let p = previous, p.complete {
            write("\(events): already ingested (the same content as \(p.source), \(plural(p.events, "event"))); nothing to do. Give --again to ingest it once more.\n")
            finish(engine)
        }
        if let p = previous {
            write("\(events): an earlier ingest of this file stopped after line \(p.lines) (\(plural(p.events, "event")) in); going on from line \(p.lines + 1)\n")
        }
        let progress = Progress(label: "ingesting events", total: nil)
        var lines = 0
        let endsWithLineBreak = bytes.last == 0x0A
        let summary: IngestSummary
        do {
        summary = try engine.ingest(pieces: {
            guard var part = pieces.take() else { return nil }
            part.shiftLines(by: lines)
            lines += part.lines
            // The last line of a file without a final line break is a line too.
            let through = max(lines + (endsWithLineBreak ? 0 : 1), part.events.last?.line ?? 0, part.errors.last?.line ?? 0)
            return IngestPiece(events: part.events[...], errors: part.errors, throughLine: through)
        }, of: bytes, source: events, file: fileKey, resuming: previous, transactionSize: max(1, batchSize), progress: { progress.update($0) })
        } catch let conflict as IngestConflict {
            throw UsageError(description: conflict.description)
        }
        progress.finish()
        reportRejects(summary.rejected.sorted { $0.line < $1.line }, file: events)
        let rejected = summary.rejected.count
        var parts = ["ingested \(plural(summary.ingested, "event"))"]
        if summary.duplicates > 0 { parts.append("\(plural(summary.duplicates, "duplicate")) ignored (an id seen before)") }
        if rejected > 0 { parts.append("rejected \(rejected)") }
        write(parts.joined(separator: ", ") + "\n")
        finish(engine, status: rejected > 0 ? 1 : 0)
    }
}


struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Process ingested events and due timers up to a time (default: now), or keep going on the wall clock with --follow.")
    @Option(help: "The database: a SQLite file, or postgres://user@host:port/dbname (PG* variables fill in the rest).") var db: String
    @Option(help: "Process everything due up to this time (ISO 8601).") var until: String?
    @Option(help: "Where the clock starts on a fresh database (default: the first event); audience journeys count their days from it.") var start: String?
    @Option(name: .customLong("batch-size"), help: "Steps per transaction, at most (a transaction also ends after about half a second of work; a crash rolls back whole steps only).") var batchSize = Engine.defaultBatchSize
    @Flag(help: "Keep running on the wall clock, picking up new events as they are ingested.") var follow = false
    @Flag(help: "With --follow: print only the start line and the summary, not each message.") var quiet = false

    func validate() throws {
        if follow && until != nil { throw ValidationError("--until and --follow cannot be used together") }
    }

    func run() throws {
        // (Large pages did not pay here: the run's heap grows little at a time.)
        HeapThresholds.settle()
        let engine = try openEngine(db)
        guard engine.schema != nil else { throw UsageError(description: "\(db): no bundle is deployed; run 'journey deploy' first") }
        engine.batchSize = max(1, batchSize)
        if let store = engine.store as? SQLiteStore, !store.claimRunner() {
            throw UsageError(description: "\(db): another 'journey run' is already processing this database; one runner at a time works on it (the other holds \(db)-run)")
        }
        // On PostgreSQL any number of runs share the work, each a worker leasing partitions.
        if let store = engine.store as? PostgresStore {
            let lease = ProcessInfo.processInfo.environment["JOURNEY_PG_LEASE"].flatMap(Double.init) ?? 10
            try store.becomeWorker(lease: lease)
        }
        let startAt = try start.map { try parseInstant($0, "--start") }
        (engine.store as? PostgresStore)?.startClocks(at: startAt)
        if follow {
            try follow(engine, startAt)
        }
        let stats = try runUntil(engine, try until.map { try parseInstant($0, "--until") } ?? wallClock(), startAt)
        write("processed \(plural(stats.events, "event")), \(plural(stats.timers, "timer")), \(plural(stats.audienceRuns, "audience run")); \(plural(stats.messages, "message"))\n")
        if stats.catalogCandidates > 0 {
            write("catalog events: \(plural(stats.catalogCandidates, "candidate")), \(stats.catalogTested) tested one by one, \(stats.catalogPassed) entered; "
                  + "finding them took \(String(format: "%.1f", stats.catalogSeconds * 1000)) ms\n")
        }
        if stats.audienceRuns > 0 {
            write("audience runs: \(plural(stats.audienceTested, "profile")) read and tested (the store's query left out those the condition rules out); "
                  + "finding them took \(String(format: "%.1f", stats.audienceSeconds * 1000)) ms\n")
        }
        finish(engine)
    }
}

extension Run {
    /// `--follow`: says where it runs, prints each message as it is decided (unless --quiet),
    /// and on SIGINT or SIGTERM finishes the batch in hand, prints a summary and exits 0.
    func follow(_ engine: Engine, _ startAt: Int64?) throws -> Never {
        let stop = StopFlag()
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { stop.set() }
            source.resume()
            sources.append(source)
        }
        engine.stopRequested = { stop.isSet }
        write("journey run --follow: \(db), bundle \(engine.currentHash ?? "-"), wall clock (now \(timelineTime(wallClock()))); new events are picked up every 0.5 s. Ctrl-C stops.\n")
        var total = RunStats()
        var lastSeq = try engine.store.lastOutboxSeq()
        // On a terminal a status line (on standard error) says where the clock is and what
        // has been done; message lines are printed above it.
        let status = isatty(2) == 1 && !quiet
        func clearStatus() { if status { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) } }
        while !stop.isSet {
            let stats = try runOnce(engine, wallClock(), startAt)
            total.events += stats.events; total.timers += stats.timers; total.audienceRuns += stats.audienceRuns; total.messages += stats.messages
            while true {
                let page = try engine.store.outbox(afterSeq: lastSeq, limit: 1000)
                guard let last = page.last else { break }
                clearStatus()
                if !quiet { write(timeline(page, .text)) }
                lastSeq = last.seq
            }
            if status {
                clearStatus()
                FileHandle.standardError.write(Data("clock \(timelineTime(engine.now)) · \(plural(total.events, "event")), \(plural(total.timers, "timer")), \(plural(total.messages, "message"))".utf8))
            }
            for _ in 0..<5 where !stop.isSet { Thread.sleep(forTimeInterval: 0.1) }
        }
        clearStatus()
        write("stopped: \(plural(total.events, "event")), \(plural(total.timers, "timer")), \(plural(total.audienceRuns, "audience run")); \(plural(total.messages, "message"))\n")
        _ = sources
        finish(engine)
    }
}

extension Run {
    /// One run up to `until`. A worker on PostgreSQL that loses a lease (it was paused past it)
    /// or its session keeps nothing of the transaction in hand: it says so, takes a fresh look
    /// at the leases and goes on.
    func runOnce(_ engine: Engine, _ until: Int64, _ startAt: Int64?) throws -> RunStats {
        var failures = 0
        while true {
            do {
                return try engine.run(until: until, start: startAt)
            } catch {
                // The store says what a worker carries on after (its own list: a lost lease or
                // session, the lock needed alone, a transient failure).
                guard let shared = engine.store as? any SharedWorkStore, shared.isSetback(error) else { throw error }
                failures += 1
                if failures > 10 { throw error }
                printError("note: \(error); this worker goes on with the partitions it holds")
                Thread.sleep(forTimeInterval: 0.2)
                try shared.recover()
            }
        }
    }

    /// Runs everything due by `until`. On PostgreSQL a worker goes on until nothing due by then
    /// is left in any partition: it takes over the partitions of workers that stopped.
    func runUntil(_ engine: Engine, _ until: Int64, _ startAt: Int64?) throws -> RunStats {
        var total = try runOnce(engine, until, startAt)
        guard let store = engine.store as? any SharedWorkStore else { return total }
        while try store.workDue(by: until) {
            Thread.sleep(forTimeInterval: store.heartbeatInterval)
            try store.recover()
            total.add(try runOnce(engine, until, startAt))
        }
        return total
    }
}

/// Set from a signal handler's queue, read by the loop.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

struct Outbox: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "outbox", abstract: "Print the outbox as JSON lines, in time order.")
    @Option(help: "The database: a SQLite file, or postgres://user@host:port/dbname (PG* variables fill in the rest).") var db: String
    @Flag(name: .customLong("with-ids"), help: "Include each message's deterministic id, for delivery adapters to deduplicate.") var withIDs = false
    @Option(help: "jsonl (default): the interchange format; text: a readable timeline.") var format: TimelineFormat = .jsonl

    func run() throws {
        try printOutbox(try openAnyStoreForReading(db), format, withIDs: withIDs)
    }
}


enum TimelineFormat: String, ExpressibleByArgument, CaseIterable {
    case jsonl, text
}

/// The outbox as JSON lines, or as a timeline a person reads at a glance.
func timeline(_ rows: [OutboxRow], _ format: TimelineFormat, withIDs: Bool = false) -> String {
    var out = ""
    switch format {
    case .jsonl:
        for r in rows { out += outboxLine(r, withID: withIDs) + "\n" }
    case .text:
        // Columns aligned over the page; every time to the second with its zone; a message
        // that was not sent shows why instead of its text.
        let cells: [[String]] = rows.map { r in
            var summary = ""
            if let c = r.content, let j = try? JSON.parse(c), case .object(let items) = j {
                let text = items.compactMap { item -> String? in if case .string(let s) = item.1 { return s } else { return nil } }.first ?? ""
                summary = terminalSafe(text.replacingOccurrences(of: "\n", with: " "))
                if summary.count > 60 { summary = String(summary.prefix(59)) + "…" }
            }
            if r.status != "sent", let why = r.reason { summary = (summary.isEmpty ? "" : summary + "  ") + "(" + terminalSafe(why) + ")" }
            return (withIDs ? [r.id] : []) + [timelineTime(r.at), terminalSafe(r.profile), r.journey, r.channel ?? "-", r.status, summary]
        }
        let widths = (0..<(cells.first?.count ?? 0)).map { k in cells.map { $0[k].count }.max() ?? 0 }
        for row in cells {
            out += row.enumerated().map { k, cell in k == row.count - 1 ? cell : cell.padded(widths[k]) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces) + "\n"
        }
    }
    return out
}

/// Text from messages as a terminal may show it: control characters (an escape sequence in a
/// message could rewrite the screen) are written as `\u{1B}`.
func terminalSafe(_ s: String) -> String {
    guard s.unicodeScalars.contains(where: ProfileID.isControl) else { return s }
    var out = ""
    for u in s.unicodeScalars {
        if ProfileID.isControl(u) { out += "\\u{\(String(u.value, radix: 16, uppercase: true))}" } else { out.unicodeScalars.append(u) }
    }
    return out
}

extension String {
    func padded(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}

struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write a consistent copy of a database to a new file, while other commands go on using it.",
        discussion: "The copy is whole on its own (no write-ahead log beside it) and compacted. OUT must not exist.")
    @Option(help: "The SQLite database.") var db: String
    @Argument(help: "The file to write.") var out: String

    func run() throws {
        if PostgresStore.isURL(db) {
            throw UsageError(description: "\(PostgresStore.redacted(db)): a PostgreSQL database is backed up with its own tools: pg_dump --format=custom, or the server's base backups and WAL archive")
        }
        guard !FileManager.default.fileExists(atPath: out) else { throw UsageError(description: "\(out): already exists; give a new file") }
        let store = try openStoreForReading(db)
        do {
            try store.backup(to: out)
        } catch {
            try? FileManager.default.removeItem(atPath: out)
            throw UsageError(description: "\(out): cannot write the backup (\(error))")
        }
        write("backed up \(db) to \(out)\n")
    }
}

struct Instances: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "instances", abstract: "List journey instances: where each waits and until when, how each ended, and why a failed one failed.")
    @Option(help: "The database: a SQLite file, or postgres://user@host:port/dbname (PG* variables fill in the rest).") var db: String
    @Option(help: "Only this journey's instances.") var journey: String?
    @Option(help: "Only instances in this state: active, completed, exited, converted or failed.") var state: String?
    @Option(help: "At most this many.") var limit = 1000
    @Option(help: "text (default) or jsonl.") var format: TimelineFormat = .text

    func validate() throws {
        if let s = state, !["active", "completed", "exited", "converted", "failed"].contains(s) {
            throw ValidationError("--state \(s): expected active, completed, exited, converted or failed")
        }
    }

    func run() throws {
        let store = try openAnyStoreForReading(db)
        var lines = InstanceLines(store: store)
        let rows = try store.instanceSummaries(journey: journey, status: state, limit: max(1, limit), profile: nil)
        var out = ""
        for i in rows {
            let at = lines.line(i)
            switch format {
            case .jsonl:
                var fields = ["\"id\": \(i.id)", "\"journey\": \(JSON.quote(i.journey))", "\"profile\": \(JSON.quote(i.profile))", "\"state\": \(JSON.quote(i.status))",
                              "\"entered\": \(JSON.quote(Value.iso8601(i.enteredAt)))"]
                if let l = at { fields.append("\"line\": \(l)") }
                if let d = i.due, i.status == "active" { fields.append("\"until\": \(JSON.quote(Value.iso8601(d)))") }
                if let w = i.waitsFor { fields.append("\"waits_for\": \(JSON.quote(w))") }
                if let e = i.endedAt { fields.append("\"ended\": \(JSON.quote(Value.iso8601(e)))") }
                if let r = i.reason { fields.append("\"reason\": \(JSON.quote(r))") }
                out += "{" + fields.joined(separator: ", ") + "}\n"
            case .text:
                var whereNow: String
                switch i.status {
                case "active":
                    whereNow = (i.waitsFor.map { "waits for \($0)" } ?? "waits") + (at.map { " at line \($0)" } ?? "")
                    if let d = i.due { whereNow += (i.waitsFor == nil ? " until " : " until at most ") + timelineTime(d) }
                case "failed":
                    whereNow = "failed" + (at.map { " at line \($0)" } ?? "") + (i.endedAt.map { " at " + timelineTime($0) } ?? "") + (i.reason.map { ": " + terminalSafe($0) } ?? "")
                default:
                    whereNow = i.status + (i.endedAt.map { " at " + timelineTime($0) } ?? "")
                }
                out += "\(String(i.id).padded(6)) \(i.journey.padded(20)) \(terminalSafe(i.profile).padded(10)) \(whereNow)\n"
            }
        }
        if rows.isEmpty, format == .text { out = "no instances\(journey.map { " of \($0)" } ?? "")\(state.map { " in state \($0)" } ?? "")\n" }
        write(out)
    }
}

/// An instant as the text outputs show it: to the second, with its zone.
func timelineTime(_ t: Int64) -> String {
    Value.iso8601(t).replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC")
}

struct Rejects: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rejects", abstract: "Print the rejected input lines kept in the database, as JSON lines (source, line, reason, raw).")
    @Option(help: "The database: a SQLite file, or postgres://user@host:port/dbname (PG* variables fill in the rest).") var db: String

    func run() throws {
        let store = try openAnyStoreForReading(db)
        var out = ""
        for r in try store.rejects() {
            out += "{\"source\": \(JSON.quote(r.source)), \"line\": \(r.line), \"reason\": \(JSON.quote(r.reason)), \"raw\": \(JSON.quote(r.raw))}\n"
        }
        write(out)
    }
}
