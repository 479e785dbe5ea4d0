/// Standard base64 (RFC 4648), as the OTLP/JSON mapping uses for `bytesValue`.
public enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let reverse: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, char) in alphabet.enumerated() { table[Int(char)] = UInt8(index) }
        // The URL-safe alphabet is accepted too, as protobuf's JSON parsers do.
        table[Int(UInt8(ascii: "-"))] = 62
        table[Int(UInt8(ascii: "_"))] = 63
        return table
    }()

    public static func encode<Bytes: Collection>(_ input: Bytes, to out: inout [UInt8]) where Bytes.Element == UInt8 {
        var iterator = input.makeIterator()
        while let first = iterator.next() {
            let second = iterator.next()
            let third = iterator.next()
            let chunk = UInt32(first) << 16 | UInt32(second ?? 0) << 8 | UInt32(third ?? 0)
            out.append(alphabet[Int(chunk >> 18 & 0x3F)])
            out.append(alphabet[Int(chunk >> 12 & 0x3F)])
            out.append(second == nil ? UInt8(ascii: "=") : alphabet[Int(chunk >> 6 & 0x3F)])
            out.append(third == nil ? UInt8(ascii: "=") : alphabet[Int(chunk & 0x3F)])
        }
    }

    /// Decodes base64 text (padding optional); nil if a character is outside the alphabet.
    public static func decode<Bytes: Collection>(_ input: Bytes, to out: inout [UInt8]) -> Bool where Bytes.Element == UInt8 {
        var accumulator: UInt32 = 0
        var bits = 0
        for char in input {
            if char == UInt8(ascii: "=") { break }
            let value = reverse[Int(char)]
            guard value != 0xFF else { return false }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return true
    }
}
