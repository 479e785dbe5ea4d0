import PyFlareWire

/// Lays out a segment file of any kind: header, then each block's column chunks
/// compressed and checksummed, then the footer and the trailer (`docs/segment-format.md`).
/// What the rows are and how they encode is up to the caller.
struct SegmentFileBuilder<Column: SegmentColumn> {
    private(set) var bytes: [UInt8]
    private(set) var blocks: [SegmentFooter.Block] = []
    private var rows = 0
    private let compressor = ZstdCompressor()

    init() {
        bytes = SegmentFooter.header(Column.segmentKind)
    }

    /// Compresses and appends the chunks of one block.
    mutating func append(_ block: EncodedBlock) {
        var chunks: [SegmentFooter.Chunk] = []
        for column in Column.allCases {
            guard let raw = block.chunks[Int(column.rawValue)] else { continue }
            let offset = bytes.count
            let length = raw.withUnsafeBytes { compressor.compress($0, level: column.compressionLevel, appendingTo: &bytes) }
            let checksum = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + length)])) }
            let stats = block.stats[Int(column.rawValue)]
            chunks.append(SegmentFooter.Chunk(
                column: column.rawValue, encoding: column.encoding.rawValue, compression: 1,
                offset: offset, length: length, rawLength: raw.count, nullCount: stats?.nulls ?? 0,
                min: stats?.min ?? [], max: stats?.max ?? [], checksum: checksum))
        }
        blocks.append(SegmentFooter.Block(rows: block.rows, minStartTime: block.minStartTime, maxStartTime: block.maxStartTime,
                                          services: block.services, models: block.models, chunks: chunks))
        rows += block.rows
    }

    /// Appends the footer and trailer; the file is complete.
    consuming func finish(walSequences: ClosedRange<UInt64>?) -> (bytes: [UInt8], footer: SegmentFooter) {
        let footer = SegmentFooter(rows: rows, firstWALSequence: walSequences?.lowerBound ?? 0,
                                   lastWALSequence: walSequences?.upperBound ?? 0, blocks: blocks)
        let footerBytes = footer.encoded(Column.self)
        bytes.append(contentsOf: footerBytes)
        var trailer = ByteWriter(capacity: SegmentFooter.trailerLength)
        trailer.fixed32(UInt32(footerBytes.count))
        trailer.fixed32(CRC32C.checksum(footerBytes))
        withUnsafeBytes(of: SegmentFooter.formatVersion.littleEndian) { trailer.append($0) }
        trailer.append([0, 0])
        trailer.append(SegmentFooter.magic)
        bytes.append(contentsOf: trailer.bytes)
        return (bytes, footer)
    }
}

extension SegmentFileBuilder {
    /// A whole segment of `Column`'s kind: `rows`, in segment order, cut into blocks of
    /// `blockRows` and encoded by `encode`. `traceIDs` reports the trace ids a row links to
    /// (its own, or its exemplars'); each non-zero one is indexed with the row's block.
    static func segment(_ rows: [RowAddress], blockRows: Int, walSequences: ClosedRange<UInt64>?,
                        encode: (ArraySlice<RowAddress>) -> EncodedBlock,
                        traceIDs: (RowAddress, (TraceID) -> Void) -> Void) -> BuiltSegment {
        var file = SegmentFileBuilder()
        var traceBlocks = TraceBlocks()
        let blockRows = max(1, blockRows)
        for (block, start) in stride(from: 0, to: rows.count, by: blockRows).enumerated() {
            let slice = rows[start..<min(start + blockRows, rows.count)]
            for address in slice {
                traceIDs(address) { traceID in if !traceID.isZero { traceBlocks.add(traceID, block: block) } }
            }
            file.append(encode(slice))
        }
        let (bytes, footer) = file.finish(walSequences: walSequences)
        return BuiltSegment(kind: Column.segmentKind, bytes: bytes, footer: footer, traceBlocks: traceBlocks.sorted, summaries: [])
    }
}
