#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns between the processes that write one database file. SQLite lets one writer in at a
/// time and makes the others retry; a runner that commits a batch and begins the next at once
/// wins nearly every retry, so an `ingest` or `import` could wait out its busy time-out while a
/// backlog was worked through. A writer therefore announces itself (a shared lock on
/// `DB-writers`) from before it begins until it has committed, and the runner, between two
/// batches, waits until no writer is announced (an exclusive lock on the same file).
///
/// A second file, `DB-run`, is held exclusively by the one process that runs the journeys:
/// two runners would only take turns at the same work.
final class WriterTurns {
    private let fd: Int32
    private var announced = false

    /// Nil for `:memory:` (one connection, nothing to share) or when the file cannot be made.
    init?(databasePath: String) {
        guard databasePath != ":memory:", !databasePath.isEmpty else { return nil }
        let fd = open(databasePath + "-writers", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return nil }
        self.fd = fd
    }

    deinit { close(fd) }

    /// A writer is about to begin: the runner lets it in before its next batch.
    func announce() {
        guard !announced else { return }
        while flock(fd, LOCK_SH) != 0, errno == EINTR {}
        announced = true
    }

    /// The writer has committed or rolled back.
    func withdraw() {
        guard announced else { return }
        flock(fd, LOCK_UN)
        announced = false
    }

    /// The runner, between batches: waits (at most `limit` seconds) until no writer is announced.
    func yieldToWriters(limit: Double = 30) {
        var waited = 0.0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard waited < limit else { return }
            usleep(2_000)
            waited += 0.002
        }
        flock(fd, LOCK_UN)
    }

    /// Claims the right to run the journeys of `databasePath` for as long as the returned
    /// descriptor stays open; nil when another process holds it.
    static func claimRunner(databasePath: String) -> Int32? {
        guard databasePath != ":memory:" else { return -1 }
        let fd = open(databasePath + "-run", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return -1 }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            return nil
        }
        return fd
    }
}
