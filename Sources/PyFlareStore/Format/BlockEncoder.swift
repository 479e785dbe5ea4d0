import PyFlareModel
import PyFlareWire

/// A span of one of the batches being stored: the rows of a block, in block order.
struct RowAddress: Sendable {
    var batch: UInt32
    var row: UInt32
}

/// One block's column chunks before compression, with what the zone maps need.
struct EncodedBlock {
    var rows: Int
    /// Indexed by ``SpanColumn/rawValue``; nil for columns not encoded.
    var chunks: [[UInt8]?]
    /// Null counts and min/max for the footer, indexed like ``chunks``.
    var stats: [ColumnStats?]
    var minStartTime: UInt64
    var maxStartTime: UInt64
    var services: [String]
    var models: [String]
}

/// Encodes spans of normalized batches into column chunks, one per ``SpanColumn``.
///
/// The same encoding serves segment blocks and WAL records. Strings are read from the
/// batches' arenas and never become `String`s; each column is one pass over the rows.
struct BlockEncoder {
    let batches: [NormalizedBatch]
    /// The batches behind references: reading a column of `views[b]` copies nothing,
    /// where `batches[b]` would retain every array of the batch on each row.
    private let views: [BatchView]
    /// The table the batches' price indices point into.
    let pricing: PricingTable

    init(_ batches: [NormalizedBatch], pricing: PricingTable) {
        self.batches = batches
        self.views = batches.map(BatchView.init)
        self.pricing = pricing
    }

    /// Every span of every batch, in order.
    var allRows: [RowAddress] {
        var rows: [RowAddress] = []
        rows.reserveCapacity(batches.reduce(0) { $0 + $1.count })
        for (batch, normalized) in batches.enumerated() {
            for row in 0..<normalized.count { rows.append(RowAddress(batch: UInt32(batch), row: UInt32(row))) }
        }
        return rows
    }

    func encode(_ rows: some Collection<RowAddress>) -> EncodedBlock {
        var chunks = [[UInt8]?](repeating: nil, count: 256)
        var stats = [ColumnStats?](repeating: nil, count: 256)
        func set(_ column: SpanColumn, _ bytes: [UInt8]) { chunks[Int(column.rawValue)] = bytes }
        func set(_ column: SpanColumn, _ encoded: (bytes: [UInt8], stats: ColumnStats)) {
            chunks[Int(column.rawValue)] = encoded.bytes
            stats[Int(column.rawValue)] = encoded.stats
        }

        set(.traceID, traceIDs(rows))
        set(.spanID, fixed64(rows) { $0.spans.spanIDs[$1] })
        set(.parentSpanID, parentReferences(rows))
        set(.flags, varints(rows) { UInt64($0.spans.flags[$1]) })
        set(.kind, varints(rows) { UInt64($0.spans.kinds[$1]) })
        set(.statusCode, varints(rows) { UInt64($0.spans.statusCodes[$1]) })
        set(.droppedAttributes, varints(rows) { UInt64($0.spans.droppedAttributeCounts[$1]) })
        set(.droppedEvents, varints(rows) { UInt64($0.spans.droppedEventCounts[$1]) })
        set(.droppedLinks, varints(rows) { UInt64($0.spans.droppedLinkCounts[$1]) })
        set(.aiKind, varints(rows) { UInt64($0.columns.kind[$1].rawValue) })
        set(.costSource, varints(rows) { UInt64($0.columns.costSource[$1].rawValue) })

        var minStart = UInt64.max, maxStart = UInt64.min
        var minDuration = Int64.max, maxDuration = Int64.min
        var starts = ByteWriter(capacity: rows.count * 4)
        var durations = ByteWriter(capacity: rows.count * 4)
        var previous: Int64 = 0
        for address in rows {
            let view = views[Int(address.batch)]
            let start = view.spans.startTimes[Int(address.row)], end = view.spans.endTimes[Int(address.row)]
            minStart = min(minStart, start)
            maxStart = max(maxStart, start)
            starts.zigzag(Int64(bitPattern: start) &- previous)
            previous = Int64(bitPattern: start)
            let duration = Int64(bitPattern: end &- start)
            minDuration = min(minDuration, duration)
            maxDuration = max(maxDuration, duration)
            durations.zigzag(duration)
        }
        set(.startTime, (starts.bytes, ColumnStats(min: minStart, max: maxStart, rows: rows.count)))
        set(.duration, (durations.bytes, ColumnStats(min: UInt64(bitPattern: minDuration), max: UInt64(bitPattern: maxDuration), rows: rows.count)))

        set(.traceState, strings(rows) { $0.spans.traceStates[$1] })
        set(.name, strings(rows) { $0.spans.names[$1] })
        set(.statusMessage, strings(rows) { $0.spans.statusMessages[$1] })
        var service = DictionaryBuilder(rows: rows.count)
        var model = DictionaryBuilder(rows: rows.count)
        fill(&service, rows) { $0.columns.service[$1] }
        fill(&model, rows) { $0.columns.model[$1] }
        set(.service, (service.finish(), service.stats))
        set(.model, (model.finish(), model.stats))
        set(.responseModel, strings(rows) { $0.columns.responseModel[$1] })
        set(.provider, strings(rows) { $0.columns.provider[$1] })
        set(.operation, strings(rows) { $0.columns.operation[$1] })
        set(.user, strings(rows) { $0.columns.user[$1] })
        set(.session, strings(rows) { $0.columns.session[$1] })
        set(.feature, strings(rows) { $0.columns.feature[$1] })
        set(.environment, strings(rows) { $0.columns.environment[$1] })
        set(.priceModel, priceModels(rows))

        set(.inputTokens, nullables(rows) { $0.columns.inputTokens[$1] })
        set(.outputTokens, nullables(rows) { $0.columns.outputTokens[$1] })
        set(.cacheReadTokens, nullables(rows) { $0.columns.cacheReadTokens[$1] })
        set(.cacheWriteTokens, nullables(rows) { $0.columns.cacheWriteTokens[$1] })
        set(.reasoningTokens, nullables(rows) { $0.columns.reasoningTokens[$1] })
        set(.totalTokens, nullables(rows) { $0.columns.totalTokens[$1] })
        set(.costMicros, nullables(rows) { $0.columns.costMicros[$1] })

        let (resources, scopes) = resourcesAndScopes(rows)
        set(.resource, resources)
        set(.scope, scopes)
        let (attributes, largeText) = spanAttributes(rows)
        set(.attributes, attributes)
        set(.largeText, largeText)
        set(.events, events(rows))
        set(.links, links(rows))

        return EncodedBlock(rows: rows.count, chunks: chunks, stats: stats,
                            minStartTime: rows.isEmpty ? 0 : minStart, maxStartTime: rows.isEmpty ? 0 : maxStart,
                            services: service.sortedStrings(), models: model.sortedStrings())
    }

