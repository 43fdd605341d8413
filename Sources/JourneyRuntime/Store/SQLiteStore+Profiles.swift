import JourneyBytecode

// Profiles: typed columns, their cache, and the time zone groups for audience runs.

extension SQLiteStore {
    /// Adds a typed column for every attribute the schema declares (never drops one), and
    /// prepares the profile statements for this schema.
    public func migrateProfiles(_ schema: RuntimeSchema) throws {
        var existing: [String: String] = [:]
        let info = try statement("SELECT name, type FROM profile_columns")
        while try info.step() { existing[info.text(0)] = info.text(1) }
        info.reset()
        for a in schema.attributes {
            let declared = a.type.unwrapped.description
            if let had = existing[a.name] {
                guard StoreSchema.columnType(had) == StoreSchema.columnType(declared) else {
                    throw SQLiteError(code: 0, message: "profile attribute '\(a.name)' changed type from \(had) to \(declared); stored profiles cannot be converted")
                }
            } else {
                try db.exec("ALTER TABLE profiles ADD COLUMN \(StoreSchema.identifier(a.name)) \(StoreSchema.columnType(declared))")
                let s = try statement("INSERT INTO profile_columns(name, type) VALUES (?, ?)")
                s.bind(1, a.name); s.bind(2, declared)
                try s.run()
            }
            // A required attribute with a default: profiles without a value get it (a new
            // attribute, or one that was optional).
            if let d = a.defaultValue, d != .none, !a.type.isOptional {
                let u = try db.prepare("UPDATE profiles SET \(StoreSchema.identifier(a.name)) = ? WHERE \(StoreSchema.identifier(a.name)) IS NULL")
                StoreSchema.bind(u, 1, d)
                try u.run()
            }
        }
        // An audience run in a time zone reads that zone's profiles only, through this index.
        if let tz = schema.timezoneAttribute {
            try db.exec("CREATE INDEX IF NOT EXISTS profiles_by_timezone ON profiles(\(StoreSchema.identifier(schema.attributes[tz].name)))")
        }
        // Which required attributes may have no value (added without a default, or required
        // since): looked for once for each set of required attributes, kept in meta. Nothing
        // else writes a profile without its required attributes.
        let required = Self.requiredKey(schema)
        if try meta("required_checked") != required {
            var missing: [String] = []
            for a in schema.attributes where !a.type.isOptional {
                let s = try db.prepare("SELECT EXISTS(SELECT 1 FROM profiles WHERE \(StoreSchema.identifier(a.name)) IS NULL)")
                if try s.step(), s.int(0) != 0 { missing.append(a.name) }
            }
            try setMeta("required_missing", missing.joined(separator: "\n"))
            try setMeta("required_checked", required)
        }
        readProfiles(as: schema)
    }

    /// The set of required attributes a look for missing values was made for (meta
    /// `required_checked`): their names, sorted, one a line.
    static func requiredKey(_ schema: RuntimeSchema) -> String {
        schema.attributes.filter { !$0.type.isOptional }.map(\.name).sorted().joined(separator: "\n")
    }

    /// Reads profiles as `schema` declares them, changing nothing (the columns must be there: a
    /// read-only store beside the process that migrated them).
    public func readProfiles(as schema: RuntimeSchema) {
        self.schema = schema
        dropCaches()
        let cols = schema.attributes.map { StoreSchema.identifier($0.name) }
        loadProfileSQL = "SELECT \(cols.isEmpty ? "id" : cols.joined(separator: ", ")) FROM profiles WHERE id = ?"
        saveProfileSQL = "INSERT OR REPLACE INTO profiles(id\(cols.map { ", " + $0 }.joined())) VALUES (?\(String(repeating: ", ?", count: cols.count)))"
        loadProfileStatement = nil
        saveProfileStatement = nil
        timezoneColumn = schema.timezoneAttribute.map { StoreSchema.identifier(schema.attributes[$0].name) }
        scans = [:]
        // Required attributes that may be missing (all of them, when nobody looked for this schema).
        let names = (try? meta("required_checked")) == Self.requiredKey(schema) ? Set(((try? meta("required_missing")) ?? nil)?.split(separator: "\n").map(String.init) ?? []) : nil
        mayBeMissing = Set(schema.attributes.indices.filter { !schema.attributes[$0].type.isOptional && (names?.contains(schema.attributes[$0].name) ?? true) })
    }

