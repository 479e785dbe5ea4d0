import Foundation
public import GRDB
public import Hummingbird
public import PyFlareAnalytics
public import PyFlareStore
import PyFlareWire

/// Drift (`docs/quality.md`): `GET /api/v1/drift/alerts` from what the drift job scored,
/// `GET /api/v1/drift/heatmap` computed on demand, and the pinned references
/// (`GET/PUT/DELETE /api/v1/drift/references[/{scope}]`).
public struct DriftRoutes: Sendable {
    let pool: DatabasePool
    let engine: SQLEngine
    let settings: DriftSettings
    let limits: SQLLimits

    public init(pool: DatabasePool, engine: SQLEngine, settings: DriftSettings, limits: SQLLimits) {
        self.pool = pool
        self.engine = engine
        self.settings = settings
        self.limits = limits
    }

    static let routes: [(String, HTTPRequest.Method)] = [
        ("/api/v1/drift/alerts", .get), ("/api/v1/drift/heatmap", .get), ("/api/v1/drift/references", .get),
        ("/api/v1/drift/references/:scope", .put), ("/api/v1/drift/references/:scope", .delete),
    ]
    static let maxCells = 50_000

    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.api("/api/v1/drift/alerts") { request, _ in try await alerts(QueryParameters(request)) }
        router.api("/api/v1/drift/heatmap") { request, _ in try await heatmap(QueryParameters(request)) }
        router.api("/api/v1/drift/references") { _, _ in try await references() }
        router.api("/api/v1/drift/references/:scope", method: .put) { request, context in
            try await pin(try context.parameters.path("scope"), request)
        }
        router.api("/api/v1/drift/references/:scope", method: .delete) { _, context in
            try await unpin(try context.parameters.path("scope"))
        }
    }

    public static func addUnavailableRoutes<Context: RequestContext>(to router: Router<Context>, reason: String) {
        for (path, method) in routes {
            router.api(RouterPath(path), method: method) { _, _ in throw APIError(.serviceUnavailable, code: "unavailable", reason) }
        }
    }

    static let alertFields: [RowField] = [
        RowField("feature"), RowField("method"), RowField("scope_kind"), RowField("scope"), RowField("score", nil, .real),
        RowField("p_value", nil, .real), RowField("severity"), RowField("window_start", "window_start_ns", .time),
        RowField("window_end", "window_end_ns", .time), RowField("reference_start", "reference_start_ns", .time),
        RowField("reference_end", "reference_end_ns", .time), RowField("samples", nil, .integer),
        RowField("reference_samples", nil, .integer), RowField("details", nil, .json), RowField("computed_at", "computed_ns", .time),
    ]

    /// Scores at or above `severity` (default moderate) of windows starting in the range.
    func alerts(_ parameters: QueryParameters) async throws -> Response {
        let range = try parameters.range(defaultSpan: 7 * UnixTime.day)
        let severities: [String]
        switch parameters.text("severity") ?? "moderate" {
        case "moderate": severities = ["moderate", "significant"]
        case "significant": severities = ["significant"]
        case let other: throw APIError.invalid("severity", "must be moderate or significant, not \"\(other)\"")
        }
        var filter = RowFilter()
        filter.add("window_start_ns >= ?", range.lowerBound)
        filter.add("window_start_ns < ?", range.upperBound)
        filter.add("severity IN (\(severities.map { "'\($0)'" }.joined(separator: ", ")))")
        filter.equal(["scope", "feature", "method"], in: parameters)
        let limit = try parameters.limit(default: 100, maximum: 1_000)
        let (rows, materializedAt) = try await pool.readRows { [filter] db in
            (try Row.fetchAll(db, sql: """
                SELECT * FROM drift_scores WHERE \(filter.sql)
                ORDER BY window_start_ns DESC, severity = 'significant' DESC, score DESC LIMIT ?
                """, arguments: filter.statementArguments(then: limit)), try JobLedger.materializedAt(by: ["drift"], db))
        }
        var json = JSONWriter()
        json.openMaterializedAnswer(at: materializedAt, range: range)
        json.raw(#","alerts":["#)
        for (index, row) in rows.enumerated() {
            if index > 0 { json.raw(",") }
            json.object(row, Self.alertFields)
        }
        json.raw("]}")
        return .json(json)
    }

    /// Features × windows of `step` over the range: each cell the score of that feature in that
    /// window against the window's reference (PSI; MMD² for `embedding`), null where either
    /// side has too few spans.
    func heatmap(_ parameters: QueryParameters) async throws -> Response {
        guard let scope = parameters.text("scope") else {
            throw APIError.invalid("scope", "is required: a \(settings.scopeBy.rawValue) name (drift is scoped by \(settings.scopeBy.rawValue))")
        }
        let step: Int64
        if let text = parameters.text("step") {
            guard let parsed = DurationText.nanoseconds(text) else { throw APIError.invalid("step", "must be a duration such as 15m or 1h") }
            step = parsed
        } else {
            step = settings.window
        }
        let requested = try parameters.range(defaultSpan: UnixTime.day)
        guard let map = try await DriftComputation(settings: settings, engine: engine, limits: limits, pool: pool)
            .heatmap(scope: scope, range: requested, step: step) else {
            throw APIError.badRequest("the range holds more than \(DriftComputation.maxHeatmapWindows) windows of step")
        }
        var json = JSONWriter()
        json.raw(#"{"scope_kind":"#)
        json.string(settings.scopeBy.rawValue)
        json.raw(#","scope":"#)
        json.string(scope)
        json.raw(#","since":"#)
        json.time(map.range.lowerBound)
        json.raw(#","until":"#)
        json.time(map.range.upperBound)
        json.raw(#","step_seconds":"#)
        json.int(step / UnixTime.second)
        json.raw(#","windows":["#)
        for index in 0..<map.windowCount {
            if index > 0 { json.raw(",") }
            json.time(map.range.lowerBound + Int64(index) * step)
        }
        json.raw(#"],"features":"#)
        json.strings(map.features)
        json.raw(#","scores":["#)
        for (row, cells) in map.scores.enumerated() {
            if row > 0 { json.raw(",") }
            json.raw("[")
            for (index, cell) in cells.enumerated() {
                if index > 0 { json.raw(",") }
                if let cell { json.double(cell) } else { json.null() }
            }
            json.raw("]")
        }
        json.raw(#"],"severities":["#)
        for (row, cells) in map.severities.enumerated() {
            if row > 0 { json.raw(",") }
            json.raw("[")
            for (index, cell) in cells.enumerated() {
                if index > 0 { json.raw(",") }
                if let cell { json.string(cell) } else { json.null() }
            }
            json.raw("]")
        }
        json.raw("]}")
        return .json(json)
    }

    func references() async throws -> Response {
        let rows = try await pool.readRows { db in
            try Row.fetchAll(db, sql: "SELECT * FROM drift_references ORDER BY scope_kind, scope")
        }
        var json = JSONWriter()
        json.raw(#"{"configured":"#)
        if let range = settings.fixedReference {
            json.raw(#"{"mode":"fixed","since":"#)
            json.time(range.lowerBound)
            json.raw(#","until":"#)
            json.time(range.upperBound)
            json.raw("}")
        } else {
            json.raw(#"{"mode":"rolling","offset_seconds":"#)
            json.int(settings.referenceOffset / UnixTime.second)
            json.raw(#","length_seconds":"#)
            json.int(settings.referenceLength / UnixTime.second)
            json.raw("}")
        }
        json.raw(#","pinned":["#)
        for (index, row) in rows.enumerated() {
            if index > 0 { json.raw(",") }
            json.object(row, [RowField("scope_kind"), RowField("scope"), RowField("since", "start_ns", .time),
                              RowField("until", "end_ns", .time), RowField("pinned_at", "created_ns", .time)])
        }
        json.raw("]}")
        return .json(json)
    }

    /// Pins `{"since", "until"}` as the reference of a scope (of the configured scope kind).
    func pin(_ scope: String, _ request: Request) async throws -> Response {
        let body = try await JSONBody.read(request, maxBytes: 64 << 10)
        func time(_ key: String) throws(APIError) -> Int64 {
            guard let text = body[key]?.text, let value = RFC3339.nanoseconds(text) else {
                throw APIError.invalid(key, "must be RFC 3339 or unix nanoseconds")
            }
            return Int64(clamping: value)
        }
        let since = try time("since"), until = try time("until")
        guard since < until else { throw APIError.badRequest("since must be before until") }
        guard !scope.isEmpty else { throw APIError.invalid("scope", "is required") }
        try await pool.write { [settings] db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO drift_references (scope_kind, scope, start_ns, end_ns, created_ns) VALUES (?, ?, ?, ?, ?)
                """, arguments: [settings.scopeBy.rawValue, scope, since, until, UnixTime.nowNanoseconds()])
        }
        return try await references()
    }

    func unpin(_ scope: String) async throws -> Response {
        let deleted = try await pool.write { [settings] db in
            try db.execute(sql: "DELETE FROM drift_references WHERE scope_kind = ? AND scope = ?", arguments: [settings.scopeBy.rawValue, scope])
            return db.changesCount
        }
        guard deleted > 0 else { throw APIError.notFound("no pinned reference for \(settings.scopeBy.rawValue) \(scope)") }
        return try await references()
    }
}
