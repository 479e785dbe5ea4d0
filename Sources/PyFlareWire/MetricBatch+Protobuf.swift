/// Decoding of `ExportMetricsServiceRequest` protobuf straight into a ``MetricBatch``.
///
/// Field numbers follow opentelemetry-proto (`collector/metrics/v1`, `metrics/v1`); the
/// envelope, resources, scopes and values are decoded by ``ProtobufDecoder``, shared with the
/// other signals. Repeated scalars (`bucket_counts`, `explicit_bounds`) are read packed, as
/// encoders write them, and unpacked, as protobuf requires parsers to accept.
extension MetricBatch {
    /// Decodes a protobuf `ExportMetricsServiceRequest`.
    ///
    /// - Throws: ``WireError`` for truncated or malformed input (a packed fixed64 or double
    ///   field whose length is not a multiple of 8 is truncated). Points refused one by one
    ///   (see ``MetricBatch``) are counted in ``rejectedCount`` instead.
    public static func decodeProtobuf(_ payload: [UInt8]) throws(WireError) -> MetricBatch {
        try ProtobufDecoder.decodeRequest(payload) { (decoder, message, scopeIndex, batch: inout MetricBatch) throws(WireError) in
            try decoder.decodeMetric(message, scopeIndex: scopeIndex, into: &batch)
        }
    }
}

extension MetricBatch: DecodableBatch {
    /// Reserves room for the points a protobuf payload of `payloadSize` bytes typically holds.
    mutating func reserveCapacity(forPayloadSize payloadSize: Int) {
        // Tens of bytes for a gauge point, a few hundred for a histogram's.
        let capacity = max(16, payloadSize / 128)
        attributes.reserveCapacity(capacity * 2)
        metricIndices.reserveCapacity(capacity)
        startTimes.reserveCapacity(capacity)
        times.reserveCapacity(capacity)
        pointAttributes.reserveCapacity(capacity)
        flags.reserveCapacity(capacity)
        exemplars.reserveCapacity(capacity)
        valueKinds.reserveCapacity(capacity)
        values.reserveCapacity(capacity)
        counts.reserveCapacity(capacity)
        sums.reserveCapacity(capacity)
        mins.reserveCapacity(capacity)
        maxes.reserveCapacity(capacity)
        bucketCounts.reserveCapacity(capacity)
        explicitBounds.reserveCapacity(capacity)
        scales.reserveCapacity(capacity)
        zeroCounts.reserveCapacity(capacity)
        zeroThresholds.reserveCapacity(capacity)
        positiveOffsets.reserveCapacity(capacity)
        positiveBucketCounts.reserveCapacity(capacity)
        negativeOffsets.reserveCapacity(capacity)
        negativeBucketCounts.reserveCapacity(capacity)
        quantiles.reserveCapacity(capacity)
    }
}

