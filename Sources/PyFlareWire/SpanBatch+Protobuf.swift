/// Decoding of `ExportTraceServiceRequest` protobuf straight into a ``SpanBatch``.
///
/// Field numbers follow opentelemetry-proto (`collector/trace/v1`, `trace/v1`); the envelope,
/// resources, scopes and values are decoded by ``ProtobufDecoder``, shared with the other signals.
extension SpanBatch {
    /// Decodes a protobuf `ExportTraceServiceRequest`.
    ///
    /// - Throws: ``WireError`` for truncated or malformed input, or a trace/span id
    ///   whose length is neither 0 nor 16/8 bytes. Spans with empty or all-zero ids
    ///   are not errors: they are counted in ``rejectedSpanCount`` and left out.
    public static func decodeProtobuf(_ payload: [UInt8]) throws(WireError) -> SpanBatch {
        var batch = try ProtobufDecoder.decodeRequest(payload) { (decoder, message, scopeIndex, batch: inout SpanBatch) throws(WireError) in
            try decoder.decodeSpan(message, scopeIndex: scopeIndex, into: &batch)
        }
        batch.arenaIsProtobufRequest = true
        return batch
    }
}

extension SpanBatch: DecodableBatch {
    /// Reserves room for the spans a protobuf payload of `payloadSize` bytes typically holds.
    mutating func reserveCapacity(forPayloadSize payloadSize: Int) {
        // About 1–2 KB per span in real GenAI traffic.
        let capacity = max(16, payloadSize / 1024)
        attributes.reserveCapacity(capacity * 12)
        traceIDs.reserveCapacity(capacity)
        spanIDs.reserveCapacity(capacity)
        parentSpanIDs.reserveCapacity(capacity)
        traceStates.reserveCapacity(capacity)
        flags.reserveCapacity(capacity)
        names.reserveCapacity(capacity)
        kinds.reserveCapacity(capacity)
        startTimes.reserveCapacity(capacity)
        endTimes.reserveCapacity(capacity)
        spanAttributes.reserveCapacity(capacity)
        droppedAttributeCounts.reserveCapacity(capacity)
        spanEvents.reserveCapacity(capacity)
        droppedEventCounts.reserveCapacity(capacity)
        spanLinks.reserveCapacity(capacity)
        droppedLinkCounts.reserveCapacity(capacity)
        statusCodes.reserveCapacity(capacity)
        statusMessages.reserveCapacity(capacity)
        scopeIndices.reserveCapacity(capacity)
    }
}

extension ProtobufDecoder {
    // MARK: - Span

    fileprivate func decodeSpan(_ message: ProtoReader, scopeIndex: Int, into batch: inout SpanBatch) throws(WireError) {
        var reader = message
        let spanStart = reader.position
        var span = SpanFields()
        // Attributes, events and links may interleave on the wire. Each goes to its own table
        // (events and links keep their attributes apart too), so a span's rows stay contiguous.
        let rollback = batch.rollbackPoint()
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .lengthDelimited): span.traceID = try readTraceID(&reader, what: "trace_id")
            case (2, .lengthDelimited): span.spanID = try readSpanID(&reader, what: "span_id")
            case (3, .lengthDelimited): span.traceState = try stringRef(reader.readLengthDelimited())
            case (4, .lengthDelimited): span.parentSpanID = try readSpanID(&reader, what: "parent_span_id")
            case (5, .lengthDelimited): span.name = try stringRef(reader.readLengthDelimited())
            case (6, .varint): span.kind = UInt8(truncatingIfNeeded: min(try reader.readVarint(), 255))
            case (7, .fixed64): span.startTime = try reader.readFixed64()
            case (8, .fixed64): span.endTime = try reader.readFixed64()
            case (9, .lengthDelimited):
                batch.attributes.append(try decodeKeyValue(reader.child(reader.readLengthDelimited()), nested: &batch.nestedValues, depth: 0))
            case (10, .varint): span.droppedAttributes = UInt32(truncatingIfNeeded: try reader.readVarint())
            case (11, .lengthDelimited): try decodeEvent(reader.child(reader.readLengthDelimited()), into: &batch)
            case (12, .varint): span.droppedEvents = UInt32(truncatingIfNeeded: try reader.readVarint())
            case (13, .lengthDelimited): try decodeLink(reader.child(reader.readLengthDelimited()), into: &batch)
            case (14, .varint): span.droppedLinks = UInt32(truncatingIfNeeded: try reader.readVarint())
            case (15, .lengthDelimited):
                (span.statusCode, span.statusMessage) = try decodeStatus(reader.child(reader.readLengthDelimited()))
            case (16, .fixed32): span.flags = try reader.readFixed32()
            default: try reader.skip(wireType)
            }
        }
        batch.appendSpan(span, scopeIndex: scopeIndex, since: rollback, at: spanStart, idNames: ("trace_id", "span_id"))
    }

    private func decodeStatus(_ message: ProtoReader) throws(WireError) -> (UInt8, StringRef) {
        var reader = message
        var code: UInt8 = 0
        var text = StringRef.empty
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (2, .lengthDelimited): text = try stringRef(reader.readLengthDelimited())
            case (3, .varint): code = UInt8(truncatingIfNeeded: min(try reader.readVarint(), 255))
            default: try reader.skip(wireType)
            }
        }
        return (code, text)
    }

    private func decodeEvent(_ message: ProtoReader, into batch: inout SpanBatch) throws(WireError) {
        var reader = message
        var time: UInt64 = 0
        var name = StringRef.empty
        var dropped: UInt32 = 0
        let start = batch.eventAttributes.count
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .fixed64): time = try reader.readFixed64()
            case (2, .lengthDelimited): name = try stringRef(reader.readLengthDelimited())
            case (3, .lengthDelimited):
                batch.eventAttributes.append(try decodeKeyValue(reader.child(reader.readLengthDelimited()), nested: &batch.nestedValues, depth: 0))
            case (4, .varint): dropped = UInt32(truncatingIfNeeded: try reader.readVarint())
            default: try reader.skip(wireType)
            }
        }
        batch.appendEvent(time: time, name: name, firstAttribute: start, dropped: dropped)
    }

    private func decodeLink(_ message: ProtoReader, into batch: inout SpanBatch) throws(WireError) {
        var reader = message
        var traceID = TraceID.zero
        var spanID: UInt64 = 0
        var traceState = StringRef.empty
        var dropped: UInt32 = 0
        var flags: UInt32 = 0
        let start = batch.linkAttributes.count
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .lengthDelimited): traceID = try readTraceID(&reader, what: "link trace_id")
            case (2, .lengthDelimited): spanID = try readSpanID(&reader, what: "link span_id")
            case (3, .lengthDelimited): traceState = try stringRef(reader.readLengthDelimited())
            case (4, .lengthDelimited):
                batch.linkAttributes.append(try decodeKeyValue(reader.child(reader.readLengthDelimited()), nested: &batch.nestedValues, depth: 0))
            case (5, .varint): dropped = UInt32(truncatingIfNeeded: try reader.readVarint())
            case (6, .fixed32): flags = try reader.readFixed32()
            default: try reader.skip(wireType)
            }
        }
        batch.appendLink(traceID: traceID, spanID: spanID, traceState: traceState, firstAttribute: start, dropped: dropped, flags: flags)
    }
}