    // MARK: - Scalar columns

    private func varints(_ rows: some Collection<RowAddress>, _ value: (BatchView, Int) -> UInt64) -> [UInt8] {
        var out = ByteWriter(capacity: rows.count)
        for address in rows { out.varint(value(views[Int(address.batch)], Int(address.row))) }
        return out.bytes
    }

    private func fixed64(_ rows: some Collection<RowAddress>, _ value: (BatchView, Int) -> UInt64) -> [UInt8] {
        var out = ByteWriter(capacity: rows.count * 8)
        for address in rows { out.fixed64(value(views[Int(address.batch)], Int(address.row))) }
        return out.bytes
    }

    private func nullables(_ rows: some Collection<RowAddress>, _ value: (BatchView, Int) -> Int64?) -> ([UInt8], ColumnStats) {
        var out = ByteWriter(capacity: rows.count * 2)
        var nulls = 0, low = Int64.max, high = Int64.min
        for address in rows {
            // Int64.min is stored as Int64.min + 1: its zigzag + 1 would wrap to the null code.
            if let number = value(views[Int(address.batch)], Int(address.row)).map({ max($0, .min + 1) }) {
                out.varint(UInt64(bitPattern: (number << 1) ^ (number >> 63)) &+ 1)
                low = min(low, number)
                high = max(high, number)
            } else {
                out.byte(0)
                nulls += 1
            }
        }
        let stats = nulls == rows.count ? ColumnStats(nulls: nulls)
            : ColumnStats(min: UInt64(bitPattern: low), max: UInt64(bitPattern: high), rows: rows.count, nulls: nulls)
        return (out.bytes, stats)
    }

    private func traceIDs(_ rows: some Collection<RowAddress>) -> [UInt8] {
        var distinct: [TraceID: Int] = [:]
        var ids: [TraceID] = []
        var indices = ByteWriter(capacity: rows.count)
        for address in rows {
            let id = views[Int(address.batch)].spans.traceIDs[Int(address.row)]
            if let index = distinct[id] {
                indices.varint(index)
            } else {
                distinct[id] = ids.count
                indices.varint(ids.count)
                ids.append(id)
            }
        }
        var out = ByteWriter(capacity: ids.count * 16 + indices.count + 4)
        out.varint(ids.count)
        for id in ids {
            out.fixed64(id.high)
            out.fixed64(id.low)
        }
        out.append(indices.bytes)
        return out.bytes
    }

