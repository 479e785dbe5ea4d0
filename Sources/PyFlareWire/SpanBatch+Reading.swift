/// Reading strings and values back out of a batch.
extension SpanBatch {
    @inlinable
    public func withBytes<Result>(_ ref: StringRef, _ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[ref.range])) }
    }

    /// The text of `ref`; invalid UTF-8 is repaired with U+FFFD.
    public func string(_ ref: StringRef) -> String {
        withBytes(ref) { String(decoding: $0, as: UTF8.self) }
    }

    /// The value at `row` of `table` as a tree, for tests and for code off the hot path.
    public func value(in table: AttributeTable, row: Int) -> AttributeValue {
        value(kind: table.kinds[row], payload: table.payloads[row])
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
