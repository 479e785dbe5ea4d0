import PyFlareWire
import Testing

// Shared by the log and metric tests: every log record and every data point of a batch as a
// flat, canonical description (field name → text), built once from the batch through its
// public columns and once from `logs.expected.json` / `metrics.expected.json`, so that the
// protobuf and the JSON decoder are both held to the same description field by field.

/// One record as `field → canonical text`, in a fixed field order.
typealias Description = [(field: String, text: String)]

enum Canonical {
    /// Doubles by value, with -0.0 told from 0.0 and every NaN alike.
    static func double(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value == 0, value.sign == .minus { return "-0.0" }
        return "\(value)"
    }

    static func double(_ value: Double?) -> String { value.map { double($0) } ?? "nil" }

    static func value(_ value: AttributeValue) -> String {
        switch value {
        case .empty: "empty"
        case let .string(text): "string(\(text.debugDescription))"
        case let .bool(flag): "bool(\(flag))"
        case let .int(number): "int(\(number))"
        case let .double(number): "double(\(double(number)))"
        case let .bytes(bytes): "bytes(\(Hex.string(bytes: bytes)))"
        case let .array(elements): "array[\(elements.map(Self.value).joined(separator: ", "))]"
        case let .keyValueList(pairs): "kvlist[\(pairs.map { "\($0.0.debugDescription): \(Self.value($0.1))" }.joined(separator: ", "))]"
        }
    }

    static func keyValues(_ pairs: KeyValues) -> String {
        "[" + pairs.map { "\($0.key.debugDescription): \(value($0.value))" }.joined(separator: ", ") + "]"
    }

    /// A number column (`valueKinds`/`values`) as the typed value it stands for.
    static func number(kind: UInt8, bits: UInt64) -> String {
        switch kind {
        case 0: value(.empty)
        case 1: value(.double(Double(bitPattern: bits)))
        case 2: value(.int(Int64(bitPattern: bits)))
        default: "kind \(kind)"
        }
    }

    static func id(_ id: TraceID) -> String { id.isZero ? "" : Hex.string(id) }
    static func id(_ id: UInt64) -> String { id == 0 ? "" : Hex.string(id) }
}

// MARK: - From a batch

enum Describe {
    /// The resource and scope of `scope`, the part every signal's records share.
    static func owner<Batch: OTLPBatch>(_ batch: Batch, scope: Int) -> Description {
        let resource = Int(batch.scopes.resourceIndices[scope])
        return [
            ("resource_index", "\(resource)"),
            ("resource_attributes", Canonical.keyValues(batch.keyValues(in: batch.attributes, batch.resources.attributes[resource]))),
            ("resource_dropped_attributes_count", "\(batch.resources.droppedAttributeCounts[resource])"),
            ("resource_schema_url", batch.string(batch.resources.schemaURLs[resource])),
            ("scope_name", batch.string(batch.scopes.names[scope])),
            ("scope_version", batch.string(batch.scopes.versions[scope])),
            ("scope_attributes", Canonical.keyValues(batch.keyValues(in: batch.attributes, batch.scopes.attributes[scope]))),
            ("scope_dropped_attributes_count", "\(batch.scopes.droppedAttributeCounts[scope])"),
            ("scope_schema_url", batch.string(batch.scopes.schemaURLs[scope])),
        ]
    }

    static func logs(_ batch: LogBatch) -> [Description] {
        (0..<batch.count).map { row in
            owner(batch, scope: Int(batch.scopeIndices[row])) + [
                ("time_unix_nano", "\(batch.times[row])"),
                ("observed_time_unix_nano", "\(batch.observedTimes[row])"),
                ("severity_number", "\(batch.severityNumbers[row])"),
                ("severity_text", batch.string(batch.severityTexts[row])),
                ("body", Canonical.value(batch.value(in: batch.bodies, row: row))),
                ("attributes", Canonical.keyValues(batch.keyValues(in: batch.attributes, batch.recordAttributes[row]))),
                ("dropped_attributes_count", "\(batch.droppedAttributeCounts[row])"),
                ("flags", "\(batch.flags[row])"),
                ("trace_id", Canonical.id(batch.traceIDs[row])),
                ("span_id", Canonical.id(batch.spanIDs[row])),
                ("event_name", batch.string(batch.eventNames[row])),
            ]
        }
    }

