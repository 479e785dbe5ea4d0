/// Protobuf encoding for the few messages PyFlare writes (responses, test payloads).
public struct ProtoWriter {
    public var bytes: [UInt8] = []

    public init() {}

    public mutating func varint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    public mutating func tag(_ field: UInt32, _ wireType: UInt8) {
        varint(UInt64(field) << 3 | UInt64(wireType))
    }

    public mutating func varintField(_ field: UInt32, _ value: UInt64) {
        tag(field, 0)
        varint(value)
    }

    public mutating func fixed64Field(_ field: UInt32, _ value: UInt64) {
        tag(field, 1)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func fixed32Field(_ field: UInt32, _ value: UInt32) {
        tag(field, 5)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func bytesField<Bytes: Collection>(_ field: UInt32, _ value: Bytes) where Bytes.Element == UInt8 {
        tag(field, 2)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func stringField(_ field: UInt32, _ value: String) {
        bytesField(field, Array(value.utf8))
    }

    /// Writes a nested message built by `body`.
    public mutating func messageField(_ field: UInt32, _ body: (inout ProtoWriter) -> Void) {
        var nested = ProtoWriter()
        body(&nested)
        bytesField(field, nested.bytes)
    }
}
