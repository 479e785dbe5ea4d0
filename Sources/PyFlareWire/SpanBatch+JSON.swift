/// Decoding of OTLP/JSON `ExportTraceServiceRequest` into a ``SpanBatch``.
///
/// Follows the OTLP/JSON mapping: lowerCamelCase names (snake_case accepted too),
/// hex trace and span ids, enums as integers, 64-bit integers as strings or numbers,
/// `bytesValue` in base64; unknown fields are ignored.
extension SpanBatch {
    public static func decodeJSON(_ payload: [UInt8]) throws(WireError) -> SpanBatch {
        var batch = SpanBatch()
        let outcome: Result<[UInt8], WireError> = payload.withUnsafeBytes { raw in
            do throws(WireError) {
                var decoder = JSONSpanDecoder(scanner: JSONScanner(base: raw))
                try decoder.decodeRequest(into: &batch)
                return .success(decoder.scanner.extra)
            } catch {
                return .failure(error)
            }
        }
        // The arena is the input followed by the unescaped strings and decoded bytes.
        batch.bytes = payload
        batch.bytes.append(contentsOf: try outcome.get())
        return batch
    }
}

struct JSONSpanDecoder {
    var scanner: JSONScanner

    mutating func decodeRequest(into batch: inout SpanBatch) throws(WireError) {
        try scanner.forEachMember { (scanner, key) throws(WireError) in
            if scanner.key(key, is: "resourceSpans") {
                try scanner.forEachElement { (scanner) throws(WireError) in try Self.decodeResourceSpans(&scanner, into: &batch) }
            } else {
                try scanner.skipValue()
            }
        }
        try scanner.expectEnd()
    }

    // MARK: - Resource and scope

    private static func decodeResourceSpans(_ scanner: inout JSONScanner, into batch: inout SpanBatch) throws(WireError) {
        let resourceIndex = batch.beginResource()
        try scanner.forEachMember { (scanner, key) throws(WireError) in
            if scanner.key(key, is: "resource") {
                if scanner.consumeNull() { return }
                let start = batch.attributes.count
                try scanner.forEachMember { (scanner, key) throws(WireError) in
                    if scanner.key(key, is: "attributes") {
                        try decodeAttributes(&scanner, into: &batch.attributes, nested: &batch.nestedValues)
                    } else if scanner.key(key, is: "droppedAttributesCount") {
                        batch.resources.droppedAttributeCounts[resourceIndex] = try readUInt32(&scanner)
                    } else {
                        try scanner.skipValue()
                    }
                }
                batch.resources.attributes[resourceIndex] = RowRange(start: start, count: batch.attributes.count - start)
            } else if scanner.key(key, is: "scopeSpans") {
                try scanner.forEachElement { (scanner) throws(WireError) in
                    try decodeScopeSpans(&scanner, resourceIndex: resourceIndex, into: &batch)
                }
            } else if scanner.key(key, is: "schemaUrl") {
                batch.resources.schemaURLs[resourceIndex] = try readString(&scanner)
            } else {
                try scanner.skipValue()
            }
        }
    }

