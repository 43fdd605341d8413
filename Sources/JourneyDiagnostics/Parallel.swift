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
/// transparent huge pages (`madvise(MADV_HUGEPAGE)`; the kernel's default is to give them only
/// where asked), so one fault maps 2 MiB: about 1,200 faults in all. The price is a higher peak
/// RSS (2 MiB at a time). It is what glibc's own `glibc.malloc.hugetlb=1` and
/// `glibc.malloc.top_pad` tunables do, which can only be set in the environment before the
/// process starts. All of it is advice: where the kernel or the C library does otherwise, the
/// run is as before, only slower.
public enum LargePages {
    /// Set once, on the main thread, before any worker asks.
    nonisolated(unsafe) static var enabled = false
    /// The main arena's heap (the program break's range when `enable` ran).
    nonisolated(unsafe) static var mainHeap: Range<UInt> = 0..<0

    static let heapReach = 64 << 20
    static let hugePage: UInt = 2 << 20

    public static func enable() {
        #if canImport(Glibc)
        guard !enabled else { return }
        enabled = true
        // `mallopt` (malloc.h is not in the C library's Swift module): M_TOP_PAD is -2,
        // M_MMAP_THRESHOLD -3.
        guard let symbol = dlsym(nil, "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        guard mallopt(-2, Int32(heapReach)) == 1, mallopt(-3, 32 << 20) == 1 else { return }
        // The main thread's heap is the program break's: grow it now (a block larger than what
        // is left makes it reach 64 MiB further) and mark what is not yet touched.
        guard let block = malloc(1 << 20) else { return }
        defer { free(block) }
        let start = UInt(bitPattern: block)
        let end = UInt(bitPattern: sbrk(0))
        guard start < end else { return } // the C library mapped it elsewhere: leave it be
        mainHeap = heapStart(below: start) ..< end
        advise(from: start, to: end)
        #endif
    }

    /// Marks the heap of the calling thread's arena (glibc gives each worker its own, a 64 MiB
    /// region aligned to its size) for huge pages.
    static func adviseThisThread() {
        #if canImport(Glibc)
        guard enabled, let probe = malloc(64) else { return }
        defer { free(probe) }
        let at = UInt(bitPattern: probe)
        if mainHeap.contains(at) { return }
        let base = at & ~(UInt(heapReach) - 1)
        advise(from: base, to: base + UInt(heapReach))
        #endif
    }

    #if canImport(Glibc)
    static func advise(from: UInt, to: UInt) {
        let lo = (from + hugePage - 1) & ~(hugePage - 1)
        let hi = to & ~(hugePage - 1)
        guard lo < hi, let p = UnsafeMutableRawPointer(bitPattern: lo) else { return }
        _ = madvise(p, Int(hi - lo), MADV_HUGEPAGE)
    }

    /// Where the program break's heap starts (`[heap]` in `/proc/self/maps`), or `address`
    /// when it cannot be read.
    static func heapStart(below address: UInt) -> UInt {
        guard let f = fopen("/proc/self/maps", "r") else { return address }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), f) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard text.hasSuffix("[heap]\n"), let dash = text.firstIndex(of: "-"),
                  let lo = UInt(text[..<dash], radix: 16) else { continue }
            return min(lo, address)
        }
        return address
    }
    #endif
}
