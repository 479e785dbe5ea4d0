public import Hummingbird

/// On a server without the durable store (`sink.kind: file` or `counting`), every route that
/// reads or changes stored data answers 503 saying why, rather than 404: one rule at the
/// front of the project's router instead of a list of unavailable routes per feature.
/// Liveness, readiness, metrics, the route list, keys, projects and the UI are on the server's
/// router and stay up.
public struct StoreRequiredMiddleware<Context: RequestContext>: RouterMiddleware {
    let reason: String

    public init(reason: String) {
        self.reason = reason
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        let needsStore = path.hasPrefix("/api/v1/") || path == "/v1/span_annotations"
        guard needsStore else { return try await next(request, context) }
        return APIError(.serviceUnavailable, code: "unavailable", reason).response
    }
}
