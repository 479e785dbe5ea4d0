/// How the batcher groups spans before handing them to the sink.
public struct BatcherConfiguration: Sendable, Equatable {
    /// Flush when this many spans wait. Default 8192.
    public var maxBatchSpans: Int
    /// Zero (the default): an idle worker takes what waits at once (group commit).
    /// Positive: hold spans until the batch is full or its oldest span this old.
    public var flushInterval: Duration
    /// Spans held at once (waiting, queued and being written); beyond it the receiver answers 429. Default 200,000.
    public var maxQueuedSpans: Int
    /// The bytes those spans may take (their batches' request arenas); beyond it, 429 too. A
    /// bound in spans alone lets memory grow with span size (agent spans resend whole
    /// conversations). Default 32 MiB.
    public var maxQueuedBytes: Int
    /// Concurrent sink writes. Default 2.
    public var workers: Int

    public init(maxBatchSpans: Int = 8192, flushInterval: Duration = .zero,
                maxQueuedSpans: Int = 200_000, maxQueuedBytes: Int = 32 << 20, workers: Int = 2) {
        self.maxBatchSpans = maxBatchSpans
        self.flushInterval = flushInterval
        self.maxQueuedSpans = maxQueuedSpans
        self.maxQueuedBytes = maxQueuedBytes
        self.workers = workers
    }

    public static let defaults = BatcherConfiguration()

    /// Without an interval an idle worker takes what waits at once.
    var writesEagerly: Bool { flushInterval == .zero }
}
