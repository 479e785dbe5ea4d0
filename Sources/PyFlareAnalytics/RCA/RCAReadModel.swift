public import GRDB
public import PyFlareStore
public import PyFlareSQL
import PyFlareWire

/// What the root-cause API reads, from the tables this module owns (`failure_templates`,
/// `failure_cluster_members`, `rca_slices`, `rca_patterns`), and the slice analysis it runs on
/// demand. The API holds this, never the database.
public struct RCAReadModel: Sendable {
    let pool: DatabasePool
    let engine: SQLEngine
    public let slices: SliceAnalyzer

    public init(pool: DatabasePool, engine: SQLEngine, sliceSettings: SliceSettings) {
        self.pool = pool
        self.engine = engine
        slices = SliceAnalyzer(settings: sliceSettings)
    }

    // MARK: - Failure clusters

    public func clusters(_ query: FailureClusterQuery, now: Int64) async throws -> (clusters: [FailureCluster], total: Int) {
        try await query.clusters(pool, now: now)
    }

    /// The id cluster `asked` goes by now (clusters merge); nil when there is none.
    public func currentClusterID(of asked: Int64) async throws -> Int64? {
        try await FailureClusterQuery.currentID(of: asked, pool)
    }

    public func cluster(_ id: Int64, _ query: FailureClusterQuery, now: Int64) async throws -> FailureCluster? {
        try await query.cluster(id, pool, now: now)
    }

    // MARK: - Slices

    /// One slice finding as the slice job stored it, or as an on-demand analysis found it.
    public struct Slice: Sendable {
        public var metric: String
        /// The slice's dimension names, sorted, separated by ','.
        public var dimensions: String
        /// A JSON object: dimension → value.
        public var definition: String
        public var sampleCount: Int
        public var value: Double
        public var baseline: Double
        public var deviation: Double
        public var deviationPercentage: Double?
        public var pValue: Double
        public var qValue: Double
        public var significant: Bool
        public var impact: Double

        public init(_ finding: SliceFinding) {
            metric = finding.metric.rawValue
            dimensions = finding.dimensions
            definition = finding.definitionJSON
            sampleCount = finding.sampleCount
            value = finding.value
            baseline = finding.baseline
            deviation = finding.deviation
            deviationPercentage = finding.deviationPercentage
            pValue = finding.pValue
            qValue = finding.qValue
            significant = finding.significant
            impact = finding.impact
        }

        init(_ row: Row) {
            metric = row["metric"]
            dimensions = row["dimensions"]
            definition = row["definition"]
            sampleCount = row["sample_count"]
            value = row["metric_value"]
            baseline = row["baseline_value"]
            deviation = row["deviation"]
            deviationPercentage = row["deviation_pct"]
            pValue = row["p_value"]
            qValue = row["q_value"]
            significant = row["significant"]
            impact = row["impact_score"]
        }
    }

    /// The slice job's last findings, most impact first, with the window it analysed and when.
    public func storedSlices() async throws -> (slices: [Slice], window: Range<Int64>?, analyzedAt: Int64?) {
        try await pool.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM rca_slices ORDER BY impact_score DESC")
            guard let first = rows.first else { return ([], nil, nil) }
            return (rows.map(Slice.init), (first["window_start_ns"] as Int64)..<(first["window_end_ns"] as Int64), first["analyzed_ns"])
        }
    }

    /// Slices of `range` analysed now, on the server's SQL lane.
    public func analyzeSlices(_ range: Range<Int64>) async throws -> [Slice] {
        try await slices.analyze(range, engine: engine, limits: engine.limits, pool: pool).map(Slice.init)
    }

    // MARK: - Patterns

    /// Which patterns `patterns` returns: those overlapping `range`, optionally of one type,
    /// service or model, ongoing or ended.
    public struct PatternQuery: Sendable {
        public var range: Range<Int64>
        public var type: PatternType?
        public var service: String?
        public var model: String?
        /// true: only ongoing ones; false: only ended ones.
        public var ongoing: Bool?
        public var limit: Int

        public init(range: Range<Int64>, type: PatternType?, service: String?, model: String?, ongoing: Bool?, limit: Int) {
            self.range = range
            self.type = type
            self.service = service
            self.model = model
            self.ongoing = ongoing
            self.limit = limit
        }
    }

    /// One pattern as the pattern job stored it.
    public struct Pattern: Sendable {
        public var id: String
        public var type: String
        /// JSON objects and arrays, as stored.
        public var scope: String
        public var evidence: String
        public var suggestedActions: String
        public var start: Int64
        public var end: Int64?
        public var severity: Double
        public var description: String
        public var firstDetected: Int64
        public var lastDetected: Int64
    }

    /// The patterns of `query`: ongoing first, then by severity, newest first.
    public func patterns(_ query: PatternQuery) async throws -> [Pattern] {
        var clause = WhereClause("(end_ns IS NULL OR end_ns >= ?) AND start_ns < ?", query.range.lowerBound, query.range.upperBound)
        clause.equal([("type", query.type?.rawValue), ("service", query.service), ("model", query.model)])
        if let ongoing = query.ongoing { clause.add(ongoing ? "end_ns IS NULL" : "end_ns IS NOT NULL") }
        let arguments = clause.arguments + [query.limit]
        let sql = """
            SELECT * FROM rca_patterns WHERE \(clause.sql)
            ORDER BY end_ns IS NOT NULL, severity DESC, start_ns DESC LIMIT ?
            """
        return try await pool.read { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                Pattern(id: row["id"], type: row["type"], scope: row["scope"], evidence: row["evidence"],
                        suggestedActions: row["suggested_actions"], start: row["start_ns"], end: row["end_ns"],
                        severity: row["severity"], description: row["description"],
                        firstDetected: row["first_detected_ns"], lastDetected: row["last_detected_ns"])
            }
        }
    }
}
