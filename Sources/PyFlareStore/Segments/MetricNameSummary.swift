import PyFlareWire

/// What a set of metric points adds to the `metric_names` catalog: one entry per name.
struct MetricNameSummary: Sendable, Equatable {
    var name: String
    var type: MetricType
    var unit: String
    var description: String
    /// AggregationTemporality: 1 delta, 2 cumulative, 0 when it does not apply.
    var temporality: UInt8
    var monotonic: Bool
    var pointCount = 0
    var firstTime = UInt64.max
    var lastTime: UInt64 = 0
    var services: Set<String> = []

    static func summarize(_ batches: [MetricBatch]) -> [MetricNameSummary] {
        var byName: [String: MetricNameSummary] = [:]
        for batch in batches {
            let services = batch.resourceServiceNames()
            let metrics = batch.metrics
            var perMetric = [Int](repeating: 0, count: metrics.count)
            var first = [UInt64](repeating: .max, count: metrics.count), last = [UInt64](repeating: 0, count: metrics.count)
            for point in 0..<batch.count {
                let metric = Int(batch.metricIndices[point])
                perMetric[metric] += 1
                first[metric] = min(first[metric], batch.times[point])
                last[metric] = max(last[metric], batch.times[point])
            }
            for metric in 0..<metrics.count where perMetric[metric] > 0 {
                let name = batch.string(metrics.names[metric])
                var summary = byName[name] ?? MetricNameSummary(
                    name: name, type: metrics.types[metric], unit: batch.string(metrics.units[metric]),
                    description: batch.string(metrics.descriptions[metric]), temporality: metrics.temporalities[metric],
                    monotonic: metrics.monotonic[metric])
                // The latest description wins, as in the index.
                summary.type = metrics.types[metric]
                summary.unit = batch.string(metrics.units[metric])
                summary.description = batch.string(metrics.descriptions[metric])
                summary.temporality = metrics.temporalities[metric]
                summary.monotonic = metrics.monotonic[metric]
                summary.pointCount += perMetric[metric]
                summary.firstTime = min(summary.firstTime, first[metric])
                summary.lastTime = max(summary.lastTime, last[metric])
                let resource = Int(batch.scopes.resourceIndices[Int(metrics.scopeIndices[metric])])
                if let service = services[resource] { summary.services.insert(service) }
                byName[name] = summary
            }
        }
        return byName.values.sorted { $0.name < $1.name }
    }
}
