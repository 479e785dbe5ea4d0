/// Decoded metrics as a struct of arrays with one element per DATA POINT, the unit that
/// storage and queries work on; the `Metric` each point belongs to is a row of ``metrics``.
///
/// Built like ``SpanBatch``: strings are ``StringRef``s into ``bytes`` (for protobuf input, the
/// request body itself); resource, scope, metric-metadata and point attributes share
/// ``attributes``. Every per-point array has exactly ``count`` elements whatever the metric
/// type: columns that do not apply to a point's type hold neutral values (0, nil, an empty
/// ``RowRange``), so a point is read at one index without checking the type first.
///
/// Refusals (counted in ``rejectedCount``, the rest of the request kept):
/// - every point of a metric with an empty `name`, which cannot be stored or queried;
/// - a gauge or sum point with neither `as_double` nor `as_int`, unless its flags carry
///   `DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK` (1), which marks a deliberately empty point
///   (kept, with ``valueKinds`` 0).
///
/// An exemplar whose `trace_id` is not 16 bytes or `span_id` not 8 bytes (in JSON: 32 and 16
/// hex digits) loses that id only (it reads as zero): the exemplar and its point are kept,
/// since the measurement is sound and only its link to a trace is not. The first such case
/// is reported in ``rejectionMessage`` as a warning when nothing was refused.
///
/// A `Metric` with none of gauge, sum, histogram, exponential histogram or summary has no
/// points; it is left out without being counted, as it holds nothing to refuse.
public struct MetricBatch: OTLPBatch, Sendable {
    /// The arena every ``StringRef`` of this batch points into.
    public var bytes: [UInt8]
    /// Where the request was consumed from (the Kafka receiver); empty for OTLP.
    public var sourceOffsets: [SourceOffset] = []

    public var resources = ResourceTable()
    public var scopes = ScopeTable()
    /// One row per `Metric` message with a name and a data field (even if each of its points
    /// was refused), which the points refer to instead of repeating its name, unit and type.
    public var metrics = MetricTable()

    // Columns of every point.
    /// Index into ``metrics``.
    public var metricIndices: [UInt32] = []
    /// `start_time_unix_nano`: where a cumulative or delta series' interval began (0 for gauges
    /// that do not say).
    public var startTimes: [UInt64] = []
    /// `time_unix_nano`: when the point was measured.
    public var times: [UInt64] = []
    /// Each point's rows in ``attributes``.
    public var pointAttributes: [RowRange] = []
    /// `DataPointFlags`: bit 0 is "no recorded value".
    public var flags: [UInt32] = []
    /// Each point's rows in ``exemplarTable``.
    public var exemplars: [RowRange] = []

    // Gauge and sum points.
    /// 0 no value, 1 double, 2 int: how to read ``values``.
    public var valueKinds: [UInt8] = []
    /// The `Double` bit pattern (kind 1) or the `Int64` bit pattern (kind 2).
    public var values: [UInt64] = []

    // Histogram, exponential histogram and summary points.
    /// The number of measurements the point aggregates.
    public var counts: [UInt64] = []
    /// nil when a histogram point did not carry a sum (always set for summaries, where
    /// proto3 gives the field no presence).
    public var sums: [Double?] = []
    /// Histogram and exponential histogram extremes; nil when not sent (optional in the proto).
    public var mins: [Double?] = []
    public var maxes: [Double?] = []

    // Histogram points.
    /// Each point's rows in ``uint64Values``.
    public var bucketCounts: [RowRange] = []
    /// Each point's rows in ``doubleValues``.
    public var explicitBounds: [RowRange] = []

