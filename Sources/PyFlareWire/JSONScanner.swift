/// A minimal, non-allocating JSON tokenizer over a byte buffer, for OTLP/JSON.
///
/// Strings are returned as ``StringRef``s into the input when they contain no escape;
/// unescaped copies go to `extra`, whose offsets start after the input (the decoder
/// later appends `extra` to the input to form the batch arena).
struct JSONScanner {
    let base: UnsafeRawBufferPointer
    var position = 0
    var extra: [UInt8] = []
    static let maxDepth = 128

    init(base: UnsafeRawBufferPointer) {
        self.base = base
    }

    func error(_ message: String) -> WireError {
        WireError(.invalidJSON, message, at: position)
    }

    mutating func skipWhitespace() {
        while position < base.count {
            switch base[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    /// The next non-whitespace byte, without consuming it; nil at the end.
    mutating func peek() -> UInt8? {
        skipWhitespace()
        return position < base.count ? base[position] : nil
    }

    mutating func expect(_ byte: UInt8) throws(WireError) {
        guard peek() == byte else {
            throw error("expected '\(Character(Unicode.Scalar(byte)))'")
        }
        position += 1
    }

    /// Consumes `byte` if it is next.
    mutating func consume(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        position += 1
        return true
    }

    mutating func expectEnd() throws(WireError) {
        guard peek() == nil else { throw error("unexpected data after the JSON value") }
    }

    /// Iterates the members of an object; `body` is called with each key and must consume the value.
    mutating func forEachMember(_ body: (inout JSONScanner, StringRef) throws(WireError) -> Void) throws(WireError) {
        try expect(UInt8(ascii: "{"))
        if consume(UInt8(ascii: "}")) { return }
        repeat {
            let key = try readString()
            try expect(UInt8(ascii: ":"))
            try body(&self, key)
        } while consume(UInt8(ascii: ","))
        try expect(UInt8(ascii: "}"))
    }

    /// Iterates the elements of an array (or nothing for `null`); `body` must consume each element.
    mutating func forEachElement(_ body: (inout JSONScanner) throws(WireError) -> Void) throws(WireError) {
        if consumeNull() { return }
        try expect(UInt8(ascii: "["))
        if consume(UInt8(ascii: "]")) { return }
        repeat {
            try body(&self)
        } while consume(UInt8(ascii: ","))
        try expect(UInt8(ascii: "]"))
    }

    mutating func consumeNull() -> Bool {
        guard peek() == UInt8(ascii: "n"), base.count - position >= 4,
              base[position + 1] == UInt8(ascii: "u"), base[position + 2] == UInt8(ascii: "l"),
              base[position + 3] == UInt8(ascii: "l") else { return false }
        position += 4
        return true
    }

    // MARK: - Strings

    mutating func readString() throws(WireError) -> StringRef {
        try expect(UInt8(ascii: "\""))
        let start = position
        position = plainRunEnd(from: position)
        guard position < base.count else { throw error("unterminated string") }
        switch base[position] {
        case UInt8(ascii: "\""):
            position += 1
            return StringRef(offset: start, length: position - 1 - start)
        case UInt8(ascii: "\\"): return try readEscapedString(from: start)
        default: throw error("control character in string")
        }
    }

    /// The end of the run of bytes from `start` that a string holds as they are: the position
    /// of its first quote, backslash or control character (or the end). Eight bytes at a time:
    /// LLM payloads are mostly long plain text.
    private func plainRunEnd(from start: Int) -> Int {
        var index = start
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        while index + 8 <= base.count {
            let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            let quote = word ^ (ones &* 0x22), backslash = word ^ (ones &* 0x5C)
            // A byte that is zero (found) or below 0x20 (control) sets its high bit here.
            let special = ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((word &- ones &* 0x20) & ~word)
            if special & highs != 0 { break }
            index += 8
        }
        while index < base.count {
            let byte = base[index]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 { return index }
            index += 1
        }
        return index
    }

    private mutating func readEscapedString(from start: Int) throws(WireError) -> StringRef {
        let outStart = extra.count
        extra.append(contentsOf: UnsafeRawBufferPointer(rebasing: base[start..<position]))
        while position < base.count {
            let runEnd = plainRunEnd(from: position)
            if runEnd > position {
                extra.append(contentsOf: UnsafeRawBufferPointer(rebasing: base[position..<runEnd]))
                position = runEnd
                guard position < base.count else { break }
            }
            let byte = base[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return StringRef(offset: base.count + outStart, length: extra.count - outStart)
            case UInt8(ascii: "\\"):
                guard position < base.count else { throw error("unterminated escape") }
                let escaped = base[position]
                position += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): extra.append(escaped)
                case UInt8(ascii: "b"): extra.append(0x08)
                case UInt8(ascii: "f"): extra.append(0x0C)
                case UInt8(ascii: "n"): extra.append(0x0A)
                case UInt8(ascii: "r"): extra.append(0x0D)
                case UInt8(ascii: "t"): extra.append(0x09)
                case UInt8(ascii: "u"): try appendUnicodeEscape()
                default: throw error("invalid escape '\\\(Character(Unicode.Scalar(escaped)))'")
                }
            default:
                throw error("control character in string")
            }
        }
        throw error("unterminated string")
    }

    private mutating func readHex4() throws(WireError) -> UInt32 {
        guard base.count - position >= 4 else { throw error("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = Hex.nibble(base[position]) else { throw error("invalid \\u escape") }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    private mutating func appendUnicodeEscape() throws(WireError) {
        var scalar = try readHex4()
        if (0xD800..<0xDC00).contains(scalar) {
            // A high surrogate must be followed by an escaped low surrogate.
            guard base.count - position >= 6, base[position] == UInt8(ascii: "\\"), base[position + 1] == UInt8(ascii: "u") else {
                throw error("unpaired surrogate in \\u escape")
            }
            position += 2
            let low = try readHex4()
            guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in \\u escape") }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00..<0xE000).contains(scalar) {
            throw error("unpaired surrogate in \\u escape")
        }
        guard let unicode = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
        extra.append(contentsOf: UTF8.encode(unicode)!)
    }

    /// Calls `body` with the bytes of a string returned by ``readString()``.
    func withBytes<Result, Failure: Error>(
        of ref: StringRef, _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        if ref.offset >= base.count {
            let start = ref.offset - base.count
            let result: Swift.Result<Result, Failure> = extra.withUnsafeBytes { raw in
                do throws(Failure) {
                    return .success(try body(UnsafeRawBufferPointer(rebasing: raw[start..<(start + ref.length)])))
                } catch {
                    return .failure(error)
                }
            }
            return try result.get()
        }
        return try body(UnsafeRawBufferPointer(rebasing: base[ref.range]))
    }

    func string(_ ref: StringRef) -> String {
        withBytes(of: ref) { String(decoding: $0, as: UTF8.self) }
    }

    /// True if the string `ref` equals `literal`, ignoring underscores and ASCII case,
    /// so `traceId`, `trace_id` and `TraceId` all name the same field.
    func key(_ ref: StringRef, is literal: StaticString) -> Bool {
        withBytes(of: ref) { Self.equalIgnoringUnderscoresAndCase($0, literal) }
    }

    private static func equalIgnoringUnderscoresAndCase(_ text: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        let expected = UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        var i = 0
        var j = 0
        while true {
            while i < text.count, text[i] == UInt8(ascii: "_") { i += 1 }
            while j < expected.count, expected[j] == UInt8(ascii: "_") { j += 1 }
            if i == text.count || j == expected.count { return i == text.count && j == expected.count }
            if text[i] | 0x20 != expected[j] | 0x20 { return false }
            i += 1
            j += 1
        }
    }

    // MARK: - Numbers and literals

    /// Reads a number token's text (digits, sign, dot, exponent) without interpreting it.
    mutating func numberText() throws(WireError) -> Range<Int> {
        _ = peek()
        let start = position
        while position < base.count {
            switch base[position] {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"),
                 UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"):
                position += 1
            default:
                guard position > start else { throw error("expected a number") }
                return start..<position
            }
        }
        guard position > start else { throw error("expected a number") }
        return start..<position
    }

    /// An unsigned 64-bit integer (times, counts, flags) given as a JSON number or a decimal
    /// string, as the mapping allows; negative values are refused.
    mutating func readInteger() throws(WireError) -> UInt64 {
        let (negative, magnitude) = try readIntegerParts()
        guard !negative || magnitude == 0 else { throw WireError(.invalidField, "expected a non-negative integer", at: position) }
        return magnitude
    }

    /// A signed 64-bit integer (`intValue`), range-checked.
    mutating func readSignedInteger() throws(WireError) -> Int64 {
        let (negative, magnitude) = try readIntegerParts()
        if negative {
            guard magnitude <= Int64.min.magnitude else { throw WireError(.invalidField, "integer out of range for int64", at: position) }
            return magnitude == Int64.min.magnitude ? .min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { throw WireError(.invalidField, "integer out of range for int64", at: position) }
        return Int64(magnitude)
    }

    private mutating func readIntegerParts() throws(WireError) -> (negative: Bool, magnitude: UInt64) {
        if peek() == UInt8(ascii: "\"") {
            let ref = try readString()
            return try withBytes(of: ref) { bytes throws(WireError) in try parseInteger(bytes) }
        }
        let range = try numberText()
        return try parseInteger(UnsafeRawBufferPointer(rebasing: base[range]))
    }

    private func parseInteger(_ text: UnsafeRawBufferPointer) throws(WireError) -> (negative: Bool, magnitude: UInt64) {
        var index = 0
        let negative = text.first == UInt8(ascii: "-")
        if negative { index = 1 }
        guard index < text.count else { throw error("expected an integer") }
        var value: UInt64 = 0
        while index < text.count {
            let byte = text[index]
            if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                // 1.0 and 1e3 are integral numbers some JSON encoders write.
                return try parseIntegralDouble(text)
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { throw error("invalid integer") }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { throw WireError(.invalidField, "integer out of range for uint64", at: position) }
            value = sum
            index += 1
        }
        return (negative, value)
    }

    private func parseIntegralDouble(_ text: UnsafeRawBufferPointer) throws(WireError) -> (negative: Bool, magnitude: UInt64) {
        let string = String(decoding: text, as: UTF8.self)
        // 2^64 is exactly representable; anything at or past it does not fit.
        guard let double = Double(string), double.rounded() == double, double.magnitude < 18_446_744_073_709_551_616.0 else {
            throw error("expected an integer, got \(string.prefix(40))")
        }
        return (double < 0, UInt64(double.magnitude))
    }

    /// A double given as a number, or as the strings "NaN", "Infinity", "-Infinity" (or a numeric string).
    mutating func readDouble() throws(WireError) -> Double {
        let text: String
        if peek() == UInt8(ascii: "\"") {
            // Read first: `string(_:)` must see `extra` after the string was unescaped into it.
            let ref = try readString()
            text = string(ref)
            switch text {
            case "NaN": return .nan
            case "Infinity": return .infinity
            case "-Infinity": return -.infinity
            default: break
            }
        } else {
            text = String(decoding: UnsafeRawBufferPointer(rebasing: base[try numberText()]), as: UTF8.self)
        }
        guard let value = Double(text) else { throw error("invalid number \(text)") }
        return value
    }

    mutating func readBool() throws(WireError) -> Bool {
        _ = peek()
        if matchLiteral("true") { return true }
        if matchLiteral("false") { return false }
        throw error("expected true or false")
    }

    private mutating func matchLiteral(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard base.count - position >= count else { return false }
        for index in 0..<count where base[position + index] != literal.utf8Start[index] { return false }
        position += count
        return true
    }

    /// Skips any JSON value (an unknown field's).
    mutating func skipValue(depth: Int = 0) throws(WireError) {
        guard depth < Self.maxDepth else { throw error("JSON nests deeper than \(Self.maxDepth) levels") }
        switch peek() {
        case UInt8(ascii: "{"):
            try forEachMember { (scanner, _) throws(WireError) in try scanner.skipValue(depth: depth + 1) }
        case UInt8(ascii: "["):
            try forEachElement { (scanner) throws(WireError) in try scanner.skipValue(depth: depth + 1) }
        case UInt8(ascii: "\""):
            _ = try readString()
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            _ = try readBool()
        case UInt8(ascii: "n"):
            guard consumeNull() else { throw error("invalid literal") }
        case .some:
            _ = try numberText()
        case nil:
            throw error("unexpected end of JSON")
        }
    }
}
