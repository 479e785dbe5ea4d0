import Foundation
public import PyFlareWire

/// The points of one metric, grouped into series (one per service and attribute set) and,
/// for a `step`, downsampled into time buckets with one aggregation.
///
/// Counters are read as OpenTelemetry sends them: a delta point is the increase over its
/// interval; for cumulative points the increase is the difference to the series' previous
/// point, a drop (or a new start time) being a reset that starts counting again from zero.
/// The first cumulative point of a series counts in full only when its start time lies in
/// the window (the counter began inside it); otherwise it is the baseline, as in Prometheus.
public struct MetricSeries {
    /// One point of a batch that passed the filters.
    public struct Point: Sendable {
        public var batch: Int
        public var row: Int
        public var time: UInt64
    }

    /// A series: the points of one service and attribute set, in time order.
    public struct Series: Sendable {
        /// Sorted `key=value` pairs (values as JSON) plus the service: what tells series apart.
        public var key: String
        public var service: String?
        /// Where the attribute set can be written from: the first point.
        public var sample: Point
        public var points: [Point] = []
    }

    public enum Aggregation: String, CaseIterable, Sendable {
        case sum, rate, avg, min, max, count, last, p50, p95, p99

        var quantile: Double? {
            switch self {
            case .p50: 0.5
            case .p95: 0.95
            case .p99: 0.99
            default: nil
            }
        }
    }

    /// What one time bucket of one series (or group of series) gathered.
    struct Bucket {
        /// Values of gauge and sum points (cumulative sums: the running totals).
        var samples = 0
        var sampleSum = 0.0
        var sampleMin = Double.infinity
        var sampleMax = -Double.infinity
        var lastTime: UInt64 = 0
        var last = 0.0
        /// Sums: the increase. Histograms and summaries: the increase of their count.
        var increase = 0.0
        /// Histograms and summaries: the increase of their sum.
        var sumIncrease = 0.0
        var minimum = Double.infinity
        var maximum = -Double.infinity
        /// Histogram buckets as (lower, upper] → count increase.
        var histogram: [HistogramBucket: Double] = [:]
        /// Summaries: each quantile's values, averaged.
        var quantiles: [Double: (sum: Double, count: Int)] = [:]

        mutating func sample(_ value: Double, at time: UInt64) {
            samples += 1
            sampleSum += value
            sampleMin = Swift.min(sampleMin, value)
            sampleMax = Swift.max(sampleMax, value)
            if time >= lastTime { (lastTime, last) = (time, value) }
        }

        /// Folds `other` (another series' bucket at the same time) into this one. The last
        /// values of sums add up (the total of an up-down counter over series); of gauges the
        /// latest wins.
        mutating func merge(_ other: Bucket, addLast: Bool) {
            let lastTimeBefore = lastTime, lastBefore = last
            samples += other.samples
            sampleSum += other.sampleSum
            sampleMin = Swift.min(sampleMin, other.sampleMin)
            sampleMax = Swift.max(sampleMax, other.sampleMax)
            if addLast {
                (lastTime, last) = (Swift.max(lastTimeBefore, other.lastTime), lastBefore + other.last)
            } else if other.lastTime >= lastTimeBefore {
                (lastTime, last) = (other.lastTime, other.last)
            }
            increase += other.increase
            sumIncrease += other.sumIncrease
            minimum = Swift.min(minimum, other.minimum)
            maximum = Swift.max(maximum, other.maximum)
            histogram.merge(other.histogram, uniquingKeysWith: +)
            for (quantile, value) in other.quantiles {
                let current = quantiles[quantile] ?? (0, 0)
                quantiles[quantile] = (current.sum + value.sum, current.count + value.count)
            }
        }

        /// The quantile `q` of the histogram buckets, interpolated linearly inside its bucket;
        /// open-ended buckets are closed by the observed min and max where known.
        func histogramQuantile(_ q: Double) -> Double? {
            let total = histogram.values.reduce(0, +)
            guard total > 0 else { return nil }
            let ordered = histogram.filter { $0.value > 0 }.sorted { ($0.key.upper, $0.key.lower) < ($1.key.upper, $1.key.lower) }
            let target = q * total
            var cumulative = 0.0
            for (bucket, count) in ordered {
                if cumulative + count >= target {
                    var lower = bucket.lower, upper = bucket.upper
                    if lower == -.infinity { lower = minimum.isFinite ? Swift.min(minimum, upper) : upper }
                    if upper == .infinity { upper = maximum.isFinite ? Swift.max(maximum, lower) : lower }
                    return lower + (upper - lower) * Swift.max(0, target - cumulative) / count
                }
                cumulative += count
            }
            return ordered.last.map { $0.key.upper.isFinite ? $0.key.upper : $0.key.lower }
        }
    }