extension ProtobufDecoder {
    fileprivate func decodeMetric(_ message: ProtoReader, scopeIndex: Int, into batch: inout MetricBatch) throws(WireError) {
        var reader = message
        let metricStart = reader.position
        let rollback = batch.rollbackPoint()
        let index = batch.beginMetric(scopeIndex: scopeIndex)
        // The data oneof is decoded after the other fields: the metadata rows stay contiguous
        // whatever the field order, and only the last data field counts, as oneof semantics say.
        var data: (type: MetricType, message: ProtoReader)?
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .lengthDelimited): batch.metrics.names[index] = try stringRef(reader.readLengthDelimited())
            case (2, .lengthDelimited): batch.metrics.descriptions[index] = try stringRef(reader.readLengthDelimited())
            case (3, .lengthDelimited): batch.metrics.units[index] = try stringRef(reader.readLengthDelimited())
            case (5, .lengthDelimited): data = (.gauge, reader.child(try reader.readLengthDelimited()))
            case (7, .lengthDelimited): data = (.sum, reader.child(try reader.readLengthDelimited()))
            case (9, .lengthDelimited): data = (.histogram, reader.child(try reader.readLengthDelimited()))
            case (10, .lengthDelimited): data = (.exponentialHistogram, reader.child(try reader.readLengthDelimited()))
            case (11, .lengthDelimited): data = (.summary, reader.child(try reader.readLengthDelimited()))
            case (12, .lengthDelimited):
                batch.attributes.append(try decodeKeyValue(reader.child(reader.readLengthDelimited()), nested: &batch.nestedValues, depth: 0))
            default: try reader.skip(wireType)
            }
        }
        batch.metrics.metadata[index] = batch.attributeRows(since: rollback.attributes)
        if let data {
            batch.metrics.types[index] = data.type
            try decodeData(data.message, type: data.type, metricIndex: index, into: &batch)
        }
        batch.endMetric(index, hasData: data != nil, since: rollback, at: metricStart)
    }

    /// Decodes a `Gauge`, `Sum`, `Histogram`, `ExponentialHistogram` or `Summary`: data points
    /// in field 1, and where the type has them, the temporality (2) and monotonicity (3).
    private func decodeData(_ message: ProtoReader, type: MetricType, metricIndex: Int, into batch: inout MetricBatch) throws(WireError) {
        var reader = message
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .lengthDelimited):
                try decodePoint(reader.child(reader.readLengthDelimited()), type: type, metricIndex: metricIndex, into: &batch)
            case (2, .varint) where type == .sum || type == .histogram || type == .exponentialHistogram:
                batch.metrics.temporalities[metricIndex] = UInt8(truncatingIfNeeded: min(try reader.readVarint(), 255))
            case (3, .varint) where type == .sum:
                batch.metrics.monotonic[metricIndex] = try reader.readVarint() != 0
            default: try reader.skip(wireType)
            }
        }
    }

    /// Field numbers of the fields every point type has, which differ between the types.
    private static func commonFields(of type: MetricType) -> (attributes: UInt32, exemplars: UInt32, flags: UInt32) {
        switch type {
        case .gauge, .sum: (7, 5, 8)
        case .histogram: (9, 8, 10)
        case .exponentialHistogram: (1, 11, 10)
        case .summary: (7, 0, 8)  // no exemplars; field 0 never reaches here
        }
    }

    private func decodePoint(_ message: ProtoReader, type: MetricType, metricIndex: Int, into batch: inout MetricBatch) throws(WireError) {
        var reader = message
        let pointStart = reader.position
        let common = Self.commonFields(of: type)
        var point = PointFields(type: type)
        let rollback = batch.rollbackPoint()
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (2, .fixed64): point.startTime = try reader.readFixed64()
            case (3, .fixed64): point.time = try reader.readFixed64()
            case (common.attributes, .lengthDelimited):
                batch.attributes.append(try decodeKeyValue(reader.child(reader.readLengthDelimited()), nested: &batch.nestedValues, depth: 0))
            case (common.exemplars, .lengthDelimited):
                try decodeExemplar(reader.child(reader.readLengthDelimited()), into: &batch)
            case (common.flags, .varint): point.flags = UInt32(truncatingIfNeeded: try reader.readVarint())
            default: try decodeTypedField(field, wireType, of: type, &reader, into: &point, batch: &batch)
            }
        }
        batch.appendPoint(point, metricIndex: metricIndex, since: rollback, at: pointStart)
    }

    /// The fields whose meaning depends on the point type; anything else is skipped.
    private func decodeTypedField(
        _ field: UInt32, _ wireType: WireType, of type: MetricType, _ reader: inout ProtoReader,
        into point: inout PointFields, batch: inout MetricBatch
    ) throws(WireError) {
        switch (type, field, wireType) {
        // NumberDataPoint: as_double (double), as_int (sfixed64).
        case (.gauge, 4, .fixed64), (.sum, 4, .fixed64): point.number.setDouble(Double(bitPattern: try reader.readFixed64()))
        case (.gauge, 6, .fixed64), (.sum, 6, .fixed64): point.number.setInt(Int64(bitPattern: try reader.readFixed64()))
        // count (fixed64) and sum (double) are fields 4 and 5 of the three distribution types.
        case (.histogram, 4, .fixed64), (.exponentialHistogram, 4, .fixed64), (.summary, 4, .fixed64):
            point.count = try reader.readFixed64()
        case (.histogram, 5, .fixed64), (.exponentialHistogram, 5, .fixed64), (.summary, 5, .fixed64):
            point.sum = Double(bitPattern: try reader.readFixed64())
        case (.histogram, 11, .fixed64), (.exponentialHistogram, 12, .fixed64): point.min = Double(bitPattern: try reader.readFixed64())
        case (.histogram, 12, .fixed64), (.exponentialHistogram, 13, .fixed64): point.max = Double(bitPattern: try reader.readFixed64())
        // HistogramDataPoint: bucket_counts (fixed64) and explicit_bounds (double), packed or not.
        case (.histogram, 6, .lengthDelimited):
            try forEachPackedFixed64(&reader) { batch.uint64Values.append($0) }
        case (.histogram, 6, .fixed64): batch.uint64Values.append(try reader.readFixed64())
        case (.histogram, 7, .lengthDelimited):
            try forEachPackedFixed64(&reader) { batch.doubleValues.append(Double(bitPattern: $0)) }
        case (.histogram, 7, .fixed64): batch.doubleValues.append(Double(bitPattern: try reader.readFixed64()))
        // ExponentialHistogramDataPoint.
        case (.exponentialHistogram, 6, .varint): point.scale = Self.zigzag32(try reader.readVarint())
        case (.exponentialHistogram, 7, .fixed64): point.zeroCount = try reader.readFixed64()
        case (.exponentialHistogram, 8, .lengthDelimited):
            (point.positiveOffset, point.positiveBucketCounts) = try decodeBuckets(reader.child(reader.readLengthDelimited()), into: &batch.uint64Values)
        case (.exponentialHistogram, 9, .lengthDelimited):
            (point.negativeOffset, point.negativeBucketCounts) = try decodeBuckets(reader.child(reader.readLengthDelimited()), into: &batch.uint64Values)
        case (.exponentialHistogram, 14, .fixed64): point.zeroThreshold = Double(bitPattern: try reader.readFixed64())
        // SummaryDataPoint.quantile_values.
        case (.summary, 6, .lengthDelimited):
            try decodeQuantile(reader.child(reader.readLengthDelimited()), into: &batch.quantileValues)
        default: try reader.skip(wireType)
        }
    }

    /// Reads a packed run of 8-byte values (fixed64 or double), calling `body` with each.
    private func forEachPackedFixed64(_ reader: inout ProtoReader, _ body: (UInt64) -> Void) throws(WireError) {
        let at = reader.position
        let range = try reader.readLengthDelimited()
        guard range.count.isMultiple(of: 8) else {
            throw WireError(.truncated, "packed 8-byte values run of \(range.count) bytes is not a multiple of 8", at: at)
        }
        var packed = reader.child(range)
        while !packed.isAtEnd { body(try packed.readFixed64()) }
    }

    /// Decodes `ExponentialHistogramDataPoint.Buckets`: `offset` (sint32) and `bucket_counts`
    /// (uint64 varints, packed or not), appended to `values`. When the message occurs twice,
    /// the last one counts, as for every singular message field this decoder reads.
    private func decodeBuckets(_ message: ProtoReader, into values: inout [UInt64]) throws(WireError) -> (Int32, RowRange) {
        var reader = message
        var offset: Int32 = 0
        let start = values.count
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .varint): offset = Self.zigzag32(try reader.readVarint())
            case (2, .lengthDelimited):
                var packed = reader.child(try reader.readLengthDelimited())
                while !packed.isAtEnd { values.append(try packed.readVarint()) }
            case (2, .varint): values.append(try reader.readVarint())
            default: try reader.skip(wireType)
            }
        }
        return (offset, RowRange(start: start, count: values.count - start))
    }

    /// Decodes `SummaryDataPoint.ValueAtQuantile`: `quantile` (1) and `value` (2), both doubles.
    private func decodeQuantile(_ message: ProtoReader, into table: inout QuantileTable) throws(WireError) {
        var reader = message
        var quantile = 0.0
        var value = 0.0
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .fixed64): quantile = Double(bitPattern: try reader.readFixed64())
            case (2, .fixed64): value = Double(bitPattern: try reader.readFixed64())
            default: try reader.skip(wireType)
            }
        }
        table.quantiles.append(quantile)
        table.values.append(value)
    }

    private func decodeExemplar(_ message: ProtoReader, into batch: inout MetricBatch) throws(WireError) {
        var reader = message
        let exemplarStart = reader.position
        var exemplar = ExemplarFields()
        let start = batch.exemplarAttributes.count
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (2, .fixed64): exemplar.time = try reader.readFixed64()
            case (3, .fixed64): exemplar.number.setDouble(Double(bitPattern: try reader.readFixed64()))
            case (4, .lengthDelimited): exemplar.spanID = try readSpanID(&reader, what: "span_id", problem: &exemplar.invalidSpanID)
            case (5, .lengthDelimited): exemplar.traceID = try readTraceID(&reader, what: "trace_id", problem: &exemplar.invalidTraceID)
            case (6, .fixed64): exemplar.number.setInt(Int64(bitPattern: try reader.readFixed64()))
            case (7, .lengthDelimited):
                batch.exemplarAttributes.append(try decodeKeyValue(reader.child(reader.readLengthDelimited()), nested: &batch.nestedValues, depth: 0))
            default: try reader.skip(wireType)
            }
        }
        batch.appendExemplar(exemplar, firstAttribute: start, at: exemplarStart)
    }

    /// A `sint32` from its zigzag varint (only the low 32 bits count, as protobuf parsers do).
    private static func zigzag32(_ raw: UInt64) -> Int32 {
        let bits = UInt32(truncatingIfNeeded: raw)
        return Int32(bitPattern: (bits >> 1) ^ (0 &- (bits & 1)))
    }
}
