import Foundation
import GRDB
public import Logging
public import PyFlareStore

/// What a run of any job is given.
public struct JobContext: Sendable {
    public let pool: DatabasePool
    public let engine: SQLEngine
    /// Unix nanoseconds when the run began.
    public let now: Int64
    public let settings: SchedulerSettings
    public let logger: Logger

    public init(pool: DatabasePool, engine: SQLEngine, now: Int64, settings: SchedulerSettings, logger: Logger) {
        self.pool = pool
        self.engine = engine
        self.now = now
        self.settings = settings
        self.logger = logger
    }
}

/// One incremental run of a `.sql` job.
///
/// The range to recompute is every window that may have changed since the last run: from
/// the watermark minus the lateness margin, widened to any older time the new input
/// reaches (segments sealed since the last run, records not sealed yet, or the ranges the
/// source job replaced), up to now. Each piece of the range is replaced in one transaction
/// (delete its rows, insert the statement's), so rerunning a range changes nothing and the
/// output after any number of runs equals one full recomputation.
struct SQLJobRunner {
    let name: String
    let job: SQLJob
    /// The SQL jobs whose outputs this one reads, if any.
    var sources: [SQLJob] = []

    /// Windows recomputed by one statement: bounds the rows held in memory.
    var windowsPerStatement: Int64 { 1_440 }

    func run(_ context: JobContext) async throws -> JobOutcome {
        let ledger = JobLedger(pool: context.pool)
        let position = try await ledger.position(of: name)
        let (range, input) = try await pendingRange(position, context)
        let newPosition = JobLedger.Position(watermark: context.now, input: input)
        guard let range else { return JobOutcome(rows: 0, position: newPosition) }

        let start = TimeBucket.floor(range.lowerBound, job.window)
        let end = TimeBucket.ceil(range.upperBound, job.window)
        var rows = 0
        var chunkStart = start
        while chunkStart < end {
            let chunkEnd = min(end, chunkStart + job.window * windowsPerStatement)
            rows += try await replace(chunkStart..<chunkEnd, context)
            chunkStart = chunkEnd
        }
        return JobOutcome(rows: rows, window: start..<end, position: newPosition)
    }

    /// The time range whose windows may have changed, and the input position it covers.
    func pendingRange(_ position: JobLedger.Position, _ context: JobContext) async throws -> (Range<Int64>?, Int64) {
        var lower = Int64.max, upper = Int64.min
        func include(_ time: Int64?, _ end: Int64?) {
            if let time { lower = min(lower, time) }
            if let end { upper = max(upper, end) }
        }
        if let watermark = position.watermark {
            include(watermark - context.settings.lateness, context.now)
        }
        let input: Int64
        switch job.input {
        case .records(let kind):
            // The unsealed snapshot first: what it misses was sealed since, so the catalog has it.
            let unsealed = try await context.engine.unsealedTimeRanges(of: kind)
            let firstRun = position.watermark == nil
            (input, lower, upper) = try await context.pool.read { [lower, upper] db in
                let sealed = try Int64.fetchOne(db, sql: "SELECT value FROM store_state WHERE key = 'sealed_wal_sequence'") ?? 0
                var lower = lower, upper = upper
                for record in unsealed where record.sequence > UInt64(max(0, sealed)) {
                    lower = min(lower, record.times.lowerBound)
                    upper = max(upper, record.times.upperBound + 1)
                }
                let highest = try Int64.fetchOne(db, sql: "SELECT coalesce(max(id), 0) FROM segments") ?? 0
                let row = try Row.fetchOne(db, sql: """
                    SELECT min(min_time_ns) AS low, max(max_time_ns) AS high FROM segments
                    WHERE kind = ? AND state = 'active' AND id > ?
                    """, arguments: [kind.name, firstRun ? 0 : position.input])
                let low: Int64? = row?["low"], high: Int64? = row?["high"]
                return (highest, min(lower, low ?? .max), max(upper, high.map { $0 + 1 } ?? .min))
            }
        case .jobs(let sources):
            // Run ids grow across all jobs, so one position covers every source.
            let sinceRun = position.watermark == nil ? 0 : position.input
            let sourceJobs = position.watermark == nil ? self.sources : []
            (input, lower, upper) = try await context.pool.read { [lower, upper] db in
                var lower = lower, upper = upper
                // A first run covers everything its sources hold: their run history is pruned,
                // and a job added to a running store must still see all the past.
                for source in sourceJobs where try db.tableExists(source.output) {
                    let extent = try Row.fetchOne(db, sql: "SELECT min(\"\(source.timeColumn)\"), max(\"\(source.timeColumn)\") FROM \"\(source.output)\"")
                    if let low = extent?[0] as Int64?, let high = extent?[1] as Int64? {
                        lower = min(lower, low)
                        upper = max(upper, high + source.window)
                    }
                }
                let jobs = sources.map { _ in "?" }.joined(separator: ", ")
                let row = try Row.fetchOne(db, sql: """
                    SELECT max(id) AS last, min(window_start_ns) AS low, max(window_end_ns) AS high FROM job_runs
                    WHERE job IN (\(jobs)) AND status = 'ok' AND id > ? AND window_start_ns IS NOT NULL
                    """, arguments: StatementArguments(sources) + [sinceRun])
                // A source run still going (another process's) has a lower id than runs that
                // finished since: stop the position before it, so the next run reads it. A run
                // older than a stale lease died and is not waited for.
                let unfinished = try Int64.fetchOne(db, sql: """
                    SELECT min(id) FROM job_runs WHERE job IN (\(jobs)) AND status = 'running' AND id > ? AND started_ns > ?
                    """, arguments: StatementArguments(sources) + [sinceRun, context.now - context.settings.staleLease])
                let last: Int64? = row?["last"], low: Int64? = row?["low"], high: Int64? = row?["high"]
                let position = min(last ?? sinceRun, unfinished.map { $0 - 1 } ?? .max)
                return (max(position, sinceRun), min(lower, low ?? .max), max(upper, high ?? .min))
            }
        }
        return (lower < upper ? lower..<upper : nil, input)
    }

