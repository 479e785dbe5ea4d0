public import Hummingbird
import PyFlareWire
public import PyFlareStore

/// `GET /api/v1/logs` (log records, newest first, filtered and paged) and
/// `GET /api/v1/traces/{trace_id}/logs` (the records of one trace, oldest first).
public struct LogRoutes: Sendable {
    let store: SpanStore
    static let maxLimit = 1000
    static let defaultLimit = 100

    public init(store: SpanStore) {
        self.store = store
    }

    public func routes<Context: RequestContext>(context: Context.Type = Context.self) -> APIRouteCollection<Context> {
        let routes = APIRouteCollection(context: Context.self)
        routes.api("/api/v1/logs") { request, _ in try await list(request) }
        routes.api("/api/v1/traces/:trace_id/logs") { request, context in
            try await traceLogs(try context.parameters.path("trace_id"), request)
        }
        return routes
    }

    func list(_ request: Request) async throws -> Response {
        let query = try Self.query(from: QueryParameters(request))
        let page = try await store.logs(query)
        var json = JSONWriter(capacity: 512 * page.records.count + 64)
        json.raw("{")
        json.key("logs")
        Self.records(page, order: page.records, into: &json)
        json.key("next_cursor")
        if let cursor = page.nextCursor { json.string(cursor.token) } else { json.null() }
        json.member("warnings", page.warnings)
        json.byte(UInt8(ascii: "}"))
        return .json(json)
    }

    func traceLogs(_ id: String, _ request: Request) async throws -> Response {
        let traceID = try IDParameters.traceID(id, field: "trace id")
        let parameters = QueryParameters(request)
        var query = LogQuery()
        query.traceID = traceID
        query.limit = try parameters.limit(default: Self.maxLimit, maximum: Self.maxLimit)
        let page = try await store.logs(query)
        var json = JSONWriter(capacity: 512 * page.records.count + 64)
        json.raw("{")
        json.member("trace_id", Hex.string(traceID))
        json.key("logs")
        Self.records(page, order: page.records.reversed(), into: &json)
        json.member("truncated", page.nextCursor != nil)
        json.member("warnings", page.warnings)
        json.byte(UInt8(ascii: "}"))
        return .json(json)
    }

    /// `[{record}, …]` for the records of `page` in `order`.
    static func records(_ page: LogPage, order: some Sequence<(batch: Int, row: Int)>, into json: inout JSONWriter) {
        var services: [Int: [String?]] = [:]
        json.byte(UInt8(ascii: "["))
        json.elements(of: order) { record, json in
            let batch = page.batches[record.batch]
            if services[record.batch] == nil { services[record.batch] = batch.resourceServiceNames() }
            LogRecordJSON.record(record.row, of: batch, services: services[record.batch] ?? [], into: &json)
        }
        json.byte(UInt8(ascii: "]"))
    }

    /// OTLP severity numbers of the names `severity` accepts: the lowest of each range.
    static let severityNames: [String: UInt8] = [
        "trace": 1, "debug": 5, "info": 9, "warn": 13, "warning": 13, "error": 17, "fatal": 21,
    ]

    static func query(from parameters: QueryParameters) throws(APIError) -> LogQuery {
        var query = LogQuery()
        query.service = parameters.text("service")
        if let value = parameters.text("severity") {
            if let number = UInt8(value), (1...24).contains(number) {
                query.minSeverity = number
            } else if let number = severityNames[value.lowercased()] {
                query.minSeverity = number
            } else {
                throw .badRequest("severity must be a number from 1 to 24 or one of trace, debug, info, warn, error, fatal; not \"\(value)\"")
            }
        }
        if let value = parameters.text("trace_id") { query.traceID = try IDParameters.traceID(value, field: "trace id") }
        (query.since, query.until) = try parameters.timeRange()
        query.text = parameters.text("q")
        query.limit = try parameters.limit(default: defaultLimit, maximum: maxLimit)
        if let value = parameters.text("cursor") {
            guard let cursor = LogQuery.Cursor(token: value) else { throw .badRequest("cursor is not one this API returned") }
            query.cursor = cursor
        }
        return query
    }
}
