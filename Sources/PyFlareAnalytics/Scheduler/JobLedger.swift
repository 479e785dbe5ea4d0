import Foundation
import PyFlareModel
public import GRDB

/// The scheduler's bookkeeping in `index.db`: the `jobs` rows (watermarks and the run lease)
/// and the `job_runs` history.
public struct JobLedger: Sendable {
    public let pool: DatabasePool
    /// Runs kept per job; older ones are deleted as new ones finish.
    static let keptRuns = 500

    public init(pool: DatabasePool) {
        self.pool = pool
    }

    /// When the last successful run of any of `jobs` finished: the `materialized_at` of what they wrote.
    public static func materializedAt(by jobs: [String], _ db: Database) throws -> Int64? {
        try Int64.fetchOne(db, sql: """
            SELECT max(finished_ns) FROM job_runs WHERE status = 'ok' AND job IN (\(jobs.map { _ in "?" }.joined(separator: ", ")))
            """, arguments: StatementArguments(jobs))
    }

    /// Where the last successful run of a job left off.
    public struct Position: Sendable, Equatable {
        public var watermark: Int64?
        public var input: Int64
    }

    /// One row of `GET /api/v1/jobs`.
    public struct JobStatus: Sendable {
        public var name: String
        public var kind: String
        public var source: String
        public var schedule: String
        public var outputTable: String?
        public var watermark: Int64?
        public var runningSince: Int64?
        public var lastRun: RunRecord?
    }

    public struct RunRecord: Sendable {
        public var id: Int64
        public var job: String
        public var trigger: String
        public var status: String
        public var started: Int64
        public var finished: Int64?
        public var rows: Int64?
        public var windowStart: Int64?
        public var windowEnd: Int64?
        public var error: String?

        init(_ row: Row) {
            id = row["id"]
            job = row["job"]
            trigger = row["trigger"]
            status = row["status"]
            started = row["started_ns"]
            finished = row["finished_ns"]
            rows = row["rows_written"]
            windowStart = row["window_start_ns"]
            windowEnd = row["window_end_ns"]
            error = row["error"]
        }
    }

    /// Records the jobs known now; jobs of earlier starts keep their rows and history.
    public func register(_ jobs: [JobDefinition], now: Int64) async throws {
        try await pool.write { db in
            for job in jobs {
                try db.execute(sql: """
                    INSERT INTO jobs (name, kind, source, schedule, output_table, updated_at_ns) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, source = excluded.source,
                        schedule = excluded.schedule, output_table = excluded.output_table, updated_at_ns = excluded.updated_at_ns
                    """, arguments: [job.name, job.kind, job.source, job.schedule.description, job.outputTable, now])
            }
        }
    }

