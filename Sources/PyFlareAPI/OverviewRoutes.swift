public import Hummingbird
public import PyFlareAnalytics
import PyFlareWire

/// `GET /api/v1/overview`: the overview dashboard's figures over a range, from the rollups.
public struct OverviewRoutes: Sendable {
    let overview: OverviewReadModel

    public init(overview: OverviewReadModel) {
        self.overview = overview
    }

    public func routes<Context: RequestContext>(context: Context.Type = Context.self) -> APIRouteCollection<Context> {
        let routes = APIRouteCollection(context: Context.self)
        routes.api("/api/v1/overview") { request, _ in
            let parameters = QueryParameters(request)
            let range = try parameters.range(defaultSpan: UnixTime.day)
            var interval: OverviewReadModel.Interval?
            if let text = parameters.text("interval") {
                guard let value = OverviewReadModel.Interval(rawValue: text) else { throw APIError.invalid("interval", "must be 1m, 1h or 1d") }
                guard (range.upperBound - range.lowerBound) / value.nanoseconds <= 5000 else {
                    throw APIError.invalid("interval", "makes more than 5000 buckets of this range")
                }
                interval = value
            }
            let answer = try await overview.overview(range, interval: interval, groups: try parameters.limit("groups", default: 10, maximum: 100))
            var json = JSONWriter(capacity: 256 * (answer.series.count + answer.models.count + answer.services.count) + 256)
            json.openMaterializedAnswer(at: answer.materializedAt, range: answer.range)
            json.member("interval", answer.interval.rawValue)
            json.key("totals")
            Self.write(answer.totals, into: &json)
            json.key("series")
            json.raw("[")
            json.elements(of: answer.series) { bucket, json in
                Self.write(bucket.figures, into: &json, opened: true)
                json.member("start", time: bucket.start)
                json.raw("}")
            }
            json.raw("]")
            for (name, groups) in [("models", answer.models), ("services", answer.services)] {
                json.raw(",")
                json.string(name)
                json.raw(":[")
                json.elements(of: groups) { group, json in
                    Self.write(group.figures, into: &json, opened: true)
                    json.member("name", group.name)
                    json.raw("}")
                }
                json.raw("]")
            }
            json.raw("}")
            return .json(json)
        }
        return routes
    }

    /// `{"requests":…,"errors":…,"error_rate":…,"p50_ms":…,"p95_ms":…,"tokens":…,"cost_micros":…,"unpriced_requests":…}`,
    /// left open with `opened`.
    static func write(_ figures: OverviewReadModel.Figures, into json: inout JSONWriter, opened: Bool = false) {
        json.raw("{")
        json.member("requests", figures.requests)
        json.member("errors", figures.errors)
        json.member("error_rate", figures.requests > 0 ? Double(figures.errors) / Double(figures.requests) : nil)
        json.member("p50_ms", figures.p50Nanoseconds.map { Double($0) / 1e6 })
        json.member("p95_ms", figures.p95Nanoseconds.map { Double($0) / 1e6 })
        json.member("tokens", figures.tokens)
        json.member("cost_micros", figures.costMicros)
        json.member("unpriced_requests", figures.unpricedRequests)
        if !opened { json.raw("}") }
    }
}
