public import PyFlareWire

/// Where normalized, sampled spans go when the batcher flushes them.
///
/// The batcher calls ``write(_:)`` from several workers at once; an implementation
/// serializes what needs serializing. ``close()`` is called once, after the last write.
public protocol SpanSink: Sendable {
    func write(_ batches: [NormalizedBatch]) async throws
    func close() async throws
}

/// Where OTLP log records and metric points go. They skip the sampler and the batcher:
/// each request is written as it comes, and acknowledged once durable.
public protocol RecordSink: Sendable {
    func writeLogs(_ batch: LogBatch) async throws
    func writeMetrics(_ batch: MetricBatch) async throws
}
