import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// `body(0) … body(count - 1)` spread over the machine's cores, the results in index order.
/// Each iteration writes only its own slot of the result, so the writes never race; `body`
/// must not share mutable state between iterations.
public func concurrentMap<T>(_ count: Int, _ body: @Sendable (Int) -> T) -> [T] {
    guard count > 1 else { return (0..<count).map(body) }
    let out = UnsafeMutableBufferPointer<T?>.allocate(capacity: count)
    out.initialize(repeating: nil)
    defer { out.deinitialize(); out.deallocate() }
    nonisolated(unsafe) let slots = out
    DispatchQueue.concurrentPerform(iterations: count) { i in
        LargePages.adviseThisThread()
        slots[i] = body(i)
    }
    return out.compactMap { $0 }
}

/// Large pages for the heap of a short run that allocates a great deal at once (reading and
/// checking a project: trees, tokens and tables several times the size of the source).
///
/// Every fresh 4 KiB page of heap costs a page fault, and on this kind of machine (a virtual
/// one) the faults were a sixth of `journey check`'s time: 9,300 of them for 104k lines. With
/// `enable()`, glibc's heaps grow 64 MiB at a time (`M_TOP_PAD`), big blocks come from them
/// rather than from a mapping each (`M_MMAP_THRESHOLD`), and the heaps are marked for
/// transparent huge pages (`madvise(MADV_HUGEPAGE)`, for kernels that give them only where
/// asked, as Debian's does), so one fault maps 2 MiB: about 1,500 faults in all. The price is a
/// higher peak RSS (2 MiB at a time), and the settings last as long as the process: for short
/// runs only. It is much of what glibc's `glibc.malloc.hugetlb=1` and `glibc.malloc.top_pad`
/// tunables do, which can only be set in the environment before the process starts. All of it
/// is advice (`MADV_HUGEPAGE` sets a flag on a mapping, nothing more): where the kernel or the C
/// library does otherwise, the run is as before, only slower.
public enum LargePages {
    /// Set once, on the main thread, once every setting took, before any worker asks.
    nonisolated(unsafe) static var enabled = false
    /// The thread that enabled it (its heap, the program break's, is advised then).
    nonisolated(unsafe) static var mainThread: pthread_t?
    /// The worker heaps already advised (one `madvise` each, not one per task).
    nonisolated(unsafe) static var advised: Set<UInt> = []
    nonisolated(unsafe) static var lock = pthread_mutex_t()

    static let heapReach = 64 << 20
    static let hugePage: UInt = 2 << 20

    public static func enable() {
        #if canImport(Glibc)
        guard !enabled, mainThread == nil else { return }
        mainThread = pthread_self()
        pthread_mutex_init(&lock, nil)
        // glibc's default pad is 128 KiB.
        guard let mallopt = HeapThresholds.mallopt else { return }
        guard mallopt(HeapThresholds.topPad, Int32(heapReach)) == 1 else { return }
        guard mallopt(HeapThresholds.mmapThreshold, 32 << 20) == 1 else {
            _ = mallopt(HeapThresholds.topPad, 128 << 10)
            return
        }
        // The main thread's heap is the program break's: grow it now (a block larger than what
        // is left makes it reach 64 MiB further) and mark what is not yet touched.
        if let block = malloc(1 << 20) {
            let start = UInt(bitPattern: block)
            let end = UInt(bitPattern: sbrk(0))
            if start < end { advise(from: start, to: end) }
            free(block)
        }
        enabled = true
        #endif
    }

    /// Marks the heap of the calling worker's arena (glibc gives each worker thread its own, a
    /// 64 MiB region aligned to its size) for huge pages, once.
    static func adviseThisThread() {
        #if canImport(Glibc)
        guard enabled, let main = mainThread, pthread_equal(pthread_self(), main) == 0, let probe = malloc(64) else { return }
        let base = UInt(bitPattern: probe) & ~(UInt(heapReach) - 1)
        free(probe)
        pthread_mutex_lock(&lock)
        let fresh = advised.insert(base).inserted
        pthread_mutex_unlock(&lock)
        if fresh { advise(from: base, to: base + UInt(heapReach)) }
        #endif
    }

    #if canImport(Glibc)
    static func advise(from: UInt, to: UInt) {
        let lo = (from + hugePage - 1) & ~(hugePage - 1)
        let hi = to & ~(hugePage - 1)
        guard lo < hi, let p = UnsafeMutableRawPointer(bitPattern: lo) else { return }
        _ = madvise(p, Int(hi - lo), MADV_HUGEPAGE)
    }
    #endif
}

/// glibc's allocator starts by giving a freed block of 128 KiB or more back to the system (each
/// a mapping of its own) and by trimming the heap's free top past 128 KiB; it raises both as big
/// blocks come and go, up to 32 MiB and 64 MiB. A short command (a run, an ingest) is over before
/// it gets there, and every buffer it grows (a cache's table, the messages a transaction holds)
/// is faulted in page by page again. `settle()` sets both where glibc would settle, from the
/// start (the 100k-event benchmark: the run's page faults 18.2k -> 15.5k, the run and the
/// ingest 2% faster). For short commands: a long-lived process keeps up to 64 MiB of free heap
/// resident. Where the C library is another, nothing changes.
public enum HeapThresholds {
    /// `mallopt`'s options (malloc.h is not in the C library's Swift module).
    static let trimThreshold: Int32 = -1, topPad: Int32 = -2, mmapThreshold: Int32 = -3

    /// glibc's `mallopt`, when the C library has it.
    static let mallopt: (@convention(c) (Int32, Int32) -> Int32)? = {
        #if canImport(Glibc)
        guard let symbol = dlsym(nil, "mallopt") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        #else
        return nil
        #endif
    }()

    public static func settle() {
        guard let mallopt else { return }
        _ = mallopt(mmapThreshold, 32 << 20)
        _ = mallopt(trimThreshold, 64 << 20)
    }
}
