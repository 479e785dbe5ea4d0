import PyFlareWire

/// The `tags` of a metric, span or log (the API parses them): flat key → string, number or boolean, which become
/// OTLP attributes. `plugin_id`, when given, also names the resource (`service.name`).
package struct TelemetryTags: Sendable, Equatable {
    package static let pluginIDKey = "plugin_id"
    /// Longest tag key, in UTF-8 bytes.
    package static let maxKeyBytes = 256

    package private(set) var values: [String: AttributeValue] = [:]

    package init() {}

    package var isEmpty: Bool { values.isEmpty }
    package var count: Int { values.count }

    /// The `plugin_id` tag, which names the resource.
    package var pluginID: String? {
        if case .string(let text) = values[Self.pluginIDKey] { text } else { nil }
    }

    package subscript(key: String) -> AttributeValue? {
        get { values[key] }
        set { values[key] = newValue }
    }

    /// Adds `other`'s tags; a key already here takes `other`'s value.
    package mutating func merge(_ other: TelemetryTags) {
        values.merge(other.values) { _, new in new }
    }

    /// The tags as attributes, by key, so the same tags always encode the same way.
    package var attributes: [(String, AttributeValue)] {
        values.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// About the memory the tags take, for the open spans' budget.
    package var footprint: Int {
        values.reduce(0) { total, entry in
            if case .string(let text) = entry.value { total + entry.key.utf8.count + text.utf8.count + 32 } else { total + entry.key.utf8.count + 32 }
        }
    }
}
