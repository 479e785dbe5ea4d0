public import Hummingbird
public import PyFlareAccess
public import PyFlareIngest

/// Which right each route asks for, and whether it is the server's own or a project's.
///
/// Decided from the path's components exactly as the router splits them (empty components
/// dropped, no percent-decoding), so no spelling of a path reaches a route under another rule.
/// The server's own routes (liveness, metrics, the UI, the route list, keys and projects) are
/// on the server's router; every other path goes to the project's router, which has none of them.
public struct RouteAccess: Sendable, Equatable {
    public let requirement: AccessRequirement
    /// Answered by the server's router; otherwise by the router of the request's project.
    public let isServerRoute: Bool

    public init(method: HTTPRequest.Method, path: String) {
        let components = path.split(separator: "/", omittingEmptySubsequences: true)
        let reads = method == .get || method == .head
        func under(_ prefix: String...) -> Bool {
            components.count >= prefix.count && zip(components, prefix).allSatisfy { $0 == $1 }
        }
        if reads, components.isEmpty || components == ["health"] || components == ["ready"] || under("ui") {
            (requirement, isServerRoute) = (.public, true)
        } else if under("api", "v1", "keys") || under("api", "v1", "projects") {
            (requirement, isServerRoute) = (.globalAdmin, true)
        } else if components == ["metrics"] || components == ["api", "v1", "routes"] {
            (requirement, isServerRoute) = (reads ? .read : .admin, true)
        } else if reads || (method == .post && components == ["api", "v1", "sql"]) {
            (requirement, isServerRoute) = (.read, false)
        } else if method == .post, under("api", "v1", "telemetry") || components == ["v1", "span_annotations"] {
            (requirement, isServerRoute) = (.ingest, false)
        } else {
            (requirement, isServerRoute) = (.admin, false)
        }
    }
}

/// The router of each project, by name: what the access check hands a request to once it knows
/// the project. A project that is not open (being deleted, say) has none.
public typealias ProjectResponders = @Sendable (String) -> RouterResponder<PyFlareRequestContext>?

/// Checks every request's key against its route's rule (`RouteAccess`) before any handler
/// runs, then passes it to the server's routes or to its project's router.
///
/// Put first on the server's router (after `BrowserRequestGuard`): nothing after it runs for a
/// refused request, and a project's data is reachable only through that project's router.
public struct AccessMiddleware: RouterMiddleware {
    public typealias Context = PyFlareRequestContext
    let gatekeeper: Gatekeeper
    let projects: ProjectResponders

    public init(gatekeeper: Gatekeeper, projects: @escaping ProjectResponders) {
        self.gatekeeper = gatekeeper
        self.projects = projects
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let route = RouteAccess(method: request.method, path: request.uri.path)
        var context = context
        switch gatekeeper.decide(AccessRequest(request, clientAddress: context.clientAddress), requires: route.requirement) {
        case .failure(let denial):
            var response = APIError(denial.httpStatus, code: denial.code, denial.message, retryAfterSeconds: denial.retryAfterSeconds).response
            if denial.kind == .unauthenticated { response.headers[.wwwAuthenticate] = "Bearer" }
            return response
        case .success(let grant):
            context.grant = grant
        }
        if route.isServerRoute { return try await next(request, context) }
        guard let project = context.grant?.project, let responder = projects(project) else {
            return APIError(.notFound, code: "unknown_project", "the project is not open").response
        }
        return try await responder.respond(to: request, context: context)
    }
}
