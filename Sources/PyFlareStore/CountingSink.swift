import Synchronization
public import PyFlareModel

/// A sink that only counts: for benchmarks of the ingest path without storage cost.
public final class CountingSink: SpanSink {
    private let counts = Mutex((spans: 0, batches: 0))

    public init() {}

    public func write(_ batches: [NormalizedBatch]) async throws {
        let spans = batches.reduce(0) { $0 + $1.count }
        counts.withLock { $0 = ($0.spans + spans, $0.batches + 1) }
    }

    public func close() async throws {}

    public var spanCount: Int { counts.withLock { $0.spans } }
    public var flushCount: Int { counts.withLock { $0.batches } }
}
