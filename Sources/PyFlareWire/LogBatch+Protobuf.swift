/// Decoding of `ExportLogsServiceRequest` protobuf straight into a ``LogBatch``.
///
/// Field numbers follow opentelemetry-proto (`collector/logs/v1`, `logs/v1`); the envelope,
/// resources, scopes and values are decoded by ``ProtobufDecoder``, shared with the other signals.
extension LogBatch {
    /// Decodes a protobuf `ExportLogsServiceRequest`.
    ///
    /// - Throws: ``WireError`` for truncated or malformed input. A record with a `trace_id`
    ///   or `span_id` of the wrong length is not an error: it is counted in
    ///   ``rejectedCount`` and left out.
    public static func decodeProtobuf(_ payload: [UInt8]) throws(WireError) -> LogBatch {
        try ProtobufDecoder.decodeRequest(payload) { (decoder, message, scopeIndex, batch: inout LogBatch) throws(WireError) in
            try decoder.decodeLogRecord(message, scopeIndex: scopeIndex, into: &batch)
        }
    }
}

extension LogBatch: DecodableBatch {
    /// Reserves room for the records a protobuf payload of `payloadSize` bytes typically holds.
    mutating func reserveCapacity(forPayloadSize payloadSize: Int) {
        // A few hundred bytes per record in typical traffic.
        let capacity = max(16, payloadSize / 256)
        attributes.reserveCapacity(capacity * 4)
        times.reserveCapacity(capacity)
        observedTimes.reserveCapacity(capacity)
        severityNumbers.reserveCapacity(capacity)
        severityTexts.reserveCapacity(capacity)
        bodies.reserveCapacity(capacity)
        recordAttributes.reserveCapacity(capacity)
        droppedAttributeCounts.reserveCapacity(capacity)
        flags.reserveCapacity(capacity)
        traceIDs.reserveCapacity(capacity)
        spanIDs.reserveCapacity(capacity)
        eventNames.reserveCapacity(capacity)
        scopeIndices.reserveCapacity(capacity)
    }
}

extension ProtobufDecoder {
    fileprivate func decodeLogRecord(_ message: ProtoReader, scopeIndex: Int, into batch: inout LogBatch) throws(WireError) {
        var reader = message
        let recordStart = reader.position
        var record = LogFields()
        let rollback = batch.rollbackPoint()
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .fixed64): record.time = try reader.readFixed64()
            case (2, .varint): record.severityNumber = UInt8(truncatingIfNeeded: min(try reader.readVarint(), 255))
            case (3, .lengthDelimited): record.severityText = try stringRef(reader.readLengthDelimited())
            case (5, .lengthDelimited):
                (record.body.kind, record.body.payload) = try decodeAnyValue(reader.child(reader.readLengthDelimited()), nested: &batch.nestedValues, depth: 0)
            case (6, .lengthDelimited):
                batch.attributes.append(try decodeKeyValue(reader.child(reader.readLengthDelimited()), nested: &batch.nestedValues, depth: 0))
            case (7, .varint): record.droppedAttributes = UInt32(truncatingIfNeeded: try reader.readVarint())
            case (8, .fixed32): record.flags = try reader.readFixed32()
            case (9, .lengthDelimited): record.traceID = try readTraceID(&reader, what: "trace_id", problem: &record.invalidTraceID)
            case (10, .lengthDelimited): record.spanID = try readSpanID(&reader, what: "span_id", problem: &record.invalidSpanID)
            case (11, .fixed64): record.observedTime = try reader.readFixed64()
            case (12, .lengthDelimited): record.eventName = try stringRef(reader.readLengthDelimited())
            default: try reader.skip(wireType)
            }
        }
        batch.appendRecord(record, scopeIndex: scopeIndex, since: rollback, at: recordStart)
    }
}
