import JourneyBytecode

/// A profile row that passed validation.
public struct ProfileRow: Sendable, Hashable {
    public var id: String
    /// In `schema.attributes` order; `.none` for a null or absent optional attribute.
    public var values: [Value]
    /// For a partial update (`import --merge`): which attributes the line gives; the others
    /// keep their stored values. Nil: the row is a whole profile.
    public var given: [Bool]?
    /// Where the row came from in its file (for a reject found later); not part of what the
    /// row is, so two rows of the same profile and values are equal wherever they stood.
    public var line = 0

    public init(id: String, values: [Value], given: [Bool]? = nil) {
        self.id = id
        self.values = values
        self.given = given
    }

    public static func == (a: ProfileRow, b: ProfileRow) -> Bool { a.id == b.id && a.values == b.values && a.given == b.given }
    public func hash(into h: inout Hasher) { h.combine(id); h.combine(values); h.combine(given) }
}

/// Reads profiles from JSON lines or CSV. Each row is whole or rejected: no partial rows.
public enum ProfileInput {
    /// JSON lines: `{"id": "u1", "first_name": "Ana", …}`; one result per non-blank line
    /// (1-based line numbers). `id` is a non-empty string (a number is taken as its text).
    public static func parseJSONLines(_ bytes: [UInt8], schema: RuntimeSchema, merge: Bool = false) -> [Result<ProfileRow, InputError>] {
        let index = AttributeIndex(schema)
        var out: [Result<ProfileRow, InputError>] = []
        bytes.withUnsafeBufferPointer { buffer in
            InputLines.forEach(buffer) { number, line in
                switch jsonRow(line, schema: schema, index: index, merge: merge) {
                case .success(var row):
                    row.line = number
                    out.append(.success(row))
                case .failure(let f): out.append(.failure(InputError(line: number, reason: f.reason, raw: InputLines.raw(line))))
                }
            }
        }
        return out
    }

    /// CSV with a header row naming `id` and attributes (RFC 4180 quoting). A header naming an
    /// unknown attribute, or lacking `id` or a required attribute, rejects every row with that
    /// reason. An empty cell is none for an optional attribute and "" for a required string.
    public static func parseCSV(_ bytes: [UInt8], schema: RuntimeSchema, merge: Bool = false) -> [Result<ProfileRow, InputError>] {
        bytes.withUnsafeBufferPointer { buffer in
            let records = CSVReader.records(buffer)
            guard let headerRecord = records.first else { return [] }
            let header = Header.read(headerRecord, schema: schema, merge: merge)
            return records.dropFirst().map { record in
                let raw = { InputLines.raw(UnsafeBufferPointer(rebasing: buffer[record.range])) }
                if let why = record.error { return .failure(InputError(line: record.line, reason: why, raw: raw())) }
                switch header {
                case .failure(let f): return .failure(InputError(line: record.line, reason: f.reason, raw: raw()))
                case .success(let h):
                    switch csvRow(record.cells, header: h, schema: schema, merge: merge) {
                    case .success(var row):
                        row.line = record.line
                        return .success(row)
                    case .failure(let f): return .failure(InputError(line: record.line, reason: f.reason, raw: raw()))
                    }
                }
            }
        }
    }

    /// CSV when the path ends in `.csv` (any case), JSON lines otherwise.
    public static func parse(_ bytes: [UInt8], path: String, schema: RuntimeSchema, merge: Bool = false) -> [Result<ProfileRow, InputError>] {
        path.lowercased().hasSuffix(".csv") ? parseCSV(bytes, schema: schema, merge: merge) : parseJSONLines(bytes, schema: schema, merge: merge)
    }

    typealias Reject = EventInput.Reject

    // MARK: - JSON lines

    /// Attribute name → index, built once per file.
    struct AttributeIndex {
        var byName: [String: Int] = [:]
        init(_ schema: RuntimeSchema) {
            for (k, a) in schema.attributes.enumerated() where byName[a.name] == nil { byName[a.name] = k }
        }
    }

