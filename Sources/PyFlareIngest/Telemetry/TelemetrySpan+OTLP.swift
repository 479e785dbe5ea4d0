import PyFlareWire

/// Finished telemetry spans as an OTLP `ExportTraceServiceRequest`, so they take the path of
/// every OTLP exporter's spans (normalize, sample, batch, WAL, segments).
extension TelemetrySpan {
    /// Name of the instrumentation scope of everything the telemetry API records.
    static let scopeName = "pyflare.telemetry"

    /// Name of the span events that logs become.
    static let logEventName = "log"

    /// One `ResourceSpans` per service (the span's `plugin_id` tag, else `defaultService`).
    static func exportRequest(_ spans: [TelemetrySpan], defaultService: String) -> [UInt8] {
        OTLPEnvelope.request(spans, scope: Self.scopeName, service: { $0.tags.pluginID ?? defaultService }) { span, message in
            span.encode(into: &message)
        }
    }

    /// The `Span` message.
    func encode(into message: inout ProtoWriter) {
        message.traceIDField(1, traceID)
        message.spanIDField(2, spanID)
        if parentSpanID != 0 { message.spanIDField(4, parentSpanID) }
        message.stringField(5, name)
        message.varintField(6, 1)  // SPAN_KIND_INTERNAL
        message.fixed64Field(7, startTime)
        message.fixed64Field(8, endTime)
        for (key, value) in tags.attributes { message.keyValueField(9, key: key, value: value) }
        for event in events {
            message.messageField(11) { encoded in
                encoded.fixed64Field(1, event.time)
                encoded.stringField(2, Self.logEventName)
                encoded.keyValueField(3, key: "message", value: .string(event.message))
                encoded.keyValueField(3, key: "level", value: .string(event.level))
                for (key, value) in event.tags.attributes where key != "message" && key != "level" {
                    encoded.keyValueField(3, key: key, value: value)
                }
            }
        }
        if let status {
            message.messageField(15) { encoded in
                if !statusMessage.isEmpty { encoded.stringField(2, statusMessage) }
                encoded.varintField(3, status.code)
            }
        }
    }
}
