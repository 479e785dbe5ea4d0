/// Decoding of OTLP/JSON `ExportLogsServiceRequest` into a ``LogBatch``; the envelope,
/// resources, scopes, values and scalars are decoded by the shared `JSONScanner+OTLP.swift`.
extension LogBatch {
    /// Decodes an OTLP/JSON `ExportLogsServiceRequest`.
    ///
    /// - Throws: ``WireError`` for malformed JSON or a member of the wrong type. A record whose
    ///   `traceId` or `spanId` is not 32 or 16 hex digits is not an error: it is counted in
    ///   ``rejectedCount`` and left out.
    public static func decodeJSON(_ payload: [UInt8]) throws(WireError) -> LogBatch {
        try JSONScanner.decodeRequest(payload, keys: .logs) { (scanner, scopeIndex, batch: inout LogBatch) throws(WireError) in
            try scanner.decodeLogRecord(scopeIndex: scopeIndex, into: &batch)
        }
    }
}

extension JSONScanner {
    fileprivate mutating func decodeLogRecord(scopeIndex: Int, into batch: inout LogBatch) throws(WireError) {
        let recordStart = position
        var record = LogFields()
        let rollback = batch.rollbackPoint()
        try forEachMember { (scanner, key) throws(WireError) in
            if scanner.key(key, is: "timeUnixNano") { record.time = try scanner.readInteger() }
            else if scanner.key(key, is: "observedTimeUnixNano") { record.observedTime = try scanner.readInteger() }
            else if scanner.key(key, is: "severityNumber") { record.severityNumber = try scanner.readEnum(names: LogBatch.severityNames) }
            else if scanner.key(key, is: "severityText") { record.severityText = try scanner.readStringOrNull() }
            else if scanner.key(key, is: "body") {
                (record.body.kind, record.body.payload) = try scanner.decodeAnyValue(nested: &batch.nestedValues, depth: 0)
            }
            else if scanner.key(key, is: "attributes") {
                try scanner.decodeAttributes(into: &batch.attributes, nested: &batch.nestedValues)
            }
            else if scanner.key(key, is: "droppedAttributesCount") { record.droppedAttributes = try scanner.readUInt32() }
            else if scanner.key(key, is: "flags") { record.flags = try scanner.readUInt32() }
            else if scanner.key(key, is: "traceId") { record.traceID = try scanner.readTraceID(what: "traceId", problem: &record.invalidTraceID) }
            else if scanner.key(key, is: "spanId") { record.spanID = try scanner.readSpanID(what: "spanId", problem: &record.invalidSpanID) }
            else if scanner.key(key, is: "eventName") { record.eventName = try scanner.readStringOrNull() }
            else { try scanner.skipValue() }
        }
        batch.appendRecord(record, scopeIndex: scopeIndex, since: rollback, at: recordStart)
    }
}
