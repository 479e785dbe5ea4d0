/// A log record as one JSON object, its fields named as in OTLP, with its service, resource
/// and scope: the form of `GET /api/v1/logs` and of the JSON-lines exporter's `logs.jsonl`.
public enum LogRecordJSON {
    /// One log record: its fields as OTLP names them, with the service, resource and scope.
    public static func record(_ row: Int, of batch: LogBatch, services: [String?], into json: inout JSONWriter) {
        json.byte(UInt8(ascii: "{"))
        json.time(batch.times[row], key: "time_unix_nano", textKey: "time")
        json.time(batch.observedTimes[row], key: "observed_time_unix_nano", textKey: "observed_time")
        json.member("severity_number", UInt64(batch.severityNumbers[row]))
        json.key("severity_text")
        json.otlpOptionalString(batch.severityTexts[row], in: batch)
        json.key("body")
        json.otlpValue(kind: batch.bodies.kinds[row], payload: batch.bodies.payloads[row], in: batch)
        json.key("attributes")
        json.otlpAttributes(batch.recordAttributes[row], of: batch.attributes, in: batch)
        json.member("dropped_attributes_count", UInt64(batch.droppedAttributeCounts[row]))
        json.key("event_name")
        json.otlpOptionalString(batch.eventNames[row], in: batch)
        json.key("trace_id")
        json.hexTraceID(batch.traceIDs[row])
        json.key("span_id")
        json.hexSpanID(batch.spanIDs[row])
        json.member("flags", UInt64(batch.flags[row]))
        json.otlpOrigin(scope: Int(batch.scopeIndices[row]), services: services, in: batch)
        json.byte(UInt8(ascii: "}"))
    }

    /// Every record of `batch`, one line each; `lineEnds` receives the offset after each newline.
    public static func lines(_ batch: LogBatch, into json: inout JSONWriter, lineEnds: inout [Int]) {
        let services = batch.resourceServiceNames()
        for row in 0..<batch.count {
            record(row, of: batch, services: services, into: &json)
            json.byte(0x0A)
            lineEnds.append(json.bytes.count)
        }
    }
}
