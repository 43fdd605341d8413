import JourneySemantics

/// What a `format` instruction does to a value, as its string constant:
/// `KIND|LOCALE|ARGUMENT` (the argument last, so a pattern may hold any character).
public struct FormatSpec: Sendable, Hashable {
    public enum Kind: Character, Sendable {
        /// A time in the profile's zone: ARGUMENT is a date pattern, or empty for the locale's default.
        case time = "t"
        /// A date: ARGUMENT is a date pattern without time of day.
        case date = "d"
        /// Money in the profile's `currency`, else ARGUMENT's (else as a plain number).
        case money = "m"
        /// Money in the currency ARGUMENT, whatever the profile's.
        case moneyIn = "M"
        /// A number (int, decimal or money) with a number pattern.
        case number = "n"
        /// A fraction as a percentage.
        case percent = "p"
    }

    public var kind: Kind
    /// The locale when the profile has none (the policy's), possibly empty.
    public var locale: String
    public var argument: String
    /// A date pattern argument, as read when the spec was parsed (empty: not read yet, or none).
    public var pieces: [DatePiece] = []

    public init(_ kind: Kind, locale: String?, argument: String = "") {
        self.kind = kind
        self.locale = locale ?? ""
        self.argument = argument
    }

    public var text: String { "\(kind.rawValue)|\(locale)|\(argument)" }

    /// Parses and validates the constant; nil when it is not a spec the VM can run.
    public init?(_ text: String) {
        let parts = text.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 1, let k = parts[0].first.flatMap(Kind.init(rawValue:)) else { return nil }
        let locale = String(parts[1]), arg = String(parts[2])
        guard locale.isEmpty || FormatPattern.isLocale(locale) else { return nil }
        var pieces: [DatePiece] = []
        switch k {
        case .time, .date:
            if !arg.isEmpty {
                guard case .success(let read) = FormatPattern.date(arg), k == .time || !read.contains(where: \.needsTimeOfDay) else { return nil }
                pieces = read
            }
        case .money: guard arg.isEmpty || FormatPattern.isCurrency(arg) else { return nil }
        case .moneyIn: guard FormatPattern.isCurrency(arg) else { return nil }
        case .number: guard FormatPattern.number(arg) != nil else { return nil }
        case .percent: guard arg.isEmpty else { return nil }
        }
        self.init(k, locale: locale, argument: arg)
        self.pieces = pieces
    }

    /// The date pattern to write a time or date with: the one given (read once, when the spec
    /// was), else `fallback`, the locale's default.
    func datePieces(_ fallback: String) -> [DatePiece] {
        if !pieces.isEmpty { return pieces }
        return (try? FormatPattern.date(argument.isEmpty ? fallback : argument).get()) ?? []
    }
}

/// The words and separators of one language (a small built-in table: the output must be the same
/// on every machine and every release, so it does not come from the system's ICU data).
public struct LocaleData: Sendable {
    public var months: [String]
    public var shortMonths: [String]
    /// Monday first.
    public var weekdays: [String]
    public var shortWeekdays: [String]
    public var am = "AM", pm = "PM"
    public var decimal: String
    public var group: String
    /// Currency symbol before the number (else after), and a space between them.
    public var symbolFirst: Bool
    public var symbolSpace: Bool
    public var percentSpace: Bool
    /// How a time reads when inserted without a pattern.
    public var timePattern: String

    /// The data for a locale tag (`es-ES`, `en_US`, `pt-BR`); nil for a language not in the table.
    public static func known(_ tag: String) -> LocaleData? {
        let lang = tag.split(whereSeparator: { $0 == "-" || $0 == "_" }).first.map { $0.lowercased() } ?? ""
        return ["en", "es", "fr", "de", "it", "pt", "nl"].contains(lang) ? resolve(tag) : nil
    }

    /// The data for a locale tag; English for unknown languages.
    public static func resolve(_ tag: String) -> LocaleData {
        let parts = tag.split(whereSeparator: { $0 == "-" || $0 == "_" })
        let lang = parts.first.map { $0.lowercased() } ?? "en"
        let region = parts.count > 1 ? parts[1].uppercased() : ""
        var d: LocaleData
        switch lang {
        case "es": d = spanish
        case "fr": d = french
        case "de": d = german
        case "it": d = italian
        case "pt":
            d = portuguese
            if region == "BR" { d.symbolFirst = true }
        case "nl": d = dutch
        default:
            d = english
            if region == "US" || region == "" || region == "CA" || region == "PH" { d.timePattern = "MMM d, yyyy, h:mm a" }
        }
        return d
    }

