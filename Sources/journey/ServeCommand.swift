import ArgumentParser
import Dispatch
import Foundation
import JourneyPostgres
import JourneyService

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the journeys as a service: events in over HTTP, the engine on the wall clock, messages out to the providers.",
        discussion: """
        Listens on 127.0.0.1:8080 unless --listen or the configuration says otherwise. Keys come from \
        the configuration's [auth] and from the environment: JOURNEY_INGEST_KEYS and JOURNEY_ADMIN_KEYS \
        (comma-separated); without any, the server starts only with --no-auth on a loopback address. \
        Each channel is delivered by the adapter its [delivery.CHANNEL] table names (a signed webhook, \
        or stdout); a channel without one keeps its messages pending. The endpoints are in \
        docs/openapi.yaml. SIGTERM or SIGINT: requests in flight, the current step and the delivery \
        attempts in flight finish, then it exits 0.
        """)
    @Option(help: "The database: a SQLite file, or postgres://user@host:port/dbname (PG* variables fill in the rest); any number of servers share one PostgreSQL database.") var db: String
    @Option(help: "A TOML configuration file (see examples/journey.toml).") var config: String?
    @Option(help: "HOST:PORT to listen on (port 0: any free port, printed when ready).") var listen: String?
    @Flag(name: .customLong("no-auth"), help: "Run without keys (loopback only), for development.") var noAuth = false
    @Option(name: .customLong("body-limit"), help: "The largest request body, in bytes (default 8 MiB).") var bodyLimit: Int?

    func run() throws {
        var settings = ServiceConfiguration(database: db)
        if PostgresStore.isURL(db) {
            // Every server on one PostgreSQL database is a worker: they share the profiles'
            // partitions and the delivery queue.
            let url = db
            settings.openStore = { readOnly in try PostgresStore(url: url, readOnly: readOnly) }
            settings.databaseName = PostgresStore.redacted(db)
            settings.workerLease = ProcessInfo.processInfo.environment["JOURNEY_PG_LEASE"].flatMap(Double.init) ?? 10
        } else if !FileManager.default.fileExists(atPath: db) {
            throw UsageError(description: "\(db): no such database; create it with 'journey deploy --db \(db) BUNDLE'")
        }
        if let path = config {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw UsageError(description: "\(path): cannot read the configuration file")
            }
            do {
                try settings.load(toml: text, file: path)
            } catch {
                throw UsageError(description: "\(error)")
            }
        }
        if let listen, let why = settings.listen(listen) { throw UsageError(description: "--listen: \(why)") }
        settings.noAuth = noAuth
        if let bodyLimit { settings.bodyLimit = max(1, bodyLimit) }
        settings.apply(environment: ProcessInfo.processInfo.environment)
        if let why = settings.problem { throw UsageError(description: why) }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let host = settings.host
        let ready = settings
        Task {
            do {
                try await JourneyServer.run(ready) { port in
                    FileHandle.standardOutput.write(Data("journey serve: listening on \(host):\(port)\n".utf8))
                }
            } catch {
                outcome.set(error)
            }
            done.signal()
        }
        done.wait()
        if let e = outcome.error { throw UsageError(description: "\(settings.databaseName): \(e)") }
    }
}

/// The server task's error, handed back to the command's thread.
final class Outcome: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Error?
    func set(_ e: Error) { lock.lock(); stored = e; lock.unlock() }
    var error: Error? { lock.lock(); defer { lock.unlock() }; return stored }
}
