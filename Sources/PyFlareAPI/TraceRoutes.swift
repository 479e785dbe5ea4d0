import Foundation
public import Hummingbird
import HummingbirdCore
import PyFlareModel
import PyFlareWire
public import PyFlareStore

/// `GET /api/v1/traces` (summaries, newest first) and `GET /api/v1/traces/{trace_id}` (every span).
public struct TraceRoutes: Sendable {
    let store: SpanStore
    let encoder: SpanJSONLinesEncoder
    static let maxLimit = 1000

    public init(store: SpanStore, pricing: PricingTable) {
        self.store = store
        self.encoder = SpanJSONLinesEncoder(pricing: pricing)
    }

    public func routes<Context: RequestContext>(context: Context.Type = Context.self) -> APIRouteCollection<Context> {
        let routes = APIRouteCollection(context: Context.self)
        routes.api("/api/v1/traces") { request, _ in try await list(request) }
        routes.api("/api/v1/traces/:trace_id") { request, context in
            let id = try context.parameters.path("trace_id")
            let parameters = QueryParameters(request.uri.queryParameters)
            if let view = parameters.text("view") {
                guard view == "waterfall" else { throw APIError.invalid("view", "must be \"waterfall\" or absent, not \"\(view)\"") }
                return try await waterfall(id)
            }
            let spanID = try parameters.text("span_id").map { text throws(APIError) in try IDParameters.spanID(text, field: "span_id") }
            return try await trace(id, onlySpan: spanID)
        }
        return routes
    }

