/// The part of OTLP/JSON decoding every signal shares: the request envelope, `resource`,
/// `scope`, `KeyValue`, `AnyValue`, ids, enums and scalars. Each signal adds the decoding of
/// its own records (`SpanBatch+JSON.swift`, `LogBatch+JSON.swift`, …).
///
/// Follows the OTLP/JSON mapping: lowerCamelCase names (snake_case accepted too, see
/// ``JSONScanner/key(_:is:)``), hex trace and span ids, enums as integers (or, leniently, by
/// their proto names), 64-bit integers as strings or numbers, `bytesValue` in base64,
/// doubles also as "NaN", "Infinity", "-Infinity"; unknown fields are ignored.
extension JSONScanner {
    /// The member names of one signal's envelope, e.g. `resourceSpans`, `scopeSpans`, `spans`.
    struct EnvelopeKeys {
        var resources: StaticString
        var scopes: StaticString
        var records: StaticString

        static let traces = EnvelopeKeys(resources: "resourceSpans", scopes: "scopeSpans", records: "spans")
        static let logs = EnvelopeKeys(resources: "resourceLogs", scopes: "scopeLogs", records: "logRecords")
        static let metrics = EnvelopeKeys(resources: "resourceMetrics", scopes: "scopeMetrics", records: "metrics")
    }

    /// Decodes the `Export*ServiceRequest` in `payload` into a new batch, calling `record` with
    /// the scanner at each record object; the batch's arena is the input followed by the
    /// unescaped strings and decoded bytes.
    static func decodeRequest<Batch: DecodableBatch>(
        _ payload: [UInt8], keys: EnvelopeKeys,
        record: (inout JSONScanner, _ scopeIndex: Int, inout Batch) throws(WireError) -> Void
    ) throws(WireError) -> Batch {
        var batch = Batch(bytes: [])
        let outcome: Result<[UInt8], WireError> = payload.withUnsafeBytes { raw in
            do throws(WireError) {
                var scanner = JSONScanner(base: raw)
                try scanner.forEachMember { (scanner, key) throws(WireError) in
                    guard scanner.key(key, is: keys.resources) else { return try scanner.skipValue() }
                    try scanner.forEachElement { (scanner) throws(WireError) in
                        try scanner.decodeLevel(parent: nil, keys: keys, into: &batch) { (scanner, resourceIndex, batch) throws(WireError) in
                            try scanner.decodeLevel(parent: resourceIndex, keys: keys, into: &batch, child: record)
                        }
                    }
                }
                try scanner.expectEnd()
                return .success(scanner.extra)
            } catch {
                return .failure(error)
            }
        }
        batch.bytes = payload
        batch.bytes.append(contentsOf: try outcome.get())
        return batch
    }

    // MARK: - Resource and scope

    /// Decodes one level of the envelope: a `resource*` object (`parent` nil) or a `scope*`
    /// object of resource `parent`, with its owner (`resource` or `scope`), its children
    /// (`keys.scopes` or `keys.records`) and its `schemaUrl`.
    private mutating func decodeLevel<Batch: OTLPBatch>(
        parent: Int?, keys: EnvelopeKeys, into batch: inout Batch,
        child: (inout JSONScanner, _ index: Int, inout Batch) throws(WireError) -> Void
    ) throws(WireError) {
        let isScope = parent != nil
        let index = if let parent { batch.beginScope(resourceIndex: parent) } else { batch.beginResource() }
        var owner = OwnerFields()
        try forEachMember { (scanner, key) throws(WireError) in
            if scanner.key(key, is: isScope ? "scope" : "resource") {
                try scanner.decodeOwner(isScope: isScope, into: &owner, batch: &batch)
            } else if scanner.key(key, is: isScope ? keys.records : keys.scopes) {
                try scanner.forEachElement { (scanner) throws(WireError) in try child(&scanner, index, &batch) }
            } else if scanner.key(key, is: "schemaUrl") {
                owner.schemaURL = try scanner.readStringOrNull()
            } else {
                try scanner.skipValue()
            }
        }
        batch.setOwner(owner, at: index, isScope: isScope)
    }

