import Foundation
import Testing
import PyFlareIngest
import PyFlareModel
@testable import PyFlareServer
import PyFlareTesting

struct ConfigurationTests {
    func load(file: String? = nil, environment: [String: String] = [:], flags: [(String, String)] = []) throws -> PyFlareConfiguration {
        var path: String?
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        if let file {
            path = directory.path + "/pyflare.yaml"
            try file.write(toFile: path!, atomically: true, encoding: .utf8)
        }
        return try ConfigurationLoader().load(path: path, environment: environment, flags: flags.map { (key: $0.0, value: $0.1) })
    }

    @Test func defaultsWithoutAnySource() throws {
        let configuration = try load()
        #expect(configuration == PyFlareConfiguration())
        #expect(configuration.otlpHTTP.port == 4318)
        #expect(configuration.otlpGRPC.port == 4317)
        #expect(configuration.api == .init(host: "127.0.0.1", port: 8080))
        #expect(configuration.otlpHTTP.host == "127.0.0.1")
        #expect(configuration.otlpGRPC.host == "127.0.0.1")
        #expect(configuration.authEnabled == false)
        #expect(configuration.dataDirectory == "./data")
    }

    @Test func precedenceIsFlagThenEnvironmentThenFileThenDefault() throws {
        let file = "api:\n  port: 1001\notlp:\n  http:\n    port: 1002\nbatcher:\n  workers: 3\n"
        let environment = ["PYFLARE_API_PORT": "2001", "PYFLARE_OTLP_HTTP_PORT": "2002"]
        let configuration = try load(file: file, environment: environment, flags: [("api.port", "3001")])
        #expect(configuration.api.port == 3001)        // flag
        #expect(configuration.otlpHTTP.port == 2002)   // environment over file
        #expect(configuration.batcher.workers == 3)    // file over default
        #expect(configuration.batcher.maxBatchSpans == 8192)  // default
    }

    @Test func badValuesNameTheKeyAndTheReason() throws {
        #expect(throws: ConfigError(key: "otlp.http.port", "70000 is out of range 0...65535", source: "flag")) {
            try load(flags: [("otlp.http.port", "70000")])
        }
        let error = try #require(throws: ConfigError.self) { try load(file: "batcher:\n  workers: many\n") }
        #expect(error.key == "batcher.workers")
        #expect(error.description.contains("expected an integer"))
        #expect(error.source?.hasSuffix("pyflare.yaml:2") == true)
        let unknown = try #require(throws: ConfigError.self) { try load(file: "otlp:\n  htp:\n    port: 1\n") }
        #expect(unknown.key == "otlp.htp")
        let environment = try #require(throws: ConfigError.self) { try load(environment: ["PYFLARE_LOG_LEVEL": "loud"]) }
        #expect(environment.key == "log_level")
        #expect(environment.source == "environment PYFLARE_LOG_LEVEL")
    }

    @Test func samplerStrategiesFromTheFile() throws {
        let file = """
        sampler:
          strategy: parent_based
          root:
            strategy: attribute_based
            default_rate: 0.1
            rules:
              - {key: error.type, rate: 1.0}
              - {key: gen_ai.request.model, value: gpt-4o, rate: 0.5}
        """
        let sampler = try load(file: file).samplerConfiguration()
        #expect(sampler == .parentBased(root: .attributeBased(defaultRate: 0.1, rules: [
            .init(key: "error.type", rate: 1), .init(key: "gen_ai.request.model", value: "gpt-4o", rate: 0.5),
        ])))
        let composite = try load(file: "sampler: {strategy: composite, default_rate: 0.2, services: {chat-api: 1.0}}").samplerConfiguration()
        #expect(composite == .composite(defaultRate: 0.2, services: ["chat-api": 1]))
        let fromEnvironment = try load(environment: ["PYFLARE_SAMPLER_STRATEGY": "probabilistic", "PYFLARE_SAMPLER_RATE": "0.25"])
        #expect(try fromEnvironment.samplerConfiguration() == .probabilistic(rate: 0.25))
        let missing = try #require(throws: ConfigError.self) { try load(file: "sampler: {strategy: rate_limiting}") }
        #expect(missing.key == "sampler.traces_per_second")
        let unknown = try #require(throws: ConfigError.self) { try load(file: "sampler: {strategy: sometimes}") }
        #expect(unknown.key == "sampler.strategy")
    }

    @Test func pricingOverridesFromTheFile() throws {
        let configuration = try load(file: "pricing:\n  models:\n    - {model: my-model, input: 1.5, output: 3, cache_read: 0.5}\n    - {model: gpt-4o, input: 1, output: 2}\n")
        let table = PricingTable.builtIn(overrides: configuration.pricingOverrides)
        #expect(table.price(for: "my-model-v2")?.input == 1.5)
        #expect(table.price(for: "gpt-4o-2024-08-06")?.output == 2)
        let error = try #require(throws: ConfigError.self) { try load(file: "pricing:\n  models:\n    - {model: x, input: 1}\n") }
        #expect(error.key == "pricing.models[0].output")
    }

    /// The commented template, uncommented, must describe exactly the defaults.
    @Test func templateUncommentedParsesToTheDefaults() throws {
        // The prose header ends at the first blank line; options follow.
        let lines = ConfigurationTemplate.text.split(separator: "\n", omittingEmptySubsequences: false)
        let uncommented = lines.drop(while: { !$0.isEmpty }).compactMap { line -> String? in
            guard line.hasPrefix("# ") else { return line.hasPrefix("#") ? nil : String(line) }
            let body = line.dropFirst(2)
            return body.drop(while: { $0 == " " }).hasPrefix("#") ? nil : String(body)
        }.joined(separator: "\n")
        #expect(try load(file: uncommented) == PyFlareConfiguration())
    }

    @Test func shippedExampleIsTheTemplate() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shipped = try String(contentsOf: root.appendingPathComponent("config/pyflare.yaml"), encoding: .utf8)
        #expect(shipped == ConfigurationTemplate.text, "regenerate with: .build/debug/pyflare config init --force")
    }
}

@Suite struct AuthModeTests {
    @Test func authFollowsTheListenersUnlessSet() {
        var configuration = PyFlareConfiguration()
        #expect(!configuration.authEnabled)
        configuration.otlpGRPC.host = "0.0.0.0"
        #expect(configuration.authEnabled)
        configuration.auth = false
        #expect(!configuration.authEnabled)
        configuration = PyFlareConfiguration()
        configuration.api.host = "::1"
        #expect(!configuration.authEnabled)
        configuration.api.host = "10.1.2.3"
        #expect(configuration.authEnabled)
        configuration.api.host = "localhost"
        configuration.auth = true
        #expect(configuration.authEnabled)
    }
}
