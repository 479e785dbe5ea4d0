import Foundation
import GRDB
import PyFlareStore
import PyFlareTesting
import PyFlareWire
import Testing
@testable import PyFlareAnalytics

/// A limited series reads its kept groups' rows by key and the rest as bucket totals less
/// them: it must answer exactly what one pass over every row answers, merged the old way.
struct CostSummaryTests {
    /// Three days and a ragged edge of minutes: hourly and daily dimension rows for user, team
    /// and model, minute rollups for model, each value with its own spend and random gaps.
    static func filledIndex(_ directory: TemporaryDirectory) throws -> (DatabasePool, Int64) {
        let pool = try SpanStore.openIndex(dataDirectory: directory.path)
        let start: Int64 = 1_764_000_000_000_000_000 / UnixTime.day * UnixTime.day
        var random = SystemRandomNumberGenerator()
        try pool.write { db in
            /// A row of `requests` calls; each figure follows from them, so a day's row is its hours' sum.
            func dimensionRow(_ table: String, _ bucket: Int64, _ dimension: String, _ key: String, _ requests: Int64, unpriced: Int64) throws {
                try db.execute(sql: "INSERT INTO \(table) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               arguments: [bucket, dimension, key, requests, requests * 900, requests * 200, requests * 10,
                                           requests, requests * 1_500, unpriced])
            }
            for day in 0..<3 {
                let dayStart = start + Int64(day) * UnixTime.day
                var daily: [[String]: (requests: Int64, unpriced: Int64)] = [:]
                for hour in 0..<24 {
                    let bucket = dayStart + Int64(hour) * UnixTime.hour
                    // Teams split the users' calls: the summary may total a bucket by team.
                    var teams: [String: (requests: Int64, unpriced: Int64)] = [:]
                    for (dimension, keys) in [("user", (0..<12).map { "user-\($0)" }), ("model", (0..<5).map { "model-\($0)" })] {
                        for (weight, key) in keys.enumerated() where Int.random(in: 0..<4, using: &random) > 0 {
                            let requests = Int64(weight + 1) * Int64.random(in: 1...9, using: &random)
                            let unpriced = Int64.random(in: 0...1, using: &random)
                            try dimensionRow("cost_by_dimension_1h", bucket, dimension, key, requests, unpriced: unpriced)
                            daily[[dimension, key], default: (0, 0)].requests += requests
                            daily[[dimension, key], default: (0, 0)].unpriced += unpriced
                            if dimension == "user" {
                                teams["team-\(weight % 3)", default: (0, 0)].requests += requests
                                teams["team-\(weight % 3)", default: (0, 0)].unpriced += unpriced
                            }
                        }
                    }
                    for (team, sums) in teams {
                        try dimensionRow("cost_by_dimension_1h", bucket, "team", team, sums.requests, unpriced: sums.unpriced)
                        daily[["team", team], default: (0, 0)].requests += sums.requests
                        daily[["team", team], default: (0, 0)].unpriced += sums.unpriced
                    }
                }
                for (name, sums) in daily {
                    try dimensionRow("cost_by_dimension_1d", dayStart, name[0], name[1], sums.requests, unpriced: sums.unpriced)
                }
            }
            // Minutes after the last whole hour, for model only (user has hour resolution).
            let edge = start + 3 * UnixTime.day
            for minute in 0..<50 {
                for model in 0..<5 where Int.random(in: 0..<3, using: &random) > 0 {
                    let requests = Int64(model + 1)
                    try db.execute(sql: "INSERT INTO rollup_1m VALUES (?, 'svc', ?, 'p', 'chat', 'prod', 'f', 'ok', ?, 0, ?, ?, ?, 0, 0, ?, ?, 0, 0, x'')",
                                   arguments: [edge + Int64(minute) * UnixTime.minute, "model-\(model)", requests, requests * 900,
                                               requests * 200, requests * 10, requests * 1_500, requests])
                }
            }
        }
        return (pool, start)
    }

    @Test(arguments: [("user", UnixTime.hour), ("user", UnixTime.day), ("team", UnixTime.hour), ("model", UnixTime.hour), ("model", UnixTime.day)])
    func aLimitedSeriesEqualsTheFullOneMerged(dimension: String, interval: Int64) async throws {
        let directory = try TemporaryDirectory(prefix: "cost-summary")
        defer { directory.remove() }
        let (pool, start) = try Self.filledIndex(directory)
        let groupBy = try #require(CostSummaryQuery.GroupBy(rawValue: dimension))
        // From the middle of the first day to the minutes after the third, ragged on both ends.
        let since = start + 7 * UnixTime.hour + 13 * UnixTime.minute, until = start + 3 * UnixTime.day + 41 * UnixTime.minute
        let full = try await CostSummaryQuery(groupBy: groupBy, since: since, until: until, interval: interval).run(pool)
        #expect(full.other == nil && full.groups.count == full.groupCount && full.groupCount > 2)
        for limit in [1, 3, full.groupCount, full.groupCount + 4] {
            let limited = try await CostSummaryQuery(groupBy: groupBy, since: since, until: until, interval: interval, limit: limit).run(pool)
            let kept = min(limit, full.groupCount)
            #expect(limited.groupCount == full.groupCount)
            #expect(limited.total == full.total)
            #expect(limited.groups.map(\.key) == full.groups.prefix(kept).map(\.key))
            for (mine, theirs) in zip(limited.groups, full.groups) {
                #expect(mine.figures == theirs.figures)
                #expect(mine.series.map(\.start) == theirs.series.map(\.start))
                #expect(mine.series.map(\.figures) == theirs.series.map(\.figures))
            }
            guard kept < full.groupCount else {
                #expect(limited.other == nil)
                continue
            }
            var figures = CostFigures()
            var series: [Int64: CostFigures] = [:]
            for group in full.groups[kept...] {
                figures.add(group.figures)
                for bucket in group.series { series[bucket.start, default: CostFigures()].add(bucket.figures) }
            }
            let other = try #require(limited.other)
            #expect(other.figures == figures)
            #expect(other.series.map(\.start) == series.keys.sorted())
            #expect(other.series.map(\.figures) == series.keys.sorted().map { series[$0]! })
        }
    }

    /// The daily table trails the hourly one by up to a job cycle: a limited series still adds
    /// up, its figures summed from the series it answers.
    @Test func aLimitedSeriesAddsUpWhileTheDailyTableTrails() async throws {
        let directory = try TemporaryDirectory(prefix: "cost-summary")
        defer { directory.remove() }
        let (pool, start) = try Self.filledIndex(directory)
        try await pool.write { db in
            try db.execute(sql: "UPDATE cost_by_dimension_1d SET requests = requests / 2, cost_micros = cost_micros / 2 WHERE bucket_ns = ?",
                           arguments: [start + 2 * UnixTime.day])
        }
        let since = start + 5 * UnixTime.hour, until = start + 3 * UnixTime.day
        let full = try await CostSummaryQuery(groupBy: .user, since: since, until: until, interval: UnixTime.hour).run(pool)
        let limited = try await CostSummaryQuery(groupBy: .user, since: since, until: until, interval: UnixTime.hour, limit: 4).run(pool)
        let other = try #require(limited.other)
        for group in limited.groups + [other] {
            #expect(group.figures == CostFigures(summing: group.series.map(\.figures)), "\(group.key)")
        }
        #expect(limited.total == CostFigures(summing: limited.groups.map(\.figures) + [other.figures]))
        #expect(limited.total == full.total)
    }
}
