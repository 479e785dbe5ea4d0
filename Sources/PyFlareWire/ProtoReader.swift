/// Protobuf wire types (https://protobuf.dev/programming-guides/encoding/).
@usableFromInline
enum WireType: UInt8 {
    case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
}

/// A bounds-checked cursor over protobuf bytes that never traps on bad input.
///
/// The reader works on `[start, end)` of a buffer owned by someone else; nested
/// messages are read with a child reader limited to the declared length, after
/// that length has been checked against the parent's bounds.
@usableFromInline
struct ProtoReader {
    @usableFromInline let base: UnsafeRawBufferPointer
    @usableFromInline var position: Int
    @usableFromInline let end: Int

    @inlinable
    init(_ base: UnsafeRawBufferPointer, start: Int, end: Int) {
        self.base = base
        self.position = start
        self.end = end
    }

    @inlinable
    var isAtEnd: Bool { position >= end }

    @inlinable
    mutating func readVarint() throws(WireError) -> UInt64 {
        // Fast path: one byte, the common case for tags and small lengths.
        guard position < end else { throw WireError(.truncated, "varint runs past the end of its message", at: position) }
        let first = base[position]
        if first < 0x80 {
            position += 1
            return UInt64(first)
        }
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var index = position
        while true {
            guard index < end else { throw WireError(.truncated, "varint runs past the end of its message", at: index) }
            let byte = base[index]
            index += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { break }
            shift += 7
            if shift >= 70 { throw WireError(.malformedVarint, "varint longer than 10 bytes", at: position) }
        }
        position = index
        return result
    }

    /// Reads a tag; returns the field number and wire type.
    @inlinable
    mutating func readTag() throws(WireError) -> (field: UInt32, wireType: WireType) {
        let at = position
        let key = try readVarint()
        guard let wireType = WireType(rawValue: UInt8(key & 7)), wireType != .startGroup, wireType != .endGroup else {
            throw WireError(.invalidWireType, "invalid wire type \(key & 7) for field \(key >> 3)", at: at)
        }
        let field = key >> 3
        guard field > 0, field <= UInt64(UInt32.max >> 3) else {
            throw WireError(.invalidWireType, "invalid field number \(field)", at: at)
        }
        return (UInt32(field), wireType)
    }

    /// Reads a length prefix and returns the `[start, end)` it covers, moving past it.
    @inlinable
    mutating func readLengthDelimited() throws(WireError) -> Range<Int> {
        let at = position
        let length = try readVarint()
        guard length <= UInt64(end - position) else {
            throw WireError(.truncated, "length \(length) runs past the end of its message", at: at)
        }
        let start = position
        position += Int(length)
        return start..<position
    }

    @inlinable
    mutating func readFixed64() throws(WireError) -> UInt64 {
        guard end - position >= 8 else { throw WireError(.truncated, "fixed64 runs past the end of its message", at: position) }
        let value = base.loadUnaligned(fromByteOffset: position, as: UInt64.self)
        position += 8
        return UInt64(littleEndian: value)
    }

    @inlinable
    mutating func readFixed32() throws(WireError) -> UInt32 {
        guard end - position >= 4 else { throw WireError(.truncated, "fixed32 runs past the end of its message", at: position) }
        let value = base.loadUnaligned(fromByteOffset: position, as: UInt32.self)
        position += 4
        return UInt32(littleEndian: value)
    }

    /// Skips a field of an unknown number, as protobuf requires.
    @inlinable
    mutating func skip(_ wireType: WireType) throws(WireError) {
        switch wireType {
        case .varint: _ = try readVarint()
        case .fixed64: _ = try readFixed64()
        case .fixed32: _ = try readFixed32()
        case .lengthDelimited: _ = try readLengthDelimited()
        case .startGroup, .endGroup:
            throw WireError(.invalidWireType, "groups are not supported", at: position)
        }
    }

    /// A reader over a nested message read with ``readLengthDelimited()``.
    @inlinable
    func child(_ range: Range<Int>) -> ProtoReader {
        ProtoReader(base, start: range.lowerBound, end: range.upperBound)
    }
}