    static func points(_ batch: MetricBatch) -> [Description] {
        (0..<batch.count).map { row in
            let metric = Int(batch.metricIndices[row])
            let metrics = batch.metrics
            func uints(_ range: RowRange) -> String { "\(range.indices.map { batch.uint64Values[$0] })" }
            let exemplars = batch.exemplars[row].indices.map { exemplar in
                let table = batch.exemplarTable
                return "{time \(table.times[exemplar]), \(Canonical.number(kind: table.valueKinds[exemplar], bits: table.values[exemplar])), "
                    + "trace \(Canonical.id(table.traceIDs[exemplar])), span \(Canonical.id(table.spanIDs[exemplar])), "
                    + "\(Canonical.keyValues(batch.keyValues(in: batch.exemplarAttributes, table.filteredAttributes[exemplar])))}"
            }
            return owner(batch, scope: Int(metrics.scopeIndices[metric])) + [
                ("metric_name", batch.string(metrics.names[metric])),
                ("metric_description", batch.string(metrics.descriptions[metric])),
                ("metric_unit", batch.string(metrics.units[metric])),
                ("metric_type", "\(metrics.types[metric].rawValue)"),
                ("metric_metadata", Canonical.keyValues(batch.keyValues(in: batch.attributes, metrics.metadata[metric]))),
                ("aggregation_temporality", "\(metrics.temporalities[metric])"),
                ("is_monotonic", "\(metrics.monotonic[metric])"),
                ("start_time_unix_nano", "\(batch.startTimes[row])"),
                ("time_unix_nano", "\(batch.times[row])"),
                ("attributes", Canonical.keyValues(batch.keyValues(in: batch.attributes, batch.pointAttributes[row]))),
                ("flags", "\(batch.flags[row])"),
                ("value", Canonical.number(kind: batch.valueKinds[row], bits: batch.values[row])),
                ("count", "\(batch.counts[row])"),
                ("sum", Canonical.double(batch.sums[row])),
                ("min", Canonical.double(batch.mins[row])),
                ("max", Canonical.double(batch.maxes[row])),
                ("bucket_counts", uints(batch.bucketCounts[row])),
                ("explicit_bounds", "[\(batch.explicitBounds[row].indices.map { Canonical.double(batch.doubleValues[$0]) }.joined(separator: ", "))]"),
                ("scale", "\(batch.scales[row])"),
                ("zero_count", "\(batch.zeroCounts[row])"),
                ("zero_threshold", Canonical.double(batch.zeroThresholds[row])),
                ("positive_offset", "\(batch.positiveOffsets[row])"),
                ("positive_bucket_counts", uints(batch.positiveBucketCounts[row])),
                ("negative_offset", "\(batch.negativeOffsets[row])"),
                ("negative_bucket_counts", uints(batch.negativeBucketCounts[row])),
                ("quantiles", "[\(batch.quantiles[row].indices.map { "\(Canonical.double(batch.quantileValues.quantiles[$0])): \(Canonical.double(batch.quantileValues.values[$0]))" }.joined(separator: ", "))]"),
                ("exemplars", "[\(exemplars.joined(separator: ", "))]"),
            ]
        }
    }
}

// MARK: - From an expected file

enum Expected {
    static func logs(_ name: String) throws -> [Description] {
        try entries(name, list: "log_records").map { entry in
            try owner(entry) + [
                ("time_unix_nano", try integer(entry, "time_unix_nano", as: UInt64.self)),
                ("observed_time_unix_nano", try integer(entry, "observed_time_unix_nano", as: UInt64.self)),
                ("severity_number", try integer(entry, "severity_number", as: UInt8.self)),
                ("severity_text", try text(entry, "severity_text")),
                ("body", Canonical.value(try SpanRecord.value(try member(entry, "body")))),
                ("attributes", Canonical.keyValues(try SpanRecord.keyValues(entry["attributes"]))),
                ("dropped_attributes_count", try integer(entry, "dropped_attributes_count", as: UInt32.self)),
                ("flags", try integer(entry, "flags", as: UInt32.self)),
                ("trace_id", try text(entry, "trace_id")),
                ("span_id", try text(entry, "span_id")),
                ("event_name", try text(entry, "event_name")),
            ]
        }
    }

