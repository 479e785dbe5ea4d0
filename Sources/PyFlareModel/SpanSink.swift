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

/// An error that can say what went wrong in words fit for a client: without the server's
/// file paths or type names, which stay in the log.
public protocol ClientDescribedError: Error {
    var clientMessage: String { get }
}

/// What a client is told of `error`: its ``ClientDescribedError/clientMessage``, or only that
/// the server failed (the log line next to it has the whole error).
public func clientDescription(of error: any Error) -> String {
    (error as? any ClientDescribedError)?.clientMessage ?? "an internal error (the server log has the detail)"
}
