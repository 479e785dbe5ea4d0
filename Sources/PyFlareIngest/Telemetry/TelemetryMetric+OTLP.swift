import PyFlareWire

/// Telemetry metrics as an OTLP `ExportMetricsServiceRequest`, so they take the path of every
/// OTLP exporter's metrics (decode, WAL, segments) and read back like them.
extension TelemetryMetric {
    /// Explicit bucket bounds of histogram points: the OpenTelemetry SDK's default, so a
    /// histogram posted here buckets like one an SDK exports.
    static let histogramBounds: [Double] = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000]

    /// One `ResourceMetrics` per service (the `plugin_id` tag, else `defaultService`), one
    /// `Metric` with one point per measurement, in request order.
    static func exportRequest(_ metrics: [TelemetryMetric], defaultService: String) -> [UInt8] {
        OTLPEnvelope.request(metrics, scope: TelemetrySpan.scopeName, service: { $0.tags.pluginID ?? defaultService }) { metric, message in
            metric.encode(into: &message)
        }
    }

    /// The `Metric` message.
    func encode(into message: inout ProtoWriter) {
        message.stringField(1, name)
        if !unit.isEmpty { message.stringField(3, unit) }
        switch kind {
        case .gauge:
            message.messageField(5) { gauge in gauge.messageField(1) { numberPoint(into: &$0) } }
        case .counter:
            message.messageField(7) { sum in
                sum.messageField(1) { numberPoint(into: &$0) }
                sum.varintField(2, 1)  // AGGREGATION_TEMPORALITY_DELTA: each POST is an increment
                sum.varintField(3, 1)  // is_monotonic
            }
        case .histogram:
            message.messageField(9) { histogram in
                histogram.messageField(1) { histogramPoint(into: &$0) }
                histogram.varintField(2, 1)  // DELTA: the point holds this one observation only
            }
        }
    }

    /// A `NumberDataPoint`; a counter's delta interval is the instant of the increment.
    private func numberPoint(into point: inout ProtoWriter) {
        point.fixed64Field(2, time)
        point.fixed64Field(3, time)
        point.fixed64Field(4, value.bitPattern)
        for (key, value) in tags.attributes { point.keyValueField(7, key: key, value: value) }
    }

    /// A `HistogramDataPoint` holding one observation.
    private func histogramPoint(into point: inout ProtoWriter) {
        point.fixed64Field(2, time)
        point.fixed64Field(3, time)
        point.fixed64Field(4, 1)
        point.fixed64Field(5, value.bitPattern)
        point.packedFixed64Field(6, Self.bucketCounts(value))
        point.packedDoubleField(7, Self.histogramBounds)
        for (key, value) in tags.attributes { point.keyValueField(9, key: key, value: value) }
        point.fixed64Field(11, value.bitPattern)
        point.fixed64Field(12, value.bitPattern)
    }

    /// Bucket counts for one observation: bucket `i` holds values in (bounds[i-1], bounds[i]],
    /// the last one everything above the last bound.
    static func bucketCounts(_ value: Double) -> [UInt64] {
        var counts = [UInt64](repeating: 0, count: histogramBounds.count + 1)
        counts[histogramBounds.firstIndex { value <= $0 } ?? histogramBounds.count] = 1
        return counts
    }
}
