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
    /// The routers of the projects' routes (every project has the same), listed after the server's own.
    let projectRouters: @Sendable () -> [ObjectIdentifier]

    /// - Parameters:
    ///   - registry: where swift-metrics records; `/metrics` renders it.
    ///   - readiness: returns the problems that make the server not ready (none when ready).
    ///   - projectRouters: the routers whose routes `/api/v1/routes` lists besides this one's.
    public init(registry: PrometheusCollectorRegistry, readiness: @escaping ReadinessCheck,
                projectRouters: @escaping @Sendable () -> [ObjectIdentifier] = { [] }) {
        self.registry = registry
        self.readiness = readiness
        self.projectRouters = projectRouters
    }

    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        for path in ["/health", "/ready", "/metrics"] { APIRouteCatalog.record(method: .get, path: path, of: router) }
        // Every route of this router, read when asked (the others are added after this one).
        let routerID = ObjectIdentifier(router)
        router.api("/api/v1/routes") { _, _ in
            var json = JSONWriter()
            json.raw(#"{"routes":["#)
            var routes = APIRouteCatalog.routes(of: routerID)
            for project in projectRouters() {
                routes += APIRouteCatalog.routes(of: project).filter { !routes.contains($0) }
            }
            for (index, route) in routes.enumerated() {
                if index > 0 { json.byte(UInt8(ascii: ",")) }
                json.raw(#"{"method":"#)
                json.string(route.method)
                json.raw(#","path":"#)
                json.string(route.path)
                json.raw(#","scope":"#)
                json.string(RouteAccess(method: HTTPRequest.Method(route.method) ?? .get, path: route.path).requirement.rawValue)
                json.byte(UInt8(ascii: "}"))
            }
            json.raw("]}")
            return .json(json)
        }
        router.get("/health") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
        }
        router.get("/ready") { _, _ in
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
        router.get("/metrics") { _, _ in
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer)))
        }
    }
}
