public import Hummingbird
public import Prometheus
import NIOCore

/// The REST API's routes: liveness, readiness and Prometheus metrics for now.
public struct APIRoutes: Sendable {
    /// Says whether the server can take data, and why not.
    public typealias ReadinessCheck = @Sendable () async -> [String]

    let registry: PrometheusCollectorRegistry
    let readiness: ReadinessCheck

    /// - Parameters:
    ///   - registry: where swift-metrics records; `/metrics` renders it.
    ///   - readiness: returns the problems that make the server not ready (none when ready).
    public init(registry: PrometheusCollectorRegistry, readiness: @escaping ReadinessCheck) {
        self.registry = registry
        self.readiness = readiness
    }

    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/health") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
        }
        router.get("/ready") { _, _ in
            let problems = await readiness()
            let body = problems.isEmpty
                ? #"{"status":"ready"}"#
                : #"{"status":"not_ready","problems":["# + problems.map(jsonQuoted).joined(separator: ",") + "]}"
            return Response(status: problems.isEmpty ? .ok : .serviceUnavailable,
                            headers: [.contentType: "application/json"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
        router.get("/metrics") { _, _ in
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer)))
        }
    }
}

func jsonQuoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case _ where scalar.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