    static let english = LocaleData(
        months: ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"],
        shortMonths: ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
        weekdays: ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
        shortWeekdays: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
        decimal: ".", group: ",", symbolFirst: true, symbolSpace: false, percentSpace: false, timePattern: "d MMM yyyy, HH:mm")
    static let spanish = LocaleData(
        months: ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"],
        shortMonths: ["ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic"],
        weekdays: ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
        shortWeekdays: ["lun", "mar", "mié", "jue", "vie", "sáb", "dom"],
        am: "a. m.", pm: "p. m.",
        decimal: ",", group: ".", symbolFirst: false, symbolSpace: true, percentSpace: true, timePattern: "d MMM yyyy, H:mm")
    static let french = LocaleData(
        months: ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"],
        shortMonths: ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."],
        weekdays: ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
        shortWeekdays: ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."],
        decimal: ",", group: " ", symbolFirst: false, symbolSpace: true, percentSpace: true, timePattern: "d MMM yyyy HH:mm")
    static let german = LocaleData(
        months: ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"],
        shortMonths: ["Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.", "Dez."],
        weekdays: ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
        shortWeekdays: ["Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa.", "So."],
        decimal: ",", group: ".", symbolFirst: false, symbolSpace: true, percentSpace: true, timePattern: "d. MMM yyyy, HH:mm")
    static let italian = LocaleData(
        months: ["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre", "ottobre", "novembre", "dicembre"],
        shortMonths: ["gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic"],
        weekdays: ["lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"],
        shortWeekdays: ["lun", "mar", "mer", "gio", "ven", "sab", "dom"],
        decimal: ",", group: ".", symbolFirst: false, symbolSpace: true, percentSpace: false, timePattern: "d MMM yyyy, HH:mm")
    static let portuguese = LocaleData(
        months: ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro", "novembro", "dezembro"],
        shortMonths: ["jan.", "fev.", "mar.", "abr.", "mai.", "jun.", "jul.", "ago.", "set.", "out.", "nov.", "dez."],
        weekdays: ["segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo"],
        shortWeekdays: ["seg.", "ter.", "qua.", "qui.", "sex.", "sáb.", "dom."],
        decimal: ",", group: ".", symbolFirst: false, symbolSpace: true, percentSpace: false, timePattern: "d 'de' MMM 'de' yyyy, HH:mm")
    static let dutch = LocaleData(
        months: ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober", "november", "december"],
        shortMonths: ["jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"],
        weekdays: ["maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"],
        shortWeekdays: ["ma", "di", "wo", "do", "vr", "za", "zo"],
        decimal: ",", group: ".", symbolFirst: true, symbolSpace: true, percentSpace: false, timePattern: "d MMM yyyy HH:mm")
}

