import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The comparison of a treatment's conversion rate with its control's.
public struct LiftEstimate: Sendable, Equatable {
    /// Difference of proportions, treatment − control (0.031 is 3.1 points).
    public var lift: Double
    /// The lift over the control's rate (nil when the control converted nobody).
    public var relativeLift: Double?
    /// Newcombe's hybrid score interval for the difference, 95%.
    public var ci95: (low: Double, high: Double)
    /// Two-sided p-value of the pooled two-proportion z-test.
    public var pValue: Double
    public var verdict: Verdict

    public static func == (a: LiftEstimate, b: LiftEstimate) -> Bool {
        a.lift == b.lift && a.relativeLift == b.relativeLift && a.ci95 == b.ci95 && a.pValue == b.pValue && a.verdict == b.verdict
    }
}

public enum Verdict: String, Sendable {
    /// Fewer than `Statistics.minimumConversions` conversions in an arm.
    case tooEarly = "too early to tell"
    case better
    case worse
    case noClearDifference = "no clear difference"
}

/// Proportions and their intervals, as the stats and the console report them.
public enum Statistics {
    /// z for a two-sided 95% interval.
    public static let z95 = 1.959963984540054
    /// Below this many conversions in either arm, no verdict is given.
    public static let minimumConversions: Int64 = 30

    /// Wilson's score interval for x successes in n trials (n > 0).
    public static func wilson(_ x: Int64, _ n: Int64, z: Double = z95) -> (low: Double, high: Double) {
        let n = Double(n), p = Double(x) / n, z2 = z * z
        let denominator = 1 + z2 / n
        let center = (p + z2 / (2 * n)) / denominator
        let half = z / denominator * (p * (1 - p) / n + z2 / (4 * n * n)).squareRoot()
        return (max(0, center - half), min(1, center + half))
    }

    /// Newcombe's hybrid score interval (his method 10) for p1 − p2, from each arm's Wilson interval.
    public static func newcombe(_ x1: Int64, _ n1: Int64, _ x2: Int64, _ n2: Int64, z: Double = z95) -> (low: Double, high: Double) {
        let p1 = Double(x1) / Double(n1), p2 = Double(x2) / Double(n2)
        let (l1, u1) = wilson(x1, n1, z: z), (l2, u2) = wilson(x2, n2, z: z)
        let d = p1 - p2
        let low = d - ((p1 - l1) * (p1 - l1) + (u2 - p2) * (u2 - p2)).squareRoot()
        let high = d + ((u1 - p1) * (u1 - p1) + (p2 - l2) * (p2 - l2)).squareRoot()
        return (low, high)
    }

    /// Two-sided p-value of the pooled z-test of p1 = p2 (the chi-square test without
    /// continuity correction). 1 when there is no variance at all (everyone or no one converted).
    public static func pValue(_ x1: Int64, _ n1: Int64, _ x2: Int64, _ n2: Int64) -> Double {
        let p1 = Double(x1) / Double(n1), p2 = Double(x2) / Double(n2)
        let pooled = Double(x1 + x2) / Double(n1 + n2)
        let se = (pooled * (1 - pooled) * (1 / Double(n1) + 1 / Double(n2))).squareRoot()
        guard se > 0 else { return 1 }
        let z = abs(p1 - p2) / se
        return erfc(z / 2.0.squareRoot())
    }

    /// Treatment (x1 of n1) against control (x2 of n2); nil when an arm is empty.
    public static func lift(treatment x1: Int64, of n1: Int64, control x2: Int64, of n2: Int64) -> LiftEstimate? {
        guard n1 > 0, n2 > 0, x1 >= 0, x2 >= 0, x1 <= n1, x2 <= n2 else { return nil }
        let p1 = Double(x1) / Double(n1), p2 = Double(x2) / Double(n2)
        let ci = newcombe(x1, n1, x2, n2)
        let verdict: Verdict
        if x1 < minimumConversions || x2 < minimumConversions {
            verdict = .tooEarly
        } else if ci.low > 0 {
            verdict = .better
        } else if ci.high < 0 {
            verdict = .worse
        } else {
            verdict = .noClearDifference
        }
        return LiftEstimate(lift: p1 - p2, relativeLift: p2 > 0 ? (p1 - p2) / p2 : nil, ci95: ci, pValue: pValue(x1, n1, x2, n2), verdict: verdict)
    }
}

/// Numbers as the stats show them, in the terminal and in the console.
public enum StatsFormat {
    /// "14.0%".
    public static func percent(_ r: Double?) -> String {
        guard let r, r.isFinite else { return "–" }
        return String(format: "%.1f%%", r * 100)
    }

    /// A difference of proportions in points, signed: "+3.1".
    public static func points(_ d: Double) -> String { String(format: "%+.1f", d * 100) }

    /// A p-value: "0.012", or "<0.001".
    public static func pValue(_ p: Double) -> String { p < 0.001 ? "<0.001" : String(format: "%.3f", p) }

    /// A time span, to the minute: "3d 4h", "2h 10m", "45s".
    public static func span(_ seconds: Int64) -> String {
        if seconds < 60 { return "\(seconds)s" }
        var parts: [String] = []
        var s = seconds
        for (unit, n) in [("d", Int64(86400)), ("h", 3600), ("m", 60)] where s >= n {
            parts.append("\(s / n)\(unit)")
            s %= n
        }
        return parts.prefix(2).joined(separator: " ")
    }
}
