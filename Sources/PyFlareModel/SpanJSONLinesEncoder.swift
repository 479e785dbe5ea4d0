public import PyFlareWire

/// Encodes spans as JSON lines, one object per span: the one JSON shape of a stored span,
/// written by the file exporter, `GET /api/v1/traces/{id}` and the SQL tables' JSON columns.
///
/// The format is documented in `docs/file-exporter.md`. Attribute values are plain
/// JSON (ints exact, bytes as `{"bytes": base64}`, non-finite doubles as strings).
public struct SpanJSONLinesEncoder: Sendable {
    public let pricing: PricingTable

    public init(pricing: PricingTable) {
        self.pricing = pricing
    }

    /// Appends span `span` of `batch` as one JSON object (the API's span form).
    public func encode(_ batch: NormalizedBatch, span: Int, into json: inout JSONWriter) {
        batch.spans.bytes.withUnsafeBytes { arena in
            LineWriter(batch: batch.spans, arena: arena).span(span, columns: batch.columns, pricing: pricing, into: &json)
        }
    }

    /// Appends every span of `batch` to `json`; `lineEnds` receives the offset after each newline.
    public func encode(_ batch: NormalizedBatch, into json: inout JSONWriter, lineEnds: inout [Int]) {
        let spans = batch.spans
        spans.bytes.withUnsafeBytes { arena in
            let line = LineWriter(batch: spans, arena: arena)
            for span in 0..<spans.count {
                line.span(span, columns: batch.columns, pricing: pricing, into: &json)
                json.byte(0x0A)
                lineEnds.append(json.bytes.count)
            }
        }
    }
}

