public import Hummingbird
import Logging
import Synchronization

/// A feature's routes: a Hummingbird `RouteCollection` whose handlers throw ``APIError``, and
/// the method and path of each, which `GET /api/v1/routes` lists (so tests reach every route
/// without a list of their own). Each `…Routes` type builds one; the server adds it to the
/// router of a project, or to its own, with ``Hummingbird/Router/addRoutes(_:listedIn:)``.
public final class APIRouteCollection<Context: RequestContext> {
    public let collection: RouteCollection<Context>
    public private(set) var listed: [ListedRoute] = []

    public init(context: Context.Type = Context.self) {
        collection = RouteCollection(context: Context.self)
    }

    /// A route (GET unless told) whose handler throws ``APIError``. Any other error is one the
    /// handler did not expect: it is logged whole with the request id, and the client gets a
    /// 500 with that id and nothing else (an error's text may name files or types).
    func api(_ path: RouterPath, method: HTTPRequest.Method = .get,
             _ handler: @escaping @Sendable (Request, Context) async throws -> Response) {
        list(method, "\(path)")
        collection.on(path, method: method) { request, context in
            do {
                return try await handler(request, context)
            } catch let error as APIError {
                return error.response
            } catch {
                let requestID = context.id
                context.logger.error("request failed", metadata: [
                    "request_id": "\(requestID)", "route": "\(method) \(path)", "error": "\(error)",
                ])
                return APIError(.internalServerError, code: "internal",
                                "the server could not answer this request (request id \(requestID); the server log has the detail)").response
            }
        }
    }

    /// Lists a route added to ``collection`` directly (one that does not answer in the API's shapes).
    func list(_ method: HTTPRequest.Method, _ path: String) {
        let route = ListedRoute(method: method.rawValue, path: path)
        if !listed.contains(route) { listed.append(route) }
    }
}

/// A route as `GET /api/v1/routes` lists it.
public struct ListedRoute: Hashable, Sendable {
    public var method: String
    public var path: String
}

/// The routes one router serves, filled while it is built and read by `GET /api/v1/routes`.
public final class RouteList: Sendable {
    private let routes = Mutex<[ListedRoute]>([])

    public init() {}

    public var all: [ListedRoute] { routes.withLock { $0 } }

    func add(_ more: [ListedRoute]) {
        routes.withLock { routes in routes += more.filter { !routes.contains($0) } }
    }
}

extension Router {
    /// Adds a feature's routes, listing them in `list`.
    public func addRoutes(_ routes: APIRouteCollection<Context>, listedIn list: RouteList) {
        addRoutes(routes.collection)
        list.add(routes.listed)
    }
}