    // Exponential histogram points.
    /// The resolution: bucket boundaries are powers of 2^(2^-scale).
    public var scales: [Int32] = []
    /// Measurements too close to zero for any bucket (within ``zeroThresholds``).
    public var zeroCounts: [UInt64] = []
    public var zeroThresholds: [Double] = []
    /// The bucket index of the first positive count, so leading empty buckets need not be sent.
    public var positiveOffsets: [Int32] = []
    /// Each point's positive bucket counts in ``uint64Values``.
    public var positiveBucketCounts: [RowRange] = []
    /// The bucket index of the first negative count.
    public var negativeOffsets: [Int32] = []
    /// Each point's negative bucket counts in ``uint64Values``.
    public var negativeBucketCounts: [RowRange] = []

    // Summary points.
    /// Each point's rows in ``quantileValues``.
    public var quantiles: [RowRange] = []

    /// Bucket counts of histograms and exponential histograms.
    public var uint64Values: [UInt64] = []
    /// Explicit bounds of histograms.
    public var doubleValues: [Double] = []
    /// The quantiles of summaries, each point's run given by ``quantiles``.
    public var quantileValues = QuantileTable()
    /// The exemplars of every point, each point's run given by ``exemplars``.
    public var exemplarTable = ExemplarTable()

    /// Attributes of resources, scopes, metric metadata and points.
    public var attributes = AttributeTable()
    /// Filtered attributes of exemplars, kept apart so a point's attribute rows stay contiguous.
    public var exemplarAttributes = AttributeTable()
    /// Elements of array and key/value-list values, from any of the attribute tables.
    public var nestedValues = AttributeTable()

    /// Points refused one by one (see above); the others were kept.
    public var rejectedCount = 0
    /// Why the first refused point was refused, for the response's `partial_success`; when
    /// none was but an exemplar id was dropped, a warning saying so (OTLP lets a response carry
    /// an error message with zero rejected points as a warning).
    public var rejectionMessage: String?
    /// True while ``rejectionMessage`` holds only a warning, which a refusal replaces.
    var rejectionMessageIsWarning = false

    /// An empty batch on `bytes`; the decoders build batches, this is for builders and tests.
    public init(bytes: [UInt8] = []) {
        self.bytes = bytes
    }

    /// The number of data points kept (refused ones are not in the columns).
    @inlinable public var count: Int { metricIndices.count }
    @inlinable public var isEmpty: Bool { metricIndices.isEmpty }

    /// The value of gauge or sum point `row` as a `Double`; nil when it has none (flagged
    /// "no recorded value", or a point of another type).
    public func number(at row: Int) -> Double? {
        switch valueKinds[row] {
        case 1: Double(bitPattern: values[row])
        case 2: Double(Int64(bitPattern: values[row]))
        default: nil
        }
    }
}

/// The kind of data a `Metric` carries (the `data` oneof), which says which point columns apply.
public enum MetricType: UInt8, Sendable {
    case gauge = 1, sum = 2, histogram = 3, exponentialHistogram = 4, summary = 5

    /// The name the index, the API and the JSON-lines exporter use.
    public var name: String {
        switch self {
        case .gauge: "gauge"
        case .sum: "sum"
        case .histogram: "histogram"
        case .exponentialHistogram: "exponential_histogram"
        case .summary: "summary"
        }
    }

    /// The type of a ``name``.
    public init?(name: String) {
        switch name {
        case "gauge": self = .gauge
        case "sum": self = .sum
        case "histogram": self = .histogram
        case "exponential_histogram": self = .exponentialHistogram
        case "summary": self = .summary
        default: return nil
        }
    }
}

/// One row per `Metric` message: what the points of a time series have in common.
public struct MetricTable: Sendable {
    /// Never empty: a metric without a name has its points refused.
    public var names: [StringRef] = []
    public var descriptions: [StringRef] = []
    /// UCUM units ("s", "By", "{request}"), needed to compare series of the same name.
    public var units: [StringRef] = []
    /// Which of the point columns hold this metric's data.
    public var types: [MetricType] = []
    /// `AggregationTemporality`: 0 unspecified, 1 delta, 2 cumulative; 0 for gauges and summaries,
    /// which have none.
    public var temporalities: [UInt8] = []
    /// `Sum.is_monotonic`; false for the other types.
    public var monotonic: [Bool] = []
    /// Index into the batch's ``OTLPBatch/scopes``.
    public var scopeIndices: [UInt32] = []
    /// `Metric.metadata`: each metric's rows in the batch's ``OTLPBatch/attributes``.
    public var metadata: [RowRange] = []

