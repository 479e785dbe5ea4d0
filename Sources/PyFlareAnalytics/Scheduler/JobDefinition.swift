import PyFlareWire
import Foundation
public import PyFlareStore

/// A job of the scheduler: what it runs, when, and where its output goes.
public struct JobDefinition: Sendable {
    public enum Work: Sendable {
        case sql(SQLJob)
        case swift(any AnalyticsJob)
    }

    public var name: String
    public var schedule: JobSchedule
    /// The `.sql` file the job came from, or `built-in`.
    public var source: String
    public var work: Work

    public var kind: String {
        switch work {
        case .sql: "sql"
        case .swift: "swift"
        }
    }

    public var outputTable: String? {
        switch work {
        case .sql(let job): job.output
        case .swift(let job): job.outputTable
        }
    }
}

/// What an incremental SQL job reads new data from.
public enum JobInput: Sendable, Equatable, CustomStringConvertible {
    /// Records of the store (`spans`, `logs`, `metric_points`): new data is what the segment
    /// catalog and the unsealed records gained since the last run.
    case records(SegmentKind)
    /// The outputs of other jobs: new data is the ranges their runs replaced.
    case jobs([String])

    public var description: String {
        switch self {
        case .records(let kind): kind.name
        case .jobs(let names): names.joined(separator: ", ")
        }
    }

    /// The jobs whose outputs this input reads.
    var sourceJobs: [String] {
        if case .jobs(let names) = self { names } else { [] }
    }
}

/// A `.sql` job: one SELECT whose rows replace the output's rows of the window it covers.
///
/// The statement gets `:window_start_ns`, `:window_end_ns` (the range being recomputed,
/// whole windows) and `:window_ns`; every row it returns must have its `timeColumn` in
/// that range, so that replacing the range's rows makes any number of runs equal one full
/// recomputation.
public struct SQLJob: Sendable {
    public var statement: String
    public var output: String
    /// The width of the output's time buckets, in nanoseconds; recomputed ranges are whole windows.
    public var window: Int64
    public var input: JobInput
    public var timeColumn: String
    /// The line of the file the statement starts on, to place SQLite's errors in the file.
    public var statementLine: Int
}

/// A job written in Swift, for work SQL cannot do (budgets, statistics).
public protocol AnalyticsJob: Sendable {
    var name: String { get }
    var schedule: JobSchedule { get }
    var outputTable: String? { get }
    /// Does one run; returns the rows it wrote and, for an incremental job, the window it
    /// replaced and its new position (read back with `JobLedger.position(of:)`).
    func run(_ context: JobContext) async throws -> JobOutcome
}

/// A job file that could not be read: where and why.
public struct JobDefinitionError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String

    public init(file: String, line: Int, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { "\(file):\(line): \(message)" }
}

/// Reads the header comments of a `.sql` job:
///
/// ```sql
/// -- Spans per minute by service and model.
/// -- schedule: every 1m
/// -- output: rollup_1m
/// -- window: 1m
/// -- source: spans
/// SELECT …
/// ```
///
/// `schedule` (`every 30s|5m|1h|1d`, a cron expression or `@hourly`…), `output` and `window`
/// are required; `source` (`spans`, `logs`, `metric_points` or the name of another job,
/// default `spans`), `time_column` (default `bucket_ns`) and `name` (default: the file name)
/// are optional. Other comment lines describe the job.
enum SQLJobFile {
    static let keys: Set<String> = ["schedule", "output", "window", "source", "time_column", "name"]

