import GRDB
import PyFlareSQL
import PyFlareWire

/// The overview dashboard's figures over a range, from the rollups (minutes, hours or days):
/// requests, errors, latency quantiles, tokens and cost, in total, per bucket, per model and
/// per service.
public struct OverviewReadModel: Sendable {
    let pool: DatabasePool
    let engine: SQLEngine

    public init(pool: DatabasePool, engine: SQLEngine) {
        self.pool = pool
        self.engine = engine
    }

    public enum Interval: String, Sendable, CaseIterable {
        case minute = "1m", hour = "1h", day = "1d"

        public var nanoseconds: Int64 {
            switch self {
            case .minute: UnixTime.minute
            case .hour: UnixTime.hour
            case .day: UnixTime.day
            }
        }

        var table: String { "rollup_\(rawValue)" }

        /// The finest interval that keeps a range within about 400 buckets.
        public static func fitting(_ range: Range<Int64>) -> Interval {
            allCases.first { (range.upperBound - range.lowerBound) / $0.nanoseconds <= 400 } ?? .day
        }
    }

    /// What a set of requests did.
    public struct Figures: Sendable {
        public var requests: Int64 = 0
        public var errors: Int64 = 0
        public var tokens: Int64 = 0
        public var costMicros: Int64 = 0
        public var unpricedRequests: Int64 = 0
        public var p50Nanoseconds: Int64?
        public var p95Nanoseconds: Int64?
    }

    public struct Overview: Sendable {
        public var range: Range<Int64>
        public var interval: Interval
        public var materializedAt: Int64?
        public var totals: Figures
        /// Bucket start → figures, oldest first; buckets without requests are left out.
        public var series: [(start: Int64, figures: Figures)]
        /// Most requests first, at most `groups` each.
        public var models: [(name: String, figures: Figures)]
        public var services: [(name: String, figures: Figures)]
    }

    public func overview(_ range: Range<Int64>, interval: Interval? = nil, groups: Int = 10) async throws -> Overview {
        let interval = interval ?? .fitting(range), groupLimit = groups
        // Whole buckets: a range's first and last buckets count if they overlap it.
        let since = TimeBucket.floor(range.lowerBound, interval.nanoseconds)
        let figures = "sum(requests), sum(errors), sum(input_tokens) + sum(output_tokens), sum(cost_micros), sum(unpriced_requests), "
            + "sketch_quantile(sketch_merge(latency_sketch), 0.5), sketch_quantile(sketch_merge(latency_sketch), 0.95)"
        let window = "FROM \(interval.table) WHERE bucket_ns >= :since AND bucket_ns < :until"
        let parameters = SQLParameters.named(["since": .integer(since), "until": .integer(range.upperBound), "groups": .integer(Int64(groupLimit))])
        func rows(_ sql: String) async throws -> [[SQLValue]] { try await engine.run(sql, parameters: parameters, limits: engine.limits).rows }
        func read(_ row: [SQLValue], from offset: Int) -> Figures {
            Figures(requests: row[offset].integer ?? 0, errors: row[offset + 1].integer ?? 0, tokens: row[offset + 2].integer ?? 0,
                    costMicros: row[offset + 3].integer ?? 0, unpricedRequests: row[offset + 4].integer ?? 0,
                    p50Nanoseconds: row[offset + 5].quantile, p95Nanoseconds: row[offset + 6].quantile)
        }
        let totals = try await rows("SELECT \(figures) \(window)").first.map { read($0, from: 0) } ?? Figures()
        let series = try await rows("SELECT bucket_ns, \(figures) \(window) GROUP BY bucket_ns ORDER BY bucket_ns")
            .map { (start: $0[0].integer ?? 0, figures: read($0, from: 1)) }
        func top(_ column: String) async throws -> [(name: String, figures: Figures)] {
            try await rows("SELECT \(column), \(figures) \(window) GROUP BY \(column) ORDER BY sum(requests) DESC, \(column) LIMIT :groups")
                .map { (name: $0[0].string ?? "", figures: read($0, from: 1)) }
        }
        let materializedAt = try await pool.read { db in try JobLedger.materializedAt(by: ["rollup_1m", "rollup_1h", "rollup_1d"], db) }
        return Overview(range: since..<range.upperBound, interval: interval, materializedAt: materializedAt, totals: totals,
                        series: series, models: try await top("model"), services: try await top("service"))
    }
}

private extension SQLValue {
    /// A latency quantile, whichever numeric type the sketch function answered.
    var quantile: Int64? { integer ?? real.map { Int64($0.rounded()) } }
}