    public func loadProfile(_ id: String) throws -> [Value]? {
        if cachesUsable {
            if let cached = profileCache[id] { return cached }
            if profilesComplete { return nil }
            profileMisses += 1
            if profileMisses == missesBeforeScan, try loadAllProfiles() { return profileCache[id] }
        }
        // Past the misses, a table too big to hold is read profile by profile, uncached: over
        // that many profiles, few come back soon enough to be found again.
        let caching = cachesUsable && profileMisses < missesBeforeScan
        let s: Statement
        if let held = loadProfileStatement { s = held } else { s = try statement(dynamic: loadProfileSQL); loadProfileStatement = s }
        defer { s.reset() }
        s.bind(1, id)
        guard try s.step() else { return nil }
        let values = schema.attributes.enumerated().map { i, a in StoreSchema.read(s, Int32(i), a.type) }
        if caching { profileCache[id] = values }
        return values
    }

    /// Reads every profile into the cache, unless there are more than it holds.
    func loadAllProfiles() throws -> Bool {
        // (Counted first, up to one past the limit: the cache is then made at its size, not
        // grown a dozen times, and a table too big to hold is not read through to say so.)
        let counted = try statement("SELECT count(*) FROM (SELECT 1 FROM profiles LIMIT ?)")
        defer { counted.reset() }
        counted.bind(1, profileCacheLimit + 1)
        guard try counted.step(), case let n = Int(counted.int64(0)), n <= profileCacheLimit else { return false }
        let cols = schema.attributes.map { StoreSchema.identifier($0.name) }
        let s = try statement(dynamic: "SELECT id\(cols.map { ", " + $0 }.joined()) FROM profiles")
        defer { s.reset() }
        let types = schema.attributes.map(\.type)
        var all: [String: [Value]] = [:]
        all.reserveCapacity(n)
        while try s.step() { all[s.text(0)] = types.indices.map { StoreSchema.read(s, Int32($0 + 1), types[$0]) } }
        profileCache = all
        profilesComplete = true
        return true
    }

    /// Whether a table has more than `limit` rows (`sql` skips `limit` rows and asks for one
    /// more), counted by walking its keys without reading the rows.
    func hasMoreRows(_ sql: StaticString, than limit: Int) throws -> Bool {
        let s = try statement(sql)
        defer { s.reset() }
        s.bind(1, limit)
        return try s.step()
    }

    /// The profile columns the store has: attribute name → declared type (without `?`).
    public func profileColumns() throws -> [String: String] {
        var out: [String: String] = [:]
        let info = try statement("SELECT name, type FROM profile_columns")
        while try info.step() { out[info.text(0)] = info.text(1) }
        info.reset()
        return out
    }

    /// How many profiles have a value for the attribute, and how many have none.
    public func valueCounts(attribute: String) throws -> (set: Int, missing: Int) {
        guard try profileColumns()[attribute] != nil else { return (0, try profileCount()) }
        let col = StoreSchema.identifier(attribute)
        let s = try db.prepare("SELECT COUNT(\(col)), COUNT(*) - COUNT(\(col)) FROM profiles")
        guard try s.step() else { return (0, 0) }
        return (s.int(0), s.int(1))
    }

    public func profileCount() throws -> Int {
        let s = try statement("SELECT COUNT(*) FROM profiles")
        defer { s.reset() }
        return try s.step() ? s.int(0) : 0
    }

    public func profileExists(_ id: String) throws -> Bool {
        // Inside a transaction, through the profile cache: an ingest of a big file fills it by
        // one scan, as a run does.
        if cachesUsable { return try loadProfile(id) != nil }
        let s = try statement("SELECT 1 FROM profiles WHERE id = ?")
        defer { s.reset() }
        s.bind(1, id)
        return try s.step()
    }

    /// Which of `ids` are stored: from the profile cache while it holds every profile, else
    /// one key lookup each (an ingest asks once per profile; reading whole profiles into the
    /// cache for it would decode every attribute of every profile for nothing).
    public func existingProfiles(_ ids: [String]) throws -> Set<String> {
        var out = Set<String>(minimumCapacity: ids.count)
        if cachesUsable, profilesComplete {
            for id in ids where profileCache[id] != nil { out.insert(id) }
            return out
        }
        let s = try statement("SELECT 1 FROM profiles WHERE id = ?")
        defer { s.reset() }
        // In key order, each lookup finds its pages where the one before left them.
        for id in ids.sorted() {
            s.bind(1, id)
            if try s.step() { out.insert(id) }
            s.reset()
        }
        return out
    }

