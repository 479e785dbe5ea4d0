/// JSON for the parts every OTLP batch shares (values, attributes, resource, scope, ids), in
/// the shape the span API uses, so log records and metric points read like spans do:
/// attributes as a plain object, ints exact, bytes as `{"bytes": base64}`, ids as hex.
extension JSONWriter {
    /// An `AnyValue` of `batch`.
    public mutating func otlpValue(kind: ValueKind, payload: UInt64, in batch: some OTLPBatch) {
        switch kind {
        case .empty: null()
        case .string: otlpString(StringRef(packed: payload), in: batch)
        case .bool: bool(payload != 0)
        case .int: int(Int64(bitPattern: payload))
        case .double: double(Double(bitPattern: payload))
        case .bytes:
            raw("{\"bytes\":\"")
            batch.withBytes(StringRef(packed: payload)) { Base64.encode($0, to: &bytes) }
            raw("\"}")
        case .array:
            let range = RowRange(packed: payload)
            byte(UInt8(ascii: "["))
            for row in range.indices {
                if row != Int(range.start) { byte(UInt8(ascii: ",")) }
                otlpValue(kind: batch.nestedValues.kinds[row], payload: batch.nestedValues.payloads[row], in: batch)
            }
            byte(UInt8(ascii: "]"))
        case .keyValueList:
            otlpAttributes(RowRange(packed: payload), of: batch.nestedValues, in: batch)
        }
    }

    /// `{"key": value, …}` for the rows of `range` in `table`.
    public mutating func otlpAttributes(_ range: RowRange, of table: AttributeTable, in batch: some OTLPBatch) {
        byte(UInt8(ascii: "{"))
        for row in range.indices {
            if row != Int(range.start) { byte(UInt8(ascii: ",")) }
            otlpString(table.keys[row], in: batch)
            byte(UInt8(ascii: ":"))
            otlpValue(kind: table.kinds[row], payload: table.payloads[row], in: batch)
        }
        byte(UInt8(ascii: "}"))
    }

    public mutating func otlpString(_ ref: StringRef, in batch: some OTLPBatch) {
        batch.withBytes(ref) { string(utf8: $0) }
    }

    /// The text of `ref`, or null when it is empty.
    public mutating func otlpOptionalString(_ ref: StringRef, in batch: some OTLPBatch) {
        if ref.isEmpty { null() } else { otlpString(ref, in: batch) }
    }

    /// 32 hex digits, or null for the zero id (no trace).
    public mutating func hexTraceID(_ id: TraceID) {
        if id == .zero { null() } else { string(Hex.string(id)) }
    }

    /// 16 hex digits, or null for the zero id.
    public mutating func hexSpanID(_ id: UInt64) {
        if id == 0 { null() } else { string(Hex.string(id)) }
    }

    /// `"<prefix>time_unix_nano":n,"<prefix>time":"RFC 3339"` without the braces.
    public mutating func time(_ nanoseconds: UInt64, key: StaticString, textKey: StaticString) {
        self.key(key)
        uint(nanoseconds)
        self.key(textKey)
        if nanoseconds == 0 { null() } else { rfc3339(nanoseconds) }
    }

    /// `"service":…,"resource":{…},"scope":{…}` of scope `scope` (and its resource), without braces.
    public mutating func otlpOrigin(scope: Int, services: [String?], in batch: some OTLPBatch) {
        let resource = Int(batch.scopes.resourceIndices[scope])
        key("service")
        if let service = services[resource] { string(service) } else { null() }
        raw(",\"resource\":{\"attributes\":")
        otlpAttributes(batch.resources.attributes[resource], of: batch.attributes, in: batch)
        raw(",\"dropped_attributes_count\":")
        uint(UInt64(batch.resources.droppedAttributeCounts[resource]))
        raw(",\"schema_url\":")
        otlpOptionalString(batch.resources.schemaURLs[resource], in: batch)
        raw("},\"scope\":{\"name\":")
        otlpOptionalString(batch.scopes.names[scope], in: batch)
        raw(",\"version\":")
        otlpOptionalString(batch.scopes.versions[scope], in: batch)
        raw(",\"attributes\":")
        otlpAttributes(batch.scopes.attributes[scope], of: batch.attributes, in: batch)
        raw("}")
    }
}
