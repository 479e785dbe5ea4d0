/// A JSON document as a tree, for the small request bodies of the REST API.
///
/// Built on ``JSONScanner`` rather than Foundation's `JSONSerialization`, whose numbers come
/// back as `NSNumber`s that do not say whether they were `true`, `1` or `1.0` (and differ
/// between platforms). Here an integer literal that fits stays an `Int64`, every other number
/// is a `Double`, and a boolean is a `Bool`.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// A number written without fraction or exponent that fits in 64 bits.
    case int(Int64)
    /// Any other number; a literal too large for a `Double` reads as an infinity.
    case double(Double)
    case string(String)
    case array([JSONValue])
    /// Members in document order; a repeated key is kept twice, ``subscript(_:)`` finds the last.
    case object([(key: String, value: JSONValue)])

    /// Parses one JSON value spanning all of `bytes` (whitespace around it allowed).
    ///
    /// - Throws: ``WireError`` with code ``WireError/Code/invalidJSON`` and the byte offset of
    ///   the problem, also for nesting deeper than 128 levels.
    public static func parse(_ bytes: [UInt8]) throws(WireError) -> JSONValue {
        let result: Result<JSONValue, WireError> = bytes.withUnsafeBytes { raw in
            var scanner = JSONScanner(base: raw)
            do throws(WireError) {
                let value = try scanner.readValue(depth: 0)
                try scanner.expectEnd()
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// The value of the last member named `key` of an object; nil for a missing key or a non-object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    /// What the value is, for error messages: "a string", "an object", …
    public var kindDescription: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// The number as a `Double`, for an `int` or a `double`; nil otherwise.
    public var number: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case let (.bool(a), .bool(b)): a == b
        case let (.int(a), .int(b)): a == b
        case let (.double(a), .double(b)): a == b
        case let (.string(a), .string(b)): a == b
        case let (.array(a), .array(b)): a == b
        case let (.object(a), .object(b)): a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }
}

extension JSONScanner {
    mutating func readValue(depth: Int) throws(WireError) -> JSONValue {
        guard depth < Self.maxDepth else { throw error("JSON nests deeper than \(Self.maxDepth) levels") }
        switch peek() {
        case UInt8(ascii: "{"):
            var members: [(key: String, value: JSONValue)] = []
            try forEachMember { (scanner, key) throws(WireError) in
                let name = scanner.string(key)
                members.append((name, try scanner.readValue(depth: depth + 1)))
            }
            return .object(members)
        case UInt8(ascii: "["):
            var elements: [JSONValue] = []
            try expect(UInt8(ascii: "["))
            if consume(UInt8(ascii: "]")) { return .array([]) }
            repeat {
                elements.append(try readValue(depth: depth + 1))
            } while consume(UInt8(ascii: ","))
            try expect(UInt8(ascii: "]"))
            return .array(elements)
        case UInt8(ascii: "\""):
            let ref = try readString()
            return .string(string(ref))
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            return .bool(try readBool())
        case UInt8(ascii: "n"):
            guard consumeNull() else { throw error("invalid literal") }
            return .null
        case .some:
            let start = position
            let range = try numberText()
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: base[range]), as: UTF8.self)
            if !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let integer = Int64(text) {
                return .int(integer)
            }
            guard let double = Double(text) else { throw WireError(.invalidJSON, "invalid number \(text.prefix(40))", at: start) }
            return .double(double)
        case nil:
            throw error("unexpected end of JSON")
        }
    }
}

extension JSONValue {
    /// A string, or a number or boolean written as text.
    public var text: String? {
        switch self {
        case .string(let value): value
        case .int(let value): String(value)
        case .double(let value): String(value)
        case .bool(let value): value ? "true" : "false"
        default: nil
        }
    }

    /// A number, or a string holding one (attributes sent as strings by some SDKs).
    public var numeric: Double? {
        if let number { return number }
        if case .string(let value) = self { return Double(value) }
        return nil
    }
}