    public init() {}
    @inlinable public var count: Int { names.count }
}

/// `SummaryDataPoint.ValueAtQuantile` rows as two parallel arrays, like every other table, so a
/// query over values reads one contiguous column.
public struct QuantileTable: Sendable {
    /// The quantile, 0 to 1 (0 is the minimum, 1 the maximum).
    public var quantiles: [Double] = []
    /// The value at that quantile.
    public var values: [Double] = []

    public init() {}
    @inlinable public var count: Int { quantiles.count }
}

/// Exemplars of every point: sample measurements that link a point to a trace.
public struct ExemplarTable: Sendable {
    /// When the sample was measured.
    public var times: [UInt64] = []
    /// 0 no value, 1 double, 2 int, as in ``MetricBatch/valueKinds``.
    public var valueKinds: [UInt8] = []
    public var values: [UInt64] = []
    /// ``TraceID/zero`` when absent (or dropped for a wrong length).
    public var traceIDs: [TraceID] = []
    /// 0 when absent (or dropped for a wrong length).
    public var spanIDs: [UInt64] = []
    /// Each exemplar's rows in ``MetricBatch/exemplarAttributes``.
    public var filteredAttributes: [RowRange] = []

    public init() {}
    @inlinable public var count: Int { times.count }
}

/// The fields of one data point as a decoder collects them, before the point is appended.
/// Defaults are the neutral values of columns that do not apply to a type.
struct PointFields {
    var startTime: UInt64 = 0
    var time: UInt64 = 0
    var flags: UInt32 = 0
    var number = NumberValue()
    var count: UInt64 = 0
    var sum: Double?
    var min: Double?
    var max: Double?
    var scale: Int32 = 0
    var zeroCount: UInt64 = 0
    var zeroThreshold: Double = 0
    var positiveOffset: Int32 = 0
    var positiveBucketCounts = RowRange.empty
    var negativeOffset: Int32 = 0
    var negativeBucketCounts = RowRange.empty

    /// Summaries always have a sum (proto3 without presence): 0 until one is read.
    init(type: MetricType) {
        if type == .summary { sum = 0 }
    }
}

/// The `value` oneof of a number point or an exemplar: `as_double` or `as_int`, last one wins.
struct NumberValue {
    /// 0 none, 1 double, 2 int.
    var kind: UInt8 = 0
    var bits: UInt64 = 0

    mutating func setDouble(_ double: Double) {
        kind = 1
        bits = double.bitPattern
    }

    mutating func setInt(_ int: Int64) {
        kind = 2
        bits = UInt64(bitPattern: int)
    }
}

/// One exemplar as a decoder collects it.
struct ExemplarFields {
    var time: UInt64 = 0
    var number = NumberValue()
    var traceID = TraceID.zero
    var spanID: UInt64 = 0
    var invalidTraceID: String?
    var invalidSpanID: String?
}

/// Helpers both metric decoders use while they append rows.
extension MetricBatch {
    /// Table sizes before a metric or a point was decoded, to drop its rows if it is refused.
    struct RollbackPoint {
        var metrics, points, attributes, nestedValues, uint64Values, doubleValues, quantiles, exemplars, exemplarAttributes: Int
    }

    func rollbackPoint() -> RollbackPoint {
        RollbackPoint(metrics: metrics.count, points: count, attributes: attributes.count, nestedValues: nestedValues.count,
                      uint64Values: uint64Values.count, doubleValues: doubleValues.count, quantiles: quantileValues.count,
                      exemplars: exemplarTable.count, exemplarAttributes: exemplarAttributes.count)
    }

