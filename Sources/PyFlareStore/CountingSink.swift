import Synchronization
public import PyFlareModel
public import PyFlareWire

/// A sink that only counts: for benchmarks of the ingest path without storage cost.
public final class CountingSink: SpanSink, RecordSink {
    private let counts = Mutex((spans: 0, batches: 0, logRecords: 0, metricPoints: 0))

    public init() {}

    public func write(_ batches: [NormalizedBatch]) async throws {
        let spans = batches.reduce(0) { $0 + $1.count }
        counts.withLock { $0.spans += spans; $0.batches += 1 }
    }

    public func writeLogs(_ batch: LogBatch) async throws {
        counts.withLock { $0.logRecords += batch.count }
    }

    public func writeMetrics(_ batch: MetricBatch) async throws {
        counts.withLock { $0.metricPoints += batch.count }
    }

    public func close() async throws {}

    public var spanCount: Int { counts.withLock { $0.spans } }
    public var flushCount: Int { counts.withLock { $0.batches } }
    public var logRecordCount: Int { counts.withLock { $0.logRecords } }
    public var metricPointCount: Int { counts.withLock { $0.metricPoints } }
}
