import ArgumentParser
import Foundation
import Logging
import PyFlareAPI
import PyFlareAnalytics
import PyFlareExport
import PyFlareModel
import PyFlareServer
import PyFlareStore
import PyFlareSQL
import PyFlareWire

/// `pyflare jobs list` and `pyflare jobs run NAME`, against a data directory whether the
/// server runs or not: a run takes the job's lease in the index, so it never overlaps a
/// run of the server's scheduler.
struct Jobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the scheduled jobs or run one now.",
        subcommands: [List.self, Run.self])

    /// The data directory's index and the job catalog the server would load.
    static func open(_ configuration: PyFlareConfiguration) async throws -> Scheduler {
        guard FileManager.default.fileExists(atPath: configuration.dataDirectory + "/index.db") else {
            FileHandle.standardError.write(Data("pyflare jobs: \(configuration.dataDirectory) holds no PyFlare index (index.db)\n".utf8))
            throw ExitCode(2)
        }
        let engine = try SQLEngine.offline(configuration, limits: configuration.schedulerSettings.jobLimits, lane: .internalWork)
        let pool = try SpanStore.openIndex(dataDirectory: configuration.dataDirectory)
        var logger = Logger(label: "pyflare.jobs")
        logger.logLevel = .warning
        let pricing = PricingTable.builtIn(overrides: configuration.pricingOverrides)
        // Judge calls run from the command are recorded in `evaluations` with their cost, but
        // not traced: there is no ingest pipeline here.
        let readers = try SegmentReaderCache.offline(dataDirectory: configuration.dataDirectory, remote: configuration.remoteSegmentsInEffect,
                                                     logger: logger)
        let parquet = configuration.parquetExportJob(pool: pool, readers: readers)
        let compactor = try SegmentCompactor.offline(dataDirectory: configuration.dataDirectory, pricing: pricing,
                                                     blockRows: configuration.store.blockRows, logger: logger,
                                                     remote: configuration.remoteSegmentsInEffect,
                                                     beforeChanges: parquet?.beforeCompaction)
        // Free space is measured as the server does, so a command compaction does not write past the floor.
        let disk = DiskSpaceGuard(directory: configuration.dataDirectory, floor: configuration.minFreeBytes, logger: logger)
        return await PyFlareServer.scheduler(configuration: configuration, pool: pool, engine: engine,
                                             pricing: { pricing.price(for: $0) }, judgeTracer: nil, compactor: compactor, parquetExport: parquet, disk: disk, owner: "command:\(ProcessInfo.processInfo.processIdentifier)", logger: logger)
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every job with its schedule, last run and watermark.")
        @OptionGroup var options: StoreOptions

        func run() async throws {
            let scheduler = try await Jobs.open(try options.load(command: "pyflare jobs"))
            let statuses = try await JobLedger(pool: scheduler.pool).jobs()
            var rows = [["name", "kind", "schedule", "output", "last run", "status", "ms", "rows", "watermark", "error"]]
            for job in scheduler.catalog.jobs {
                let status = statuses.first { $0.name == job.name }
                let run = status?.lastRun
                rows.append([
                    job.name, job.kind, job.schedule.description, job.outputTable ?? "",
                    run.map { RFC3339.string(signed: $0.started) } ?? "never", run?.status ?? "",
                    run.flatMap { run in run.finished.map { String(($0 - run.started) / 1_000_000) } } ?? "",
                    run?.rows.map(String.init) ?? "", status?.watermark.map { RFC3339.string(signed: $0) } ?? "", run?.error ?? "",
                ])
            }
            var text = SQLResult(columns: rows[0], rows: rows.dropFirst().map { $0.map(SQLValue.text) },
                                 elapsedSeconds: 0, truncated: false, scan: SQLScanStatistics()).table
            for problem in scheduler.catalog.problems { text += "problem: \(problem)\n" }
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run one job now and wait for it.")
        @Argument(help: "The job's name (pyflare jobs list).")
        var name: String
        @OptionGroup var options: StoreOptions

        func run() async throws {
            let scheduler = try await Jobs.open(try options.load(command: "pyflare jobs"))
            guard let job = scheduler.catalog[name] else {
                let known = scheduler.catalog.jobs.map(\.name).joined(separator: ", ")
                FileHandle.standardError.write(Data("pyflare jobs: no job named \(name) (jobs: \(known))\n".utf8))
                throw ExitCode(2)
            }
            try await scheduler.prepare()
            guard let run = await scheduler.execute(job, trigger: .command) else {
                FileHandle.standardError.write(Data("pyflare jobs: \(name) is running already (in the server?); try again later\n".utf8))
                throw ExitCode(1)
            }
            let milliseconds = ((run.finished ?? run.started) - run.started) / 1_000_000
            if let error = run.error {
                FileHandle.standardError.write(Data("pyflare jobs: \(name) failed after \(milliseconds) ms: \(error)\n".utf8))
                throw ExitCode(1)
            }
            var line = "\(name): ok, \(run.rows ?? 0) rows in \(milliseconds) ms"
            if let start = run.windowStart, let end = run.windowEnd { line += ", window \(RFC3339.string(signed: start)) – \(RFC3339.string(signed: end))" }
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
        }
    }
}
