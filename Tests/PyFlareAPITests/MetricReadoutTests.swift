import Testing
@testable import PyFlareAPI
@testable import PyFlareIngest
import PyFlareWire

/// What `GET /api/v1/telemetry/metrics` computes from stored points.
struct MetricReadoutTests {
    func batch(_ metrics: [TelemetryMetric]) throws -> MetricBatch {
        try MetricBatch.decodeProtobuf(TelemetryMetric.exportRequest(metrics, defaultService: "svc"))
    }

    @Test func globMatchesStarAndQuestionMark() {
        #expect(Glob("plugin.my_plugin.*").matches("plugin.my_plugin.calls"))
        #expect(Glob("plugin.my_plugin.*").matches("plugin.my_plugin."))
        #expect(!Glob("plugin.my_plugin.*").matches("plugin.other.calls"))
        #expect(Glob("*").matches(""))
        #expect(Glob("a?c").matches("abc"))
        #expect(!Glob("a?c").matches("ac"))
        #expect(!Glob("a?c").matches("abbc"))
        #expect(Glob("*.calls").matches("x.y.calls"))
        #expect(!Glob("*.calls").matches("x.y.calls2"))
        #expect(Glob("a*b*c").matches("aXbYbZc"))
        #expect(!Glob("a*b*c").matches("aXbYbZ"))
        #expect(Glob("exact").matches("exact"))
        #expect(!Glob("exact").matches("exactly"))
        #expect(Glob("exact").isLiteral)
        #expect(!Glob("ex*").isLiteral)
        #expect(Glob("é?").matches("éü"))
    }

    @Test func countersAndGaugesAggregateTheirPoints() throws {
        let points = [5.0, 1, 3, 2].enumerated().map { index, value in
            TelemetryMetric(name: "calls", kind: .counter, value: value, time: UInt64(100 + index))
        }
        let other = TelemetryMetric(name: "other", kind: .counter, value: 1000, time: 101)
        let readout = MetricReadout(name: "calls", batches: [try batch(points + [other])], since: nil, until: nil)
        #expect(readout.values.map(\.value) == [5, 1, 3, 2])
        #expect(!readout.isDistribution)
        let aggregates = try #require(readout.aggregates)
        #expect(aggregates == .init(count: 4, sum: 11, min: 1, max: 5, avg: 2.75, last: 2))
    }

    @Test func sinceIsInclusiveAndUntilExclusive() throws {
        let points = (0..<5).map { TelemetryMetric(name: "g", kind: .gauge, value: Double($0), time: UInt64(100 + $0)) }
        let readout = MetricReadout(name: "g", batches: [try batch(points)], since: 101, until: 104)
        #expect(readout.values.map(\.time) == [101, 102, 103])
        #expect(MetricReadout(name: "g", batches: [try batch(points)], since: 200, until: nil).aggregates == nil)
    }

    @Test func valuesComeInTimeOrderAcrossBatches() throws {
        let late = try batch([TelemetryMetric(name: "g", kind: .gauge, value: 2, time: 300)])
        let early = try batch([TelemetryMetric(name: "g", kind: .gauge, value: 1, time: 100)])
        let readout = MetricReadout(name: "g", batches: [late, early], since: nil, until: nil)
        #expect(readout.values.map(\.value) == [1, 2])
        #expect(readout.aggregates?.last == 2)
    }

    @Test func histogramsGetNearestRankPercentiles() throws {
        // 1…100 shuffled: p50 = 50, p95 = 95, p99 = 99.
        var generator = SystemRandomNumberGenerator()
        let observations = (1...100).map(Double.init).shuffled(using: &generator)
        let points = observations.enumerated().map { index, value in
            TelemetryMetric(name: "latency", kind: .histogram, value: value, time: UInt64(index))
        }
        let readout = MetricReadout(name: "latency", batches: [try batch(points)], since: nil, until: nil)
        #expect(readout.isDistribution)
        let aggregates = try #require(readout.aggregates)
        #expect(aggregates.count == 100)
        #expect(aggregates.sum == 5050)
        #expect(aggregates.min == 1)
        #expect(aggregates.max == 100)
        #expect(aggregates.avg == 50.5)
        #expect(aggregates.last == observations.last)
        #expect(aggregates.p50 == 50)
        #expect(aggregates.p95 == 95)
        #expect(aggregates.p99 == 99)
    }

    @Test func percentilesOfFewValues() {
        let values: [(value: Double, weight: UInt64)] = [(1, 1), (2, 1), (3, 1), (4, 1)]
        #expect(MetricReadout.percentile(0.5, of: values, total: 4) == 2)
        #expect(MetricReadout.percentile(0.95, of: values, total: 4) == 4)
        #expect(MetricReadout.percentile(0.99, of: [(7, 1)], total: 1) == 7)
        // A point holding several measurements weighs as many.
        #expect(MetricReadout.percentile(0.5, of: [(1, 1), (10, 3)], total: 4) == 10)
        #expect(MetricReadout.percentile(0.5, of: [], total: 0) == nil)
    }
}
