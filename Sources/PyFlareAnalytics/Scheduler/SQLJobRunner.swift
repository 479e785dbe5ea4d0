import Foundation
import GRDB
import PyFlareWire
public import Logging
public import PyFlareStore
public import PyFlareSQL

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
        let (range, input) = try await job.input.pendingRange(after: position, sources: sources, window: job.window, context)
        let newPosition = JobLedger.Position(watermark: context.now, input: input)
        guard let range else { return JobOutcome(rows: 0, position: newPosition) }

        let start = TimeBucket.floor(range.lowerBound, job.window)
        let end = TimeBucket.ceil(range.upperBound, job.window)
        var rows = 0
        let initial = job.window * windowsPerStatement
        let windows = AdaptiveWindows(initial: initial, maximum: max(initial, 366 * UnixTime.day / job.window * job.window))
        try await windows.walk(start..<end) { chunk in
            let written = try await replace(chunk, context)
            rows += written
            return written
        }
        return JobOutcome(rows: rows, window: start..<end, position: newPosition)
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

    var string: String? {
        if case .text(let text) = self { text } else { nil }
    }

    var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .real(let value): Int64(exactly: value.rounded())
        default: nil
        }
    }

    var real: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .real(let value): value
        default: nil
        }
    }
}
