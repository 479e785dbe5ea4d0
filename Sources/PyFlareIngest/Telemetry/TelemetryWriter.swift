public import PyFlareWire

/// Writes telemetry as OTLP export requests through ``OTLPExport``, the path of every OTLP
/// receiver, and turns a refusal into a ``TelemetryError``.
public struct TelemetryWriter: Sendable {
    /// One export call: the signal and a protobuf `Export*ServiceRequest`.
    public typealias Export = @Sendable (OTLPResponse.Signal, [UInt8]) async -> OTLPExport.Outcome

    let export: Export
    /// `service.name` of telemetry without a `plugin_id` tag.
    package let serviceName: String

    public init(export: OTLPExport, serviceName: String) {
        self.init(serviceName: serviceName) { signal, body in await export.export(signal, body: body, json: false) }
    }

    public init(serviceName: String, export: @escaping Export) {
        self.serviceName = serviceName
        self.export = export
    }

    /// Returns once the metric points are durable.
    package func write(_ metrics: [TelemetryMetric]) async throws(TelemetryError) {
        try Self.check(await export(.metrics, TelemetryMetric.exportRequest(metrics, defaultService: serviceName)), what: "metrics")
    }

    /// Returns once the spans are durable (or dropped by the sampler, like any OTLP span).
    package func write(_ spans: [TelemetrySpan]) async throws(TelemetryError) {
        guard !spans.isEmpty else { return }
        try Self.check(await export(.traces, TelemetrySpan.exportRequest(spans, defaultService: serviceName)), what: "spans")
    }

    /// Busy when the ingest queue is full, unavailable when shutting down, storage failed or
    /// there is no store (each with a retry time where a retry can help); refused if our own
    /// request was.
    static func check(_ outcome: OTLPExport.Outcome, what: String) throws(TelemetryError) {
        let retry = OTLPExport.retryAfterSeconds(outcome)
        switch outcome {
        case .accepted(let rejected, let message):
            guard rejected == 0 else {
                throw TelemetryError(.refused, "\(rejected) \(what) were refused: \(message ?? "no reason given")")
            }
        case .malformed(let message):
            throw TelemetryError(.refused, "the server built a request it cannot read: \(message)")
        case .full(let message):
            throw TelemetryError(.busy, message, retryAfterSeconds: retry)
        case .closed, .failed:
            throw TelemetryError(.unavailable, outcome.errorMessage ?? "unavailable", retryAfterSeconds: retry)
        }
    }
}
