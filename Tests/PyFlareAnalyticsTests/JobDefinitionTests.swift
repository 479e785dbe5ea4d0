import PyFlareWire
import PyFlareQueries
import Testing
@testable import PyFlareAnalytics

/// Reading `.sql` job headers: the fields, their defaults, and errors that point at a line.
@Suite struct JobDefinitionTests {
    static let good = """
        -- Errors per service: a description line, with a colon: it is not a field.
        -- schedule: every 5m
        -- output: errors_by_service
        -- window: 1h
        -- source: rollup_1m

        SELECT bucket_ns, service, sum(errors) AS errors
        FROM rollup_1m GROUP BY 1, 2
        """

    @Test func readsTheHeader() throws {
        let job = try SQLJobFile.parse(Self.good, file: "x.sql", defaultName: "x")
        #expect(job.name == "x")
        #expect(job.schedule == .every(seconds: 300))
        guard case .sql(let sql) = job.work else { Issue.record("not a SQL job"); return }
        #expect(sql.output == "errors_by_service")
        #expect(sql.window == 3_600_000_000_000)
        #expect(sql.input == .jobs(["rollup_1m"]))
        #expect(sql.timeColumn == "bucket_ns")
        #expect(sql.statementLine == 7)
        #expect(sql.statement.hasPrefix("SELECT bucket_ns"))
    }

    @Test(arguments: [
        ("-- output: a\n-- window: 1h\nSELECT 1", 1, "schedule"),
        ("-- schedule: every 1m\n-- window: 1h\nSELECT 1", 1, "output"),
        ("-- schedule: sometimes\n-- output: a\n-- window: 1h\nSELECT 1", 1, "schedule"),
        ("-- schedule: every 1m\n-- output: a\n-- window: 0s\nSELECT 1", 3, "window"),
        ("-- schedule: every 1m\n-- output: traces\n-- window: 1h\nSELECT 1", 2, "table of the store"),
        ("-- schedule: every 1m\n-- output: a b\n-- window: 1h\nSELECT 1", 2, "not a table name"),
        ("-- schedule: every 1m\n-- output: a\n-- window: 1h\n-- source: spans!\nSELECT 1", 4, "source"),
        ("-- schedule: every 1m\n-- output: a\n-- window: 1h\n-- source: rollup_1h, spans\nSELECT 1", 4, "source"),
        ("-- schedule: every 1m\n-- schedule: every 2m\n-- output: a\n-- window: 1h\nSELECT 1", 2, "twice"),
        ("-- schedule: every 1m\n-- output: a\n-- window: 1h\n", 4, "no SQL statement"),
    ])
    func pointsAtTheProblem(text: String, line: Int, words: String) {
        #expect {
            _ = try SQLJobFile.parse(text, file: "bad.sql", defaultName: "bad")
        } throws: { error in
            guard let error = error as? JobDefinitionError else { return false }
            return error.file == "bad.sql" && error.line == line && error.message.contains(words)
        }
    }

    @Test func everyBuiltInQueryParses() throws {
        for query in BuiltInQuery.all {
            let job = try SQLJobFile.parse(query.text, file: query.file, defaultName: String(query.file.dropLast(4)))
            #expect(job.outputTable == job.name)
        }
    }

    @Test func durations() {
        #expect(DurationText.nanoseconds("90s") == 90_000_000_000)
        #expect(DurationText.nanoseconds("2w") == 1_209_600_000_000_000)
        #expect(DurationText.nanoseconds("1y") == nil)
        #expect(DurationText.nanoseconds("-1m") == nil)
        #expect(DurationText.nanoseconds("99999999999999d") == nil)
    }
}

/// Budget periods in UTC and the split of a summary's range over the rollup tables.
@Suite struct PeriodTests {
    static let second: Int64 = 1_000_000_000
    /// 2028-02-29T13:45:10Z, a Tuesday in a leap February.
    static let leapDay: Int64 = 1_835_444_710 * second

    @Test func periods() {
        let day: Int64 = 86_400 * Self.second
        let midnight = Self.leapDay - (Self.leapDay % day)
        #expect(Budget.Period.hourly.bounds(containing: Self.leapDay) == (Self.leapDay - Self.leapDay % 3_600_000_000_000)..<(Self.leapDay - Self.leapDay % 3_600_000_000_000 + 3_600_000_000_000))
        #expect(Budget.Period.daily.bounds(containing: Self.leapDay) == midnight..<midnight + day)
        // Monday 2028-02-28 to Monday 2028-03-06
        #expect(Budget.Period.weekly.bounds(containing: Self.leapDay) == midnight - day..<midnight + 6 * day)
        // 2028-02-01 to 2028-03-01: 29 days
        #expect(Budget.Period.monthly.bounds(containing: Self.leapDay) == midnight - 28 * day..<midnight + day)
        // December rolls over into the next year.
        let december: Int64 = 1_734_000_000 * Self.second   // 2024-12-12
        let bounds = Budget.Period.monthly.bounds(containing: december)
        #expect(bounds.lowerBound == 1_733_011_200 * Self.second && bounds.upperBound == 1_735_689_600 * Self.second)
    }

    @Test func forecastAtAConstantRate() {
        let budget = Budget(dimension: .global, value: nil, period: .daily, limitMicros: 10_000_000, alertThresholds: [0.5, 1], createdAt: 0)
        let period = Budget.Period.daily.bounds(containing: Self.leapDay)
        let status = BudgetStatus(budget: budget, period: period, spentMicros: 6_000_000, materializedAt: nil,
                                  now: period.lowerBound + (period.upperBound - period.lowerBound) / 4)
        #expect(status.forecastMicros == 24_000_000)
        #expect(status.state == .warning)
        #expect(status.remainingMicros == 4_000_000)
    }

    @Test func summaryRangesUseTheCoarsestTableThatFits() {
        let minute: Int64 = 60 * Self.second, hour = 60 * minute, day = 24 * hour
        let start = 20_000 * day + 3 * hour + 7 * minute
        let end = 20_003 * day + 5 * hour
        let pieces = CostSummaryQuery.split(start..<end, seriesInterval: nil).filter { !$0.range.isEmpty }
        #expect(pieces.map(\.resolution) == [.minute, .hour, .day, .hour])
        #expect(pieces.first!.range == start..<20_000 * day + 4 * hour)
        #expect(pieces.last!.range == 20_003 * day..<end)
        // the pieces tile the range
        #expect(pieces.map { $0.range.upperBound - $0.range.lowerBound }.reduce(0, +) == end - start)
        // an hourly series cannot take whole days from the daily table
        #expect(!CostSummaryQuery.split(start..<end, seriesInterval: hour).contains { $0.resolution == .day })
        // whole hours (user, feature, team) never fall back to minutes, whatever the series
        let hours = 20_000 * day + 3 * hour..<20_003 * day + 5 * hour
        #expect(CostSummaryQuery.split(hours, seriesInterval: 5 * minute, finest: .hour).filter { !$0.range.isEmpty }.map(\.resolution)
                == [.hour])
    }
}
