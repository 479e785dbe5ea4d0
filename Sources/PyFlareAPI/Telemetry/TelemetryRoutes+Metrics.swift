import Hummingbird
import PyFlareIngest
import PyFlareStore
import PyFlareWire

/// `POST /api/v1/telemetry/metrics` and `GET /api/v1/telemetry/metrics?name=<glob>`.
extension TelemetryRoutes {
    /// Metrics one read returns at most (by name); the answer says when more matched.
    static let maxMetricsPerRead = 100
    /// Values per metric a read returns at most (the latest); aggregates cover all of them.
    static let maxValuesPerMetric = 10_000
    static let defaultValuesPerMetric = 100

    /// One metric or `{"metrics": [...]}` → `{"accepted": n}` once the points are durable.
    func postMetrics(_ request: Request) async throws -> Response {
        let body = try await JSONBody.read(request, maxBytes: configuration.maxBodyBytes)
        let metrics = try TelemetryMetric.parseRequest(body, now: spans.now())
        try await receive { () async throws(TelemetryError) in try await writer.write(metrics) }
        var json = JSONWriter()
        json.raw("{")
        json.member("accepted", metrics.count)
        json.byte(UInt8(ascii: "}"))
        return .json(json)
    }

    /// The values and aggregates of every stored metric whose name matches the `name` glob.
    func getMetrics(_ request: Request) async throws -> Response {
        let parameters = QueryParameters(request)
        let glob = Glob(parameters.text("name") ?? "*")
        let (since, until) = try parameters.timeRange()
        let limit = try parameters.limit(default: Self.defaultValuesPerMetric, maximum: Self.maxValuesPerMetric)

        let matching = try await store.metricNames().filter { glob.matches($0.name) }
        var json = JSONWriter(capacity: 4096)
        json.raw(#"{"metrics":["#)
        var warnings: [String] = []
        for (index, row) in matching.prefix(Self.maxMetricsPerRead).enumerated() {
            let (batches, readWarnings) = try await store.metricBatches(name: row.name, since: since, until: until)
            warnings.append(contentsOf: readWarnings)
            if index > 0 { json.byte(UInt8(ascii: ",")) }
            Self.write(row, MetricReadout(name: row.name, batches: batches, since: since, until: until), limit: limit, into: &json)
        }
        json.raw(#"],"truncated":"#)
        json.bool(matching.count > Self.maxMetricsPerRead)
        json.member("warnings", warnings)
        json.byte(UInt8(ascii: "}"))
        return .json(json)
    }

    /// The type as this API names it: a monotonic delta sum is a `counter`, the rest keep
    /// the store's names (`gauge`, `sum`, `histogram`, `exponential_histogram`, `summary`).
    static func typeName(_ row: MetricNameRow) -> String {
        row.type == "sum" && row.monotonic && row.temporality == "delta" ? "counter" : row.type
    }

    static func write(_ row: MetricNameRow, _ readout: MetricReadout, limit: Int, into json: inout JSONWriter) {
        json.raw("{")
        json.member("name", row.name)
        json.member("type", typeName(row))
        json.member("unit", row.unit)
        json.member("temporality", row.temporality)
        json.member("monotonic", row.monotonic)
        json.member("services", row.services)
        json.member("value_count", readout.values.count)
        json.key("aggregates")
        if let aggregates = readout.aggregates {
            json.raw("{")
            json.member("count", aggregates.count)
            for (name, value) in [("sum", aggregates.sum), ("min", aggregates.min), ("max", aggregates.max),
                                  ("avg", aggregates.avg), ("last", aggregates.last)] {
                json.byte(UInt8(ascii: ","))
                json.string(name)
                json.byte(UInt8(ascii: ":"))
                json.double(value)
            }
            for (name, value) in [("p50", aggregates.p50), ("p95", aggregates.p95), ("p99", aggregates.p99)] {
                guard let value else { continue }
                json.byte(UInt8(ascii: ","))
                json.string(name)
                json.byte(UInt8(ascii: ":"))
                json.double(value)
            }
            json.byte(UInt8(ascii: "}"))
        } else {
            json.null()
        }
        json.raw(#","values":["#)
        json.elements(of: readout.values.suffix(limit)) { value, json in
            json.raw("{")
            json.member("time_unix_nano", value.time)
            json.member("time", rfc3339: value.time)
            json.member("value", value.value)
            if readout.isDistribution {
                json.member("count", value.count)
                for (name, number) in [("sum", value.sum), ("min", value.min), ("max", value.max)] {
                    json.byte(UInt8(ascii: ","))
                    json.string(name)
                    json.byte(UInt8(ascii: ":"))
                    if let number { json.double(number) } else { json.null() }
                }
            }
            json.key("tags")
            json.attributes(value.tags.map { ($0.key, $0.value) })
            json.byte(UInt8(ascii: "}"))
        }
        json.raw("]}")
    }
}
