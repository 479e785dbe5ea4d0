/// The fully commented example configuration `pyflare config init` writes.
public enum ConfigurationTemplate {
    public static var text: String {
        var lines = [
            "# PyFlare configuration (YAML).",
            "#",
            "# Every option is listed with its default, commented out: uncomment a line (and the",
            "# section lines above it) to change it. Precedence: command-line flag > environment",
            "# variable (PYFLARE_ followed by the key in upper case, dots as underscores) > this file",
            "# > default. `pyflare serve` reads config/pyflare.yaml when --config is not given.",
        ]
        var openSections: [String] = []
        for option in ConfigOption.all {
            let parts = option.key.split(separator: ".").map(String.init)
            let sections = Array(parts.dropLast())
            var common = 0
            while common < min(sections.count, openSections.count), sections[common] == openSections[common] { common += 1 }
            if sections.count == 0 || common < openSections.count || common < sections.count { lines.append("") }
            for depth in common..<sections.count {
                lines.append("# " + String(repeating: "  ", count: depth) + sections[depth] + ":")
            }
            openSections = sections
            let indent = String(repeating: "  ", count: sections.count)
            for helpLine in option.help.split(separator: "\n", omittingEmptySubsequences: false) {
                lines.append("# " + indent + "# " + helpLine)
            }
            if !option.help.contains("Environment:") {
                lines.append("# " + indent + "# Environment: \(option.environmentName)")
            }
            lines.append("# " + indent + parts.last! + ": " + option.defaultYAML)
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
