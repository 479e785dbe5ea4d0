public import PyFlareWire

/// How long PyFlare keeps what it stores. Ages are nanoseconds; `0` keeps forever.
///
/// Raw records (spans, logs, metric points) expire by their own time: a span by its start,
/// a log record by its time, a metric point by its time. Overrides give a service, an
/// environment or both another age; the most specific matching override wins (service
/// and environment, then service, then environment), the first listed among equals.
/// Rollups and the other materialized outputs have an age of their own, normally longer,
/// so summaries outlive the raw data they came from.
public struct RetentionPolicy: Sendable, Equatable {
    public struct Override: Sendable, Equatable {
        public var service: String?
        public var environment: String?
        /// Applies to spans, logs and metric points of the matching records.
        public var age: Int64

        public init(service: String? = nil, environment: String? = nil, age: Int64) {
            self.service = service
            self.environment = environment
            self.age = age
        }

        var specificity: Int { (service == nil ? 0 : 2) + (environment == nil ? 0 : 1) }

        func matches(service: String, environment: String?) -> Bool {
            (self.service == nil || self.service == service) && (self.environment == nil || self.environment == environment)
        }
    }

    public var spans: Int64 = 30 * Self.day
    public var logs: Int64 = 30 * Self.day
    public var metricPoints: Int64 = 30 * Self.day
    public var overrides: [Override] = []
    /// Segment files past this many bytes lose their oldest segments first; 0 for no cap.
    public var maxBytes: Int64 = 0
    /// Rollups, cost summaries, evaluations, drift scores, failure clusters, slices, patterns.
    public var outputs: Int64 = 400 * Self.day
    /// Materialized tables with an age of their own, by table name.
    public var outputTables: [String: Int64] = [:]

    public static let day: Int64 = 86_400 * 1_000_000_000

    public init() {}

    public func baseAge(_ kind: SegmentKind) -> Int64 {
        switch kind {
        case .spans: spans
        case .logs: logs
        case .metricPoints: metricPoints
        }
    }

    /// The age of a record of `kind` from `service` (empty when it has none) in `environment`.
    public func age(_ kind: SegmentKind, service: String, environment: String?) -> Int64 {
        var best: Override?
        for candidate in overrides where candidate.matches(service: service, environment: environment) {
            if best == nil || candidate.specificity > best!.specificity { best = candidate }
        }
        return best?.age ?? baseAge(kind)
    }

    /// Every age a record of `kind` from one of `services` could have, whatever its environment.
    private func possibleAges(_ kind: SegmentKind, services: [String]) -> [Int64] {
        let environments: [String?] = [nil] + overrides.compactMap(\.environment)
        return (services.isEmpty ? [""] : services).flatMap { service in
            environments.map { age(kind, service: service, environment: $0) }
        }
    }

    /// The longest age of a record of `kind` from one of `services`; 0 when some are kept forever.
    public func longestAge(_ kind: SegmentKind, services: [String]) -> Int64 {
        let ages = possibleAges(kind, services: services)
        return ages.contains(0) ? 0 : ages.max() ?? 0
    }

    /// The shortest age of a record of `kind` from one of `services`; nil when all are kept forever.
    public func shortestAge(_ kind: SegmentKind, services: [String]) -> Int64? {
        possibleAges(kind, services: services).filter { $0 > 0 }.min()
    }

    /// The age of the materialized table `table`.
    public func outputAge(_ table: String) -> Int64 { outputTables[table] ?? outputs }
}

// MARK: - JSON

