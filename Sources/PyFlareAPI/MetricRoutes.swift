import Foundation
public import Hummingbird
import PyFlareWire
public import PyFlareStore
import PyFlareAnalytics

/// `GET /api/v1/metrics` (every metric name with its type, unit and description) and
/// `GET /api/v1/metrics/{name}/series` (its points by series, raw or downsampled).
public struct MetricRoutes: Sendable {
    let store: SpanStore
    static let defaultPointLimit = 10_000
    static let maxPointLimit = 100_000
    /// More buckets than a chart can show means the step is a mistake.
    static let maxBuckets = 10_000

    public init(store: SpanStore) {
        self.store = store
    }

    public func routes<Context: RequestContext>(context: Context.Type = Context.self) -> APIRouteCollection<Context> {
        let routes = APIRouteCollection(context: Context.self)
        routes.api("/api/v1/metrics") { _, _ in try await list() }
        routes.api("/api/v1/metrics/:name/series") { request, context in
            try await series(try context.parameters.path("name"), request)
        }
        return routes
    }

    func list() async throws -> Response {
        let rows = try await store.metricNames()
        return .jsonList("metrics", rows, bytesPerItem: 256) { row, json in
            Self.header(row, into: &json)
            json.member("point_count", UInt64(row.pointCount))
            json.member("services", row.services)
            json.time(row.firstTime, key: "first_time_unix_nano", textKey: "first_time")
            json.time(row.lastTime, key: "last_time_unix_nano", textKey: "last_time")
            json.byte(UInt8(ascii: "}"))
        }
    }

    /// `{"name":…,"type":…,"unit":…,"description":…,"temporality":…,"monotonic":…` (left open).
    static func header(_ row: MetricNameRow, into json: inout JSONWriter) {
        json.raw("{")
        json.member("name", row.name)
        json.member("type", row.type)
        json.member("unit", row.unit)
        json.member("description", row.description)
        json.member("temporality", row.temporality)
        json.member("monotonic", row.monotonic)
    }

    /// What `/series` was asked for.
    struct SeriesRequest {
        /// `since`, `until`, `service` and `attr.KEY=VALUE`.
        var filter = MetricSeries.Filter()
        var step: UInt64?
        var aggregation: MetricSeries.Aggregation?
        /// Attribute keys (and `service`) that name a group; nil keeps every series apart, an
        /// empty list merges them all.
        var groupBy: [String]?
        var limit = defaultPointLimit
    }

