/// The envelope of the OTLP requests PyFlare builds itself (the telemetry API, the judge's
/// own spans). `ExportTraceServiceRequest` and `ExportMetricsServiceRequest` number their
/// fields alike (resource_X 1 → resource 1, scope_X 2 → scope 1, items 2), so one function
/// writes both.
public enum OTLPEnvelope {
    /// One resource per service (`service.name`, in order of first appearance), one scope
    /// named `scope`, and `items` in request order, each written by `encode` as a span or
    /// metric message.
    public static func request<Item>(_ items: [Item], scope scopeName: String, service: (Item) -> String,
                                     encode: (Item, inout ProtoWriter) -> Void) -> [UInt8] {
        var services: [String] = []
        var byService: [String: [Item]] = [:]
        for item in items {
            let name = service(item)
            if byService[name] == nil { services.append(name) }
            byService[name, default: []].append(item)
        }
        var request = ProtoWriter()
        for name in services {
            request.messageField(1) { resource in
                resource.messageField(1) { $0.keyValueField(1, key: "service.name", value: .string(name)) }
                resource.messageField(2) { scope in
                    scope.messageField(1) { $0.stringField(1, scopeName) }
                    for item in byService[name]! {
                        scope.messageField(2) { encode(item, &$0) }
                    }
                }
            }
        }
        return request.bytes
    }
}
