import Hummingbird
import Testing
@testable import PyFlareAPI
@testable import PyFlareIngest
import PyFlareWire

/// Parsing and validation of `POST /api/v1/telemetry/metrics` bodies.
struct TelemetryMetricTests {
    static let now: UInt64 = 1_800_000_000_000_000_000

    func parse(_ text: String) throws(APIError) -> [TelemetryMetric] {
        try TelemetryMetric.parseRequest(try JSONBody.parse(Array(text.utf8)), now: Self.now)
    }

    /// The 400 message `text` gets.
    func refusal(_ text: String) -> String? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            #expect(error.status == .badRequest)
            #expect(error.code == "bad_request")
            return error.message
        }
    }

    @Test func readsOneMetricWithItsTagsAndTime() throws {
        let metrics = try parse(#"{"name": "plugin.p1.calls", "value": 2, "type": "counter", "unit": "{call}", "#
                                + #""tags": {"plugin_id": "p1", "ok": true, "n": 3, "r": 0.5}, "timestamp": 1700000000.25}"#)
        #expect(metrics.count == 1)
        let metric = metrics[0]
        #expect(metric.name == "plugin.p1.calls")
        #expect(metric.kind == .counter)
        #expect(metric.value == 2)
        #expect(metric.unit == "{call}")
        #expect(metric.time == 1_700_000_000_250_000_000)
        #expect(metric.tags.pluginID == "p1")
        #expect(metric.tags.attributes.map(\.0) == ["n", "ok", "plugin_id", "r"])
        #expect(metric.tags["n"] == .int(3))
        #expect(metric.tags["r"] == .double(0.5))
        #expect(metric.tags["ok"] == .bool(true))
    }

    @Test func timeDefaultsToNowAndReadsRFC3339() throws {
        #expect(try parse(#"{"name": "g", "value": -1.5, "type": "gauge"}"#)[0].time == Self.now)
        #expect(try parse(#"{"name": "g", "value": 1, "type": "gauge", "timestamp": "2023-11-14T22:13:20.5Z"}"#)[0].time
                == 1_700_000_000_500_000_000)
    }

    @Test func readsABatchInOrder() throws {
        let metrics = try parse(#"{"metrics": [{"name": "a", "value": 1, "type": "counter"}, {"name": "b", "value": 7, "type": "histogram"}]}"#)
        #expect(metrics.map(\.name) == ["a", "b"])
        #expect(metrics.map(\.kind) == [.counter, .histogram])
    }

    @Test func refusesBadMetricsNamingTheMember() {
        let cases: [(String, String)] = [
            (#"{"value": 1, "type": "gauge"}"#, "name is required"),
            (#"{"name": "", "value": 1, "type": "gauge"}"#, "name must not be empty"),
            (#"{"name": 5, "value": 1, "type": "gauge"}"#, "name must be a string, not a number"),
            (#"{"name": "9lives", "value": 1, "type": "gauge"}"#, "name \"9lives\" is not a valid metric name"),
            (#"{"name": "a*b", "value": 1, "type": "gauge"}"#, "is not a valid metric name"),
            (#"{"name": "a", "value": 1, "type": "timer"}"#, "type must be counter, gauge or histogram, not \"timer\""),
            (#"{"name": "a", "value": 1}"#, "type is required"),
            (#"{"name": "a", "type": "gauge"}"#, "value is required"),
            (#"{"name": "a", "value": "12", "type": "gauge"}"#, "value must be a number, not a string"),
            (#"{"name": "a", "value": true, "type": "gauge"}"#, "value must be a number, not a boolean"),
            (#"{"name": "a", "value": 1e400, "type": "gauge"}"#, "value must be a finite number"),
            (#"{"name": "a", "value": -1, "type": "counter"}"#, "value of a counter is an increment and must not be negative"),
            (#"{"name": "a", "value": 1, "type": "gauge", "tags": []}"#, "tags must be an object of string, number or boolean values, not an array"),
            (#"{"name": "a", "value": 1, "type": "gauge", "tags": {"x": {"y": 1}}}"#, "tags.x must be a string, number or boolean, not an object"),
            (#"{"name": "a", "value": 1, "type": "gauge", "tags": {"x": [1]}}"#, "tags.x must be a string, number or boolean, not an array"),
            (#"{"name": "a", "value": 1, "type": "gauge", "tags": {"x": null}}"#, "tags.x must be a string, number or boolean, not null"),
            (#"{"name": "a", "value": 1, "type": "gauge", "tags": {"": 1}}"#, "tags has an empty key"),
            (#"{"name": "a", "value": 1, "type": "gauge", "tags": {"plugin_id": 3}}"#, "tags.plugin_id must be a non-empty string"),
            (#"{"name": "a", "value": 1, "type": "gauge", "timestamp": 1700000000000}"#, "timestamp must be unix seconds from 0"),
            (#"{"name": "a", "value": 1, "type": "gauge", "timestamp": "1700000000"}"#, "timestamp must be unix seconds (a number) or RFC 3339"),
            (#"{"metrics": []}"#, "metrics is empty"),
            (#"{"metrics": {}}"#, "metrics must be an array, not an object"),
            (#"{"metrics": [{"name": "a", "value": 1, "type": "gauge"}, 3]}"#, "metrics[1] must be an object, not a number"),
            (#"{"metrics": [{"name": "a", "value": 1, "type": "gauge"}, {"name": "b", "type": "gauge"}]}"#, "metrics[1].value is required"),
        ]
        for (body, expected) in cases {
            let message = refusal(body)
            #expect(message?.contains(expected) == true, "\(body) → \(message ?? "accepted"), expected \(expected)")
        }
    }

    @Test func refusesBodiesThatAreNotAnObject() {
        #expect(refusal("[1]")?.contains("the body must be a JSON object, not an array") == true)
        #expect(refusal("{\"name\": ")?.hasPrefix("the body is not valid JSON") == true)
        #expect(refusal("")?.contains("empty") == true)
    }

    @Test func contentTypeMustBeJSON() throws {
        try JSONBody.checkContentType("application/json")
        try JSONBody.checkContentType("Application/JSON; charset=utf-8")
        for type in [nil, "text/plain", "application/x-protobuf", "application/jsonx"] as [String?] {
            let error = try #require(throws: APIError.self) { try JSONBody.checkContentType(type) }
            #expect(error.status == .unsupportedMediaType)
            #expect(error.message.hasPrefix("Content-Type must be application/json"))
        }
    }

    @Test func aBatchIsBounded() {
        let one = #"{"name": "a", "value": 1, "type": "gauge"}"#
        let body = #"{"metrics": ["# + Array(repeating: one, count: TelemetryMetric.maxBatch + 1).joined(separator: ",") + "]}"
        #expect(refusal(body)?.contains("at most \(TelemetryMetric.maxBatch) per request") == true)
    }
}