extension RetentionPolicy {
    /// The policy as `GET /api/v1/retention` shows it and `PUT` takes it: ages as durations
    /// (`"30d"`, `"12h"`, `"0"` for forever).
    public var json: [UInt8] {
        var json = JSONWriter()
        func age(_ value: Int64) -> String { value == 0 ? "0" : DurationText.text(value) }
        json.raw("{"); json.key("spans"); json.string(age(spans))
        json.key("logs"); json.string(age(logs))
        json.key("metric_points"); json.string(age(metricPoints))
        json.key("overrides"); json.raw("[")
        json.elements(of: overrides) { override, json in
            json.raw("{")
            if let service = override.service { json.member("service", service) }
            if let environment = override.environment { json.member("environment", environment) }
            json.key("age"); json.string(age(override.age))
            json.raw("}")
        }
        json.raw("]"); json.member("max_bytes", maxBytes)
        json.key("outputs"); json.string(age(outputs))
        json.key("output_tables"); json.raw("{")
        json.elements(of: outputTables.keys.sorted()) { table, json in
            json.string(table); json.raw(":"); json.string(age(outputTables[table]!))
        }
        json.raw("}}")
        return json.bytes
    }

    /// A policy from JSON; members left out keep the values of `base`. Throws a message naming the field.
    public static func parse(_ value: JSONValue, base: RetentionPolicy) throws(RetentionPolicyError) -> RetentionPolicy {
        guard case .object(let members) = value else { throw RetentionPolicyError(field: "", "expected a JSON object") }
        var policy = base
        for (key, member) in members {
            switch key {
            case "spans": policy.spans = try age(member, field: key)
            case "logs": policy.logs = try age(member, field: key)
            case "metric_points": policy.metricPoints = try age(member, field: key)
            case "outputs": policy.outputs = try age(member, field: key)
            case "max_bytes":
                guard case .int(let bytes) = member, bytes >= 0 else { throw RetentionPolicyError(field: key, "expected a number of bytes (0 for no cap)") }
                policy.maxBytes = bytes
            case "overrides":
                guard case .array(let items) = member else { throw RetentionPolicyError(field: key, "expected a list of {service, environment, age}") }
                policy.overrides = try items.enumerated().map { (index, item) throws(RetentionPolicyError) in
                    try override(item, field: "overrides[\(index)]")
                }
            case "output_tables":
                guard case .object(let tables) = member else { throw RetentionPolicyError(field: key, "expected an object of table name to age") }
                policy.outputTables = [:]
                for (table, tableAge) in tables { policy.outputTables[table] = try age(tableAge, field: "output_tables.\(table)") }
            default:
                throw RetentionPolicyError(field: key, "unknown field (expected spans, logs, metric_points, overrides, max_bytes, outputs, output_tables)")
            }
        }
        return policy
    }

    public static func override(_ value: JSONValue, field: String) throws(RetentionPolicyError) -> Override {
        guard case .object(let members) = value else { throw RetentionPolicyError(field: field, "expected {service, environment, age}") }
        var result = Override(age: 0)
        var sawAge = false
        for (key, member) in members {
            switch key {
            case "service", "environment":
                guard case .string(let text) = member, !text.isEmpty else { throw RetentionPolicyError(field: "\(field).\(key)", "expected a non-empty string") }
                if key == "service" { result.service = text } else { result.environment = text }
            case "age":
                result.age = try age(member, field: "\(field).age")
                sawAge = true
            default:
                throw RetentionPolicyError(field: "\(field).\(key)", "unknown field (expected service, environment, age)")
            }
        }
        guard sawAge else { throw RetentionPolicyError(field: "\(field).age", "required") }
        guard result.service != nil || result.environment != nil else {
            throw RetentionPolicyError(field: field, "an override needs a service, an environment or both")
        }
        return result
    }

    /// `"30d"`, `"12h"`, `"0"` (forever), or a number of seconds.
    public static func age(_ value: JSONValue, field: String) throws(RetentionPolicyError) -> Int64 {
        switch value {
        case .int(let seconds) where seconds >= 0 && seconds <= Int64.max / 1_000_000_000:
            return seconds * 1_000_000_000
        case .string(let text):
            if text == "0" { return 0 }
            if let nanoseconds = DurationText.nanoseconds(text) { return nanoseconds }
        default:
            break
        }
        throw RetentionPolicyError(field: field, "expected an age such as \"30d\", \"12h\" or \"0\" (keep forever)")
    }
}

/// A retention policy that does not parse: the field and what is wrong with it.
public struct RetentionPolicyError: Error, Sendable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(field: String, _ message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}
