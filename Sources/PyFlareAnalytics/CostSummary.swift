import Foundation
public import GRDB

/// Tokens and cost of LLM calls (spans with a model) grouped by one dimension, read from the
/// materialized tables only: the rollups for model, provider, service and environment, the
/// cost attribution table for user and feature.
public struct CostSummaryQuery: Sendable {
    public enum GroupBy: String, Sendable, CaseIterable {
        case model, provider, service, user, feature, environment

        var column: String { self == .user ? "user_id" : rawValue }
        var fromAttribution: Bool { self == .user || self == .feature }
    }

    public var groupBy: GroupBy
    public var since: Int64
    public var until: Int64
    /// Width of the series buckets (nanoseconds); nil for no series.
    public var interval: Int64?

    public init(groupBy: GroupBy, since: Int64, until: Int64, interval: Int64?) {
        self.groupBy = groupBy
        self.since = since
        self.until = until
        self.interval = interval
    }
}

/// Sums of one group, or of one bucket of its series.
public struct CostFigures: Sendable, Equatable {
    public var requests: Int64 = 0
    public var inputTokens: Int64 = 0
    public var outputTokens: Int64 = 0
    public var cachedTokens: Int64 = 0
    public var reasoningTokens: Int64 = 0
    public var costMicros: Int64 = 0
    public var unpricedRequests: Int64 = 0

    public init() {}

    mutating func add(_ other: CostFigures) {
        requests += other.requests
        inputTokens += other.inputTokens
        outputTokens += other.outputTokens
        cachedTokens += other.cachedTokens
        reasoningTokens += other.reasoningTokens
        costMicros += other.costMicros
        unpricedRequests += other.unpricedRequests
    }
}

public struct CostSummary: Sendable {
    public struct Group: Sendable {
        public var key: String
        public var figures: CostFigures
        /// Buckets of `interval` width with any calls, in time order.
        public var series: [(start: Int64, figures: CostFigures)]
    }

    public var groups: [Group]
    public var total: CostFigures
    /// The range the sums cover: the request's, widened to the tables' resolution.
    public var coveredSince: Int64
    public var coveredUntil: Int64
    /// When the jobs behind the tables last finished a run.
    public var materializedAt: Int64?
}

extension CostSummaryQuery {
    static let minute: Int64 = 60_000_000_000
    static let hour: Int64 = 60 * minute
    static let day: Int64 = 24 * hour

    /// Runs the query; the range is split so that whole days come from `rollup_1d`, whole
    /// hours from `rollup_1h` and the rest from `rollup_1m` (user and feature: whole hours of
    /// `cost_attribution_1h`), which keeps a 30-day summary to a few thousand rows.
    public func run(_ pool: DatabasePool) async throws -> CostSummary {
        let query = self
        return try await pool.read { db in try query.run(db) }
    }

    func run(_ db: Database) throws -> CostSummary {
        let pieces: [(table: String, range: Range<Int64>)]
        let covered: Range<Int64>
        if groupBy.fromAttribution {
            covered = TimeBucket.floor(since, Self.hour)..<TimeBucket.ceil(until, Self.hour)
            pieces = [("cost_attribution_1h", covered)]
        } else {
            covered = TimeBucket.floor(since, Self.minute)..<TimeBucket.ceil(until, Self.minute)
            pieces = Self.split(covered, seriesInterval: interval)
        }
        let column = groupBy.column
        let figures = "sum(requests) AS requests, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, "
            + "sum(cached_tokens) AS cached_tokens, sum(reasoning_tokens) AS reasoning_tokens, sum(cost_micros) AS cost_micros, "
            + "sum(unpriced_requests) AS unpriced_requests"
        let bucket = interval.map { "bucket_ns - bucket_ns % \($0)" } ?? "0"
        var totals: [String: CostFigures] = [:]
        var buckets: [String: [Int64: CostFigures]] = [:]
        for piece in pieces where !piece.range.isEmpty {
            let llmOnly = piece.table.hasPrefix("rollup") ? " AND model != ''" : ""
            let rows = try Row.fetchCursor(db, sql: """
                SELECT \(column) AS key, \(bucket) AS bucket, \(figures) FROM \(piece.table)
                WHERE bucket_ns >= ? AND bucket_ns < ?\(llmOnly) GROUP BY 1, 2
                """, arguments: [piece.range.lowerBound, piece.range.upperBound])
            // By position: name lookups cost more than the sums on tens of thousands of rows.
            while let row = try rows.next() {
                let key: String = row[0]
                var values = CostFigures()
                values.requests = row[2]
                values.inputTokens = row[3]
                values.outputTokens = row[4]
                values.cachedTokens = row[5]
                values.reasoningTokens = row[6]
                values.costMicros = row[7]
                values.unpricedRequests = row[8]
                totals[key, default: CostFigures()].add(values)
                if interval != nil { buckets[key, default: [:]][row[1] as Int64, default: CostFigures()].add(values) }
            }
        }
        var groups = totals.map { key, figures in
            CostSummary.Group(key: key, figures: figures,
                              series: (buckets[key] ?? [:]).sorted { $0.key < $1.key }.map { (start: $0.key, figures: $0.value) })
        }
        groups.sort { ($0.figures.costMicros, $0.figures.requests, $1.key) > ($1.figures.costMicros, $1.figures.requests, $0.key) }
        var total = CostFigures()
        for group in groups { total.add(group.figures) }
        let jobs = groupBy.fromAttribution ? ["cost_attribution_1h"] : ["rollup_1m", "rollup_1h", "rollup_1d"]
        let materializedAt = try Int64.fetchOne(db, sql: """
            SELECT max(finished_ns) FROM job_runs WHERE status = 'ok' AND job IN (\(jobs.map { "'\($0)'" }.joined(separator: ", ")))
            """)
        return CostSummary(groups: groups, total: total, coveredSince: covered.lowerBound, coveredUntil: covered.upperBound,
                           materializedAt: materializedAt)
    }

    /// `range` as whole days, then whole hours, then minutes, each from its own table. With a
    /// series, a coarser table is used only where its buckets fit the series' buckets.
    static func split(_ range: Range<Int64>, seriesInterval: Int64?) -> [(table: String, range: Range<Int64>)] {
        func fits(_ width: Int64) -> Bool { seriesInterval.map { $0 % width == 0 } ?? true }
        let dayStart = TimeBucket.ceil(range.lowerBound, day), dayEnd = TimeBucket.floor(range.upperBound, day)
        guard fits(day), dayStart < dayEnd else { return hoursAndMinutes(range, fitsHour: fits(hour)) }
        return hoursAndMinutes(range.lowerBound..<dayStart, fitsHour: fits(hour)) + [("rollup_1d", dayStart..<dayEnd)]
            + hoursAndMinutes(dayEnd..<range.upperBound, fitsHour: fits(hour))
    }

    private static func hoursAndMinutes(_ range: Range<Int64>, fitsHour: Bool) -> [(table: String, range: Range<Int64>)] {
        guard !range.isEmpty else { return [] }
        let start = TimeBucket.ceil(range.lowerBound, hour), end = TimeBucket.floor(range.upperBound, hour)
        guard fitsHour, start < end else { return [("rollup_1m", range)] }
        return [("rollup_1m", range.lowerBound..<start), ("rollup_1h", start..<end), ("rollup_1m", end..<range.upperBound)]
    }
}
