import PyFlareIngest
import PyFlareWire

/// Tags as the telemetry routes read them from a request.
extension TelemetryTags {
    /// `tags` as given in a request (nil or `null`: no tags).
    ///
    /// - Throws: 400 when `tags` is not an object, a key is empty or too long, a value is
    ///   null, an array, an object or not finite, or `plugin_id` is not a non-empty string.
    init(json tags: JSONValue?, field: String) throws(APIError) {
        self.init()
        guard let tags, tags != .null else { return }
        guard case .object(let members) = tags else {
            throw .badRequest("\(field) must be an object of string, number or boolean values, not \(tags.kindDescription)")
        }
        for (key, value) in members {
            guard !key.isEmpty else { throw .badRequest("\(field) has an empty key") }
            guard key.utf8.count <= Self.maxKeyBytes else {
                throw .badRequest("\(field) key \"\(key.prefix(40))…\" is longer than \(Self.maxKeyBytes) bytes")
            }
            self[key] = try Self.attribute(value, name: "\(field).\(key)")
        }
        if let pluginID = self[Self.pluginIDKey] {
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
}