    /// A parent that is another row of the block is stored as that row's position.
    private func parentReferences(_ rows: some Collection<RowAddress>) -> [UInt8] {
        var positions: [SpanKey: Int] = [:]
        positions.reserveCapacity(rows.count)
        for (position, address) in rows.enumerated() {
            let view = views[Int(address.batch)]
            positions[SpanKey(trace: view.spans.traceIDs[Int(address.row)], span: view.spans.spanIDs[Int(address.row)])] = position
        }
        var out = ByteWriter(capacity: rows.count * 2)
        for address in rows {
            let view = views[Int(address.batch)]
            let parent = view.spans.parentSpanIDs[Int(address.row)]
            if parent == 0 {
                out.byte(0)
            } else if let position = positions[SpanKey(trace: view.spans.traceIDs[Int(address.row)], span: parent)] {
                out.varint(position + 2)
            } else {
                out.byte(1)
                out.fixed64(parent)
            }
        }
        return out.bytes
    }

    // MARK: - Strings

    private func fill(_ dictionary: inout DictionaryBuilder, _ rows: some Collection<RowAddress>,
                      _ ref: (BatchView, Int) -> StringRef) {
        for address in rows {
            let view = views[Int(address.batch)]
            let string = ref(view, Int(address.row))
            view.withBytes(string) { dictionary.add($0, source: (address.batch, string.packed)) }
        }
    }

    private func strings(_ rows: some Collection<RowAddress>, _ ref: (BatchView, Int) -> StringRef) -> ([UInt8], ColumnStats) {
        var dictionary = DictionaryBuilder(rows: rows.count)
        fill(&dictionary, rows, ref)
        return (dictionary.finish(), dictionary.stats)
    }

    /// The name of the price used, so a stored span says which price its cost came from.
    private func priceModels(_ rows: some Collection<RowAddress>) -> ([UInt8], ColumnStats) {
        var dictionary = DictionaryBuilder(rows: rows.count)
        for address in rows {
            let index = Int(views[Int(address.batch)].columns.priceIndex[Int(address.row)])
            var name = index >= 0 && index < pricing.entries.count ? pricing.entries[index].model : ""
            name.withUTF8 { dictionary.add(UnsafeRawBufferPointer($0)) }
        }
        return (dictionary.finish(), dictionary.stats)
    }

    // MARK: - Key/value columns

    /// Resources and scopes as dictionary columns of serialized blobs, each serialized once per batch.
    private func resourcesAndScopes(_ rows: some Collection<RowAddress>) -> ([UInt8], [UInt8]) {
        var resources = DictionaryBuilder(rows: rows.count)
        var scopes = DictionaryBuilder(rows: rows.count)
        var resourceBlobs: [[[UInt8]?]] = batches.map { [[UInt8]?](repeating: nil, count: $0.spans.resources.count) }
        var scopeBlobs: [[[UInt8]?]] = batches.map { [[UInt8]?](repeating: nil, count: $0.spans.scopes.count) }
        for address in rows {
            let view = views[Int(address.batch)]
            let scope = Int(view.spans.scopeIndices[Int(address.row)])
            let resource = Int(view.spans.scopes.resourceIndices[scope])
            if resourceBlobs[Int(address.batch)][resource] == nil {
                var blob = ByteWriter()
                view.spans.bytes.withUnsafeBytes { arena in
                    var writer = KeyValueWriter(view: view, arena: arena)
                    writer.string(view.spans.resources.schemaURLs[resource], into: &blob)
                    blob.varint(UInt64(view.spans.resources.droppedAttributeCounts[resource]))
                    writer.keyValues(view.spans.resources.attributes[resource], of: view.spans.attributes, into: &blob)
                }
                resourceBlobs[Int(address.batch)][resource] = blob.bytes
            }
            if scopeBlobs[Int(address.batch)][scope] == nil {
                var blob = ByteWriter()
                view.spans.bytes.withUnsafeBytes { arena in
                    var writer = KeyValueWriter(view: view, arena: arena)
                    writer.string(view.spans.scopes.names[scope], into: &blob)
                    writer.string(view.spans.scopes.versions[scope], into: &blob)
                    writer.string(view.spans.scopes.schemaURLs[scope], into: &blob)
                    blob.varint(UInt64(view.spans.scopes.droppedAttributeCounts[scope]))
                    writer.keyValues(view.spans.scopes.attributes[scope], of: view.spans.attributes, into: &blob)
                }
                scopeBlobs[Int(address.batch)][scope] = blob.bytes
            }
            resourceBlobs[Int(address.batch)][resource]!.withUnsafeBytes {
                resources.add($0, source: (address.batch, UInt64(resource)))
            }
            scopeBlobs[Int(address.batch)][scope]!.withUnsafeBytes { scopes.add($0, source: (address.batch, UInt64(scope))) }
        }
        return (resources.finish(), scopes.finish())
    }

