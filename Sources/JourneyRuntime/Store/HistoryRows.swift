import JourneyBytecode

/// One profile's events of one kind from `from` on (all of them there are), in order, and
/// the first `records.count` of them decoded for `decodedFor` (a bundle's event definition).
final class HistoryRows {
    var from: Int64
    /// Each row's key, apart from its data: searching the keys touches no data.
    var keys: [(at: Int64, seq: Int64)] = []
    /// The bytes of the rows not decoded yet (`records.count` on): a decoded row's are not
    /// kept, so a history taken decoded, the run's usual one, has none to hold.
    var data: [[UInt8]] = []
    var records: [Record] = []
    var decodedFor: (def: EventDef, index: Int)?

    init(from: Int64, capacity: Int = 0) {
        self.from = from
        if capacity > 0 {
            keys.reserveCapacity(capacity)
            records.reserveCapacity(capacity)
        }
    }

    var count: Int { keys.count }

    func append(_ at: Int64, _ seq: Int64, _ bytes: [UInt8]) {
        keys.append((at, seq))
        data.append(bytes)
    }

    /// Appends a row already decoded for `def` (the run decodes each event it takes anyway):
    /// kept decoded when every row before it is decoded for the same definition, else as bytes.
    func append(_ at: Int64, _ seq: Int64, _ bytes: [UInt8], decoded record: Record, for def: EventDef, _ index: Int) {
        let same = decodedFor.map { $0.index == index && $0.def == def } ?? records.isEmpty
        guard same, records.count == keys.count else { return append(at, seq, bytes) }
        if decodedFor == nil { decodedFor = (def, index) }
        keys.append((at, seq))
        records.append(record)
        blobsDropped = true
    }

    /// The index of the first row at or after `since`.
    func start(_ since: Int64) -> Int {
        prefixCount { $0.at < since }
    }

    /// The index of the first row after `key`.
    func end(_ key: (at: Int64, seq: Int64)) -> Int {
        // Usually everything cached has been taken.
        if let last = keys.last, last <= key { return keys.count }
        return prefixCount { $0 <= key }
    }

    /// How many rows, from the first, have keys for which `before` holds (it holds for a
    /// prefix of the rows, which are in key order): a binary search.
    private func prefixCount(_ before: ((at: Int64, seq: Int64)) -> Bool) -> Int {
        keys.withUnsafeBufferPointer { k in
            var lo = 0, hi = k.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if before(k[mid]) { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
    }

    /// Decodes the rows before `end` not decoded yet (all of them for another definition).
    func decode(_ def: EventDef, _ index: Int, upTo end: Int) {
        if let d = decodedFor, d.index == index, d.def == def {
            if records.count >= end { return }
        } else {
            records = []
            decodedFor = (def, index)
        }
        let first = records.count
        guard first < end else { return }
        for i in first..<end {
            records.append(Record(event: index, at: keys[i].at, fields: ValueEncoding.fields(fromBlob: data[i - first], def)))
        }
        // Decoded, the bytes are not needed again (unless another bundle's definition asks:
        // then the rows are read again).
        data.removeFirst(end - first)
        blobsDropped = true
    }

    var blobsDropped = false

    /// Whether `decode` can serve this definition.
    func canDecode(_ def: EventDef, _ index: Int) -> Bool {
        if !blobsDropped { return true }
        guard let d = decodedFor else { return false }
        return d.index == index && d.def == def
    }
}
