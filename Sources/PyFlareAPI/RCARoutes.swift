import Foundation
public import GRDB
public import Hummingbird
public import PyFlareAnalytics
public import PyFlareStore
import PyFlareWire

/// Root-cause analysis (`docs/rca.md`): `GET /api/v1/rca/clusters`, `/clusters/{id}`,
/// `/slices` and `/patterns`, answered from what the RCA jobs materialized (slices over a
/// range other than the job's are analysed on demand).
public struct RCARoutes: Sendable {
    let pool: DatabasePool
    let engine: SQLEngine
    let slices: SliceAnalyzer

    public init(pool: DatabasePool, engine: SQLEngine, sliceSettings: SliceSettings) {
        self.pool = pool
        self.engine = engine
        slices = SliceAnalyzer(settings: sliceSettings)
    }

    static let paths = ["/api/v1/rca/clusters", "/api/v1/rca/clusters/:id", "/api/v1/rca/slices", "/api/v1/rca/patterns"]

    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.api("/api/v1/rca/clusters") { request, _ in try await clusters(QueryParameters(request)) }
        router.api("/api/v1/rca/clusters/:id") { request, context in
            try await cluster(try context.parameters.path("id"), QueryParameters(request))
        }
        router.api("/api/v1/rca/slices") { request, _ in try await sliceFindings(QueryParameters(request)) }
        router.api("/api/v1/rca/patterns") { request, _ in try await patterns(QueryParameters(request)) }
    }

    public static func addUnavailableRoutes<Context: RequestContext>(to router: Router<Context>, reason: String) {
        for path in paths {
            router.api(RouterPath(path)) { _, _ in throw APIError(.serviceUnavailable, code: "unavailable", reason) }
        }
    }

    // MARK: - Clusters

    func clusterQuery(_ parameters: QueryParameters, limit: Int) throws(APIError) -> FailureClusterQuery {
        FailureClusterQuery(range: try parameters.range(defaultSpan: 7 * UnixTime.day),
                            service: parameters.text("service"), model: parameters.text("model"), limit: limit)
    }

    func clusters(_ parameters: QueryParameters) async throws -> Response {
        let query = try clusterQuery(parameters, limit: try parameters.limit(default: 20, maximum: 500))
        let (clusters, total) = try await query.clusters(pool, now: UnixTime.nowNanoseconds())
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
        guard let id = try await FailureClusterQuery.currentID(of: asked, pool) else { throw APIError.notFound("no failure cluster \(asked)") }
        guard let cluster = try await query.cluster(id, pool, now: UnixTime.nowNanoseconds()) else {
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
        var rows: [SliceRow]
        var window: Range<Int64>?, analyzed: Int64?, onDemand = false
        if parameters.text("since") != nil || parameters.text("until") != nil {
            let range = try parameters.range(defaultSpan: slices.settings.window)
            let findings = try await slices.analyze(range, engine: engine, limits: engine.limits, pool: pool)
            rows = findings.map(SliceRow.init)
            (window, analyzed, onDemand) = (range, UnixTime.nowNanoseconds(), true)
        } else {
            let stored = try await pool.readRows { db in
                try Row.fetchAll(db, sql: "SELECT * FROM rca_slices ORDER BY impact_score DESC")
            }
            rows = stored.map(SliceRow.init)
            if let first = stored.first {
                window = (first["window_start_ns"] as Int64)..<(first["window_end_ns"] as Int64)
                analyzed = first["analyzed_ns"]
            }
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
            row.write(into: &json)
        }
        json.raw("]}")
        return .json(json)
    }

    struct SliceRow {
        var metric: String
        var dimensions: String
        var definition: String
        var sampleCount: Int
        var value: Double
        var baseline: Double
        var deviation: Double
        var deviationPercentage: Double?
        var pValue: Double
        var qValue: Double
        var significant: Bool
        var impact: Double

        init(_ finding: SliceFinding) {
            metric = finding.metric.rawValue
            dimensions = finding.dimensions
            definition = finding.definitionJSON
            sampleCount = finding.sampleCount
            value = finding.value
            baseline = finding.baseline
            deviation = finding.deviation
            deviationPercentage = finding.deviationPercentage
            pValue = finding.pValue
            qValue = finding.qValue
            significant = finding.significant
            impact = finding.impact
        }

        init(_ row: Row) {
            metric = row["metric"]
            dimensions = row["dimensions"]
            definition = row["definition"]
            sampleCount = row["sample_count"]
            value = row["metric_value"]
            baseline = row["baseline_value"]
            deviation = row["deviation"]
            deviationPercentage = row["deviation_pct"]
            pValue = row["p_value"]
            qValue = row["q_value"]
            significant = row["significant"]
            impact = row["impact_score"]
        }

        func write(into json: inout JSONWriter) {
            json.raw(#"{"definition":"#)
            json.bytes.append(contentsOf: definition.utf8)
            json.raw(#","metric":"#)
            json.string(metric)
            json.raw(#","sample_count":"#)
            json.int(Int64(sampleCount))
            json.raw(#","metric_value":"#)
            json.double(value)
            json.raw(#","baseline_value":"#)
            json.double(baseline)
            json.raw(#","deviation":"#)
            json.double(deviation)
            json.raw(#","deviation_percentage":"#)
            if let deviationPercentage { json.double(deviationPercentage) } else { json.null() }
            json.raw(#","p_value":"#)
            json.double(pValue)
            json.raw(#","q_value":"#)
            json.double(qValue)
            json.raw(#","significant":"#)
            json.bool(significant)
            json.raw(#","impact_score":"#)
            json.double(impact)
            json.raw(#","impact_unit":"#)
            json.string(SliceMetric(rawValue: metric)?.impactUnit ?? "")
            json.raw("}")
        }
    }

    // MARK: - Patterns

    func patterns(_ parameters: QueryParameters) async throws -> Response {
        let range = try parameters.range(defaultSpan: 7 * UnixTime.day)
        var filter = RowFilter()
        filter.add("(end_ns IS NULL OR end_ns >= ?)", range.lowerBound)
        filter.add("start_ns < ?", range.upperBound)
        if let type = parameters.text("type"), PatternType(rawValue: type) == nil {
            throw APIError.invalid("type", "must be one of \(PatternType.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(type)\"")
        }
        filter.equal(["type", "service", "model"], in: parameters)
        switch parameters.text("status") {
        case nil: break
        case "ongoing": filter.add("end_ns IS NULL")
        case "ended": filter.add("end_ns IS NOT NULL")
        case let other?: throw APIError.invalid("status", "must be ongoing or ended, not \"\(other)\"")
        }
        let limit = try parameters.limit(default: 50, maximum: 1_000)
        let rows = try await pool.readRows { [filter] db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM rca_patterns WHERE \(filter.sql)
                ORDER BY end_ns IS NOT NULL, severity DESC, start_ns DESC LIMIT ?
                """, arguments: filter.statementArguments(then: limit))
        }
        var json = JSONWriter()
        json.raw(#"{"since":"#)
        json.time(range.lowerBound)
        json.raw(#","patterns":["#)
        for (index, row) in rows.enumerated() {
            if index > 0 { json.raw(",") }
            json.object(row, Self.patternFields)
        }
        json.raw("]}")
        return .json(json)
    }

    static let patternFields: [RowField] = [
        RowField("id"), RowField("type"), RowField("scope", nil, .json), RowField("start", "start_ns", .time),
        RowField("end", "end_ns", .time), RowField("severity", nil, .real), RowField("description"),
        RowField("evidence", nil, .json), RowField("suggested_actions", nil, .json),
        RowField("first_detected", "first_detected_ns", .time), RowField("last_detected", "last_detected_ns", .time),
    ]
}
