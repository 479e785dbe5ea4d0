import Foundation
import PyFlareWire
import Testing
@testable import PyFlareAPI
@testable import PyFlareAnalytics

/// Downsampling of metric points: counter increases across resets, delta sums, gauges,
/// histogram quantiles (explicit and exponential buckets) and the merging of series.
@Suite struct MetricSeriesTests {
    static let second: UInt64 = 1_000_000_000
    static let base: UInt64 = 1_800_000_000 * second

    /// One OTLP/JSON request with one metric of `data` (the metric's type key and its body).
    func batch(_ name: String, _ data: String) throws -> MetricBatch {
        let json = """
            {"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
             "scopeMetrics":[{"metrics":[{"name":"\(name)",\(data)}]}]}]}
            """
        return try MetricBatch.decodeJSON(Array(json.utf8))
    }

    func numberPoints(_ points: [(start: UInt64, time: UInt64, value: Double, model: String)]) -> String {
        points.map { point in
            """
            {"startTimeUnixNano":"\(point.start)","timeUnixNano":"\(point.time)","asDouble":\(point.value),
             "attributes":[{"key":"model","value":{"stringValue":"\(point.model)"}}]}
            """
        }.joined(separator: ",")
    }

    /// Every series of `batches` in one-minute buckets from `base`, under `aggregation`.
    func values(_ batches: [MetricBatch], _ aggregation: MetricSeries.Aggregation, type: MetricType,
                windowStart: UInt64 = base, groupAll: Bool = false) -> [String: [Double]] {
        let name = batches[0].string(batches[0].metrics.names[0])
        let (series, _) = MetricSeries.select(name, MetricSeries.Filter(since: windowStart), in: batches)
        let downsampled = MetricSeries.downsampled(series, batches: batches, type: type, aggregation: aggregation, step: 60 * Self.second,
                                                   origin: Self.base, windowStart: windowStart, groupBy: groupAll ? [] : nil)
        return Dictionary(uniqueKeysWithValues: downsampled.map { (groupAll ? "all" : $0.head.key, $0.points.map(\.value)) })
    }

