import Dispatch

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
        slots[i] = body(i)
    }
    return out.compactMap { $0 }
}
