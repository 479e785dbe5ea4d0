import CoreMetrics
public import PyFlareWire
public import PyFlareModel

/// Normalize → sample → batch, shared by every receiver.
public struct IngestPipeline: Sendable {
    public enum Outcome: Sendable, Equatable {
        /// Queued; `rejected` spans were refused individually (with the first reason).
        case accepted(rejected: Int, message: String?)
        /// The batcher is full: answer 429 / RESOURCE_EXHAUSTED and let the client retry.
        case full
        /// Shutting down: answer 503 / UNAVAILABLE.
        case closed
        /// The store could not write the spans (e.g. disk full): answer 503 / UNAVAILABLE.
        case failed(String)
    }

    public let normalizer: SpanNormalizer
    public let sampler: Sampler
    public let batcher: Batcher
    public let metrics: IngestMetrics
    /// This project's own counts (the metrics are the server's).
    public let activity: IngestActivity

    public init(normalizer: SpanNormalizer, sampler: Sampler, batcher: Batcher, metrics: IngestMetrics,
                activity: IngestActivity = IngestActivity()) {
        self.normalizer = normalizer
        self.sampler = sampler
        self.batcher = batcher
        self.metrics = metrics
        self.activity = activity
    }

    /// Returns once the spans are written by the sink (durable, for the store), or refused.
    public func ingest(_ decoded: SpanBatch, sourceOffsets: [SourceOffset] = []) async -> Outcome {
        let received = decoded.count + decoded.rejectedSpanCount
        metrics.spansReceived.increment(by: received)
        metrics.spansRejectedInvalid.increment(by: decoded.rejectedSpanCount)
        activity.record(.spansRejectedInvalid, decoded.rejectedSpanCount)

        var batch = normalizer.normalize(decoded)
        batch.sourceOffsets = sourceOffsets
        metrics.spansUnpriced.increment(by: batch.columns.unpricedCount)
        let keep = sampler.decide(batch)
        let sampled = keep.reduce(0) { $1 ? $0 + 1 : $0 }
        if sampled < batch.count { batch.retain(keep) }

        switch await batcher.submit(batch) {
        case .accepted:
            metrics.recordSampling(sampled: sampled, dropped: decoded.count - sampled)
            metrics.spansAccepted.increment(by: decoded.count)
            activity.record(.spansAccepted, decoded.count)
            return .accepted(rejected: decoded.rejectedSpanCount, message: decoded.rejectionMessage)
        case .full:
            metrics.spansRejectedBackpressure.increment(by: decoded.count)
            activity.record(.spansRefusedBusy, decoded.count)
            return .full
        case .closed:
            metrics.spansRejectedBackpressure.increment(by: decoded.count)
            activity.record(.spansRefusedBusy, decoded.count)
            return .closed
        case .failed(let message):
            metrics.spansRejectedStorage.increment(by: decoded.count)
            activity.record(.spansRefusedStorage, decoded.count)
            return .failed(message)
        }
    }
}
