import Foundation
import Testing
import PyFlareIngest
@testable import PyFlareServer
import PyFlareTesting

/// The `telemetry.*` keys.
struct TelemetryConfigurationTests {
    func load(file: String? = nil, environment: [String: String] = [:]) throws -> PyFlareConfiguration {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var path: String?
        if let file {
            path = directory.path + "/pyflare.yaml"
            try file.write(toFile: path!, atomically: true, encoding: .utf8)
        }
        return try ConfigurationLoader().load(path: path, environment: environment, flags: [])
    }

    @Test func defaults() throws {
        let telemetry = try load().telemetry
        #expect(telemetry == TelemetryConfiguration())
        #expect(telemetry.spanTimeout == .seconds(300))
        #expect(telemetry.maxOpenSpans == 10_000)
        #expect(telemetry.maxOpenBytes == 64 << 20)
        #expect(telemetry.maxBodyBytes == 1 << 20)
        #expect(telemetry.serviceName == "pyflare-telemetry")
    }

    @Test func fromTheFileAndTheEnvironment() throws {
        let file = "telemetry:\n  span_timeout_seconds: 1.5\n  max_open_spans: 7\n  service_name: plugins\n"
        let telemetry = try load(file: file, environment: ["PYFLARE_TELEMETRY_MAX_BODY_BYTES": "4096"]).telemetry
        #expect(telemetry.spanTimeout == .milliseconds(1500))
        #expect(telemetry.maxOpenSpans == 7)
        #expect(telemetry.serviceName == "plugins")
        #expect(telemetry.maxBodyBytes == 4096)
    }

    @Test func badValuesNameTheKey() throws {
        let zero = try #require(throws: ConfigError.self) { try load(file: "telemetry:\n  span_timeout_seconds: 0\n") }
        #expect(zero.key == "telemetry.span_timeout_seconds")
        let words = try #require(throws: ConfigError.self) { try load(environment: ["PYFLARE_TELEMETRY_MAX_OPEN_SPANS": "lots"]) }
        #expect(words.key == "telemetry.max_open_spans")
        #expect(words.description.contains("expected an integer"))
    }
}
