// Many rows in one INSERT: `INSERT INTO t(…) VALUES (?, …), (?, …), …`. One statement step per
// chunk of rows instead of per row (its start, its end and its bindings' copies are a third of
// an insert's cost); texts and blobs are copied once into a scratch buffer and bound from there.

extension SQLiteStore {
    /// Rows per statement: 64 rows of up to 15 columns (the outbox's 14 the widest: 896
    /// parameters) stays below SQLite's limit on parameters (32,766 since 3.32; 999 before).
    static let bulkRows = 64

    /// Inserts `count` rows into `table(columns)`; `bind` binds row `i`'s values at parameters
    /// `base + 1 …` (with the scratch's copies for texts and blobs); `bytes(i)` is how many bytes
    /// of text and blob row `i` has. `conflict` goes between `INSERT` and `INTO`: `OR FAIL` by
    /// default, which spares SQLite a statement journal (a copy of every page the statement
    /// touches, kept to undo the statement alone): a chunk that fails fails its transaction,
    /// and every caller rolls that back whole.
    func bulkInsert(_ table: String, _ columns: [String], count: Int, or conflict: String = "OR FAIL", bytes: (Int) -> Int,
                    bind: (Statement, Int32, Int, inout BulkScratch) -> Void) throws {
        var start = 0
        while start < count {
            let n = min(Self.bulkRows, count - start)
            let s = try bulkStatement(table, columns, rows: n, or: conflict)
            var needed = 0
            for i in start..<(start + n) { needed += bytes(i) }
            var scratch = bulkScratch(needed)
            let width = Int32(columns.count)
            for k in 0..<n { bind(s, Int32(k) * width, start + k, &scratch) }
            // (`run` resets it. Its bindings are left pointing into the scratch buffer, which
            // the next chunk may replace: every `bind` binds all of a row's values, and clearing
            // them walked each of a chunk's ≈ 900 values for nothing. Debug builds clear them
            // anyway, so that a value left unbound is NULL there, never a freed buffer's bytes.)
            try s.run()
            #if DEBUG
            s.reset()
            #endif
            start += n
        }
    }

    func bulkStatement(_ table: String, _ columns: [String], rows: Int, or conflict: String) throws -> Statement {
        let key = BulkKey(table: table, columns: columns, rows: rows, conflict: conflict)
        if let s = bulkStatements[key] { return s }
        let one = "(" + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"
        let sql = "INSERT \(conflict.isEmpty ? "" : conflict + " ")INTO \(table)(\(columns.joined(separator: ", "))) VALUES "
            + Array(repeating: one, count: rows).joined(separator: ", ")
        let s = try db.prepare(sql)
        bulkStatements[key] = s
        return s
    }

    /// The scratch buffer, grown to hold at least `bytes`, as a scratch of exactly `bytes`. (A
    /// statement may still point into the old buffer: it binds every value again before it
    /// runs again.)
    func bulkScratch(_ bytes: Int) -> BulkScratch {
        if bulkBuffer.count < bytes {
            bulkBuffer.deallocate()
            bulkBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes, 2 * bulkBuffer.count, 4096), alignment: 8)
        }
        return BulkScratch(buffer: UnsafeMutableRawBufferPointer(rebasing: bulkBuffer[0..<bytes]))
    }

    struct BulkKey: Hashable {
        var table: String
        var columns: [String]
        var rows: Int
        var conflict: String
    }
}

/// Where a chunk's texts and blobs are copied, to be bound without another copy: the buffer
/// stays put until the statement has run.
struct BulkScratch {
    let buffer: UnsafeMutableRawBufferPointer
    var used = 0

    mutating func put(_ bytes: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        // (A chunk's `bytes` that counted short would write past what it asked for.)
        precondition(used + bytes.count <= buffer.count, "the bulk scratch buffer was sized short")
        let to = buffer.baseAddress.map { $0 + used }
        if let to, let from = bytes.baseAddress, bytes.count > 0 { to.copyMemory(from: from, byteCount: bytes.count) }
        defer { used += bytes.count }
        return UnsafeBufferPointer(start: to?.assumingMemoryBound(to: UInt8.self), count: bytes.count)
    }

    mutating func text(_ s: Statement, _ i: Int32, _ text: String) {
        var text = text
        let copy = text.withUTF8 { put($0) }
        s.bindNoCopy(i, copy)
    }

    mutating func text(_ s: Statement, _ i: Int32, _ text: String?) {
        if let text { self.text(s, i, text) } else { s.bindNull(i) }
    }

    mutating func blob(_ s: Statement, _ i: Int32, _ bytes: [UInt8]) {
        let copy = bytes.withUnsafeBufferPointer { put($0) }
        s.bindBlobNoCopy(i, copy)
    }
}
