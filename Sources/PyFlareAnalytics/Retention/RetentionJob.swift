import Foundation
import PyFlareModel
public import GRDB
import Logging
public import PyFlareStore
import PyFlareWire

/// What `retention` in the configuration sets: the policy, when the job runs, how compaction sizes its work.
public struct RetentionSettings: Sendable, Equatable {
    public var schedule = JobSchedule.every(seconds: 600)
    public var policy = RetentionPolicy()
    public var compaction = CompactionSettings()

    public init() {}
}

/// A table of materialized outputs and the column its rows' times are in.
public struct MaterializedTable: Sendable, Equatable {
    public var name: String
    public var timeColumn: String

    public init(name: String, timeColumn: String) {
        self.name = name
        self.timeColumn = timeColumn
    }

    /// The Swift jobs' outputs and the tables of budgets and RCA results; the SQL jobs' (rollups,
    /// cost summaries, the user's own) come from the catalog.
    public static let builtIn: [MaterializedTable] = [
        .init(name: "evaluations", timeColumn: "time_ns"),
        .init(name: "failure_cluster_members", timeColumn: "time_ns"),
        .init(name: "drift_scores", timeColumn: "window_end_ns"),
        .init(name: "rca_slices", timeColumn: "window_end_ns"),
        .init(name: "rca_patterns", timeColumn: "last_detected_ns"),
        .init(name: "budget_alerts", timeColumn: "fired_at_ns"),
    ]
}

/// The retention policy in force: the one set through `PUT /api/v1/retention` (kept in the
/// index, so it outlives restarts), else the configuration's.
public struct RetentionPolicies: Sendable {
    public let pool: DatabasePool
    public let configured: RetentionPolicy

    public init(pool: DatabasePool, configured: RetentionPolicy) {
        self.pool = pool
        self.configured = configured
    }

    /// The policy and where it comes from: `api` or `config`.
    public func current() async throws -> (policy: RetentionPolicy, source: String) {
        let stored = try await pool.read { db in try String.fetchOne(db, sql: "SELECT policy FROM retention_policy WHERE id = 1") }
        guard let stored else { return (configured, "config") }
        do {
            return (try RetentionPolicy.parse(try JSONValue.parse(Array(stored.utf8)), base: configured), "api")
        } catch {
            // Written by this code, so only a hand edit gets here: the configuration is the safe side.
            return (configured, "config")
        }
    }

    public func replace(with policy: RetentionPolicy) async throws {
        let json = String(decoding: policy.json, as: UTF8.self)
        try await pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO retention_policy (id, policy, updated_ns) VALUES (1, ?, ?)",
                           arguments: [json, UnixTime.nowNanoseconds()])
        }
    }

    /// Back to the configuration's policy.
    public func reset() async throws {
        try await pool.write { db in try db.execute(sql: "DELETE FROM retention_policy") }
    }
}

/// The scheduled job `retention`: compacts and expires segments, prunes materialized
/// outputs past their age, and gives the index's free pages back. Each run is recorded in
/// `compaction_runs` with its report.
public struct RetentionJob: AnalyticsJob {
    public static let jobName = "retention"
    public let name = jobName
    public let schedule: JobSchedule
    public var outputTable: String? { nil }
    let compactor: SegmentCompactor
    public let policies: RetentionPolicies
    let settings: RetentionSettings
    let outputs: [MaterializedTable]
    let disk: DiskSpaceGuard?

    public init(compactor: SegmentCompactor, policies: RetentionPolicies, settings: RetentionSettings,
                outputs: [MaterializedTable], disk: DiskSpaceGuard?) {
        schedule = settings.schedule
        self.compactor = compactor
        self.policies = policies
        self.settings = settings
        self.outputs = outputs
        self.disk = disk
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        let report = try await compact(trigger: .schedule, dryRun: false, now: context.now)
        return JobOutcome(rows: report.actions.count + report.outputRowsDeleted.values.reduce(0, +))
    }

    /// A compaction asked for now (API, command): a dry run at once, a real one under the job's
    /// lease, so it never overlaps a scheduled run; nil when another run holds the lease.
    public func compact(trigger: JobTrigger, dryRun: Bool, leasedFrom scheduler: Scheduler) async throws -> CompactionReport? {
        if dryRun { return try await compact(trigger: trigger, dryRun: true) }
        return try await scheduler.withLease(name) { try await compact(trigger: trigger, dryRun: false) }
    }

