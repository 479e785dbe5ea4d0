import Foundation
public import Hummingbird
public import PyFlareAnalytics
public import PyFlareStore
import PyFlareWire

/// Root-cause analysis (`docs/rca.md`): `GET /api/v1/rca/clusters`, `/clusters/{id}`,
/// `/slices` and `/patterns`, answered from what the RCA jobs materialized (slices over a
/// range other than the job's are analysed on demand).
public struct RCARoutes: Sendable {
    let rca: RCAReadModel

    public init(rca: RCAReadModel) {
        self.rca = rca
    }

    public func routes<Context: RequestContext>(context: Context.Type = Context.self) -> APIRouteCollection<Context> {
        let routes = APIRouteCollection(context: Context.self)
        routes.api("/api/v1/rca/clusters") { request, _ in try await clusters(QueryParameters(request)) }
        routes.api("/api/v1/rca/clusters/:id") { request, context in
            try await cluster(try context.parameters.path("id"), QueryParameters(request))
        }
        routes.api("/api/v1/rca/slices") { request, _ in try await sliceFindings(QueryParameters(request)) }
        routes.api("/api/v1/rca/patterns") { request, _ in try await patterns(QueryParameters(request)) }
        return routes
    }

    /// The longest range `/rca/slices` analyses on demand.
    static let maxOnDemandSliceRange = 31 * UnixTime.day

    // MARK: - Clusters

    func clusterQuery(_ parameters: QueryParameters, limit: Int) throws(APIError) -> FailureClusterQuery {
        FailureClusterQuery(range: try parameters.range(defaultSpan: 7 * UnixTime.day),
                            service: parameters.text("service"), model: parameters.text("model"), limit: limit)
    }

