public import GRDB

/// A segment's place in the catalog (`segments.state`).
public enum SegmentState: String, Sendable, CaseIterable {
    /// Read by queries, jobs and trace lookups.
    case active
    /// In the catalog but its file is gone (found at start-up); nothing reads it.
    case missing
    /// Its file failed verification at start-up and was moved to `quarantine/`.
    case quarantined

    /// The state a catalog row names; one this build does not know is read as not readable.
    init(catalogValue: String) {
        self = SegmentState(rawValue: catalogValue) ?? .missing
    }

    /// The state as an SQL string literal, for statements over the catalog.
    package var sqlLiteral: String { "'\(rawValue)'" }
}

/// What the store's catalog tells a reader of sealed records: how far sealing got, which
/// segments were sealed after a position, and what retention may already have deleted. The
/// scheduler reads it inside its own read transactions on `index.db`, so the catalog and
/// the job tables it reads beside it agree; the SQL of the store's tables stays here.
public enum StoreCatalog {
    /// The highest WAL sequence whose record is in a sealed, indexed segment.
    public static func sealedWALSequence(_ db: Database) throws -> UInt64 {
        UInt64(max(0, try Int64.fetchOne(db, sql: "SELECT value FROM store_state WHERE key = 'sealed_wal_sequence'") ?? 0))
    }

    /// The highest seal id in the catalog. Seal ids, not segment ids, mark what a reader has
    /// seen: a compaction's output keeps the seal id of records it merged.
    public static func highestSealID(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT coalesce(max(seal_id), 0) FROM segments") ?? 0
    }

    /// The time range (`max` exclusive) of the active segments of `kind` sealed after seal
    /// id `sealID`; nil when there are none.
    public static func timeRange(of kind: SegmentKind, sealedAfter sealID: Int64, _ db: Database) throws -> Range<Int64>? {
        let row = try Row.fetchOne(db, sql: """
            SELECT min(min_time_ns) AS low, max(max_time_ns) AS high FROM segments
            WHERE kind = ? AND state = ? AND seal_id > ?
            """, arguments: [kind.name, SegmentState.active.rawValue, sealID])
        guard let low = row?["low"] as Int64?, let high = row?["high"] as Int64?, low <= high, high < .max else { return nil }
        return low..<(high + 1)
    }

    /// An active segment as an export reads it.
    public struct ActiveSegment: Sendable {
        public var id: Int64
        /// Relative to the data directory.
        public var path: String
        public var kind: SegmentKind
        public var rows: Int64
        public var minTime: Int64
        /// Inclusive.
        public var maxTime: Int64
        public var sealID: Int64
    }

    /// The active segments of `kind` holding records of `range` (all when nil) and sealed
    /// after seal id `sealID` (any when nil), in seal order.
    public static func activeSegments(of kind: SegmentKind, overlapping range: Range<Int64>? = nil, sealedAfter sealID: Int64? = nil,
                                      _ db: Database) throws -> [ActiveSegment] {
        var sql = "SELECT id, path, rows, min_time_ns, max_time_ns, coalesce(seal_id, id) AS seal FROM segments WHERE kind = ? AND state = ?"
        var arguments: StatementArguments = [kind.name, SegmentState.active.rawValue]
        if let range {
            sql += " AND min_time_ns < ? AND max_time_ns >= ?"
            arguments += [range.upperBound, range.lowerBound]
        }
        if let sealID {
            sql += " AND coalesce(seal_id, id) > ?"
            arguments += [sealID]
        }
        return try Row.fetchAll(db, sql: sql + " ORDER BY seal, id", arguments: arguments).map { row in
            ActiveSegment(id: row["id"], path: row["path"], kind: kind, rows: row["rows"], minTime: row["min_time_ns"],
                          maxTime: row["max_time_ns"], sealID: row["seal"])
        }
    }

    /// The time before which retention may have deleted records of `kind`; nil when it never did.
    public static func retentionFloor(of kind: SegmentKind, _ db: Database) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT value FROM store_state WHERE key = ?", arguments: [kind.retentionFloorKey])
    }

    /// A value another module keeps with the store's state (as the failure-template miner's version).
    public static func value(forKey key: String, _ db: Database) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT value FROM store_state WHERE key = ?", arguments: [key])
    }

    public static func setValue(_ value: Int64, forKey key: String, _ db: Database) throws {
        try db.execute(sql: "INSERT INTO store_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                       arguments: [key, value])
    }
}