    struct HistogramBucket: Hashable {
        var lower: Double
        var upper: Double
    }

    /// An aggregation that does not fit the metric's type, said in words.
    public static func check(_ aggregation: Aggregation, for type: MetricType) -> String? {
        switch (type, aggregation) {
        case (.gauge, .rate):
            "rate needs a sum, histogram or summary metric; this one is a gauge"
        case (.histogram, .last), (.exponentialHistogram, .last), (.summary, .last):
            "last applies to gauges and sums"
        case (.gauge, .p50), (.gauge, .p95), (.gauge, .p99), (.sum, .p50), (.sum, .p95), (.sum, .p99):
            "p50, p95 and p99 apply to histograms and summaries"
        default:
            nil
        }
    }

    /// What a chart of the metric shows unless asked otherwise.
    public static func defaultAggregation(type: MetricType, monotonic: Bool, temporality: UInt8) -> Aggregation {
        switch type {
        case .gauge: .avg
        case .sum: monotonic ? .rate : (temporality == 1 ? .sum : .last)
        case .histogram, .exponentialHistogram, .summary: .p95
        }
    }

    /// Folds the points of `series` into buckets of `step` nanoseconds starting at `origin`.
    static func buckets(_ series: Series, batches: [MetricBatch], origin: UInt64, step: UInt64,
                        windowStart: UInt64?) -> [UInt64: Bucket] {
        var buckets: [UInt64: Bucket] = [:]
        var previous: Point?
        for point in series.points {
            let batch = batches[point.batch], row = point.row
            let metric = Int(batch.metricIndices[row])
            let cumulative = batch.metrics.temporalities[metric] == 2
            let start = origin + (point.time - origin) / step * step
            var bucket = buckets[start] ?? Bucket()
            // The part of a cumulative point that is new since the previous point of the series.
            let prior: Point? = {
                guard cumulative, let previous else { return nil }
                let before = batches[previous.batch]
                let restarted = batch.startTimes[row] != 0 && batch.startTimes[row] != before.startTimes[previous.row]
                return restarted ? nil : previous
            }()
            let countsInFull = !cumulative || prior == nil && previous != nil
                || previous == nil && batch.startTimes[row] != 0 && windowStart.map { batch.startTimes[row] >= $0 } ?? false
            switch batch.metrics.types[metric] {
            case .gauge, .sum:
                guard let value = batch.number(at: row) else { break }
                bucket.sample(value, at: point.time)
                if let prior, let before = batches[prior.batch].number(at: prior.row) {
                    bucket.increase += value >= before ? value - before : value
                } else if countsInFull {
                    bucket.increase += value
                }
            case .histogram, .exponentialHistogram, .summary:
                var counts = Self.histogramBuckets(batch, row)
                var count = Double(batch.counts[row]), sum = batch.sums[row] ?? 0
                if let prior {
                    let before = batches[prior.batch]
                    let beforeCount = Double(before.counts[prior.row])
                    if count >= beforeCount {
                        count -= beforeCount
                        sum -= before.sums[prior.row] ?? 0
                        for (key, value) in Self.histogramBuckets(before, prior.row) { counts[key, default: 0] -= value }
                    }
                } else if !countsInFull {
                    (count, sum, counts) = (0, 0, [:])
                }
                bucket.increase += count
                bucket.sumIncrease += sum
                if let minimum = batch.mins[row] { bucket.minimum = min(bucket.minimum, minimum) }
                if let maximum = batch.maxes[row] { bucket.maximum = max(bucket.maximum, maximum) }
                bucket.histogram.merge(counts.filter { $0.value > 0 }, uniquingKeysWith: +)
                for index in batch.quantiles[row].indices {
                    let quantile = batch.quantileValues.quantiles[index]
                    let current = bucket.quantiles[quantile] ?? (0, 0)
                    bucket.quantiles[quantile] = (current.sum + batch.quantileValues.values[index], current.count + 1)
                }
            }
            buckets[start] = bucket
            previous = point
        }
        return buckets
    }

