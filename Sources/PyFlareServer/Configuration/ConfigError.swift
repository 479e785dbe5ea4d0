/// A configuration value that cannot be used, named by its key and its source.
public struct ConfigError: Error, Sendable, CustomStringConvertible, Equatable {
    /// Dotted key, e.g. `otlp.http.port`.
    public var key: String
    public var reason: String
    /// Where the value came from: a file path, `environment (PYFLARE_…)` or `flag`.
    public var source: String?

    public init(key: String, _ reason: String, source: String? = nil) {
        self.key = key
        self.reason = reason
        self.source = source
    }

    public var description: String {
        "invalid configuration: \(key): \(reason)" + (source.map { " (from \($0))" } ?? "")
    }
}
