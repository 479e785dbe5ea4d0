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
    /// True when it forwards requests as received (the Kafka exporter), so OTLP/JSON is refused.
    var takesProtobufOnly: Bool { get }
}

extension RecordSink {
    public var takesProtobufOnly: Bool { false }
}

/// A sink's failure that is back-pressure, not breakage (a producer's queue is full): the
/// client is told to retry later (429 / RESOURCE_EXHAUSTED), as when the ingest queue is full.
public protocol BackPressureError: ClientDescribedError {}

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