    @Test func cumulativeCountersCountTheirIncreaseAcrossResets() throws {
        let s = Self.second, b = Self.base
        // Started inside the window: 5, then 12, a restart (new start time) at 3, then 4; a
        // second series that started before the window: its first point is the baseline.
        let points = numberPoints([
            (b + 1 * s, b + 10 * s, 5, "a"), (b + 1 * s, b + 70 * s, 12, "a"),
            (b + 100 * s, b + 110 * s, 3, "a"), (b + 100 * s, b + 115 * s, 4, "a"),
            (b - 500 * s, b + 10 * s, 1000, "b"), (b - 500 * s, b + 70 * s, 1010, "b"),
            // a drop without a new start time is a reset too
            (b - 500 * s, b + 80 * s, 2, "b"),
        ])
        let counter = try batch("requests", #""sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[\#(points)]}"#)
        let sums = values([counter], .sum, type: .sum)
        // a: 5 (born in the window), then 7 + 3 (restart) + 1; b: baseline, then 10 + 2 (reset)
        #expect(sums.values.sorted { $0[0] < $1[0] } == [[0, 12], [5, 11]])
        #expect(values([counter], .sum, type: .sum, groupAll: true) == ["all": [5, 23]])
        #expect(values([counter], .rate, type: .sum, groupAll: true) == ["all": [5.0 / 60, 23.0 / 60]])
        #expect(values([counter], .last, type: .sum, groupAll: true) == ["all": [1005, 6]])
        #expect(values([counter], .max, type: .sum, groupAll: true) == ["all": [1000, 1010]])
    }

    @Test func deltaSumsAndGauges() throws {
        let s = Self.second, b = Self.base
        let points = numberPoints([(b, b + 10 * s, 2, "a"), (b + 10 * s, b + 20 * s, 3, "a"), (b + 60 * s, b + 70 * s, 4, "b")])
        let delta = try batch("tokens", #""sum":{"aggregationTemporality":1,"isMonotonic":true,"dataPoints":[\#(points)]}"#)
        #expect(values([delta], .sum, type: .sum, groupAll: true) == ["all": [5, 4]])
        #expect(values([delta], .count, type: .sum, groupAll: true) == ["all": [2, 1]])
        let gauge = try batch("depth", #""gauge":{"dataPoints":[\#(points)]}"#)
        #expect(values([gauge], .avg, type: .gauge, groupAll: true) == ["all": [2.5, 4]])
        #expect(values([gauge], .min, type: .gauge, groupAll: true) == ["all": [2, 4]])
        #expect(values([gauge], .last, type: .gauge, groupAll: true) == ["all": [3, 4]])
        #expect(MetricSeries.check(.rate, for: .gauge) != nil)
        #expect(MetricSeries.check(.p95, for: .sum) != nil)
        #expect(MetricSeries.check(.p95, for: .histogram) == nil)
    }

    @Test func histogramQuantilesInterpolateInsideTheirBucket() throws {
        let b = Self.base, s = Self.second
        // 100 measurements: 10 in (0, 10], 80 in (10, 20], 10 in (20, 40]; delta points.
        let histogram = try batch("latency", """
            "histogram":{"aggregationTemporality":1,"dataPoints":[
              {"startTimeUnixNano":"\(b)","timeUnixNano":"\(b + 5 * s)","count":"60","sum":900,"min":1,"max":35,
               "bucketCounts":["5","50","5","0"],"explicitBounds":[10,20,40]},
              {"startTimeUnixNano":"\(b + 5 * s)","timeUnixNano":"\(b + 9 * s)","count":"40","sum":600,"min":2,"max":30,
               "bucketCounts":["5","30","5","0"],"explicitBounds":[10,20,40]}]}
            """)
        #expect(values([histogram], .count, type: .histogram) .values.first == [100])
        #expect(values([histogram], .avg, type: .histogram).values.first == [15])
        #expect(values([histogram], .min, type: .histogram).values.first == [1])
        #expect(values([histogram], .max, type: .histogram).values.first == [35])
        // p50: the 50th measurement is the 40th of the 80 in (10, 20]: 10 + 10 * 40/80
        #expect(values([histogram], .p50, type: .histogram).values.first == [15])
        // p95: the 95th is the 5th of the 10 in (20, 40]: 20 + 20 * 5/10
        #expect(values([histogram], .p95, type: .histogram).values.first == [30])
    }

    @Test func exponentialHistogramBucketsAreReadAtTheirScale() throws {
        let b = Self.base, s = Self.second
        // scale 0: bucket i holds (2^i, 2^(i+1)]; offset 2 → buckets (4, 8] and (8, 16].
        let histogram = try batch("size", """
            "exponentialHistogram":{"aggregationTemporality":1,"dataPoints":[
              {"startTimeUnixNano":"\(b)","timeUnixNano":"\(b + 5 * s)","count":"12","sum":100,"scale":0,
               "zeroCount":"2","positive":{"offset":2,"bucketCounts":["5","5"]}}]}
            """)
        let median = try #require(values([histogram], .p50, type: .exponentialHistogram).values.first?.first)
        // the 6th of 12: 2 in the zero bucket, then the 4th of the 5 in (4, 8]: 4 + 4 * 4/5
        #expect(abs(median - 7.2) < 1e-9, "\(median)")
        let p99 = try #require(values([histogram], .p99, type: .exponentialHistogram).values.first?.first)
        #expect(p99 > 8 && p99 <= 16, "\(p99)")
    }

    @Test func durationsAndRequestsAreChecked() throws {
        #expect(MetricRoutes.duration("30s") == 30 * Self.second)
        #expect(MetricRoutes.duration("250ms") == 250_000_000)
        #expect(MetricRoutes.duration("5m") == 300 * Self.second)
        #expect(MetricRoutes.duration("1.5h") == 5400 * Self.second)
        #expect(MetricRoutes.duration("2d") == 172_800 * Self.second)
        #expect(MetricRoutes.duration("15") == 15 * Self.second)
        for bad in ["", "s", "-1m", "0", "1y", "nan"] { #expect(MetricRoutes.duration(bad) == nil, "\(bad)") }
    }
}
