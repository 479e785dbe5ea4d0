/// Decoding of `ExportTraceServiceRequest` protobuf straight into a ``SpanBatch``.
///
/// Field numbers follow opentelemetry-proto (`collector/trace/v1`, `trace/v1`,
/// `common/v1`, `resource/v1`). Unknown fields, and known fields arriving with an
/// unexpected wire type, are skipped by wire type as protobuf requires.
extension SpanBatch {
    /// The deepest nesting of `AnyValue` arrays and key/value lists accepted.
    public static let maxValueNesting = 64

    /// Decodes a protobuf `ExportTraceServiceRequest`.
    ///
    /// - Throws: ``WireError`` for truncated or malformed input, or a trace/span id
    ///   whose length is neither 0 nor 16/8 bytes. Spans with empty or all-zero ids
    ///   are not errors: they are counted in ``rejectedSpanCount`` and left out.
    public static func decodeProtobuf(_ payload: [UInt8]) throws(WireError) -> SpanBatch {
        var batch = SpanBatch(bytes: payload)
        // About 1–2 KB per span in real GenAI traffic; reserving avoids regrowth.
        let estimatedSpans = max(16, payload.count / 1024)
        batch.reserveSpanCapacity(estimatedSpans)
        batch.attributes.reserveCapacity(estimatedSpans * 12)
        // `withUnsafeBytes` rethrows untyped errors, so the typed error travels in a Result.
        let outcome: Result<Void, WireError> = payload.withUnsafeBytes { raw in
            do throws(WireError) {
                var decoder = ProtobufSpanDecoder(base: raw)
                try decoder.decodeRequest(into: &batch)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try outcome.get()
        return batch
    }

    mutating func reserveSpanCapacity(_ capacity: Int) {
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

struct ProtobufSpanDecoder {
    let base: UnsafeRawBufferPointer

    init(base: UnsafeRawBufferPointer) {
        self.base = base
    }

    mutating func decodeRequest(into batch: inout SpanBatch) throws(WireError) {
        var reader = ProtoReader(base, start: 0, end: base.count)
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            if field == 1, wireType == .lengthDelimited {
                try decodeResourceSpans(reader.child(reader.readLengthDelimited()), into: &batch)
            } else {
                try reader.skip(wireType)
            }
        }
    }

    private func stringRef(_ range: Range<Int>) -> StringRef {
        StringRef(offset: range.lowerBound, length: range.count)
    }

    // MARK: - Resource and scope

    private func decodeResourceSpans(_ message: ProtoReader, into batch: inout SpanBatch) throws(WireError) {
        var reader = message
        let resourceIndex = batch.beginResource()
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .lengthDelimited):
                try decodeResource(reader.child(reader.readLengthDelimited()), index: resourceIndex, into: &batch)
            case (2, .lengthDelimited):
                try decodeScopeSpans(reader.child(reader.readLengthDelimited()), resourceIndex: resourceIndex, into: &batch)
            case (3, .lengthDelimited):
                batch.resources.schemaURLs[resourceIndex] = try stringRef(reader.readLengthDelimited())
            default:
                try reader.skip(wireType)
            }
        }
    }

