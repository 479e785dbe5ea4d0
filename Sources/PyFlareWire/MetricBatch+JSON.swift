/// Decoding of OTLP/JSON `ExportMetricsServiceRequest` into a ``MetricBatch``; the envelope,
/// resources, scopes, values and scalars are decoded by the shared `JSONScanner+OTLP.swift`.
extension MetricBatch {
    /// Decodes an OTLP/JSON `ExportMetricsServiceRequest`.
    ///
    /// - Throws: ``WireError`` for malformed JSON, a member of the wrong type, or a metric
    ///   with more than one of `gauge`, `sum`, `histogram`, `exponentialHistogram` and
    ///   `summary` (a oneof). Points refused one by one (see ``MetricBatch``) are counted in
    ///   ``rejectedCount`` instead.
    public static func decodeJSON(_ payload: [UInt8]) throws(WireError) -> MetricBatch {
        try JSONScanner.decodeRequest(payload, keys: .metrics) { (scanner, scopeIndex, batch: inout MetricBatch) throws(WireError) in
            try scanner.decodeMetric(scopeIndex: scopeIndex, into: &batch)
        }
    }
}

extension JSONScanner {
    fileprivate mutating func decodeMetric(scopeIndex: Int, into batch: inout MetricBatch) throws(WireError) {
        let metricStart = position
        let rollback = batch.rollbackPoint()
        let index = batch.beginMetric(scopeIndex: scopeIndex)
        var hasData = false
        try forEachMember { (scanner, key) throws(WireError) in
            if scanner.key(key, is: "name") { batch.metrics.names[index] = try scanner.readStringOrNull() }
            else if scanner.key(key, is: "description") { batch.metrics.descriptions[index] = try scanner.readStringOrNull() }
            else if scanner.key(key, is: "unit") { batch.metrics.units[index] = try scanner.readStringOrNull() }
            else if scanner.key(key, is: "metadata") {
                let start = batch.attributes.count
                try scanner.decodeAttributes(into: &batch.attributes, nested: &batch.nestedValues)
                batch.metrics.metadata[index] = batch.attributeRows(since: start)
            }
            else if let type = scanner.metricType(key) {
                if scanner.consumeNull() { return }
                guard !hasData else {
                    throw WireError(.invalidField, "a metric has more than one of gauge, sum, histogram, exponentialHistogram and summary", at: scanner.position)
                }
                hasData = true
                batch.metrics.types[index] = type
                try scanner.decodeData(type: type, metricIndex: index, into: &batch)
            }
            else { try scanner.skipValue() }
        }
        batch.endMetric(index, hasData: hasData, since: rollback, at: metricStart)
    }

    /// The metric type a member of `Metric` names, if it is one of the `data` oneof.
    private func metricType(_ key: StringRef) -> MetricType? {
        if self.key(key, is: "gauge") { return .gauge }
        if self.key(key, is: "sum") { return .sum }
        if self.key(key, is: "histogram") { return .histogram }
        if self.key(key, is: "exponentialHistogram") { return .exponentialHistogram }
        if self.key(key, is: "summary") { return .summary }
        return nil
    }

    private mutating func decodeData(type: MetricType, metricIndex: Int, into batch: inout MetricBatch) throws(WireError) {
        try forEachMember { (scanner, key) throws(WireError) in
            if scanner.key(key, is: "dataPoints") {
                try scanner.forEachElement { (scanner) throws(WireError) in
                    try scanner.decodePoint(type: type, metricIndex: metricIndex, into: &batch)
                }
            } else if scanner.key(key, is: "aggregationTemporality"), type == .sum || type == .histogram || type == .exponentialHistogram {
                batch.metrics.temporalities[metricIndex] = try scanner.readEnum(names: MetricBatch.temporalityNames)
            } else if scanner.key(key, is: "isMonotonic"), type == .sum {
                batch.metrics.monotonic[metricIndex] = try scanner.readBool()
            } else {
                try scanner.skipValue()
            }
        }
    }