    static func points(_ name: String) throws -> [Description] {
        try entries(name, list: "points").map { entry in
            func uints(_ key: String) throws -> String {
                "\(try (try member(entry, key).arrayValue ?? []).map { try #require(UInt64($0.numberText ?? "")) })"
            }
            func doubles(_ json: TestJSON) throws -> [String] {
                try (json.arrayValue ?? []).map { Canonical.double(try double($0)) }
            }
            let quantiles = try (try member(entry, "quantiles").arrayValue ?? []).map { pair in
                let items = try doubles(pair)
                try #require(items.count == 2)
                return "\(items[0]): \(items[1])"
            }
            let exemplars = try (try member(entry, "exemplars").arrayValue ?? []).map { exemplar in
                "{time \(try integer(exemplar, "time_unix_nano", as: UInt64.self)), \(Canonical.value(try SpanRecord.value(try member(exemplar, "value")))), "
                    + "trace \(try text(exemplar, "trace_id")), span \(try text(exemplar, "span_id")), "
                    + "\(Canonical.keyValues(try SpanRecord.keyValues(exemplar["filtered_attributes"])))}"
            }
            return try owner(entry) + [
                ("metric_name", try text(entry, "metric_name")),
                ("metric_description", try text(entry, "metric_description")),
                ("metric_unit", try text(entry, "metric_unit")),
                ("metric_type", try integer(entry, "metric_type", as: UInt8.self)),
                ("metric_metadata", Canonical.keyValues(try SpanRecord.keyValues(entry["metric_metadata"]))),
                ("aggregation_temporality", try integer(entry, "aggregation_temporality", as: UInt8.self)),
                ("is_monotonic", "\(try member(entry, "is_monotonic") == .bool(true))"),
                ("start_time_unix_nano", try integer(entry, "start_time_unix_nano", as: UInt64.self)),
                ("time_unix_nano", try integer(entry, "time_unix_nano", as: UInt64.self)),
                ("attributes", Canonical.keyValues(try SpanRecord.keyValues(entry["attributes"]))),
                ("flags", try integer(entry, "flags", as: UInt32.self)),
                ("value", Canonical.value(try SpanRecord.value(try member(entry, "value")))),
                ("count", try integer(entry, "count", as: UInt64.self)),
                ("sum", try optionalDouble(entry, "sum")),
                ("min", try optionalDouble(entry, "min")),
                ("max", try optionalDouble(entry, "max")),
                ("bucket_counts", try uints("bucket_counts")),
                ("explicit_bounds", "[\(try doubles(try member(entry, "explicit_bounds")).joined(separator: ", "))]"),
                ("scale", try integer(entry, "scale", as: Int32.self)),
                ("zero_count", try integer(entry, "zero_count", as: UInt64.self)),
                ("zero_threshold", Canonical.double(try double(try member(entry, "zero_threshold")))),
                ("positive_offset", try integer(entry, "positive_offset", as: Int32.self)),
                ("positive_bucket_counts", try uints("positive_bucket_counts")),
                ("negative_offset", try integer(entry, "negative_offset", as: Int32.self)),
                ("negative_bucket_counts", try uints("negative_bucket_counts")),
                ("quantiles", "[\(quantiles.joined(separator: ", "))]"),
                ("exemplars", "[\(exemplars.joined(separator: ", "))]"),
            ]
        }
    }

    private static func entries(_ name: String, list: String) throws -> [TestJSON] {
        let document = try TestJSON.parse(Fixtures.bytes(name))
        return try #require(document[list]?.arrayValue, "\(name) has no \(list) array")
    }

    private static func owner(_ entry: TestJSON) throws -> Description {
        [
            ("resource_index", try integer(entry, "resource_index", as: Int.self)),
            ("resource_attributes", Canonical.keyValues(try SpanRecord.keyValues(entry["resource_attributes"]))),
            ("resource_dropped_attributes_count", try integer(entry, "resource_dropped_attributes_count", as: UInt32.self)),
            ("resource_schema_url", try text(entry, "resource_schema_url")),
            ("scope_name", try text(entry, "scope_name")),
            ("scope_version", try text(entry, "scope_version")),
            ("scope_attributes", Canonical.keyValues(try SpanRecord.keyValues(entry["scope_attributes"]))),
            ("scope_dropped_attributes_count", try integer(entry, "scope_dropped_attributes_count", as: UInt32.self)),
            ("scope_schema_url", try text(entry, "scope_schema_url")),
        ]
    }

