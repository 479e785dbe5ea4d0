import Foundation
public import Hummingbird
public import PyFlareAnalytics
public import PyFlareStore
import PyFlareWire

/// Drift (`docs/quality.md`): `GET /api/v1/drift/alerts` from what the drift job scored,
/// `GET /api/v1/drift/heatmap` computed on demand, and the pinned references
/// (`GET/PUT/DELETE /api/v1/drift/references[/{scope}]`).
public struct DriftRoutes: Sendable {
    let drift: DriftReadModel
    let computation: DriftComputation
    let settings: DriftSettings

    public init(drift: DriftReadModel, computation: DriftComputation, settings: DriftSettings) {
        self.drift = drift
        self.computation = computation
        self.settings = settings
    }
    static let maxCells = 50_000

    public func routes<Context: RequestContext>(context: Context.Type = Context.self) -> APIRouteCollection<Context> {
        let routes = APIRouteCollection(context: Context.self)
        routes.api("/api/v1/drift/alerts") { request, _ in try await alerts(QueryParameters(request)) }
        routes.api("/api/v1/drift/heatmap") { request, _ in try await heatmap(QueryParameters(request)) }
        routes.api("/api/v1/drift/references") { _, _ in try await references() }
        routes.api("/api/v1/drift/references/:scope", method: .put) { request, context in
            try await pin(try context.parameters.path("scope"), request)
        }
        routes.api("/api/v1/drift/references/:scope", method: .delete) { _, context in
            try await unpin(try context.parameters.path("scope"))
        }
        return routes
    }


    /// Scores at or above `severity` (default moderate) of windows starting in the range.
    func alerts(_ parameters: QueryParameters) async throws -> Response {
        let range = try parameters.range(defaultSpan: 7 * UnixTime.day)
        let severities: [String]
        switch parameters.text("severity") ?? "moderate" {
        case "moderate": severities = ["moderate", "significant"]
        case "significant": severities = ["significant"]
        case let other: throw APIError.invalid("severity", "must be moderate or significant, not \"\(other)\"")
        }
        let query = DriftReadModel.AlertQuery(
            range: range, severities: severities, scope: parameters.text("scope"), feature: parameters.text("feature"),
            method: parameters.text("method"), limit: try parameters.limit(default: 100, maximum: 1_000))
        let (alerts, materializedAt) = try await drift.alerts(query)
        var json = JSONWriter()
        json.openMaterializedAnswer(at: materializedAt, range: range)
        json.raw(#","alerts":["#)
        json.elements(of: alerts) { alert, json in
            Self.write(alert, into: &json)
        }
        json.raw("]}")
        return .json(json)
    }

    static func write(_ alert: DriftReadModel.Alert, into json: inout JSONWriter) {
        json.raw("{"); json.member("feature", alert.feature)
        json.member("method", alert.method)
        json.member("scope_kind", alert.scopeKind)
        json.member("scope", alert.scope)
        json.key("score"); json.finite(alert.score)
        json.key("p_value"); json.finite(alert.pValue)
        json.member("severity", alert.severity)
        json.member("window_start", time: alert.window.lowerBound)
        json.member("window_end", time: alert.window.upperBound)
        json.member("reference_start", time: alert.reference.lowerBound)
        json.member("reference_end", time: alert.reference.upperBound)
        json.member("samples", alert.samples)
        json.member("reference_samples", alert.referenceSamples)
        json.key("details"); json.bytes += Array(alert.details.utf8)
        json.member("computed_at", time: alert.computedAt)
        json.raw("}")
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
        guard let map = try await computation.heatmap(scope: scope, range: requested, step: step) else {
            throw APIError.badRequest("the range holds more than \(DriftComputation.maxHeatmapWindows) windows of step")
        }
        var json = JSONWriter()
        json.raw("{")
        json.member("scope_kind", settings.scopeBy.rawValue)
        json.member("scope", scope)
        json.member("since", time: map.range.lowerBound)
        json.member("until", time: map.range.upperBound)
        json.member("step_seconds", step / UnixTime.second)
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
            json.elements(of: cells) { cell, json in
                if let cell { json.double(cell) } else { json.null() }
            }
            json.raw("]")
        }
        json.raw(#"],"severities":["#)
        for (row, cells) in map.severities.enumerated() {
            if row > 0 { json.raw(",") }
            json.raw("[")
            json.elements(of: cells) { cell, json in
                if let cell { json.string(cell) } else { json.null() }
            }
            json.raw("]")
        }
        json.raw("]}")
        return .json(json)
    }

    func references() async throws -> Response {
        let pinned = try await drift.pinnedReferences()
        var json = JSONWriter()
        json.raw("{")
        json.key("configured")
        if let range = settings.fixedReference {
            json.raw(#"{"mode":"fixed","since":"#)
            json.time(range.lowerBound)
            json.member("until", time: range.upperBound)
            json.raw("}")
        } else {
            json.raw(#"{"mode":"rolling","offset_seconds":"#)
            json.int(settings.referenceOffset / UnixTime.second)
            json.member("length_seconds", settings.referenceLength / UnixTime.second)
            json.raw("}")
        }
        json.raw(#","pinned":["#)
        json.elements(of: pinned) { reference, json in
            json.raw("{"); json.member("scope_kind", reference.scopeKind)
            json.member("scope", reference.scope)
            json.member("since", time: reference.range.lowerBound)
            json.member("until", time: reference.range.upperBound)
            json.member("pinned_at", time: reference.pinnedAt)
            json.raw("}")
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
        try await drift.pin(scope: scope, range: since..<until, now: UnixTime.nowNanoseconds())
        return try await references()
    }

    func unpin(_ scope: String) async throws -> Response {
        guard try await drift.unpin(scope: scope) else { throw APIError.notFound("no pinned reference for \(settings.scopeBy.rawValue) \(scope)") }
        return try await references()
    }
}
