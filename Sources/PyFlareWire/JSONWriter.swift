/// Appends JSON text to a byte buffer, escaping strings as RFC 8259 requires.
///
/// No intermediate objects: callers write members in order. Used for OTLP/JSON
/// responses and the JSON-lines exporter.
public struct JSONWriter {
    public var bytes: [UInt8]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inlinable public mutating func raw(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inlinable public mutating func byte(_ value: UInt8) { bytes.append(value) }

    public mutating func string(_ text: String) {
        var text = text
        text.withUTF8 { string(utf8: UnsafeRawBufferPointer($0)) }
    }

    /// Writes UTF-8 bytes as a JSON string; invalid UTF-8 is repaired to U+FFFD.
    public mutating func string(utf8 input: UnsafeRawBufferPointer) {
        bytes.append(UInt8(ascii: "\""))
        var runStart = 0
        var index = 0
        let count = input.count
        while index < count {
            let byte = input[index]
            if byte >= 0x20, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\"), byte < 0x80 {
                index += 1
                continue
            }
            if byte >= 0x80 {
                // Validate the multi-byte sequence; copy it through if valid.
                let length = Self.validUTF8SequenceLength(input, at: index)
                if length > 0 {
                    index += length
                    continue
                }
                bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[runStart..<index]))
                bytes.append(contentsOf: [0xEF, 0xBF, 0xBD])
                index += 1
                runStart = index
                continue
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[runStart..<index]))
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            default:
                raw("\\u00")
                bytes.append(Hex.digits[Int(byte >> 4)])
                bytes.append(Hex.digits[Int(byte & 0xF)])
            }
            index += 1
            runStart = index
        }
        bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[runStart..<count]))
        bytes.append(UInt8(ascii: "\""))
    }

    /// Length of the valid UTF-8 sequence starting at `index`, or 0 if invalid.
    static func validUTF8SequenceLength(_ input: UnsafeRawBufferPointer, at index: Int) -> Int {
        let lead = input[index]
        let length: Int
        var minimum: UInt32
        var scalar: UInt32
        switch lead {
        case 0xC2...0xDF: length = 2; minimum = 0x80; scalar = UInt32(lead & 0x1F)
        case 0xE0...0xEF: length = 3; minimum = 0x800; scalar = UInt32(lead & 0x0F)
        case 0xF0...0xF4: length = 4; minimum = 0x10000; scalar = UInt32(lead & 0x07)
        default: return 0
        }
        guard input.count - index >= length else { return 0 }
        for offset in 1..<length {
            let next = input[index + offset]
            guard next & 0xC0 == 0x80 else { return 0 }
            scalar = scalar << 6 | UInt32(next & 0x3F)
        }
        guard scalar >= minimum, scalar <= 0x10FFFF, !(0xD800...0xDFFF).contains(scalar) else { return 0 }
        return length
    }

    public mutating func int(_ value: Int64) { decimal(value.magnitude, negative: value < 0) }
    public mutating func uint(_ value: UInt64) { decimal(value, negative: false) }

    private mutating func decimal(_ magnitude: UInt64, negative: Bool) {
        if negative { bytes.append(UInt8(ascii: "-")) }
        digits(magnitude, minimumCount: 1)
    }

    /// The decimal digits of `value`, zero-padded to `minimumCount`, appended at once (a
    /// summary writes hundreds of thousands of numbers; an append per digit showed in profiles).
    private mutating func digits(_ value: UInt64, minimumCount: Int) {
        var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for 20 digits and more, no allocation
        withUnsafeMutableBytes(of: &buffer) { buffer in
            var start = buffer.count
            var rest = value
            repeat {
                start -= 1
                buffer[start] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest % 10)
                rest /= 10
            } while rest > 0 || buffer.count - start < minimumCount
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[start...]))
        }
    }

    /// A double; NaN and infinities, which JSON cannot hold, become strings as in OTLP/JSON.
    public mutating func double(_ value: Double) {
        if value.isNaN { raw("\"NaN\"") }
        else if value == .infinity { raw("\"Infinity\"") }
        else if value == -.infinity { raw("\"-Infinity\"") }
        else { bytes.append(contentsOf: "\(value)".utf8) }
    }

    /// An amount kept in millionths (`cost_micros`) as a number of whole units (US dollars).
    /// Written exactly in decimal (`1.11488`, `0.000001`, `5.0`): the same number as
    /// `Double(value) / 1e6` for any amount below 2^53 micros, without a String per value.
    public mutating func micros(_ value: Int64) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        let magnitude = value.magnitude
        digits(magnitude / 1_000_000, minimumCount: 1)
        bytes.append(UInt8(ascii: "."))
        var fraction = magnitude % 1_000_000
        guard fraction > 0 else { return bytes.append(UInt8(ascii: "0")) }
        var width = 6
        while fraction % 10 == 0 {
            fraction /= 10
            width -= 1
        }
        digits(fraction, minimumCount: width)
    }

    public mutating func bool(_ value: Bool) {
        if value { raw("true") } else { raw("false") }
    }

    public mutating func null() { raw("null") }

    /// `["a","b"]`.
    public mutating func strings(_ values: some Sequence<String>) {
        byte(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { byte(UInt8(ascii: ",")) }
            string(value)
        }
        byte(UInt8(ascii: "]"))
    }

    /// `{"key":"value",…}` of `pairs`, in order.
    public mutating func stringObject(_ pairs: some Sequence<(String, String)>) {
        byte(UInt8(ascii: "{"))
        for (index, (key, value)) in pairs.enumerated() {
            if index > 0 { byte(UInt8(ascii: ",")) }
            string(key)
            byte(UInt8(ascii: ":"))
            string(value)
        }
        byte(UInt8(ascii: "}"))
    }

    /// `[1.5,2]`; non-finite values as null.
    public mutating func doubles(_ values: some Sequence<Double>) {
        byte(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { byte(UInt8(ascii: ",")) }
            if value.isFinite { double(value) } else { null() }
        }
        byte(UInt8(ascii: "]"))
    }
}
