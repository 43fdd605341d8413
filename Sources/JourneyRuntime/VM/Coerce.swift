import JourneyBytecode

/// Numeric values take the declared type of the attribute or field they land in: an int
/// literal set into a money attribute becomes money (the checker allows exactly these).
enum Coerce {
    static func value(_ v: Value, to type: FieldType) -> Value {
        switch (v, type.unwrapped) {
        case (.int(let i), .decimal): .decimal(i &* Value.scale)
        case (.int(let i), .money): .money(i &* Value.scale)
        case (.decimal(let d), .money): .money(d)
        default: v
        }
    }
}