    /// Recomputes `window`: runs the statement for it and swaps its rows in one transaction.
    func replace(_ window: Range<Int64>, _ context: JobContext) async throws -> Int {
        let parameters: [String: SQLValue] = [
            "window_start_ns": .integer(window.lowerBound), "window_end_ns": .integer(window.upperBound),
            "window_ns": .integer(job.window),
        ]
        let result = try await context.engine.run(job.statement, parameters: .named(parameters), limits: context.settings.jobLimits)
        guard let timeIndex = result.columns.firstIndex(of: job.timeColumn) else {
            throw JobRunError("the statement returns no \(job.timeColumn) column (the output's time column)")
        }
        for column in result.columns where !JobNames.isIdentifier(column) {
            throw JobRunError("the result column '\(column)' is not a valid column name; give it an alias with AS")
        }
        for row in result.rows {
            guard case .integer(let time) = row[timeIndex], window.contains(time) else {
                throw JobRunError("a row has \(job.timeColumn) = \(row[timeIndex].text), outside the window [\(window.lowerBound), \(window.upperBound)); "
                    + "the statement must keep to :window_start_ns and :window_end_ns")
            }
        }
        let output = job.output, timeColumn = job.timeColumn, columns = result.columns, rows = result.rows
        try await context.pool.write { db in
            let quoted = columns.map { "\"\($0)\"" }
            // A user job's first run creates its output; the built-in outputs come from the migrations.
            if try !db.tableExists(output) {
                try db.execute(sql: "CREATE TABLE \"\(output)\" (\(quoted.joined(separator: ", ")))")
                try db.execute(sql: "CREATE INDEX \"\(output)_by_\(timeColumn)\" ON \"\(output)\" (\"\(timeColumn)\")")
            }
            try db.execute(sql: "DELETE FROM \"\(output)\" WHERE \"\(timeColumn)\" >= ? AND \"\(timeColumn)\" < ?",
                           arguments: [window.lowerBound, window.upperBound])
            let insert = try db.makeStatement(sql: """
                INSERT INTO "\(output)" (\(quoted.joined(separator: ", "))) VALUES (\(Array(repeating: "?", count: columns.count).joined(separator: ", ")))
                """)
            for row in rows {
                try insert.execute(arguments: StatementArguments(row.map(\.databaseValue)))
            }
        }
        return rows.count
    }
}

/// A run that could not do its work, with the reason.
struct JobRunError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}

extension SQLValue {
    var databaseValue: DatabaseValue {
        switch self {
        case .null: .null
        case .integer(let value): value.databaseValue
        case .real(let value): value.databaseValue
        case .text(let value): value.databaseValue
        case .blob(let bytes): Data(bytes).databaseValue
        }
    }
}
