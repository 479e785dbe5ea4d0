/// Decoding of OTLP/JSON `ExportTraceServiceRequest` into a ``SpanBatch``; the envelope,
/// resources, scopes, values and scalars are decoded by the shared `JSONScanner+OTLP.swift`.
extension SpanBatch {
    /// Decodes an OTLP/JSON `ExportTraceServiceRequest`.
    ///
    /// - Throws: ``WireError`` for malformed JSON, a member of the wrong type, or a trace/span
    ///   id that is not 32/16 hex digits. Spans with empty or all-zero ids are counted in
    ///   ``rejectedSpanCount`` and left out.
    public static func decodeJSON(_ payload: [UInt8]) throws(WireError) -> SpanBatch {
        try JSONScanner.decodeRequest(payload, keys: .traces) { (scanner, scopeIndex, batch: inout SpanBatch) throws(WireError) in
            try JSONSpanDecoder.decodeSpan(&scanner, scopeIndex: scopeIndex, into: &batch)
        }
    }
}

enum JSONSpanDecoder {
    // MARK: - Span

    static func decodeSpan(_ scanner: inout JSONScanner, scopeIndex: Int, into batch: inout SpanBatch) throws(WireError) {
        let spanStart = scanner.position
        var span = SpanFields()
        let rollback = batch.rollbackPoint()
        try scanner.forEachMember { (scanner, key) throws(WireError) in
            if scanner.key(key, is: "traceId") { span.traceID = try scanner.readTraceID(what: "traceId") }
            else if scanner.key(key, is: "spanId") { span.spanID = try scanner.readSpanID(what: "spanId") }
            else if scanner.key(key, is: "parentSpanId") { span.parentSpanID = try scanner.readSpanID(what: "parentSpanId") }
            else if scanner.key(key, is: "traceState") { span.traceState = try scanner.readStringOrNull() }
            else if scanner.key(key, is: "flags") { span.flags = try scanner.readUInt32() }
            else if scanner.key(key, is: "name") { span.name = try scanner.readStringOrNull() }
            else if scanner.key(key, is: "kind") { span.kind = try scanner.readEnum(names: spanKindNames) }
            else if scanner.key(key, is: "startTimeUnixNano") { span.startTime = try scanner.readInteger() }
            else if scanner.key(key, is: "endTimeUnixNano") { span.endTime = try scanner.readInteger() }
            else if scanner.key(key, is: "attributes") {
                try scanner.decodeAttributes(into: &batch.attributes, nested: &batch.nestedValues)
            }
            else if scanner.key(key, is: "droppedAttributesCount") { span.droppedAttributes = try scanner.readUInt32() }
            else if scanner.key(key, is: "events") {
                try scanner.forEachElement { (scanner) throws(WireError) in try decodeEvent(&scanner, into: &batch) }
            }
            else if scanner.key(key, is: "droppedEventsCount") { span.droppedEvents = try scanner.readUInt32() }
            else if scanner.key(key, is: "links") {
                try scanner.forEachElement { (scanner) throws(WireError) in try decodeLink(&scanner, into: &batch) }
            }
            else if scanner.key(key, is: "droppedLinksCount") { span.droppedLinks = try scanner.readUInt32() }
            else if scanner.key(key, is: "status") {
                if scanner.consumeNull() { return }
                try scanner.forEachMember { (scanner, key) throws(WireError) in
                    if scanner.key(key, is: "code") { span.statusCode = try scanner.readEnum(names: statusCodeNames) }
                    else if scanner.key(key, is: "message") { span.statusMessage = try scanner.readStringOrNull() }
                    else { try scanner.skipValue() }
                }
            }
            else { try scanner.skipValue() }
        }
        batch.appendSpan(span, scopeIndex: scopeIndex, since: rollback, at: spanStart, idNames: ("traceId", "spanId"))
    }

    private static func decodeEvent(_ scanner: inout JSONScanner, into batch: inout SpanBatch) throws(WireError) {
        var time: UInt64 = 0
        var name = StringRef.empty
        var dropped: UInt32 = 0
        let start = batch.eventAttributes.count
        try scanner.forEachMember { (scanner, key) throws(WireError) in
            if scanner.key(key, is: "timeUnixNano") { time = try scanner.readInteger() }
            else if scanner.key(key, is: "name") { name = try scanner.readStringOrNull() }
            else if scanner.key(key, is: "attributes") {
                try scanner.decodeAttributes(into: &batch.eventAttributes, nested: &batch.nestedValues)
            }
            else if scanner.key(key, is: "droppedAttributesCount") { dropped = try scanner.readUInt32() }
            else { try scanner.skipValue() }
        }
        batch.appendEvent(time: time, name: name, firstAttribute: start, dropped: dropped)
    }

    private static func decodeLink(_ scanner: inout JSONScanner, into batch: inout SpanBatch) throws(WireError) {
        var traceID = TraceID.zero
        var spanID: UInt64 = 0
        var traceState = StringRef.empty
        var dropped: UInt32 = 0
        var flags: UInt32 = 0
        let start = batch.linkAttributes.count
        try scanner.forEachMember { (scanner, key) throws(WireError) in
            if scanner.key(key, is: "traceId") { traceID = try scanner.readTraceID(what: "link traceId") }
            else if scanner.key(key, is: "spanId") { spanID = try scanner.readSpanID(what: "link spanId") }
            else if scanner.key(key, is: "traceState") { traceState = try scanner.readStringOrNull() }
            else if scanner.key(key, is: "attributes") {
                try scanner.decodeAttributes(into: &batch.linkAttributes, nested: &batch.nestedValues)
            }
            else if scanner.key(key, is: "droppedAttributesCount") { dropped = try scanner.readUInt32() }
            else if scanner.key(key, is: "flags") { flags = try scanner.readUInt32() }
            else { try scanner.skipValue() }
        }
        batch.appendLink(traceID: traceID, spanID: spanID, traceState: traceState, firstAttribute: start, dropped: dropped, flags: flags)
    }

    static let spanKindNames: [String] = [
        "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER",
    ]
    static let statusCodeNames: [String] = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"]
}
