import JourneyBytecode

/// Numeric values take the declared type of the attribute or field they land in: an int
/// literal set into a money attribute becomes money (the checker allows exactly these).
enum Coerce {
    static func value(_ v: Value, to type: FieldType) -> Value {
        switch (v, type.unwrapped) {
        case (.int(let i), .decimal): i.multipliedReportingOverflow(by: Value.scale).overflow ? .none : .decimal(i * Value.scale)
        case (.int(let i), .money): i.multipliedReportingOverflow(by: Value.scale).overflow ? .none : .money(i * Value.scale)
        case (.decimal(let d), .money): .money(d)
        default: v
        }
    }
}

/// Which type changes a field of stored data survives: the same type, a value becoming
/// optional, or a number widening (int to decimal or money, decimal to money), as `value(_:to:)`
/// reads them.
enum Compatibility {
    static func canRead(_ old: FieldType, as new: FieldType) -> Bool {
        if old == new || FieldType.optional(old) == new { return true }
        if old.isOptional != new.isOptional, !new.isOptional { return false }
        switch (old.unwrapped, new.unwrapped) {
        case (.int, .decimal), (.int, .money), (.decimal, .money): return true
        case (let a, let b): return a == b
        }
    }
}
