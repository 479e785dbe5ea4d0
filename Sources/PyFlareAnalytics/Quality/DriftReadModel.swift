public import GRDB
import PyFlareStore
import PyFlareWire

/// What the drift API reads and changes, in the tables this module owns: the drift job's
/// scores (`drift_scores`) and the references pinned through the API (`drift_references`).
/// The API holds this, never the database.
public struct DriftReadModel: Sendable {
    let pool: DatabasePool
    let settings: DriftSettings

    public init(pool: DatabasePool, settings: DriftSettings) {
        self.pool = pool
        self.settings = settings
    }

    /// One stored score: a feature's drift in one scope and window against its reference.
    public struct Alert: Sendable {
        public var feature: String
        public var method: String
        public var scopeKind: String
        public var scope: String
        public var score: Double
        public var pValue: Double?
        public var severity: String
        public var window: Range<Int64>
        public var reference: Range<Int64>
        public var samples: Int64
        public var referenceSamples: Int64
        /// A JSON object.
        public var details: String
        public var computedAt: Int64
    }

    /// Which scores `alerts` returns: windows starting in `range`, at one of `severities`.
    public struct AlertQuery: Sendable {
        public var range: Range<Int64>
        public var severities: [String]
        public var scope: String?
        public var feature: String?
        public var method: String?
        public var limit: Int

        public init(range: Range<Int64>, severities: [String], scope: String? = nil, feature: String? = nil,
                    method: String? = nil, limit: Int) {
            self.range = range
            self.severities = severities
            self.scope = scope
            self.feature = feature
            self.method = method
            self.limit = limit
        }
    }

    /// The scores of `query`, newest window first (significant before moderate, then by
    /// score), and when the drift job last finished.
    public func alerts(_ query: AlertQuery) async throws -> (alerts: [Alert], materializedAt: Int64?) {
        var clause = WhereClause("window_start_ns >= ? AND window_start_ns < ?", query.range.lowerBound, query.range.upperBound)
        clause.add("severity IN (\(query.severities.map { _ in "?" }.joined(separator: ", ")))", values: query.severities)
        clause.equal([("scope", query.scope), ("feature", query.feature), ("method", query.method)])
        let sql = """
            SELECT * FROM drift_scores WHERE \(clause.sql)
            ORDER BY window_start_ns DESC, severity = 'significant' DESC, score DESC LIMIT ?
            """
        let arguments = clause.arguments + [query.limit]
        return try await pool.read { db in
            let alerts = try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                Alert(feature: row["feature"], method: row["method"], scopeKind: row["scope_kind"], scope: row["scope"],
                      score: row["score"], pValue: row["p_value"], severity: row["severity"],
                      window: (row["window_start_ns"] as Int64)..<(row["window_end_ns"] as Int64),
                      reference: (row["reference_start_ns"] as Int64)..<(row["reference_end_ns"] as Int64),
                      samples: row["samples"], referenceSamples: row["reference_samples"], details: row["details"],
                      computedAt: row["computed_ns"])
            }
            return (alerts, try JobLedger.materializedAt(by: ["drift"], db))
        }
    }

    /// A reference range pinned for one scope.
    public struct PinnedReference: Sendable {
        public var scopeKind: String
        public var scope: String
        public var range: Range<Int64>
        public var pinnedAt: Int64
    }

    public func pinnedReferences() async throws -> [PinnedReference] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM drift_references ORDER BY scope_kind, scope").map { row in
                PinnedReference(scopeKind: row["scope_kind"], scope: row["scope"],
                                range: (row["start_ns"] as Int64)..<(row["end_ns"] as Int64), pinnedAt: row["created_ns"])
            }
        }
    }

    /// Pins `range` as the reference of `scope` (of the configured scope kind), replacing one pinned before.
    public func pin(scope: String, range: Range<Int64>, now: Int64) async throws {
        let kind = settings.scopeBy.rawValue
        try await pool.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO drift_references (scope_kind, scope, start_ns, end_ns, created_ns) VALUES (?, ?, ?, ?, ?)
                """, arguments: [kind, scope, range.lowerBound, range.upperBound, now])
        }
    }

    /// Unpins the reference of `scope`; false when none was pinned.
    public func unpin(scope: String) async throws -> Bool {
        let kind = settings.scopeBy.rawValue
        return try await pool.write { db in
            try db.execute(sql: "DELETE FROM drift_references WHERE scope_kind = ? AND scope = ?", arguments: [kind, scope])
            return db.changesCount > 0
        }
    }
}
