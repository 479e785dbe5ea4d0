/// Settings of the JSON telemetry API (`/api/v1/telemetry/…`).
public struct TelemetryConfiguration: Sendable, Equatable {
    /// A span with no request (start, tags, logs) for this long is finished with status error. Default 300 s.
    public var spanTimeout: Duration
    /// Spans open at once; starting one more answers 429. Default 10,000.
    public var maxOpenSpans: Int
    /// Memory the open spans' names, tags and logs may take together; beyond it 429. Default 64 MiB.
    public var maxOpenBytes: Int
    /// Largest request body. Default 1 MiB.
    public var maxBodyBytes: Int
    /// `service.name` of what a request without a `plugin_id` tag records. Default `pyflare-telemetry`.
    public var serviceName: String

    public init(spanTimeout: Duration = .seconds(300), maxOpenSpans: Int = 10_000, maxOpenBytes: Int = 64 << 20,
                maxBodyBytes: Int = 1 << 20, serviceName: String = "pyflare-telemetry") {
        self.spanTimeout = spanTimeout
        self.maxOpenSpans = maxOpenSpans
        self.maxOpenBytes = maxOpenBytes
        self.maxBodyBytes = maxBodyBytes
        self.serviceName = serviceName
    }

    public static let defaults = TelemetryConfiguration()

    /// Tags (attributes) one span may hold; more answer 409.
    static let maxTagsPerSpan = 1000
    /// Logs (span events) one span may hold; more answer 409.
    static let maxEventsPerSpan = 1000
}
