import Hummingbird
import PyFlareIngest
import PyFlareStore
import PyFlareWire

/// `GET /api/v1/telemetry/traces?plugin_id=…&limit=…`: the traces a plugin's spans are in.
extension TelemetryRoutes {
    /// Newest first, in the summary form of `GET /api/v1/traces`; the other filters of that
    /// route apply too (`since`, `until`, `status`, …), except `cursor`.
    ///
    /// A trace shows as soon as its spans are durable: the summaries written at seals are
    /// merged with those of the spans not sealed yet.
    func listTraces(_ request: Request) async throws -> Response {
        let parameters = request.uri.queryParameters
        guard parameters["cursor"] == nil else {
            throw APIError.badRequest("cursor is not supported here; narrow the list with since and until")
        }
        var query = try TraceRoutes.query(from: parameters)
        let pluginID = parameters["plugin_id"].map(String.init).flatMap { $0.isEmpty ? nil : $0 } ?? configuration.serviceName
        query.service = pluginID

        let rows = try await store.liveTraces(query)

        var json = JSONWriter(capacity: 256 * min(rows.count, query.limit) + 64)
        json.raw("{")
        json.member("plugin_id", pluginID)
        json.raw(#","traces":["#)
        json.elements(of: rows) { row, json in
            TraceRoutes.summary(row, into: &json)
        }
        json.raw("]}")
        return .json(json)
    }
}
