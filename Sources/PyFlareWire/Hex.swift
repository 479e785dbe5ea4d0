/// Lowercase hex encoding of ids, and decoding of hex text.
public enum Hex {
    @usableFromInline static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends the 16 hex digits of `value` (big-endian) to `out`.
    @inlinable
    public static func append(_ value: UInt64, to out: inout [UInt8]) {
        var shift: UInt64 = 60
        for _ in 0..<16 {
            out.append(digits[Int((value >> shift) & 0xF)])
            shift &-= 4
        }
    }

    public static func string(_ value: UInt64) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(16)
        append(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public static func string(_ id: TraceID) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        append(id.high, to: &out)
        append(id.low, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public static func string<Bytes: Sequence>(bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The value of one hex digit, or nil.
    @inlinable
    static func nibble(_ byte: UInt8) -> UInt64? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt64(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt64(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt64(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// Parses exactly 16 hex digits at `offset` of `base`.
    static func parseUInt64(_ base: UnsafeRawBufferPointer, at offset: Int) -> UInt64? {
        var value: UInt64 = 0
        for index in offset..<(offset + 16) {
            guard let digit = nibble(base[index]) else { return nil }
            value = value << 4 | digit
        }
        return value
    }

    /// Parses a 16- or 32-digit hex id; nil if not hex or of another length.
    public static func parseSpanID(_ text: String) -> UInt64? {
        let bytes = Array(text.utf8)
        guard bytes.count == 16 else { return nil }
        return bytes.withUnsafeBytes { parseUInt64($0, at: 0) }
    }

    public static func parseTraceID(_ text: String) -> TraceID? {
        let bytes = Array(text.utf8)
        guard bytes.count == 32 else { return nil }
        return bytes.withUnsafeBytes { raw in
            guard let high = parseUInt64(raw, at: 0), let low = parseUInt64(raw, at: 16) else { return nil }
            return TraceID(high: high, low: low)
        }
    }
}