/// Writes the parts of a span as JSON; shared by the JSON-lines encoder and SQL's JSON columns.
package struct LineWriter {
    let batch: SpanBatch
    let arena: UnsafeRawBufferPointer

    package init(batch: SpanBatch, arena: UnsafeRawBufferPointer) {
        (self.batch, self.arena) = (batch, arena)
    }

    func string(_ ref: StringRef, into json: inout JSONWriter) {
        json.string(utf8: UnsafeRawBufferPointer(rebasing: arena[ref.range]))
    }

    func optionalString(_ ref: StringRef, into json: inout JSONWriter) {
        if ref.isEmpty { json.null() } else { string(ref, into: &json) }
    }

    func spanID(_ id: UInt64, into json: inout JSONWriter) {
        json.byte(UInt8(ascii: "\""))
        if id != 0 { Hex.append(id, to: &json.bytes) }
        json.byte(UInt8(ascii: "\""))
    }

    func traceID(_ id: TraceID, into json: inout JSONWriter) {
        json.byte(UInt8(ascii: "\""))
        Hex.append(id.high, to: &json.bytes)
        Hex.append(id.low, to: &json.bytes)
        json.byte(UInt8(ascii: "\""))
    }

    func optionalInt(_ value: Int64?, into json: inout JSONWriter) {
        if let value { json.int(value) } else { json.null() }
    }

    /// `{"key": value, …}` for the rows of `range` in `table`.
    package func attributes(_ range: RowRange, of table: AttributeTable, into json: inout JSONWriter) {
        json.byte(UInt8(ascii: "{"))
        for row in range.indices {
            if row != Int(range.start) { json.byte(UInt8(ascii: ",")) }
            string(table.keys[row], into: &json)
            json.byte(UInt8(ascii: ":"))
            value(kind: table.kinds[row], payload: table.payloads[row], into: &json)
        }
        json.byte(UInt8(ascii: "}"))
    }

    func value(kind: ValueKind, payload: UInt64, into json: inout JSONWriter) {
        switch kind {
        case .empty: json.null()
        case .string: string(StringRef(packed: payload), into: &json)
        case .bool: json.bool(payload != 0)
        case .int: json.int(Int64(bitPattern: payload))
        case .double: json.double(Double(bitPattern: payload))
        case .bytes:
            json.raw("{\"bytes\":\"")
            Base64.encode(UnsafeRawBufferPointer(rebasing: arena[StringRef(packed: payload).range]), to: &json.bytes)
            json.raw("\"}")
        case .array:
            let range = RowRange(packed: payload)
            json.byte(UInt8(ascii: "["))
            for row in range.indices {
                if row != Int(range.start) { json.byte(UInt8(ascii: ",")) }
                value(kind: batch.nestedValues.kinds[row], payload: batch.nestedValues.payloads[row], into: &json)
            }
            json.byte(UInt8(ascii: "]"))
        case .keyValueList:
            attributes(RowRange(packed: payload), of: batch.nestedValues, into: &json)
        }
    }

    /// The span's events as a JSON array.
    package func events(_ span: Int, into json: inout JSONWriter) {
        json.byte(UInt8(ascii: "["))
        let events = batch.spanEvents[span]
        for event in events.indices {
            if event != Int(events.start) { json.byte(UInt8(ascii: ",")) }
            json.raw("{\"time_unix_nano\":")
            json.uint(batch.events.times[event])
            json.raw(",\"name\":")
            string(batch.events.names[event], into: &json)
            json.raw(",\"attributes\":")
            attributes(batch.events.attributes[event], of: batch.eventAttributes, into: &json)
            json.raw(",\"dropped_attributes_count\":")
            json.uint(UInt64(batch.events.droppedAttributeCounts[event]))
            json.byte(UInt8(ascii: "}"))
        }
        json.byte(UInt8(ascii: "]"))
    }

    /// The span's links as a JSON array.
    package func links(_ span: Int, into json: inout JSONWriter) {
        json.byte(UInt8(ascii: "["))
        let links = batch.spanLinks[span]
        for link in links.indices {
            if link != Int(links.start) { json.byte(UInt8(ascii: ",")) }
            json.raw("{\"trace_id\":")
            traceID(batch.links.traceIDs[link], into: &json)
            json.raw(",\"span_id\":")
            spanID(batch.links.spanIDs[link], into: &json)
            json.raw(",\"trace_state\":")
            string(batch.links.traceStates[link], into: &json)
            json.raw(",\"flags\":")
            json.uint(UInt64(batch.links.flags[link]))
            json.raw(",\"attributes\":")
            attributes(batch.links.attributes[link], of: batch.linkAttributes, into: &json)
            json.raw(",\"dropped_attributes_count\":")
            json.uint(UInt64(batch.links.droppedAttributeCounts[link]))
            json.byte(UInt8(ascii: "}"))
        }
        json.byte(UInt8(ascii: "]"))
    }

    func span(_ span: Int, columns: AIColumns, pricing: PricingTable, into json: inout JSONWriter) {
        json.raw("{\"trace_id\":")
        traceID(batch.traceIDs[span], into: &json)
        json.raw(",\"span_id\":")
        spanID(batch.spanIDs[span], into: &json)
        json.raw(",\"parent_span_id\":")
        spanID(batch.parentSpanIDs[span], into: &json)
        json.raw(",\"trace_state\":")
        string(batch.traceStates[span], into: &json)
        json.raw(",\"flags\":")
        json.uint(UInt64(batch.flags[span]))
        json.raw(",\"name\":")
        string(batch.names[span], into: &json)
        json.raw(",\"kind\":")
        json.uint(UInt64(batch.kinds[span]))
        let start = batch.startTimes[span]
        let end = batch.endTimes[span]
        json.raw(",\"start_time_unix_nano\":")
        json.uint(start)
        json.raw(",\"end_time_unix_nano\":")
        json.uint(end)
        json.raw(",\"duration_ns\":")
        json.int(end >= start ? Int64(clamping: end - start) : -Int64(clamping: start - end))
        json.raw(",\"attributes\":")
        attributes(batch.spanAttributes[span], of: batch.attributes, into: &json)
        json.raw(",\"dropped_attributes_count\":")
        json.uint(UInt64(batch.droppedAttributeCounts[span]))

        json.raw(",\"events\":")
        events(span, into: &json)
        json.raw(",\"dropped_events_count\":")
        json.uint(UInt64(batch.droppedEventCounts[span]))

        json.raw(",\"links\":")
        links(span, into: &json)
        json.raw(",\"dropped_links_count\":")
        json.uint(UInt64(batch.droppedLinkCounts[span]))

        json.raw(",\"status\":{\"code\":")
        json.uint(UInt64(batch.statusCodes[span]))
        json.raw(",\"message\":")
        string(batch.statusMessages[span], into: &json)

        let scope = Int(batch.scopeIndices[span])
        let resource = Int(batch.scopes.resourceIndices[scope])
        json.raw("},\"resource\":{\"attributes\":")
        attributes(batch.resources.attributes[resource], of: batch.attributes, into: &json)
        json.raw(",\"dropped_attributes_count\":")
        json.uint(UInt64(batch.resources.droppedAttributeCounts[resource]))
        json.raw(",\"schema_url\":")
        string(batch.resources.schemaURLs[resource], into: &json)
        json.raw("},\"scope\":{\"name\":")
        string(batch.scopes.names[scope], into: &json)
        json.raw(",\"version\":")
        string(batch.scopes.versions[scope], into: &json)
        json.raw(",\"attributes\":")
        attributes(batch.scopes.attributes[scope], of: batch.attributes, into: &json)
        json.raw(",\"dropped_attributes_count\":")
        json.uint(UInt64(batch.scopes.droppedAttributeCounts[scope]))
        json.raw(",\"schema_url\":")
        string(batch.scopes.schemaURLs[scope], into: &json)

        json.raw("},\"pyflare\":{\"service\":")
        optionalString(columns.service[span], into: &json)
        json.raw(",\"model\":")
        optionalString(columns.model[span], into: &json)
        json.raw(",\"response_model\":")
        optionalString(columns.responseModel[span], into: &json)
        json.raw(",\"provider\":")
        optionalString(columns.provider[span], into: &json)
        json.raw(",\"operation\":")
        optionalString(columns.operation[span], into: &json)
        json.raw(",\"ai_kind\":")
        if let kind = columns.kind[span].name { json.string(kind) } else { json.null() }
        json.raw(",\"input_tokens\":")
        optionalInt(columns.inputTokens[span], into: &json)
        json.raw(",\"output_tokens\":")
        optionalInt(columns.outputTokens[span], into: &json)
        json.raw(",\"cache_read_tokens\":")
        optionalInt(columns.cacheReadTokens[span], into: &json)
        json.raw(",\"cache_write_tokens\":")
        optionalInt(columns.cacheWriteTokens[span], into: &json)
        json.raw(",\"reasoning_tokens\":")
        optionalInt(columns.reasoningTokens[span], into: &json)
        json.raw(",\"total_tokens\":")
        optionalInt(columns.totalTokens[span], into: &json)
        json.raw(",\"cost_micros\":")
        optionalInt(columns.costMicros[span], into: &json)
        json.raw(",\"cost_source\":")
        if let source = columns.costSource[span].name { json.string(source) } else { json.null() }
        json.raw(",\"price_model\":")
        if let model = columns.priceModel(span) { json.string(model) } else { json.null() }
        json.raw(",\"user\":")
        optionalString(columns.user[span], into: &json)
        json.raw(",\"session\":")
        optionalString(columns.session[span], into: &json)
        json.raw(",\"feature\":")
        optionalString(columns.feature[span], into: &json)
        json.raw(",\"environment\":")
        optionalString(columns.environment[span], into: &json)
        json.raw("}}")
    }
}