    /// Span attributes in wire order; large text values go to their own column, leaving a placeholder.
    private func spanAttributes(_ rows: some Collection<RowAddress>) -> ([UInt8], [UInt8]) {
        var attributes = BlobColumnBuilder(rows: rows.count)
        var text = BlobColumnBuilder(rows: rows.count)
        for address in rows {
            let view = views[Int(address.batch)]
            view.spans.bytes.withUnsafeBytes { arena in
                var writer = KeyValueWriter(view: view, arena: arena)
                writer.spanAttributes(view.spans.spanAttributes[Int(address.row)], into: &attributes.data, largeText: &text.data)
            }
            attributes.endRow()
            text.endRow()
        }
        return (attributes.finish(), text.finish())
    }

    private func events(_ rows: some Collection<RowAddress>) -> [UInt8] {
        var column = BlobColumnBuilder(rows: rows.count)
        for address in rows {
            let view = views[Int(address.batch)]
            let range = view.spans.spanEvents[Int(address.row)]
            if range.count > 0 {
                let start = view.spans.startTimes[Int(address.row)]
                view.spans.bytes.withUnsafeBytes { arena in
                    var writer = KeyValueWriter(view: view, arena: arena)
                    column.data.varint(Int(range.count))
                    for event in range.indices {
                        column.data.zigzag(Int64(bitPattern: view.spans.events.times[event] &- start))
                        writer.string(view.spans.events.names[event], into: &column.data)
                        column.data.varint(UInt64(view.spans.events.droppedAttributeCounts[event]))
                        writer.keyValues(view.spans.events.attributes[event], of: view.spans.eventAttributes, into: &column.data)
                    }
                }
            }
            column.endRow()
        }
        return column.finish()
    }

    private func links(_ rows: some Collection<RowAddress>) -> [UInt8] {
        var column = BlobColumnBuilder(rows: rows.count)
        for address in rows {
            let view = views[Int(address.batch)]
            let range = view.spans.spanLinks[Int(address.row)]
            if range.count > 0 {
                view.spans.bytes.withUnsafeBytes { arena in
                    var writer = KeyValueWriter(view: view, arena: arena)
                    column.data.varint(Int(range.count))
                    for link in range.indices {
                        column.data.fixed64(view.spans.links.traceIDs[link].high)
                        column.data.fixed64(view.spans.links.traceIDs[link].low)
                        column.data.fixed64(view.spans.links.spanIDs[link])
                        writer.string(view.spans.links.traceStates[link], into: &column.data)
                        column.data.varint(UInt64(view.spans.links.flags[link]))
                        column.data.varint(UInt64(view.spans.links.droppedAttributeCounts[link]))
                        writer.keyValues(view.spans.links.attributes[link], of: view.spans.linkAttributes, into: &column.data)
                    }
                }
            }
            column.endRow()
        }
        return column.finish()
    }
}

/// A chunk's null count and min/max, for the footer's column directory.
struct ColumnStats {
    var nulls = 0
    var min: [UInt8] = []
    var max: [UInt8] = []

    init(nulls: Int) {
        self.nulls = nulls
    }

    /// Integers, as 8 bytes little-endian.
    init(min: UInt64, max: UInt64, rows: Int, nulls: Int = 0) {
        self.nulls = nulls
        guard rows > nulls else { return }
        self.min = withUnsafeBytes(of: min.littleEndian) { Array($0) }
        self.max = withUnsafeBytes(of: max.littleEndian) { Array($0) }
    }

    init(nulls: Int, min: [UInt8], max: [UInt8]) {
        self.nulls = nulls
        self.min = min
        self.max = max
    }
}

/// One batch behind a reference, so per-row reads of its columns copy nothing.
final class BatchView {
    let spans: SpanBatch
    let columns: AIColumns

    init(_ batch: NormalizedBatch) {
        spans = batch.spans
        columns = batch.columns
    }

    @inline(__always)
    func withBytes<Result>(_ ref: StringRef, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        spans.bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[ref.range])) }
    }
}

/// A trace-qualified span id, to find a parent among a block's rows.
struct SpanKey: Hashable {
    var trace: TraceID
    var span: UInt64
}

/// Builds a `blobs` column: the rows' lengths, then their bytes.
struct BlobColumnBuilder {
    var data: ByteWriter
    private var lengths: ByteWriter
    private var rowStart = 0

    init(rows: Int) {
        data = ByteWriter(capacity: rows * 16)
        lengths = ByteWriter(capacity: rows)
    }

    mutating func endRow() {
        lengths.varint(data.count - rowStart)
        rowStart = data.count
    }

    func finish() -> [UInt8] {
        var out = lengths.bytes
        out.append(contentsOf: data.bytes)
        return out
    }
}
