import PyFlareWire

/// Encodes data points of metric batches into column chunks, one per ``MetricColumn``, for
/// metric segment blocks and WAL records. A point's metric (name, description, unit, type,
/// temporality, monotonicity, metadata) is stored on every point; dictionaries and zstd
/// make the repeats cheap.
struct MetricBlockEncoder {
    let batches: [MetricBatch]
    /// Reads the batches through references (see ``BatchView``).
    let writer: ColumnWriter<SignalBatchView<MetricBatch>>

    init(_ batches: [MetricBatch]) {
        self.batches = batches
        writer = ColumnWriter(views: batches.map { batch in
            SignalBatchView(batch, rowScopes: batch.metricIndices.map { batch.metrics.scopeIndices[Int($0)] })
        })
    }

    /// Every point of every batch, in order.
    var allRows: [RowAddress] { writer.allRows }

    func encode(_ rows: some Collection<RowAddress>) -> EncodedBlock {
        var block = BlockChunks<MetricColumn>()
        let names = writer.dictionary(rows) { $0.batch.metrics.names[$0.batch.metric(ofPoint: $1)] }
        block.set(.metricName, names)
        block.set(.metricDescription, writer.strings(rows) { $0.batch.metrics.descriptions[$0.batch.metric(ofPoint: $1)] })
        block.set(.unit, writer.strings(rows) { $0.batch.metrics.units[$0.batch.metric(ofPoint: $1)] })
        block.set(.metricType, writer.varints(rows) { UInt64($0.batch.metrics.types[$0.batch.metric(ofPoint: $1)].rawValue) }.bytes)
        block.set(.temporality, writer.varints(rows) { UInt64($0.batch.metrics.temporalities[$0.batch.metric(ofPoint: $1)]) }.bytes)
        block.set(.monotonic, writer.varints(rows) { $0.batch.metrics.monotonic[$0.batch.metric(ofPoint: $1)] ? 1 : 0 }.bytes)
        block.set(.metadata, writer.attributes(rows) { $0.batch.metrics.metadata[$0.batch.metric(ofPoint: $1)] })

        block.set(.startTime, writer.deltas(rows) { $0.batch.startTimes[$1] })
        let times = writer.deltas(rows) { $0.batch.times[$1] }
        block.set(.time, times)
        block.set(.attributes, writer.attributes(rows) { $0.batch.pointAttributes[$1] })
        block.set(.flags, writer.varints(rows) { UInt64($0.batch.flags[$1]) }.bytes)
        block.set(.valueKind, writer.varints(rows) { UInt64($0.batch.valueKinds[$1]) }.bytes)
        block.set(.value, writer.fixed64s(rows) { $0.batch.values[$1] })

        block.set(.count, writer.varints(rows) { $0.batch.counts[$1] }.bytes)
        block.set(.sum, writer.nullableDoubles(rows) { $0.batch.sums[$1] })
        block.set(.min, writer.nullableDoubles(rows) { $0.batch.mins[$1] })
        block.set(.max, writer.nullableDoubles(rows) { $0.batch.maxes[$1] })
        block.set(.bucketCounts, bucketCounts(rows) { $0.batch.bucketCounts[$1] })
        block.set(.explicitBounds, writer.blobs(rows) { writer, row, out in
            let view = writer.view
            for index in view.batch.explicitBounds[row].indices { out.fixed64(view.batch.doubleValues[index].bitPattern) }
        })

        block.set(.scale, writer.zigzags(rows) { Int64($0.batch.scales[$1]) }.bytes)
        block.set(.zeroCount, writer.varints(rows) { $0.batch.zeroCounts[$1] }.bytes)
        block.set(.zeroThreshold, writer.fixed64s(rows) { $0.batch.zeroThresholds[$1].bitPattern })
        block.set(.positiveOffset, writer.zigzags(rows) { Int64($0.batch.positiveOffsets[$1]) }.bytes)
        block.set(.positiveBucketCounts, bucketCounts(rows) { $0.batch.positiveBucketCounts[$1] })
        block.set(.negativeOffset, writer.zigzags(rows) { Int64($0.batch.negativeOffsets[$1]) }.bytes)
        block.set(.negativeBucketCounts, bucketCounts(rows) { $0.batch.negativeBucketCounts[$1] })

        block.set(.quantiles, writer.blobs(rows) { writer, row, out in
            let view = writer.view
            for index in view.batch.quantiles[row].indices {
                out.fixed64(view.batch.quantileValues.quantiles[index].bitPattern)
                out.fixed64(view.batch.quantileValues.values[index].bitPattern)
            }
        })
        block.set(.exemplars, exemplars(rows))

        block.set(.resource, .scope, writer.resourcesAndScopes(rows))
        let service = writer.dictionary(rows) { $0.service(ofRow: $1) }
        block.set(.service, service)

        return block.block(rows: rows.count, times: times.stats.unsignedRange, services: service.sortedStrings(),
                           models: names.sortedStrings())
    }

