import Foundation
public import GRDB
public import Hummingbird
import PyFlareAnalytics
import PyFlareWire

/// Evaluations (`docs/quality.md`): `GET /api/v1/evaluations` and `/evaluations/summary`, and
/// the intake of annotations: `POST /api/v1/evaluations`, and `POST /v1/span_annotations` in
/// the shape Phoenix (OpenInference) clients send.
public struct EvaluationRoutes: Sendable {
    let pool: DatabasePool
    let rules: EvaluationVerdictRules

    public init(pool: DatabasePool, rules: EvaluationVerdictRules) {
        self.pool = pool
        self.rules = rules
    }

    static let routes: [(String, HTTPRequest.Method)] = [
        ("/api/v1/evaluations", .get), ("/api/v1/evaluations/summary", .get), ("/api/v1/evaluations", .post),
        ("/v1/span_annotations", .post),
    ]
    static let maxBodyBytes = 4 << 20

    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.api("/api/v1/evaluations") { request, _ in try await list(QueryParameters(request)) }
        router.api("/api/v1/evaluations/summary") { request, _ in try await summary(QueryParameters(request)) }
        router.api("/api/v1/evaluations", method: .post) { request, _ in try await annotate(request) }
        router.api("/v1/span_annotations", method: .post) { request, _ in try await annotate(request) }
    }

    public static func addUnavailableRoutes<Context: RequestContext>(to router: Router<Context>, reason: String) {
        for (path, method) in routes {
            router.api(RouterPath(path), method: method) { _, _ in throw APIError(.serviceUnavailable, code: "unavailable", reason) }
        }
    }

    static let fields: [RowField] = [
        RowField("id", nil, .integer), RowField("time", "time_ns", .time), RowField("time_unix_nano", "time_ns", .integer),
        RowField("name"), RowField("source"), RowField("evaluator"), RowField("trace_id"), RowField("span_id"),
        RowField("service"), RowField("model"), RowField("operation"), RowField("score", nil, .real), RowField("label"),
        RowField("explanation"), RowField("passed", nil, .boolean), RowField("details", nil, .json),
        RowField("cost_micros", nil, .integer),
    ]

    /// The filters every read shares: the range and the equality filters named in `columns`.
    static func filters(_ parameters: QueryParameters, defaultSpan: Int64, columns: [String])
        throws(APIError) -> (range: Range<Int64>, clauses: [String], arguments: [(any DatabaseValueConvertible)?]) {
        let range = try RCARoutes.range(parameters, defaultSpan: defaultSpan)
        var clauses = ["time_ns >= ?", "time_ns < ?"]
        var arguments: [(any DatabaseValueConvertible)?] = [range.lowerBound, range.upperBound]
        for column in columns {
            if let value = parameters.text(column) {
                clauses.append("\(column) = ?")
                arguments.append(value)
            }
        }
        if let source = parameters.text("source"), EvaluationRecord.Source(rawValue: source) == nil {
            throw .invalid("source", "must be one of \(EvaluationRecord.Source.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        switch parameters.text("passed") {
        case nil: break
        case "true", "1": clauses.append("passed = 1")
        case "false", "0": clauses.append("passed = 0")
        case let other?: throw .invalid("passed", "must be true or false, not \"\(other)\"")
        }
        return (range, clauses, arguments)
    }

    func list(_ parameters: QueryParameters) async throws -> Response {
        var (range, clauses, arguments) = try Self.filters(
            parameters, defaultSpan: 7 * UnixTime.day, columns: ["name", "span_id", "trace_id", "model", "service", "source"])
        // Newest first; the cursor is the last row's (time, id).
        if let cursor = parameters.text("cursor") {
            let parts = cursor.split(separator: ":")
            guard parts.count == 2, let time = Int64(parts[0]), let id = Int64(parts[1]) else {
                throw APIError.badRequest("cursor is not one this API returned")
            }
            clauses.append("(time_ns < ? OR (time_ns = ? AND id < ?))")
            arguments += [time, time, id]
        }
        let limit = try parameters.limit(default: 100, maximum: 1_000)
        let rows = try await pool.read { [clauses, arguments] db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM evaluations WHERE \(clauses.joined(separator: " AND ")) ORDER BY time_ns DESC, id DESC LIMIT ?
                """, arguments: StatementArguments(arguments + [limit + 1]))
        }
        var json = JSONWriter()
        json.raw(#"{"since":"#)
        json.time(range.lowerBound)
        json.raw(#","until":"#)
        json.time(range.upperBound)
        json.raw(#","evaluations":["#)
        for (index, row) in rows.prefix(limit).enumerated() {
            if index > 0 { json.raw(",") }
            json.object(row, Self.fields)
        }
        json.raw(#"],"next_cursor":"#)
        if rows.count > limit, let last = rows.prefix(limit).last {
            json.string("\(last["time_ns"] as Int64):\(last["id"] as Int64)")
        } else {
            json.null()
        }
        json.raw("}")
        return .json(json)
    }

    /// Per name (and `group_by` model or service): counts, mean score, pass and fail rates,
    /// overall and per `interval`.
    func summary(_ parameters: QueryParameters) async throws -> Response {
        let (range, clauses, arguments) = try Self.filters(
            parameters, defaultSpan: UnixTime.day, columns: ["name", "model", "service", "source"])
        let interval: Int64
        switch parameters.text("interval") ?? "1h" {
        case "1m": interval = UnixTime.minute
        case "1h": interval = UnixTime.hour
        case "1d": interval = UnixTime.day
        case let other: throw APIError.invalid("interval", "must be 1m, 1h or 1d, not \"\(other)\"")
        }
        guard (range.upperBound - range.lowerBound) / interval <= 2_000 else {
            throw APIError.badRequest("the range holds more than 2000 intervals of \(parameters.text("interval") ?? "1h")")
        }
        let group = parameters.text("group_by") ?? "name"
        guard ["name", "model", "service"].contains(group) else { throw APIError.invalid("group_by", "must be name, model or service") }
        let key = group == "name" ? "''" : "coalesce(\(group), '')"
        let aggregates = "count(*), count(score), avg(score), sum(passed = 1), sum(passed = 0), sum(cost_micros)"
        let (totals, series) = try await pool.read { [clauses, arguments] db in
            let filter = clauses.joined(separator: " AND ")
            let totals = try Row.fetchAll(db, sql: """
                SELECT name, \(key), \(aggregates) FROM evaluations WHERE \(filter) GROUP BY 1, 2 ORDER BY 1, 2
                """, arguments: StatementArguments(arguments))
            let series = try Row.fetchAll(db, sql: """
                SELECT name, \(key), (time_ns / ?) * ?, \(aggregates) FROM evaluations WHERE \(filter) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
                """, arguments: StatementArguments([interval, interval] + arguments))
            return (totals, series)
        }
        var bySeries: [[String]: [Row]] = [:]
        for row in series { bySeries[[row[0], row[1]], default: []].append(row) }
        func aggregate(_ row: Row, from column: Int, into json: inout JSONWriter) {
            let count: Int64 = row[column], passed: Int64 = row[column + 3] ?? 0, failed: Int64 = row[column + 4] ?? 0
            json.raw(#""count":"#)
            json.int(count)
            json.raw(#","scored":"#)
            json.int(row[column + 1])
            json.raw(#","mean_score":"#)
            if let mean = row[column + 2] as Double? { json.double(mean) } else { json.null() }
            json.raw(#","passed":"#)
            json.int(passed)
            json.raw(#","failed":"#)
            json.int(failed)
            json.raw(#","pass_rate":"#)
            if passed + failed > 0 { json.double(Double(passed) / Double(passed + failed)) } else { json.null() }
            json.raw(#","fail_rate":"#)
            if passed + failed > 0 { json.double(Double(failed) / Double(passed + failed)) } else { json.null() }
            json.raw(#","cost_micros":"#)
            json.int(row[column + 5] ?? 0)
        }
        var json = JSONWriter()
        json.raw(#"{"since":"#)
        json.time(range.lowerBound)
        json.raw(#","until":"#)
        json.time(range.upperBound)
        json.raw(#","group_by":"#)
        json.string(group)
        json.raw(#","groups":["#)
        for (index, row) in totals.enumerated() {
            if index > 0 { json.raw(",") }
            json.raw(#"{"name":"#)
            json.string(row[0])
            if group != "name" {
                json.raw(#",""#)
                json.bytes.append(contentsOf: group.utf8)
                json.raw(#"":"#)
                json.string(row[1])
            }
            json.raw(",")
            aggregate(row, from: 2, into: &json)
            json.raw(#","series":["#)
            for (point, bucket) in (bySeries[[row[0], row[1]]] ?? []).enumerated() {
                if point > 0 { json.raw(",") }
                json.raw(#"{"start":"#)
                json.time(bucket[2])
                json.raw(",")
                aggregate(bucket, from: 3, into: &json)
                json.raw("}")
            }
            json.raw("]}")
        }
        json.raw("]}")
        return .json(json)
    }

    /// Annotations: `{"data": [{"span_id", "trace_id"?, "name", "annotator_kind"?, "result":
    /// {"label", "score", "explanation"}}]}` (Phoenix) or `{"evaluations": [{"span_id", "name",
    /// "score", "label", "explanation", …}]}`. Every item is checked before any is stored.
    func annotate(_ request: Request) async throws -> Response {
        let body = try await JSONBody.read(request, maxBytes: Self.maxBodyBytes)
        guard case .array(let items)? = body["data"] ?? body["evaluations"] else {
            throw APIError.invalid("data", "must be an array of annotations")
        }
        let now = UnixTime.nowNanoseconds()
        var records: [EvaluationRecord] = []
        for (index, item) in items.enumerated() {
            let field = "data[\(index)]"
            guard case .object = item else { throw APIError.invalid(field, "must be an object") }
            guard let name = item["name"]?.text, !name.isEmpty else { throw APIError.invalid("\(field).name", "is required") }
            guard let spanID = item["span_id"]?.text, Hex.parseSpanID(spanID) != nil, spanID.count == 16 else {
                throw APIError.invalid("\(field).span_id", "must be 16 hex digits")
            }
            let traceID = item["trace_id"]?.text
            if let traceID, traceID.count != 32 || Hex.parseTraceID(traceID) == nil {
                throw APIError.invalid("\(field).trace_id", "must be 32 hex digits")
            }
            let result = item["result"] ?? item
            var score: Double?
            switch result["score"] {
            case nil, .null?: score = nil
            case let value?:
                guard let number = value.number, number.isFinite else { throw APIError.invalid("\(field).score", "must be a number") }
                score = number
            }
            let label = result["label"]?.text, explanation = result["explanation"]?.text
            guard score != nil || label != nil else { throw APIError.invalid(field, "needs a score or a label") }
            var time = now
            if let text = item["time"]?.text {
                guard let parsed = RFC3339.nanoseconds(text) else { throw APIError.invalid("\(field).time", "must be RFC 3339") }
                time = Int64(clamping: parsed)
            }
            records.append(EvaluationRecord(
                time: time, name: name, source: .annotation, evaluator: item["annotator_kind"]?.text ?? item["evaluator"]?.text,
                traceID: traceID?.lowercased(), spanID: spanID.lowercased(), service: item["service"]?.text, model: item["model"]?.text,
                score: score, label: label, explanation: explanation, passed: rules.passed(name: name, score: score, label: label)))
        }
        let ids = try await pool.write { [records] db in
            try records.map { record in
                try EvaluationRecord.insert([record], db)
                return db.lastInsertedRowID
            }
        }
        var json = JSONWriter()
        json.raw(#"{"data":["#)
        for (index, id) in ids.enumerated() {
            if index > 0 { json.raw(",") }
            json.raw(#"{"id":""#)
            json.int(id)
            json.raw(#""}"#)
        }
        json.raw("]}")
        return .json(json)
    }
}
