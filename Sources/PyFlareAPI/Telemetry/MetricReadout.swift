import PyFlareIngest
import PyFlareWire

/// The recorded values of one metric between two times, and their aggregates, as
/// `GET /api/v1/telemetry/metrics` shows them. Reads any stored metric, not only telemetry ones.
struct MetricReadout {
    struct Value {
        /// Unix nanoseconds.
        var time: UInt64
        /// The point's value; for a histogram, exponential histogram or summary point, the mean of
        /// its measurements (the observation itself for a telemetry histogram).
        var value: Double
        var tags: [(key: String, value: AttributeValue)]
        /// Measurements the point holds: 1 for gauge and sum points.
        var count: UInt64 = 1
        /// For distribution points: their sum, min and max as sent (min and max may be absent).
        var sum: Double?
        var min: Double?
        var max: Double?
    }

    struct Aggregates: Equatable {
        /// Points for gauges and sums; measurements for distributions.
        var count: UInt64
        var sum: Double
        var min: Double
        var max: Double
        var avg: Double
        /// The latest value.
        var last: Double
        /// Distributions only: nearest-rank percentiles of the measurements.
        var p50: Double?
        var p95: Double?
        var p99: Double?
    }

    let name: String
    /// Gauge or sum points (false), or histogram, exponential histogram or summary points (true).
    private(set) var isDistribution = false
    /// By time, oldest first.
    private(set) var values: [Value] = []

    /// The points of metric `name` in `batches` with `since <= time < until`; points without a
    /// recorded value (or distributions without measurements or sum) are left out.
    init(name: String, batches: [MetricBatch], since: UInt64?, until: UInt64?) {
        self.name = name
        for batch in batches {
            let isMetric = (0..<batch.metrics.count).map { batch.string(batch.metrics.names[$0]) == name }
            for point in 0..<batch.count {
                let metric = Int(batch.metricIndices[point])
                guard isMetric[metric] else { continue }
                let time = batch.times[point]
                if let since, time < since { continue }
                if let until, time >= until { continue }
                let tags = batch.keyValues(in: batch.attributes, batch.pointAttributes[point])
                switch batch.metrics.types[metric] {
                case .gauge, .sum:
                    guard let value = batch.number(at: point) else { continue }
                    values.append(Value(time: time, value: value, tags: tags))
                case .histogram, .exponentialHistogram, .summary:
                    let count = batch.counts[point]
                    guard count > 0, let sum = batch.sums[point] else { continue }
                    isDistribution = true
                    values.append(Value(time: time, value: sum / Double(count), tags: tags, count: count, sum: sum,
                                        min: batch.mins[point], max: batch.maxes[point]))
                }
            }
        }
        values.sort { $0.time < $1.time }
    }

    /// Over every value read; nil when there is none.
    var aggregates: Aggregates? {
        guard let last = values.last else { return nil }
        if !isDistribution {
            let sum = values.reduce(0) { $0 + $1.value }
            return Aggregates(count: UInt64(values.count), sum: sum, min: values.map(\.value).min()!,
                              max: values.map(\.value).max()!, avg: sum / Double(values.count), last: last.value)
        }
        let count = values.reduce(0) { $0 + $1.count }
        let sum = values.reduce(0) { $0 + ($1.sum ?? $1.value * Double($1.count)) }
        // A point holding several measurements counts as that many at its mean: exact for
        // telemetry histograms (one observation each), an estimate for SDK histograms.
        let weighted = values.map { (value: $0.value, weight: $0.count) }.sorted { $0.value < $1.value }
        return Aggregates(count: count, sum: sum, min: values.map { $0.min ?? $0.value }.min()!,
                          max: values.map { $0.max ?? $0.value }.max()!, avg: sum / Double(count), last: last.value,
                          p50: Self.percentile(0.50, of: weighted, total: count),
                          p95: Self.percentile(0.95, of: weighted, total: count),
                          p99: Self.percentile(0.99, of: weighted, total: count))
    }

    /// Nearest rank: the smallest value with at least `p × total` measurements at or below it.
    static func percentile(_ p: Double, of sorted: [(value: Double, weight: UInt64)], total: UInt64) -> Double? {
        guard total > 0 else { return nil }
        // The epsilon keeps 0.95 × 20 at rank 19 whatever the rounding of the product.
        let rank = Swift.max(1, UInt64((p * Double(total) - 1e-9).rounded(.up)))
        var seen: UInt64 = 0
        for entry in sorted {
            seen += entry.weight
            if seen >= rank { return entry.value }
        }
        return sorted.last?.value
    }
}