    func list(_ request: Request) async throws -> Response {
        let query = try Self.query(from: request.uri.queryParameters)
        var fetch = query
        fetch.limit = query.limit + 1
        let text = QueryParameters(request.uri.queryParameters).text("q")
        let words = text.map(TraceSearchWords.of) ?? []
        var search: TraceSearchPage?
        let rows: [TraceSummaryRow]
        if let text {
            guard !words.isEmpty else { throw APIError.invalid("q", "must hold a word (letters or digits)") }
            let found = try await store.searchTraces(fetch, text: text)
            search = found
            rows = found.rows
        } else {
            rows = try await store.liveTraces(fetch)
        }
        let page = rows.prefix(query.limit)
        var json = JSONWriter(capacity: 256 * page.count + 64)
        json.raw(#"{"traces":["#)
        json.elements(of: page) { row, json in
            Self.summary(row, into: &json)
        }
        json.raw(#"],"next_cursor":"#)
        if rows.count > query.limit, let last = page.last {
            json.string(TraceQuery.Cursor(startTime: last.startTime, traceID: last.traceID).token)
        } else {
            json.null()
        }
        if let search {
            json.key("search")
            json.raw("{")
            json.member("words", words)
            json.member("segments_in_range", search.segmentsInRange)
            json.member("segments_searched", search.segmentsSearched)
            json.member("blocks_read", search.blocksRead)
            json.member("blocks_skipped", search.blocksSkipped)
            json.member("spans_matched", search.spansMatched)
            json.raw("}")
            json.member("warnings", search.warnings)
        }
        json.byte(UInt8(ascii: "}"))
        return .json(json)
    }

    /// The whole trace, or with `onlySpan` the same document holding that one span (what the
    /// UI's span panel reads, so a click in a 100,000-span trace moves one span, not all).
    func trace(_ id: String, onlySpan: UInt64? = nil) async throws -> Response {
        let traceID = try IDParameters.traceID(id, field: "trace id")
        let stored = try await store.trace(traceID)
        var logQuery = LogQuery()
        logQuery.traceID = traceID
        logQuery.limit = LogRoutes.maxLimit
        let logs = try await store.logs(logQuery)
        guard stored.spanCount > 0 || !stored.warnings.isEmpty || !logs.records.isEmpty else {
            throw APIError.notFound("no spans or log records stored for trace \(Hex.string(traceID))")
        }
        // Spans by start time, then span id: the order a waterfall view wants.
        var order: [(batch: Int, span: Int)] = []
        for (batchIndex, batch) in stored.batches.enumerated() {
            for span in 0..<batch.count where onlySpan.map({ batch.spans.spanIDs[span] == $0 }) ?? true {
                order.append((batchIndex, span))
            }
        }
        if let onlySpan, order.isEmpty {
            throw APIError.notFound("trace \(Hex.string(traceID)) has no span \(Hex.string(onlySpan))")
        }
        order.sort { lhs, rhs in
            let left = stored.batches[lhs.batch].spans, right = stored.batches[rhs.batch].spans
            return (left.startTimes[lhs.span], left.spanIDs[lhs.span]) < (right.startTimes[rhs.span], right.spanIDs[rhs.span])
        }
        var json = JSONWriter(capacity: 2048 * order.count + 128)
        json.raw("{")
        json.member("trace_id", Hex.string(traceID))
        json.member("span_count", UInt64(order.count))
        json.raw(#","spans":["#)
        json.elements(of: order) { entry, json in
            encoder.encode(stored.batches[entry.batch], span: entry.span, into: &json)
        }
        // The trace's log records, oldest first; all of them are at logs_url when there are more.
        json.raw(#"],"logs":"#)
        LogRoutes.records(logs, order: logs.records.reversed(), into: &json)
        json.member("logs_truncated", logs.nextCursor != nil)
        json.member("logs_url", "/api/v1/traces/\(Hex.string(traceID))/logs")
        json.member("warnings", stored.warnings + logs.warnings)
        json.byte(UInt8(ascii: "}"))
        return .json(json)
    }

    static func summary(_ row: TraceSummaryRow, into json: inout JSONWriter) {
        json.raw("{")
        json.member("trace_id", Hex.string(row.traceID))
        json.member("root_service", row.rootService)
        json.member("root_name", row.rootName)
        json.member("start_time_unix_nano", row.startTime)
        json.member("start_time", rfc3339: row.startTime)
        json.member("end_time_unix_nano", row.endTime)
        json.member("duration_ms", Double(row.endTime &- row.startTime) / 1e6)
        json.member("span_count", row.spanCount)
        json.member("error_count", row.errorCount)
        json.member("input_tokens", row.inputTokens)
        json.member("output_tokens", row.outputTokens)
        json.member("total_tokens", row.totalTokens)
        json.member("cost_micros", row.costMicros)
        json.member("unpriced_count", row.unpricedCount)
        json.member("services", row.services)
        json.member("models", row.models)
        json.member("user", row.user)
        json.member("session", row.session)
        json.member("feature", row.feature)
        json.member("environment", row.environment)
        json.byte(UInt8(ascii: "}"))
    }

    /// The filters of the query string; a malformed one is a 400 naming it.
    static func query(from parameters: FlatDictionary<Substring, Substring>) throws(APIError) -> TraceQuery {
        let parameters = QueryParameters(parameters)
        var query = TraceQuery()
        query.service = parameters.text("service")
        query.model = parameters.text("model")
        query.user = parameters.text("user")
        query.session = parameters.text("session")
        query.feature = parameters.text("feature")
        query.environment = parameters.text("environment")
        if let status = parameters.text("status") {
            guard let value = TraceQuery.Status(rawValue: status) else {
                throw .badRequest("status must be \"error\" or \"ok\", not \"\(status)\"")
            }
            query.status = value
        }
        query.since = try parameters.time("since")
        query.until = try parameters.time("until")
        if let value = parameters.text("min_duration_ms") {
            guard let ms = Double(value), ms >= 0, let nanoseconds = Int64(checked: ms * 1e6), nanoseconds <= UnixTime.latest else {
                throw .invalid("min_duration_ms", "must be a number of milliseconds from 0 to \(UnixTime.latest / 1_000_000), not \"\(value)\"")
            }
            query.minDurationNanoseconds = nanoseconds
        }
        if let value = parameters.text("min_cost") {
            // US dollars, as the answers write costs; kept in millionths like the index.
            guard let dollars = Double(value), dollars >= 0, let micros = Int64(checked: (dollars * 1e6).rounded()) else {
                throw .invalid("min_cost", "must be an amount in US dollars, 0 or more, not \"\(value)\"")
            }
            query.minCostMicros = micros
        }
        query.limit = try parameters.limit(default: query.limit, maximum: maxLimit)
        if let value = parameters.text("cursor") {
            guard let cursor = TraceQuery.Cursor(token: value) else { throw .badRequest("cursor is not one this API returned") }
            query.cursor = cursor
        }
        return query
    }
}
