import PyFlareWire

/// The `tags` of a metric, span or log: flat key → string, number or boolean, which become
/// OTLP attributes. `plugin_id`, when given, also names the resource (`service.name`).
struct TelemetryTags: Sendable, Equatable {
    static let pluginIDKey = "plugin_id"
    /// Longest tag key, in UTF-8 bytes.
    static let maxKeyBytes = 256

    private(set) var values: [String: AttributeValue] = [:]

    init() {}

    /// `tags` as given in a request (nil or `null`: no tags).
    ///
    /// - Throws: 400 when `tags` is not an object, a key is empty or too long, a value is
    ///   null, an array, an object or not finite, or `plugin_id` is not a non-empty string.
    init(json tags: JSONValue?, field: String) throws(APIError) {
        guard let tags, tags != .null else { return }
        guard case .object(let members) = tags else {
            throw .badRequest("\(field) must be an object of string, number or boolean values, not \(tags.kindDescription)")
        }
        for (key, value) in members {
            guard !key.isEmpty else { throw .badRequest("\(field) has an empty key") }
            guard key.utf8.count <= Self.maxKeyBytes else {
                throw .badRequest("\(field) key \"\(key.prefix(40))…\" is longer than \(Self.maxKeyBytes) bytes")
            }
            values[key] = try Self.attribute(value, name: "\(field).\(key)")
        }
        if let pluginID = values[Self.pluginIDKey] {
            guard case .string(let text) = pluginID, !text.isEmpty else {
                throw .badRequest("\(field).\(Self.pluginIDKey) must be a non-empty string")
            }
        }
    }

    private static func attribute(_ value: JSONValue, name: String) throws(APIError) -> AttributeValue {
        switch value {
        case .string(let text): return .string(text)
        case .bool(let flag): return .bool(flag)
        case .int(let number): return .int(number)
        case .double(let number):
            guard number.isFinite else { throw .badRequest("\(name) must be a finite number") }
            return .double(number)
        case .null, .array, .object:
            throw .badRequest("\(name) must be a string, number or boolean, not \(value.kindDescription) (tags are flat)")
        }
    }

    var isEmpty: Bool { values.isEmpty }
    var count: Int { values.count }

    /// The `plugin_id` tag, which names the resource.
    var pluginID: String? {
        if case .string(let text) = values[Self.pluginIDKey] { text } else { nil }
    }

    subscript(key: String) -> AttributeValue? {
        get { values[key] }
        set { values[key] = newValue }
    }

    /// Adds `other`'s tags; a key already here takes `other`'s value.
    mutating func merge(_ other: TelemetryTags) {
        values.merge(other.values) { _, new in new }
    }

    /// The tags as attributes, by key, so the same tags always encode the same way.
    var attributes: [(String, AttributeValue)] {
        values.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// About the memory the tags take, for the open spans' budget.
    var footprint: Int {
        values.reduce(0) { total, entry in
            if case .string(let text) = entry.value { total + entry.key.utf8.count + text.utf8.count + 32 } else { total + entry.key.utf8.count + 32 }
        }
    }
}