    func clusters(_ parameters: QueryParameters) async throws -> Response {
        let query = try clusterQuery(parameters, limit: try parameters.limit(default: 20, maximum: 500))
        let (clusters, total) = try await rca.clusters(query, now: UnixTime.nowNanoseconds())
        var json = JSONWriter()
        json.raw("{")
        json.member("since", time: query.range.lowerBound)
        json.member("until", time: query.range.upperBound)
        json.member("total", total)
        json.raw(#","clusters":["#)
        json.elements(of: clusters) { cluster, json in
            Self.write(cluster, detail: false, into: &json)
        }
        json.raw("]}")
        return .json(json)
    }

    func cluster(_ text: String, _ parameters: QueryParameters) async throws -> Response {
        guard let asked = Int64(text), asked >= 0 else { throw APIError.badRequest("a cluster id is a whole number, not \"\(text)\"") }
        let query = try clusterQuery(parameters, limit: 1)
        guard let id = try await rca.currentClusterID(of: asked) else { throw APIError.notFound("no failure cluster \(asked)") }
        guard let cluster = try await rca.cluster(id, query, now: UnixTime.nowNanoseconds()) else {
            throw APIError.notFound("failure cluster \(asked) has no failures in the range asked")
        }
        var json = JSONWriter()
        Self.write(cluster, detail: true, mergedFrom: id != asked ? asked : nil, into: &json)
        return .json(json)
    }

    static func write(_ cluster: FailureCluster, detail: Bool, mergedFrom: Int64? = nil, into json: inout JSONWriter) {
        func counts(_ pairs: [(String, Int)], key: StaticString = #"{"name":"#) {
            json.raw("[")
            for (index, (name, count)) in pairs.enumerated() {
                if index > 0 { json.raw(",") }
                json.raw(key)
                json.string(name)
                json.member("count", count)
                json.raw("}")
            }
            json.raw("]")
        }
        json.raw("{")
        json.member("id", cluster.id)
        if let mergedFrom {
            json.member("merged_from", mergedFrom)
        }
        json.member("name", cluster.name)
        json.member("template", cluster.template)
        json.member("size", cluster.size)
        json.member("first_seen", time: cluster.firstSeen)
        json.member("last_seen", time: cluster.lastSeen)
        json.member("severity", cluster.severity)
        json.member("representative_error", cluster.representativeError)
        json.member("stack_line", cluster.stackLine)
        json.key("error_types")
        counts(cluster.errorTypes)
        json.member("common_keywords", cluster.commonKeywords)
        json.key("services")
        counts(cluster.services)
        json.key("models")
        counts(cluster.models)
        json.member("affected_trace_count", cluster.traceCount)
        json.member("affected_user_count", cluster.userCount)
        json.member("member_ids", cluster.memberIDs)
        json.member("affected_traces", cluster.affectedTraces)
        if detail {
            json.key("examples")
            counts(cluster.examples, key: #"{"message":"#)
        }
        json.member("series_step_seconds", cluster.seriesStep / UnixTime.second)
        json.raw(#","series":["#)
        for (index, (time, count)) in cluster.series.enumerated() {
            if index > 0 { json.raw(",") }
            json.raw("{")
            json.member("time", time: time)
            json.member("count", count)
            json.raw("}")
        }
        json.raw("]}")
    }

    // MARK: - Slices

    func sliceFindings(_ parameters: QueryParameters) async throws -> Response {
        var metric: SliceMetric?
        if let text = parameters.text("metric") {
            guard let value = SliceMetric(rawValue: text) else {
                throw APIError.invalid("metric", "must be one of \(SliceMetric.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(text)\"")
            }
            metric = value
        }
        let dimension = parameters.text("dimension")
        let limit = try parameters.limit(default: 20, maximum: 1_000)
        let significantOnly = parameters.text("significant") != "false"
        var rows: [RCAReadModel.Slice]
        var window: Range<Int64>?, analyzed: Int64?, onDemand = false
        if parameters.text("since") != nil || parameters.text("until") != nil {
            let range = try parameters.range(defaultSpan: rca.slices.settings.window)
            // The analysis reads the spans of the range chunk by chunk: an unbounded range is
            // a CPU flood anyone could start.
            guard range.upperBound - range.lowerBound <= Self.maxOnDemandSliceRange else {
                throw APIError.invalid("since", "and until may be at most \(Self.maxOnDemandSliceRange / UnixTime.day) days apart for slices analysed on demand")
            }
            rows = try await rca.analyzeSlices(range)
            (window, analyzed, onDemand) = (range, UnixTime.nowNanoseconds(), true)
        } else {
            (rows, window, analyzed) = try await rca.storedSlices()
        }
        rows = rows.filter { row in
            (metric == nil || row.metric == metric!.rawValue)
                && (dimension == nil || row.dimensions.split(separator: ",").contains { $0 == dimension! })
                && (!significantOnly || row.significant)
        }
        rows.sort { $0.impact > $1.impact }
        var json = JSONWriter()
        json.raw("{")
        json.member("analyzed_at", time: analyzed)
        json.member("since", time: window?.lowerBound)
        json.member("until", time: window?.upperBound)
        json.member("on_demand", onDemand)
        json.member("total", rows.count)
        json.raw(#","slices":["#)
        json.elements(of: rows.prefix(limit)) { row, json in
            Self.write(row, into: &json)
        }
        json.raw("]}")
        return .json(json)
    }

    static func write(_ row: RCAReadModel.Slice, into json: inout JSONWriter) {
        json.raw("{")
        json.key("definition")
        json.bytes.append(contentsOf: row.definition.utf8)
        json.member("metric", row.metric)
        json.member("sample_count", row.sampleCount)
        json.member("metric_value", row.value)
        json.member("baseline_value", row.baseline)
        json.member("deviation", row.deviation)
        json.member("deviation_percentage", row.deviationPercentage)
        json.member("p_value", row.pValue)
        json.member("q_value", row.qValue)
        json.member("significant", row.significant)
        json.member("impact_score", row.impact)
        json.member("impact_unit", SliceMetric(rawValue: row.metric)?.impactUnit ?? "")
        json.raw("}")
    }

    // MARK: - Patterns

    func patterns(_ parameters: QueryParameters) async throws -> Response {
        let range = try parameters.range(defaultSpan: 7 * UnixTime.day)
        var type: PatternType?
        if let text = parameters.text("type") {
            guard let value = PatternType(rawValue: text) else {
                throw APIError.invalid("type", "must be one of \(PatternType.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(text)\"")
            }
            type = value
        }
        let ongoing: Bool?
        switch parameters.text("status") {
        case nil: ongoing = nil
        case "ongoing": ongoing = true
        case "ended": ongoing = false
        case let other?: throw APIError.invalid("status", "must be ongoing or ended, not \"\(other)\"")
        }
        let query = RCAReadModel.PatternQuery(range: range, type: type, service: parameters.text("service"), model: parameters.text("model"),
                                              ongoing: ongoing, limit: try parameters.limit(default: 50, maximum: 1_000))
        let patterns = try await rca.patterns(query)
        var json = JSONWriter()
        json.raw("{")
        json.member("since", time: range.lowerBound)
        json.raw(#","patterns":["#)
        json.elements(of: patterns) { pattern, json in
            json.raw("{"); json.member("id", pattern.id)
            json.member("type", pattern.type)
            json.key("scope"); json.bytes += Array(pattern.scope.utf8)
            json.member("start", time: pattern.start)
            json.member("end", time: pattern.end)
            json.key("severity"); json.finite(pattern.severity)
            json.member("description", pattern.description)
            json.key("evidence"); json.bytes += Array(pattern.evidence.utf8)
            json.key("suggested_actions"); json.bytes += Array(pattern.suggestedActions.utf8)
            json.member("first_detected", time: pattern.firstDetected)
            json.member("last_detected", time: pattern.lastDetected)
            json.raw("}")
        }
        json.raw("]}")
        return .json(json)
    }
}