    public func saveProfile(_ id: String, _ values: [Value]) throws {
        let s: Statement
        if let held = saveProfileStatement { s = held } else { s = try statement(dynamic: saveProfileSQL); saveProfileStatement = s }
        s.bind(1, id)
        for (i, v) in values.enumerated() { StoreSchema.bind(s, Int32(i + 2), v) }
        try s.run()
        if cachesUsable, profilesComplete || profileCache[id] != nil {
            let before = profileCache.updateValue(values, forKey: id)
            if zoneGroups != nil, before.map({ ZoneGroups.zone(of: $0, schema) != ZoneGroups.zone(of: values, schema) }) ?? true {
                zoneGroups = nil
            }
            if profileCache.count > profileCacheLimit {
                profileCache = [:]
                profilesComplete = false
                zoneGroups = nil
            }
        }
        // Audience runs go by time zone: remember each zone once, rather than scan for them.
        if let tz = schema.timezoneAttribute, tz < values.count, case .string(let zone) = values[tz], !zone.isEmpty, !knownZones.contains(zone) {
            let z = try statement("INSERT OR IGNORE INTO profile_timezones(tz) VALUES (?)")
            z.bind(1, zone)
            try z.run()
            knownZones.insert(zone)
        }
    }

    public func scanAllProfiles(attributes: [Int], filter: (_ id: () -> String, _ values: [Value]) throws -> Bool) throws -> [String] {
        try scanProfiles(timezone: nil, everyZone: true, attributes: attributes, condition: nil, filter: filter)
    }

    /// The profiles `condition` may hold for are read (SQL does that part of the test), and
    /// `filter` tests each of them.
    public func scanProfiles(timezone: String?, attributes: [Int], condition: ProfileCondition?, filter: (_ id: () -> String, _ values: [Value]) throws -> Bool) throws -> [String] {
        try scanProfiles(timezone: timezone, everyZone: false, attributes: attributes, condition: condition, filter: filter)
    }

    func scanProfiles(timezone: String?, everyZone: Bool, attributes: [Int], condition: ProfileCondition?, filter: (_ id: () -> String, _ values: [Value]) throws -> Bool) throws -> [String] {
        let zoned = timezoneColumn != nil && !everyZone
        var zone = zoned ? (timezone == nil ? 1 : 2) : 0
        // The zone-less group is every profile while no profile has a named zone.
        if zone == 1 {
            let any = try statement("SELECT EXISTS(SELECT 1 FROM profile_timezones)")
            defer { any.reset() }
            if try any.step(), any.int(0) == 0 { zone = 0 }
        }
        if let ids = try cachedGroup(zone: zone, timezone: timezone) {
            // Every profile is in the cache: the group's profiles are tested from there (the
            // filter alone decides; the condition only spares SQLite rows).
            var kept: [String] = []
            for id in ids {
                guard let values = profileCache[id] else { continue }
                if try filter({ id }, values) { kept.append(id) }
            }
            return kept
        }
        let shape = ScanShape(attributes: attributes, condition: condition, zone: zone)
        let prepared: (statement: Statement?, binds: [ColumnValue])
        if let known = scans[shape] {
            prepared = known
        } else {
            if scans.count >= 256 { scans = [:] }
            prepared = try prepareScan(shape)
            scans[shape] = prepared
        }
        guard let s = prepared.statement else { return [] } // the condition holds for nobody
        defer { s.reset() }
        // The zone's name is bound first, then the condition's values.
        var first: Int32 = 1
        if zone == 2, let tz = timezone { s.bind(1, tz); first = 2 }
        for (k, b) in prepared.binds.enumerated() { StoreSchema.bind(s, first + Int32(k), b) }
        var values = [Value](repeating: .none, count: schema.attributes.count)
        let types = attributes.map { schema.attributes[$0].type }
        var kept: [String] = []
        while try s.step() {
            for (k, a) in attributes.enumerated() { values[a] = StoreSchema.read(s, Int32(k + 1), types[k]) }
            if try filter({ s.text(0) }, values) { kept.append(s.text(0)) }
        }
        return kept
    }

