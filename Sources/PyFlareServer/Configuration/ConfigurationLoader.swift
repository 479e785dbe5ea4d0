import Foundation
import PyFlareStore
import PyFlareObjectStorage
internal import Yams

/// Builds a ``PyFlareConfiguration`` from defaults, a YAML file, the environment and flags, in that order.
public struct ConfigurationLoader: Sendable {
    /// The file read when `--config` is not given, if it exists.
    public static let defaultPath = "config/pyflare.yaml"

    public init() {}

    /// - Parameters:
    ///   - path: the `--config` path; when nil, ``defaultPath`` is read if present.
    ///   - environment: the process environment (only `PYFLARE_…` variables are read).
    ///   - flags: overrides from the command line as (dotted key, value text).
    public func load(path: String?, environment: [String: String], flags: [(key: String, value: String)]) throws(ConfigError) -> PyFlareConfiguration {
        var configuration = PyFlareConfiguration()
        let filePath = path ?? (FileManager.default.fileExists(atPath: Self.defaultPath) ? Self.defaultPath : nil)
        if let filePath {
            guard let text = try? String(contentsOfFile: filePath, encoding: .utf8) else {
                throw ConfigError(key: "--config", "cannot read \(filePath)")
            }
            try applyFile(text, source: filePath, to: &configuration)
        }
        for option in ConfigOption.all where environment[option.environmentName] != nil {
            try apply(environment[option.environmentName]!, key: option.key, source: "environment \(option.environmentName)",
                      option.apply, to: &configuration)
        }
        for (key, apply) in ConfigOption.environmentOnly {
            let name = ConfigOption.environmentName(for: key)
            if let value = environment[name] {
                try self.apply(value, key: key, source: "environment \(name)", apply, to: &configuration)
            }
        }
        for (key, value) in flags {
            guard let option = ConfigOption.all.first(where: { $0.key == key }) else {
                throw ConfigError(key: key, "unknown option")
            }
            try apply(value, key: key, source: "flag", option.apply, to: &configuration)
        }
        _ = try configuration.samplerConfiguration()
        try Self.completeBuckets(&configuration, environment: environment)
        return configuration
    }

    /// A bucket takes the AWS variables for credentials not configured, and is refused
    /// without what its uploads need.
    static func completeBucket(_ bucket: inout S3Settings, key: String, environment: [String: String]) throws(ConfigError) {
        guard bucket.isConfigured else { return }
        if bucket.accessKeyID.isEmpty { bucket.accessKeyID = environment["AWS_ACCESS_KEY_ID"] ?? "" }
        if bucket.secretAccessKey.isEmpty { bucket.secretAccessKey = environment["AWS_SECRET_ACCESS_KEY"] ?? "" }
        if bucket.bucket.isEmpty { throw ConfigError(key: key + ".bucket", "must be set with \(key).endpoint") }
        if bucket.accessKeyID.isEmpty || bucket.secretAccessKey.isEmpty {
            throw ConfigError(key: key + ".access_key_id", "\(key) needs an access key and a secret key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
        }
    }

    static func completeBuckets(_ configuration: inout PyFlareConfiguration, environment: [String: String]) throws(ConfigError) {
        try completeBucket(&configuration.parquetExportBucket, key: "export.parquet.s3", environment: environment)
        if configuration.parquetExportBucket.isConfigured, configuration.parquetExportDirectory == nil {
            throw ConfigError(key: "export.parquet.dir", "must be set with export.parquet.s3.endpoint (files are written there, then uploaded)")
        }
        try completeBucket(&configuration.remoteSegments.bucket, key: "storage.remote.s3", environment: environment)
    }

    /// Applies a YAML document; every key must be a known option.
    func applyFile(_ text: String, source: String, to configuration: inout PyFlareConfiguration) throws(ConfigError) {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ConfigError(key: "(file)", "not valid YAML: \(error)", source: source)
        }
        guard let root else { return }  // empty or all comments
        guard case .mapping = root else { throw ConfigError(key: "(file)", "the top level must be a mapping", source: source) }
        try walk(root, prefix: "", source: source, into: &configuration)
    }

    private func walk(_ node: Node, prefix: String, source: String, into configuration: inout PyFlareConfiguration) throws(ConfigError) {
        guard case .mapping(let mapping) = node else {
            throw ConfigError(key: prefix, "expected a mapping of options, got \(node.describe)", source: source)
        }
        for (name, value) in mapping {
            let key = prefix.isEmpty ? (name.string ?? "") : prefix + "." + (name.string ?? "")
            if let option = ConfigOption.all.first(where: { $0.key == key }) {
                do {
                    try option.apply(&configuration, value, key)
                } catch {
                    var located = error
                    located.source = value.mark.map { "\(source):\($0.line)" } ?? source
                    throw located
                }
            } else if ConfigOption.all.contains(where: { $0.key.hasPrefix(key + ".") }) {
                try walk(value, prefix: key, source: source, into: &configuration)
            } else {
                throw ConfigError(key: key, "unknown option", source: name.mark.map { "\(source):\($0.line)" } ?? source)
            }
        }
    }

    private func apply(_ text: String, key: String, source: String,
                       _ apply: (inout PyFlareConfiguration, Node, String) throws(ConfigError) -> Void,
                       to configuration: inout PyFlareConfiguration) throws(ConfigError) {
        // Values are YAML too, so `PYFLARE_SAMPLER='{strategy: probabilistic, rate: 0.1}'` works.
        let node = (try? Yams.compose(yaml: text)).flatMap { $0 } ?? Node(text)
        do {
            try apply(&configuration, node, key)
        } catch {
            var located = error
            located.source = source
            throw located
        }
    }
}
