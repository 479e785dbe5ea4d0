import PyFlareWire
import Testing

// MARK: - Builders of small metric requests

/// A `Metric` whose `data` oneof is field `dataField` (5 gauge, 7 sum, 9 histogram, 10 exponential
/// histogram, 11 summary) holding `points`.
func metricMessage(_ name: String, dataField: UInt32 = 5, points: [[UInt8]], metadata: KeyValues = [], temporality: UInt64 = 0) -> [UInt8] {
    var encoder = ProtoRequestEncoder()
    var writer = ProtoWriter()
    if !name.isEmpty { writer.stringField(1, name) }
    writer.messageField(dataField) { data in
        for point in points { data.bytesField(1, point) }
        if temporality != 0 { data.varintField(2, temporality) }
    }
    for (key, value) in metadata { writer.bytesField(12, encoder.keyValue(key, value)) }
    return writer.bytes
}

/// A `NumberDataPoint` (also the shape of the other points' common fields: times, attributes).
func numberPoint(double: Double? = nil, int: Int64? = nil, flags: UInt64 = 0, attributes: KeyValues = [],
                 exemplars: [[UInt8]] = [], time: UInt64 = 1) -> [UInt8] {
    var encoder = ProtoRequestEncoder()
    var writer = ProtoWriter()
    writer.fixed64Field(3, time)
    if let double { writer.fixed64Field(4, double.bitPattern) }
    for exemplar in exemplars { writer.bytesField(5, exemplar) }
    if let int { writer.fixed64Field(6, UInt64(bitPattern: int)) }
    for (key, value) in attributes { writer.bytesField(7, encoder.keyValue(key, value)) }
    if flags != 0 { writer.varintField(8, flags) }
    return writer.bytes
}

/// An `Exemplar` with raw id bytes (so wrong lengths can be sent).
func exemplarMessage(traceID: [UInt8]? = nil, spanID: [UInt8]? = nil, double: Double = 1.5, attributes: KeyValues = []) -> [UInt8] {
    var encoder = ProtoRequestEncoder()
    var writer = ProtoWriter()
    writer.fixed64Field(2, 7)
    writer.fixed64Field(3, double.bitPattern)
    if let spanID { writer.bytesField(4, spanID) }
    if let traceID { writer.bytesField(5, traceID) }
    for (key, value) in attributes { writer.bytesField(7, encoder.keyValue(key, value)) }
    return writer.bytes
}

/// A gauge named `name` with one point carrying `tag` in an attribute, a nested value and an exemplar.
func richGauge(_ name: String, tag: String) -> [UInt8] {
    metricMessage(name, points: [numberPoint(double: 1, attributes: [("tag", .string(tag)), ("list", .array([.string(tag)]))],
                                             exemplars: [exemplarMessage(traceID: Array(1...16), spanID: Array(1...8), attributes: [("e", .string(tag))])])],
                  metadata: [("meta", .string(tag))])
}

