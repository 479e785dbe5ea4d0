import Foundation
public import GRDB
import GRDBSQLite
import PyFlareWire

/// Tokens and cost of LLM calls (spans with a model) grouped by one dimension, read from the
/// materialized tables only: whole days and hours from the cost by dimension, the minutes at
/// the edges of a range from the minute rollups. User, feature and team come from the hourly
/// cost attribution, so their ranges are whole hours.
public struct CostSummaryQuery: Sendable {
    /// A dimension; its raw value names it in `cost_by_dimension_*`.
    public enum GroupBy: String, Sendable, CaseIterable {
        case model, provider, service, environment, user, feature, team

        var fromAttribution: Bool { self == .user || self == .feature || self == .team }

        /// The dimensions that split the same calls (the rollups' or the attribution's), so
        /// that each one's values add up to the same figures per bucket.
        var family: [GroupBy] { fromAttribution ? [.user, .feature, .team] : [.model, .provider, .service, .environment] }
    }

    /// The tables a summary reads, finest first.
    enum Resolution: Comparable {
        case minute, hour, day

        var width: Int64 {
            switch self {
            case .minute: UnixTime.minute
            case .hour: UnixTime.hour
            case .day: UnixTime.day
            }
        }
    }

    public var groupBy: GroupBy
    public var since: Int64
    public var until: Int64
    /// Width of the series buckets (nanoseconds); nil for no series.
    public var interval: Int64?
    /// The most groups answered one by one, the costliest first; nil for all.
    public var limit: Int?

    public init(groupBy: GroupBy, since: Int64, until: Int64, interval: Int64?, limit: Int? = nil) {
        self.groupBy = groupBy
        self.since = since
        self.until = until
        self.interval = interval
        self.limit = limit
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

    init(summing figures: some Sequence<CostFigures>) {
        for each in figures { add(each) }
    }

    mutating func add(_ other: CostFigures) {
        requests += other.requests
        inputTokens += other.inputTokens
        outputTokens += other.outputTokens
        cachedTokens += other.cachedTokens
        reasoningTokens += other.reasoningTokens
        costMicros += other.costMicros
        unpricedRequests += other.unpricedRequests
    }

    mutating func subtract(_ other: CostFigures) {
        requests -= other.requests
        inputTokens -= other.inputTokens
        outputTokens -= other.outputTokens
        cachedTokens -= other.cachedTokens
        reasoningTokens -= other.reasoningTokens
        costMicros -= other.costMicros
        unpricedRequests -= other.unpricedRequests
    }
}

public struct CostSummary: Sendable {
    public struct Group: Sendable {
        public var key: String
        public var figures: CostFigures
        /// Buckets of `interval` width with any calls, in time order.
        public var series: [(start: Int64, figures: CostFigures)]
    }

    /// The costliest groups, at most the query's `limit`.
    public var groups: [Group]
    /// The groups left out by the limit, summed (key ''), with their series merged; nil when none were.
    public var other: Group?
    /// How many groups there are, the ones left out included.
    public var groupCount: Int
    public var total: CostFigures
    /// The range the sums cover: the request's, widened to the tables' resolution.
    public var coveredSince: Int64
    public var coveredUntil: Int64
    /// When the jobs behind the tables last finished a run.
    public var materializedAt: Int64?
}

extension CostSummaryQuery {
    /// Runs the query; the range is split so that whole days come from `cost_by_dimension_1d`,
    /// whole hours from `cost_by_dimension_1h` and the rest from `rollup_1m`, which keeps a
    /// 30-day summary to about one row per day and value.
    public func run(_ pool: DatabasePool) async throws -> CostSummary {
        let query = self
        return try await pool.read { db in try query.run(db) }
    }

