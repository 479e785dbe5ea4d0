/// A metric data point as the series API shows it: the fields of its type, named as in OTLP,
/// and its exemplars with the trace and span they link to.
public enum MetricPointJSON {
    public static func point(_ row: Int, of batch: MetricBatch, into json: inout JSONWriter) {
        json.byte(UInt8(ascii: "{"))
        fields(row, of: batch, into: &json)
        json.byte(UInt8(ascii: "}"))
    }

    /// Every point of `batch` as one self-contained line (the JSON-lines exporter's
    /// `metrics.jsonl`): its metric, service, resource, scope and attributes, then the fields
    /// of ``point(_:of:into:)``. `lineEnds` receives the offset after each newline.
    public static func lines(_ batch: MetricBatch, into json: inout JSONWriter, lineEnds: inout [Int]) {
        let services = batch.resourceServiceNames()
        for row in 0..<batch.count {
            let metric = Int(batch.metricIndices[row])
            let metrics = batch.metrics
            json.raw(#"{"metric":{"name":"#)
            json.otlpString(metrics.names[metric], in: batch)
            json.member("type", metrics.types[metric].name)
            json.key("unit")
            json.otlpString(metrics.units[metric], in: batch)
            json.key("description")
            json.otlpString(metrics.descriptions[metric], in: batch)
            json.member("temporality", MetricBatch.temporalityName(metrics.temporalities[metric]))
            json.member("monotonic", metrics.monotonic[metric])
            json.raw("}")
            json.otlpOrigin(scope: Int(metrics.scopeIndices[metric]), services: services, in: batch)
            json.key("attributes")
            json.otlpAttributes(batch.pointAttributes[row], of: batch.attributes, in: batch)
            fields(row, of: batch, into: &json)
            json.raw("}\n")
            lineEnds.append(json.bytes.count)
        }
    }

    /// The point's own fields, without braces.
    static func fields(_ row: Int, of batch: MetricBatch, into json: inout JSONWriter) {
        json.time(batch.times[row], key: "time_unix_nano", textKey: "time")
        json.member("start_time_unix_nano", batch.startTimes[row])
        json.member("flags", UInt64(batch.flags[row]))
        switch batch.metrics.types[Int(batch.metricIndices[row])] {
        case .gauge, .sum:
            json.key("value")
            number(kind: batch.valueKinds[row], bits: batch.values[row], into: &json)
        case .histogram:
            counts(row, of: batch, into: &json)
            json.key("bucket_counts")
            uints(batch.bucketCounts[row], of: batch, into: &json)
            json.raw(#","explicit_bounds":["#)
            for (position, index) in batch.explicitBounds[row].indices.enumerated() {
                if position > 0 { json.byte(UInt8(ascii: ",")) }
                json.double(batch.doubleValues[index])
            }
            json.byte(UInt8(ascii: "]"))
        case .exponentialHistogram:
            counts(row, of: batch, into: &json)
            json.member("scale", Int64(batch.scales[row]))
            json.member("zero_count", batch.zeroCounts[row])
            json.member("zero_threshold", batch.zeroThresholds[row])
            json.raw(#","positive":{"offset":"#)
            json.int(Int64(batch.positiveOffsets[row]))
            json.key("bucket_counts")
            uints(batch.positiveBucketCounts[row], of: batch, into: &json)
            json.raw(#"},"negative":{"offset":"#)
            json.int(Int64(batch.negativeOffsets[row]))
            json.key("bucket_counts")
            uints(batch.negativeBucketCounts[row], of: batch, into: &json)
            json.byte(UInt8(ascii: "}"))
        case .summary:
            json.member("count", batch.counts[row])
            json.key("sum")
            optional(batch.sums[row], into: &json)
            json.raw(#","quantile_values":["#)
            for (position, index) in batch.quantiles[row].indices.enumerated() {
                if position > 0 { json.byte(UInt8(ascii: ",")) }
                json.raw("{")
                json.member("quantile", batch.quantileValues.quantiles[index])
                json.member("value", batch.quantileValues.values[index])
                json.byte(UInt8(ascii: "}"))
            }
            json.byte(UInt8(ascii: "]"))
        }
        json.raw(#","exemplars":["#)
        let exemplars = batch.exemplarTable
        for (position, index) in batch.exemplars[row].indices.enumerated() {
            if position > 0 { json.byte(UInt8(ascii: ",")) }
            json.byte(UInt8(ascii: "{"))
            json.time(exemplars.times[index], key: "time_unix_nano", textKey: "time")
            json.key("value")
            number(kind: exemplars.valueKinds[index], bits: exemplars.values[index], into: &json)
            json.key("trace_id")
            json.hexTraceID(exemplars.traceIDs[index])
            json.key("span_id")
            json.hexSpanID(exemplars.spanIDs[index])
            json.key("filtered_attributes")
            json.otlpAttributes(exemplars.filteredAttributes[index], of: batch.exemplarAttributes, in: batch)
            json.byte(UInt8(ascii: "}"))
        }
        json.byte(UInt8(ascii: "]"))
    }

    /// Each attribute of `range` with its value as filter text (strings bare, numbers and
    /// booleans as written in JSON) and as JSON.
    public static func attributePairs(_ range: RowRange, of batch: MetricBatch) -> [(key: String, text: String, json: String)] {
        range.indices.map { row in
            var json = JSONWriter(capacity: 32)
            json.otlpValue(kind: batch.attributes.kinds[row], payload: batch.attributes.payloads[row], in: batch)
            let jsonText = String(decoding: json.bytes, as: UTF8.self)
            let text = batch.attributes.kinds[row] == .string
                ? batch.string(StringRef(packed: batch.attributes.payloads[row])) : jsonText
            return (batch.string(batch.attributes.keys[row]), text, jsonText)
        }
    }

    /// `,"count":…,"sum":…,"min":…,"max":…` of a histogram point.
    private static func counts(_ row: Int, of batch: MetricBatch, into json: inout JSONWriter) {
        json.member("count", batch.counts[row])
        json.key("sum")
        optional(batch.sums[row], into: &json)
        json.key("min")
        optional(batch.mins[row], into: &json)
        json.key("max")
        optional(batch.maxes[row], into: &json)
    }

    private static func uints(_ range: RowRange, of batch: MetricBatch, into json: inout JSONWriter) {
        json.byte(UInt8(ascii: "["))
        for (position, index) in range.indices.enumerated() {
            if position > 0 { json.byte(UInt8(ascii: ",")) }
            json.uint(batch.uint64Values[index])
        }
        json.byte(UInt8(ascii: "]"))
    }

    /// A value of kind 1 (double) or 2 (int); null for 0 (none recorded).
    private static func number(kind: UInt8, bits: UInt64, into json: inout JSONWriter) {
        switch kind {
        case 1: json.double(Double(bitPattern: bits))
        case 2: json.int(Int64(bitPattern: bits))
        default: json.null()
        }
    }

    private static func optional(_ value: Double?, into json: inout JSONWriter) {
        if let value { json.double(value) } else { json.null() }
    }
}
