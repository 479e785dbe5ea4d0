import GRDB
import PyFlareStore
import PyFlareSQL
import PyFlareWire

extension JobInput {
    /// The time range whose output windows may have changed since `position`, and the input
    /// position it covers: from the watermark minus the lateness margin, widened to any older
    /// time the new input reaches (segments sealed since, records not sealed yet, or the ranges
    /// the source jobs replaced), up to now. `sources` are the SQL jobs named by `.jobs`.
    ///
    /// For records, the range never starts before the kind's retention floor (rounded up to
    /// `window`): raw records older than it may have been deleted, and recomputing a window
    /// from what is left would overwrite its rollups with less.
    func pendingRange(after position: JobLedger.Position, sources sourceOutputs: [SQLJob] = [],
                      window: Int64 = UnixTime.minute, _ context: JobContext) async throws -> (Range<Int64>?, Int64) {
        var lower = Int64.max, upper = Int64.min
        func include(_ time: Int64?, _ end: Int64?) {
            if let time { lower = min(lower, time) }
            if let end { upper = max(upper, end) }
        }
        if let watermark = position.watermark {
            include(watermark - context.settings.lateness, context.now)
        }
        let input: Int64
        switch self {
        case .records(let kind):
            // The unsealed snapshot first: what it misses was sealed since, so the catalog has it.
            let unsealed = try await context.engine.unsealedTimeRanges(of: kind)
            let firstRun = position.watermark == nil
            (input, lower, upper) = try await context.pool.read { [lower, upper] db in
                let sealed = try StoreCatalog.sealedWALSequence(db)
                var lower = lower, upper = upper
                for record in unsealed where record.sequence > sealed {
                    lower = min(lower, record.times.lowerBound)
                    upper = max(upper, record.times.upperBound + 1)
                }
                if let sealedSince = try StoreCatalog.timeRange(of: kind, sealedAfter: firstRun ? 0 : position.input, db) {
                    lower = min(lower, sealedSince.lowerBound)
                    upper = max(upper, sealedSince.upperBound)
                }
                if let floor = try StoreCatalog.retentionFloor(of: kind, db) {
                    lower = max(lower, TimeBucket.ceil(floor, window))
                }
                return (try StoreCatalog.highestSealID(db), lower, upper)
            }
        case .jobs(let sources):
            // Run ids grow across all jobs, so one position covers every source.
            let sinceRun = position.watermark == nil ? 0 : position.input
            let sourceJobs = position.watermark == nil ? sourceOutputs : []
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
        // Jobs cover the recent past only (`scheduler.max_backfill_days`): a record stamped in
        // 1970 or 2199 must not make every run recompute decades of windows. This also keeps
        // stored times outside what ingest accepts (a store written before it refused them, a
        // corrupt catalog row) away from the window maths.
        lower = max(lower, max(0, context.now - context.settings.maxBackfill))
        upper = min(upper, min(UnixTime.latest, context.now + context.settings.maxLead))
        return (lower < upper ? lower..<upper : nil, input)
    }

    /// The minute-aligned range a Swift job over records of `kinds` must recompute since its
    /// last run, and its next position: the union of each kind's pending range.
    static func pendingRecords(_ kinds: [SegmentKind], job: String, _ context: JobContext)
        async throws -> (range: Range<Int64>?, position: JobLedger.Position) {
        let position = try await JobLedger(pool: context.pool).position(of: job)
        var lower = Int64.max, upper = Int64.min, input = Int64.min
        for kind in kinds {
            let (range, kindInput) = try await JobInput.records(kind).pendingRange(after: position, context)
            input = max(input, kindInput)
            if let range {
                lower = min(lower, range.lowerBound)
                upper = max(upper, range.upperBound)
            }
        }
        let next = JobLedger.Position(watermark: context.now, input: input)
        guard lower < upper else { return (nil, next) }
        return (TimeBucket.floor(lower, UnixTime.minute)..<TimeBucket.ceil(upper, UnixTime.minute), next)
    }
}
