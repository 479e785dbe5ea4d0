/// The OTLP common messages (`KeyValue`, `AnyValue`), for code that builds Export requests:
/// the JSON telemetry API and the test payload builders.
extension ProtoWriter {
    /// A `KeyValue` message `{key, value}` as field `field` of the enclosing message.
    public mutating func keyValueField(_ field: UInt32, key: String, value: AttributeValue) {
        messageField(field) { keyValue in
            keyValue.stringField(1, key)
            keyValue.messageField(2) { $0.anyValue(value) }
        }
    }

    /// The fields of an `AnyValue` message holding `value` (nothing for ``AttributeValue/empty``).
    public mutating func anyValue(_ value: AttributeValue) {
        switch value {
        case .empty: break
        case .string(let text): stringField(1, text)
        case .bool(let flag): varintField(2, flag ? 1 : 0)
        case .int(let number): varintField(3, UInt64(bitPattern: number))
        case .double(let number): fixed64Field(4, number.bitPattern)
        case .array(let elements):
            messageField(5) { array in
                for element in elements { array.messageField(1) { $0.anyValue(element) } }
            }
        case .keyValueList(let pairs):
            messageField(6) { list in
                for (key, element) in pairs { list.keyValueField(1, key: key, value: element) }
            }
        case .bytes(let bytes): bytesField(7, bytes)
        }
    }

    /// A span id as its 8 bytes in wire (big-endian) order.
    public mutating func spanIDField(_ field: UInt32, _ id: UInt64) {
        withUnsafeBytes(of: id.bigEndian) { bytesField(field, $0) }
    }

    /// A trace id as its 16 bytes in wire order.
    public mutating func traceIDField(_ field: UInt32, _ id: TraceID) {
        bytesField(field, id.bytes)
    }

    /// A packed `repeated fixed64` (bucket counts); nothing when `values` is empty.
    public mutating func packedFixed64Field(_ field: UInt32, _ values: [UInt64]) {
        guard !values.isEmpty else { return }
        tag(field, 2)
        varint(UInt64(values.count * 8))
        for value in values { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    }

    /// A packed `repeated double` (explicit bounds); nothing when `values` is empty.
    public mutating func packedDoubleField(_ field: UInt32, _ values: [Double]) {
        packedFixed64Field(field, values.map(\.bitPattern))
    }
}
