import PyFlareModel
internal import Yams

/// Reads `pricing.models`: a list of {model, provider, input, output, cache_read, cache_write}.
enum PricingParser {
    static func parse(_ node: Node, key: String) throws(ConfigError) -> [ModelPrice] {
        guard case .sequence(let entries) = node else { throw ConfigError(key: key, "expected a list of model prices") }
        var prices: [ModelPrice] = []
        for (index, entry) in entries.enumerated() {
            let entryKey = "\(key)[\(index)]"
            guard case .mapping(let mapping) = entry else { throw ConfigError(key: entryKey, "expected {model, input, output, …}") }
            var model: String?
            var provider: String?
            var input: Double?
            var output: Double?
            var cacheRead: Double?
            var cacheWrite: Double?
            for (name, value) in mapping {
                let field = name.string ?? ""
                let fieldKey = entryKey + "." + field
                switch field {
                case "model": model = try value.nonEmptyString(fieldKey)
                case "provider": provider = try value.nonEmptyString(fieldKey)
                case "input": input = try value.double(fieldKey, in: 0...1e6)
                case "output": output = try value.double(fieldKey, in: 0...1e6)
                case "cache_read": cacheRead = try value.double(fieldKey, in: 0...1e6)
                case "cache_write": cacheWrite = try value.double(fieldKey, in: 0...1e6)
                default: throw ConfigError(key: fieldKey, "unknown field (expected model, provider, input, output, cache_read, cache_write)")
                }
            }
            guard let model else { throw ConfigError(key: entryKey + ".model", "required") }
            guard let input else { throw ConfigError(key: entryKey + ".input", "required (USD per million input tokens)") }
            guard let output else { throw ConfigError(key: entryKey + ".output", "required (USD per million output tokens)") }
            prices.append(ModelPrice(model: model, provider: provider, input: input, output: output, cacheRead: cacheRead, cacheWrite: cacheWrite))
        }
        return prices
    }
}