    /// The segment's row order: metric name, service (points without one first), time, arrival.
    func sortedRows() -> [RowAddress] {
        let rows = allRows
        let names = writer.ranks(rows) { $0.batch.metrics.names[$0.batch.metric(ofPoint: $1)] }
        let services = writer.ranks(rows) { $0.service(ofRow: $1) }
        let times = rows.map { writer.views[Int($0.batch)].batch.times[Int($0.row)] }
        return rows.indices.sorted {
            (names[$0], services[$0], times[$0], $0) < (names[$1], services[$1], times[$1], $1)
        }.map { rows[$0] }
    }

    /// Bucket counts: each row's counts as varints back to back.
    private func bucketCounts(_ rows: some Collection<RowAddress>, _ range: (SignalBatchView<MetricBatch>, Int) -> RowRange) -> [UInt8] {
        writer.blobs(rows) { writer, row, out in
            for index in range(writer.view, row).indices { out.varint(writer.view.batch.uint64Values[index]) }
        }
    }

    /// Exemplars: a zero-length row when the point has none.
    private func exemplars(_ rows: some Collection<RowAddress>) -> [UInt8] {
        writer.lists(rows, { $0.batch.exemplars[$1] }) { writer, _, exemplar, out in
            let view = writer.view
            out.fixed64(view.batch.exemplarTable.times[exemplar])
            out.byte(view.batch.exemplarTable.valueKinds[exemplar])
            out.fixed64(view.batch.exemplarTable.values[exemplar])
            out.traceID(view.batch.exemplarTable.traceIDs[exemplar])
            out.fixed64(view.batch.exemplarTable.spanIDs[exemplar])
            writer.keyValues(view.batch.exemplarTable.filteredAttributes[exemplar], of: view.batch.exemplarAttributes, into: &out)
        }
    }
}

extension MetricBatch {
    /// Index into ``metrics`` of point `row`.
    @inline(__always)
    func metric(ofPoint row: Int) -> Int { Int(metricIndices[row]) }
}