    /// The value of bucket `bucket` under `aggregation`; nil when it has none.
    static func value(_ bucket: Bucket, _ aggregation: Aggregation, type: MetricType, stepSeconds: Double) -> Double? {
        let histogramLike = type == .histogram || type == .exponentialHistogram || type == .summary
        switch aggregation {
        case .sum: return histogramLike ? bucket.sumIncrease : (type == .gauge ? bucket.sampleSum : bucket.increase)
        case .rate: return bucket.increase / stepSeconds
        case .count: return histogramLike ? bucket.increase : Double(bucket.samples)
        case .avg:
            if histogramLike { return bucket.increase > 0 ? bucket.sumIncrease / bucket.increase : nil }
            return bucket.samples > 0 ? bucket.sampleSum / Double(bucket.samples) : nil
        case .min:
            let value = histogramLike ? bucket.minimum : bucket.sampleMin
            return value.isFinite ? value : nil
        case .max:
            let value = histogramLike ? bucket.maximum : bucket.sampleMax
            return value.isFinite ? value : nil
        case .last: return bucket.samples > 0 ? bucket.last : nil
        case .p50, .p95, .p99:
            let q = aggregation.quantile ?? 0.5
            if type == .summary {
                guard let match = bucket.quantiles.min(by: { abs($0.key - q) < abs($1.key - q) }),
                      abs(match.key - q) < 1e-9, match.value.count > 0 else { return nil }
                return match.value.sum / Double(match.value.count)
            }
            return bucket.histogramQuantile(q)
        }
    }

    /// The buckets of a histogram or exponential histogram point as (lower, upper] → count.
    static func histogramBuckets(_ batch: MetricBatch, _ row: Int) -> [HistogramBucket: Double] {
        var result: [HistogramBucket: Double] = [:]
        let metric = Int(batch.metricIndices[row])
        switch batch.metrics.types[metric] {
        case .histogram:
            let bounds = batch.explicitBounds[row].indices.map { batch.doubleValues[$0] }
            for (position, index) in batch.bucketCounts[row].indices.enumerated() {
                let lower = position == 0 ? -Double.infinity : bounds[min(position - 1, bounds.count - 1)]
                let upper = position < bounds.count ? bounds[position] : .infinity
                result[HistogramBucket(lower: lower, upper: upper), default: 0] += Double(batch.uint64Values[index])
            }
        case .exponentialHistogram:
            // Bucket i holds (base^i, base^(i+1)] with base = 2^(2^-scale).
            let base = pow2(pow2(-Double(batch.scales[row])))
            for (position, index) in batch.positiveBucketCounts[row].indices.enumerated() {
                let bucket = Double(Int(batch.positiveOffsets[row]) + position)
                let key = HistogramBucket(lower: pow(base, bucket), upper: pow(base, bucket + 1))
                result[key, default: 0] += Double(batch.uint64Values[index])
            }
            for (position, index) in batch.negativeBucketCounts[row].indices.enumerated() {
                let bucket = Double(Int(batch.negativeOffsets[row]) + position)
                let key = HistogramBucket(lower: -pow(base, bucket + 1), upper: -pow(base, bucket))
                result[key, default: 0] += Double(batch.uint64Values[index])
            }
            if batch.zeroCounts[row] > 0 {
                let threshold = batch.zeroThresholds[row]
                result[HistogramBucket(lower: -threshold, upper: threshold), default: 0] += Double(batch.zeroCounts[row])
            }
        case .gauge, .sum, .summary:
            break
        }
        return result
    }

    private static func pow2(_ exponent: Double) -> Double { pow(2, exponent) }
}

extension MetricSeries {
    /// Which points of a metric a reader wants.
    public struct Filter: Sendable {
        public var since: UInt64?
        public var until: UInt64?
        public var service: String?
        /// `KEY=VALUE`: the point attribute KEY, written as text, equals VALUE.
        public var attributes: [(key: String, value: String)] = []

        public init(since: UInt64? = nil, until: UInt64? = nil, service: String? = nil, attributes: [(key: String, value: String)] = []) {
            (self.since, self.until, self.service, self.attributes) = (since, until, service, attributes)
        }
    }