    static func jsonRow(_ bytes: UnsafeBufferPointer<UInt8>, schema: RuntimeSchema, index: AttributeIndex, merge: Bool = false) -> Result<ProfileRow, Reject> {
        let doc: JSONValue
        switch JSON.parse(buffer: bytes) {
        case .success(let v): doc = v
        case .failure(let e): return .failure(Reject("not valid JSON at column \(e.offset + 1): \(e.message)"))
        }
        guard case .object(let members) = doc else {
            return .failure(Reject("a profile must be a JSON object like {\"id\": \"u1\", …}, found \(Found.describe(doc))"))
        }
        var id: String?
        var values = [Value](repeating: .none, count: schema.attributes.count)
        var seen = [Bool](repeating: false, count: schema.attributes.count)
        for (key, value) in members {
            if key == "id" {
                if id != nil { return .failure(Reject("\"id\" appears twice")) }
                switch value {
                case .string(let s) where !s.isEmpty: id = s
                case .number(let n): id = n
                default: return .failure(Reject("\"id\" must be a non-empty string, found \(Found.describe(value))"))
                }
                continue
            }
            guard let k = index.byName[key] else { return .failure(Reject(unknownAttribute(key, schema: schema))) }
            if seen[k] { return .failure(Reject("attribute \(JSON.quote(key)) appears twice")) }
            seen[k] = true
            switch ValueCoder.decode(value, as: schema.attributes[k].type) {
            case .success(let v): values[k] = v
            case .failure(let why): return .failure(Reject("attribute \(JSON.quote(key)): \(why.message)"))
            }
        }
        guard let profileID = id else { return .failure(Reject("missing \"id\" (the profile id)")) }
        if let why = ProfileID.problem(profileID) { return .failure(Reject("\"id\" \(why)")) }
        if merge { return .success(ProfileRow(id: profileID, values: values, given: seen)) }
        let missing = schema.attributes.indices.filter { !seen[$0] && !schema.attributes[$0].type.isOptional }
        if !missing.isEmpty {
            return .failure(Reject("missing required attribute\(missing.count > 1 ? "s" : "") " + describe(missing, schema)))
        }
        return .success(ProfileRow(id: profileID, values: values))
    }

    static func unknownAttribute(_ key: String, schema: RuntimeSchema) -> String {
        "unknown attribute \(JSON.quote(key)): the profile has no such attribute"
            + Suggestion.hint(key, among: schema.attributes.map(\.name) + ["id"])
    }

    static func describe(_ attributes: [Int], _ schema: RuntimeSchema) -> String {
        attributes.map { "\(JSON.quote(schema.attributes[$0].name)) (\(schema.attributes[$0].type))" }.joined(separator: ", ")
    }

    // MARK: - CSV

    /// Which column holds the id and which holds each attribute.
    struct Header {
        var idColumn: Int
        /// Per column, the attribute index (nil for the id column).
        var attribute: [Int?]

        static func read(_ record: CSVRecord, schema: RuntimeSchema, merge: Bool = false) -> Result<Header, Reject> {
            if let why = record.error { return .failure(Reject("the header row (line \(record.line)) cannot be read: \(why)")) }
            var idColumn: Int?
            var attribute: [Int?] = []
            var seen = Set<Int>()
            for (column, cell) in record.cells.enumerated() {
                let name = String(ValueCoder.trimmed(cell))
                if name.isEmpty { return .failure(Reject("header column \(column + 1) has no name")) }
                if name == "id" {
                    if idColumn != nil { return .failure(Reject("the header names \"id\" twice")) }
                    idColumn = column
                    attribute.append(nil)
                    continue
                }
                guard let k = schema.attributeIndex(name) else {
                    return .failure(Reject("the header names \(JSON.quote(name)), which is not a profile attribute" + Suggestion.hint(name, among: schema.attributes.map(\.name) + ["id"])))
                }
                if !seen.insert(k).inserted { return .failure(Reject("the header names \(JSON.quote(name)) twice")) }
                attribute.append(k)
            }
            guard let id = idColumn else { return .failure(Reject("the header has no \"id\" column")) }
            if merge { return .success(Header(idColumn: id, attribute: attribute)) }
            let missing = schema.attributes.indices.filter { !seen.contains($0) && !schema.attributes[$0].type.isOptional }
            if !missing.isEmpty {
                return .failure(Reject("the header has no column for the required attribute\(missing.count > 1 ? "s" : "") " + describe(missing, schema)))
            }
            return .success(Header(idColumn: id, attribute: attribute))
        }
    }

    static func csvRow(_ cells: [String], header: Header, schema: RuntimeSchema, merge: Bool = false) -> Result<ProfileRow, Reject> {
        guard cells.count == header.attribute.count else {
            return .failure(Reject("the row has \(cells.count) cell\(cells.count == 1 ? "" : "s") but the header has \(header.attribute.count) columns"))
        }
        let id = cells[header.idColumn]
        if ValueCoder.trimmed(id).isEmpty { return .failure(Reject("the \"id\" cell is empty")) }
        if let why = ProfileID.problem(id) { return .failure(Reject("the \"id\" cell \(why)")) }
        var values = [Value](repeating: .none, count: schema.attributes.count)
        var given = [Bool](repeating: false, count: schema.attributes.count)
        for (column, cell) in cells.enumerated() {
            guard let k = header.attribute[column] else { continue }
            given[k] = true
            switch ValueCoder.decode(csvCell: cell, as: schema.attributes[k].type) {
            case .success(let v): values[k] = v
            case .failure(let why): return .failure(Reject("column \(JSON.quote(schema.attributes[k].name)): \(why.message)"))
            }
        }
        // A partial update gives what its header names.
        return .success(ProfileRow(id: id, values: values, given: merge ? given : nil))
    }
}
