import ArgumentParser
import Foundation
import JourneyBytecode
import JourneyDiagnostics
import JourneyPostgres
import JourneyRuntime

struct Deliveries: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deliveries",
        abstract: "List the messages for providers with where their delivery stands and every attempt made.",
        discussion: "A message is pending (waiting for its first attempt or a retry, or for an adapter for its channel), delivered, or failed (its attempts are spent, or the provider refused it). 'journey redeliver' puts failed ones back.")
    @Option(help: "The database: a SQLite file, or postgres://user@host:port/dbname (PG* variables fill in the rest).") var db: String
    @Option(help: "Only messages in this state: pending, delivered or failed.") var status: String?
    @Option(help: "text (default) or jsonl.") var format: TimelineFormat = .text
    @Option(help: "At most this many.") var limit = 10_000

    func validate() throws {
        if let s = status, !["pending", "delivered", "failed"].contains(s) {
            throw ValidationError("--status \(s): expected pending, delivered or failed")
        }
    }

    func run() throws {
        let store = try openAnyStoreForReading(db)
        let rows: [DeliveryRecord]
        do {
            rows = try store.deliveries(status: status, afterSeq: 0, limit: max(1, limit))
        } catch {
            if PostgresStore.isURL(db) { throw UsageError(description: "\(PostgresStore.redacted(db)): \(error)") }
            throw UsageError(description: "\(db): no deliveries to show: the database is from before delivery existed (any command that writes to it, like 'journey run', brings it up to date)")
        }
        var out = ""
        for r in rows {
            let m = r.message
            switch format {
            case .jsonl:
                var fields = ["\"id\": \(JSON.quote(m.id))", "\"at\": \(JSON.quote(Value.iso8601(m.at)))", "\"profile\": \(JSON.quote(m.profile))",
                              "\"journey\": \(JSON.quote(m.journey))", "\"channel\": \(m.channel.map(JSON.quote) ?? "null")",
                              "\"address\": \(r.address.map(JSON.quote) ?? "null")", "\"status\": \(JSON.quote(r.delivery ?? "none"))"]
                if let n = r.nextAttempt, r.delivery == "pending" { fields.append("\"next_attempt\": \(JSON.quote(Value.iso8601(seconds: n)))") }
                fields.append("\"attempts\": [" + r.attempts.map { a in
                    "{\"n\": \(a.n), \"at\": \(JSON.quote(Value.iso8601(seconds: a.at))), \"code\": \(a.code.map(String.init) ?? "null"), "
                        + "\"error\": \(a.error.map(JSON.quote) ?? "null"), \"outcome\": \(JSON.quote(a.outcome))}"
                }.joined(separator: ", ") + "]")
                out += "{" + fields.joined(separator: ", ") + "}\n"
            case .text:
                var head = "\(m.id.padded(10)) \((m.channel ?? "-").padded(9)) \(terminalSafe(m.profile).padded(10)) \((r.delivery ?? "-").padded(9))"
                head += " \(plural(r.attempts.count, "attempt"))"
                if r.delivery == "pending", let n = r.nextAttempt { head += ", next at \(Value.iso8601(seconds: n))" }
                out += head + "\n"
                for a in r.attempts {
                    let what = a.code.map { "HTTP \($0)" } ?? terminalSafe(a.error ?? "no answer")
                    out += "    \(String(a.n).padded(3)) \(Value.iso8601(seconds: a.at))  \(what.padded(24)) \(a.outcome)\n"
                }
            }
        }
        if rows.isEmpty, format == .text { out = "no messages for providers\(status.map { " in state \($0)" } ?? "")\n" }
        write(out)
    }
}

struct Redeliver: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redeliver",
        abstract: "Put failed messages back in the delivery queue, due now, with a fresh round of attempts.",
        discussion: "Works beside a running 'journey serve', which picks them up within a second. Exits 1 when any id could not be put back (unknown, or not failed), naming why.")
    @Option(help: "The database: a SQLite file, or postgres://user@host:port/dbname (PG* variables fill in the rest).") var db: String
    @Argument(help: "Message ids, as 'journey deliveries' shows them.") var ids: [String]

    func run() throws {
        let store = try openServiceStore(db)
        let name = PostgresStore.redacted(db)
        let results: [String?]
        do {
            results = try store.transaction { try store.redeliver(ids: ids, now: Date().timeIntervalSince1970) }
        } catch {
            throw UsageError(description: "\(name): \(error)")
        }
        var failed = false
        for (id, why) in zip(ids, results) {
            if let why {
                failed = true
                FileHandle.standardError.write(Data("\(name): \(terminalSafe(id)): not put back: \(why)\n".utf8))
            } else {
                write("\(id): pending again\n")
            }
        }
        if failed { throw ExitCode(1) }
    }
}
