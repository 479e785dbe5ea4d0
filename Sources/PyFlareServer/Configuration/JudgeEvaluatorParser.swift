import PyFlareAnalytics
internal import Yams

/// Reads `evaluations.judge.evaluators`: a list of {name, kind, template, attribute}.
enum JudgeEvaluatorParser {
    static func parse(_ node: Node, key: String) throws(ConfigError) -> [JudgeSettings.Evaluator] {
        guard case .sequence(let entries) = node else { throw ConfigError(key: key, "expected a list of {name, kind, template, attribute}") }
        var evaluators: [JudgeSettings.Evaluator] = []
        for (index, entry) in entries.enumerated() {
            let entryKey = "\(key)[\(index)]"
            guard case .mapping(let mapping) = entry else { throw ConfigError(key: entryKey, "expected {name, kind, template, attribute}") }
            var name: String?, kind: JudgeSettings.Evaluator.Kind?, template: String?, attribute: String?
            for (field, value) in mapping {
                let fieldKey = entryKey + "." + (field.string ?? "")
                switch field.string ?? "" {
                case "name": name = try value.nonEmptyString(fieldKey)
                case "kind":
                    let text = try value.nonEmptyString(fieldKey)
                    guard let parsed = JudgeSettings.Evaluator.Kind(rawValue: text) else {
                        throw ConfigError(key: fieldKey, "expected \(JudgeSettings.Evaluator.Kind.allCases.map(\.rawValue).joined(separator: ", ")); got \"\(text)\"")
                    }
                    kind = parsed
                case "template": template = try value.nonEmptyString(fieldKey)
                case "attribute": attribute = try value.nonEmptyString(fieldKey)
                default: throw ConfigError(key: fieldKey, "unknown field (expected name, kind, template, attribute)")
                }
            }
            guard let kind else { throw ConfigError(key: entryKey + ".kind", "required") }
            let evaluator = JudgeSettings.Evaluator(name: name ?? kind.rawValue, kind: kind, template: template, attribute: attribute)
            guard !evaluators.contains(where: { $0.name == evaluator.name }) else {
                throw ConfigError(key: entryKey + ".name", "\"\(evaluator.name)\" names two evaluators")
            }
            evaluators.append(evaluator)
        }
        return evaluators
    }
}
