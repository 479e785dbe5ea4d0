import PyFlareWire

/// Appends the store's primitive encodings to a growing byte array: LEB128 varints,
/// zigzag varints and little-endian fixed-width integers.
package struct ByteWriter {
    package var bytes: [UInt8]

    package init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    var count: Int { bytes.count }

    @inline(__always)
    package mutating func varint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    @inline(__always)
    package mutating func varint(_ value: Int) { varint(UInt64(value)) }

    @inline(__always)
    package mutating func zigzag(_ value: Int64) { varint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }

    @inline(__always)
    package mutating func byte(_ value: UInt8) { bytes.append(value) }

    @inline(__always)
    mutating func fixed32(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    @inline(__always)
    mutating func fixed64(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A trace id: its two halves as `fixed64`.
    @inline(__always)
    mutating func traceID(_ id: TraceID) {
        fixed64(id.high)
        fixed64(id.low)
    }

    @inline(__always)
    mutating func append(_ raw: UnsafeRawBufferPointer) { bytes.append(contentsOf: raw) }

    mutating func append(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }

    /// A varint length, then the bytes.
    mutating func lengthPrefixed(_ raw: UnsafeRawBufferPointer) {
        varint(raw.count)
        bytes.append(contentsOf: raw)
    }

    mutating func lengthPrefixed(_ text: String) {
        var text = text
        text.withUTF8 { lengthPrefixed(UnsafeRawBufferPointer($0)) }
    }
}

/// Reads what ``ByteWriter`` wrote, bounds-checked: running past the end throws
/// ``FormatError``, so a corrupt or truncated input is refused, never read out of bounds.
struct ByteReader {
    let buffer: UnsafeRawBufferPointer
    var position: Int

    init(_ buffer: UnsafeRawBufferPointer, position: Int = 0) {
        self.buffer = buffer
        self.position = position
    }

    var isAtEnd: Bool { position >= buffer.count }
    var remaining: Int { buffer.count - position }

    @inline(__always)
    mutating func varint() throws(FormatError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while position < buffer.count {
            let byte = buffer[position]
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
            if shift > 63 { throw FormatError("varint longer than 10 bytes") }
        }
        throw FormatError("truncated varint")
    }

    /// A varint that must fit `limit` (a count or a length), so corrupt input cannot ask for huge allocations.
    @inline(__always)
    mutating func count(atMost limit: Int) throws(FormatError) -> Int {
        let value = try varint()
        guard value <= UInt64(limit) else { throw FormatError("count \(value) exceeds \(limit)") }
        return Int(value)
    }

    @inline(__always)
    mutating func zigzag() throws(FormatError) -> Int64 {
        let raw = try varint()
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    @inline(__always)
    mutating func byte() throws(FormatError) -> UInt8 {
        guard position < buffer.count else { throw FormatError("truncated byte") }
        defer { position += 1 }
        return buffer[position]
    }

    @inline(__always)
    mutating func fixed32() throws(FormatError) -> UInt32 {
        guard remaining >= 4 else { throw FormatError("truncated fixed32") }
        defer { position += 4 }
        return UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: position, as: UInt32.self))
    }

    @inline(__always)
    mutating func fixed64() throws(FormatError) -> UInt64 {
        guard remaining >= 8 else { throw FormatError("truncated fixed64") }
        defer { position += 8 }
        return UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: position, as: UInt64.self))
    }

    @inline(__always)
    mutating func traceID() throws(FormatError) -> TraceID { TraceID(high: try fixed64(), low: try fixed64()) }

    /// `length` bytes as a range of ``buffer``.
    @inline(__always)
    mutating func skip(_ length: Int) throws(FormatError) -> Range<Int> {
        guard length >= 0, remaining >= length else { throw FormatError("truncated: \(length) bytes wanted, \(remaining) left") }
        defer { position += length }
        return position..<(position + length)
    }

    /// A varint length, then that many bytes, as a range of ``buffer``.
    @inline(__always)
    mutating func lengthPrefixed() throws(FormatError) -> Range<Int> {
        try skip(count(atMost: remaining))
    }

    mutating func string() throws(FormatError) -> String {
        let range = try lengthPrefixed()
        return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[range]), as: UTF8.self)
    }
}

/// Malformed bytes inside a store file; the caller adds which file, block and column.
struct FormatError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` that keeps the body's error type (the standard one is `rethrows`).
    func withBytes<T, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> T) throws(E) -> T {
        try withUnsafeBytes { raw in Result { () throws(E) -> T in try body(raw) } }.get()
    }

    mutating func withMutableBytes<T, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> T) throws(E) -> T {
        try withUnsafeMutableBytes { raw in Result { () throws(E) -> T in try body(raw) } }.get()
    }
}
