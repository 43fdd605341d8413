import CPostgres

/// A PostgreSQL failure: the server's message and SQLSTATE code (empty when the failure was the
/// connection's, not a statement's).
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public var sqlState: String
    public var message: String
    public var description: String { sqlState.isEmpty ? "PostgreSQL: \(message)" : "PostgreSQL error \(sqlState): \(message)" }

    /// serialization_failure, deadlock_detected, lock_not_available, idle-in-transaction timeout,
    /// admin shutdown: a transaction that may simply be tried again.
    public var isTransient: Bool { ["40001", "40P01", "55P03", "25P03", "57P01"].contains(sqlState) }
}

/// A value bound to a statement's `$n`: always a parameter, never spliced into SQL.
public enum PGParam: Sendable {
    case null
    case int(Int64)
    /// A `double precision` (sent as text: write `$n::double precision`).
    case double(Double)
    case text(String)
    case bytes([UInt8])
    /// A `bigint[]` (for `= ANY($n)`).
    case ints([Int64])
    /// A `text[]`.
    case texts([String])

    static func from(_ v: String?) -> PGParam { v.map(PGParam.text) ?? .null }
    static func from(_ v: Int64?) -> PGParam { v.map(PGParam.int) ?? .null }
    static func from(_ v: Double?) -> PGParam { v.map(PGParam.double) ?? .null }
}

/// One connection (libpq, blocking). Not shared across threads: a store drives it from one task.
public final class PGConnection {
    let pq: LibPQ
    let conn: OpaquePointer
    private var prepared: [String: String] = [:]

    /// Connects to `url` (`postgres://user@host:port/db?…`); the `PG*` environment variables
    /// fill in what the URL leaves out (an empty URL uses them alone).
    public init(url: String) throws {
        let pq = try LibPQ.shared.get()
        guard let c = pq.connectdb(url) else { throw PostgresError(sqlState: "", message: "out of memory") }
        guard pq.status(c) == CONNECTION_OK else {
            let message = pq.lastError(c)
            pq.finish(c)
            throw PostgresError(sqlState: "", message: message)
        }
        self.pq = pq
        conn = c
        // Notices (NOTICE, WARNING) from the server are not printed on standard error.
        _ = pq.setNoticeProcessor(c, { _, _ in }, nil)
    }

    deinit { pq.finish(conn) }

    /// The server's process id for this session (tests kill sessions by it).
    public var backendPID: Int32 { pq.backendPID(conn) }

    /// Whether the session is still open (the server may have ended it).
    public var isAlive: Bool { pq.status(conn) == CONNECTION_OK }

    /// Opens the session again with the same parameters; prepared statements are gone.
    public func reset() throws {
        pq.reset(conn)
        prepared = [:]
        guard pq.status(conn) == CONNECTION_OK else {
            throw PostgresError(sqlState: "", message: pq.lastError(conn))
        }
    }

