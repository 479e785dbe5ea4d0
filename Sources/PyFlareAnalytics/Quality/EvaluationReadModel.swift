public import GRDB
import PyFlareStore
import PyFlareWire

/// What the evaluations API reads and writes, in `evaluations` (a table of this module): the
/// results the evaluation jobs found and the annotations clients post. The API holds this,
/// never the database.
public struct EvaluationReadModel: Sendable {
    let pool: DatabasePool
    /// The jobs that write `evaluations` (annotations are written as they are posted).
    static let jobs = ["evaluations", "rag_evaluations", "llm_judge"]

    public init(pool: DatabasePool) {
        self.pool = pool
    }

    /// The evaluations a read covers: times in `range`, and each filter given.
    public struct Filter: Sendable {
        public var range: Range<Int64>
        public var name, spanID, traceID, model, service, feature, source: String?
        public var passed: Bool?

        public init(range: Range<Int64>, name: String? = nil, spanID: String? = nil, traceID: String? = nil, model: String? = nil,
                    service: String? = nil, feature: String? = nil, source: String? = nil, passed: Bool? = nil) {
            self.range = range
            self.name = name
            self.spanID = spanID
            self.traceID = traceID
            self.model = model
            self.service = service
            self.feature = feature
            self.source = source
            self.passed = passed
        }

        var clause: WhereClause {
            var clause = WhereClause("time_ns >= ? AND time_ns < ?", range.lowerBound, range.upperBound)
            clause.equal([("name", name), ("span_id", spanID), ("trace_id", traceID), ("model", model),
                          ("service", service), ("feature", feature), ("source", source)])
            if let passed { clause.add(passed ? "passed = 1" : "passed = 0") }
            return clause
        }
    }

    /// A stored evaluation and its row id.
    public struct Stored: Sendable {
        public var id: Int64
        public var record: EvaluationRecord
    }

    /// Up to `limit` evaluations of `filter`, newest first, from before `cursor` (a row's time
    /// and id) when given; and when the evaluation jobs last finished.
    public func list(_ filter: Filter, before cursor: (time: Int64, id: Int64)?, limit: Int) async throws
        -> (evaluations: [Stored], materializedAt: Int64?) {
        var clause = filter.clause
        if let cursor { clause.add("(time_ns < ? OR (time_ns = ? AND id < ?))", cursor.time, cursor.time, cursor.id) }
        let arguments = clause.arguments + [limit]
        let statement = "SELECT * FROM evaluations WHERE \(clause.sql) ORDER BY time_ns DESC, id DESC LIMIT ?"
        return try await pool.read { db in
            let stored = try Row.fetchAll(db, sql: statement, arguments: arguments).map { row in
                Stored(id: row["id"], record: EvaluationRecord(
                    time: row["time_ns"], name: row["name"], source: EvaluationRecord.Source(rawValue: row["source"]) ?? .annotation,
                    evaluator: row["evaluator"], traceID: row["trace_id"], spanID: row["span_id"], service: row["service"],
                    model: row["model"], operation: row["operation"], feature: row["feature"], score: row["score"], label: row["label"],
                    explanation: row["explanation"], passed: row["passed"], details: row["details"], costMicros: row["cost_micros"] ?? 0))
            }
            return (stored, try JobLedger.materializedAt(by: Self.jobs, db))
        }
    }

    /// What to group a summary by besides the evaluation's name.
    public enum Grouping: String, Sendable, CaseIterable {
        case name, model, service, feature
    }

    /// The verdict figures of one name (and group key) in one interval bucket.
    public struct SummaryBucket: Sendable {
        public var name: String
        /// The model, service or feature; empty when grouped by name only.
        public var key: String
        public var start: Int64
        public var count: Int64
        public var scored: Int64
        public var scoreSum: Double
        public var passed: Int64
        public var failed: Int64
        public var costMicros: Int64
    }

    /// The buckets of `interval` of each name (and `grouping` key), in order of name, key and
    /// start; and when the evaluation jobs last finished.
    public func summary(_ filter: Filter, grouping: Grouping, interval: Int64) async throws
        -> (buckets: [SummaryBucket], materializedAt: Int64?) {
        let clause = filter.clause
        let key = grouping == .name ? "''" : "coalesce(\(grouping.rawValue), '')"
        let statement = """
            SELECT name, \(key), (time_ns / ?) * ?, count(*), count(score), total(score), sum(passed = 1), sum(passed = 0),
                   sum(cost_micros)
            FROM evaluations WHERE \(clause.sql) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            """
        let arguments = StatementArguments([interval, interval]) + clause.arguments
        return try await pool.read { db in
            let buckets = try Row.fetchAll(db, sql: statement, arguments: arguments).map { row in
                SummaryBucket(name: row[0], key: row[1], start: row[2], count: row[3], scored: row[4], scoreSum: row[5],
                              passed: row[6] ?? 0, failed: row[7] ?? 0, costMicros: row[8] ?? 0)
            }
            return (buckets, try JobLedger.materializedAt(by: Self.jobs, db))
        }
    }

    /// Stores `records` (annotations) in one transaction; returns their ids, in order.
    public func store(_ records: [EvaluationRecord]) async throws -> [Int64] {
        try await pool.write { db in
            try records.map { record in
                try EvaluationRecord.insert([record], db)
                return db.lastInsertedRowID
            }
        }
    }
}
