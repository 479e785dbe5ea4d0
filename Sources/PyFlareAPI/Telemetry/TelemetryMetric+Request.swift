import PyFlareIngest
import PyFlareWire

/// Metrics as `POST /api/v1/telemetry/metrics` reads them from a request body.
extension TelemetryMetric {
    /// The metrics of a request body: one metric object, or `{"metrics": [...]}`.
    ///
    /// - Parameter now: the time of metrics without a `timestamp`.
    /// - Throws: 400 naming the first bad member (`metrics[2].value must be a number, …`).
    static func parseRequest(_ body: JSONValue, now: UInt64) throws(APIError) -> [TelemetryMetric] {
        guard let batch = body["metrics"] else { return [try TelemetryMetric(json: body, path: "", now: now)] }
        guard case .array(let elements) = batch else { throw .badRequest("metrics must be an array, not \(batch.kindDescription)") }
        guard !elements.isEmpty else { throw .badRequest("metrics is empty") }
        guard elements.count <= maxBatch else { throw .badRequest("metrics holds \(elements.count) metrics; at most \(maxBatch) per request") }
        var metrics: [TelemetryMetric] = []
        for (index, element) in elements.enumerated() {
            let path = "metrics[\(index)]"
            guard case .object = element else { throw .badRequest("\(path) must be an object, not \(element.kindDescription)") }
            metrics.append(try TelemetryMetric(json: element, path: path + ".", now: now))
        }
        return metrics
    }

    init(json: JSONValue, path: String, now: UInt64) throws(APIError) {
        let fields = JSONFields(json, path: path)
        let name = try fields.requiredString("name")
        try Self.checkName(name, field: path + "name")
        let type = try fields.requiredString("type")
        guard let kind = Kind(rawValue: type) else {
            throw .badRequest("\(path)type must be counter, gauge or histogram, not \"\(type)\"")
        }
        let value = try fields.requiredNumber("value")
        if kind == .counter, value < 0 {
            throw .badRequest("\(path)value of a counter is an increment and must not be negative (got \(value)); use a gauge for values that go down")
        }
        self.init(name: name, kind: kind, value: value, tags: try TelemetryTags(json: json["tags"], field: path + "tags"),
                  time: try TelemetryTime.timestamp(fields) ?? now, unit: try fields.string("unit") ?? "")
    }

    /// OpenTelemetry's instrument name syntax: a letter, then letters, digits, `_`, `.`, `-`
    /// or `/`, at most 255 in all. It keeps `*` and `?` free for the glob of the read route.
    static func checkName(_ name: String, field: String) throws(APIError) {
        let bytes = Array(name.utf8)
        let letter = { (byte: UInt8) in (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20) }
        let valid = bytes.count <= maxNameLength && bytes.first.map(letter) == true && bytes.allSatisfy { byte in
            letter(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "/")
        }
        guard valid else {
            throw .badRequest("\(field) \"\(name.prefix(80))\" is not a valid metric name: a letter, then letters, digits, _ . - or /, at most \(maxNameLength)")
        }
    }
}
