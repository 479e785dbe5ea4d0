/// The kind of an OTLP `AnyValue`.
public enum ValueKind: UInt8, Sendable {
    /// An `AnyValue` with no value set.
    case empty = 0
    case string, bool, int, double, bytes, array, keyValueList
}

/// Key/value rows in struct-of-arrays form, shared by every owner in a batch.
///
/// Resources, scopes and records (spans, events, links, log records, data points, …) each
/// own a ``RowRange`` of rows.
/// A row's `payload` holds the value itself: the int64 bits, the double's bit pattern,
/// 0/1 for bools, a ``StringRef`` for strings and bytes, and for arrays and key/value
/// lists a ``RowRange`` (start << 32 | count) into the batch's ``OTLPBatch/nestedValues``, whose
/// rows use the same layout (array elements have an empty key).
public struct AttributeTable: Sendable {
    public var keys: [StringRef] = []
    public var kinds: [ValueKind] = []
    public var payloads: [UInt64] = []

    public init() {}

    @inlinable public var count: Int { keys.count }

    @inlinable
    public mutating func append(key: StringRef, kind: ValueKind, payload: UInt64) {
        keys.append(key)
        kinds.append(kind)
        payloads.append(payload)
    }

    @inlinable
    public mutating func append(_ row: KeyValueRow) {
        append(key: row.key, kind: row.kind, payload: row.payload)
    }

    @inlinable
    public mutating func set(row index: Int, _ row: KeyValueRow) {
        keys[index] = row.key
        kinds[index] = row.kind
        payloads[index] = row.payload
    }

    /// Appends `count` placeholder rows to be filled in place; returns the first index.
    @inlinable
    public mutating func reserveRows(_ count: Int) -> Int {
        let start = keys.count
        keys.append(contentsOf: repeatElement(.empty, count: count))
        kinds.append(contentsOf: repeatElement(.empty, count: count))
        payloads.append(contentsOf: repeatElement(0, count: count))
        return start
    }

    @inlinable
    mutating func truncate(to count: Int) {
        keys.truncate(to: count)
        kinds.truncate(to: count)
        payloads.truncate(to: count)
    }

    public mutating func reserveCapacity(_ capacity: Int) {
        keys.reserveCapacity(capacity)
        kinds.reserveCapacity(capacity)
        payloads.reserveCapacity(capacity)
    }
}

/// One decoded key/value before it is stored in a table.
public struct KeyValueRow: Sendable {
    public var key: StringRef
    public var kind: ValueKind
    public var payload: UInt64

    @inlinable public init(key: StringRef, kind: ValueKind, payload: UInt64) {
        self.key = key
        self.kind = kind
        self.payload = payload
    }
}

extension RowRange {
    /// The range packed into an ``AttributeTable`` payload for arrays and key/value lists.
    @inlinable public var packed: UInt64 { UInt64(start) << 32 | UInt64(count) }
    @inlinable public init(packed: UInt64) {
        self.init(start: Int(packed >> 32), count: Int(packed & 0xFFFF_FFFF))
    }
}
