import JourneyBytecode
import JourneyRuntime

// Profiles: a typed column per attribute, and the time zone groups for audience runs.

extension PostgresStore {
    public func migrateProfiles(_ schema: RuntimeSchema) throws {
        let existing = try profileColumns()
        var changed = false
        for a in schema.attributes {
            let declared = a.type.unwrapped.description
            let column = PostgresSchema.identifier(a.name)
            if let had = existing[a.name] {
                guard PostgresSchema.columnType(had) == PostgresSchema.columnType(declared) else {
                    throw PostgresError(sqlState: "", message: "profile attribute '\(a.name)' changed type from \(had) to \(declared); stored profiles cannot be converted")
                }
            } else {
                try connection.exec("ALTER TABLE profiles ADD COLUMN IF NOT EXISTS \(column) \(PostgresSchema.columnType(declared))")
                try q("INSERT INTO profile_columns(name, type) VALUES ($1, $2) ON CONFLICT DO NOTHING", [.text(a.name), .text(declared)])
                changed = true
            }
            // A required attribute with a default: profiles without a value get it.
            if let d = a.defaultValue, d != .none, !a.type.isOptional {
                try connection.queryOnce("UPDATE profiles SET \(column) = $1 WHERE \(column) IS NULL", [PostgresSchema.param(d)])
            }
        }
        // Statements prepared before a column was added would read the table as it was.
        if changed { try connection.forgetPrepared() }
        readProfiles(as: schema)
    }

    /// Reads profiles as `schema` declares them, changing nothing.
    public func readProfiles(as schema: RuntimeSchema) {
        self.schema = schema
        let cols = schema.attributes.map { PostgresSchema.identifier($0.name) }
        loadProfileSQL = "SELECT id\(cols.map { ", " + $0 }.joined()) FROM profiles WHERE id = $1"
        let values = (0..<cols.count).map { ", $\($0 + 3)" }.joined()
        let updates = cols.isEmpty ? "DO NOTHING" : "DO UPDATE SET " + cols.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
        saveProfileSQL = "INSERT INTO profiles(id, p\(cols.map { ", " + $0 }.joined())) VALUES ($1, $2\(values)) ON CONFLICT (id) \(updates)"
        timezoneColumn = schema.timezoneAttribute.map { PostgresSchema.identifier(schema.attributes[$0].name) }
    }

    public func loadProfile(_ id: String) throws -> [Value]? {
        let r = try q(loadProfileSQL, [.text(id)])
        guard r.count > 0 else { return nil }
        return schema.attributes.enumerated().map { i, a in PostgresSchema.read(r, 0, i + 1, a.type) }
    }

    public func profileExists(_ id: String) throws -> Bool {
        try q("SELECT 1 FROM profiles WHERE id = $1", [.text(id)]).count > 0
    }

    public func existingProfiles(_ ids: [String]) throws -> Set<String> {
        let r = try q("SELECT id FROM profiles WHERE id = ANY($1)", [.texts(ids)])
        return Set((0..<r.count).map { r.text($0, 0) })
    }

    public func saveProfile(_ id: String, _ values: [Value]) throws {
        // A worker writing another partition's profile (an import through journey serve) holds
        // the writers' lock alone: no step of that profile is under way meanwhile.
        if let w = worker, w.owned[PostgresSchema.partition(id)] == nil { try spanPartitions() }
        try q(saveProfileSQL, [.text(id), .int(Int64(PostgresSchema.partition(id)))] + values.map(PostgresSchema.param))
        // Audience runs go by time zone: remember each zone once, rather than scan for them.
        if let tz = schema.timezoneAttribute, tz < values.count, case .string(let zone) = values[tz], !zone.isEmpty, !knownZones.contains(zone) {
            try q("INSERT INTO profile_timezones(tz) VALUES ($1) ON CONFLICT DO NOTHING", [.text(zone)])
            knownZones.insert(zone)
        }
    }

    public func profileColumns() throws -> [String: String] {
        let r = try q("SELECT name, type FROM profile_columns")
        var out: [String: String] = [:]
        for i in 0..<r.count { out[r.text(i, 0)] = r.text(i, 1) }
        return out
    }

    public func valueCounts(attribute: String) throws -> (set: Int, missing: Int) {
        guard try profileColumns()[attribute] != nil else { return (0, try profileCount()) }
        let col = PostgresSchema.identifier(attribute)
        let r = try connection.queryOnce("SELECT COUNT(\(col)), COUNT(*) - COUNT(\(col)) FROM profiles")
        return (r.int(0, 0), r.int(0, 1))
    }

    public func profileCount() throws -> Int {
        try q("SELECT COUNT(*) FROM profiles").int(0, 0)
    }

    public func profileTimezones() throws -> [String?] {
        guard timezoneColumn != nil else { return [nil] }
        let r = try q("SELECT tz FROM profile_timezones ORDER BY tz")
        return [nil] + (0..<r.count).map { r.text($0, 0) }
    }

    /// (`condition` is not turned into SQL here yet: `filter` tests every profile read.)
    public func scanProfiles(timezone: String?, attributes: [Int], condition: ProfileCondition?, filter: (_ id: () -> String, _ values: [Value]) throws -> Bool) throws -> [String] {
        try scan(timezone: timezone, everyZone: false, attributes: attributes, filter: filter)
    }

    public func scanAllProfiles(attributes: [Int], filter: (_ id: () -> String, _ values: [Value]) throws -> Bool) throws -> [String] {
        try scan(timezone: nil, everyZone: true, attributes: attributes, filter: filter)
    }

    /// Reads profiles in id order, a page at a time (memory stays flat over millions).
    func scan(timezone: String?, everyZone: Bool, attributes: [Int], filter: (_ id: () -> String, _ values: [Value]) throws -> Bool) throws -> [String] {
        let cols = attributes.map { ", " + PostgresSchema.identifier(schema.attributes[$0].name) }.joined()
        var condition = "id > $1"
        var params: [PGParam] = []
        if let run = audienceRun, !everyZone {
            // An audience run: the profiles of its partitions only (all of them this worker's).
            condition += " AND p = ANY($3)"
            params.append(.ints(run))
        } else {
            // Who is scanned may be entered: every partition's profiles.
            try spanPartitions()
        }
        if let col = timezoneColumn, !everyZone {
            if let tz = timezone {
                condition += " AND \(col) = $\(params.count + 3)"
                params.append(.bytes(Array(tz.utf8)))
            } else {
                condition += " AND (\(col) IS NULL OR \(col) = ''::bytea OR \(col) = 'UTC'::bytea)"
            }
        }
        let sql = "SELECT id\(cols) FROM profiles WHERE \(condition) ORDER BY id LIMIT $2"
        let page = 10_000
        var values = [Value](repeating: .none, count: schema.attributes.count)
        let types = attributes.map { schema.attributes[$0].type }
        var kept: [String] = []
        var after = ""
        while true {
            let r = try q(sql, [.text(after), .int(Int64(page))] + params)
            for i in 0..<r.count {
                for (k, a) in attributes.enumerated() { values[a] = PostgresSchema.read(r, i, k + 1, types[k]) }
                if try filter({ r.text(i, 0) }, values) { kept.append(r.text(i, 0)) }
            }
            guard r.count == page else { break }
            after = r.text(r.count - 1, 0)
        }
        return kept
    }
}
