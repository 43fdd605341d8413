import CPostgres
#if canImport(Glibc)
import Glibc
#endif

/// libpq's functions, found in the library when the first PostgreSQL connection is made. The
/// tool is not linked against libpq: linked, libpq and the twenty libraries it pulls in (TLS,
/// Kerberos, LDAP, SASL) were loaded, relocated and initialised at every start of every command,
/// about 4 ms each time (a tenth of `journey check` over a small project), for the many commands
/// that never reach PostgreSQL. The header still gives the types and constants; the library's
/// symbols are only ever reached through this table, so the binary has no reference to them.
struct LibPQ: @unchecked Sendable {
    typealias Conn = OpaquePointer?
    typealias Result = OpaquePointer?
    typealias Text = UnsafePointer<CChar>?
    typealias NoticeProcessor = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Void

    let connectdb: @convention(c) (Text) -> Conn
    let status: @convention(c) (Conn) -> ConnStatusType
    let errorMessage: @convention(c) (Conn) -> UnsafeMutablePointer<CChar>?
    let finish: @convention(c) (Conn) -> Void
    let backendPID: @convention(c) (Conn) -> Int32
    let reset: @convention(c) (Conn) -> Void
    let setNoticeProcessor: @convention(c) (Conn, NoticeProcessor?, UnsafeMutableRawPointer?) -> NoticeProcessor?
    let exec: @convention(c) (Conn, Text) -> Result
    let prepare: @convention(c) (Conn, Text, Text, Int32, UnsafePointer<Oid>?) -> Result
    let execPrepared: @convention(c) (Conn, Text, Int32, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?, Int32) -> Result
    let execParams: @convention(c) (Conn, Text, Int32, UnsafePointer<Oid>?, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?, Int32) -> Result
    let putCopyData: @convention(c) (Conn, Text, Int32) -> Int32
    let putCopyEnd: @convention(c) (Conn, Text) -> Int32
    let getResult: @convention(c) (Conn) -> Result
    let resultStatus: @convention(c) (Result) -> ExecStatusType
    let resultErrorField: @convention(c) (Result, Int32) -> UnsafeMutablePointer<CChar>?
    let resultErrorMessage: @convention(c) (Result) -> UnsafeMutablePointer<CChar>?
    let clear: @convention(c) (Result) -> Void
    let ntuples: @convention(c) (Result) -> Int32
    let cmdTuples: @convention(c) (Result) -> UnsafeMutablePointer<CChar>?
    let getisnull: @convention(c) (Result, Int32, Int32) -> Int32
    let getlength: @convention(c) (Result, Int32, Int32) -> Int32
    let getvalue: @convention(c) (Result, Int32, Int32) -> UnsafeMutablePointer<CChar>?

    /// The library's file names, newest first (Debian's `libpq5` installs `libpq.so.5`).
    static let names = ["libpq.so.5", "libpq.so"]

    /// The table, or why libpq could not be opened: opened once, on first use.
    static let shared: Swift.Result<LibPQ, PostgresError> = load()

    static func load() -> Swift.Result<LibPQ, PostgresError> {
        var reasons: [String] = []
        for name in names {
            guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) else {
                reasons.append(dlerror().map { String(cString: $0) } ?? name)
                continue
            }
            do {
                return .success(try LibPQ(handle))
            } catch {
                // Not the library it should be: the next name, if any.
                reasons.append("\(name): \((error as? PostgresError)?.message ?? "\(error)")")
                dlclose(handle)
            }
        }
        return .failure(PostgresError(sqlState: "", message: "PostgreSQL's client library could not be loaded (\(reasons.joined(separator: "; "))); install it (Debian: apt-get install libpq5) or use a SQLite database"))
    }

    private init(_ handle: UnsafeMutableRawPointer) throws {
        func symbol<F>(_ name: String, _: F.Type = F.self) throws -> F {
            guard let p = dlsym(handle, name) else {
                throw PostgresError(sqlState: "", message: "it has no \(name)")
            }
            return unsafeBitCast(p, to: F.self)
        }
        connectdb = try symbol("PQconnectdb")
        status = try symbol("PQstatus")
        errorMessage = try symbol("PQerrorMessage")
        finish = try symbol("PQfinish")
        backendPID = try symbol("PQbackendPID")
        reset = try symbol("PQreset")
        setNoticeProcessor = try symbol("PQsetNoticeProcessor")
        exec = try symbol("PQexec")
        prepare = try symbol("PQprepare")
        execPrepared = try symbol("PQexecPrepared")
        execParams = try symbol("PQexecParams")
        putCopyData = try symbol("PQputCopyData")
        putCopyEnd = try symbol("PQputCopyEnd")
        getResult = try symbol("PQgetResult")
        resultStatus = try symbol("PQresultStatus")
        resultErrorField = try symbol("PQresultErrorField")
        resultErrorMessage = try symbol("PQresultErrorMessage")
        clear = try symbol("PQclear")
        ntuples = try symbol("PQntuples")
        cmdTuples = try symbol("PQcmdTuples")
        getisnull = try symbol("PQgetisnull")
        getlength = try symbol("PQgetlength")
        getvalue = try symbol("PQgetvalue")
    }

    /// The connection's last error, without the newline libpq ends it with.
    func lastError(_ conn: Conn) -> String {
        errorMessage(conn).map { String(cString: $0).trimmingTrailingNewlines } ?? ""
    }
}