    private static func decodeScopeSpans(_ scanner: inout JSONScanner, resourceIndex: Int, into batch: inout SpanBatch) throws(WireError) {
        let scopeIndex = batch.beginScope(resourceIndex: resourceIndex)
        try scanner.forEachMember { (scanner, key) throws(WireError) in
            if scanner.key(key, is: "scope") {
                if scanner.consumeNull() { return }
                let start = batch.attributes.count
                try scanner.forEachMember { (scanner, key) throws(WireError) in
                    if scanner.key(key, is: "name") {
                        batch.scopes.names[scopeIndex] = try readString(&scanner)
                    } else if scanner.key(key, is: "version") {
                        batch.scopes.versions[scopeIndex] = try readString(&scanner)
                    } else if scanner.key(key, is: "attributes") {
                        try decodeAttributes(&scanner, into: &batch.attributes, nested: &batch.nestedValues)
                    } else if scanner.key(key, is: "droppedAttributesCount") {
                        batch.scopes.droppedAttributeCounts[scopeIndex] = try readUInt32(&scanner)
                    } else {
                        try scanner.skipValue()
                    }
                }
                batch.scopes.attributes[scopeIndex] = RowRange(start: start, count: batch.attributes.count - start)
            } else if scanner.key(key, is: "spans") {
                try scanner.forEachElement { (scanner) throws(WireError) in try decodeSpan(&scanner, scopeIndex: scopeIndex, into: &batch) }
            } else if scanner.key(key, is: "schemaUrl") {
                batch.scopes.schemaURLs[scopeIndex] = try readString(&scanner)
            } else {
                try scanner.skipValue()
            }
        }
    }

    // MARK: - Span

