import Foundation
public import Hummingbird
import PyFlareAnalytics
import PyFlareStore
import PyFlareWire

/// Evaluations (`docs/quality.md`): `GET /api/v1/evaluations` and `/evaluations/summary`, and
/// the intake of annotations: `POST /api/v1/evaluations`, and `POST /v1/span_annotations` in
/// the shape Phoenix (OpenInference) clients send.
public struct EvaluationRoutes: Sendable {
    let evaluations: EvaluationReadModel
    let rules: EvaluationVerdictRules

    public init(evaluations: EvaluationReadModel, rules: EvaluationVerdictRules) {
        self.evaluations = evaluations
        self.rules = rules
    }
    static let maxBodyBytes = 4 << 20

    public func routes<Context: RequestContext>(context: Context.Type = Context.self) -> APIRouteCollection<Context> {
        let routes = APIRouteCollection(context: Context.self)
        routes.api("/api/v1/evaluations") { request, _ in try await list(QueryParameters(request)) }
        routes.api("/api/v1/evaluations/summary") { request, _ in try await summary(QueryParameters(request)) }
        routes.api("/api/v1/evaluations", method: .post) { request, _ in try await annotate(request) }
        routes.api("/v1/span_annotations", method: .post) { request, _ in try await annotate(request) }
        return routes
    }

