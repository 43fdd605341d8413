import ArgumentParser
import Dispatch
import Foundation
import JourneyService

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the journeys as a service: events in over HTTP, the engine on the wall clock.",
        discussion: """
        Listens on 127.0.0.1:8080 unless --listen says otherwise. Keys come from the environment: \
        JOURNEY_INGEST_KEYS and JOURNEY_ADMIN_KEYS (comma-separated); without any, the server starts \
        only with --no-auth on a loopback address. Endpoints so far: GET /healthz, POST /v1/events \
        (a JSON array, or JSON lines with Content-Type: application/x-ndjson; answered after the \
        batch is committed), PUT and PATCH /v1/profiles/ID (replace or merge a profile). SIGTERM or SIGINT: requests in flight and the current step finish, \
        then it exits 0.
        """)
    @Option(help: "The SQLite database.") var db: String
    @Option(help: "HOST:PORT to listen on (port 0: any free port, printed when ready).") var listen = "127.0.0.1:8080"
    @Flag(name: .customLong("no-auth"), help: "Run without keys (loopback only), for development.") var noAuth = false
    @Option(name: .customLong("body-limit"), help: "The largest request body, in bytes.") var bodyLimit = 8 * 1024 * 1024

    func run() throws {
        guard FileManager.default.fileExists(atPath: db) else {
            throw UsageError(description: "\(db): no such database; create it with 'journey deploy --db \(db) BUNDLE'")
        }
        var config = ServiceConfiguration(database: db)
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw UsageError(description: "--listen \(listen): expected HOST:PORT, e.g. 127.0.0.1:8080")
        }
        config.host = String(listen[..<colon])
        config.port = port
        config.noAuth = noAuth
        config.bodyLimit = max(1, bodyLimit)
        let env = ProcessInfo.processInfo.environment
        func keys(_ name: String) -> [String] { (env[name] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        config.ingestKeys = keys("JOURNEY_INGEST_KEYS")
        config.adminKeys = keys("JOURNEY_ADMIN_KEYS")
        if let why = config.problem { throw UsageError(description: why) }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let host = config.host
        Task {
            do {
                try await JourneyServer.run(config) { port in
                    FileHandle.standardOutput.write(Data("journey serve: listening on \(host):\(port)\n".utf8))
                }
            } catch {
                outcome.set(error)
            }
            done.signal()
        }
        done.wait()
        if let e = outcome.error { throw UsageError(description: "\(db): \(e)") }
    }
}

/// The server task's error, handed back to the command's thread.
final class Outcome: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Error?
    func set(_ e: Error) { lock.lock(); stored = e; lock.unlock() }
    var error: Error? { lock.lock(); defer { lock.unlock() }; return stored }
}
