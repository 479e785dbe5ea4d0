import PyFlareWire

/// Sorts metric points, cuts them into blocks and encodes each block's columns into a metric segment.
package struct MetricSegmentWriter: Sendable {
    /// Points per block (row group).
    var blockRows: Int

    package init(blockRows: Int) {
        self.blockRows = max(1, blockRows)
    }

    /// Rows are sorted by metric name, service (points without one first), time, then arrival,
    /// so a series' points share blocks; the footer's per-block `models` are the block's metric
    /// names. `traceBlocks` lists, for each trace an exemplar links to, the blocks of those points.
    /// `keeping` (one flag per point of each batch) leaves points out.
    package func build(_ batches: [MetricBatch], walSequences: ClosedRange<UInt64>? = nil, keeping: [[Bool]]? = nil) -> BuiltSegment {
        let encoder = MetricBlockEncoder(batches)
        return SegmentFileBuilder<MetricColumn>.segment(encoder.sortedRows().keeping(keeping), blockRows: blockRows, walSequences: walSequences,
                                                        encode: encoder.encode) { address, add in
            let view = encoder.writer.views[Int(address.batch)]
            for exemplar in view.batch.exemplars[Int(address.row)].indices { add(view.batch.exemplarTable.traceIDs[exemplar]) }
        }
    }
}
