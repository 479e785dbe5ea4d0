/// The columns of a metric point block (one row per data point), as stored in metric
/// segments and WAL records (`docs/segment-format.md`, "Metric point columns").
package enum MetricColumn: UInt8, SegmentColumn {
    static let segmentKind = SegmentKind.metricPoints

    case metricName = 1, metricDescription, unit, metricType, temporality, monotonic, metadata
    case startTime, time, attributes, flags, valueKind, value
    case count, sum, min, max, bucketCounts, explicitBounds
    case scale, zeroCount, zeroThreshold, positiveOffset, positiveBucketCounts, negativeOffset, negativeBucketCounts
    case quantiles, exemplars, resource, scope, service

    var name: String {
        switch self {
        case .metricName: "metric_name"
        case .metricDescription: "description"
        case .unit: "unit"
        case .metricType: "type"
        case .temporality: "aggregation_temporality"
        case .monotonic: "is_monotonic"
        case .metadata: "metadata"
        case .startTime: "start_time"
        case .time: "time"
        case .attributes: "attributes"
        case .flags: "flags"
        case .valueKind: "value_kind"
        case .value: "value"
        case .count: "count"
        case .sum: "sum"
        case .min: "min"
        case .max: "max"
        case .bucketCounts: "bucket_counts"
        case .explicitBounds: "explicit_bounds"
        case .scale: "scale"
        case .zeroCount: "zero_count"
        case .zeroThreshold: "zero_threshold"
        case .positiveOffset: "positive_offset"
        case .positiveBucketCounts: "positive_bucket_counts"
        case .negativeOffset: "negative_offset"
        case .negativeBucketCounts: "negative_bucket_counts"
        case .quantiles: "quantiles"
        case .exemplars: "exemplars"
        case .resource: "resource"
        case .scope: "scope"
        case .service: "service"
        }
    }

    var encoding: ColumnEncoding {
        switch self {
        case .metricName, .metricDescription, .unit, .resource, .scope, .service: .dictionary
        case .metricType, .temporality, .monotonic, .flags, .valueKind, .count, .zeroCount: .varint
        case .startTime, .time: .deltaVarint
        case .value, .zeroThreshold: .fixed64
        case .sum, .min, .max: .nullableFixed64
        case .scale, .positiveOffset, .negativeOffset: .zigzagVarint
        case .metadata, .attributes, .bucketCounts, .explicitBounds, .positiveBucketCounts, .negativeBucketCounts,
             .quantiles, .exemplars: .blobs
        }
    }

    var compressionLevel: Int32 { 1 }
}
