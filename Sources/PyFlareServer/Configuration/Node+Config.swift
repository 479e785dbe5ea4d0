import PyFlareAnalytics
import PyFlareStore
import Foundation
import PyFlareWire
internal import Yams

/// Typed reads of YAML values that fail with the key's name.
extension Node {
    func nonEmptyString(_ key: String) throws(ConfigError) -> String {
        guard case .scalar(let scalar) = self, !scalar.string.isEmpty else {
            throw ConfigError(key: key, "expected a non-empty string")
        }
        return scalar.string
    }

    /// An http:// or https:// URL.
    func httpURL(_ key: String) throws(ConfigError) -> String {
        let url = try nonEmptyString(key)
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw ConfigError(key: key, "expected an http:// or https:// URL, got \"\(url)\"")
        }
        return url
    }

    /// An http:// or https:// URL; nil when empty.
    func optionalHTTPURL(_ key: String) throws(ConfigError) -> String? {
        try optionalString(key) == nil ? nil : try httpURL(key)
    }

    /// A string that may be empty, read as nil.
    /// A mapping of names to scalar values, each as text.
    func stringMapping(_ key: String) throws(ConfigError) -> [String: String] {
        guard case .mapping(let pairs) = self else { throw ConfigError(key: key, "expected a mapping of property names to values") }
        var mapping: [String: String] = [:]
        for (name, value) in pairs {
            guard let name = name.string, let text = value.string else {
                throw ConfigError(key: key, "expected name: value pairs of text, numbers or booleans")
            }
            mapping[name] = text
        }
        return mapping
    }

    func optionalString(_ key: String) throws(ConfigError) -> String? {
        guard case .scalar(let scalar) = self else { throw ConfigError(key: key, "expected a string, got \(describe)") }
        return scalar.string.isEmpty || scalar.string == "null" ? nil : scalar.string
    }

    func boolean(_ key: String) throws(ConfigError) -> Bool {
        guard case .scalar(let scalar) = self else { throw ConfigError(key: key, "expected true or false, got \(describe)") }
        switch scalar.string.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw ConfigError(key: key, "expected true or false, got \(describe)")
        }
    }

    func integer(_ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard case .scalar(let scalar) = self, let value = Int(scalar.string.replacingOccurrences(of: "_", with: "")) else {
            throw ConfigError(key: key, "expected an integer, got \(describe)")
        }
        guard range.contains(value) else {
            throw ConfigError(key: key, "\(value) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    func double(_ key: String, in range: ClosedRange<Double>) throws(ConfigError) -> Double {
        guard case .scalar(let scalar) = self, let value = Double(scalar.string), value.isFinite else {
            throw ConfigError(key: key, "expected a number, got \(describe)")
        }
        guard range.contains(value) else {
            throw ConfigError(key: key, "\(value) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A list of strings: a YAML sequence, or one comma-separated string (as an environment
    /// variable gives it); empty entries dropped.
    func strings(_ key: String) throws(ConfigError) -> [String] {
        switch self {
        case .scalar(let scalar):
            return scalar.string.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        case .sequence(let items):
            var values: [String] = []
            for item in items {
                guard case .scalar(let scalar) = item else { throw ConfigError(key: key, "expected a list of strings, got \(item.describe) in it") }
                if !scalar.string.isEmpty { values.append(scalar.string) }
            }
            return values
        default:
            throw ConfigError(key: key, "expected a list of strings, got \(describe)")
        }
    }

    func schedule(_ key: String) throws(ConfigError) -> JobSchedule {
        let text = try nonEmptyString(key)
        do {
            return try JobSchedule.parse(text)
        } catch {
            throw ConfigError(key: key, "\(error)")
        }
    }

    /// A duration such as `15m`, `1h`, `7d`.
    func duration(_ key: String) throws(ConfigError) -> Int64 {
        let text = try nonEmptyString(key)
        guard let value = DurationText.nanoseconds(text) else { throw ConfigError(key: key, "expected a duration such as 15m, 1h or 7d; got \"\(text)\"") }
        return value
    }

    /// An RFC 3339 time (or unix nanoseconds); empty reads as nil.
    func optionalTime(_ key: String) throws(ConfigError) -> Int64? {
        guard let text = try optionalString(key) else { return nil }
        guard let value = RFC3339.nanoseconds(text) else { throw ConfigError(key: key, "expected an RFC 3339 time; got \"\(text)\"") }
        return Int64(clamping: value)
    }

    /// A retention age: a duration such as `30d`, a number of seconds, or `0` for forever.
    func retentionAge(_ key: String) throws(ConfigError) -> Int64 {
        do {
            return try RetentionPolicy.age(jsonValue, field: key)
        } catch {
            throw ConfigError(key: key, error.message)
        }
    }

    /// `retention.overrides`: a list of {service, environment, age}.
    func retentionOverrides(_ key: String) throws(ConfigError) -> [RetentionPolicy.Override] {
        guard case .array(let items) = jsonValue else { throw ConfigError(key: key, "expected a list of {service, environment, age}") }
        do {
            return try items.enumerated().map { (index, item) throws(RetentionPolicyError) in
                try RetentionPolicy.override(item, field: "\(key)[\(index)]")
            }
        } catch {
            throw ConfigError(key: error.field, error.message)
        }
    }

    /// The node as JSON: scalars that read as integers become numbers, other scalars strings.
    var jsonValue: JSONValue {
        switch self {
        case .scalar(let scalar): Int64(scalar.string).map(JSONValue.int) ?? .string(scalar.string)
        case .sequence(let items): .array(items.map(\.jsonValue))
        case .mapping(let pairs): .object(pairs.map { ($0.key.string ?? "", $0.value.jsonValue) })
        case .alias: .null
        }
    }

    var describe: String {
        switch self {
        case .scalar(let scalar): "\"\(scalar.string)\""
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }
}

