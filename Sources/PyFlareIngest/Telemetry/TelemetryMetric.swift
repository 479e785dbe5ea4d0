import PyFlareWire

/// One measurement posted to `POST /api/v1/telemetry/metrics`, checked (the API parses it).
package struct TelemetryMetric: Sendable, Equatable {
    package enum Kind: String, Sendable, CaseIterable {
        /// An increment: a delta, monotonic OTLP sum point.
        case counter
        /// A value at a time: an OTLP gauge point.
        case gauge
        /// One observation: an OTLP histogram point with count 1.
        case histogram
    }

    /// Metrics one batch request may hold.
    package static let maxBatch = 1000
    /// Longest metric name, as for OpenTelemetry instrument names.
    package static let maxNameLength = 255

    package var name: String
    package var kind: Kind
    package var value: Double
    package var tags: TelemetryTags
    /// Unix nanoseconds.
    package var time: UInt64
    /// UCUM unit ("ms", "By", "{request}"); empty when not given.
    package var unit: String

    package init(name: String, kind: Kind, value: Double, tags: TelemetryTags = TelemetryTags(), time: UInt64, unit: String = "") {
        self.name = name
        self.kind = kind
        self.value = value
        self.tags = tags
        self.time = time
        self.unit = unit
    }
}
