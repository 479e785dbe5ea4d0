import Testing
@testable import PyFlareAPI
@testable import PyFlareIngest
import PyFlareWire

/// Telemetry becomes OTLP requests that the server's own decoders read back as sent.
struct TelemetryEncodingTests {
    func tags(_ pairs: [String: AttributeValue]) -> TelemetryTags {
        var tags = TelemetryTags()
        for (key, value) in pairs { tags[key] = value }
        return tags
    }

    @Test func metricsBecomeDeltaSumsGaugesAndOneObservationHistograms() throws {
        let metrics = [
            TelemetryMetric(name: "calls", kind: .counter, value: 3, tags: tags(["plugin_id": .string("p1"), "route": .string("/x")]),
                            time: 10, unit: "{call}"),
            TelemetryMetric(name: "queue", kind: .gauge, value: -2.5, time: 20),
            TelemetryMetric(name: "latency", kind: .histogram, value: 42, tags: tags(["plugin_id": .string("p1")]), time: 30),
        ]
        let batch = try MetricBatch.decodeProtobuf(TelemetryMetric.exportRequest(metrics, defaultService: "default-svc"))
        #expect(batch.rejectedCount == 0)
        #expect(batch.count == 3)
        // Grouped by service, p1 first (its first metric comes first), in request order within.
        #expect(batch.resourceServices == ["p1", "default-svc"])
        let names = (0..<batch.count).map { batch.string(batch.metrics.names[Int(batch.metricIndices[$0])]) }
        #expect(names == ["calls", "latency", "queue"])

        let calls = 0, latency = 1, queue = 2
        let callsMetric = Int(batch.metricIndices[calls])
        #expect(batch.metrics.types[callsMetric] == .sum)
        #expect(batch.metrics.temporalities[callsMetric] == 1)
        #expect(batch.metrics.monotonic[callsMetric])
        #expect(batch.string(batch.metrics.units[callsMetric]) == "{call}")
        #expect(batch.valueKinds[calls] == 1)
        #expect(Double(bitPattern: batch.values[calls]) == 3)
        #expect(batch.times[calls] == 10)
        #expect(batch.startTimes[calls] == 10)
        #expect(batch.keyValues(in: batch.attributes, batch.pointAttributes[calls]).map(\.key) == ["plugin_id", "route"])

        #expect(batch.metrics.types[Int(batch.metricIndices[queue])] == .gauge)
        #expect(Double(bitPattern: batch.values[queue]) == -2.5)

        let histogram = Int(batch.metricIndices[latency])
        #expect(batch.metrics.types[histogram] == .histogram)
        #expect(batch.metrics.temporalities[histogram] == 1)
        #expect(batch.counts[latency] == 1)
        #expect(batch.sums[latency] == 42)
        #expect(batch.mins[latency] == 42)
        #expect(batch.maxes[latency] == 42)
        let bounds = Array(batch.doubleValues[batch.explicitBounds[latency].indices])
        #expect(bounds == TelemetryMetric.histogramBounds)
        let counts = Array(batch.uint64Values[batch.bucketCounts[latency].indices])
        #expect(counts.count == bounds.count + 1)
        #expect(counts.reduce(0, +) == 1)
        #expect(counts[4] == 1, "42 is in (25, 50]")
    }

    @Test func bucketsIncludeTheirUpperBound() {
        #expect(TelemetryMetric.bucketCounts(-1).firstIndex(of: 1) == 0)
        #expect(TelemetryMetric.bucketCounts(0).firstIndex(of: 1) == 0)
        #expect(TelemetryMetric.bucketCounts(5).firstIndex(of: 1) == 1)
        #expect(TelemetryMetric.bucketCounts(5.01).firstIndex(of: 1) == 2)
        #expect(TelemetryMetric.bucketCounts(1e9).firstIndex(of: 1) == TelemetryMetric.histogramBounds.count)
    }

    @Test func spansKeepIdsTagsLogsAndStatus() throws {
        let trace = TraceID(high: 0x0102_0304_0506_0708, low: 0x090A_0B0C_0D0E_0F10)
        var root = TelemetrySpan(traceID: trace, spanID: 0xAA, parentSpanID: 0, name: "run", startTime: 100,
                                 tags: tags(["plugin_id": .string("p1"), "items": .int(3)]))
        root.events.append(.init(time: 150, message: "step 1", level: "warning", tags: tags(["attempt": .int(2)])))
        root.finish(.error, message: "boom", at: 200)
        var child = TelemetrySpan(traceID: trace, spanID: 0xBB, parentSpanID: 0xAA, name: "child", startTime: 120, tags: TelemetryTags())
        child.finish(.ok, message: "", at: 90)

        let batch = try SpanBatch.decodeProtobuf(TelemetrySpan.exportRequest([root, child], defaultService: "default-svc"))
        #expect(batch.count == 2)
        #expect(batch.resourceServices == ["p1", "default-svc"])
        #expect(batch.traceIDs == [trace, trace])
        #expect(batch.spanIDs == [0xAA, 0xBB])
        #expect(batch.parentSpanIDs == [0, 0xAA])
        #expect(batch.names.map { batch.string($0) } == ["run", "child"])
        #expect(batch.startTimes == [100, 120])
        #expect(batch.endTimes == [200, 120], "an end before the start is moved to the start")
        #expect(batch.statusCodes == [2, 1])
        #expect(batch.string(batch.statusMessages[0]) == "boom")
        #expect(batch.kinds == [1, 1])
        let attributes = batch.keyValues(in: batch.attributes, batch.spanAttributes[0])
        #expect(attributes.map(\.key) == ["items", "plugin_id"])
        #expect(attributes[0].value == .int(3))

        let events = batch.spanEvents[0]
        #expect(events.count == 1)
        let event = Int(events.start)
        #expect(batch.events.times[event] == 150)
        #expect(batch.string(batch.events.names[event]) == "log")
        let eventAttributes = batch.keyValues(in: batch.eventAttributes, batch.events.attributes[event])
        #expect(eventAttributes.map(\.key) == ["message", "level", "attempt"])
        #expect(eventAttributes[0].value == .string("step 1"))
        #expect(eventAttributes[1].value == .string("warning"))
    }
}

extension OTLPBatch {
    /// `service.name` of each resource, in order.
    var resourceServices: [String] {
        (0..<resources.count).map { resource in
            keyValues(in: attributes, resources.attributes[resource]).first { $0.key == "service.name" }.map {
                if case .string(let text) = $0.value { text } else { "" }
            } ?? ""
        }
    }
}