extension BlockDecoder {
    /// Every column of a metric block, back into a batch; strings point into the block's arena.
    /// Points of one metric (same name, description, unit, type, temporality, monotonicity,
    /// metadata and scope) share a row of ``MetricBatch/metrics``.
    /// The metric identity of every point (name, description, unit, type, temporality,
    /// monotonicity, metadata, resource and scope) and the point columns in `wanted` (all when
    /// nil); arrays of point columns not read stay empty.
    consuming func decodeMetricBatch(only wanted: Set<MetricColumn>? = nil) throws(ColumnError) -> MetricBatch {
        func wants(_ column: MetricColumn) -> Bool { wanted?.contains(column) ?? true }
        var points = MetricBatch()
        let names = try dictionary(MetricColumn.metricName)
        let descriptions = try dictionary(MetricColumn.metricDescription)
        let units = try dictionary(MetricColumn.unit)
        let types = try varints(MetricColumn.metricType, as: MetricType.self)
        let temporalities = try varints(MetricColumn.temporality, atMost: UInt64(UInt8.max))
        let monotonic = try varints(MetricColumn.monotonic, atMost: 1)
        let metadata = try blobs(MetricColumn.metadata)
        if wants(.startTime) { points.startTimes = try deltas(MetricColumn.startTime) }
        if wants(.time) { points.times = try deltas(MetricColumn.time) }
        let attributes = wants(.attributes) ? try blobs(MetricColumn.attributes) : nil
        if wants(.flags) { points.flags = try varints(MetricColumn.flags).map { UInt32(truncatingIfNeeded: $0) } }
        if wants(.valueKind) { points.valueKinds = try varints(MetricColumn.valueKind, atMost: 2).map { UInt8($0) } }
        if wants(.value) { points.values = try fixed64s(MetricColumn.value) }
        if wants(.count) { points.counts = try varints(MetricColumn.count) }
        if wants(.sum) { points.sums = try nullableDoubles(MetricColumn.sum) }
        if wants(.min) { points.mins = try nullableDoubles(MetricColumn.min) }
        if wants(.max) { points.maxes = try nullableDoubles(MetricColumn.max) }
        let bucketCounts = wants(.bucketCounts) ? try blobs(MetricColumn.bucketCounts) : nil
        let explicitBounds = wants(.explicitBounds) ? try blobs(MetricColumn.explicitBounds) : nil
        if wants(.scale) { points.scales = try zigzags(MetricColumn.scale).map { Int32(truncatingIfNeeded: $0) } }
        if wants(.zeroCount) { points.zeroCounts = try varints(MetricColumn.zeroCount) }
        if wants(.zeroThreshold) { points.zeroThresholds = try fixed64s(MetricColumn.zeroThreshold).map { Double(bitPattern: $0) } }
        if wants(.positiveOffset) { points.positiveOffsets = try zigzags(MetricColumn.positiveOffset).map { Int32(truncatingIfNeeded: $0) } }
        let positiveBuckets = wants(.positiveBucketCounts) ? try blobs(MetricColumn.positiveBucketCounts) : nil
        if wants(.negativeOffset) { points.negativeOffsets = try zigzags(MetricColumn.negativeOffset).map { Int32(truncatingIfNeeded: $0) } }
        let negativeBuckets = wants(.negativeBucketCounts) ? try blobs(MetricColumn.negativeBucketCounts) : nil
        let quantiles = wants(.quantiles) ? try blobs(MetricColumn.quantiles) : nil
        let exemplars = wants(.exemplars) ? try blobs(MetricColumn.exemplars) : nil
        // Derived from the resource; read only to check it.
        if wanted == nil { _ = try dictionary(MetricColumn.service) }
        let owners = try owners(resource: MetricColumn.resource, scope: MetricColumn.scope)

        let rows = self.rows
        try finish(&points) { reader, points throws(ColumnError) in
            let scopes = try reader.scopeIndices(owners, into: &points)
            struct MetricKey: Hashable {
                var scope: UInt32, name: Int, description: Int, unit: Int, type: MetricType, temporality: UInt64, monotonic: UInt64
                var metadata: Int
            }
            var metricByKey: [MetricKey: UInt32] = [:]
            var metadataBlobs = DictionaryBuilder(rows: 0)
            points.metricIndices.reserveCapacity(rows)
            for row in 0..<rows {
                let key = MetricKey(scope: scopes[row], name: names.codes[row], description: descriptions.codes[row],
                                    unit: units.codes[row], type: types[row], temporality: temporalities[row], monotonic: monotonic[row],
                                    metadata: metadataBlobs.code(of: UnsafeRawBufferPointer(rebasing: reader.arena[metadata[row]])))
                if let metric = metricByKey[key] {
                    points.metricIndices.append(metric)
                } else {
                    let metric = UInt32(points.metrics.count)
                    points.metrics.names.append(names.entries[key.name])
                    points.metrics.descriptions.append(descriptions.entries[key.description])
                    points.metrics.units.append(units.entries[key.unit])
                    points.metrics.types.append(key.type)
                    points.metrics.temporalities.append(UInt8(key.temporality))
                    points.metrics.monotonic.append(key.monotonic != 0)
                    points.metrics.scopeIndices.append(key.scope)
                    points.metrics.metadata.append(try reader.keyValues(metadata[row], MetricColumn.metadata,
                                                                        into: &points.attributes, nested: &points.nestedValues))
                    metricByKey[key] = metric
                    points.metricIndices.append(metric)
                }
                if let attributes {
                    points.pointAttributes.append(try reader.keyValues(attributes[row], MetricColumn.attributes,
                                                                       into: &points.attributes, nested: &points.nestedValues))
                }
                if let bucketCounts {
                    points.bucketCounts.append(try reader.uint64s(bucketCounts[row], MetricColumn.bucketCounts, into: &points.uint64Values))
                }
                if let explicitBounds {
                    points.explicitBounds.append(try reader.doubles(explicitBounds[row], MetricColumn.explicitBounds, into: &points.doubleValues))
                }
                if let positiveBuckets {
                    points.positiveBucketCounts.append(try reader.uint64s(positiveBuckets[row], MetricColumn.positiveBucketCounts,
                                                                          into: &points.uint64Values))
                }
                if let negativeBuckets {
                    points.negativeBucketCounts.append(try reader.uint64s(negativeBuckets[row], MetricColumn.negativeBucketCounts,
                                                                          into: &points.uint64Values))
                }
                if let quantiles { points.quantiles.append(try reader.quantiles(quantiles[row], into: &points.quantileValues)) }
                if let exemplars {
                    points.exemplars.append(try reader.exemplars(exemplars[row], into: &points.exemplarTable,
                                                                 attributes: &points.exemplarAttributes, nested: &points.nestedValues))
                }
            }
        }
        return points
    }
}