    mutating func rollBack(to point: RollbackPoint) {
        metrics.truncate(to: point.metrics)
        truncatePoints(to: point.points)
        attributes.truncate(to: point.attributes)
        nestedValues.truncate(to: point.nestedValues)
        uint64Values.truncate(to: point.uint64Values)
        doubleValues.truncate(to: point.doubleValues)
        quantileValues.quantiles.truncate(to: point.quantiles)
        quantileValues.values.truncate(to: point.quantiles)
        exemplarTable.truncate(to: point.exemplars)
        exemplarAttributes.truncate(to: point.exemplarAttributes)
    }

    /// Adds a metric row of `type` (its name and the rest filled in as they are read); returns its index.
    mutating func beginMetric(scopeIndex: Int, type: MetricType = .gauge) -> Int {
        metrics.names.append(.empty)
        metrics.descriptions.append(.empty)
        metrics.units.append(.empty)
        metrics.types.append(type)
        metrics.temporalities.append(0)
        metrics.monotonic.append(false)
        metrics.scopeIndices.append(UInt32(scopeIndex))
        metrics.metadata.append(.empty)
        return metrics.count - 1
    }

    /// Ends the metric begun at `rollback`: drops it if it had no data, refuses its points if
    /// it has no name.
    mutating func endMetric(_ index: Int, hasData: Bool, since rollback: RollbackPoint, at offset: Int) {
        if !hasData {
            rollBack(to: rollback)
        } else if metrics.names[index].isEmpty {
            let points = count - rollback.points
            rollBack(to: rollback)
            if points > 0 { reject(points, "metric at byte \(offset) has an empty name; its \(points) points were refused") }
        }
    }

    /// Appends a decoded point of metric `metricIndex` whose rows start at `rollback`; refuses
    /// it instead (dropping its rows) if it is a number point with no value.
    mutating func appendPoint(_ point: PointFields, metricIndex: Int, since rollback: RollbackPoint, at offset: Int) {
        let type = metrics.types[metricIndex]
        if type == .gauge || type == .sum, point.number.kind == 0, point.flags & 1 == 0 {
            rollBack(to: rollback)
            reject(1, "data point at byte \(offset) has no value and is not flagged NO_RECORDED_VALUE")
            return
        }
        if !UnixTime.isStorable(point.time) || !UnixTime.isStorable(point.startTime)
            || exemplarTable.times[rollback.exemplars...].contains(where: { !UnixTime.isStorable($0) }) {
            rollBack(to: rollback)
            reject(1, "data point at byte \(offset) has a time after \(UnixTime.latestText), the latest PyFlare stores")
            return
        }
        metricIndices.append(UInt32(metricIndex))
        startTimes.append(point.startTime)
        times.append(point.time)
        pointAttributes.append(attributeRows(since: rollback.attributes))
        flags.append(point.flags)
        exemplars.append(Self.rows(from: rollback.exemplars, to: exemplarTable.count))
        valueKinds.append(point.number.kind)
        values.append(point.number.bits)
        counts.append(point.count)
        sums.append(point.sum)
        mins.append(point.min)
        maxes.append(point.max)
        // Only a histogram point adds to these tables, so their new rows are its own.
        bucketCounts.append(type == .histogram ? Self.rows(from: rollback.uint64Values, to: uint64Values.count) : .empty)
        explicitBounds.append(Self.rows(from: rollback.doubleValues, to: doubleValues.count))
        scales.append(point.scale)
        zeroCounts.append(point.zeroCount)
        zeroThresholds.append(point.zeroThreshold)
        positiveOffsets.append(point.positiveOffset)
        positiveBucketCounts.append(point.positiveBucketCounts)
        negativeOffsets.append(point.negativeOffset)
        negativeBucketCounts.append(point.negativeBucketCounts)
        quantiles.append(Self.rows(from: rollback.quantiles, to: quantileValues.count))
    }

