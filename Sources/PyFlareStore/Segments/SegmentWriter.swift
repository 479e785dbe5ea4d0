import PyFlareModel
import PyFlareWire

/// A segment ready to be written: the file's bytes and what the index records about it.
package struct BuiltSegment: Sendable {
    var kind: SegmentKind
    package var bytes: [UInt8]
    var footer: SegmentFooter
    /// Each trace and the blocks holding its spans.
    var traceBlocks: [(traceID: TraceID, blocks: [Int])]
    var summaries: [TraceSummary]
    /// For metric segments: what the points add to the `metric_names` catalog.
    var metricNames: [MetricNameSummary] = []
}

/// Which blocks hold spans of each trace: the segment's rows for `trace_index`.
struct TraceBlocks {
    private var blocks: [TraceID: [Int]] = [:]

    /// Blocks are added in increasing order; a repeat of the last one is ignored.
    mutating func add(_ traceID: TraceID, block: Int) {
        if blocks[traceID]?.last != block { blocks[traceID, default: []].append(block) }
    }

    var sorted: [(traceID: TraceID, blocks: [Int])] {
        blocks.map { ($0.key, $0.value) }.sorted { $0.traceID < $1.traceID }
    }
}

/// Sorts spans, cuts them into blocks and encodes each block's columns into a span segment.
package struct SegmentWriter: Sendable {
    /// Spans per block (row group).
    var blockRows: Int
    var pricing: PricingTable

    package init(blockRows: Int, pricing: PricingTable) {
        self.blockRows = max(1, blockRows)
        self.pricing = pricing
    }

    package func build(_ batches: [NormalizedBatch], walSequences: ClosedRange<UInt64>? = nil) -> BuiltSegment {
        let encoder = BlockEncoder(batches, pricing: pricing)
        let rows = sortedRows(batches, encoder.allRows)

        var file = SegmentFileBuilder<SpanColumn>()
        var traceBlocks = TraceBlocks()
        for (blockIndex, start) in stride(from: 0, to: rows.count, by: blockRows).enumerated() {
            let slice = rows[start..<min(start + blockRows, rows.count)]
            for address in slice {
                traceBlocks.add(batches[Int(address.batch)].spans.traceIDs[Int(address.row)], block: blockIndex)
            }
            file.append(encoder.encode(slice))
        }
        let (bytes, footer) = file.finish(walSequences: walSequences)
        return BuiltSegment(kind: .spans, bytes: bytes, footer: footer, traceBlocks: traceBlocks.sorted,
                            summaries: TraceSummary.summarize(batches))
    }

    /// Rows by service, then trace (in order of its first span), then start time: a
    /// service's spans share blocks, a trace's spans sit together, and blocks cover
    /// narrow time ranges.
    private func sortedRows(_ batches: [NormalizedBatch], _ rows: [RowAddress]) -> [RowAddress] {
        var strings = StringCache()
        var services: [String?] = []
        var traceStart: [TraceID: UInt64] = [:]
        services.reserveCapacity(rows.count)
        for address in rows {
            let batch = batches[Int(address.batch)], row = Int(address.row)
            services.append(strings.string(batch.columns.service[row], batch: Int(address.batch), in: batch.spans))
            let start = batch.spans.startTimes[row]
            traceStart[batch.spans.traceIDs[row], default: .max] = min(traceStart[batch.spans.traceIDs[row], default: .max], start)
        }
        let ranks = Dictionary(uniqueKeysWithValues: Set(services.compactMap { $0 }).sorted().enumerated().map { ($1, $0) })
        struct SortKey { var service: Int; var traceStart: UInt64; var trace: TraceID; var start: UInt64; var index: Int }
        var keys: [SortKey] = []
        keys.reserveCapacity(rows.count)
        for (index, address) in rows.enumerated() {
            let spans = batches[Int(address.batch)].spans, row = Int(address.row)
            let traceID = spans.traceIDs[row]
            keys.append(SortKey(service: services[index].flatMap { ranks[$0] } ?? -1, traceStart: traceStart[traceID] ?? 0,
                                trace: traceID, start: spans.startTimes[row], index: index))
        }
        keys.sort { ($0.service, $0.traceStart, $0.trace, $0.start, $0.index) < ($1.service, $1.traceStart, $1.trace, $1.start, $1.index) }
        return keys.map { rows[$0.index] }
    }
}