    /// The ids of a scan's group (see `ScanShape.zone`) in id order, from the profile cache when
    /// it holds every profile; nil when it does not.
    func cachedGroup(zone: Int, timezone: String?) throws -> [String]? {
        // A zone attribute of another type (a text column all the same) is left to SQL.
        guard cachesUsable, schema.timezoneAttribute.map({ [.string, .url].contains(schema.attributes[$0].type.unwrapped) }) ?? true else { return nil }
        if !profilesComplete {
            // A scan counts as a miss: after enough of them a table that fits is read whole.
            profileMisses += 1
            guard profileMisses == missesBeforeScan, try loadAllProfiles() else { return nil }
        }
        let groups: ZoneGroups
        if let made = zoneGroups { groups = made } else { groups = ZoneGroups(profileCache, schema); zoneGroups = groups }
        switch zone {
        case 0: return groups.all
        case 1: return groups.zoneless
        default:
            guard let tz = timezone else { return groups.zoneless }
            // Swift takes some zone names written another way (a Kelvin sign for a K) for the
            // same name; SQL compares bytes: with such names about, SQL answers.
            guard groups.namesExact, !tz.utf8.contains(where: { $0 >= 0x80 }) else { return nil }
            return groups.named[tz] ?? []
        }
    }

    /// The statement of one shape of scan, and the values its condition binds (after the
    /// zone's, if it takes one); no statement when the condition holds for nobody.
    func prepareScan(_ shape: ScanShape) throws -> (statement: Statement?, binds: [ColumnValue]) {
        let cols = shape.attributes.map { ", " + StoreSchema.identifier(schema.attributes[$0].name) }.joined()
        var clauses: [String] = []
        var binds: [ColumnValue] = []
        if let col = timezoneColumn, shape.zone != 0 {
            // A named zone's profiles come through the time zone index; the zone-less group
            // (often most profiles) is read in the table's own order (`+` keeps the index out).
            clauses.append(shape.zone == 1 ? "(+\(col) IS NULL OR +\(col) = '' OR +\(col) = 'UTC')" : "\(col) = ?")
        }
        switch shape.condition.flatMap({ ProfileConditionSQL(schema: schema, mayBeMissing: mayBeMissing).clause($0) }) {
        case .sql(let text, let values)?:
            clauses.append(text)
            binds += values
        case .no?: return (nil, [])
        default: break
        }
        let sql = "SELECT id\(cols) FROM profiles" + (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")) + " ORDER BY id"
        return (try db.prepare(sql), binds)
    }

    /// The time zone groups: no zone (UTC), then every zone a profile has had.
    public func profileTimezones() throws -> [String?] {
        guard timezoneColumn != nil else { return [nil] }
        let s = try statement("SELECT tz FROM profile_timezones ORDER BY tz")
        var out: [String?] = [nil]
        while try s.step() { out.append(s.text(0)) }
        s.reset()
        return out
    }
}

/// What tells one audience scan's statement from another's.
struct ScanShape: Hashable {
    var attributes: [Int]
    var condition: ProfileCondition?
    /// 0: every zone (or the zone-less group while no profile has a named zone); 1: the
    /// zone-less (UTC) group; 2: one named zone (bound first).
    var zone: Int
}

/// The cached profiles' ids by time zone, each list in id order as SQLite orders text (by its
/// bytes), grouped as the scans' statements group them: a zone's profiles are those whose zone
/// attribute is exactly that text; the zone-less group those with none, an empty one or UTC.
struct ZoneGroups {
    var all: [String]
    var zoneless: [String]
    var named: [String: [String]]
    /// Every zone name is plain ASCII, so `named` tells them apart as SQL does.
    var namesExact = true

    init(_ profiles: [String: [Value]], _ schema: RuntimeSchema) {
        var named: [String: [String]] = [:]
        var zoneless: [String] = []
        for (id, values) in profiles {
            let z = Self.zone(of: values, schema)
            if let z {
                named[z, default: []].append(id)
                if z.utf8.contains(where: { $0 >= 0x80 }) { namesExact = false }
            }
            if z.map({ $0.isEmpty || $0.utf8.elementsEqual("UTC".utf8) }) ?? true { zoneless.append(id) }
        }
        let inOrder = { (a: String, b: String) in StoreSchema.compareBytes(a, b) < 0 }
        all = profiles.keys.sorted(by: inOrder)
        self.zoneless = zoneless.sorted(by: inOrder)
        self.named = named.mapValues { $0.sorted(by: inOrder) }
    }

    /// A profile's zone attribute as text (nil for none, or without a zone attribute).
    static func zone(of values: [Value], _ schema: RuntimeSchema) -> String? {
        guard let tz = schema.timezoneAttribute, tz < values.count, case .string(let z) = values[tz] else { return nil }
        return z
    }
}
