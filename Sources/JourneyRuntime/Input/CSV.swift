/// One CSV record (RFC 4180), as read: its cells, or why it could not be read.
struct CSVRecord {
    /// The 1-based line the record starts on.
    var line: Int
    var cells: [String]
    /// Byte range of the record in the input, line break excluded.
    var range: Range<Int>
    var error: String?
}

/// Splits RFC 4180 CSV into records: `,` between cells, CRLF/LF/CR between records, `"…"` quoting
/// with `""` for a quote, and line breaks or commas inside quotes. Blank lines are skipped; a
/// leading byte-order mark is ignored. A record that cannot be read carries an error and the
/// reader resumes at the next line.
enum CSVReader {
    static func records(_ b: UnsafeBufferPointer<UInt8>) -> [CSVRecord] {
        var out: [CSVRecord] = []
        var i = 0
        if b.count >= 3, b[0] == 0xEF, b[1] == 0xBB, b[2] == 0xBF { i = 3 }
        var line = 1
        while i < b.count {
            let start = i, startLine = line
            var cells: [String] = []
            var error: String?
            var quoted = false
            cellLoop: while true {
                if i < b.count, b[i] == UInt8(ascii: "\"") {
                    quoted = true
                    let openLine = line, openAt = i
                    i += 1
                    var cell: [UInt8] = []
                    var closed = false
                    while i < b.count {
                        let c = b[i]
                        if c == UInt8(ascii: "\"") {
                            if i + 1 < b.count, b[i + 1] == UInt8(ascii: "\"") {
                                cell.append(c)
                                i += 2
                                continue
                            }
                            i += 1
                            closed = true
                            break
                        }
                        if c == 0x0A { line += 1 }
                        cell.append(c)
                        i += 1
                    }
                    guard closed else {
                        // One missing quote costs one line, not the rest of the file: the
                        // record ends where the line that opened the quote ends.
                        error = "a quoted cell opened on line \(openLine) is never closed (a \" is missing)"
                        i = openAt
                        while i < b.count, b[i] != 0x0A, b[i] != 0x0D { i += 1 }
                        line = openLine
                        break cellLoop
                    }
                    if i < b.count, b[i] != UInt8(ascii: ","), b[i] != 0x0A, b[i] != 0x0D {
                        error = "unexpected text after the closing quote of cell \(cells.count + 1) (write \"\" for a quote inside a quoted cell)"
                        while i < b.count, b[i] != 0x0A, b[i] != 0x0D { i += 1 }
                        break cellLoop
                    }
                    cells.append(text(cell))
                } else {
                    let cellStart = i
                    while i < b.count, b[i] != UInt8(ascii: ","), b[i] != 0x0A, b[i] != 0x0D { i += 1 }
                    cells.append(text(UnsafeBufferPointer(rebasing: b[cellStart..<i])))
                }
                if i < b.count, b[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                break
            }
            let end = i
            // The record's line break.
            if i < b.count, b[i] == 0x0D { i += 1 }
            if i < b.count, b[i] == 0x0A { i += 1 }
            line += 1
            let range = start..<end
            if error == nil, !UTF8Check.isValid(UnsafeBufferPointer(rebasing: b[range])) {
                error = "the row is not valid UTF-8 text"
            }
            if error == nil, !quoted, cells.count == 1, InputLines.isBlank(UnsafeBufferPointer(rebasing: b[range])) { continue }
            out.append(CSVRecord(line: startLine, cells: error == nil ? cells : [], range: range, error: error))
        }
        return out
    }

    static func text(_ bytes: some Collection<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }
}
