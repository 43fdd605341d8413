import Foundation

// Inbox pages: an ingest's batch of events, in key order, as a few rows of `inbox_pages` (up
// to `pageLimit` events or `pageBytes` bytes each) instead of a row (a b-tree entry) each.
// Pages never overlap: only the events of a batch that come after the last page's last event
// go into pages, so the pages, in the order of their last keys, are one run of events in key
// order. The rest (a batch with few such events, events at or behind a page's end) go into
// `inbox` row by row, as before; the run merges the two in key order. What the run has taken
// is, as for rows, every key up to the history's mark: a page leaves once its last event is
// taken.

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
        // Events of one kind share its string (made, and checked, once per page): a page holds
        // a few kinds, found again by comparing bytes.
        var kinds: [(bytes: UnsafeRawBufferPointer, name: String)] = []
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
            // (Text that is not UTF-8 is damage, never repaired into another profile's id.)
            @inline(__always) func text(_ n: Int) -> String? {
                defer { at += n }
                let t = UnsafeRawBufferPointer(rebasing: bytes[at..<(at + n)])
                // (ASCII, the usual case, needs no check beyond that: the full one is slow.)
                return isASCII(t) ? String(decoding: t, as: UTF8.self) : String(validating: t, as: UTF8.self)
            }
            guard let profile = text(p) else { return .failure(PageDamage(offset: start, what: "an event's profile is not UTF-8")) }
            let kindHere = UnsafeRawBufferPointer(rebasing: bytes[at..<(at + k)])
            let event: String
            if let known = kinds.first(where: { sameBytes($0.bytes, kindHere) }) {
                event = known.name
                at += k
            } else {
                guard let name = text(k) else { return .failure(PageDamage(offset: start, what: "an event's kind is not UTF-8")) }
                event = name
                if kinds.count < 16 { kinds.append((kindHere, name)) }
            }
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

    @inline(__always) static func sameBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard let x = a.baseAddress, let y = b.baseAddress else { return a.isEmpty }
        return memcmp(x, y, a.count) == 0
    }

    /// Whether every byte is below 0x80, eight at a time.
    @inline(__always) static func isASCII(_ t: UnsafeRawBufferPointer) -> Bool {
        var i = 0, high: UInt64 = 0
        while i + 8 <= t.count {
            high |= t.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < t.count {
            high |= UInt64(t[i])
            i += 1
        }
        return high & 0x8080_8080_8080_8080 == 0
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
    /// behind the mark) that come after the last page as pages, when there are at least
    /// `pageMinimum` of them; returns the indices left for rows (all of them when none fit).
    func writePages(_ events: [IncomingRow], first: Int64, indices: [Int]) throws -> [Int] {
        guard indices.count >= pageMinimum, !indices.isEmpty else { return indices }
        // Key order: by time, then arrival (the indices are in arrival order already).
        var order = indices
        if !zip(order, order.dropFirst()).allSatisfy({ events[$0.0].at <= events[$0.1].at }) {
            order.sort { (events[$0].at, $0) < (events[$1].at, $1) }
        }
        // Those at or behind the last page's last event stay rows: pages never overlap.
        let last = try statement("SELECT last_at, last_seq FROM inbox_pages ORDER BY last_at DESC, last_seq DESC LIMIT 1")
        let lastKey = try last.step() ? (last.int64(0), last.int64(1)) : nil
        last.reset()
        var split = 0
        if let lastKey {
            var hi = order.count
            while split < hi {
                let mid = (split + hi) / 2
                if (events[order[mid]].at, first + Int64(order[mid])) <= lastKey { split = mid + 1 } else { hi = mid }
            }
        }
        guard order.count - split >= pageMinimum else { return indices }
        let put = try statement("INSERT INTO inbox_pages(first_at, first_seq, last_at, last_seq, n, body) VALUES (?, ?, ?, ?, ?, ?)")
        var start = split
        while start < order.count {
            // A page closes at `pageLimit` events or `pageBytes` bytes (one event at least).
            var end = start, size = 1
            while end < order.count, end - start < pageLimit {
                let e = events[order[end]]
                let more = InboxPage.bytes(profile: e.profile, event: e.event, data: e.data.count)
                if end > start, size + more > pageBytes { break }
                size += more
                end += 1
            }
            let chunk = order[start..<end]
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
            start = end
        }
        return Array(order[..<split])
    }

    /// Up to `limit` paged events after `mark` and due by `until`, in key order.
    func pagedInbox(after mark: (at: Int64, seq: Int64), until: Int64?, limit: Int) throws -> [InboxItem] {
        var out: [InboxItem] = []
        guard limit > 0 else { return out }
        try forEachPagedEvent(after: mark, until: until) { e in
            out.append(e)
            return out.count < limit
        }
        return out
    }

    /// Calls `body` with each paged event after `mark` and due by `until`, in key order, while
    /// it returns true.
    func forEachPagedEvent(after mark: (at: Int64, seq: Int64), until: Int64?, _ body: (InboxItem) throws -> Bool) throws {
        var after = mark
        // The next page past `after` (pages never overlap: the first one whose last event is
        // past it); it is due when its first event is.
        let s = try statement("SELECT id, first_at, first_seq, last_at, last_seq, n FROM inbox_pages WHERE (last_at, last_seq) > (?, ?) ORDER BY last_at, last_seq LIMIT 1")
        while true {
            s.bind(1, after.at); s.bind(2, after.seq)
            guard try s.step() else { s.reset(); return }
            let page = PageRow(id: s.int64(0), first: (s.int64(1), s.int64(2)), last: (s.int64(3), s.int64(4)), count: s.int(5))
            s.reset()
            if let until, page.first.at > until { return }
            let items = try pageItems(page)
            var k = InboxPage.firstIndex(after: after, in: items)
            while k < items.count {
                if let until, items[k].at > until { return }
                guard try body(items[k]) else { return }
                k += 1
            }
            after = page.last
        }
    }

    struct PageRow {
        var id: Int64
        var first: (at: Int64, seq: Int64)
        var last: (at: Int64, seq: Int64)
        var count: Int
    }

    /// A page's events, decoded once while a transaction reads on through it, and checked
    /// against the page's row: bytes that decode but disagree with it are as damaged.
    private func pageItems(_ page: PageRow) throws -> [InboxItem] {
        if cachesUsable, let c = pageCache, c.id == page.id, c.firstSeq == page.first.seq { return c.items }
        func damaged(_ at: Int, _ what: String) -> SQLiteError {
            SQLiteError(code: 11 /* SQLITE_CORRUPT */,
                        message: "inbox page \(page.id) (events from arrival \(page.first.seq)) is damaged at byte \(at): \(what); restore the database from a backup")
        }
        let b = try statement("SELECT body FROM inbox_pages WHERE id = ?")
        b.bind(1, page.id)
        defer { b.reset() }
        guard try b.step() else { throw damaged(0, "its row has no body") }
        switch InboxPage.decode(b.blobBytes(0)) {
        case .success(let items):
            guard items.count == page.count, let f = items.first, let l = items.last,
                  (f.at, f.seq) == page.first, (l.at, l.seq) == page.last else {
                throw damaged(0, "its \(items.count) events do not match the \(page.count) from \(page.first) to \(page.last) its row names")
            }
            if cachesUsable { pageCache = (page.id, page.first.seq, items) }
            return items
        case .failure(let damage):
            throw damaged(damage.offset, damage.what)
        }
    }

    /// Drops the pages whose every event is taken.
    func dropTakenPages() throws {
        let s = try statement("DELETE FROM inbox_pages WHERE (last_at, last_seq) <= (?, ?)")
        s.bind(1, visibleThrough.at); s.bind(2, visibleThrough.seq)
        try s.run()
    }

    /// Calls `body` with every paged event not taken by the last commit, in key order, page by
    /// page (for `journey migrate`).
    public func forEachPagedEventNotTaken(_ body: (InboxItem) throws -> Void) throws {
        pageCache = nil
        try forEachPagedEvent(after: try committedMark(), until: nil) { e in
            try body(e)
            return true
        }
        pageCache = nil
    }

    /// Takes a profile's events out of every page (erasure): a page left empty goes.
    func erasePages(profile id: String) throws {
        // (Each page read is cached as it is read; some are rewritten below.)
        pageCache = nil
        defer { pageCache = nil }
        let s = try db.prepare("SELECT id, first_at, first_seq, last_at, last_seq, n FROM inbox_pages ORDER BY id")
        var pages: [PageRow] = []
        while try s.step() { pages.append(PageRow(id: s.int64(0), first: (s.int64(1), s.int64(2)), last: (s.int64(3), s.int64(4)), count: s.int(5))) }
        let drop = try db.prepare("DELETE FROM inbox_pages WHERE id = ?")
        let update = try db.prepare("UPDATE inbox_pages SET first_at = ?, first_seq = ?, last_at = ?, last_seq = ?, n = ?, body = ? WHERE id = ?")
        for page in pages {
            let all = try pageItems(page)
            guard all.contains(where: { $0.profile == id }) else { continue }
            let items = all.filter { $0.profile != id }
            guard let a = items.first, let z = items.last else {
                drop.bind(1, page.id)
                try drop.run()
                continue
            }
            update.bind(1, a.at); update.bind(2, a.seq); update.bind(3, z.at); update.bind(4, z.seq); update.bind(5, items.count)
            let size = items.reduce(1) { $0 + InboxPage.bytes(profile: $1.profile, event: $1.event, data: $1.data.count) }
            update.bind(6, InboxPage.encode(size: size) { w in
                for e in items { w.event(at: e.at, seq: e.seq, profile: e.profile, event: e.event, data: e.data) }
            })
            update.bind(7, page.id)
            try update.run()
        }
    }
}
