/// How the batcher groups spans before handing them to the sink.
public struct BatcherConfiguration: Sendable, Equatable {
    /// Flush when this many spans wait. Default 8192.
    public var maxBatchSpans: Int
    /// Flush when the oldest waiting span has waited this long. Default 200 ms.
    public var flushInterval: Duration
    /// Spans held at once (waiting, queued and being written); beyond it the receiver answers 429. Default 200,000.
    public var maxQueuedSpans: Int
    /// Concurrent sink writes. Default 2.
    public var workers: Int

    public init(maxBatchSpans: Int = 8192, flushInterval: Duration = .milliseconds(200),
                maxQueuedSpans: Int = 200_000, workers: Int = 2) {
        self.maxBatchSpans = maxBatchSpans
        self.flushInterval = flushInterval
        self.maxQueuedSpans = maxQueuedSpans
        self.workers = workers
    }

    public static let defaults = BatcherConfiguration()
}