    func run(_ db: Database) throws -> CostSummary {
        let finest: Resolution = groupBy.fromAttribution ? .hour : .minute
        let covered = TimeBucket.floor(since, finest.width)..<TimeBucket.ceil(until, finest.width)
        var groups = try groups(db, covered: covered, finest: finest, interval: limit == nil ? interval : nil)
        Self.sortByCost(&groups)
        var groupCount = groups.count
        var other: CostSummary.Group?
        if let limit, let interval {
            // Ranked on their totals (the coarsest tables, a row per day and value), only the
            // kept groups' series are read: a month of hourly rows of every user costs more than
            // the whole rest of the answer. The kept groups' figures are read again with their
            // series, from the same rows, so an answer adds up even while the daily table trails
            // the hourly one.
            if groups.count <= limit {
                groups = try self.groups(db, covered: covered, finest: finest, interval: interval)
                Self.sortByCost(&groups)
                groupCount = groups.count
            } else {
                groups = try self.groups(db, covered: covered, finest: finest, interval: interval, keys: groups[..<limit].map(\.key))
                Self.sortByCost(&groups)
                // The rest: every group's figures per bucket less the kept groups'.
                var series = try bucketTotals(db, covered: covered, finest: finest, interval: interval)
                for group in groups {
                    for bucket in group.series { series[bucket.start, default: CostFigures()].subtract(bucket.figures) }
                }
                let rest = Self.ordered(series.filter { $0.value != CostFigures() })
                other = CostSummary.Group(key: "", figures: CostFigures(summing: rest.map(\.figures)), series: rest)
            }
        } else if let limit, groups.count > limit {
            var series: [Int64: CostFigures] = [:]
            for group in groups[limit...] {
                for bucket in group.series { series[bucket.start, default: CostFigures()].add(bucket.figures) }
            }
            other = CostSummary.Group(key: "", figures: CostFigures(summing: groups[limit...].map(\.figures)), series: Self.ordered(series))
            groups.removeSubrange(limit...)
        }
        let total = CostFigures(summing: groups.map(\.figures) + (other.map { [$0.figures] } ?? []))
        let materializedAt = try JobLedger.materializedAt(by: ["rollup_1m", "cost_by_dimension_1h", "cost_by_dimension_1d"], db)
        return CostSummary(groups: groups, other: other, groupCount: groupCount, total: total, coveredSince: covered.lowerBound, coveredUntil: covered.upperBound,
                           materializedAt: materializedAt)
    }

    /// Costliest first; ties by requests, then by key.
    private static func sortByCost(_ groups: inout [CostSummary.Group]) {
        groups.sort { ($0.figures.costMicros, $0.figures.requests, $1.key) > ($1.figures.costMicros, $1.figures.requests, $0.key) }
    }

    private static func ordered(_ series: [Int64: CostFigures]) -> [(start: Int64, figures: CostFigures)] {
        series.sorted { $0.key < $1.key }.map { (start: $0.key, figures: $0.value) }
    }

    private static let figureSums = "sum(requests), sum(input_tokens), sum(output_tokens), sum(cached_tokens), sum(reasoning_tokens), "
        + "sum(cost_micros), sum(unpriced_requests)"

    /// Every group's figures over `covered`, with a series of `interval` buckets when asked;
    /// with `keys`, only those groups (read through the dimension tables' key index).
    private func groups(_ db: Database, covered: Range<Int64>, finest: Resolution, interval: Int64?,
                        keys only: [String]? = nil) throws -> [CostSummary.Group] {
        let bucket = interval.map { "bucket_ns - bucket_ns % \($0)" } ?? "0"
        let keyList = only.map { Array(repeating: "?", count: $0.count).joined(separator: ", ") }
        var groups: [CostSummary.Group] = []
        var keys = CostRows.Keys()
        for piece in Self.split(covered, seriesInterval: interval, finest: finest) where !piece.range.isEmpty {
            // The dimension tables hold one row per bucket and value, in bucket order (or in key
            // then bucket order for chosen keys): their rows are summed here rather than sorted
            // into groups by SQLite, which costs more.
            let sql = switch piece.resolution {
            case .minute:
                "SELECT \(groupBy.rawValue), \(bucket), \(Self.figureSums) FROM rollup_1m WHERE bucket_ns >= ? AND bucket_ns < ? AND model != '' "
                    + (keyList.map { "AND \(groupBy.rawValue) IN (\($0)) " } ?? "") + "GROUP BY 2, 1 ORDER BY 2"
            case .hour, .day:
                "SELECT key, \(bucket), requests, input_tokens, output_tokens, cached_tokens, reasoning_tokens, cost_micros, "
                    + "unpriced_requests FROM cost_by_dimension_1\(piece.resolution == .hour ? "h" : "d") "
                    + "WHERE dimension = '\(groupBy.rawValue)' AND bucket_ns >= ? AND bucket_ns < ? "
                    + (keyList.map { "AND key IN (\($0)) ORDER BY key, bucket_ns" } ?? "ORDER BY bucket_ns")
            }
            var arguments: StatementArguments = [piece.range.lowerBound, piece.range.upperBound]
            if let only { arguments += StatementArguments(only) }
            try CostRows.read(db, sql: sql, arguments: arguments) { key, start, values in
                let index = keys.index(of: key)
                if index == groups.count {
                    groups.append(CostSummary.Group(key: keys.text(of: index), figures: CostFigures(), series: []))
                }
                groups[index].figures.add(values)
                // Pieces come in time order and a group's rows in bucket order, so a bucket is new or the last one.
                guard interval != nil else { return }
                if groups[index].series.last?.start == start {
                    groups[index].series[groups[index].series.count - 1].figures.add(values)
                } else {
                    groups[index].series.append((start: start, figures: values))
                }
            }
        }
        return groups
    }

