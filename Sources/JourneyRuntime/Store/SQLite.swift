import CSQLite

/// A SQLite failure, with SQLite's own message.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public var description: String { "SQLite error \(code): \(message)" }
}

/// SQLITE_TRANSIENT: SQLite copies bound text and blobs before `bind` returns.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// Process-wide SQLite settings, applied once before the first connection opens.
private let configured: Bool = {
    journey_sqlite3_disable_memstatus() == SQLITE_OK
}()

/// One connection. Not shared across threads: the runtime drives it from one task.
public final class Database {
    let handle: OpaquePointer
    public let path: String

    /// Opens (creating) a database file, or `:memory:`; `readOnly` opens an existing file
    /// for reading only (the commands that only look).
    /// Replaces this database's content with a copy of `source`'s (SQLite's online backup).
    public func copy(from source: Database) throws {
        guard let b = sqlite3_backup_init(handle, "main", source.handle, "main") else {
            throw SQLiteError(code: sqlite3_errcode(handle), message: "cannot copy the database: \(String(cString: sqlite3_errmsg(handle)))")
        }
        let rc = sqlite3_backup_step(b, -1)
        sqlite3_backup_finish(b)
        guard rc == SQLITE_DONE else { throw SQLiteError(code: rc, message: "copying the database stopped (\(rc))") }
    }

    public init(path: String, readOnly: Bool = false) throws {
        _ = configured
        var db: OpaquePointer?
        let flags = readOnly ? SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close(db) }
            throw SQLiteError(code: rc, message: "\(path): \(message)")
        }
        handle = db
        self.path = path
        // Long enough for a runner's batch (bounded in time, see Engine.batchTime) and a big import.
        sqlite3_busy_timeout(db, 30_000)
    }

    deinit { sqlite3_close_v2(handle) }

    public func setBusyTimeout(milliseconds: Int32) { sqlite3_busy_timeout(handle, milliseconds) }

    var errorMessage: String { String(cString: sqlite3_errmsg(handle)) }

    /// Runs SQL with no results (several statements allowed).
    public func exec(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let message = err.map { String(cString: $0) } ?? errorMessage
            sqlite3_free(err)
            throw SQLiteError(code: rc, message: message)
        }
    }

    /// Prepares a statement once, to run many times.
    public func prepare(_ sql: String) throws -> Statement {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw SQLiteError(code: rc, message: "\(errorMessage) in: \(sql)") }
        return Statement(stmt, db: self)
    }

    public var changes: Int { Int(sqlite3_changes(handle)) }
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    public var inTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }
}

/// A prepared statement: bind by position (1-based), step, read columns (0-based).
public final class Statement {
    let stmt: OpaquePointer
    unowned let db: Database

    init(_ stmt: OpaquePointer, db: Database) {
        self.stmt = stmt
        self.db = db
    }

    deinit { sqlite3_finalize(stmt) }

    /// Clears bindings and resets, ready to run again.
    @discardableResult
    public func reset() -> Statement {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
        return self
    }

    public func bind(_ i: Int32, _ v: Int64) { sqlite3_bind_int64(stmt, i, v) }
    public func bind(_ i: Int32, _ v: Int) { sqlite3_bind_int64(stmt, i, Int64(v)) }
    public func bind(_ i: Int32, _ v: Double) { sqlite3_bind_double(stmt, i, v) }
    /// Binds text by its UTF-8 bytes and length (no NUL-terminated copy is made first).
    public func bind(_ i: Int32, _ v: String) {
        var v = v
        v.withUTF8 { p in
            if let base = p.baseAddress, p.count > 0 {
                base.withMemoryRebound(to: CChar.self, capacity: p.count) { _ = sqlite3_bind_text(stmt, i, $0, Int32(p.count), transient) }
            } else {
                _ = sqlite3_bind_text(stmt, i, "", 0, transient)
            }
        }
    }
    public func bind(_ i: Int32, _ v: [UInt8]) {
        v.withUnsafeBytes { p in _ = sqlite3_bind_blob(stmt, i, p.baseAddress, Int32(p.count), transient) }
    }
    /// Binds text without a copy: SQLite reads the bytes where they are, so they must stay put
    /// until the statement has run (bind again before it runs again: a reset keeps bindings).
    public func bindNoCopy(_ i: Int32, _ u: UnsafeBufferPointer<UInt8>) {
        if let base = u.baseAddress, u.count > 0 {
            base.withMemoryRebound(to: CChar.self, capacity: u.count) { _ = sqlite3_bind_text(stmt, i, $0, Int32(u.count), nil) }
        } else {
            _ = sqlite3_bind_text(stmt, i, "", 0, transient)
        }
    }

    /// Binds a blob without a copy (the bytes must stay put until the statement has run).
    public func bindBlobNoCopy(_ i: Int32, _ u: UnsafeBufferPointer<UInt8>) {
        _ = sqlite3_bind_blob(stmt, i, u.baseAddress ?? UnsafePointer(bitPattern: 1), Int32(u.count), nil)
    }

    public func bindNull(_ i: Int32) { sqlite3_bind_null(stmt, i) }
    public func bind(_ i: Int32, _ v: String?) { if let v { bind(i, v) } else { bindNull(i) } }
    public func bind(_ i: Int32, _ v: Int64?) { if let v { bind(i, v) } else { bindNull(i) } }

    /// Steps once: true when a row is ready, false when done.
    @discardableResult
    public func step() throws -> Bool {
        let rc = sqlite3_step(stmt)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw SQLiteError(code: rc, message: db.errorMessage)
    }

    /// Runs to completion, ignoring rows.
    public func run() throws {
        defer { sqlite3_reset(stmt) }
        while try step() {}
    }

    public func isNull(_ c: Int32) -> Bool { sqlite3_column_type(stmt, c) == SQLITE_NULL }
    public func int64(_ c: Int32) -> Int64 { sqlite3_column_int64(stmt, c) }
    public func int(_ c: Int32) -> Int { Int(sqlite3_column_int64(stmt, c)) }
    public func double(_ c: Int32) -> Double { sqlite3_column_double(stmt, c) }
    /// Text read by its byte length: a NUL inside is kept, never taken for the end.
    public func text(_ c: Int32) -> String {
        guard let p = sqlite3_column_text(stmt, c) else { return "" }
        let n = Int(sqlite3_column_bytes(stmt, c))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }
    public func optionalText(_ c: Int32) -> String? { isNull(c) ? nil : text(c) }
    /// Whether a text column holds exactly `s`, compared byte for byte without making a String.
    public func textEquals(_ c: Int32, as s: String) -> Bool {
        let n = Int(sqlite3_column_bytes(stmt, c))
        guard let p = sqlite3_column_text(stmt, c) else { return s.isEmpty }
        return ValueEncoding.utf8(of: s, equals: UnsafeBufferPointer(start: p, count: n))
    }
    public func optionalInt64(_ c: Int32) -> Int64? { isNull(c) ? nil : int64(c) }
    /// A blob column's bytes where SQLite holds them: valid until the statement steps or resets.
    /// (SQLite gives the pointer first: the length is of what it gave.)
    public func blobBytes(_ c: Int32) -> UnsafeRawBufferPointer {
        guard let p = sqlite3_column_blob(stmt, c) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: p, count: max(Int(sqlite3_column_bytes(stmt, c)), 0))
    }
    public func blob(_ c: Int32) -> [UInt8] {
        let n = Int(sqlite3_column_bytes(stmt, c))
        guard n > 0, let p = sqlite3_column_blob(stmt, c) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }
}