extension KeyValueReader {
    /// A row of varints, appended to `values`; ``RowRange/empty`` when the row is empty.
    func uint64s(_ range: Range<Int>, _ column: MetricColumn, into values: inout [UInt64]) throws(ColumnError) -> RowRange {
        guard !range.isEmpty else { return .empty }
        return try wrap(column) { () throws(FormatError) -> RowRange in
            var input = reader(range)
            let start = values.count
            while !input.isAtEnd { values.append(try input.varint()) }
            return RowRange(start: start, count: values.count - start)
        }
    }

    /// A row of doubles (fixed64 bit patterns), appended to `values`.
    func doubles(_ range: Range<Int>, _ column: MetricColumn, into values: inout [Double]) throws(ColumnError) -> RowRange {
        guard !range.isEmpty else { return .empty }
        return try wrap(column) { () throws(FormatError) -> RowRange in
            guard range.count % 8 == 0 else { throw FormatError("row of \(range.count) bytes is not a whole number of doubles") }
            var input = reader(range)
            let start = values.count
            while !input.isAtEnd { values.append(Double(bitPattern: try input.fixed64())) }
            return RowRange(start: start, count: values.count - start)
        }
    }

    /// A row of (quantile, value) pairs.
    func quantiles(_ range: Range<Int>, into table: inout QuantileTable) throws(ColumnError) -> RowRange {
        guard !range.isEmpty else { return .empty }
        return try wrap(MetricColumn.quantiles) { () throws(FormatError) -> RowRange in
            guard range.count % 16 == 0 else { throw FormatError("row of \(range.count) bytes is not a whole number of quantiles") }
            var input = reader(range)
            let start = table.count
            while !input.isAtEnd {
                table.quantiles.append(Double(bitPattern: try input.fixed64()))
                table.values.append(Double(bitPattern: try input.fixed64()))
            }
            return RowRange(start: start, count: table.count - start)
        }
    }

    /// A point's exemplars; a zero-length row when it has none.
    func exemplars(_ range: Range<Int>, into table: inout ExemplarTable, attributes: inout AttributeTable,
                   nested: inout AttributeTable) throws(ColumnError) -> RowRange {
        guard !range.isEmpty else { return .empty }
        return try wrap(MetricColumn.exemplars) { () throws(FormatError) -> RowRange in
            var input = reader(range)
            let start = table.count
            let count = try input.count(atMost: range.count)
            guard count > 0 else { throw FormatError("exemplar list of count 0") }
            for _ in 0..<count {
                table.times.append(try input.fixed64())
                let kind = try input.byte()
                guard kind <= 2 else { throw FormatError("unknown number kind \(kind)") }
                table.valueKinds.append(kind)
                table.values.append(try input.fixed64())
                table.traceIDs.append(try input.traceID())
                table.spanIDs.append(try input.fixed64())
                table.filteredAttributes.append(try keyValues(&input, into: &attributes, nested: &nested))
            }
            try input.expectEnd()
            return RowRange(start: start, count: count)
        }
    }
}