    private static func member(_ entry: TestJSON, _ key: String) throws -> TestJSON {
        try #require(entry[key], "expected entry lacks \(key)")
    }

    private static func text(_ entry: TestJSON, _ key: String) throws -> String {
        try #require(try member(entry, key).stringValue, "\(key) is not a string")
    }

    /// The number at `key`, checked to fit `Number`, as decimal text.
    private static func integer<Number: FixedWidthInteger>(_ entry: TestJSON, _ key: String, as _: Number.Type) throws -> String {
        let raw = try #require(try member(entry, key).numberText, "\(key) is not a number")
        return "\(try #require(Number(raw), "\(key) = \(raw) is not a \(Number.self)"))"
    }

    /// A double as `scripts/gen_fixtures.py` writes it: a number, or "NaN", "Infinity", "-Infinity", "-0.0".
    private static func double(_ json: TestJSON) throws -> Double {
        guard case let .double(value) = try SpanRecord.value(.object([TestJSON.Member(key: "double", value: json)])) else {
            throw TestJSON.ParseError(message: "not a double", offset: 0)
        }
        return value
    }

    private static func optionalDouble(_ entry: TestJSON, _ key: String) throws -> String {
        let json = try member(entry, key)
        return json == .null ? "nil" : Canonical.double(try double(json))
    }
}

// MARK: - Comparison

/// Every field that differs between `actual` and `expected`, one line each.
func differences(_ actual: [Description], _ expected: [Description], label: (Int) -> String = { "record \($0)" }) -> [String] {
    var out: [String] = []
    if actual.count != expected.count { out.append("count: \(actual.count) != expected \(expected.count)") }
    for (index, (a, e)) in zip(actual, expected).enumerated() {
        if a.map(\.field) != e.map(\.field) { out.append("\(label(index)): fields \(a.map(\.field)) != \(e.map(\.field))") }
        for (left, right) in zip(a, e) where left.text != right.text {
            out.append("\(label(index)) \(left.field): \(left.text) != expected \(right.text)")
        }
    }
    return out
}

func expectSame(_ actual: [Description], _ expected: [Description], _ context: String = "",
                sourceLocation: SourceLocation = #_sourceLocation) {
    let found = differences(actual, expected)
    #expect(found.isEmpty, "\(context)\n\(found.prefix(40).joined(separator: "\n"))", sourceLocation: sourceLocation)
}

// MARK: - Bounds

/// Checks that every reference of a batch is in bounds, so reading it back cannot trap.
struct BoundsCheck<Batch: OTLPBatch> {
    let batch: Batch

    func fits(_ ref: StringRef) -> Bool { ref.offset + ref.length <= batch.bytes.count }
    func fits(_ range: RowRange, _ count: Int) -> Bool { Int(range.start) + Int(range.count) <= count }

    /// `range` of `table`, and every string and nested value its rows reference.
    func fits(_ range: RowRange, of table: AttributeTable, depth: Int = 0) -> Bool {
        guard depth < 200, fits(range, table.count) else { return false }
        for row in range.indices {
            guard fits(table.keys[row]) else { return false }
            switch table.kinds[row] {
            case .string, .bytes: if !fits(StringRef(packed: table.payloads[row])) { return false }
            case .array, .keyValueList:
                if !fits(RowRange(packed: table.payloads[row]), of: batch.nestedValues, depth: depth + 1) { return false }
            default: break
            }
        }
        return true
    }

    /// Resources and scopes.
    func ownersFit() -> Bool {
        for scope in 0..<batch.scopes.count {
            guard Int(batch.scopes.resourceIndices[scope]) < batch.resources.count,
                  fits(batch.scopes.names[scope]), fits(batch.scopes.versions[scope]), fits(batch.scopes.schemaURLs[scope]),
                  fits(batch.scopes.attributes[scope], of: batch.attributes) else { return false }
        }
        for resource in 0..<batch.resources.count {
            guard fits(batch.resources.schemaURLs[resource]), fits(batch.resources.attributes[resource], of: batch.attributes) else { return false }
        }
        return true
    }
}

