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
        json.raw(#"{"since":"#)
        json.time(query.range.lowerBound)
        json.raw(#","until":"#)
        json.time(query.range.upperBound)
        json.raw(#","total":"#)
        json.int(Int64(total))
        json.raw(#","clusters":["#)
        for (index, cluster) in clusters.enumerated() {
            if index > 0 { json.raw(",") }
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
                json.raw(#","count":"#)
                json.int(Int64(count))
                json.raw("}")
            }
            json.raw("]")
        }
        json.raw(#"{"id":"#)
        json.int(cluster.id)
        if let mergedFrom {
            json.raw(#","merged_from":"#)
            json.int(mergedFrom)
        }
        json.raw(#","name":"#)
        json.string(cluster.name)
        json.raw(#","template":"#)
        json.string(cluster.template)
        json.raw(#","size":"#)
        json.int(Int64(cluster.size))
        json.raw(#","first_seen":"#)
        json.time(cluster.firstSeen)
        json.raw(#","last_seen":"#)
        json.time(cluster.lastSeen)
        json.raw(#","severity":"#)
        json.double(cluster.severity)
        json.raw(#","representative_error":"#)
        json.string(cluster.representativeError)
        json.raw(#","stack_line":"#)
        if let line = cluster.stackLine { json.string(line) } else { json.null() }
        json.raw(#","error_types":"#)
        counts(cluster.errorTypes)
        json.raw(#","common_keywords":"#)
        json.strings(cluster.commonKeywords)
        json.raw(#","services":"#)
        counts(cluster.services)
        json.raw(#","models":"#)
        counts(cluster.models)
        json.raw(#","affected_trace_count":"#)
        json.int(Int64(cluster.traceCount))
        json.raw(#","affected_user_count":"#)
        json.int(Int64(cluster.userCount))
        json.raw(#","member_ids":"#)
        json.strings(cluster.memberIDs)
        json.raw(#","affected_traces":"#)
        json.strings(cluster.affectedTraces)
        if detail {
            json.raw(#","examples":"#)
            counts(cluster.examples, key: #"{"message":"#)
        }
        json.raw(#","series_step_seconds":"#)
        json.int(cluster.seriesStep / UnixTime.second)
        json.raw(#","series":["#)
        for (index, (time, count)) in cluster.series.enumerated() {
            if index > 0 { json.raw(",") }
            json.raw(#"{"time":"#)
            json.time(time)
            json.raw(#","count":"#)
            json.int(Int64(count))
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
        json.raw(#"{"analyzed_at":"#)
        json.time(analyzed)
        json.raw(#","since":"#)
        json.time(window?.lowerBound)
        json.raw(#","until":"#)
        json.time(window?.upperBound)
        json.raw(#","on_demand":"#)
        json.bool(onDemand)
        json.raw(#","total":"#)
        json.int(Int64(rows.count))
        json.raw(#","slices":["#)
        for (index, row) in rows.prefix(limit).enumerated() {
            if index > 0 { json.raw(",") }
            Self.write(row, into: &json)
        }
        json.raw("]}")
        return .json(json)
    }

    static func write(_ row: RCAReadModel.Slice, into json: inout JSONWriter) {
        json.raw(#"{"definition":"#)
        json.bytes.append(contentsOf: row.definition.utf8)
        json.raw(#","metric":"#)
        json.string(row.metric)
        json.raw(#","sample_count":"#)
        json.int(Int64(row.sampleCount))
        json.raw(#","metric_value":"#)
        json.double(row.value)
        json.raw(#","baseline_value":"#)
        json.double(row.baseline)
        json.raw(#","deviation":"#)
        json.double(row.deviation)
        json.raw(#","deviation_percentage":"#)
        if let percentage = row.deviationPercentage { json.double(percentage) } else { json.null() }
        json.raw(#","p_value":"#)
        json.double(row.pValue)
        json.raw(#","q_value":"#)
        json.double(row.qValue)
        json.raw(#","significant":"#)
        json.bool(row.significant)
        json.raw(#","impact_score":"#)
        json.double(row.impact)
        json.raw(#","impact_unit":"#)
        json.string(SliceMetric(rawValue: row.metric)?.impactUnit ?? "")
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
        json.raw(#"{"since":"#)
        json.time(range.lowerBound)
        json.raw(#","patterns":["#)
        for (index, pattern) in patterns.enumerated() {
            if index > 0 { json.raw(",") }
            json.raw(#"{"id":"#); json.string(pattern.id)
            json.raw(#","type":"#); json.string(pattern.type)
            json.raw(#","scope":"#); json.bytes += Array(pattern.scope.utf8)
            json.raw(#","start":"#); json.time(pattern.start)
            json.raw(#","end":"#); json.time(pattern.end)
            json.raw(#","severity":"#); json.finite(pattern.severity)
            json.raw(#","description":"#); json.string(pattern.description)
            json.raw(#","evidence":"#); json.bytes += Array(pattern.evidence.utf8)
            json.raw(#","suggested_actions":"#); json.bytes += Array(pattern.suggestedActions.utf8)
            json.raw(#","first_detected":"#); json.time(pattern.firstDetected)
            json.raw(#","last_detected":"#); json.time(pattern.lastDetected)
            json.raw("}")
        }
        json.raw("]}")
        return .json(json)
    }
}