    /// The filters every read shares: the range and the equality filters named in `columns`.
    static func filter(_ parameters: QueryParameters, defaultSpan: Int64, columns: Set<String>) throws(APIError) -> EvaluationReadModel.Filter {
        var filter = EvaluationReadModel.Filter(range: try parameters.range(defaultSpan: defaultSpan))
        func given(_ column: String) -> String? { columns.contains(column) ? parameters.text(column) : nil }
        filter.name = given("name")
        filter.spanID = given("span_id")
        filter.traceID = given("trace_id")
        filter.model = given("model")
        filter.service = given("service")
        filter.feature = given("feature")
        filter.source = given("source")
        if let source = parameters.text("source"), EvaluationRecord.Source(rawValue: source) == nil {
            throw .invalid("source", "must be one of \(EvaluationRecord.Source.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        switch parameters.text("passed") {
        case nil: break
        case "true", "1": filter.passed = true
        case "false", "0": filter.passed = false
        case let other?: throw .invalid("passed", "must be true or false, not \"\(other)\"")
        }
        return filter
    }

    func list(_ parameters: QueryParameters) async throws -> Response {
        let filter = try Self.filter(parameters, defaultSpan: 7 * UnixTime.day,
                                     columns: ["name", "span_id", "trace_id", "model", "service", "feature", "source"])
        // Newest first; the cursor is the last row's (time, id).
        var cursor: (time: Int64, id: Int64)?
        if let text = parameters.text("cursor") {
            let parts = text.split(separator: ":")
            guard parts.count == 2, let time = Int64(parts[0]), let id = Int64(parts[1]) else {
                throw APIError.badRequest("cursor is not one this API returned")
            }
            cursor = (time, id)
        }
        let limit = try parameters.limit(default: 100, maximum: 1_000)
        let (stored, materializedAt) = try await evaluations.list(filter, before: cursor, limit: limit + 1)
        var json = JSONWriter()
        json.openMaterializedAnswer(at: materializedAt, range: filter.range)
        json.raw(#","evaluations":["#)
        json.elements(of: stored.prefix(limit)) { evaluation, json in
            Self.write(evaluation, into: &json)
        }
        json.raw(#"],"next_cursor":"#)
        if stored.count > limit, let last = stored.prefix(limit).last {
            json.string("\(last.record.time):\(last.id)")
        } else {
            json.null()
        }
        json.raw("}")
        return .json(json)
    }

    static func write(_ evaluation: EvaluationReadModel.Stored, into json: inout JSONWriter) {
        let record = evaluation.record
        json.raw("{"); json.member("id", evaluation.id)
        json.member("time", time: record.time)
        json.member("time_unix_nano", record.time)
        json.member("name", record.name)
        json.member("source", record.source.rawValue)
        json.member("evaluator", record.evaluator)
        json.member("trace_id", record.traceID)
        json.member("span_id", record.spanID)
        json.member("service", record.service)
        json.member("model", record.model)
        json.member("operation", record.operation)
        json.member("feature", record.feature)
        json.key("score"); json.finite(record.score)
        json.member("label", record.label)
        json.member("explanation", record.explanation)
        json.member("passed", record.passed)
        json.key("details")
        if let details = record.details { json.bytes += Array(details.utf8) } else { json.null() }
        json.member("cost_micros", record.costMicros)
        json.raw("}")
    }

    /// Per name (and `group_by` model, service or feature): counts, mean score, pass and fail rates,
    /// overall and per `interval`.
    func summary(_ parameters: QueryParameters) async throws -> Response {
        let filter = try Self.filter(parameters, defaultSpan: UnixTime.day, columns: ["name", "model", "service", "feature", "source"])
        let range = filter.range
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
        guard let grouping = EvaluationReadModel.Grouping(rawValue: group) else {
            throw APIError.invalid("group_by", "must be name, model, service or feature")
        }
        // One read per interval bucket; a group's totals are the sums of its buckets.
        let (buckets, materializedAt) = try await evaluations.summary(filter, grouping: grouping, interval: interval)
        var groups: [(name: String, key: String, total: VerdictAggregate, series: [(start: Int64, figures: VerdictAggregate)])] = []
        for bucket in buckets {
            let figures = VerdictAggregate(count: bucket.count, scored: bucket.scored, scoreSum: bucket.scoreSum, passed: bucket.passed,
                                           failed: bucket.failed, costMicros: bucket.costMicros)
            let name = bucket.name, key = bucket.key
            if groups.last?.name != name || groups.last?.key != key { groups.append((name, key, VerdictAggregate(), [])) }
            groups[groups.count - 1].total += figures
            groups[groups.count - 1].series.append((bucket.start, figures))
        }
        var json = JSONWriter()
        json.openMaterializedAnswer(at: materializedAt, range: range)
        json.member("group_by", group)
        json.raw(#","groups":["#)
        json.elements(of: groups) { entry, json in
            json.raw("{")
            json.member("name", entry.name)
            if group != "name" {
                json.raw(#",""#)
                json.bytes.append(contentsOf: group.utf8)
                json.raw(#"":"#)
                json.string(entry.key)
            }
            json.raw(",")
            entry.total.write(into: &json)
            json.raw(#","series":["#)
            for (point, bucket) in entry.series.enumerated() {
                if point > 0 { json.raw(",") }
                json.raw("{")
                json.member("start", time: bucket.start)
                json.raw(",")
                bucket.figures.write(into: &json)
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
        let ids = try await evaluations.store(records)
        return .jsonList("data", ids) { id, json in
            json.raw(#"{"id":""#)
            json.int(id)
            json.raw(#""}"#)
        }
    }
}

/// The verdict figures of a group or bucket of evaluations; they add up.
struct VerdictAggregate {
    var count: Int64 = 0
    var scored: Int64 = 0
    var scoreSum = 0.0
    var passed: Int64 = 0
    var failed: Int64 = 0
    var costMicros: Int64 = 0

    static func += (total: inout VerdictAggregate, part: VerdictAggregate) {
        total.count += part.count
        total.scored += part.scored
        total.scoreSum += part.scoreSum
        total.passed += part.passed
        total.failed += part.failed
        total.costMicros += part.costMicros
    }

    /// The members (without braces): count, scored, mean_score, passed, failed, pass_rate, fail_rate, cost_micros.
    func write(into json: inout JSONWriter) {
        let verdicts = passed + failed
        json.raw(#""count":"#)
        json.int(count)
        json.member("scored", scored)
        json.key("mean_score")
        if scored > 0 { json.double(scoreSum / Double(scored)) } else { json.null() }
        json.member("passed", passed)
        json.member("failed", failed)
        json.key("pass_rate")
        if verdicts > 0 { json.double(Double(passed) / Double(verdicts)) } else { json.null() }
        json.key("fail_rate")
        if verdicts > 0 { json.double(Double(failed) / Double(verdicts)) } else { json.null() }
        json.member("cost_micros", costMicros)
    }
}