    /// Decodes a `resource` or `scope` object (`null` is absent); only a scope has a name and version.
    private mutating func decodeOwner<Batch: OTLPBatch>(isScope: Bool, into owner: inout OwnerFields, batch: inout Batch) throws(WireError) {
        if consumeNull() { return }
        let start = batch.attributes.count
        try forEachMember { (scanner, key) throws(WireError) in
            if isScope, scanner.key(key, is: "name") {
                owner.name = try scanner.readStringOrNull()
            } else if isScope, scanner.key(key, is: "version") {
                owner.version = try scanner.readStringOrNull()
            } else if scanner.key(key, is: "attributes") {
                // Generic code cannot lend two properties of `batch` at once: decode each row first.
                try scanner.forEachElement { (scanner) throws(WireError) in
                    let row = try scanner.decodeKeyValue(nested: &batch.nestedValues, depth: 0)
                    batch.attributes.append(row)
                }
            } else if scanner.key(key, is: "droppedAttributesCount") {
                owner.droppedAttributes = try scanner.readUInt32()
            } else {
                try scanner.skipValue()
            }
        }
        owner.attributes = batch.attributeRows(since: start)
    }

    // MARK: - Attributes and values

    /// Decodes an array of `KeyValue` objects into `table`; nested elements go to `nested`.
    mutating func decodeAttributes(into table: inout AttributeTable, nested: inout AttributeTable) throws(WireError) {
        try forEachElement { (scanner) throws(WireError) in
            table.append(try scanner.decodeKeyValue(nested: &nested, depth: 0))
        }
    }

    private mutating func decodeKeyValue(nested: inout AttributeTable, depth: Int) throws(WireError) -> KeyValueRow {
        var row = KeyValueRow(key: .empty, kind: .empty, payload: 0)
        try forEachMember { (scanner, key) throws(WireError) in
            if scanner.key(key, is: "key") {
                row.key = try scanner.readStringOrNull()
            } else if scanner.key(key, is: "value") {
                (row.kind, row.payload) = try scanner.decodeAnyValue(nested: &nested, depth: depth)
            } else {
                try scanner.skipValue()
            }
        }
        return row
    }

    /// Decodes an `AnyValue` object (`null` is an empty value); arrays and key/value lists put
    /// their elements in `nested`.
    mutating func decodeAnyValue(nested: inout AttributeTable, depth: Int) throws(WireError) -> (ValueKind, UInt64) {
        var kind = ValueKind.empty
        var payload: UInt64 = 0
        if consumeNull() { return (kind, payload) }
        try forEachMember { (scanner, key) throws(WireError) in
            if scanner.key(key, is: "stringValue") {
                kind = .string
                payload = try scanner.readStringOrNull().packed
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
                payload = try scanner.readBase64().packed
            } else if scanner.key(key, is: "arrayValue") || scanner.key(key, is: "kvlistValue") {
                let isKeyValueList = scanner.key(key, is: "kvlistValue")
                guard depth < anyValueNestingLimit else {
                    throw WireError(.nestingTooDeep, "AnyValue nests deeper than \(anyValueNestingLimit) levels", at: scanner.position)
                }
                kind = isKeyValueList ? .keyValueList : .array
                payload = try scanner.decodeValueList(isKeyValueList: isKeyValueList, nested: &nested, depth: depth + 1).packed
            } else {
                try scanner.skipValue()
            }
        }
        return (kind, payload)
    }

    /// Elements are decoded first and stored afterwards, so that one value's elements
    /// stay contiguous even when they hold lists of their own.
    private mutating func decodeValueList(isKeyValueList: Bool, nested: inout AttributeTable, depth: Int) throws(WireError) -> RowRange {
        var elements: [KeyValueRow] = []
        if consumeNull() { return .empty }
        try forEachMember { (scanner, key) throws(WireError) in
            guard scanner.key(key, is: "values") else { return try scanner.skipValue() }
            try scanner.forEachElement { (scanner) throws(WireError) in
                if isKeyValueList {
                    elements.append(try scanner.decodeKeyValue(nested: &nested, depth: depth))
                } else {
                    let (kind, payload) = try scanner.decodeAnyValue(nested: &nested, depth: depth)
                    elements.append(KeyValueRow(key: .empty, kind: kind, payload: payload))
                }
            }
        }
        let start = nested.count
        for element in elements { nested.append(element) }
        return RowRange(start: start, count: elements.count)
    }

    // MARK: - Scalars

    /// A string member; `null` reads as the empty string, anything else is an error.
    mutating func readStringOrNull() throws(WireError) -> StringRef {
        if consumeNull() { return .empty }
        guard peek() == UInt8(ascii: "\"") else {
            throw WireError(.invalidField, "expected a string", at: position)
        }
        return try readString()
    }

