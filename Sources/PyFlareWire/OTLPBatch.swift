/// What the columnar batches of the three OTLP signals (``SpanBatch``, ``LogBatch``,
/// ``MetricBatch``) have in common: a byte arena, the resources and scopes of the request,
/// one attribute table for resources, scopes and the signal's own records, and the
/// elements of nested array and key/value-list values.
///
/// The decoders of every signal fill these parts with one shared piece of code, and the
/// readers below work on any batch, so a consumer resolves strings and values the same way
/// whichever signal it handles.
public protocol OTLPBatch: Sendable {
    /// The arena every ``StringRef`` of the batch points into.
    var bytes: [UInt8] { get set }
    var resources: ResourceTable { get set }
    var scopes: ScopeTable { get set }
    /// Attributes of resources, scopes and the signal's records.
    var attributes: AttributeTable { get set }
    /// Elements of array and key/value-list values, from any of the batch's attribute tables.
    var nestedValues: AttributeTable { get set }
}

extension OTLPBatch {
    /// The deepest nesting of `AnyValue` arrays and key/value lists accepted; deeper input is
    /// refused with ``WireError/Code/nestingTooDeep`` so hostile payloads cannot exhaust the stack.
    public static var maxValueNesting: Int { anyValueNestingLimit }

    /// Lends the bytes of `ref` without copying them, for readers that parse or hash in place.
    @inlinable
    public func withBytes<Result>(_ ref: StringRef, _ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[ref.range])) }
    }

    /// The text of `ref`; invalid UTF-8 is repaired with U+FFFD.
    @inlinable
    public func string(_ ref: StringRef) -> String {
        withBytes(ref) { String(decoding: $0, as: UTF8.self) }
    }

    /// The value at `row` of `table` as a tree, for tests and for code off the hot path.
    public func value(in table: AttributeTable, row: Int) -> AttributeValue {
        value(kind: table.kinds[row], payload: table.payloads[row])
    }

    /// Each resource's `service.name` (its first attribute of that key holding a string), as a
    /// reference into the arena; empty when it has none.
    public func serviceNameRefs() -> [StringRef] { resourceStringRefs(["service.name"]) }

    /// Each resource's string value of the first of `keys` it has (earlier keys win), as a
    /// reference into the arena; empty when it has none of them.
    public func resourceStringRefs(_ keys: [String]) -> [StringRef] {
        let keyBytes = keys.map { Array($0.utf8) }
        return bytes.withUnsafeBytes { arena in
            resources.attributes.map { range in
                var found = StringRef.empty, rank = keyBytes.count
                for row in range.indices where attributes.kinds[row] == .string {
                    let name = UnsafeRawBufferPointer(rebasing: arena[attributes.keys[row].range])
                    for (position, key) in keyBytes.prefix(rank).enumerated() where name.elementsEqual(key) {
                        (found, rank) = (StringRef(packed: attributes.payloads[row]), position)
                        break
                    }
                }
                return found
            }
        }
    }

    /// Each resource's `service.name` as text, by resource index; nil when it has none.
    public func resourceServiceNames() -> [String?] {
        serviceNameRefs().map { $0.isEmpty ? nil : string($0) }
    }

    /// Key/value pairs of `range` in `table`, in wire order (duplicates kept).
    public func keyValues(in table: AttributeTable, _ range: RowRange) -> [(key: String, value: AttributeValue)] {
        range.indices.map { (string(table.keys[$0]), value(in: table, row: $0)) }
    }

    func value(kind: ValueKind, payload: UInt64) -> AttributeValue {
        switch kind {
        case .empty: return .empty
        case .string: return .string(string(StringRef(packed: payload)))
        case .bool: return .bool(payload != 0)
        case .int: return .int(Int64(bitPattern: payload))
        case .double: return .double(Double(bitPattern: payload))
        case .bytes: return .bytes(withBytes(StringRef(packed: payload)) { Array($0) })
        case .array:
            return .array(RowRange(packed: payload).indices.map { value(in: nestedValues, row: $0) })
        case .keyValueList:
            return .keyValueList(keyValues(in: nestedValues, RowRange(packed: payload)).map { ($0.key, $0.value) })
        }
    }
}

