import Foundation
public import GRDB
public import Logging
import Metrics
import PyFlareWire
public import PyFlareStore
public import PyFlareSQL
public import ServiceLifecycle
import Synchronization

/// How the scheduler runs jobs (`scheduler.*` in the config).
public struct SchedulerSettings: Sendable, Equatable {
    /// Run jobs on their schedules; off, they run only when asked.
    public var enabled = true
    /// A directory of the user's own `.sql` jobs.
    public var queriesDirectory: String?
    /// Every run recomputes at least this far back from its last watermark (nanoseconds):
    /// spans whose start time is this late still land in the window they belong to.
    public var lateness: Int64 = 5 * UnixTime.minute
    /// How far back from now a run looks at most, and how far ahead (clocks running fast):
    /// records stamped outside (a span of 1970 or of 2199) are stored and read by SQL but no
    /// job recomputes windows for them, so one such record cannot make every run walk decades
    /// of windows.
    public var maxBackfill: Int64 = 3_650 * UnixTime.day
    public var maxLead: Int64 = UnixTime.day
    /// The limits of a job's statements.
    public var jobLimits = SQLLimits(timeout: .seconds(600), maxRows: 10_000_000)

    public init() {}

    /// A run lease older than this belongs to a run that died.
    var staleLease: Int64 { 2 * Int64(jobLimits.timeout.components.seconds) * UnixTime.second + UnixTime.minute }
}

/// Runs every job on its schedule, one run at a time per job, in catalog order when several
/// are due (so a rollup of rollups sees the rollup it reads already updated), and runs a job
/// now when asked. Jobs run on the SQL statement threads and the index's writer, never on
/// the ingest path: a slow job delays other jobs, not ingest.
public final class Scheduler: Service, Sendable {
    public let catalog: JobCatalog
    public let pool: DatabasePool
    let engine: SQLEngine
    let settings: SchedulerSettings
    let logger: Logger
    /// Who holds a run lease: this process, in the `jobs` table.
    let owner: String
    private let running = Mutex<Set<String>>([])
    private let requested = Mutex<[(String, JobTrigger)]>([])

    public init(catalog: JobCatalog, pool: DatabasePool, engine: SQLEngine, settings: SchedulerSettings,
                owner: String = "server", logger: Logger) {
        self.catalog = catalog
        self.pool = pool
        self.engine = engine
        self.settings = settings
        self.owner = owner
        self.logger = logger
    }

    var ledger: JobLedger { JobLedger(pool: pool) }

    /// Whether jobs run on their schedules (else only when asked).
    public var isScheduling: Bool { settings.enabled }

    /// Records the catalog in `jobs` and drops the leases an earlier run of this owner left.
    public func prepare() async throws {
        try await ledger.register(catalog.jobs, now: UnixTime.nowNanoseconds())
        try await ledger.releaseAll(owner: owner)
        for problem in catalog.problems {
            logger.error("a job file cannot be used; the server runs without it", metadata: ["problem": "\(problem)"])
        }
    }

    public func run() async throws {
        try await prepare()
        logger.info("scheduler started", metadata: [
            "jobs": "\(catalog.jobs.map(\.name).joined(separator: ", "))", "enabled": "\(settings.enabled)",
        ])
        var due: [String: Int64] = [:]
        for job in catalog.jobs {
            let last = try await ledger.lastStarted(job.name)
            due[job.name] = last.map { job.schedule.nextRun(after: $0) } ?? 0
        }
        await cancelWhenGracefulShutdown { [due] in await self.loop(due: due) }
    }

    private func loop(due: [String: Int64]) async {
        var due = due
        while !Task.isCancelled {
            for (name, trigger) in requested.withLock({ requests in defer { requests = [] }; return requests }) {
                guard let job = catalog[name] else { continue }
                _ = await execute(job, trigger: trigger)
            }
            if settings.enabled {
                for job in catalog.jobs where due[job.name, default: 0] <= UnixTime.nowNanoseconds() {
                    _ = await execute(job, trigger: .schedule)
                    due[job.name] = job.schedule.nextRun(after: UnixTime.nowNanoseconds())
                }
            }
            // Short naps, so that a run asked for through the API starts within a moment.
            let wake = settings.enabled ? (due.values.min() ?? .max) : .max
            try? await Task.sleep(for: .nanoseconds(min(max(wake - UnixTime.nowNanoseconds(), 0), 200_000_000)))
        }
    }

    /// Asks for a run of `name` as soon as the scheduler is free; false for an unknown job.
    public func request(_ name: String, trigger: JobTrigger = .api) -> Bool {
        guard catalog[name] != nil else { return false }
        requested.withLock { $0.append((name, trigger)) }
        return true
    }

