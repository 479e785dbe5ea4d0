import PyFlareWire

/// Typed reads of the members of a request's JSON object; a wrong type is a 400 naming the member.
///
/// A member that is `null` counts as missing. Members nobody reads are ignored, so clients
/// written for a later version keep working.
struct JSONFields {
    let object: JSONValue
    /// Put before member names in messages: "" at the top level, "metrics[2]." in a batch.
    let path: String

    init(_ object: JSONValue, path: String = "") {
        self.object = object
        self.path = path
    }

    func value(_ key: String) -> JSONValue? {
        guard let value = object[key], value != .null else { return nil }
        return value
    }

    func string(_ key: String) throws(APIError) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else { throw .badRequest("\(path)\(key) must be a string, not \(value.kindDescription)") }
        return text
    }

    /// A string that must be there and not be empty.
    func requiredString(_ key: String) throws(APIError) -> String {
        guard let text = try string(key) else { throw .badRequest("\(path)\(key) is required") }
        guard !text.isEmpty else { throw .badRequest("\(path)\(key) must not be empty") }
        return text
    }

    /// A finite number.
    func number(_ key: String) throws(APIError) -> Double? {
        guard let value = value(key) else { return nil }
        guard let number = value.number else { throw .badRequest("\(path)\(key) must be a number, not \(value.kindDescription)") }
        guard number.isFinite else { throw .badRequest("\(path)\(key) must be a finite number") }
        return number
    }

    func requiredNumber(_ key: String) throws(APIError) -> Double {
        guard let number = try number(key) else { throw .badRequest("\(path)\(key) is required") }
        return number
    }
}
