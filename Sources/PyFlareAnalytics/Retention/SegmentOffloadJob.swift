import Logging
public import PyFlareStore

/// The scheduled job `segment_offload` (with `storage.remote`): moves the segments older than
/// `storage.remote.after` to the bucket (``SpanStore/offloadSegments(now:failpoint:)``).
/// A refused upload fails the run with the bucket's answer; the segments stay local and the
/// next run tries again.
public struct SegmentOffloadJob: AnalyticsJob {
    public static let jobName = "segment_offload"
    public let name = jobName
    public let schedule: JobSchedule
    public var outputTable: String? { nil }
    let store: SpanStore
    let failpoint: (@Sendable (OffloadStep) -> Void)?

    public init(schedule: JobSchedule, store: SpanStore, failpoint: (@Sendable (OffloadStep) -> Void)? = nil) {
        self.schedule = schedule
        self.store = store
        self.failpoint = failpoint
    }

    public func run(_ context: JobContext) async throws -> JobOutcome {
        let report = try await store.offloadSegments(now: context.now, failpoint: failpoint)
        if report.segments > 0 {
            context.logger.info("segments moved to the bucket", metadata: ["segments": "\(report.segments)", "bytes": "\(report.bytes)"])
        }
        return JobOutcome(rows: report.segments)
    }
}