    private static func decodeSpan(_ scanner: inout JSONScanner, scopeIndex: Int, into batch: inout SpanBatch) throws(WireError) {
        let spanStart = scanner.position
        var span = SpanFields()
        let rollback = batch.rollbackPoint()
        try scanner.forEachMember { (scanner, key) throws(WireError) in
            if scanner.key(key, is: "traceId") { span.traceID = try readTraceID(&scanner, what: "traceId") }
            else if scanner.key(key, is: "spanId") { span.spanID = try readSpanID(&scanner, what: "spanId") }
            else if scanner.key(key, is: "parentSpanId") { span.parentSpanID = try readSpanID(&scanner, what: "parentSpanId") }
            else if scanner.key(key, is: "traceState") { span.traceState = try readString(&scanner) }
            else if scanner.key(key, is: "flags") { span.flags = try readUInt32(&scanner) }
            else if scanner.key(key, is: "name") { span.name = try readString(&scanner) }
            else if scanner.key(key, is: "kind") { span.kind = try readEnum(&scanner, names: spanKindNames) }
            else if scanner.key(key, is: "startTimeUnixNano") { span.startTime = try scanner.readInteger() }
            else if scanner.key(key, is: "endTimeUnixNano") { span.endTime = try scanner.readInteger() }
            else if scanner.key(key, is: "attributes") {
                try decodeAttributes(&scanner, into: &batch.attributes, nested: &batch.nestedValues)
            }
            else if scanner.key(key, is: "droppedAttributesCount") { span.droppedAttributes = try readUInt32(&scanner) }
            else if scanner.key(key, is: "events") {
                try scanner.forEachElement { (scanner) throws(WireError) in try decodeEvent(&scanner, into: &batch) }
            }
            else if scanner.key(key, is: "droppedEventsCount") { span.droppedEvents = try readUInt32(&scanner) }
            else if scanner.key(key, is: "links") {
                try scanner.forEachElement { (scanner) throws(WireError) in try decodeLink(&scanner, into: &batch) }
            }
            else if scanner.key(key, is: "droppedLinksCount") { span.droppedLinks = try readUInt32(&scanner) }
            else if scanner.key(key, is: "status") {
                if scanner.consumeNull() { return }
                try scanner.forEachMember { (scanner, key) throws(WireError) in
                    if scanner.key(key, is: "code") { span.statusCode = try readEnum(&scanner, names: statusCodeNames) }
                    else if scanner.key(key, is: "message") { span.statusMessage = try readString(&scanner) }
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
            else if scanner.key(key, is: "name") { name = try readString(&scanner) }
            else if scanner.key(key, is: "attributes") {
                try decodeAttributes(&scanner, into: &batch.eventAttributes, nested: &batch.nestedValues)
            }
            else if scanner.key(key, is: "droppedAttributesCount") { dropped = try readUInt32(&scanner) }
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
            if scanner.key(key, is: "traceId") { traceID = try readTraceID(&scanner, what: "link traceId") }
            else if scanner.key(key, is: "spanId") { spanID = try readSpanID(&scanner, what: "link spanId") }
            else if scanner.key(key, is: "traceState") { traceState = try readString(&scanner) }
            else if scanner.key(key, is: "attributes") {
                try decodeAttributes(&scanner, into: &batch.linkAttributes, nested: &batch.nestedValues)
            }
            else if scanner.key(key, is: "droppedAttributesCount") { dropped = try readUInt32(&scanner) }
            else if scanner.key(key, is: "flags") { flags = try readUInt32(&scanner) }
            else { try scanner.skipValue() }
        }
        batch.appendLink(traceID: traceID, spanID: spanID, traceState: traceState, firstAttribute: start, dropped: dropped, flags: flags)
    }

    // MARK: - Attributes and values

    private static func decodeAttributes(_ scanner: inout JSONScanner, into table: inout AttributeTable, nested: inout AttributeTable) throws(WireError) {
        try scanner.forEachElement { (scanner) throws(WireError) in
            table.append(try decodeKeyValue(&scanner, nested: &nested, depth: 0))
        }
    }

    private static func decodeKeyValue(_ scanner: inout JSONScanner, nested: inout AttributeTable, depth: Int) throws(WireError) -> KeyValueRow {
        var row = KeyValueRow(key: .empty, kind: .empty, payload: 0)
        try scanner.forEachMember { (scanner, key) throws(WireError) in
            if scanner.key(key, is: "key") {
                row.key = try readString(&scanner)
            } else if scanner.key(key, is: "value") {
                (row.kind, row.payload) = try decodeAnyValue(&scanner, nested: &nested, depth: depth)
            } else {
                try scanner.skipValue()
            }
        }
        return row
    }

    private static func decodeAnyValue(_ scanner: inout JSONScanner, nested: inout AttributeTable, depth: Int) throws(WireError) -> (ValueKind, UInt64) {
        var kind = ValueKind.empty
        var payload: UInt64 = 0
        if scanner.consumeNull() { return (kind, payload) }
        try scanner.forEachMember { (scanner, key) throws(WireError) in
            if scanner.key(key, is: "stringValue") {
                kind = .string
                payload = try readString(&scanner).packed
            } else if scanner.key(key, is: "boolValue") {
                kind = .bool
                payload = try scanner.readBool() ? 1 : 0
            } else if scanner.key(key, is: "intValue") {
                kind = .int
                payload = UInt64(bitPattern: try scanner.readSignedInteger())
            } else if scanner.key(key, is: "doubleValue") {
                kind = .double
                payload = try scanner.readDouble().bitPattern
            } else if scanner.key(key, is: "bytesValue") {
                kind = .bytes
                payload = try readBase64(&scanner).packed
            } else if scanner.key(key, is: "arrayValue") || scanner.key(key, is: "kvlistValue") {
                let isKeyValueList = scanner.key(key, is: "kvlistValue")
                guard depth < SpanBatch.maxValueNesting else {
                    throw WireError(.nestingTooDeep, "AnyValue nests deeper than \(SpanBatch.maxValueNesting) levels", at: scanner.position)
                }
                kind = isKeyValueList ? .keyValueList : .array
                payload = try decodeValueList(&scanner, isKeyValueList: isKeyValueList, nested: &nested, depth: depth + 1).packed
            } else {
                try scanner.skipValue()
            }
        }
        return (kind, payload)
    }

    /// Elements are decoded first and stored afterwards, so that one value's elements
    /// stay contiguous even when they hold lists of their own.
    private static func decodeValueList(_ scanner: inout JSONScanner, isKeyValueList: Bool, nested: inout AttributeTable, depth: Int) throws(WireError) -> RowRange {
        var elements: [KeyValueRow] = []
        if scanner.consumeNull() { return .empty }
        try scanner.forEachMember { (scanner, key) throws(WireError) in
            guard scanner.key(key, is: "values") else { return try scanner.skipValue() }
            try scanner.forEachElement { (scanner) throws(WireError) in
                if isKeyValueList {
                    elements.append(try decodeKeyValue(&scanner, nested: &nested, depth: depth))
                } else {
                    let (kind, payload) = try decodeAnyValue(&scanner, nested: &nested, depth: depth)
                    elements.append(KeyValueRow(key: .empty, kind: kind, payload: payload))
                }
            }
        }
        let start = nested.count
        for element in elements { nested.append(element) }
        return RowRange(start: start, count: elements.count)
    }

    // MARK: - Scalars

    private static func readString(_ scanner: inout JSONScanner) throws(WireError) -> StringRef {
        if scanner.consumeNull() { return .empty }
        guard scanner.peek() == UInt8(ascii: "\"") else {
            throw WireError(.invalidField, "expected a string", at: scanner.position)
        }
        return try scanner.readString()
    }

    private static func readUInt32(_ scanner: inout JSONScanner) throws(WireError) -> UInt32 {
        let at = scanner.position
        let value = try scanner.readInteger()
        guard value <= UInt64(UInt32.max) else { throw WireError(.invalidField, "value \(value) out of range for uint32", at: at) }
        return UInt32(value)
    }

    static let spanKindNames: [String] = [
        "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER",
    ]
    static let statusCodeNames: [String] = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"]

    /// An enum as an integer (the mapping's form) or, leniently, by its proto name.
    private static func readEnum(_ scanner: inout JSONScanner, names: [String]) throws(WireError) -> UInt8 {
        let at = scanner.position
        if scanner.peek() == UInt8(ascii: "\"") {
            let ref = try scanner.readString()
            let name = scanner.string(ref)
            if let index = names.firstIndex(of: name) { return UInt8(index) }
            if let number = UInt8(name) { return number }
            throw WireError(.invalidField, "unknown enum value \"\(name)\"", at: at)
        }
        let value = try scanner.readInteger()
        guard value <= 255 else { throw WireError(.invalidField, "enum value \(value) out of range", at: at) }
        return UInt8(value)
    }

    private static func readHexID(_ scanner: inout JSONScanner, digits: Int, what: String) throws(WireError) -> (UInt64, UInt64)? {
        let at = scanner.position
        let ref = try readString(&scanner)
        if ref.isEmpty { return nil }
        let parsed: (UInt64, UInt64)? = scanner.withBytes(of: ref) { bytes in
            guard bytes.count == digits else { return nil }
            guard let first = Hex.parseUInt64(bytes, at: 0) else { return nil }
            if digits == 16 { return (first, 0) }
            guard let second = Hex.parseUInt64(bytes, at: 16) else { return nil }
            return (first, second)
        }
        guard let parsed else {
            throw WireError(.invalidID, "\(what) must be \(digits) hex digits (\(digits / 2) bytes), got \"\(scanner.string(ref).prefix(64))\"", at: at)
        }
        return parsed
    }

    private static func readTraceID(_ scanner: inout JSONScanner, what: String) throws(WireError) -> TraceID {
        guard let (high, low) = try readHexID(&scanner, digits: 32, what: what) else { return .zero }
        return TraceID(high: high, low: low)
    }

    private static func readSpanID(_ scanner: inout JSONScanner, what: String) throws(WireError) -> UInt64 {
        try readHexID(&scanner, digits: 16, what: what)?.0 ?? 0
    }

    private static func readBase64(_ scanner: inout JSONScanner) throws(WireError) -> StringRef {
        let at = scanner.position
        let ref = try readString(&scanner)
        let text: [UInt8] = scanner.withBytes(of: ref) { Array($0) }
        let start = scanner.extra.count
        guard Base64.decode(text, to: &scanner.extra) else {
            throw WireError(.invalidField, "bytesValue is not valid base64", at: at)
        }
        return StringRef(offset: scanner.base.count + start, length: scanner.extra.count - start)
    }
}