    mutating func readUInt32() throws(WireError) -> UInt32 {
        let at = position
        let value = try readInteger()
        guard value <= UInt64(UInt32.max) else { throw WireError(.invalidField, "value \(value) out of range for uint32", at: at) }
        return UInt32(value)
    }

    mutating func readInt32() throws(WireError) -> Int32 {
        let at = position
        let value = try readSignedInteger()
        guard let narrow = Int32(exactly: value) else { throw WireError(.invalidField, "value \(value) out of range for int32", at: at) }
        return narrow
    }

    /// An enum as an integer (the mapping's form) or, leniently, by its proto name.
    mutating func readEnum(names: [String]) throws(WireError) -> UInt8 {
        let at = position
        if peek() == UInt8(ascii: "\"") {
            let ref = try readString()
            let name = string(ref)
            if let index = names.firstIndex(of: name) { return UInt8(index) }
            if let number = UInt8(name) { return number }
            throw WireError(.invalidField, "unknown enum value \"\(name)\"", at: at)
        }
        let value = try readInteger()
        guard value <= 255 else { throw WireError(.invalidField, "enum value \(value) out of range", at: at) }
        return UInt8(value)
    }

    /// A `bytesValue`: base64 decoded into `extra`, whose offsets follow the input's.
    private mutating func readBase64() throws(WireError) -> StringRef {
        let at = position
        let ref = try readStringOrNull()
        let text: [UInt8] = withBytes(of: ref) { Array($0) }
        let start = extra.count
        guard Base64.decode(text, to: &extra) else {
            throw WireError(.invalidField, "bytesValue is not valid base64", at: at)
        }
        return StringRef(offset: base.count + start, length: extra.count - start)
    }

    // MARK: - Ids

    /// Reads a hex trace id (either case): ``TraceID/zero`` for `null` or "". One that is not
    /// 32 hex digits reads as zero and sets `problem`, so the caller decides whether that
    /// refuses the request, the record or only the id; a good one clears `problem`.
    mutating func readTraceID(what: String, problem: inout String?) throws(WireError) -> TraceID {
        let (high, low) = try readHexID(digits: 32, what: what, problem: &problem)
        return TraceID(high: high, low: low)
    }

    /// Reads a hex span id like ``readTraceID(what:problem:)``: 0 when absent or not 16 hex digits.
    mutating func readSpanID(what: String, problem: inout String?) throws(WireError) -> UInt64 {
        try readHexID(digits: 16, what: what, problem: &problem).high
    }

    /// A trace id that must be valid: one that is not 32 hex digits throws ``WireError/Code/invalidID``.
    mutating func readTraceID(what: String) throws(WireError) -> TraceID {
        try strictly { (scanner, problem) throws(WireError) in try scanner.readTraceID(what: what, problem: &problem) }
    }

    /// A span id that must be valid: one that is not 16 hex digits throws ``WireError/Code/invalidID``.
    mutating func readSpanID(what: String) throws(WireError) -> UInt64 {
        try strictly { (scanner, problem) throws(WireError) in try scanner.readSpanID(what: what, problem: &problem) }
    }

    /// Runs a lenient id reader, turning the problem it reports into ``WireError/Code/invalidID``.
    private mutating func strictly<ID>(_ read: (inout JSONScanner, inout String?) throws(WireError) -> ID) throws(WireError) -> ID {
        let at = position
        var problem: String?
        let id = try read(&self, &problem)
        if let problem { throw WireError(.invalidID, problem, at: at) }
        return id
    }

    private mutating func readHexID(digits: Int, what: String, problem: inout String?) throws(WireError) -> (high: UInt64, low: UInt64) {
        let ref = try readStringOrNull()
        problem = nil
        if ref.isEmpty { return (0, 0) }
        let parsed: (UInt64, UInt64)? = withBytes(of: ref) { bytes in
            guard bytes.count == digits, let first = Hex.parseUInt64(bytes, at: 0) else { return nil }
            if digits == 16 { return (first, 0) }
            guard let second = Hex.parseUInt64(bytes, at: 16) else { return nil }
            return (first, second)
        }
        guard let parsed else {
            problem = "\(what) must be \(digits) hex digits (\(digits / 2) bytes), got \"\(string(ref).prefix(64))\""
            return (0, 0)
        }
        return parsed
    }
}