/// How values read in a message, per a `FormatSpec`, a locale and (for times) the local clock.
public enum MessageFormat {
    /// Symbols of common currencies; any other code is written as itself.
    static let symbols: [String: String] = [
        "EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CNY": "¥", "INR": "₹", "KRW": "₩", "BRL": "R$",
        "CAD": "CA$", "AUD": "A$", "NZD": "NZ$", "MXN": "MX$", "CHF": "CHF", "SEK": "kr", "NOK": "kr",
        "DKK": "kr", "PLN": "zł", "CZK": "Kč", "TRY": "₺", "ILS": "₪", "ZAR": "R",
    ]
    /// Currencies shown without cents (ISO 4217 minor units); the rest take two, these three.
    static let minorUnits: [String: Int] = ["JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "VND": 0, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3]

    /// Renders `value`. `local` gives an instant's local day (since 1970-01-01) and second of
    /// that day in the profile's zone; `profileLocale` and `profileCurrency` are the profile's own.
    public static func render(_ value: Value, _ spec: FormatSpec, profileLocale: String?, profileCurrency: String?,
                              local: (Int64) -> (day: Int64, seconds: Int64)) -> String {
        // The profile's locale when the table has its language, else the policy's, else English.
        let data = profileLocale.flatMap { FormatPattern.isLocale($0) ? LocaleData.known($0) : nil }
            ?? LocaleData.resolve(spec.locale.isEmpty ? "en" : spec.locale)
        switch (spec.kind, value) {
        case (.time, .time(let t)):
            let (day, seconds) = local(t)
            return date(day: day, seconds: seconds, spec.datePieces(data.timePattern), data)
        case (.date, .date(let d)), (.time, .date(let d)):
            return date(day: Int64(d), seconds: 0, spec.datePieces("d MMM yyyy"), data)
        case (.money, .money(let m)):
            let code = profileCurrency.flatMap { FormatPattern.isCurrency($0) ? $0 : nil } ?? (spec.argument.isEmpty ? nil : spec.argument)
            guard let code else { return value.text }
            return money(m, code, data)
        case (.moneyIn, .money(let m)):
            return money(m, spec.argument, data)
        case (.number, _):
            guard let millionths = millionths(value), let p = FormatPattern.number(spec.argument) else { return value.text }
            return number(millionths, decimals: p.decimals, grouping: p.grouping, data)
        case (.percent, _):
            guard let f = millionths(value) else { return value.text }
            // Hundredths of a percent at most, trailing zeros dropped: 0.125 → 12.5%.
            let (p, overflow) = f.multipliedReportingOverflow(by: 100)
            guard !overflow else { return value.text }
            var text = number(round(p, toDecimals: 2), decimals: 2, grouping: true, data)
            if text.contains(data.decimal) {
                while text.hasSuffix("0") { text.removeLast() }
                if text.hasSuffix(data.decimal) { text.removeLast(data.decimal.count) }
            }
            return text + (data.percentSpace ? " %" : "%")
        default:
            return value.text
        }
    }

    static func millionths(_ v: Value) -> Int64? {
        switch v {
        case .int(let i):
            let (m, o) = i.multipliedReportingOverflow(by: Value.scale)
            return o ? nil : m
        case .decimal(let d), .money(let d): return d
        default: return nil
        }
    }

    /// Millionths rounded half to even at `decimals` places (still in millionths).
    static func round(_ v: Int64, toDecimals decimals: Int) -> Int64 {
        guard decimals < 6 else { return v }
        var unit: Int64 = 1
        for _ in 0..<(6 - decimals) { unit *= 10 }
        var q = v / unit
        let r = v % unit
        if abs(r) * 2 > unit || (abs(r) * 2 == unit && q % 2 != 0) { q += r < 0 ? -1 : 1 }
        let (rounded, overflow) = q.multipliedReportingOverflow(by: unit)
        return overflow ? v - r : rounded
    }

    /// A number with exactly `decimals` places, grouped in thousands when asked.
    static func number(_ v: Int64, decimals: Int, grouping: Bool, _ data: LocaleData) -> String {
        let r = round(v, toDecimals: decimals)
        let mag = r.magnitude
        let whole = String(mag / UInt64(Value.scale))
        var out = r < 0 ? "-" : ""
        if grouping, whole.count > 3 {
            let digits = Array(whole)
            for (i, c) in digits.enumerated() {
                if i > 0, (digits.count - i) % 3 == 0 { out += data.group }
                out.append(c)
            }
        } else {
            out += whole
        }
        if decimals > 0 {
            let frac = String(mag % UInt64(Value.scale))
            let six = String(repeating: "0", count: 6 - frac.count) + frac
            out += data.decimal + six.prefix(decimals)
        }
        return out
    }

    static func money(_ m: Int64, _ code: String, _ data: LocaleData) -> String {
        let digits = minorUnits[code] ?? 2
        let symbol = symbols[code] ?? code
        let rounded = round(m, toDecimals: digits)
        let amount = number(rounded == Int64.min ? Int64.max : abs(rounded), decimals: digits, grouping: true, data)
        let sign = rounded < 0 ? "-" : ""
        // A code written as letters always takes a space ("CHF 12.00").
        let space = data.symbolSpace || symbol == code ? " " : ""
        return data.symbolFirst ? sign + symbol + space + amount : sign + amount + space + symbol
    }

    /// A day and second of that day, per a date pattern's pieces.
    public static func date(day: Int64, seconds: Int64, _ pieces: [DatePiece], _ data: LocaleData) -> String {
        guard !pieces.isEmpty else { return CivilDate(days: day).text }
        let c = CivilDate(days: day)
        let weekday = Int(((day + 3) % 7 + 7) % 7) // 1970-01-01 was a Thursday; Monday is 0
        let hour = Int(seconds / 3600), minute = Int(seconds % 3600 / 60), second = Int(seconds % 60)
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        var out = ""
        for p in pieces {
            switch p {
            case .literal(let s): out += s
            case .year(let two): out += two ? String(String(c.year).suffix(2)) : String(c.year)
            case .month(let n):
                let m = Int(c.month)
                switch n {
                case 1: out += String(m)
                case 2: out += two(m)
                case 3: out += data.shortMonths[m - 1]
                default: out += data.months[m - 1]
                }
            case .day(let padded): out += padded ? two(Int(c.day)) : String(c.day)
            case .weekday(let full): out += full ? data.weekdays[weekday] : data.shortWeekdays[weekday]
            case .hour(let twelve, let padded):
                let h = twelve ? (hour % 12 == 0 ? 12 : hour % 12) : hour
                out += padded ? two(h) : String(h)
            case .minute(let padded): out += padded ? two(minute) : String(minute)
            case .second(let padded): out += padded ? two(second) : String(second)
            case .ampm: out += hour < 12 ? data.am : data.pm
            }
        }
        return out
    }
}