    /// Every group's figures together, per bucket of `interval`, summed over whichever
    /// dimension of the family has the fewest values (a handful of teams rather than every
    /// user): all of them add up to the same figures.
    private func bucketTotals(_ db: Database, covered: Range<Int64>, finest: Resolution, interval: Int64) throws -> [Int64: CostFigures] {
        let family = groupBy.family.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        let days = TimeBucket.floor(covered.lowerBound, UnixTime.day)..<TimeBucket.ceil(covered.upperBound, UnixTime.day)
        let dimension = try String.fetchOne(db, sql: "SELECT dimension FROM cost_by_dimension_1d WHERE dimension IN (\(family)) "
                                                + "AND bucket_ns >= ? AND bucket_ns < ? GROUP BY dimension ORDER BY count(*), dimension LIMIT 1",
                                            arguments: [days.lowerBound, days.upperBound]) ?? groupBy.rawValue
        var totals: [Int64: CostFigures] = [:]
        for piece in Self.split(covered, seriesInterval: interval, finest: finest) where !piece.range.isEmpty {
            // Grouped by the stored bucket, which the tables' keys keep in order (no sort).
            let sql = switch piece.resolution {
            case .minute:
                "SELECT '', bucket_ns, \(Self.figureSums) FROM rollup_1m WHERE bucket_ns >= ? AND bucket_ns < ? AND model != '' GROUP BY bucket_ns"
            case .hour, .day:
                "SELECT '', bucket_ns, \(Self.figureSums) FROM cost_by_dimension_1\(piece.resolution == .hour ? "h" : "d") "
                    + "WHERE dimension = ? AND bucket_ns >= ? AND bucket_ns < ? GROUP BY bucket_ns"
            }
            let arguments: StatementArguments = piece.resolution == .minute
                ? [piece.range.lowerBound, piece.range.upperBound] : [dimension, piece.range.lowerBound, piece.range.upperBound]
            try CostRows.read(db, sql: sql, arguments: arguments) { _, start, values in
                totals[TimeBucket.floor(start, interval), default: CostFigures()].add(values)
            }
        }
        return totals
    }

    /// `range` as whole days, then whole hours, then minutes, each from its own table. With a
    /// series, a coarser table is used only where its buckets fit the series' buckets; tables
    /// at `finest` or finer always fit (the range is whole buckets of `finest`).
    static func split(_ range: Range<Int64>, seriesInterval: Int64?, finest: Resolution = .minute)
        -> [(resolution: Resolution, range: Range<Int64>)] {
        func fits(_ resolution: Resolution) -> Bool {
            resolution <= finest || seriesInterval.map { $0 % resolution.width == 0 } ?? true
        }
        let dayStart = TimeBucket.ceil(range.lowerBound, Resolution.day.width), dayEnd = TimeBucket.floor(range.upperBound, Resolution.day.width)
        guard fits(.day), dayStart < dayEnd else { return hoursAndMinutes(range, fitsHour: fits(.hour)) }
        return hoursAndMinutes(range.lowerBound..<dayStart, fitsHour: fits(.hour)) + [(.day, dayStart..<dayEnd)]
            + hoursAndMinutes(dayEnd..<range.upperBound, fitsHour: fits(.hour))
    }