    public func position(of job: String) async throws -> Position {
        try await pool.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT watermark_ns, input_position FROM jobs WHERE name = ?", arguments: [job])
            return Position(watermark: row?["watermark_ns"], input: row?["input_position"] ?? 0)
        }
    }

    /// Takes the job's run lease for `owner`; false when another run holds a lease younger
    /// than `staleAfter` nanoseconds (a lease that old belongs to a run that died).
    public func acquire(_ job: String, owner: String, now: Int64, staleAfter: Int64) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: """
                UPDATE jobs SET running_since_ns = ?, running_owner = ?
                WHERE name = ? AND (running_since_ns IS NULL OR running_since_ns < ? OR running_owner = ?)
                """, arguments: [now, owner, job, now - staleAfter, owner])
            return db.changesCount == 1
        }
    }

    public func release(_ job: String, owner: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE jobs SET running_since_ns = NULL, running_owner = NULL WHERE name = ? AND running_owner = ?",
                           arguments: [job, owner])
        }
    }

    /// Drops the leases `owner` left behind (a server restarting after a crash).
    public func releaseAll(owner: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE jobs SET running_since_ns = NULL, running_owner = NULL WHERE running_owner = ?", arguments: [owner])
            try db.execute(sql: """
                UPDATE job_runs SET status = 'error', finished_ns = started_ns, error = 'the process running it stopped'
                WHERE status = 'running' AND job NOT IN (SELECT name FROM jobs WHERE running_since_ns IS NOT NULL)
                """)
        }
    }

    public func beginRun(_ job: String, trigger: JobTrigger, now: Int64) async throws -> Int64 {
        try await pool.write { db in
            try db.execute(sql: "INSERT INTO job_runs (job, trigger, status, started_ns) VALUES (?, ?, 'running', ?)",
                           arguments: [job, trigger.rawValue, now])
            return db.lastInsertedRowID
        }
    }

    /// Ends a run; a successful one moves the job's position.
    public func finishRun(_ id: Int64, job: String, now: Int64, outcome: Result<JobOutcome, any Error>) async throws {
        try await pool.write { db in
            switch outcome {
            case .success(let result):
                try db.execute(sql: """
                    UPDATE job_runs SET status = 'ok', finished_ns = ?, rows_written = ?, window_start_ns = ?, window_end_ns = ?
                    WHERE id = ?
                    """, arguments: [now, result.rows, result.window?.lowerBound, result.window?.upperBound, id])
                if let position = result.position {
                    try db.execute(sql: "UPDATE jobs SET watermark_ns = ?, input_position = ? WHERE name = ?",
                                   arguments: [position.watermark, position.input, job])
                }
            case .failure(let error) where error is CancellationError:
                try db.execute(sql: "UPDATE job_runs SET status = 'cancelled', finished_ns = ?, error = ? WHERE id = ?",
                               arguments: [now, "the server shut down during the run", id])
            case .failure(let error):
                try db.execute(sql: "UPDATE job_runs SET status = 'error', finished_ns = ?, error = ? WHERE id = ?",
                               arguments: [now, (error as? any ClientDescribedError)?.clientMessage ?? "\(error)", id])
            }
            try db.execute(sql: """
                DELETE FROM job_runs WHERE job = :job
                AND id < (SELECT id FROM job_runs WHERE job = :job ORDER BY id DESC LIMIT 1 OFFSET :kept)
                """, arguments: ["job": job, "kept": Self.keptRuns - 1])
        }
    }

    public func jobs() async throws -> [JobStatus] {
        // The two tables share no column name, so one row carries the job and its last run.
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT j.*, r.* FROM jobs j
                LEFT JOIN job_runs r ON r.id = (SELECT max(id) FROM job_runs WHERE job = j.name)
                ORDER BY j.name
                """).map { row in
                let lastRun = (row["id"] as Int64?) == nil ? nil : RunRecord(row)
                return JobStatus(name: row["name"], kind: row["kind"], source: row["source"], schedule: row["schedule"],
                                 outputTable: row["output_table"], watermark: row["watermark_ns"],
                                 runningSince: row["running_since_ns"], lastRun: lastRun)
            }
        }
    }

    public func runs(of job: String, limit: Int) async throws -> [RunRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM job_runs WHERE job = ? ORDER BY id DESC LIMIT ?", arguments: [job, limit])
                .map(RunRecord.init)
        }
    }

    /// When a job last started a run (any outcome), to know when it is due again.
    public func lastStarted(_ job: String) async throws -> Int64? {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT max(started_ns) FROM job_runs WHERE job = ?", arguments: [job])
        }
    }
}

/// Who asked for a run.
public enum JobTrigger: String, Sendable {
    case schedule
    case api
    case command
}

/// What a run did.
public struct JobOutcome: Sendable {
    public var rows: Int
    /// The output range replaced, if any.
    public var window: Range<Int64>?
    /// The job's new position; nil leaves it.
    public var position: JobLedger.Position?

    public init(rows: Int, window: Range<Int64>? = nil, position: JobLedger.Position? = nil) {
        self.rows = rows
        self.window = window
        self.position = position
    }
}
