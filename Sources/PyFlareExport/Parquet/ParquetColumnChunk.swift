import PyFlareSQL

/// The physical types of the columns this writer makes: every column is OPTIONAL (nullable).
enum ParquetValueType: Sendable, Equatable {
    /// INT64, signed.
    case int64
    /// DOUBLE.
    case double
    /// BYTE_ARRAY annotated as a UTF-8 string (logical type STRING, converted type UTF8).
    case string

    var physicalType: Int32 {
        switch self {
        case .int64: 2
        case .double: 5
        case .string: 6
        }
    }
}

/// The values of one column of one row group, as a row's values arrive; encoded when the
/// row group ends. A column value sink, so the SQL tables' value code fills it directly.
struct ParquetColumnChunk: ColumnValueSink {
    let type: ParquetValueType
    /// 1 for a value, 0 for a null, a row each.
    private(set) var definitionLevels: [UInt32] = []
    private(set) var integers: [Int64] = []
    private(set) var doubles: [Double] = []
    /// The strings, end to end, and where each ends.
    private(set) var stringBytes: [UInt8] = []
    private(set) var stringEnds: [Int] = []

    init(type: ParquetValueType) {
        self.type = type
    }

    var rows: Int { definitionLevels.count }
    var nulls: Int { definitionLevels.count - valueCount }
    var valueCount: Int {
        switch type {
        case .int64: integers.count
        case .double: doubles.count
        case .string: stringEnds.count
        }
    }

    mutating func null() {
        definitionLevels.append(0)
    }

    mutating func integer(_ value: Int64) {
        switch type {
        case .int64: integers.append(value)
        case .double: doubles.append(Double(value))
        case .string: return appendText(Array(String(value).utf8))
        }
        definitionLevels.append(1)
    }

    mutating func real(_ value: Double) {
        switch type {
        case .double: doubles.append(value)
        case .int64:
            guard let exact = Int64(exactly: value) else { return null() }
            integers.append(exact)
        case .string: return appendText(Array("\(value)".utf8))
        }
        definitionLevels.append(1)
    }

    mutating func text(_ bytes: UnsafeRawBufferPointer) {
        guard type == .string else {
            // The SQL tables give each column one type; a text where a number belongs is not one.
            return null()
        }
        stringBytes.append(contentsOf: bytes)
        stringEnds.append(stringBytes.count)
        definitionLevels.append(1)
    }

    private mutating func appendText(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { text($0) }
    }

    func string(_ index: Int) -> ArraySlice<UInt8> {
        stringBytes[(index == 0 ? 0 : stringEnds[index - 1])..<stringEnds[index]]
    }

    mutating func removeAll() {
        definitionLevels.removeAll(keepingCapacity: true)
        integers.removeAll(keepingCapacity: true)
        doubles.removeAll(keepingCapacity: true)
        stringBytes.removeAll(keepingCapacity: true)
        stringEnds.removeAll(keepingCapacity: true)
    }
}
