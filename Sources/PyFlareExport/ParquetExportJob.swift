import GRDB
import Synchronization
import Logging
import NIOPosix
import PyFlareAnalytics
import PyFlareModel
public import PyFlareObjectStorage
import PyFlareStore

/// The scheduled job `parquet_export`: every segment sealed since its last run becomes
/// Parquet files under `export.parquet.dir`. Its position is the highest seal id exported
/// (kept with the store's state): a compaction's output keeps the seal id of what it merged,
/// so merged records are not exported twice, and compaction itself first lets this job catch
/// up (``ParquetExportJob/catchUp()``), so it never merges an exported segment with one that
/// is not.
public struct ParquetExportJob: AnalyticsJob {
    public static let jobName = "parquet_export"
    static let positionKey = "parquet_export_seal_id"

    public let name = Self.jobName
    public let schedule: JobSchedule
    public let outputTable: String? = nil
    let export: ParquetExport
    let directory: String
    let pool: DatabasePool
    let runs: SerialRuns
    /// With a bucket, each file written under `directory` is uploaded (its key is its path there,
    /// under the bucket's prefix), verified, and only then removed locally.
    let bucket: S3Client?

    package init(schedule: JobSchedule, directory: String, dataDirectory: String, pool: DatabasePool, pricing: PricingTable,
                 readers: SegmentReaderCache, bucket: S3Client? = nil) {
        self.schedule = schedule
        self.directory = directory
        self.pool = pool
        self.bucket = bucket
        export = ParquetExport(dataDirectory: dataDirectory, pricing: pricing, readers: readers)
        runs = SerialRuns()
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        let report = try await catchUp()
        if !report.files.isEmpty {
            context.logger.info("parquet export", metadata: [
                "segments": "\(report.segments)", "files": "\(report.files.count)", "rows": "\(report.rows)", "bytes": "\(report.bytes)",
            ])
        }
        guard report.failures.isEmpty else { throw ParquetExportFailure(report: report) }
        return JobOutcome(rows: report.rows)
    }

    /// What a compaction runs before it changes anything: this job, caught up.
    public var beforeCompaction: @Sendable () async throws -> Void {
        { _ = try await self.catchUp() }
    }

    /// Exports every segment sealed after the position and moves the position past them;
    /// one run at a time (the schedule and a compaction may ask at once).
    public func catchUp() async throws -> ParquetExport.Report {
        try await runs.run { [pool, export, directory, bucket] in
            let (position, segments) = try await pool.read { db in
                let position = try StoreCatalog.value(forKey: Self.positionKey, db) ?? 0
                let segments = try SegmentKind.allCases.flatMap { try StoreCatalog.activeSegments(of: $0, sealedAfter: position, db) }
                return (position, segments)
            }
            guard !segments.isEmpty else { return ParquetExport.Report() }
            let report = try await SegmentCompactor.lowPriorityThreads.runIfActive {
                BackgroundPriority.lowerCallingThread()
                return try export.export(segments, to: directory)
            }
            // A file not in the bucket fails the run before the position moves: the next run writes and uploads it again.
            if let bucket { try await Self.upload(report.files, from: directory, to: bucket) }
            // Unreadable segments are reported, not retried: nothing can read them.
            let reached = segments.map(\.sealID).max() ?? position
            try await pool.write { db in try StoreCatalog.setValue(reached, forKey: Self.positionKey, db) }
            return report
        }
    }
}

extension ParquetExportJob {
    /// Uploads each file (the ETag checked against the bytes' MD5), then removes the local copy.
    static func upload(_ files: [ParquetExport.File], from directory: String, to bucket: S3Client) async throws {
        for file in files {
            let path = directory + "/" + file.path
            let bytes = try await SegmentCompactor.lowPriorityThreads.runIfActive { try StoreFile.readAll(path) }
            try await bucket.put(file.path, body: bytes)
            try await SegmentCompactor.lowPriorityThreads.runIfActive { try StoreDirectory.remove(path) }
        }
    }
}

/// A run's segments that could not be exported.
public struct ParquetExportFailure: Error, CustomStringConvertible {
    public var report: ParquetExport.Report

    public var description: String {
        "\(report.failures.count) segment(s) could not be exported: "
            + report.failures.map { "\($0.segment): \($0.error)" }.joined(separator: "; ")
    }
}

/// Runs work one at a time, in the order asked.
final class SerialRuns: Sendable {
    private let state = Mutex<Task<Void, Never>?>(nil)

    func run<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> T {
        let task: Task<T, any Error> = state.withLock { last in
            let previous = last
            let task = Task<T, any Error> {
                await previous?.value
                return try await work()
            }
            last = Task { _ = try? await task.value }
            return task
        }
        return try await task.value
    }
}