    static func parse(_ text: String, file: String, defaultName: String) throws(JobDefinitionError) -> JobDefinition {
        var fields: [String: (value: String, line: Int)] = [:]
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var statementLine = lines.count + 1
        for (offset, rawLine) in lines.enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            guard line.hasPrefix("--") else {
                statementLine = offset + 1
                break
            }
            let comment = line.dropFirst(2).trimmingCharacters(in: .whitespaces)
            guard let colon = comment.firstIndex(of: ":") else { continue }
            let key = comment[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            // Other comment lines, colons and all, describe the job.
            guard keys.contains(key) else { continue }
            guard fields[key] == nil else {
                throw JobDefinitionError(file: file, line: offset + 1, "'\(key)' is given twice")
            }
            fields[key] = (comment[comment.index(after: colon)...].trimmingCharacters(in: .whitespaces), offset + 1)
        }
        let statement = lines.dropFirst(statementLine - 1).joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !statement.isEmpty else {
            throw JobDefinitionError(file: file, line: max(1, min(statementLine, lines.count)), "the file has no SQL statement after its header")
        }

        func required(_ key: String) throws(JobDefinitionError) -> (value: String, line: Int) {
            guard let field = fields[key], !field.value.isEmpty else {
                throw JobDefinitionError(file: file, line: 1, "the header has no '-- \(key): …' line")
            }
            return field
        }

        let scheduleField = try required("schedule")
        let schedule: JobSchedule
        do {
            schedule = try JobSchedule.parse(scheduleField.value)
        } catch {
            throw JobDefinitionError(file: file, line: scheduleField.line, "schedule: \(error)")
        }
        let output = try required("output")
        guard JobNames.isIdentifier(output.value) else {
            throw JobDefinitionError(file: file, line: output.line, "output '\(output.value)' is not a table name (letters, digits and _)")
        }
        guard !JobNames.reservedTables.contains(output.value.lowercased()), !output.value.lowercased().hasPrefix("sqlite_") else {
            throw JobDefinitionError(file: file, line: output.line, "output '\(output.value)' is a table of the store; choose another name")
        }
        let windowField = try required("window")
        guard let window = DurationText.nanoseconds(windowField.value), window >= 1_000_000_000 else {
            throw JobDefinitionError(file: file, line: windowField.line,
                                     "window '\(windowField.value)' must be a duration of at least a second, such as 1m, 1h or 1d")
        }
        var input = JobInput.records(.spans)
        if let source = fields["source"] {
            switch source.value {
            case "spans": input = .records(.spans)
            case "logs": input = .records(.logs)
            case "metric_points": input = .records(.metricPoints)
            default:
                let names = source.value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                guard names.allSatisfy(JobNames.isIdentifier), Set(names).isDisjoint(with: ["spans", "logs", "metric_points"]) else {
                    throw JobDefinitionError(file: file, line: source.line,
                                             "source '\(source.value)' must be spans, logs, metric_points or the names of other jobs, separated by commas")
                }
                input = .jobs(names)
            }
        }
        let timeColumn = fields["time_column"]?.value ?? "bucket_ns"
        guard JobNames.isIdentifier(timeColumn) else {
            throw JobDefinitionError(file: file, line: fields["time_column"]?.line ?? 1, "time_column '\(timeColumn)' is not a column name")
        }
        let name = fields["name"]?.value ?? defaultName
        guard JobNames.isIdentifier(name) else {
            throw JobDefinitionError(file: file, line: fields["name"]?.line ?? 1, "job name '\(name)' must be letters, digits and _")
        }
        let job = SQLJob(statement: statement, output: output.value, window: window, input: input,
                         timeColumn: timeColumn, statementLine: statementLine)
        return JobDefinition(name: name, schedule: schedule, source: file, work: .sql(job))
    }
}

enum JobNames {
    /// Tables of the store and of the scheduler itself, which no job may write.
    static let reservedTables: Set<String> = [
        "segments", "trace_index", "traces", "store_state", "schema_migrations", "metric_names",
        "jobs", "job_runs", "budgets", "budget_alerts", "pricing_overrides", "spans", "logs", "metric_points",
        "failure_templates", "failure_cluster_members", "rca_slices", "rca_patterns",
        "evaluations", "drift_scores", "drift_references",
        "segment_deletions", "retention_policy", "compaction_runs",
    ]

    static func isIdentifier(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
        return text.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }
}
