import PyFlareModel
import PyFlareWire

/// An open segment file whose header, trailer and footer were checked.
///
/// Reads only the blocks and columns asked for, verifies each chunk's checksum before
/// decompressing it, and names the file, block and column in every error.
package final class SegmentReader: Sendable {
    package let path: String
    package let kind: SegmentKind
    package let footer: SegmentFooter
    let fileLength: Int
    private let file: any SegmentBytes

    package convenience init(path: String) throws(StoreError) {
        try self.init(path: path, bytes: try StoreFile(path: path))
    }

    /// A segment whose bytes come from `bytes`: a local file, or an object in a bucket.
    init(path: String, bytes: any SegmentBytes) throws(StoreError) {
        self.path = path
        file = bytes
        fileLength = try file.size
        guard fileLength >= SegmentFooter.headerLength + SegmentFooter.trailerLength else {
            throw StoreError(.corrupt, "segment is too short (\(fileLength) bytes)", path: path)
        }
        let header = try file.read(count: SegmentFooter.headerLength, at: 0)
        let trailer = try file.read(count: SegmentFooter.trailerLength, at: fileLength - SegmentFooter.trailerLength)
        guard Array(header[0..<4]) == SegmentFooter.magic, Array(trailer[12..<16]) == SegmentFooter.magic else {
            throw StoreError(.corrupt, "not a PyFlare segment (bad magic)", path: path)
        }
        let version = UInt16(header[4]) | UInt16(header[5]) << 8
        let trailerVersion = UInt16(trailer[8]) | UInt16(trailer[9]) << 8
        guard version == SegmentFooter.formatVersion, trailerVersion == version else {
            throw StoreError(.unsupportedVersion, "segment format version \(version) (trailer \(trailerVersion)); this build reads version \(SegmentFooter.formatVersion)", path: path)
        }
        let rawKind = UInt16(header[6]) | UInt16(header[7]) << 8
        guard let kind = SegmentKind(rawValue: rawKind) else {
            throw StoreError(.unsupportedVersion, "segment kind \(rawKind) is unknown to this build", path: path)
        }
        self.kind = kind
        let footerLength = Int(UInt32(trailer[0]) | UInt32(trailer[1]) << 8 | UInt32(trailer[2]) << 16 | UInt32(trailer[3]) << 24)
        let footerChecksum = UInt32(trailer[4]) | UInt32(trailer[5]) << 8 | UInt32(trailer[6]) << 16 | UInt32(trailer[7]) << 24
        let footerOffset = fileLength - SegmentFooter.trailerLength - footerLength
        guard footerOffset >= SegmentFooter.headerLength else {
            throw StoreError(.corrupt, "footer length \(footerLength) does not fit the file", path: path)
        }
        let footerBytes = try file.read(count: footerLength, at: footerOffset)
        guard CRC32C.checksum(footerBytes) == footerChecksum else {
            throw StoreError(.corrupt, "footer checksum mismatch", path: path)
        }
        do {
            footer = try footerBytes.withBytes { raw throws(FormatError) in try SegmentFooter.decode(raw, fileLength: footerOffset + SegmentFooter.trailerLength) }
        } catch {
            throw StoreError(.corrupt, "footer: \(error)", path: path)
        }
    }

    /// Decompresses `columns` (all when nil) of span block `index` into one arena.
    package func readBlock(_ index: Int, columns: [SpanColumn]? = nil) throws(StoreError) -> BlockDecoder {
        try readBlock(index, of: SpanColumn.self, columns: columns)
    }

    /// Decompresses `columns` (all when nil) of block `index` into one arena; the segment
    /// must hold `Column`'s kind.
    func readBlock<Column: SegmentColumn>(_ index: Int, of: Column.Type, columns: [Column]? = nil) throws(StoreError) -> BlockDecoder {
        guard Column.segmentKind == kind else {
            throw StoreError(.corrupt, "segment holds \(kind.name), not \(Column.segmentKind.name)", path: path)
        }
        guard footer.blocks.indices.contains(index) else {
            throw StoreError(.corrupt, "block \(index) does not exist (\(footer.blocks.count) blocks)", path: path)
        }
        let block = footer.blocks[index]
        let wanted = (columns ?? Column.allCases).compactMap { column in block.chunk(column).map { (column, $0) } }
        try file.willRead(wanted.map { $0.1.offset..<($0.1.offset + $0.1.length) })
        var arena = [UInt8](repeating: 0, count: wanted.reduce(0) { $0 + $1.1.rawLength })
        var ranges = [Range<Int>?](repeating: nil, count: 256)
        var position = 0
        for (column, chunk) in wanted {
            let compressed = try file.read(count: chunk.length, at: chunk.offset)
            func failure(_ message: String) -> StoreError {
                StoreError(.corrupt, "block \(index), column \(column.name): \(message)", path: path)
            }
            guard compressed.count == chunk.length else { throw failure("chunk is cut short") }
            guard CRC32C.checksum(compressed) == chunk.checksum else { throw failure("checksum mismatch") }
            let range = position..<(position + chunk.rawLength)
            do {
                try arena.withMutableBytes { out throws(FormatError) in
                    try compressed.withBytes { input throws(FormatError) in
                        try Zstd.decompress(input, into: UnsafeMutableRawBufferPointer(rebasing: out[range]))
                    }
                }
            } catch {
                throw failure("\(error)")
            }
            ranges[Int(column.rawValue)] = range
            position = range.upperBound
        }
        return BlockDecoder(rows: block.rows, arena: arena, ranges: ranges)
    }

    /// Reads block `index` of a `Column` segment and decodes it with `decode`, naming the file
    /// and block in any error.
    private func decode<Column: SegmentColumn, Result>(block index: Int, _: Column.Type, columns: [Column]? = nil,
                                                       _ decode: (consuming BlockDecoder) throws(ColumnError) -> Result) throws(StoreError) -> Result {
        let decoder = try readBlock(index, of: Column.self, columns: columns)
        do {
            return try decode(decoder)
        } catch {
            throw StoreError(.corrupt, "block \(index), \(error)", path: path)
        }
    }

    /// Every span of block `index`, all fields.
    package func batch(block index: Int, pricing: PricingTable) throws(StoreError) -> NormalizedBatch {
        try decode(block: index, SpanColumn.self) { (decoder) throws(ColumnError) in try decoder.decodeBatch(pricing: pricing) }
    }

    /// Every log record of block `index` of a log segment, all fields.
    func logBatch(block index: Int) throws(StoreError) -> LogBatch {
        try decode(block: index, LogColumn.self) { (decoder) throws(ColumnError) in try decoder.decodeLogBatch() }
    }

    /// The log records of block `index` with only the `columns` (all when nil) decompressed and
    /// decoded, and their count.
    package func logBatch(block index: Int, columns: Set<LogColumn>?) throws(StoreError) -> (batch: LogBatch, rows: Int) {
        try decode(block: index, LogColumn.self, columns: columns.map(Array.init)) { (decoder) throws(ColumnError) in
            let rows = decoder.rows
            return (try decoder.decodeLogBatch(only: columns), rows)
        }
    }

    /// Every point of block `index` of a metric segment, all fields.
    func metricBatch(block index: Int) throws(StoreError) -> MetricBatch {
        try decode(block: index, MetricColumn.self) { (decoder) throws(ColumnError) in try decoder.decodeMetricBatch() }
    }

    /// The points of block `index` with their metric identity and only the point `columns` (all
    /// when nil) decompressed and decoded, and their count.
    package func metricBatch(block index: Int, columns: Set<MetricColumn>?) throws(StoreError) -> (batch: MetricBatch, rows: Int) {
        let identity: [MetricColumn] = [.metricName, .metricDescription, .unit, .metricType, .temporality, .monotonic, .metadata,
                                        .resource, .scope]
        return try decode(block: index, MetricColumn.self, columns: columns.map { identity + Array($0) }) { (decoder) throws(ColumnError) in
            let rows = decoder.rows
            return (try decoder.decodeMetricBatch(only: columns), rows)
        }
    }

    /// Reads and decodes every block of a span segment: the check a segment found outside the index gets.
    func verify(pricing: PricingTable) throws(StoreError) -> [NormalizedBatch] {
        try footer.blocks.indices.map { (index) throws(StoreError) -> NormalizedBatch in try batch(block: index, pricing: pricing) }
    }

    /// ``verify(pricing:)`` for a log segment.
    func verifyLogs() throws(StoreError) -> [LogBatch] {
        try footer.blocks.indices.map { (index) throws(StoreError) -> LogBatch in try logBatch(block: index) }
    }

    /// ``verify(pricing:)`` for a metric segment.
    func verifyMetrics() throws(StoreError) -> [MetricBatch] {
        try footer.blocks.indices.map { (index) throws(StoreError) -> MetricBatch in try metricBatch(block: index) }
    }

    /// Reads and decodes every block, whatever the segment's kind; returns the rows decoded.
    func verifyRows(pricing: PricingTable) throws(StoreError) -> Int {
        switch kind {
        case .spans: try verify(pricing: pricing).reduce(0) { $0 + $1.count }
        case .logs: try verifyLogs().reduce(0) { $0 + $1.count }
        case .metricPoints: try verifyMetrics().reduce(0) { $0 + $1.count }
        }
    }
}

extension SegmentReader {
    /// The spans of block `index` holding every one of `words`, or nil when the block's
    /// ``TokenFilter`` rules them out without decompressing its text.
    func spans(holding words: [TextTokens.Word], block index: Int, pricing: PricingTable) throws(StoreError) -> [(traceID: TraceID, start: UInt64)]? {
        if let filter = try decode(block: index, SpanColumn.self, columns: [.textTokens], { decoder throws(ColumnError) in try decoder.tokenFilter() }),
           !filter.mayContain(words) {
            return nil
        }
        let columns = SpanColumnSet([.spanID, .traceID, .startTime, .name, .statusMessage, .attributes, .events]).closure
        let batch = try decode(block: index, SpanColumn.self, columns: columns.columns) { decoder throws(ColumnError) in
            try decoder.decodeBatch(pricing: pricing, only: columns)
        }
        return batch.spans.bytes.withUnsafeBytes { arena in
            let text = SpanText(batch: batch.spans, arena: arena)
            return (0..<batch.count).filter { text.contains(words, span: $0) }.map { (batch.spans.traceIDs[$0], batch.spans.startTimes[$0]) }
        }
    }
}
