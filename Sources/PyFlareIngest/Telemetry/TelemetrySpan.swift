import PyFlareWire

/// A span started through `POST /api/v1/telemetry/traces/spans`, held in memory until it is
/// finished (by the client, by the timeout or at shutdown) and then written as one OTLP span.
package struct TelemetrySpan: Sendable {
    package enum Status: String, Sendable {
        case ok, error

        /// OTLP `Status.StatusCode`.
        var code: UInt64 { self == .ok ? 1 : 2 }
    }

    /// A log: an OTLP span event named `log` with `message` and `level` attributes.
    package struct Event: Sendable {
        var time: UInt64
        var message: String
        var level: String
        var tags: TelemetryTags

        package var footprint: Int { message.utf8.count + level.utf8.count + tags.footprint + 48 }

        package init(time: UInt64, message: String, level: String, tags: TelemetryTags) {
            (self.time, self.message, self.level, self.tags) = (time, message, level, tags)
        }
    }

    package var traceID: TraceID
    package var spanID: UInt64
    /// 0 for a root span.
    package var parentSpanID: UInt64
    var name: String
    /// Unix nanoseconds.
    package var startTime: UInt64
    /// Set when the span is finished; 0 until then.
    package var endTime: UInt64 = 0
    package var tags: TelemetryTags
    package var events: [Event] = []
    /// Set when the span is finished.
    var status: Status?
    var statusMessage = ""
    /// When a request last started or changed the span: the timeout counts from here.
    var lastActivity: UInt64

    init(traceID: TraceID, spanID: UInt64, parentSpanID: UInt64, name: String, startTime: UInt64, tags: TelemetryTags) {
        self.traceID = traceID
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.name = name
        self.startTime = startTime
        self.tags = tags
        lastActivity = startTime
    }

    /// About the memory the span takes, for the budget of ``TelemetryConfiguration/maxOpenBytes``.
    var footprint: Int {
        name.utf8.count + statusMessage.utf8.count + tags.footprint + events.reduce(0) { $0 + $1.footprint } + 128
    }

    /// Sets the end: `status`, its message, and the end time (never before the start).
    mutating func finish(_ status: Status, message: String, at time: UInt64) {
        self.status = status
        statusMessage = message
        endTime = max(time, startTime)
    }
}
