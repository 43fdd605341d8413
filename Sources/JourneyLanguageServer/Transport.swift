import Foundation

/// JSON-RPC over a byte stream with LSP's `Content-Length` framing.
struct MessageReader {
    private var buffer: [UInt8] = []
    private let input: FileHandle

    init(input: FileHandle) { self.input = input }

    /// The next message body, or nil at the end of input. A malformed header is skipped.
    mutating func next() -> [UInt8]? {
        while true {
            if let body = extract() { return body }
            let data = input.availableData
            if data.isEmpty { return nil }
            buffer.append(contentsOf: data)
        }
    }

    /// Takes one framed message from the buffer if it is complete.
    private mutating func extract() -> [UInt8]? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = find(separator) else { return nil }
        let header = String(decoding: buffer[0..<end], as: UTF8.self)
        var length: Int?
        for line in header.split(separator: "\r\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length" {
                length = Int(parts[1].trimmingCharacters(in: .whitespaces))
            }
        }
        guard let n = length, n >= 0 else {
            buffer.removeFirst(end + 4) // no usable length: drop the header and go on
            return extract()
        }
        guard buffer.count >= end + 4 + n else { return nil }
        let body = Array(buffer[(end + 4)..<(end + 4 + n)])
        buffer.removeFirst(end + 4 + n)
        return body
    }

    private func find(_ pattern: [UInt8]) -> Int? {
        guard buffer.count >= pattern.count else { return nil }
        for i in 0...(buffer.count - pattern.count) where buffer[i] == pattern[0] {
            if Array(buffer[i..<(i + pattern.count)]) == pattern { return i }
        }
        return nil
    }
}

/// Writes framed messages.
struct MessageWriter {
    let output: FileHandle

    func send(_ object: [String: Any]) {
        guard let body = try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes]) else { return }
        var data = Data("Content-Length: \(body.count)\r\n\r\n".utf8)
        data.append(body)
        output.write(data)
    }
}
