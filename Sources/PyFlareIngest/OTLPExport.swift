import CoreMetrics
public import PyFlareWire

/// One OTLP `Export` call, whatever the transport: decode the request, ingest it, and say
/// how it went. The HTTP and gRPC receivers differ only in how they read the request and
/// how they spell the outcome.
public struct OTLPExport: Sendable {
    /// How an export ended; each case maps to one HTTP status and one gRPC status code.
    public enum Outcome: Sendable, Equatable {
        /// Stored; `rejected` items were refused one by one (with the first reason).
        case accepted(rejected: Int, message: String?)
        /// The request is not a valid Export*ServiceRequest: 400 / INVALID_ARGUMENT.
        case malformed(String)
        /// The ingest queue is full: 429 / UNAVAILABLE, retry after a pause.
        case full(String)
        /// Shutting down: 503 / UNAVAILABLE.
        case closed
        /// Storage failed (e.g. disk full): 503 / UNAVAILABLE.
        case failed(String)
        /// The signal is not accepted by this server.
        case unsupported(String)

        /// What the client is told when the export did not succeed; nil when it did.
        public var errorMessage: String? {
            switch self {
            case .accepted: nil
            case .malformed(let text), .full(let text), .failed(let text), .unsupported(let text): text
            case .closed: "server is shutting down"
            }
        }
    }

    public let pipeline: IngestPipeline

    public init(pipeline: IngestPipeline) {
        self.pipeline = pipeline
    }

    /// Seconds a client should wait before retrying after `.full`, `.closed` and `.failed`.
    public static func retryAfterSeconds(_ outcome: Outcome) -> Int? {
        switch outcome {
        case .full: 1
        case .closed, .failed: 5
        case .accepted, .malformed, .unsupported: nil
        }
    }

    public func export(_ signal: OTLPResponse.Signal, body: [UInt8], json: Bool) async -> Outcome {
        switch signal {
        case .traces: await exportTraces(body, json: json)
        case .logs, .metrics: .unsupported("\(signal) are not accepted yet")
        }
    }

    private func exportTraces(_ body: [UInt8], json: Bool) async -> Outcome {
        let batch: SpanBatch
        do {
            batch = try json ? SpanBatch.decodeJSON(body) : SpanBatch.decodeProtobuf(body)
        } catch {
            pipeline.metrics.spansRejectedMalformed.increment()
            return .malformed("malformed \(json ? "JSON" : "protobuf") ExportTraceServiceRequest: \(error)")
        }
        switch await pipeline.ingest(batch) {
        case .accepted(let rejected, let message): return .accepted(rejected: rejected, message: message)
        case .full: return .full("ingest queue is full (\(pipeline.batcher.configuration.maxQueuedSpans) spans); retry later")
        case .closed: return .closed
        case .failed(let reason): return .failed("spans could not be stored: \(reason)")
        }
    }
}
