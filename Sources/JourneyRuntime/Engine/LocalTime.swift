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
        // Only tz database names: an abbreviation is not a zone (and Foundation would guess).
        // Only those are kept, so the cache is bounded by the tz database, whatever profiles hold.
        guard TimeZoneNames.isZone(id) else { return Zones.utc }
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
        // The usual day, one offset all along: the one pass `passes` would find, asking the
        // zone once more instead of four times.
        if before == after, offset(tz, l - before) == before { return l - before }
        if let first = passes(localSeconds: l, tz).first { return first }
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

    /// Every instant at which the local clock shows `l`, earliest first: one, two in a repeated
    /// (fall-back) hour, none in a skipped one.
    static func passes(localSeconds l: Int64, _ tz: TimeZone) -> [Int64] {
        [l - offset(tz, l - 86400), l - offset(tz, l + 86400)].filter { $0 + offset(tz, $0) == l }.sorted()
    }

    /// Whether local time at `t` falls in [from, to) (wrapping midnight), and when it ends: the
    /// first time after `t` that the local clock reaches `to`. On a fall-back night that may be
    /// the second pass of a repeated hour (a hold that began in it ends in it, not a day later).
    static func quiet(_ t: Int64, from: Int, to: Int, _ tz: TimeZone) -> Int64? {
        let m = Int(local(t, tz).seconds / 60)
        let inside = from < to ? (m >= from && m < to) : (m >= from || m < to)
        guard inside else { return nil }
        let (day, _) = local(t, tz)
        for d in day...(day + 2) {
            let l = d * 86400 + Int64(to) * 60
            let times = passes(localSeconds: l, tz)
            if let first = times.first(where: { $0 > t }) { return first }
            if times.isEmpty {
                let candidate = instant(localSeconds: l, tz)
                if candidate > t { return candidate }
            }
        }
        return next(minutes: to, after: t, tz)
    }
}

/// Which names are time zones: those of the IANA tz database and its links (`Europe/Paris`,
/// `US/Eastern`, `UTC`, `Etc/GMT+5`). Abbreviations (`BST`, `PST`, `IST`) and offsets written as
/// names (`GMT+5`, `UTC+05:30`) are not: they are ambiguous or mean something else than they
/// seem (Foundation reads `BST` as Asia/Dhaka), so a profile holding one is in UTC, as a
/// profile without a zone is, and `import` says so.
public enum TimeZoneNames {
    /// Every zone and link name, read once from the system's tz database.
    public static let all: Set<String> = {
        var names = Set(TimeZone.knownTimeZoneIdentifiers)
        names.formUnion(["UTC", "Etc/UTC", "GMT", "Etc/GMT"])
        if let data = FileManager.default.contents(atPath: "/usr/share/zoneinfo/tzdata.zi") {
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: " ")
                if parts.count >= 2, parts[0] == "Z" { names.insert(String(parts[1])) }
                if parts.count >= 3, parts[0] == "L" { names.insert(String(parts[2])) }
            }
        }
        return names
    }()

    /// Zone names in lower case, for "did you mean" on a case slip.
    static let byLowercase: [String: String] = Dictionary(all.map { ($0.lowercased(), $0) }, uniquingKeysWith: { a, _ in a })

    public static func isZone(_ name: String) -> Bool { all.contains(name) }

    /// A close zone name for one that is not a zone: the same name in another case, or one a
    /// typo away.
    public static func suggestion(for name: String) -> String? {
        if let exact = byLowercase[name.lowercased()] { return exact }
        return Suggestion.closest(to: name, among: all)
    }

    /// The tz database version the runtime computes local times with (e.g. 2025b).
    public static var databaseVersion: String { TimeZone.timeZoneDataVersion }
}