    private func decodeResource(_ message: ProtoReader, index: Int, into batch: inout SpanBatch) throws(WireError) {
        var reader = message
        let start = batch.attributes.count
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .lengthDelimited):
                batch.attributes.append(try decodeKeyValue(reader.child(reader.readLengthDelimited()), nested: &batch.nestedValues, depth: 0))
            case (2, .varint):
                batch.resources.droppedAttributeCounts[index] = UInt32(truncatingIfNeeded: try reader.readVarint())
            default:
                try reader.skip(wireType)
            }
        }
        batch.resources.attributes[index] = RowRange(start: start, count: batch.attributes.count - start)
    }

    private func decodeScopeSpans(_ message: ProtoReader, resourceIndex: Int, into batch: inout SpanBatch) throws(WireError) {
        var reader = message
        let scopeIndex = batch.beginScope(resourceIndex: resourceIndex)
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .lengthDelimited):
                try decodeScope(reader.child(reader.readLengthDelimited()), index: scopeIndex, into: &batch)
            case (2, .lengthDelimited):
                try decodeSpan(reader.child(reader.readLengthDelimited()), scopeIndex: scopeIndex, into: &batch)
            case (3, .lengthDelimited):
                batch.scopes.schemaURLs[scopeIndex] = try stringRef(reader.readLengthDelimited())
            default:
                try reader.skip(wireType)
            }
        }
    }

    private func decodeScope(_ message: ProtoReader, index: Int, into batch: inout SpanBatch) throws(WireError) {
        var reader = message
        let start = batch.attributes.count
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .lengthDelimited): batch.scopes.names[index] = try stringRef(reader.readLengthDelimited())
            case (2, .lengthDelimited): batch.scopes.versions[index] = try stringRef(reader.readLengthDelimited())
            case (3, .lengthDelimited):
                batch.attributes.append(try decodeKeyValue(reader.child(reader.readLengthDelimited()), nested: &batch.nestedValues, depth: 0))
            case (4, .varint):
                batch.scopes.droppedAttributeCounts[index] = UInt32(truncatingIfNeeded: try reader.readVarint())
            default:
                try reader.skip(wireType)
            }
        }
        batch.scopes.attributes[index] = RowRange(start: start, count: batch.attributes.count - start)
    }

    // MARK: - Span

    private func decodeSpan(_ message: ProtoReader, scopeIndex: Int, into batch: inout SpanBatch) throws(WireError) {
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

    // MARK: - Ids

    private func readTraceID(_ reader: inout ProtoReader, what: String) throws(WireError) -> TraceID {
        let at = reader.position
        let range = try reader.readLengthDelimited()
        switch range.count {
        case 0: return .zero
        case 16:
            let high = UInt64(bigEndian: base.loadUnaligned(fromByteOffset: range.lowerBound, as: UInt64.self))
            let low = UInt64(bigEndian: base.loadUnaligned(fromByteOffset: range.lowerBound + 8, as: UInt64.self))
            return TraceID(high: high, low: low)
        default:
            throw WireError(.invalidID, "\(what) must be 16 bytes, got \(range.count)", at: at)
        }
    }

    private func readSpanID(_ reader: inout ProtoReader, what: String) throws(WireError) -> UInt64 {
        let at = reader.position
        let range = try reader.readLengthDelimited()
        switch range.count {
        case 0: return 0
        case 8: return UInt64(bigEndian: base.loadUnaligned(fromByteOffset: range.lowerBound, as: UInt64.self))
        default:
            throw WireError(.invalidID, "\(what) must be 8 bytes, got \(range.count)", at: at)
        }
    }

    // MARK: - Attributes and values

    /// Decodes a `KeyValue` message; nested elements of its value go to `nested`.
    private func decodeKeyValue(_ message: ProtoReader, nested: inout AttributeTable, depth: Int) throws(WireError) -> KeyValueRow {
        var reader = message
        var row = KeyValueRow(key: .empty, kind: .empty, payload: 0)
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .lengthDelimited): row.key = try stringRef(reader.readLengthDelimited())
            case (2, .lengthDelimited):
                (row.kind, row.payload) = try decodeAnyValue(reader.child(reader.readLengthDelimited()), nested: &nested, depth: depth)
            default: try reader.skip(wireType)
            }
        }
        return row
    }

    /// Decodes an `AnyValue`; arrays and key/value lists put their elements in
    /// ``SpanBatch/nestedValues`` as one contiguous run, counted before it is filled.
    private func decodeAnyValue(_ message: ProtoReader, nested: inout AttributeTable, depth: Int) throws(WireError) -> (ValueKind, UInt64) {
        var reader = message
        var kind = ValueKind.empty
        var payload: UInt64 = 0
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .lengthDelimited):
                let range = try reader.readLengthDelimited()
                kind = .string
                payload = StringRef(offset: range.lowerBound, length: range.count).packed
            case (2, .varint):
                kind = .bool
                payload = try reader.readVarint() != 0 ? 1 : 0
            case (3, .varint):
                kind = .int
                payload = try reader.readVarint()
            case (4, .fixed64):
                kind = .double
                payload = try reader.readFixed64()
            case (5, .lengthDelimited), (6, .lengthDelimited):
                guard depth < SpanBatch.maxValueNesting else {
                    throw WireError(.nestingTooDeep, "AnyValue nests deeper than \(SpanBatch.maxValueNesting) levels", at: reader.position)
                }
                let list = reader.child(try reader.readLengthDelimited())
                kind = field == 5 ? .array : .keyValueList
                payload = try decodeValueList(list, isKeyValueList: field == 6, nested: &nested, depth: depth + 1).packed
            case (7, .lengthDelimited):
                let range = try reader.readLengthDelimited()
                kind = .bytes
                payload = StringRef(offset: range.lowerBound, length: range.count).packed
            default: try reader.skip(wireType)
            }
        }
        return (kind, payload)
    }

    /// Decodes `ArrayValue.values` (`AnyValue`) or `KeyValueList.values` (`KeyValue`), both field 1.
    private func decodeValueList(_ message: ProtoReader, isKeyValueList: Bool, nested: inout AttributeTable, depth: Int) throws(WireError) -> RowRange {
        var counter = message
        var count = 0
        while !counter.isAtEnd {
            let (field, wireType) = try counter.readTag()
            if field == 1, wireType == .lengthDelimited { count += 1 }
            try counter.skip(wireType)
        }
        let start = nested.reserveRows(count)
        var reader = message
        var row = start
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            guard field == 1, wireType == .lengthDelimited else {
                try reader.skip(wireType)
                continue
            }
            let element = reader.child(try reader.readLengthDelimited())
            let value: KeyValueRow
            if isKeyValueList {
                value = try decodeKeyValue(element, nested: &nested, depth: depth)
            } else {
                let (kind, payload) = try decodeAnyValue(element, nested: &nested, depth: depth)
                value = KeyValueRow(key: .empty, kind: kind, payload: payload)
            }
            nested.set(row: row, value)
            row += 1
        }
        return RowRange(start: start, count: count)
    }
}