    func series(_ name: String, _ request: Request) async throws -> Response {
        let parameters = try Self.seriesRequest(from: QueryParameters(request))
        guard let row = try await store.metricNames().first(where: { $0.name == name }) else {
            throw APIError.notFound("no metric named \"\(name)\" is stored")
        }
        let type = MetricType(name: row.type) ?? .gauge
        if let aggregation = parameters.aggregation, let problem = MetricSeries.check(aggregation, for: type) {
            throw APIError.badRequest(problem)
        }
        let (batches, warnings) = try await store.metricBatches(name: name, since: parameters.filter.since, until: parameters.filter.until)
        let (series, total) = MetricSeries.select(name, parameters.filter, in: batches)

        var json = JSONWriter(capacity: 4096)
        Self.header(row, into: &json)
        if let step = parameters.step {
            let aggregation = parameters.aggregation ?? MetricSeries.defaultAggregation(
                type: type, monotonic: row.monotonic, temporality: row.temporality == "delta" ? 1 : 2)
            let first = series.compactMap { $0.points.first?.time }.min() ?? parameters.filter.since ?? 0
            let origin = (parameters.filter.since ?? first) / step * step
            if let until = parameters.filter.until ?? series.compactMap({ $0.points.last?.time }).max(),
               until > origin, (until - origin) / step > UInt64(Self.maxBuckets) {
                throw APIError.badRequest("step is too small: more than \(Self.maxBuckets) buckets between since and until")
            }
            json.member("aggregation", aggregation.rawValue)
            json.member("step_seconds", Double(step) / 1e9)
            json.raw(#","series":["#)
            let downsampled = MetricSeries.downsampled(series, batches: batches, type: type, aggregation: aggregation, step: step,
                                                       origin: origin, windowStart: parameters.filter.since ?? origin,
                                                       groupBy: parameters.groupBy)
            Self.write(downsampled, batches: batches, groupBy: parameters.groupBy, into: &json)
            json.raw("]")
        } else {
            json.raw(#","series":["#)
            var written = 0
            json.elements(of: series) { entry, json in
                Self.seriesHead(entry, batches: batches, into: &json)
                json.raw(#","points":["#)
                for (position, point) in entry.points.prefix(parameters.limit - written).enumerated() {
                    if position > 0 { json.byte(UInt8(ascii: ",")) }
                    MetricPointJSON.point(point.row, of: batches[point.batch], into: &json)
                }
                written += min(entry.points.count, parameters.limit - written)
                json.raw("]}")
            }
            json.raw("]")
            json.member("truncated", total > parameters.limit)
        }
        json.member("warnings", warnings)
        json.byte(UInt8(ascii: "}"))
        return .json(json)
    }

    /// `{"service":…,"attributes":{…}` of a series (left open).
    static func seriesHead(_ series: MetricSeries.Series, batches: [MetricBatch], into json: inout JSONWriter) {
        let batch = batches[series.sample.batch]
        json.raw("{")
        json.member("service", series.service)
        json.key("attributes")
        json.otlpAttributes(batch.pointAttributes[series.sample.row], of: batch.attributes, in: batch)
    }

    /// Downsampled series (or groups of series), written as `{"service","attributes","points"}`.
    static func write(_ downsampled: [MetricSeries.Downsampled], batches: [MetricBatch], groupBy: [String]?, into json: inout JSONWriter) {
        json.elements(of: downsampled) { group, json in
            if let groupBy {
                json.raw("{")
                json.key("service")
                if groupBy.contains("service"), let service = group.head.service { json.string(service) } else { json.null() }
                json.raw(#","attributes":{"#)
                for (position, label) in group.labels.enumerated() {
                    if position > 0 { json.byte(UInt8(ascii: ",")) }
                    json.string(label.key)
                    json.byte(UInt8(ascii: ":"))
                    json.bytes.append(contentsOf: label.json.utf8)
                }
                json.byte(UInt8(ascii: "}"))
            } else {
                seriesHead(group.head, batches: batches, into: &json)
            }
            json.raw(#","points":["#)
            for (position, point) in group.points.enumerated() {
                if position > 0 { json.byte(UInt8(ascii: ",")) }
                json.byte(UInt8(ascii: "{"))
                json.time(point.time, key: "time_unix_nano", textKey: "time")
                json.member("value", point.value)
                json.byte(UInt8(ascii: "}"))
            }
            json.raw("]}")
        }
    }

    static func seriesRequest(from parameters: QueryParameters) throws(APIError) -> SeriesRequest {
        var request = SeriesRequest()
        (request.filter.since, request.filter.until) = try parameters.timeRange()
        request.filter.service = parameters.text("service")
        request.filter.attributes = parameters.prefixed("attr.").map { ($0.name, $0.value) }
        if let text = parameters.text("step") {
            guard let step = Self.duration(text), step > 0 else {
                throw .badRequest("step must be a duration such as 30s, 5m, 1h or 1d (or seconds), not \"\(text)\"")
            }
            request.step = step
        }
        if let text = parameters.text("agg") ?? parameters.text("aggregation") {
            guard let aggregation = MetricSeries.Aggregation(rawValue: text.lowercased()) else {
                let names = MetricSeries.Aggregation.allCases.map(\.rawValue).joined(separator: ", ")
                throw .badRequest("agg must be one of \(names); not \"\(text)\"")
            }
            guard request.step != nil else { throw .badRequest("agg needs a step (e.g. step=1m)") }
            request.aggregation = aggregation
        }
        // Present but empty: every series in one group.
        if let text = parameters.parameters["group_by"].map(String.init) {
            guard request.step != nil else { throw .badRequest("group_by needs a step (e.g. step=1m)") }
            request.groupBy = text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        request.limit = try parameters.limit(default: defaultPointLimit, maximum: maxPointLimit)
        return request
    }

    /// Nanoseconds of `30s`, `5m`, `1h`, `1d`, `250ms` or a plain number of seconds; nil for
    /// anything else, under a nanosecond, or longer than the span of storable times.
    static func duration(_ text: String) -> UInt64? {
        let units: [(suffix: String, nanoseconds: Double)] = [("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9), ("d", 86400e9)]
        for unit in units where text.hasSuffix(unit.suffix) {
            guard let value = Double(text.dropLast(unit.suffix.count)), value > 0 else { return nil }
            return bounded(UInt64(checked: value * unit.nanoseconds))
        }
        guard let seconds = Double(text), seconds > 0 else { return nil }
        return bounded(UInt64(checked: seconds * 1e9))
    }

    private static func bounded(_ nanoseconds: UInt64?) -> UInt64? {
        guard let nanoseconds, nanoseconds > 0, nanoseconds <= UnixTime.latestUnsigned else { return nil }
        return nanoseconds
    }
}