    func check(_ r: OpaquePointer?, _ sql: @autoclosure () -> String) throws -> PGResult {
        guard let r else { throw PostgresError(sqlState: "", message: pq.lastError(conn)) }
        let status = pq.resultStatus(r)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_COPY_IN else {
            let state = pq.resultErrorField(r, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
            var message = pq.resultErrorMessage(r).map { String(cString: $0).trimmingTrailingNewlines } ?? ""
            if message.isEmpty { message = pq.lastError(conn) }
            pq.clear(r)
            throw PostgresError(sqlState: state, message: "\(message) (in: \(sql()))")
        }
        return PGResult(r, pq)
    }

    /// Runs SQL with no parameters (several statements allowed); results are not read.
    public func exec(_ sql: String) throws {
        _ = try check(pq.exec(conn, sql), sql)
    }

    /// Runs `sql` with its `$n` bound, preparing it on this connection the first time it is seen
    /// (statements are prepared once per connection and reused). Rows come back in binary.
    @discardableResult
    public func query(_ sql: String, _ params: [PGParam] = []) throws -> PGResult {
        let name: String
        if let n = prepared[sql] {
            name = n
        } else {
            name = "j\(prepared.count)"
            _ = try check(pq.prepare(conn, name, sql, Int32(params.count), nil), sql)
            prepared[sql] = name
        }
        return try withParams(params) { values, lengths, formats in
            try check(pq.execPrepared(conn, name, Int32(params.count), values, lengths, formats, 1), sql)
        }
    }

    /// Runs `sql` once without preparing it (schema changes, statements built per call).
    @discardableResult
    public func queryOnce(_ sql: String, _ params: [PGParam] = []) throws -> PGResult {
        try withParams(params) { values, lengths, formats in
            try check(pq.execParams(conn, sql, Int32(params.count), nil, values, lengths, formats, 1), sql)
        }
    }

    /// Forgets prepared statements (after the schema of a table they read changed).
    public func forgetPrepared() throws {
        prepared = [:]
        try exec("DEALLOCATE ALL")
    }

    /// Streams rows into `COPY table(columns) FROM STDIN (FORMAT binary)`: `rows` writes each
    /// row's fields through the writer.
    public func copyIn(_ sql: String, _ fill: (inout PGCopyWriter) throws -> Void) throws {
        _ = try check(pq.exec(conn, sql), sql)
        let (pq, conn) = (self.pq, self.conn)
        var w = PGCopyWriter()
        // Rows go to the server a megabyte at a time: memory stays flat however many there are.
        w.sink = { bytes in
            let ok = bytes.withUnsafeBufferPointer { p in
                p.baseAddress.map { $0.withMemoryRebound(to: CChar.self, capacity: p.count) { pq.putCopyData(conn, $0, Int32(p.count)) } } ?? 1
            }
            guard ok == 1 else { throw PostgresError(sqlState: "", message: pq.lastError(conn)) }
        }
        w.header()
        do {
            try fill(&w)
            w.trailer()
            try w.flush()
        } catch {
            _ = pq.putCopyEnd(conn, "aborted")
            while let r = pq.getResult(conn) { pq.clear(r) }
            throw error
        }
        guard pq.putCopyEnd(conn, nil) == 1 else {
            throw PostgresError(sqlState: "", message: pq.lastError(conn))
        }
        var failure: Error?
        while let r = pq.getResult(conn) {
            do { _ = try check(r, sql) } catch { if failure == nil { failure = error } }
        }
        if let failure { throw failure }
    }

    private func withParams<T>(_ params: [PGParam], _ body: (UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?) throws -> T) throws -> T {
        if params.isEmpty { return try body(nil, nil, nil) }
        // Every value goes into one buffer: text forms NUL-terminated, byte strings in binary
        // with their length.
        var buffer: [UInt8] = []
        var offsets: [Int?] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        for p in params {
            switch p {
            case .null:
                offsets.append(nil); lengths.append(0); formats.append(0)
                continue
            case .bytes(let b):
                offsets.append(buffer.count); lengths.append(Int32(b.count)); formats.append(1)
                buffer += b
                continue
            case .text(let s):
                // Text goes by its length, in binary (which for text is its UTF-8): nothing in
                // it can cut it short.
                let u = Array(s.utf8)
                offsets.append(buffer.count); lengths.append(Int32(u.count)); formats.append(1)
                buffer += u
                continue
            case .int(let i): offsets.append(buffer.count); buffer += Array(String(i).utf8)
            case .double(let d): offsets.append(buffer.count); buffer += Array((d.isNaN ? "NaN" : d.isInfinite ? (d < 0 ? "-Infinity" : "Infinity") : String(d)).utf8)
            case .ints(let xs): offsets.append(buffer.count); buffer += Array(("{" + xs.map(String.init).joined(separator: ",") + "}").utf8)
            case .texts(let xs): offsets.append(buffer.count); buffer += Array(("{" + xs.map(Self.arrayItem).joined(separator: ",") + "}").utf8)
            }
            buffer.append(0)
            lengths.append(0); formats.append(0)
        }
        if buffer.isEmpty { buffer.append(0) }
        return try buffer.withUnsafeBufferPointer { b in
            let base = UnsafeRawPointer(b.baseAddress!).assumingMemoryBound(to: CChar.self)
            let values: [UnsafePointer<CChar>?] = offsets.map { $0.map { base + $0 } }
            return try values.withUnsafeBufferPointer { v in
                try lengths.withUnsafeBufferPointer { l in
                    try formats.withUnsafeBufferPointer { f in try body(v.baseAddress, l.baseAddress, f.baseAddress) }
                }
            }
        }
    }

    /// A text array item, quoted as PostgreSQL's array syntax wants.
    static func arrayItem(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

/// A statement's rows, read by (row, column), in binary: integers big-endian, text as UTF-8.
public final class PGResult {
    let r: OpaquePointer
    let pq: LibPQ
    init(_ r: OpaquePointer, _ pq: LibPQ) {
        self.r = r
        self.pq = pq
    }
    deinit { pq.clear(r) }

    public var count: Int { Int(pq.ntuples(r)) }
    /// How many rows an INSERT, UPDATE or DELETE touched.
    public var affected: Int { pq.cmdTuples(r).flatMap { Int(String(cString: $0)) } ?? 0 }

    public func isNull(_ row: Int, _ col: Int) -> Bool { pq.getisnull(r, Int32(row), Int32(col)) == 1 }

    /// An integer column (smallint, integer, bigint or boolean).
    public func int64(_ row: Int, _ col: Int) -> Int64 {
        let n = Int(pq.getlength(r, Int32(row), Int32(col)))
        guard let p = pq.getvalue(r, Int32(row), Int32(col)) else { return 0 }
        return p.withMemoryRebound(to: UInt8.self, capacity: n) { u in
            var v: UInt64 = 0
            for i in 0..<n { v = v << 8 | UInt64(u[i]) }
            switch n {
            case 1: return Int64(Int8(truncatingIfNeeded: v))
            case 2: return Int64(Int16(truncatingIfNeeded: v))
            case 4: return Int64(Int32(truncatingIfNeeded: v))
            default: return Int64(bitPattern: v)
            }
        }
    }
    public func int(_ row: Int, _ col: Int) -> Int { Int(int64(row, col)) }
    /// A boolean column (one byte in binary).
    public func bool(_ row: Int, _ col: Int) -> Bool {
        guard !isNull(row, col), pq.getlength(r, Int32(row), Int32(col)) >= 1, let p = pq.getvalue(r, Int32(row), Int32(col)) else { return false }
        return p[0] != 0
    }
    public func optionalInt64(_ row: Int, _ col: Int) -> Int64? { isNull(row, col) ? nil : int64(row, col) }

    /// A double precision column.
    public func double(_ row: Int, _ col: Int) -> Double { Double(bitPattern: UInt64(bitPattern: int64(row, col))) }

    public func text(_ row: Int, _ col: Int) -> String {
        let n = Int(pq.getlength(r, Int32(row), Int32(col)))
        guard n > 0, let p = pq.getvalue(r, Int32(row), Int32(col)) else { return "" }
        return p.withMemoryRebound(to: UInt8.self, capacity: n) { String(decoding: UnsafeBufferPointer(start: $0, count: n), as: UTF8.self) }
    }
    public func optionalText(_ row: Int, _ col: Int) -> String? { isNull(row, col) ? nil : text(row, col) }

    public func bytes(_ row: Int, _ col: Int) -> [UInt8] {
        let n = Int(pq.getlength(r, Int32(row), Int32(col)))
        guard n > 0, let p = pq.getvalue(r, Int32(row), Int32(col)) else { return [] }
        return p.withMemoryRebound(to: UInt8.self, capacity: n) { Array(UnsafeBufferPointer(start: $0, count: n)) }
    }
}

/// Builds the body of a binary COPY: a header, then per row the field count and each field as
/// a length and its bytes.
public struct PGCopyWriter {
    var bytes: [UInt8] = []
    var sink: (([UInt8]) throws -> Void)?

    mutating func flush() throws {
        guard !bytes.isEmpty else { return }
        try sink?(bytes)
        bytes.removeAll(keepingCapacity: true)
    }

    mutating func header() {
        bytes += Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00]
        be32(0); be32(0)
    }
    mutating func trailer() { be16(0xFFFF) }

    mutating func be16(_ v: UInt16) { bytes.append(UInt8(v >> 8)); bytes.append(UInt8(v & 0xFF)) }
    mutating func be32(_ v: UInt32) { for s in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8((v >> UInt32(s)) & 0xFF)) } }
    mutating func be64(_ v: UInt64) { for s in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((v >> UInt64(s)) & 0xFF)) } }

    /// Starts a row of `fields` fields (sending what is buffered once it passes a megabyte).
    public mutating func row(_ fields: Int) throws {
        if bytes.count >= 1 << 20 { try flush() }
        be16(UInt16(fields))
    }
    public mutating func int32(_ v: Int32) { be32(4); be32(UInt32(bitPattern: v)) }
    public mutating func double(_ v: Double) { be32(8); be64(v.bitPattern) }
    public mutating func bool(_ v: Bool) { be32(1); bytes.append(v ? 1 : 0) }
    public mutating func int64(_ v: Int64) { be32(8); be64(UInt64(bitPattern: v)) }
    public mutating func int16(_ v: Int16) { be32(2); be16(UInt16(bitPattern: v)) }
    public mutating func text(_ s: String) { let u = Array(s.utf8); be32(UInt32(u.count)); bytes += u }
    public mutating func blob(_ b: [UInt8]) { be32(UInt32(b.count)); bytes += b }
    public mutating func null() { be32(UInt32.max) }
}

extension String {
    var trimmingTrailingNewlines: String {
        var s = Substring(self)
        while s.last == "\n" || s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