    /// The rows `start..<end` of a table; ``RowRange/empty`` when there are none, the neutral
    /// value of a column that does not apply.
    private static func rows(from start: Int, to end: Int) -> RowRange {
        end > start ? RowRange(start: start, count: end - start) : .empty
    }

    private mutating func truncatePoints(to count: Int) {
        metricIndices.truncate(to: count)
        startTimes.truncate(to: count)
        times.truncate(to: count)
        pointAttributes.truncate(to: count)
        flags.truncate(to: count)
        exemplars.truncate(to: count)
        valueKinds.truncate(to: count)
        values.truncate(to: count)
        counts.truncate(to: count)
        sums.truncate(to: count)
        mins.truncate(to: count)
        maxes.truncate(to: count)
        bucketCounts.truncate(to: count)
        explicitBounds.truncate(to: count)
        scales.truncate(to: count)
        zeroCounts.truncate(to: count)
        zeroThresholds.truncate(to: count)
        positiveOffsets.truncate(to: count)
        positiveBucketCounts.truncate(to: count)
        negativeOffsets.truncate(to: count)
        negativeBucketCounts.truncate(to: count)
        quantiles.truncate(to: count)
    }

    /// Appends an exemplar whose attributes are the ``exemplarAttributes`` rows from
    /// `firstAttribute` on; an id that could not be read is dropped with a warning.
    mutating func appendExemplar(_ exemplar: ExemplarFields, firstAttribute: Int, at offset: Int) {
        if let problem = exemplar.invalidTraceID ?? exemplar.invalidSpanID {
            warn("exemplar at byte \(offset): \(problem); the id was dropped, the exemplar kept")
        }
        exemplarTable.times.append(exemplar.time)
        exemplarTable.valueKinds.append(exemplar.number.kind)
        exemplarTable.values.append(exemplar.number.bits)
        exemplarTable.traceIDs.append(exemplar.traceID)
        exemplarTable.spanIDs.append(exemplar.spanID)
        exemplarTable.filteredAttributes.append(RowRange(start: firstAttribute, count: exemplarAttributes.count - firstAttribute))
    }

    mutating func reject(_ points: Int, _ reason: String) {
        rejectedCount += points
        if rejectionMessage == nil || rejectionMessageIsWarning {
            rejectionMessage = reason
            rejectionMessageIsWarning = false
        }
    }

    private mutating func warn(_ reason: String) {
        guard rejectionMessage == nil else { return }
        rejectionMessage = reason
        rejectionMessageIsWarning = true
    }

    /// `AggregationTemporality` names, by number, for OTLP/JSON senders that write enums by name.
    static let temporalityNames = ["AGGREGATION_TEMPORALITY_UNSPECIFIED", "AGGREGATION_TEMPORALITY_DELTA", "AGGREGATION_TEMPORALITY_CUMULATIVE"]

    /// How the API, SQL and the index name an `AggregationTemporality`: `delta`,
    /// `cumulative`, or nil when unspecified.
    public static func temporalityName(_ value: some BinaryInteger) -> String? {
        switch value {
        case 1: "delta"
        case 2: "cumulative"
        default: nil
        }
    }
}

extension MetricTable {
    mutating func truncate(to count: Int) {
        names.truncate(to: count)
        descriptions.truncate(to: count)
        units.truncate(to: count)
        types.truncate(to: count)
        temporalities.truncate(to: count)
        monotonic.truncate(to: count)
        scopeIndices.truncate(to: count)
        metadata.truncate(to: count)
    }
}

extension ExemplarTable {
    mutating func truncate(to count: Int) {
        times.truncate(to: count)
        valueKinds.truncate(to: count)
        values.truncate(to: count)
        traceIDs.truncate(to: count)
        spanIDs.truncate(to: count)
        filteredAttributes.truncate(to: count)
    }
}