    private static func hoursAndMinutes(_ range: Range<Int64>, fitsHour: Bool) -> [(resolution: Resolution, range: Range<Int64>)] {
        guard !range.isEmpty else { return [] }
        let start = TimeBucket.ceil(range.lowerBound, Resolution.hour.width), end = TimeBucket.floor(range.upperBound, Resolution.hour.width)
        guard fitsHour, start < end else { return [(.minute, range)] }
        return [(.minute, range.lowerBound..<start), (.hour, start..<end), (.minute, end..<range.upperBound)]
    }
}

/// Rows of (key, bucket, seven figures) read through SQLite's C API: a month of hourly rows per
/// user is tens of thousands of rows, where a String, a dictionary lookup and GRDB's checked
/// column reads per row cost more than the rest of the summary.
enum CostRows {
    static func read(_ db: Database, sql: String, arguments: StatementArguments,
                     _ body: (UnsafeBufferPointer<UInt8>, Int64, CostFigures) throws -> Void) throws {
        let statement = try db.cachedStatement(sql: sql)
        try statement.setArguments(arguments)
        let handle = statement.sqliteStatement
        defer { sqlite3_reset(handle) }
        while true {
            let code = sqlite3_step(handle)
            if code == SQLITE_DONE { return }
            guard code == SQLITE_ROW else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql)
            }
            var values = CostFigures()
            values.requests = sqlite3_column_int64(handle, 2)
            values.inputTokens = sqlite3_column_int64(handle, 3)
            values.outputTokens = sqlite3_column_int64(handle, 4)
            values.cachedTokens = sqlite3_column_int64(handle, 5)
            values.reasoningTokens = sqlite3_column_int64(handle, 6)
            values.costMicros = sqlite3_column_int64(handle, 7)
            values.unpricedRequests = sqlite3_column_int64(handle, 8)
            let text = sqlite3_column_text(handle, 0)
            let key = UnsafeBufferPointer(start: text, count: text == nil ? 0 : Int(sqlite3_column_bytes(handle, 0)))
            try body(key, sqlite3_column_int64(handle, 1), values)
        }
    }

    /// Group numbers of keys in order of first appearance. Rows come by bucket with the keys of
    /// each bucket in order, so the next key is most often the one after the last (or, for
    /// chosen keys, the last again): those guesses are checked byte for byte before falling
    /// back to a dictionary.
    struct Keys {
        private var bytes: [[UInt8]] = []
        private var numbers: [String: Int] = [:]
        private var last = -1

        /// The key's number; a new key gets the next one.
        mutating func index(of key: UnsafeBufferPointer<UInt8>) -> Int {
            // Rows of chosen keys come key by key: the same key again is the other good guess.
            if last >= 0 && Self.equal(bytes[last], key) { return last }
            let guess = last + 1 < bytes.count ? last + 1 : 0
            if guess < bytes.count && Self.equal(bytes[guess], key) {
                last = guess
                return guess
            }
            let text = String(decoding: key, as: UTF8.self)
            if let known = numbers[text] {
                last = known
                return known
            }
            last = bytes.count
            numbers[text] = last
            bytes.append(Array(key))
            return last
        }

        func text(of index: Int) -> String {
            String(decoding: bytes[index], as: UTF8.self)
        }

        private static func equal(_ stored: [UInt8], _ key: UnsafeBufferPointer<UInt8>) -> Bool {
            guard stored.count == key.count else { return false }
            guard let address = key.baseAddress else { return true }  // both empty
            return stored.withUnsafeBufferPointer { memcmp($0.baseAddress!, address, key.count) == 0 }
        }
    }
}

/// What the costs API reads and changes: cost summaries from the materialized cost tables and
/// the budgets (tables of this module). The API holds this, never the database.
public struct CostReadModel: Sendable {
    let pool: DatabasePool
    public let budgets: BudgetBook

    public init(pool: DatabasePool) {
        self.pool = pool
        budgets = BudgetBook(pool: pool)
    }

    public func summary(_ query: CostSummaryQuery) async throws -> CostSummary {
        try await query.run(pool)
    }
}
