public import Hummingbird
public import Prometheus
import NIOCore
import PyFlareWire
import PyFlareAccess

/// The REST API's routes: liveness, readiness and Prometheus metrics for now.
public struct APIRoutes: Sendable {
    /// Says whether the server can take data, and why not.
    public typealias ReadinessCheck = @Sendable () async -> [String]

    let registry: PrometheusCollectorRegistry
    let readiness: ReadinessCheck
    /// Every route the server answers (its own, then a project's: every project has the same).
    let listed: @Sendable () -> [ListedRoute]

    /// - Parameters:
    ///   - registry: where swift-metrics records; `/metrics` renders it.
    ///   - readiness: returns the problems that make the server not ready (none when ready).
    ///   - listed: the routes `/api/v1/routes` lists, read when asked (they are added after these).
    public init(registry: PrometheusCollectorRegistry, readiness: @escaping ReadinessCheck,
                listed: @escaping @Sendable () -> [ListedRoute]) {
        self.registry = registry
        self.readiness = readiness
        self.listed = listed
    }

    public func routes<Context: RequestContext>(context: Context.Type = Context.self) -> APIRouteCollection<Context> {
        let routes = APIRouteCollection(context: Context.self)
        for path in ["/health", "/ready", "/metrics"] { routes.list(.get, path) }
        routes.api("/api/v1/routes") { _, _ in
            var json = JSONWriter()
            json.raw(#"{"routes":["#)
            var all: [ListedRoute] = []
            for route in listed() where !all.contains(route) { all.append(route) }
            json.elements(of: all) { route, json in
                json.raw("{")
                json.member("method", route.method)
                json.member("path", route.path)
                json.member("scope", RouteAccess(method: HTTPRequest.Method(route.method) ?? .get, path: route.path).requirement.rawValue)
                json.byte(UInt8(ascii: "}"))
            }
            json.raw("]}")
            return .json(json)
        }
        routes.collection.get("/health") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
        }
        routes.collection.get("/ready") { _, _ in
            let problems = await readiness()
            var json = JSONWriter()
            if problems.isEmpty {
                json.raw(#"{"status":"ready"}"#)
            } else {
                json.raw(#"{"status":"not_ready","problems":"#)
                json.strings(problems)
                json.byte(UInt8(ascii: "}"))
            }
            return Response(status: problems.isEmpty ? .ok : .serviceUnavailable,
                            headers: [.contentType: "application/json"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: json.bytes)))
        }
        routes.collection.get("/metrics") { _, _ in
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        return routes
    }
}
