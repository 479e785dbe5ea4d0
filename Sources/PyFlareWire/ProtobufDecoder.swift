/// The part of protobuf decoding every OTLP signal shares: the request envelope
/// (`Resource{Spans,Logs,Metrics}` → `Scope{Spans,Logs,Metrics}` → records), `Resource`,
/// `InstrumentationScope`, `KeyValue`, `AnyValue` and ids. Each signal adds the decoding of its
/// own records in an extension (`SpanBatch+Protobuf.swift`, `LogBatch+Protobuf.swift`, …).
///
/// Field numbers follow opentelemetry-proto (`collector/*/v1`, `common/v1`, `resource/v1`).
/// Unknown fields, and known fields arriving with an unexpected wire type, are skipped by
/// wire type as protobuf requires. Strings are ``StringRef``s into the request body, which
/// is the batch's arena: nothing is copied.
struct ProtobufDecoder {
    let base: UnsafeRawBufferPointer

    /// Decodes the `Export*ServiceRequest` in `payload` into a batch whose arena is `payload`,
    /// calling `record` with each record message of each scope.
    ///
    /// The three envelopes share their field numbers: request field 1 holds the resource
    /// messages, which hold `resource` (1), the scope messages (2) and `schema_url` (3); a
    /// scope message holds `scope` (1), the records (2) and `schema_url` (3).
    static func decodeRequest<Batch: DecodableBatch>(
        _ payload: [UInt8],
        record: (ProtobufDecoder, ProtoReader, _ scopeIndex: Int, inout Batch) throws(WireError) -> Void
    ) throws(WireError) -> Batch {
        var batch = Batch(bytes: payload)
        batch.reserveCapacity(forPayloadSize: payload.count)
        // `withUnsafeBytes` rethrows untyped errors, so the typed error travels in a Result.
        let outcome: Result<Void, WireError> = payload.withUnsafeBytes { raw in
            do throws(WireError) {
                let decoder = ProtobufDecoder(base: raw)
                var reader = ProtoReader(raw, start: 0, end: raw.count)
                while !reader.isAtEnd {
                    let (field, wireType) = try reader.readTag()
                    guard field == 1, wireType == .lengthDelimited else {
                        try reader.skip(wireType)
                        continue
                    }
                    try decoder.decodeLevel(reader.child(reader.readLengthDelimited()), parent: nil, into: &batch) {
                        (scopeMessage, resourceIndex, batch) throws(WireError) in
                        try decoder.decodeLevel(scopeMessage, parent: resourceIndex, into: &batch) {
                            (recordMessage, scopeIndex, batch) throws(WireError) in try record(decoder, recordMessage, scopeIndex, &batch)
                        }
                    }
                }
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try outcome.get()
        return batch
    }

    func stringRef(_ range: Range<Int>) -> StringRef {
        StringRef(offset: range.lowerBound, length: range.count)
    }

    // MARK: - Resource and scope

    /// Decodes one level of the envelope: a `Resource*` message (`parent` nil) or a `Scope*`
    /// message of resource `parent`. Both hold their owner in field 1 (`Resource` or
    /// `InstrumentationScope`), their children in field 2 and their `schema_url` in field 3.
    private func decodeLevel<Batch: OTLPBatch>(
        _ message: ProtoReader, parent: Int?, into batch: inout Batch,
        child: (ProtoReader, _ index: Int, inout Batch) throws(WireError) -> Void
    ) throws(WireError) {
        var reader = message
        let index = if let parent { batch.beginScope(resourceIndex: parent) } else { batch.beginResource() }
        var owner = OwnerFields()
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .lengthDelimited):
                try decodeOwner(reader.child(reader.readLengthDelimited()), isScope: parent != nil, into: &owner, batch: &batch)
            case (2, .lengthDelimited): try child(reader.child(reader.readLengthDelimited()), index, &batch)
            case (3, .lengthDelimited): owner.schemaURL = try stringRef(reader.readLengthDelimited())
            default: try reader.skip(wireType)
            }
        }
        batch.setOwner(owner, at: index, isScope: parent != nil)
    }

    /// Decodes a `Resource` (attributes in field 1, dropped count in 2) or an
    /// `InstrumentationScope` (name 1, version 2, attributes 3, dropped count 4): the same
    /// layout but for the scope's two leading strings.
    private func decodeOwner<Batch: OTLPBatch>(_ message: ProtoReader, isScope: Bool, into owner: inout OwnerFields, batch: inout Batch) throws(WireError) {
        var reader = message
        let shift: UInt32 = isScope ? 2 : 0
        let start = batch.attributes.count
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .lengthDelimited) where isScope: owner.name = try stringRef(reader.readLengthDelimited())
            case (2, .lengthDelimited) where isScope: owner.version = try stringRef(reader.readLengthDelimited())
            case (1 + shift, .lengthDelimited):
                batch.attributes.append(try decodeKeyValue(reader.child(reader.readLengthDelimited()), nested: &batch.nestedValues, depth: 0))
            case (2 + shift, .varint): owner.droppedAttributes = UInt32(truncatingIfNeeded: try reader.readVarint())
            default: try reader.skip(wireType)
            }
        }
        owner.attributes = batch.attributeRows(since: start)
    }

    // MARK: - Ids

    /// The 16-byte id in `range`: `.zero` when it is empty (absent), nil for any other length.
    private func traceID(in range: Range<Int>) -> TraceID? {
        switch range.count {
        case 0: return .zero
        case 16:
            let high = UInt64(bigEndian: base.loadUnaligned(fromByteOffset: range.lowerBound, as: UInt64.self))
            let low = UInt64(bigEndian: base.loadUnaligned(fromByteOffset: range.lowerBound + 8, as: UInt64.self))
            return TraceID(high: high, low: low)
        default: return nil
        }
    }

    /// The 8-byte id in `range`: 0 when it is empty (absent), nil for any other length.
    private func spanID(in range: Range<Int>) -> UInt64? {
        switch range.count {
        case 0: return 0
        case 8: return UInt64(bigEndian: base.loadUnaligned(fromByteOffset: range.lowerBound, as: UInt64.self))
        default: return nil
        }
    }

    /// Reads a trace id field: ``TraceID/zero`` when empty. One of another length reads as zero
    /// and sets `problem`, so the caller decides whether that refuses the request, the record
    /// or only the id; a good one clears `problem`.
    func readTraceID(_ reader: inout ProtoReader, what: String, problem: inout String?) throws(WireError) -> TraceID {
        try readID(&reader, what: what, size: 16, problem: &problem, parse: traceID(in:)) ?? .zero
    }

    /// Reads a span id field like ``readTraceID(_:what:problem:)``: 0 when empty or of another length.
    func readSpanID(_ reader: inout ProtoReader, what: String, problem: inout String?) throws(WireError) -> UInt64 {
        try readID(&reader, what: what, size: 8, problem: &problem, parse: spanID(in:)) ?? 0
    }

    /// Reads a trace id field that must be valid: a wrong length throws ``WireError/Code/invalidID``.
    func readTraceID(_ reader: inout ProtoReader, what: String) throws(WireError) -> TraceID {
        try Self.strictly(&reader) { (reader, problem) throws(WireError) in try readTraceID(&reader, what: what, problem: &problem) }
    }

    /// Reads a span id field that must be valid: a wrong length throws ``WireError/Code/invalidID``.
    func readSpanID(_ reader: inout ProtoReader, what: String) throws(WireError) -> UInt64 {
        try Self.strictly(&reader) { (reader, problem) throws(WireError) in try readSpanID(&reader, what: what, problem: &problem) }
    }

    private func readID<ID>(_ reader: inout ProtoReader, what: String, size: Int, problem: inout String?,
                            parse: (Range<Int>) -> ID?) throws(WireError) -> ID? {
        let range = try reader.readLengthDelimited()
        guard let id = parse(range) else {
            problem = "\(what) must be \(size) bytes, got \(range.count)"
            return nil
        }
        problem = nil
        return id
    }

    /// Runs a lenient id reader, turning the problem it reports into ``WireError/Code/invalidID``.
    private static func strictly<ID>(_ reader: inout ProtoReader,
                                     _ read: (inout ProtoReader, inout String?) throws(WireError) -> ID) throws(WireError) -> ID {
        let at = reader.position
        var problem: String?
        let id = try read(&reader, &problem)
        if let problem { throw WireError(.invalidID, problem, at: at) }
        return id
    }

    // MARK: - Attributes and values

    /// Decodes a `KeyValue` message; nested elements of its value go to `nested`.
    func decodeKeyValue(_ message: ProtoReader, nested: inout AttributeTable, depth: Int) throws(WireError) -> KeyValueRow {
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

    /// Decodes an `AnyValue`; arrays and key/value lists put their elements in `nested`
    /// as one contiguous run, counted before it is filled.
    func decodeAnyValue(_ message: ProtoReader, nested: inout AttributeTable, depth: Int) throws(WireError) -> (ValueKind, UInt64) {
        var reader = message
        var kind = ValueKind.empty
        var payload: UInt64 = 0
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .lengthDelimited):
                kind = .string
                payload = try stringRef(reader.readLengthDelimited()).packed
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
                guard depth < anyValueNestingLimit else {
                    throw WireError(.nestingTooDeep, "AnyValue nests deeper than \(anyValueNestingLimit) levels", at: reader.position)
                }
                let list = reader.child(try reader.readLengthDelimited())
                kind = field == 5 ? .array : .keyValueList
                payload = try decodeValueList(list, isKeyValueList: field == 6, nested: &nested, depth: depth + 1).packed
            case (7, .lengthDelimited):
                kind = .bytes
                payload = try stringRef(reader.readLengthDelimited()).packed
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
