import Hummingbird
public import PyFlareIngest
public import PyFlareWire

/// Writes telemetry as OTLP export requests through ``OTLPExport``, the path of every OTLP
/// receiver, and turns the outcome into the API's errors as the OTLP/HTTP receiver does.
public struct TelemetryWriter: Sendable {
    /// One export call: the signal and a protobuf `Export*ServiceRequest`.
    public typealias Export = @Sendable (OTLPResponse.Signal, [UInt8]) async -> OTLPExport.Outcome

    let export: Export
    /// `service.name` of telemetry without a `plugin_id` tag.
    let serviceName: String

    public init(export: OTLPExport, serviceName: String) {
        self.init(serviceName: serviceName) { signal, body in await export.export(signal, body: body, json: false) }
    }

    public init(serviceName: String, export: @escaping Export) {
        self.serviceName = serviceName
        self.export = export
    }

    /// Returns once the metric points are durable.
    func write(_ metrics: [TelemetryMetric]) async throws(APIError) {
        try Self.check(await export(.metrics, TelemetryMetric.exportRequest(metrics, defaultService: serviceName)), what: "metrics")
    }

    /// Returns once the spans are durable (or dropped by the sampler, like any OTLP span).
    func write(_ spans: [TelemetrySpan]) async throws(APIError) {
        guard !spans.isEmpty else { return }
        try Self.check(await export(.traces, TelemetrySpan.exportRequest(spans, defaultService: serviceName)), what: "spans")
    }

    /// 429 when the ingest queue is full, 503 when shutting down, storage failed or there is no
    /// store (each with `Retry-After` where a retry can help); 500 if our own request was refused.
    static func check(_ outcome: OTLPExport.Outcome, what: String) throws(APIError) {
        let retry = OTLPExport.retryAfterSeconds(outcome)
        switch outcome {
        case .accepted(let rejected, let message):
            guard rejected == 0 else {
                throw APIError(.internalServerError, code: "internal", "\(rejected) \(what) were refused: \(message ?? "no reason given")")
            }
        case .malformed(let message):
            throw APIError(.internalServerError, code: "internal", "the server built a request it cannot read: \(message)")
        case .full(let message):
            throw APIError(.tooManyRequests, code: "too_many_requests", message, retryAfterSeconds: retry)
        case .closed, .failed:
            throw APIError(.serviceUnavailable, code: "unavailable", outcome.errorMessage ?? "unavailable", retryAfterSeconds: retry)
        }
    }
}
