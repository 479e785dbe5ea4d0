/// Attribute values as plain JSON, in the form of the trace API and the JSON-lines exporter:
/// ints exact, doubles as numbers (non-finite ones as strings), bytes as `{"bytes": base64}`.
extension JSONWriter {
    public mutating func attributeValue(_ value: AttributeValue) {
        switch value {
        case .empty: null()
        case .string(let text): string(text)
        case .bool(let flag): bool(flag)
        case .int(let number): int(number)
        case .double(let number): double(number)
        case .bytes(let data):
            raw("{\"bytes\":\"")
            Base64.encode(data, to: &bytes)
            raw("\"}")
        case .array(let elements):
            byte(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { byte(UInt8(ascii: ",")) }
                attributeValue(element)
            }
            byte(UInt8(ascii: "]"))
        case .keyValueList(let pairs):
            attributes(pairs)
        }
    }

    /// `{"key": value, …}` in the order given.
    public mutating func attributes(_ pairs: some Sequence<(String, AttributeValue)>) {
        byte(UInt8(ascii: "{"))
        var first = true
        for (key, value) in pairs {
            if !first { byte(UInt8(ascii: ",")) }
            first = false
            string(key)
            byte(UInt8(ascii: ":"))
            attributeValue(value)
        }
        byte(UInt8(ascii: "}"))
    }
}
