import Foundation

// Inbox pages: an ingest's batch of events, in key order, as one row of `inbox_pages` instead
// of a row (a b-tree entry) each. Pages never overlap: a batch becomes a page only when all of
// it comes after the last page's last event, so the pages, in the order of their last keys,
// are one run of events in key order. Batches that do not fit (few events, or events behind a
// page) go into `inbox` row by row, as before; the run merges the two in key order. What the
// run has taken is, as for rows, every key up to the history's mark: a page leaves once its
// last event is taken.

/// One page's bytes: a version byte (1), then for each event in key order its `at` and `seq`
/// (8 bytes each), the byte lengths of its profile, kind and data (4 bytes each), and those
/// bytes; integers little-endian.
enum InboxPage {
    static let version: UInt8 = 1
    /// The bytes each event takes besides its profile, kind and data.
    static let fixed = 28

    /// A page of `size` bytes (1 + the `bytes` of each event), its events written by `write`
    /// in key order.
    static func encode(size: Int, _ write: (inout Writer) -> Void) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            guard let base = buffer.baseAddress, size > 0 else { initialized = 0; return }
            base[0] = version
            var w = Writer(base: UnsafeMutableRawPointer(base), size: size, at: 1)
            write(&w)
            precondition(w.at == size, "an inbox page's events took other than the bytes counted for them")
            initialized = size
        }
    }

    /// The bytes an event takes in a page.
    static func bytes(profile: String, event: String, data: Int) -> Int {
        fixed + profile.utf8.count + event.utf8.count + data
    }

    struct Writer {
        let base: UnsafeMutableRawPointer
        let size: Int
        var at: Int

        mutating func event(at time: Int64, seq: Int64, profile: String, event: String, data: [UInt8]) {
            precondition(size - at >= InboxPage.bytes(profile: profile, event: event, data: data.count), "an inbox page's size was counted short")
            put(time); put(seq)
            put(UInt32(profile.utf8.count)); put(UInt32(event.utf8.count)); put(UInt32(data.count))
            copy(profile); copy(event)
            data.withUnsafeBytes { copy($0) }
        }

        private mutating func put<T: FixedWidthInteger>(_ v: T) {
            base.storeBytes(of: v.littleEndian, toByteOffset: at, as: T.self)
            at += MemoryLayout<T>.size
        }

        private mutating func copy(_ s: String) {
            var s = s
            s.withUTF8 { copy(UnsafeRawBufferPointer($0)) }
        }

        private mutating func copy(_ b: UnsafeRawBufferPointer) {
            guard let from = b.baseAddress, b.count > 0 else { return }
            (base + at).copyMemory(from: from, byteCount: b.count)
            at += b.count
        }
    }

    /// The page's events, or a reason when the bytes are not a page (or not in key order).
    static func decode(_ bytes: UnsafeRawBufferPointer) -> Result<[InboxItem], PageDamage> {
        guard let first = bytes.first else { return .failure(PageDamage(offset: 0, what: "it is empty")) }
        guard first == version else { return .failure(PageDamage(offset: 0, what: "its format \(first) is not one this version reads")) }
        var out: [InboxItem] = []
        var at = 1
        // Consecutive events of one kind share its string (made, and checked, once).
        var kind = "", kindBytes = UnsafeRawBufferPointer(start: nil, count: 0)
        func int<T: FixedWidthInteger>(_: T.Type) -> T {
            let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: T.self))
            at += MemoryLayout<T>.size
            return v
        }
        while at < bytes.count {
            let start = at
            guard bytes.count - at >= fixed else { return .failure(PageDamage(offset: start, what: "an event's header is cut short")) }
            let eventAt = int(Int64.self), seq = int(Int64.self)
            let p = Int(int(UInt32.self)), k = Int(int(UInt32.self)), d = Int(int(UInt32.self))
            guard bytes.count - at >= p + k + d else { return .failure(PageDamage(offset: start, what: "an event's bytes run past the page's end")) }
            func text(_ n: Int) -> String {
                defer { at += n }
                return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[at..<(at + n)]), as: UTF8.self)
            }
            let profile = text(p)
            let kindHere = UnsafeRawBufferPointer(rebasing: bytes[at..<(at + k)])
            if kindHere.count != kindBytes.count || !kindHere.elementsEqual(kindBytes) {
                kind = text(k)
                kindBytes = kindHere
            } else {
                at += k
            }
            let event = kind
            let data = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[at..<(at + d)]))
            at += d
            if let last = out.last, (last.at, last.seq) >= (eventAt, seq) {
                return .failure(PageDamage(offset: start, what: "its events are out of order"))
            }
            out.append(InboxItem(seq: seq, profile: profile, event: event, at: eventAt, data: data))
        }
        guard !out.isEmpty else { return .failure(PageDamage(offset: 1, what: "it holds no event")) }
        return .success(out)
    }

    struct PageDamage: Error {
        var offset: Int
        var what: String
    }

    /// The index of the first item whose key comes after `key`.
    static func firstIndex(after key: (at: Int64, seq: Int64), in items: [InboxItem]) -> Int {
        var lo = 0, hi = items.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if (items[mid].at, items[mid].seq) <= key { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

extension SQLiteStore {
    /// Writes the events at `indices` of a batch (numbered from `first` on, none of them
    /// behind the mark) as pages, when there are at least `pageMinimum` of them and all come
    /// after the last page; false (nothing written) otherwise.
    func writePages(_ events: [IncomingRow], first: Int64, indices: [Int]) throws -> Bool {
        guard indices.count >= pageMinimum, !indices.isEmpty else { return false }
        // Key order: by time, then arrival (the indices are in arrival order already).
        var order = indices
        if !zip(order, order.dropFirst()).allSatisfy({ events[$0.0].at <= events[$0.1].at }) {
            order.sort { (events[$0].at, $0) < (events[$1].at, $1) }
        }
        let low = (at: events[order[0]].at, seq: first + Int64(order[0]))
        let last = try statement("SELECT last_at, last_seq FROM inbox_pages ORDER BY last_at DESC, last_seq DESC LIMIT 1")
        let behind = try last.step() && (last.int64(0), last.int64(1)) >= low
        last.reset()
        guard !behind else { return false }
        let put = try statement("INSERT INTO inbox_pages(first_at, first_seq, last_at, last_seq, n, body) VALUES (?, ?, ?, ?, ?, ?)")
        var start = 0
        while start < order.count {
            let chunk = order[start..<min(order.count, start + pageLimit)]
            var size = 1
            for k in chunk { size += InboxPage.bytes(profile: events[k].profile, event: events[k].event, data: events[k].data.count) }
            let body = InboxPage.encode(size: size) { w in
                for k in chunk {
                    let e = events[k]
                    w.event(at: e.at, seq: first + Int64(k), profile: e.profile, event: e.event, data: e.data)
                }
            }
            let a = chunk[chunk.startIndex], z = chunk[chunk.endIndex - 1]
            put.bind(1, events[a].at); put.bind(2, first + Int64(a))
            put.bind(3, events[z].at); put.bind(4, first + Int64(z))
            put.bind(5, chunk.count)
            put.bind(6, body)
            try put.run()
            start += chunk.count
        }
        return true
    }

    /// Up to `limit` paged events after `mark` and due by `until`, in key order.
    func pagedInbox(after mark: (at: Int64, seq: Int64), until: Int64?, limit: Int) throws -> [InboxItem] {
        var out: [InboxItem] = []
        var after = mark
        let s = try statement("SELECT id, first_seq, body FROM inbox_pages WHERE (last_at, last_seq) > (?, ?) AND first_at <= ? ORDER BY last_at, last_seq LIMIT 1")
        while out.count < limit {
            s.bind(1, after.at); s.bind(2, after.seq); s.bind(3, until ?? Int64.max)
            guard try s.step() else { s.reset(); break }
            let items = try pageItems(s)
            s.reset()
            var k = InboxPage.firstIndex(after: after, in: items)
            while k < items.count, out.count < limit {
                if let until, items[k].at > until { return out }
                out.append(items[k])
                k += 1
            }
            guard let last = items.last else { break }
            after = (last.at, last.seq)
        }
        return out
    }

    /// The events of the page a statement's row (id, first_seq, body) holds, decoded once per
    /// transaction.
    private func pageItems(_ s: Statement) throws -> [InboxItem] {
        let id = s.int64(0), firstSeq = s.int64(1)
        if cachesUsable, let c = pageCache, c.id == id, c.firstSeq == firstSeq { return c.items }
        switch InboxPage.decode(s.blobBytes(2)) {
        case .success(let items):
            if cachesUsable { pageCache = (id, firstSeq, items) }
            return items
        case .failure(let damage):
            throw SQLiteError(code: 11 /* SQLITE_CORRUPT */,
                              message: "inbox page \(id) (events from arrival \(firstSeq)) is damaged at byte \(damage.offset): \(damage.what); restore the database from a backup")
        }
    }

    /// Drops the pages whose every event is taken.
    func dropTakenPages() throws {
        let s = try statement("DELETE FROM inbox_pages WHERE (last_at, last_seq) <= (?, ?)")
        s.bind(1, visibleThrough.at); s.bind(2, visibleThrough.seq)
        try s.run()
    }

    /// Every paged event not taken by the last commit, in key order (for `journey migrate`).
    public func pagedInboxNotTaken() throws -> [InboxItem] {
        try pagedInbox(after: try committedMark(), until: nil, limit: Int.max)
    }

    /// Takes a profile's events out of every page (erasure): a page left empty goes.
    func erasePages(profile id: String) throws {
        pageCache = nil
        let s = try db.prepare("SELECT id, first_seq, body FROM inbox_pages ORDER BY id")
        var changed: [(id: Int64, items: [InboxItem])] = []
        while try s.step() {
            let items = try pageItems(s)
            if items.contains(where: { $0.profile == id }) { changed.append((s.int64(0), items.filter { $0.profile != id })) }
        }
        pageCache = nil
        let drop = try db.prepare("DELETE FROM inbox_pages WHERE id = ?")
        let update = try db.prepare("UPDATE inbox_pages SET first_at = ?, first_seq = ?, last_at = ?, last_seq = ?, n = ?, body = ? WHERE id = ?")
        for (page, items) in changed {
            guard let a = items.first, let z = items.last else {
                drop.bind(1, page)
                try drop.run()
                continue
            }
            update.bind(1, a.at); update.bind(2, a.seq); update.bind(3, z.at); update.bind(4, z.seq); update.bind(5, items.count)
            let size = items.reduce(1) { $0 + InboxPage.bytes(profile: $1.profile, event: $1.event, data: $1.data.count) }
            update.bind(6, InboxPage.encode(size: size) { w in
                for e in items { w.event(at: e.at, seq: e.seq, profile: e.profile, event: e.event, data: e.data) }
            })
            update.bind(7, page)
            try update.run()
        }
    }
}
