/// How serious a diagnostic is.
public enum Severity: String, Sendable, Codable, Comparable {
    case error, warning, note

    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
    private var rank: Int {
        switch self {
        case .error: 2
        case .warning: 1
        case .note: 0
        }
    }
}

/// A stable diagnostic code with its catalogue entry. Each phase owns its own catalogue.
public struct DiagnosticCode: Sendable, Hashable {
    /// Stable id, e.g. `J0203`. Never reused for another meaning.
    public let id: String
    /// A short kebab-case name, e.g. `unknown-attribute`.
    public let name: String
    public let severity: Severity
    /// One line: what the rule reports.
    public let summary: String
    /// What to do about it.
    public let help: String

    public init(_ id: String, _ name: String, _ severity: Severity, _ summary: String, help: String) {
        self.id = id
        self.name = name
        self.severity = severity
        self.summary = summary
        self.help = help
    }

    public static func == (a: DiagnosticCode, b: DiagnosticCode) -> Bool { a.id == b.id }
    public func hash(into h: inout Hasher) { h.combine(id) }
}

/// A secondary span with a message, shown beside the primary one.
public struct Label: Sendable, Hashable {
    public var file: String
    public var span: Span
    public var message: String
    public init(file: String, span: Span, message: String) {
        self.file = file
        self.span = span
        self.message = message
    }
}

/// The one diagnostic type every layer reports through and every front end renders.
public struct Diagnostic: Sendable, Hashable {
    public var code: DiagnosticCode
    public var severity: Severity
    /// Path of the file, as the user named it.
    public var file: String
    public var span: Span
    public var message: String
    /// Text under the primary caret; empty for none.
    public var label: String
    public var hint: String?
    public var notes: [Label]

    public init(
        _ code: DiagnosticCode, file: String, span: Span, message: String,
        label: String = "", hint: String? = nil, notes: [Label] = [], severity: Severity? = nil
    ) {
        self.code = code
        self.severity = severity ?? code.severity
        self.file = file
        self.span = span
        self.message = message
        self.label = label
        // A suggestion is said once: when the message already asks "did you mean", the help
        // says what to do in general instead of asking again.
        if let h = hint, h.hasPrefix("did you mean"), message.contains("did you mean") {
            self.hint = code.help
        } else {
            self.hint = hint
        }
        self.notes = notes
    }
}

/// Collects diagnostics for one run.
public struct DiagnosticBag: Sendable {
    public private(set) var items: [Diagnostic] = []
    public init() {}

    public mutating func add(_ d: Diagnostic) { items.append(d) }
    public mutating func add(contentsOf ds: [Diagnostic]) { items.append(contentsOf: ds) }

    public var hasErrors: Bool { items.contains { $0.severity == .error } }
    public var errorCount: Int { items.lazy.filter { $0.severity == .error }.count }
    public var warningCount: Int { items.lazy.filter { $0.severity == .warning }.count }

    /// In file order, then by position, then by code: stable output for golden tests.
    public var sorted: [Diagnostic] {
        items.enumerated().sorted { l, r in
            let a = l.element, b = r.element
            if a.file != b.file { return a.file < b.file }
            if a.span.start != b.span.start { return a.span.start < b.span.start }
            if a.code.id != b.code.id { return a.code.id < b.code.id }
            return l.offset < r.offset
        }.map(\.element)
    }
}

/// Suggests the closest candidate to a misspelt name (case ignored), or nil when none is close
/// enough to be a likely typo. Ties go to the longer shared prefix ("dat" means "data", not "at"),
/// then to the alphabetically first.
public func suggestion(for name: String, among candidates: some Sequence<String>) -> String? {
    // A name this long is not a typo of anything; and the work per candidate stays bounded.
    guard name.utf8.count <= maxSuggestedLength else { return nil }
    let a = Array(name.lowercased().utf8)
    var best: (name: String, distance: Int, prefix: Int)?
    for c in candidates where c != name {
        let n = c.utf8.count
        guard n <= maxSuggestedLength else { continue }
        let limit = max(1, min(3, (max(a.count, n) + 1) / 3))
        // Lengths further apart than the limit cannot be within it: no table needed.
        guard abs(a.count - n) <= limit else { continue }
        let b = Array(c.lowercased().utf8)
        let d = editDistance(a, b, limit: limit)
        guard d <= limit else { continue }
        let prefix = zip(a, b).prefix { $0 == $1 }.count
        if let k = best, k.distance < d || (k.distance == d && (k.prefix > prefix || (k.prefix == prefix && k.name <= c))) { continue }
        best = (c, d, prefix)
    }
    return best?.name
}

/// Names longer than this get no "did you mean".
public let maxSuggestedLength = 256

/// Damerau–Levenshtein (optimal string alignment) distance, so a swapped pair costs one edit.
/// Only cells within `limit` of the diagonal are computed; any answer above `limit` is
/// reported as `limit + 1`.
func editDistance(_ a: [UInt8], _ b: [UInt8], limit: Int = Int.max / 4) -> Int {
    if a.isEmpty { return min(b.count, limit + 1) }
    if b.isEmpty { return min(a.count, limit + 1) }
    let over = limit + 1
    var prev2 = [Int](repeating: over, count: b.count + 1)
    var prev = (0...b.count).map { min($0, over) }
    var cur = [Int](repeating: over, count: b.count + 1)
    for i in 1...a.count {
        let lo = max(1, i - limit), hi = min(b.count, i + limit)
        cur[0] = min(i, over)
        if lo > 1 { cur[lo - 1] = over }
        var rowBest = cur[0]
        if lo <= hi {
            for j in lo...hi {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { v = min(v, prev2[j - 2] + 1) }
                cur[j] = min(v, over)
                rowBest = min(rowBest, cur[j])
            }
        }
        if hi < b.count { cur[hi + 1] = over }
        if rowBest >= over { return over }
        (prev2, prev, cur) = (prev, cur, prev2)
    }
    return prev[b.count]
}