    /// The points of metric `name` that pass `filter`, by series (sorted by key, points in
    /// time order); and how many points there are.
    public static func select(_ name: String, _ filter: Filter, in batches: [MetricBatch]) -> ([Series], Int) {
        var byKey: [String: Int] = [:]
        var series: [Series] = []
        var total = 0
        let nameBytes = Array(name.utf8)
        for (batchIndex, batch) in batches.enumerated() {
            let metricMatches = batch.metrics.names.map { ref in batch.withBytes(ref) { $0.elementsEqual(nameBytes) } }
            guard metricMatches.contains(true) else { continue }
            let services = batch.resourceServiceNames()
            for row in 0..<batch.count where metricMatches[Int(batch.metricIndices[row])] {
                let time = batch.times[row]
                if let since = filter.since, time < since { continue }
                if let until = filter.until, time >= until { continue }
                let scope = Int(batch.metrics.scopeIndices[Int(batch.metricIndices[row])])
                let service = services[Int(batch.scopes.resourceIndices[scope])]
                if let wanted = filter.service, service != wanted { continue }
                let pairs = MetricPointJSON.attributePairs(batch.pointAttributes[row], of: batch)
                guard filter.attributes.allSatisfy({ wanted in pairs.contains { $0.key == wanted.key && $0.text == wanted.value } }) else {
                    continue
                }
                let key = (service ?? "") + "\u{1F}" + pairs.map { "\($0.key)=\($0.json)" }.sorted().joined(separator: "\u{1F}")
                let point = Point(batch: batchIndex, row: row, time: time)
                if let index = byKey[key] {
                    series[index].points.append(point)
                } else {
                    byKey[key] = series.count
                    series.append(Series(key: key, service: service, sample: point, points: [point]))
                }
                total += 1
            }
        }
        for index in series.indices { series[index].points.sort { $0.time < $1.time } }
        series.sort { $0.key < $1.key }
        return (series, total)
    }

    /// A downsampled series, or a group of series merged by `group_by`.
    public struct Downsampled: Sendable {
        /// The first series of the group: its service and attribute set name an ungrouped series.
        public var head: Series
        /// With `group_by`: the grouping attributes (values as JSON, `null` when absent).
        public var labels: [(key: String, json: String)]
        /// Bucket start → the aggregation's value, in time order; buckets without a value left out.
        public var points: [(time: UInt64, value: Double)]
    }

    /// `series` in buckets of `step` nanoseconds from `origin`, merged into groups when
    /// `groupBy` names attribute keys (and `service`), each bucket reduced by `aggregation`.
    public static func downsampled(_ series: [Series], batches: [MetricBatch], type: MetricType, aggregation: Aggregation,
                                   step: UInt64, origin: UInt64, windowStart: UInt64, groupBy: [String]?) -> [Downsampled] {
        struct Group {
            var head: Series
            var labels: [(key: String, json: String)]
            var buckets: [UInt64: Bucket] = [:]
        }
        var groups: [Group] = []
        var byKey: [String: Int] = [:]
        for entry in series {
            let buckets = Self.buckets(entry, batches: batches, origin: origin, step: step, windowStart: windowStart)
            var labels: [(key: String, json: String)] = []
            var key = entry.key
            if let groupBy {
                let batch = batches[entry.sample.batch]
                let pairs = MetricPointJSON.attributePairs(batch.pointAttributes[entry.sample.row], of: batch)
                labels = groupBy.filter { $0 != "service" }.map { name in
                    (name, pairs.first { $0.key == name }?.json ?? "null")
                }
                let service = groupBy.contains("service") ? (entry.service ?? "") : ""
                key = service + "\u{1F}" + labels.map { "\($0.key)=\($0.json)" }.joined(separator: "\u{1F}")
            }
            if let index = byKey[key] {
                for (start, bucket) in buckets {
                    groups[index].buckets[start, default: Bucket()].merge(bucket, addLast: type == .sum)
                }
            } else {
                byKey[key] = groups.count
                groups.append(Group(head: entry, labels: labels, buckets: buckets))
            }
        }
        let stepSeconds = Double(step) / 1e9
        return groups.map { group in
            let points = group.buckets.keys.sorted().compactMap { start in
                group.buckets[start].flatMap { value($0, aggregation, type: type, stepSeconds: stepSeconds) }.map { (start, $0) }
            }
            return Downsampled(head: group.head, labels: group.labels, points: points)
        }
    }
}
