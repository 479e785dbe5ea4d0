/// Why a payload could not be decoded, and where.
///
/// Every decoding failure maps to one of these codes; receivers turn them into
/// `400 Bad Request` (HTTP) or `INVALID_ARGUMENT` (gRPC) with ``message`` as the reason.
public struct WireError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case truncated, malformedVarint, invalidWireType, invalidID, nestingTooDeep
            case invalidJSON, invalidField
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// A length or value runs past the end of its enclosing message.
        public static let truncated = Code(.truncated)
        /// A varint is longer than 10 bytes.
        public static let malformedVarint = Code(.malformedVarint)
        /// A field uses wire type 3, 4, 6 or 7.
        public static let invalidWireType = Code(.invalidWireType)
        /// A trace or span id has the wrong length or is not hex.
        public static let invalidID = Code(.invalidID)
        /// `AnyValue` arrays or key/value lists nest deeper than the decoder allows.
        public static let nestingTooDeep = Code(.nestingTooDeep)
        /// The body is not well-formed JSON.
        public static let invalidJSON = Code(.invalidJSON)
        /// A JSON field has a value of the wrong type.
        public static let invalidField = Code(.invalidField)

        public var description: String { "\(value)" }
    }

    public var code: Code
    public var message: String
    /// Byte offset in the payload where the problem was found.
    public var offset: Int

    public init(_ code: Code, _ message: String, at offset: Int) {
        self.code = code
        self.message = message
        self.offset = offset
    }

    public var description: String { "\(message) (at byte \(offset))" }
}
