public import Hummingbird
public import PyFlareStore
import PyFlareWire

/// The JSON telemetry API, for clients that do not speak OTLP (plugins, scripts):
/// metrics, and spans built request by request. Documented in `docs/telemetry-api.md`.
///
/// Everything becomes ordinary OTLP data: requests are turned into protobuf
/// `Export*ServiceRequest`s and handed to ``TelemetryWriter``, the path of the OTLP receivers.
public struct TelemetryRoutes: Sendable {
    let spans: TelemetrySpans
    let writer: TelemetryWriter
    let store: SpanStore

    var configuration: TelemetryConfiguration { spans.configuration }

    public init(spans: TelemetrySpans, writer: TelemetryWriter, store: SpanStore) {
        self.spans = spans
        self.writer = writer
        self.store = store
    }

    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.api("/api/v1/telemetry/metrics", method: .post) { request, _ in try await postMetrics(request) }
        router.api("/api/v1/telemetry/metrics") { request, _ in try await getMetrics(request) }
        router.api("/api/v1/telemetry/traces/spans", method: .post) { request, _ in try await startSpan(request) }
        router.api("/api/v1/telemetry/traces/spans/:span_id/tags", method: .post) { request, context in
            try await addTags(request, spanID: try context.parameters.path("span_id"))
        }
        router.api("/api/v1/telemetry/traces/spans/:span_id/logs", method: .post) { request, context in
            try await addLog(request, spanID: try context.parameters.path("span_id"))
        }
        router.api("/api/v1/telemetry/traces/spans/:span_id/finish", method: .post) { request, context in
            try await finish(request, spanID: try context.parameters.path("span_id"))
        }
        router.api("/api/v1/telemetry/traces") { request, _ in try await listTraces(request) }
    }

}
