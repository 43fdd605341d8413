import Foundation
import JourneyBytecode

/// Local times in a profile's IANA time zone (UTC when it has none or an unknown one). A local
/// time that does not exist (spring forward) moves to the next valid instant; an ambiguous one
/// (fall back) takes the first.
struct Zones {
    private var cache: [String: TimeZone] = [:]
    static let utc = TimeZone(identifier: "UTC") ?? TimeZone(secondsFromGMT: 0) ?? TimeZone.current

    mutating func zone(_ id: String?) -> TimeZone {
        guard let id, !id.isEmpty else { return Zones.utc }
        if let z = cache[id] { return z }
        let z = TimeZone(identifier: id) ?? Zones.utc
        cache[id] = z
        return z
    }

    static func offset(_ tz: TimeZone, _ t: Int64) -> Int64 {
        Int64(tz.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(t))))
    }

    /// Seconds since local midnight at instant `t`, and the local day number.
    static func local(_ t: Int64, _ tz: TimeZone) -> (day: Int64, seconds: Int64) {
        let l = t + offset(tz, t)
        let day = l >= 0 ? l / 86400 : (l - 86399) / 86400
        return (day, l - day * 86400)
    }

    /// The instant of local wall time `localSeconds` (seconds since 1970-01-01 local).
    static func instant(localSeconds l: Int64, _ tz: TimeZone) -> Int64 {
        let before = offset(tz, l - 86400), after = offset(tz, l + 86400)
        let candidates = [l - before, l - after].filter { $0 + offset(tz, $0) == l }
        if let first = candidates.min() { return first }
        // In a gap: the first valid instant is the transition that opened it.
        let from = Date(timeIntervalSince1970: TimeInterval(min(l - before, l - after) - 1))
        if let t = tz.nextDaylightSavingTimeTransition(after: from) { return Int64(t.timeIntervalSince1970) }
        return l - after
    }

    /// The next instant strictly after `t` whose local time of day is `minutes`.
    static func next(minutes: Int, after t: Int64, _ tz: TimeZone) -> Int64 {
        let (day, _) = local(t, tz)
        for d in day...(day + 2) {
            let candidate = instant(localSeconds: d * 86400 + Int64(minutes) * 60, tz)
            if candidate > t { return candidate }
        }
        return t + 86400
    }

    /// Whether local time at `t` falls in [from, to) (wrapping midnight), and when it ends.
    static func quiet(_ t: Int64, from: Int, to: Int, _ tz: TimeZone) -> Int64? {
        let m = Int(local(t, tz).seconds / 60)
        let inside = from < to ? (m >= from && m < to) : (m >= from || m < to)
        return inside ? next(minutes: to, after: t, tz) : nil
    }
}