/// True if every reference of `batch` is in bounds, so that describing it cannot trap.
func batchIsConsistent(_ batch: LogBatch) -> Bool {
    let check = BoundsCheck(batch: batch)
    let columns: [Int] = [batch.observedTimes.count, batch.severityNumbers.count, batch.severityTexts.count, batch.bodies.count,
                   batch.recordAttributes.count, batch.droppedAttributeCounts.count, batch.flags.count, batch.traceIDs.count,
                   batch.spanIDs.count, batch.eventNames.count, batch.scopeIndices.count]
    guard columns.allSatisfy({ $0 == batch.count }), check.ownersFit() else { return false }
    for row in 0..<batch.count {
        guard Int(batch.scopeIndices[row]) < batch.scopes.count, batch.bodies.keys[row].isEmpty,
              check.fits(batch.severityTexts[row]), check.fits(batch.eventNames[row]),
              check.fits(RowRange(start: row, count: 1), of: batch.bodies),
              check.fits(batch.recordAttributes[row], of: batch.attributes) else { return false }
    }
    return true
}

/// True if every reference of `batch` is in bounds, so that describing it cannot trap.
func batchIsConsistent(_ batch: MetricBatch) -> Bool {
    let check = BoundsCheck(batch: batch)
    var columns: [Int] = [batch.startTimes.count, batch.times.count, batch.pointAttributes.count, batch.flags.count]
    columns += [batch.exemplars.count, batch.valueKinds.count, batch.values.count, batch.counts.count, batch.sums.count]
    columns += [batch.mins.count, batch.maxes.count, batch.bucketCounts.count, batch.explicitBounds.count, batch.scales.count]
    columns += [batch.zeroCounts.count, batch.zeroThresholds.count, batch.positiveOffsets.count, batch.positiveBucketCounts.count]
    columns += [batch.negativeOffsets.count, batch.negativeBucketCounts.count, batch.quantiles.count]
    let metrics = batch.metrics
    let metricColumns: [Int] = [metrics.descriptions.count, metrics.units.count, metrics.types.count, metrics.temporalities.count,
                         metrics.monotonic.count, metrics.scopeIndices.count, metrics.metadata.count]
    let exemplars = batch.exemplarTable
    let exemplarColumns: [Int] = [exemplars.valueKinds.count, exemplars.values.count, exemplars.traceIDs.count, exemplars.spanIDs.count,
                           exemplars.filteredAttributes.count]
    guard columns.allSatisfy({ $0 == batch.count }), metricColumns.allSatisfy({ $0 == metrics.count }),
          exemplarColumns.allSatisfy({ $0 == exemplars.count }),
          batch.quantileValues.values.count == batch.quantileValues.count, check.ownersFit() else { return false }
    for metric in 0..<metrics.count {
        guard Int(metrics.scopeIndices[metric]) < batch.scopes.count, check.fits(metrics.names[metric]),
              check.fits(metrics.descriptions[metric]), check.fits(metrics.units[metric]),
              check.fits(metrics.metadata[metric], of: batch.attributes) else { return false }
    }
    for exemplar in 0..<exemplars.count {
        guard check.fits(exemplars.filteredAttributes[exemplar], of: batch.exemplarAttributes) else { return false }
    }
    for row in 0..<batch.count {
        guard Int(batch.metricIndices[row]) < metrics.count,
              check.fits(batch.pointAttributes[row], of: batch.attributes),
              check.fits(batch.exemplars[row], exemplars.count),
              check.fits(batch.bucketCounts[row], batch.uint64Values.count),
              check.fits(batch.positiveBucketCounts[row], batch.uint64Values.count),
              check.fits(batch.negativeBucketCounts[row], batch.uint64Values.count),
              check.fits(batch.explicitBounds[row], batch.doubleValues.count),
              check.fits(batch.quantiles[row], batch.quantileValues.count) else { return false }
    }
    return true
}