func jsonMetricsRequest(_ metrics: String) -> [UInt8] {
    Array(#"{"resourceMetrics":[{"resource":{"attributes":[]},"scopeMetrics":[{"scope":{"name":"m"},"metrics":[\#(metrics)]}]}]}"#.utf8)
}

// MARK: - Tests

@Suite("Metric decoding")
struct MetricDecoderTests {
    @Test("metrics: the tricky values, spelled out")
    func spotChecks() throws {
        let batch = try MetricBatch.decodeProtobuf(Fixtures.bytes("metrics.pb"))
        try #require(batch.count == 20)
        #expect(batch.resources.count == 2 && batch.scopes.count == 2)
        let metrics = batch.metrics
        #expect(metrics.types == [.gauge, .sum, .sum, .histogram, .histogram, .exponentialHistogram, .exponentialHistogram, .summary, .gauge])
        #expect(metrics.temporalities == [0, 2, 1, 1, 2, 2, 1, 0, 0])
        #expect(metrics.monotonic == [false, true, false, false, false, false, false, false, false])
        // Gauge: double, int, NaN, and the NO_RECORDED_VALUE point kept without a value.
        #expect(batch.valueKinds.prefix(4) == [1, 2, 1, 0])
        #expect(Int64(bitPattern: batch.values[1]) == -7)
        #expect(Double(bitPattern: batch.values[2]).isNaN)
        #expect(batch.flags[3] == 1)
        #expect(batch.exemplars[0].count == 3)
        #expect(Hex.string(batch.exemplarTable.traceIDs[0]) == "5b8efff798038103d269b633813fc60c")
        #expect(batch.exemplarTable.valueKinds.prefix(3) == [1, 2, 0])
        // Sums: int64 extremes.
        #expect(Int64(bitPattern: batch.values[4]) == .max && Int64(bitPattern: batch.values[5]) == .min)
        // Histogram: a full point, one without sum/min/max, columns of other types neutral.
        let histogram = 10
        #expect(metrics.types[Int(batch.metricIndices[histogram])] == .histogram)
        #expect(batch.counts[histogram] == 10 && batch.sums[histogram] == 12.5 && batch.mins[histogram] == 0.001 && batch.maxes[histogram] == 4.75)
        #expect(batch.bucketCounts[histogram].indices.map { batch.uint64Values[$0] } == [1, 2, 3, 4, 0])
        #expect(batch.explicitBounds[histogram].indices.map { batch.doubleValues[$0] } == [0.005, 0.5, 1.0, 2.5])
        #expect(batch.sums[histogram + 1] == nil && batch.mins[histogram + 1] == nil && batch.counts[histogram + 1] == .max)
        #expect(batch.valueKinds[histogram] == 0 && batch.quantiles[histogram] == .empty && batch.positiveBucketCounts[histogram] == .empty)
        // Exponential histogram: negative scale and offset, a count past Int64.max.
        let exponential = 14
        #expect(batch.scales[exponential] == -3 && batch.positiveOffsets[exponential] == -2 && batch.negativeOffsets[exponential] == 7)
        #expect(batch.negativeBucketCounts[exponential].indices.map { batch.uint64Values[$0] } == [4, 9_223_372_036_854_775_809])
        #expect(batch.zeroThresholds[exponential] == 1e-9 && batch.zeroCounts[exponential] == 2)
        #expect(batch.bucketCounts[exponential] == .empty && batch.explicitBounds[exponential] == .empty)
        // Summary: quantiles with an infinity; a point without them still has a sum (0).
        let summary = 17
        #expect(batch.quantiles[summary].indices.map { batch.quantileValues.quantiles[$0] } == [0, 0.5, 0.99, 1])
        #expect(batch.quantileValues.values[Int(batch.quantiles[summary].start) + 2] == .infinity)
        #expect(batch.sums[summary] == 2500.5 && batch.sums[summary + 1] == 0 && batch.exemplars[summary] == .empty)
        // Metadata and the last resource's unsigned times.
        #expect(batch.keyValues(in: batch.attributes, metrics.metadata[0]).map(\.key) == ["prometheus.type", "meta.nested"])
        #expect(batch.startTimes[19] == 7_258_118_399_999_999_999)
    }

    @Test("A metric with an empty name refuses all its points; the rest line up and nothing is left behind")
    func emptyName() throws {
        let nameless = metricMessage("", points: [numberPoint(double: 1, attributes: [("x", .array([.int(1)]))],
                                                              exemplars: [exemplarMessage(attributes: [("e", .int(1))])]),
                                                  numberPoint(int: 2), numberPoint()],
                                     metadata: [("m", .keyValueList([("k", .int(1))]))])
        let batch = try MetricBatch.decodeProtobuf(exportRequest([richGauge("a", tag: "a"), nameless, richGauge("c", tag: "c")]))
        #expect(batch.count == 2)
        // Two points for the empty name, and the valueless third once (refused on its own first).
        #expect(batch.rejectedCount == 3)
        #expect(batch.rejectionMessage?.contains("no value") == true, "\(String(describing: batch.rejectionMessage))")
        let clean = try MetricBatch.decodeProtobuf(exportRequest([richGauge("a", tag: "a"), richGauge("c", tag: "c")]))
        expectSame(Describe.points(batch), Describe.points(clean))
        #expect(batch.metrics.count == 2)
        #expect(batch.attributes.count == clean.attributes.count)
        #expect(batch.nestedValues.count == clean.nestedValues.count)
        #expect(batch.exemplarTable.count == clean.exemplarTable.count)
        #expect(batch.exemplarAttributes.count == clean.exemplarAttributes.count)
        #expect(batch.pointAttributes == clean.pointAttributes && batch.metrics.metadata == clean.metrics.metadata)

        let onlyNameless = try MetricBatch.decodeProtobuf(exportRequest([metricMessage("", points: [numberPoint(double: 1)])]))
        #expect(onlyNameless.count == 0 && onlyNameless.rejectedCount == 1)
        #expect(onlyNameless.rejectionMessage?.contains("empty name") == true)
    }

    @Test("A number point without a value is refused, unless flagged NO_RECORDED_VALUE")
    func valuelessPoints() throws {
        let payload = exportRequest([
            metricMessage("g", points: [numberPoint(double: 1), numberPoint(attributes: [("gone", .array([.int(1)]))], exemplars: [exemplarMessage()]),
                                        numberPoint(flags: 1), numberPoint(int: 3)]),
            metricMessage("s", dataField: 7, points: [numberPoint(flags: 2)], temporality: 1),
        ])
        let batch = try MetricBatch.decodeProtobuf(payload)
        #expect(batch.count == 3)
        #expect(batch.rejectedCount == 2)
        #expect(batch.valueKinds == [1, 0, 2])
        #expect(batch.flags == [0, 1, 0])
        #expect(batch.exemplarTable.count == 0 && batch.nestedValues.count == 0)
        #expect(batch.metrics.count == 2 && batch.metrics.temporalities == [0, 1])
        // Distribution points always have a count, so they are never valueless.
        let histogram = try MetricBatch.decodeProtobuf(exportRequest([metricMessage("h", dataField: 9, points: [numberPoint()])]))
        #expect(histogram.count == 1 && histogram.rejectedCount == 0)
    }

    @Test("Exemplar ids of the wrong length are dropped from the exemplar only, with a warning a refusal replaces")
    func exemplarIDs() throws {
        let points = [numberPoint(double: 1, exemplars: [exemplarMessage(traceID: Array(1...15), spanID: Array(1...8)),
                                                         exemplarMessage(traceID: Array(1...16), spanID: Array(1...9))])]
        let batch = try MetricBatch.decodeProtobuf(exportRequest([metricMessage("g", points: points)]))
        #expect(batch.count == 1 && batch.rejectedCount == 0)
        #expect(batch.exemplarTable.count == 2)
        #expect(batch.exemplarTable.traceIDs[0] == .zero && batch.exemplarTable.spanIDs[0] == 0x0102_0304_0506_0708)
        #expect(batch.exemplarTable.traceIDs[1] != .zero && batch.exemplarTable.spanIDs[1] == 0)
        let warning = try #require(batch.rejectionMessage)
        #expect(warning.contains("exemplar at byte") && warning.contains("trace_id must be 16 bytes") && warning.contains("dropped"), "\(warning)")

        let withRefusal = try MetricBatch.decodeProtobuf(exportRequest([metricMessage("g", points: points), metricMessage("", points: [numberPoint(int: 1)])]))
        #expect(withRefusal.rejectedCount == 1)
        #expect(withRefusal.rejectionMessage?.contains("empty name") == true)

        let json = try MetricBatch.decodeJSON(jsonMetricsRequest(#"""
            {"name":"g","gauge":{"dataPoints":[{"asInt":"5","exemplars":[{"asInt":1,"traceId":"xyz","spanId":"eee19b7ec3c1b174"}]}]}}
            """#))
        #expect(json.count == 1 && json.rejectedCount == 0 && json.exemplarTable.spanIDs == [0xEEE1_9B7E_C3C1_B174])
        #expect(json.exemplarTable.traceIDs == [.zero] && json.rejectionMessage?.contains("traceId must be 32 hex digits") == true)
    }

    @Test("A metric without data is left out uncounted; of two data fields the last counts (in JSON: an error)")
    func dataOneof() throws {
        var noData = ProtoWriter()
        noData.stringField(1, "empty")
        noData.messageField(12) { $0.stringField(1, "meta") }
        var twoData = ProtoWriter()
        twoData.stringField(1, "two")
        twoData.messageField(5) { $0.bytesField(1, numberPoint(double: 1)); $0.bytesField(1, numberPoint(double: 2)) }
        twoData.messageField(7) { $0.bytesField(1, numberPoint(int: 3)); $0.varintField(2, 2); $0.varintField(3, 1) }
        let batch = try MetricBatch.decodeProtobuf(exportRequest([noData.bytes, twoData.bytes]))
        #expect(batch.metrics.count == 1 && batch.rejectedCount == 0 && batch.rejectionMessage == nil)
        #expect(batch.metrics.types == [.sum] && batch.metrics.temporalities == [2] && batch.metrics.monotonic == [true])
        #expect(batch.valueKinds == [2] && batch.attributes.count == 1)  // service.name; the dropped metric's metadata went too

        let both = jsonMetricsRequest(#"{"name":"x","gauge":{"dataPoints":[{"asDouble":1}]},"sum":{"dataPoints":[{"asInt":1}]}}"#)
        #expect(throws: WireError.self) { try MetricBatch.decodeJSON(both) }
        let nullData = try MetricBatch.decodeJSON(jsonMetricsRequest(#"{"name":"x","gauge":null,"sum":{"dataPoints":[{"asInt":1}]}}"#))
        #expect(nullData.count == 1 && nullData.metrics.types == [.sum])
        #expect(try MetricBatch.decodeJSON(jsonMetricsRequest(#"{"name":"x","unit":"s"}"#)).metrics.count == 0)
    }

    @Test("JSON scalars: int64 as strings or numbers, NaN and infinities as strings, enums by name, snake_case")
    func jsonScalars() throws {
        let batch = try MetricBatch.decodeJSON(jsonMetricsRequest(#"""
            {"name":"s","sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA","isMonotonic":true,"dataPoints":[
              {"asInt":-9223372036854775808,"timeUnixNano":12},{"asInt":"9223372036854775807"},{"asDouble":"NaN"},
              {"asDouble":"-Infinity"},{"asDouble":"1.5"},{"as_double":2e3,"time_unix_nano":"13"}]}},
            {"name":"h","histogram":{"aggregation_temporality":2,"data_points":[{"count":"18446744073709551615","sum":"Infinity",
              "bucketCounts":[1,"2"],"explicitBounds":["-Infinity",0.5],"min":-0.0,"max":"NaN","flags":1}]}},
            {"name":"e","exponentialHistogram":{"dataPoints":[{"scale":-20,"zeroThreshold":"1e-300","positive":{"offset":-2147483648,"bucketCounts":["3"]},"negative":null}]}}
            """#))
        try #require(batch.count == 8)
        #expect(batch.metrics.temporalities == [1, 2, 0] && batch.metrics.monotonic == [true, false, false])
        #expect(batch.valueKinds == [2, 2, 1, 1, 1, 1, 0, 0])
        #expect(Int64(bitPattern: batch.values[0]) == .min && Int64(bitPattern: batch.values[1]) == .max)
        #expect(Double(bitPattern: batch.values[2]).isNaN && Double(bitPattern: batch.values[3]) == -.infinity)
        #expect(Double(bitPattern: batch.values[4]) == 1.5 && Double(bitPattern: batch.values[5]) == 2000)
        #expect(batch.times.prefix(6) == [12, 0, 0, 0, 0, 13])
        #expect(batch.counts[6] == .max && batch.sums[6] == .infinity && batch.maxes[6]?.isNaN == true)
        #expect(batch.mins[6].map { $0 == 0 && $0.sign == .minus } == true)
        #expect(batch.bucketCounts[6].indices.map { batch.uint64Values[$0] } == [1, 2])
        #expect(batch.explicitBounds[6].indices.map { batch.doubleValues[$0] } == [-.infinity, 0.5])
        #expect(batch.scales[7] == -20 && batch.zeroThresholds[7] == 1e-300 && batch.positiveOffsets[7] == .min)
        #expect(batch.negativeBucketCounts[7] == .empty && batch.sums[7] == nil)
        for bad in [#"{"name":"e","exponentialHistogram":{"dataPoints":[{"scale":2147483648}]}}"#,
                    #"{"name":"s","sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_SOMETIMES","dataPoints":[]}}"#,
                    #"{"name":"g","gauge":{"dataPoints":[{"asInt":1.5}]}}"#,
                    #"{"name":"h","histogram":{"dataPoints":[{"bucketCounts":[-1]}]}}"#] {
            do {
                _ = try MetricBatch.decodeJSON(jsonMetricsRequest(bad))
                Issue.record("decoded: \(bad)")
            } catch {
                #expect(error.code == .invalidField || error.code == .invalidJSON, "\(bad): \(error)")
            }
        }
    }

    @Test("A packed fixed64 run whose length is not a multiple of 8 is truncated; a packed varint run cut short too")
    func malformedPacked() {
        var histogramPoint = ProtoWriter()
        histogramPoint.bytesField(6, [UInt8](repeating: 1, count: 12))
        var boundsPoint = ProtoWriter()
        boundsPoint.bytesField(7, [UInt8](repeating: 0, count: 7))
        var bucketsPoint = ProtoWriter()
        bucketsPoint.messageField(8) { $0.bytesField(2, [0x01, 0x80]) }  // the second varint never ends
        for (label, dataField, point) in [("bucket_counts", UInt32(9), histogramPoint.bytes), ("explicit_bounds", 9, boundsPoint.bytes),
                                          ("exponential buckets", 10, bucketsPoint.bytes)] {
            do {
                _ = try MetricBatch.decodeProtobuf(exportRequest([metricMessage("h", dataField: dataField, points: [point])]))
                Issue.record("\(label) decoded")
            } catch {
                #expect(error.code == .truncated, "\(label): \(error)")
            }
        }
    }

    @Test("sint32 scale and offsets use zigzag, reading only the low 32 bits")
    func zigzag() throws {
        var point = ProtoWriter()
        point.varintField(6, 5)  // zigzag 5 = -3
        point.messageField(8) { $0.varintField(1, 4_294_967_295); $0.varintField(2, 7) }  // zigzag 2^32-1 = Int32.min
        point.messageField(9) { $0.varintField(1, 0x1_0000_0002) }  // high bits beyond 32 ignored: 1
        let batch = try MetricBatch.decodeProtobuf(exportRequest([metricMessage("e", dataField: 10, points: [point.bytes])]))
        #expect(batch.scales == [-3] && batch.positiveOffsets == [.min] && batch.negativeOffsets == [1])
        #expect(batch.positiveBucketCounts[0].indices.map { batch.uint64Values[$0] } == [7])
    }
}