    /// Runs `body` holding `name`'s lease, as a run of the job would; nil, without running it,
    /// when a run of the job is in progress here or in another process.
    public func withLease<T: Sendable>(_ name: String, _ body: () async throws -> T) async throws -> T? {
        guard running.withLock({ $0.insert(name).inserted }) else { return nil }
        defer { _ = running.withLock { $0.remove(name) } }
        guard try await ledger.acquire(name, owner: owner, now: UnixTime.nowNanoseconds(), staleAfter: settings.staleLease) else { return nil }
        do {
            let result = try await body()
            try await ledger.release(name, owner: owner)
            return result
        } catch {
            try? await ledger.release(name, owner: owner)
            throw error
        }
    }

    /// Runs `job` now and returns its run, or nil when a run of it is in progress (here or
    /// in another process).
    public func execute(_ job: JobDefinition, trigger: JobTrigger) async -> JobLedger.RunRecord? {
        guard running.withLock({ $0.insert(job.name).inserted }) else { return nil }
        defer { _ = running.withLock { $0.remove(job.name) } }
        let started = UnixTime.nowNanoseconds()
        do {
            guard try await ledger.acquire(job.name, owner: owner, now: started, staleAfter: settings.staleLease) else {
                logger.info("job skipped: another process is running it", metadata: ["job": "\(job.name)"])
                return nil
            }
            let runID = try await ledger.beginRun(job.name, trigger: trigger, now: started)
            let context = JobContext(pool: pool, engine: engine, now: started, settings: settings, logger: logger)
            let outcome: Result<JobOutcome, any Error>
            do {
                switch job.work {
                case .sql(let sql):
                    let runner = SQLJobRunner(name: job.name, job: sql, sources: catalog.sqlJobs(sql.input.sourceJobs))
                    outcome = .success(try await runner.run(context))
                case .swift(let swiftJob): outcome = .success(try await swiftJob.run(context))
                }
            } catch {
                outcome = .failure(error)
            }
            let finished = UnixTime.nowNanoseconds()
            // A run stopped by shutdown is recorded all the same: the bookkeeping runs in a task
            // of its own, which the shutdown's cancellation does not reach.
            let ledger = self.ledger, owner = self.owner, name = job.name
            let outcomeOfRun: Result<JobOutcome, any Error> = if case .failure(let error) = outcome, Task.isCancelled || Self.isCancellation(error) {
                .failure(CancellationError())
            } else {
                outcome
            }
            try await Task {
                try await ledger.finishRun(runID, job: name, now: finished, outcome: outcomeOfRun)
                try await ledger.release(name, owner: owner)
            }.value
            record(job.name, outcome: outcomeOfRun, seconds: Double(finished - started) / 1e9)
            guard !Task.isCancelled else { return nil }
            return try await ledger.runs(of: job.name, limit: 1).first
        } catch {
            // Shutdown cancels a run about to start: nothing ran, nothing to report.
            if !(error is CancellationError) {
                logger.error("job bookkeeping failed", metadata: ["job": "\(job.name)", "error": "\(error)"])
            }
            let ledger = self.ledger, owner = self.owner, name = job.name
            try? await Task { try await ledger.release(name, owner: owner) }.value
            return nil
        }
    }

    private func record(_ name: String, outcome: Result<JobOutcome, any Error>, seconds: Double) {
        Timer(label: "pyflare_job_duration_seconds", dimensions: [("job", name)]).recordSeconds(seconds)
        switch outcome {
        case .success(let result):
            Counter(label: "pyflare_job_runs_total", dimensions: [("job", name), ("outcome", "ok")]).increment()
            Counter(label: "pyflare_job_rows_written_total", dimensions: [("job", name)]).increment(by: result.rows)
            logger.debug("job ran", metadata: ["job": "\(name)", "rows": "\(result.rows)", "seconds": "\(seconds)"])
        case .failure(let error) where error is CancellationError:
            Counter(label: "pyflare_job_runs_total", dimensions: [("job", name), ("outcome", "cancelled")]).increment()
            logger.info("job run cancelled by shutdown", metadata: ["job": "\(name)"])
        case .failure(let error):
            Counter(label: "pyflare_job_runs_total", dimensions: [("job", name), ("outcome", "error")]).increment()
            logger.error("job failed", metadata: ["job": "\(name)", "error": "\(error)"])
        }
    }

    /// Whether a run's failure is the shutdown stopping it: the task's cancellation, as Swift
    /// or as the SQL engine reports it.
    static func isCancellation(_ error: any Error) -> Bool {
        if error is CancellationError { return true }
        if let error = error as? SQLError { return error.kind == .cancelled }
        return false
    }
}
