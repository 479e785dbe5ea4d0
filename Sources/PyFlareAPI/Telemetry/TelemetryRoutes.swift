public import Hummingbird
public import PyFlareIngest
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

    public func routes<Context: RequestContext>(context: Context.Type = Context.self) -> APIRouteCollection<Context> {
        let routes = APIRouteCollection(context: Context.self)
        routes.api("/api/v1/telemetry/metrics", method: .post) { request, _ in try await postMetrics(request) }
        routes.api("/api/v1/telemetry/metrics") { request, _ in try await getMetrics(request) }
        routes.api("/api/v1/telemetry/traces/spans", method: .post) { request, _ in try await startSpan(request) }
        routes.api("/api/v1/telemetry/traces/spans/:span_id/tags", method: .post) { request, context in
            try await addTags(request, spanID: try context.parameters.path("span_id"))
        }
        routes.api("/api/v1/telemetry/traces/spans/:span_id/logs", method: .post) { request, context in
            try await addLog(request, spanID: try context.parameters.path("span_id"))
        }
        routes.api("/api/v1/telemetry/traces/spans/:span_id/finish", method: .post) { request, context in
            try await finish(request, spanID: try context.parameters.path("span_id"))
        }
        routes.api("/api/v1/telemetry/traces") { request, _ in try await listTraces(request) }
        return routes
    }

    /// A call of the receiver, its refusal answered in the API's shape.
    func receive<T>(_ body: () throws(TelemetryError) -> T) throws(APIError) -> T {
        do { return try body() } catch { throw APIError(error) }
    }

    func receive<T>(_ body: () async throws(TelemetryError) -> T) async throws(APIError) -> T {
        do { return try await body() } catch { throw APIError(error) }
    }
}

extension APIError {
    /// The receiver's refusal as the API answers it: 429 and 503 with `Retry-After`, 409 for
    /// a span's state or limits, 404 for a span nobody opened, 500 for a request of our own refused.
    init(_ error: TelemetryError) {
        switch error.kind {
        case .busy: self.init(.tooManyRequests, code: "too_many_requests", error.message, retryAfterSeconds: error.retryAfterSeconds)
        case .conflict: self.init(.conflict, code: "conflict", error.message)
        case .limitReached: self.init(.conflict, code: "limit_reached", error.message)
        case .notFound: self = .notFound(error.message)
        case .unavailable: self.init(.serviceUnavailable, code: "unavailable", error.message, retryAfterSeconds: error.retryAfterSeconds)
        case .refused: self.init(.internalServerError, code: "internal", error.message)
        }
    }
}