/// An `AnyValue` as a tree, for code off the hot path.
public indirect enum AttributeValue: Sendable, Equatable {
    case empty
    case string(String)
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case bytes([UInt8])
    case array([AttributeValue])
    case keyValueList([(String, AttributeValue)])

    public static func == (lhs: AttributeValue, rhs: AttributeValue) -> Bool {
        switch (lhs, rhs) {
        case (.empty, .empty): true
        case let (.string(a), .string(b)): a == b
        case let (.bool(a), .bool(b)): a == b
        case let (.int(a), .int(b)): a == b
        case let (.double(a), .double(b)): a.bitPattern == b.bitPattern || a == b
        case let (.bytes(a), .bytes(b)): a == b
        case let (.array(a), .array(b)): a == b
        case let (.keyValueList(a), .keyValueList(b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }
}

/// A batch the shared decoders create: on a payload's arena, with room reserved up front.
protocol DecodableBatch: OTLPBatch {
    init(bytes: [UInt8])
    /// Reserves room for the records a protobuf payload of `payloadSize` bytes typically holds,
    /// so that the columns do not regrow while they are filled.
    mutating func reserveCapacity(forPayloadSize payloadSize: Int)
}

/// A `Resource` or an `InstrumentationScope` with the `schema_url` of its enclosing message,
/// as a decoder collects it (a resource has no name or version).
struct OwnerFields {
    var name = StringRef.empty
    var version = StringRef.empty
    var attributes = RowRange.empty
    var droppedAttributes: UInt32 = 0
    var schemaURL = StringRef.empty
}

/// Helpers every decoder uses while it appends rows.
extension OTLPBatch {
    /// Adds an empty resource row, filled in as its message is read; returns its index.
    mutating func beginResource() -> Int {
        resources.attributes.append(.empty)
        resources.droppedAttributeCounts.append(0)
        resources.schemaURLs.append(.empty)
        return resources.count - 1
    }

    /// Adds an empty scope row belonging to `resourceIndex`; returns its index.
    mutating func beginScope(resourceIndex: Int) -> Int {
        scopes.names.append(.empty)
        scopes.versions.append(.empty)
        scopes.attributes.append(.empty)
        scopes.droppedAttributeCounts.append(0)
        scopes.schemaURLs.append(.empty)
        scopes.resourceIndices.append(UInt32(resourceIndex))
        return scopes.count - 1
    }

    /// Fills in the resource or scope row `index` begun above.
    mutating func setOwner(_ owner: OwnerFields, at index: Int, isScope: Bool) {
        if isScope {
            scopes.names[index] = owner.name
            scopes.versions[index] = owner.version
            scopes.attributes[index] = owner.attributes
            scopes.droppedAttributeCounts[index] = owner.droppedAttributes
            scopes.schemaURLs[index] = owner.schemaURL
        } else {
            resources.attributes[index] = owner.attributes
            resources.droppedAttributeCounts[index] = owner.droppedAttributes
            resources.schemaURLs[index] = owner.schemaURL
        }
    }

    /// The ``attributes`` rows from `start` to the end, as the range an owner records.
    func attributeRows(since start: Int) -> RowRange {
        RowRange(start: start, count: attributes.count - start)
    }
}

/// ``OTLPBatch/maxValueNesting``, for the decoders, which are not generic over the batch.
let anyValueNestingLimit = 64

extension Array {
    /// Drops the elements from `count` on (the rows of a refused record).
    @inlinable
    mutating func truncate(to count: Int) {
        guard count < self.count else { return }
        removeSubrange(count...)
    }
}
