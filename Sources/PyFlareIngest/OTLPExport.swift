import CoreMetrics
public import PyFlareModel
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

        /// What the client is told when the export did not succeed; nil when it did.
        public var errorMessage: String? {
            switch self {
            case .accepted: nil
            case .malformed(let text), .full(let text), .failed(let text): text
            case .closed: "server is shutting down"
            }
        }
    }

    public let pipeline: IngestPipeline
    /// Where logs and metrics go: the sink the batcher writes spans to.
    public let records: any RecordSink

    /// Reserves room for a request about to be written (e.g. on a nearly full disk); says why
    /// it is refused instead. Nil admits every request.
    public let admission: (any IngestAdmission)?

    public init(pipeline: IngestPipeline, records: any RecordSink, admission: (any IngestAdmission)? = nil) {
        self.pipeline = pipeline
        self.records = records
        self.admission = admission
    }

    /// Seconds a client should wait before retrying after `.full`, `.closed` and `.failed`.
    public static func retryAfterSeconds(_ outcome: Outcome) -> Int? {
        switch outcome {
        case .full: 1
        case .closed, .failed: 5
        case .accepted, .malformed: nil
        }
    }

    /// `sourceOffsets`: where a Kafka receiver read `body` from, kept with its records in the WAL.
    public func export(_ signal: OTLPResponse.Signal, body: [UInt8], json: Bool, sourceOffsets: [SourceOffset] = []) async -> Outcome {
        // The WAL keeps a request about as received; twice its size covers the framing and
        // the records re-encoded from JSON.
        let reservation = Int64(body.count) * 2 + 4096
        if let refusal = admission?.reserve(reservation) {
            // One per request, as for malformed ones: the items are not decoded.
            let items = switch signal {
            case .traces: "spans"
            case .logs: "log_records"
            case .metrics: "metric_points"
            }
            pipeline.metrics.recordItemsRejected(items, 1, reason: "disk_low")
            pipeline.activity.record(.requestsRefusedDiskLow, 1)
            return .failed(refusal)
        }
        defer { admission?.release(reservation, written: Int64(body.count)) }
        if json, records.takesProtobufOnly {
            return .malformed("this server forwards OTLP to Kafka as received, in protobuf: send application/x-protobuf, not JSON")
        }
        return switch signal {
        case .traces: await exportTraces(body, json: json, sourceOffsets: sourceOffsets)
        case .logs: await exportRecords(body, json: json, what: "ExportLogsServiceRequest", items: "log records", metric: "log_records",
                                        decode: { body, json in
                                            var batch = try json ? LogBatch.decodeJSON(body) : LogBatch.decodeProtobuf(body)
                                            batch.sourceOffsets = sourceOffsets
                                            return batch
                                        },
                                        count: { ($0.count, $0.rejectedCount, $0.rejectionMessage) },
                                        write: { try await $0.writeLogs($1) })
        case .metrics: await exportRecords(body, json: json, what: "ExportMetricsServiceRequest", items: "metric points", metric: "metric_points",
                                           decode: { body, json in
                                               var batch = try json ? MetricBatch.decodeJSON(body) : MetricBatch.decodeProtobuf(body)
                                               batch.sourceOffsets = sourceOffsets
                                               return batch
                                           },
                                           count: { ($0.count, $0.rejectedCount, $0.rejectionMessage) },
                                           write: { try await $0.writeMetrics($1) })
        }
    }

    /// Logs and metrics: decoded, then written straight to the record sink (no sampling, no batching).
    private func exportRecords<Batch: Sendable>(
        _ body: [UInt8], json: Bool, what: String, items: String, metric: String,
        decode: ([UInt8], Bool) throws -> Batch,
        count: (Batch) -> (kept: Int, rejected: Int, message: String?),
        write: @Sendable (any RecordSink, Batch) async throws -> Void
    ) async -> Outcome {
        let batch: Batch
        do {
            batch = try decode(body, json)
        } catch {
            pipeline.metrics.recordItemsRejected(metric, 1, reason: "malformed")  // one request, as for spans
            pipeline.activity.record(.requestsMalformed, 1)
            return .malformed("malformed \(json ? "JSON" : "protobuf") \(what): \(error)")
        }
        let (kept, rejected, message) = count(batch)
        guard kept > 0 else {
            pipeline.metrics.recordItems(metric, stored: 0, rejected: rejected)
            return .accepted(rejected: rejected, message: message)
        }
        do {
            try await write(records, batch)
        } catch let error as any BackPressureError {
            return .full(error.clientMessage)
        } catch {
            pipeline.metrics.recordItemsRejected(metric, kept + rejected, reason: "storage")
            pipeline.activity.record(.recordsRefusedStorage, kept + rejected)
            return .failed("\(items) could not be stored: \(clientDescription(of: error))")
        }
        pipeline.metrics.recordItems(metric, stored: kept, rejected: rejected)
        pipeline.activity.record(metric == "log_records" ? .logRecordsAccepted : .metricPointsAccepted, kept)
        return .accepted(rejected: rejected, message: message)
    }

    private func exportTraces(_ body: [UInt8], json: Bool, sourceOffsets: [SourceOffset]) async -> Outcome {
        let batch: SpanBatch
        do {
            batch = try json ? SpanBatch.decodeJSON(body) : SpanBatch.decodeProtobuf(body)
        } catch {
            pipeline.metrics.spansRejectedMalformed.increment()
            pipeline.activity.record(.requestsMalformed, 1)
            return .malformed("malformed \(json ? "JSON" : "protobuf") ExportTraceServiceRequest: \(error)")
        }
        switch await pipeline.ingest(batch, sourceOffsets: sourceOffsets) {
        case .accepted(let rejected, let message): return .accepted(rejected: rejected, message: message)
        case .full:
            let bounds = pipeline.batcher.configuration
            return .full("ingest queue is full (\(bounds.maxQueuedSpans) spans or \(bounds.maxQueuedBytes >> 20) MiB); retry later")
        case .closed: return .closed
        case .failed(let reason): return .failed("spans could not be stored: \(reason)")
        }
    }
}

/// Room for a request before it is written: the disk-space floor's reservations.
public protocol IngestAdmission: Sendable {
    /// Reserves `bytes`; returns why the request is refused instead.
    func reserve(_ bytes: Int64) -> String?
    /// Ends a reservation of `reserved` bytes that wrote about `written`.
    func release(_ reserved: Int64, written: Int64)
}
