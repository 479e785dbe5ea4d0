import PyFlareIngest
internal import Yams

/// Reads the `sampler` mapping (recursively, for `parent_based`'s `root`).
enum SamplerSettingsParser {
    static func parse(_ node: Node, key: String, into base: PyFlareConfiguration.SamplerSettings) throws(ConfigError) -> PyFlareConfiguration.SamplerSettings {
        guard case .mapping(let mapping) = node else { throw ConfigError(key: key, "expected a mapping, got \(node.describe)") }
        var settings = base
        for (name, value) in mapping {
            let field = name.string ?? ""
            let fieldKey = key + "." + field
            switch field {
            case "strategy": settings.strategy = try value.nonEmptyString(fieldKey)
            case "rate": settings.rate = try value.double(fieldKey, in: 0...1)
            case "traces_per_second": settings.tracesPerSecond = try value.double(fieldKey, in: 0...1e9)
            case "default_rate": settings.defaultRate = try value.double(fieldKey, in: 0...1)
            case "services":
                guard case .mapping(let services) = value else { throw ConfigError(key: fieldKey, "expected a mapping of service name to rate") }
                settings.services = [:]
                for (service, rate) in services {
                    let serviceName = service.string ?? ""
                    settings.services[serviceName] = try rate.double(fieldKey + "." + serviceName, in: 0...1)
                }
            case "rules":
                guard case .sequence(let rules) = value else { throw ConfigError(key: fieldKey, "expected a list of {key, value, rate}") }
                settings.rules = try rules.enumerated().map { (index, rule) throws(ConfigError) in
                    try parseRule(rule, key: "\(fieldKey)[\(index)]")
                }
            case "root":
                settings.root = .init(try parse(value, key: fieldKey, into: PyFlareConfiguration.SamplerSettings()))
            default:
                throw ConfigError(key: fieldKey, "unknown sampler option (expected strategy, rate, traces_per_second, root, default_rate, services, rules)")
            }
        }
        return settings
    }

    private static func parseRule(_ node: Node, key: String) throws(ConfigError) -> SamplerConfiguration.AttributeRule {
        guard case .mapping(let mapping) = node else { throw ConfigError(key: key, "expected {key, value, rate}") }
        var attribute: String?
        var value: String?
        var rate: Double?
        for (name, field) in mapping {
            switch name.string ?? "" {
            case "key": attribute = try field.nonEmptyString(key + ".key")
            case "value":
                guard case .scalar(let scalar) = field else { throw ConfigError(key: key + ".value", "expected a scalar") }
                value = scalar.string
            case "rate": rate = try field.double(key + ".rate", in: 0...1)
            default: throw ConfigError(key: key + "." + (name.string ?? ""), "unknown rule field (expected key, value, rate)")
            }
        }
        guard let attribute else { throw ConfigError(key: key + ".key", "required") }
        guard let rate else { throw ConfigError(key: key + ".rate", "required") }
        return .init(key: attribute, value: value, rate: rate)
    }
}

extension PyFlareConfiguration {
    /// The sampler to build, after checking that the strategy has what it needs.
    public func samplerConfiguration() throws(ConfigError) -> SamplerConfiguration {
        try Self.assemble(sampler, key: "sampler")
    }

    private static func assemble(_ settings: SamplerSettings, key: String) throws(ConfigError) -> SamplerConfiguration {
        func required<T>(_ value: T?, _ field: String) throws(ConfigError) -> T {
            guard let value else { throw ConfigError(key: "\(key).\(field)", "required by strategy \(settings.strategy)") }
            return value
        }
        switch settings.strategy {
        case "always_on": return .alwaysOn
        case "always_off": return .alwaysOff
        case "probabilistic": return .probabilistic(rate: try required(settings.rate, "rate"))
        case "rate_limiting": return .rateLimiting(tracesPerSecond: try required(settings.tracesPerSecond, "traces_per_second"))
        case "parent_based":
            let root = try required(settings.root, "root")
            return .parentBased(root: try assemble(root.settings, key: key + ".root"))
        case "composite":
            return .composite(defaultRate: settings.defaultRate ?? 1, services: settings.services)
        case "attribute_based":
            return .attributeBased(defaultRate: settings.defaultRate ?? 1, rules: settings.rules)
        default:
            throw ConfigError(key: key + ".strategy", "unknown strategy \"\(settings.strategy)\"; expected one of \(SamplerConfiguration.strategyNames.joined(separator: ", "))")
        }
    }
}
