/// A string or byte run inside a batch's byte arena: offset and length packed in 64 bits.
///
/// Decoded strings are never materialized as `String` on the hot path; columns hold
/// these references and readers resolve them against ``SpanBatch/bytes``.
public struct StringRef: Hashable, Sendable {
    public var packed: UInt64

    @inlinable public init(offset: Int, length: Int) {
        packed = UInt64(UInt32(truncatingIfNeeded: offset)) << 32 | UInt64(UInt32(truncatingIfNeeded: length))
    }
    @inlinable public init(packed: UInt64) { self.packed = packed }

    public static let empty = StringRef(packed: 0)

    @inlinable public var offset: Int { Int(packed >> 32) }
    @inlinable public var length: Int { Int(packed & 0xFFFF_FFFF) }
    @inlinable public var isEmpty: Bool { length == 0 }
    @inlinable public var range: Range<Int> { offset..<(offset + length) }
}

/// A contiguous run of rows `[start, start + count)` in one of a batch's tables.
public struct RowRange: Hashable, Sendable {
    public var start: UInt32
    public var count: UInt32

    @inlinable public init(start: Int, count: Int) {
        self.start = UInt32(truncatingIfNeeded: start)
        self.count = UInt32(truncatingIfNeeded: count)
    }
    public static let empty = RowRange(start: 0, count: 0)

    @inlinable public var indices: Range<Int> { Int(start)..<(Int(start) + Int(count)) }
}

/// A 16-byte trace id as two big-endian halves, so ids compare and hash as integers.
public struct TraceID: Hashable, Sendable, Comparable {
    public var high: UInt64
    public var low: UInt64

    @inlinable public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public static let zero = TraceID(high: 0, low: 0)
    @inlinable public var isZero: Bool { high == 0 && low == 0 }

    @inlinable public static func < (lhs: TraceID, rhs: TraceID) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    /// The id's 16 bytes in wire order.
    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            out[index] = UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(index)))
            out[index + 8] = UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64(index)))
        }
        return out
    }
}
