import PyFlareModel
import PyFlareWire

/// A segment ready to be written: the file's bytes and what the index records about it.
package struct BuiltSegment: Sendable {
    var kind: SegmentKind
    package var bytes: [UInt8]
    var footer: SegmentFooter
    /// Each trace and the blocks holding its rows: spans; log records; metric points whose
    /// exemplars link to the trace.
    var traceBlocks: [(traceID: TraceID, blocks: [Int])]
    /// Span segments only.
    var summaries: [TraceSummary]
    /// For metric segments: what the points add to the `metric_names` catalog.
    var metricNames: [MetricNameSummary] = []
}

/// Which blocks hold rows of each trace: the segment's rows for `trace_index`.
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

extension [RowAddress] {
    /// The rows whose flag in `masks` (by batch, then row) is set; all of them without masks.
    func keeping(_ masks: [[Bool]]?) -> [RowAddress] {
        guard let masks else { return self }
        return filter { masks[Int($0.batch)][Int($0.row)] }
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

    /// `keeping` (one flag per row of each batch) leaves rows out: a compaction dropping expired spans.
    /// Blocks are encoded and compressed on `workers`.
    package func build(_ batches: [NormalizedBatch], walSequences: ClosedRange<UInt64>? = nil, keeping: [[Bool]]? = nil,
                       workers: BlockWorkers = .callingThread) -> BuiltSegment {
        let encoder = BlockEncoder(batches, pricing: pricing)
        // A compaction keeps the summaries the index has; a seal adds its batches' summaries.
        let summaries: ResultSlots<[TraceSummary]>? = keeping == nil ? ResultSlots(count: 1) : nil
        var summarize: (@Sendable () -> Void)?
        if let summaries { summarize = { summaries.store(TraceSummary.summarize(batches), at: 0) } }
        var built = SegmentFileBuilder<SpanColumn>.segment(
            sortedRows(encoder).keeping(keeping), blockRows: blockRows, walSequences: walSequences, workers: workers,
            alongside: summarize, encode: encoder.encodeSearchable
        ) { address, add in
            add(encoder.writer.views[Int(address.batch)].batch.traceIDs[Int(address.row)])
        }
        built.summaries = summaries?.take().first ?? []
        return built
    }

    /// Rows by service, then trace (in order of its first span), then start time: a
    /// service's spans share blocks, a trace's spans sit together, and blocks cover
    /// narrow time ranges.
    private func sortedRows(_ encoder: BlockEncoder) -> [RowAddress] {
        let rows = encoder.allRows
        let services = encoder.serviceRanks(rows)
        var traceStart: [TraceID: UInt64] = [:]
        for address in rows {
            let view = encoder.writer.views[Int(address.batch)], row = Int(address.row)
            let traceID = view.batch.traceIDs[row]
            traceStart[traceID] = min(traceStart[traceID] ?? .max, view.batch.startTimes[row])
        }
        struct SortKey { var service: Int; var traceStart: UInt64; var trace: TraceID; var start: UInt64; var index: Int }
        var keys: [SortKey] = []
        keys.reserveCapacity(rows.count)
        for (index, address) in rows.enumerated() {
            let view = encoder.writer.views[Int(address.batch)], row = Int(address.row)
            let traceID = view.batch.traceIDs[row]
            keys.append(SortKey(service: services[index], traceStart: traceStart[traceID] ?? 0,
                                trace: traceID, start: view.batch.startTimes[row], index: index))
        }
        keys.sort { ($0.service, $0.traceStart, $0.trace, $0.start, $0.index) < ($1.service, $1.traceStart, $1.trace, $1.start, $1.index) }
        return keys.map { rows[$0.index] }
    }
}