    /// One compaction, recorded in `compaction_runs`; a dry run plans and changes nothing else.
    public func compact(trigger: JobTrigger, dryRun: Bool, now: Int64 = UnixTime.nowNanoseconds()) async throws -> CompactionReport {
        let pool = policies.pool
        let runID = try await pool.write { db in
            try db.execute(sql: "INSERT INTO compaction_runs (trigger, dry_run, started_ns) VALUES (?, ?, ?)",
                           arguments: [trigger.rawValue, dryRun, now])
            return db.lastInsertedRowID
        }
        do {
            let policy = try await policies.current().policy
            let disk = disk
            var report = try await compactor.run(policy: policy, settings: settings.compaction, now: now, dryRun: dryRun,
                                                 canWrite: { disk.map { !$0.check() } ?? true })
            report.outputRowsDeleted = try await pruneOutputs(policy: policy, now: now, dryRun: dryRun)
            if !dryRun, !Task.isCancelled { report.indexBytesReclaimed = try await compactor.vacuumIndex() }
            try await finish(runID, report: report, error: nil)
            return report
        } catch {
            try? await finish(runID, report: nil, error: (error as? any ClientDescribedError)?.clientMessage ?? "\(error)")
            throw error
        }
    }

    /// Deletes (or, dry, counts) the rows of each materialized table older than its age.
    private func pruneOutputs(policy: RetentionPolicy, now: Int64, dryRun: Bool) async throws -> [String: Int] {
        let outputs = outputs
        return try await policies.pool.write { db in
            var deleted: [String: Int] = [:]
            for table in outputs where try db.tableExists(table.name) {
                let age = policy.outputAge(table.name)
                guard age > 0 else { continue }
                let condition = "\"\(table.timeColumn)\" < ?"
                if dryRun {
                    deleted[table.name] = try Int.fetchOne(db, sql: "SELECT count(*) FROM \"\(table.name)\" WHERE \(condition)", arguments: [now - age]) ?? 0
                } else {
                    try db.execute(sql: "DELETE FROM \"\(table.name)\" WHERE \(condition)", arguments: [now - age])
                    deleted[table.name] = db.changesCount
                }
            }
            return deleted.filter { $0.value > 0 }
        }
    }

    private func finish(_ runID: Int64, report: CompactionReport?, error: String?) async throws {
        try await policies.pool.write { db in
            try db.execute(sql: """
                UPDATE compaction_runs SET finished_ns = ?, segments_merged = ?, segments_written = ?, segments_rewritten = ?,
                    segments_deleted = ?, rows_expired = ?, output_rows_deleted = ?, bytes_before = ?, bytes_after = ?,
                    bytes_reclaimed = ?, report = ?, error = ?
                WHERE id = ?
                """, arguments: [
                    UnixTime.nowNanoseconds(), report?.segmentsMerged ?? 0, report?.segmentsWritten ?? 0, report?.count(.rewrite) ?? 0,
                    report?.segmentsDeleted ?? 0, report?.rowsExpired ?? 0, report?.outputRowsDeleted.values.reduce(0, +) ?? 0,
                    report?.bytesBefore ?? 0, report?.bytesAfter ?? 0,
                    report.map { $0.segmentBytesReclaimed + $0.indexBytesReclaimed } ?? 0,
                    report.map { String(decoding: $0.json, as: UTF8.self) }, error, runID,
                ])
        }
    }
}

/// One row of `compaction_runs`, as the retention API shows it.
public struct CompactionRunRecord: Sendable {
    public var id: Int64
    public var trigger: String
    public var dryRun: Bool
    public var started: Int64
    public var finished: Int64?
    public var error: String?
    /// The run's report, as JSON text.
    public var report: String?
}

extension RetentionJob {
    /// The latest compaction runs, newest first.
    public func latestRuns(limit: Int) async throws -> [CompactionRunRecord] {
        try await policies.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM compaction_runs ORDER BY id DESC LIMIT ?", arguments: [limit]).map { row in
                CompactionRunRecord(id: row["id"], trigger: row["trigger"], dryRun: row["dry_run"], started: row["started_ns"],
                                    finished: row["finished_ns"], error: row["error"], report: row["report"])
            }
        }
    }
}
