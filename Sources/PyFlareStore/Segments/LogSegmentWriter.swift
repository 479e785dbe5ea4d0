import PyFlareWire

/// Sorts log records, cuts them into blocks and encodes each block's columns into a log segment.
package struct LogSegmentWriter: Sendable {
    /// Records per block (row group).
    var blockRows: Int

    package init(blockRows: Int) {
        self.blockRows = max(1, blockRows)
    }

    /// Rows are sorted by service (records without one first), record time (the observed time
    /// when the record has none), then arrival; `traceBlocks` lists the blocks holding records
    /// of each trace.
    /// `keeping` (one flag per record of each batch) leaves records out.
    package func build(_ batches: [LogBatch], walSequences: ClosedRange<UInt64>? = nil, keeping: [[Bool]]? = nil) -> BuiltSegment {
        let encoder = LogBlockEncoder(batches)
        return SegmentFileBuilder<LogColumn>.segment(encoder.sortedRows().keeping(keeping), blockRows: blockRows, walSequences: walSequences,
                                                     encode: encoder.encode) { address, add in
            add(encoder.writer.views[Int(address.batch)].batch.traceIDs[Int(address.row)])
        }
    }
}
