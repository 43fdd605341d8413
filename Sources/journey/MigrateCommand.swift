import ArgumentParser
import Foundation
import JourneyPostgres
import JourneyRuntime

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy a whole SQLite database (profiles, history, instances, timers, outbox, deliveries, analytics) into an empty PostgreSQL database.",
        discussion: "Stop the runs on the SQLite file first. The copy is one transaction: all of it, or nothing; each table's rows are counted on both sides. The clock, arrival numbers and instance numbers move with it, so 'journey run --db postgres://…' carries on where the SQLite runner stopped."
    )
    @Option(help: "The SQLite database to copy.") var from: String
    @Option(help: "The PostgreSQL database to copy into: postgres://user@host:port/dbname (it must hold no journey data).") var to: String

    func run() throws {
        guard PostgresStore.isURL(to) else { throw UsageError(description: "--to \(to): expected a PostgreSQL URL, postgres://user@host:port/dbname") }
        guard FileManager.default.fileExists(atPath: from) else { throw UsageError(description: "--from \(from): no such database") }
        let source: SQLiteStore
        do { source = try SQLiteStore(path: from) } catch { throw UsageError(description: "\(from): \(error)") }
        let target: PostgresStore
        do { target = try PostgresStore(url: to) } catch { throw UsageError(description: "\(PostgresStore.redacted(to)): \(error)") }
        let began = Date()
        let counts: [(table: String, rows: Int)]
        do {
            counts = try SQLiteToPostgres.copy(from: source, to: target)
        } catch {
            throw UsageError(description: "\(PostgresStore.redacted(to)): nothing was copied: \(error)")
        }
        var out = ""
        for (table, rows) in counts where rows > 0 { out += "  \(table.padded(18)) \(rows)\n" }
        out += "copied \(from) to \(PostgresStore.redacted(to)) in \(String(format: "%.1f", Date().timeIntervalSince(began))) s (\(counts.reduce(0) { $0 + $1.rows }) rows, the same count in every table on both sides)\n"
        write(out)
    }
}
