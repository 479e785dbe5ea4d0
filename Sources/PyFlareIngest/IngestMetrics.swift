public import CoreMetrics
public import Metrics

/// The ingest path's counters and gauges, created once (swift-metrics handles are cheap to use, not to create).
public struct IngestMetrics: Sendable {
    public let spansReceived = Counter(label: "pyflare_spans_received_total")
    public let spansAccepted = Counter(label: "pyflare_spans_accepted_total")
    public let spansRejectedInvalid = Counter(label: "pyflare_spans_rejected_total", dimensions: [("reason", "invalid")])
    public let spansRejectedMalformed = Counter(label: "pyflare_spans_rejected_total", dimensions: [("reason", "malformed")])
    public let spansRejectedBackpressure = Counter(label: "pyflare_spans_rejected_total", dimensions: [("reason", "backpressure")])
    public let spansRejectedStorage = Counter(label: "pyflare_spans_rejected_total", dimensions: [("reason", "storage")])
    public let spansUnpriced = Counter(label: "pyflare_spans_unpriced_total")
    public let bytesReceived = Counter(label: "pyflare_received_bytes_total")
    public let bytesDecoded = Counter(label: "pyflare_decoded_bytes_total")
    public let queueSpans = Recorder(label: "pyflare_batcher_queue_spans", aggregate: false)
    public let batchesFlushed = Counter(label: "pyflare_batches_flushed_total")
    public let spansFlushed = Counter(label: "pyflare_batcher_flushed_spans_total")
    public let sinkErrors = Counter(label: "pyflare_sink_errors_total")
    private let sampledCounter: Counter
    private let droppedCounter: Counter

    public init(samplerStrategy: String) {
        sampledCounter = Counter(label: "pyflare_sampler_spans_total", dimensions: [("strategy", samplerStrategy), ("decision", "sampled")])
        droppedCounter = Counter(label: "pyflare_sampler_spans_total", dimensions: [("strategy", samplerStrategy), ("decision", "dropped")])
    }

    public func recordSampling(sampled: Int, dropped: Int) {
        sampledCounter.increment(by: sampled)
        droppedCounter.increment(by: dropped)
    }

    /// Counts one OTLP/HTTP request by signal and status code.
    public func recordRequest(signal: String, status: Int) {
        Counter(label: "pyflare_http_requests_total", dimensions: [("signal", signal), ("code", String(status))]).increment()
    }

    /// Counts one OTLP/gRPC call by signal and gRPC status code (0 = OK).
    /// Log records or metric points of one request: `items` is `log_records` or `metric_points`.
    public func recordItems(_ items: String, stored: Int, rejected: Int) {
        Counter(label: "pyflare_\(items)_received_total").increment(by: stored + rejected)
        if rejected > 0 { recordItemsRejected(items, rejected, reason: "invalid") }
    }

    /// Log records or metric points refused as a whole request (`malformed`, `storage`).
    public func recordItemsRejected(_ items: String, _ count: Int, reason: String) {
        Counter(label: "pyflare_\(items)_rejected_total", dimensions: [("reason", reason)]).increment(by: count)
    }

    public func recordGRPCRequest(signal: String, code: Int) {
        Counter(label: "pyflare_grpc_requests_total", dimensions: [("signal", signal), ("code", String(code))]).increment()
    }
}