    /// One decoder for the four point messages: their shared members have the same JSON names,
    /// and members that `type`'s message does not have are skipped like unknown ones.
    private mutating func decodePoint(type: MetricType, metricIndex: Int, into batch: inout MetricBatch) throws(WireError) {
        let pointStart = position
        var point = PointFields(type: type)
        let rollback = batch.rollbackPoint()
        let isNumber = type == .gauge || type == .sum
        let isHistogram = type == .histogram
        let isExponential = type == .exponentialHistogram
        try forEachMember { (scanner, key) throws(WireError) in
            if scanner.key(key, is: "attributes") {
                try scanner.decodeAttributes(into: &batch.attributes, nested: &batch.nestedValues)
            }
            else if scanner.key(key, is: "startTimeUnixNano") { point.startTime = try scanner.readInteger() }
            else if scanner.key(key, is: "timeUnixNano") { point.time = try scanner.readInteger() }
            else if scanner.key(key, is: "flags") { point.flags = try scanner.readUInt32() }
            else if scanner.key(key, is: "exemplars"), type != .summary {
                try scanner.forEachElement { (scanner) throws(WireError) in try scanner.decodeExemplar(into: &batch) }
            }
            else if scanner.key(key, is: "asDouble"), isNumber { point.number.setDouble(try scanner.readDouble()) }
            else if scanner.key(key, is: "asInt"), isNumber { point.number.setInt(try scanner.readSignedInteger()) }
            else if scanner.key(key, is: "count"), !isNumber { point.count = try scanner.readInteger() }
            else if scanner.key(key, is: "sum"), !isNumber { point.sum = try scanner.readDouble() }
            else if scanner.key(key, is: "min"), isHistogram || isExponential { point.min = try scanner.readDouble() }
            else if scanner.key(key, is: "max"), isHistogram || isExponential { point.max = try scanner.readDouble() }
            else if scanner.key(key, is: "bucketCounts"), isHistogram {
                try scanner.forEachElement { (scanner) throws(WireError) in batch.uint64Values.append(try scanner.readInteger()) }
            }
            else if scanner.key(key, is: "explicitBounds"), isHistogram {
                try scanner.forEachElement { (scanner) throws(WireError) in batch.doubleValues.append(try scanner.readDouble()) }
            }
            else if scanner.key(key, is: "scale"), isExponential { point.scale = try scanner.readInt32() }
            else if scanner.key(key, is: "zeroCount"), isExponential { point.zeroCount = try scanner.readInteger() }
            else if scanner.key(key, is: "zeroThreshold"), isExponential { point.zeroThreshold = try scanner.readDouble() }
            else if scanner.key(key, is: "positive"), isExponential {
                (point.positiveOffset, point.positiveBucketCounts) = try scanner.decodeBuckets(into: &batch.uint64Values)
            }
            else if scanner.key(key, is: "negative"), isExponential {
                (point.negativeOffset, point.negativeBucketCounts) = try scanner.decodeBuckets(into: &batch.uint64Values)
            }
            else if scanner.key(key, is: "quantileValues"), type == .summary {
                try scanner.forEachElement { (scanner) throws(WireError) in try scanner.decodeQuantile(into: &batch.quantileValues) }
            }
            else { try scanner.skipValue() }
        }
        batch.appendPoint(point, metricIndex: metricIndex, since: rollback, at: pointStart)
    }

    /// `ExponentialHistogramDataPoint.Buckets`: `offset` and `bucketCounts`, appended to `values`.
    private mutating func decodeBuckets(into values: inout [UInt64]) throws(WireError) -> (Int32, RowRange) {
        var offset: Int32 = 0
        let start = values.count
        if consumeNull() { return (0, .empty) }
        try forEachMember { (scanner, key) throws(WireError) in
            if scanner.key(key, is: "offset") { offset = try scanner.readInt32() }
            else if scanner.key(key, is: "bucketCounts") {
                try scanner.forEachElement { (scanner) throws(WireError) in values.append(try scanner.readInteger()) }
            }
            else { try scanner.skipValue() }
        }
        return (offset, RowRange(start: start, count: values.count - start))
    }

    private mutating func decodeQuantile(into table: inout QuantileTable) throws(WireError) {
        var quantile = 0.0
        var value = 0.0
        try forEachMember { (scanner, key) throws(WireError) in
            if scanner.key(key, is: "quantile") { quantile = try scanner.readDouble() }
            else if scanner.key(key, is: "value") { value = try scanner.readDouble() }
            else { try scanner.skipValue() }
        }
        table.quantiles.append(quantile)
        table.values.append(value)
    }

    private mutating func decodeExemplar(into batch: inout MetricBatch) throws(WireError) {
        let exemplarStart = position
        var exemplar = ExemplarFields()
        let start = batch.exemplarAttributes.count
        try forEachMember { (scanner, key) throws(WireError) in
            if scanner.key(key, is: "filteredAttributes") {
                try scanner.decodeAttributes(into: &batch.exemplarAttributes, nested: &batch.nestedValues)
            }
            else if scanner.key(key, is: "timeUnixNano") { exemplar.time = try scanner.readInteger() }
            else if scanner.key(key, is: "asDouble") { exemplar.number.setDouble(try scanner.readDouble()) }
            else if scanner.key(key, is: "asInt") { exemplar.number.setInt(try scanner.readSignedInteger()) }
            else if scanner.key(key, is: "traceId") { exemplar.traceID = try scanner.readTraceID(what: "traceId", problem: &exemplar.invalidTraceID) }
            else if scanner.key(key, is: "spanId") { exemplar.spanID = try scanner.readSpanID(what: "spanId", problem: &exemplar.invalidSpanID) }
            else { try scanner.skipValue() }
        }
        batch.appendExemplar(exemplar, firstAttribute: start, at: exemplarStart)
    }
}
