/// The directory at the end of a segment file: its blocks, their zone maps and the
/// place, encoding and checksum of every column chunk. Layout in `docs/segment-format.md`.
package struct SegmentFooter: Sendable, Equatable {
    static let magic: [UInt8] = Array("PFSG".utf8)
    static let formatVersion: UInt16 = 1
    /// Header: magic, version (u16 LE), kind (u16 LE, ``SegmentKind``; 0 = spans).
    static let headerLength = 8
    /// Trailer: footer length (u32 LE), footer CRC-32C (u32 LE), version (u16 LE), reserved (u16), magic.
    static let trailerLength = 16

    /// The header of a segment of `kind`.
    static func header(_ kind: SegmentKind) -> [UInt8] {
        var header = magic
        withUnsafeBytes(of: formatVersion.littleEndian) { header.append(contentsOf: $0) }
        withUnsafeBytes(of: kind.rawValue.littleEndian) { header.append(contentsOf: $0) }
        return header
    }

    package struct Chunk: Sendable, Equatable {
        var column: UInt8
        var encoding: UInt8
        /// 1: zstd.
        var compression: UInt8
        var offset: Int
        var length: Int
        var rawLength: Int
        package var nullCount: Int
        /// Little-endian integers for numeric columns, bytes for strings; empty when not kept.
        package var min: [UInt8]
        package var max: [UInt8]
        /// CRC-32C of the compressed bytes.
        var checksum: UInt32
    }

    package struct Block: Sendable, Equatable {
        var rows: Int
        package var minStartTime: UInt64
        package var maxStartTime: UInt64
        package var services: [String]
        package var models: [String]
        var chunks: [Chunk]

        func chunk(_ column: some SegmentColumn) -> Chunk? { chunks.first { $0.column == column.rawValue } }

        /// ``chunk(_:)`` of a span segment's block, so callers can write `.startTime`.
        package func chunk(_ column: SpanColumn) -> Chunk? { chunks.first { $0.column == column.rawValue } }
    }

    var rows: Int
    /// The WAL records this segment holds (0...0 when it was not sealed from the WAL).
    var firstWALSequence: UInt64
    var lastWALSequence: UInt64
    /// The WAL records whose rows this segment holds.
    var walSequences: ClosedRange<UInt64> { firstWALSequence...max(firstWALSequence, lastWALSequence) }
    package var blocks: [Block]

    var minStartTime: UInt64 { blocks.map(\.minStartTime).min() ?? 0 }
    var maxStartTime: UInt64 { blocks.map(\.maxStartTime).max() ?? 0 }
    var services: [String] { Array(Set(blocks.flatMap(\.services))).sorted() }
    var models: [String] { Array(Set(blocks.flatMap(\.models))).sorted() }
    var rawBytes: Int { blocks.reduce(0) { $0 + $1.chunks.reduce(0) { $0 + $1.rawLength } } }

    /// The footer's bytes, with the catalog of `Column`, the segment's columns.
    func encoded<Column: SegmentColumn>(_: Column.Type) -> [UInt8] {
        var out = ByteWriter(capacity: 64 + blocks.count * 40 * 24)
        out.varint(rows)
        out.fixed64(firstWALSequence)
        out.fixed64(lastWALSequence)
        // The column catalog: what each id means, so a reader can name what it skips.
        out.varint(Column.allCases.count)
        for column in Column.allCases {
            out.byte(column.rawValue)
            out.byte(column.encoding.rawValue)
            out.lengthPrefixed(column.name)
        }
        out.varint(blocks.count)
        for block in blocks {
            out.varint(block.rows)
            out.fixed64(block.minStartTime)
            out.fixed64(block.maxStartTime)
            out.varint(block.services.count)
            for service in block.services { out.lengthPrefixed(service) }
            out.varint(block.models.count)
            for model in block.models { out.lengthPrefixed(model) }
            out.varint(block.chunks.count)
            for chunk in block.chunks {
                out.byte(chunk.column)
                out.byte(chunk.encoding)
                out.byte(chunk.compression)
                out.varint(chunk.offset)
                out.varint(chunk.length)
                out.varint(chunk.rawLength)
                out.varint(chunk.nullCount)
                chunk.min.withUnsafeBytes { out.lengthPrefixed($0) }
                chunk.max.withUnsafeBytes { out.lengthPrefixed($0) }
                out.fixed32(chunk.checksum)
            }
        }
        return out.bytes
    }

    /// Parses a footer whose checksum was verified; `fileLength` bounds every chunk.
    static func decode(_ bytes: UnsafeRawBufferPointer, fileLength: Int) throws(FormatError) -> SegmentFooter {
        var input = ByteReader(bytes)
        let rows = try input.count(atMost: Int(UInt32.max))
        let first = try input.fixed64(), last = try input.fixed64()
        let columnCount = try input.count(atMost: 256)
        for _ in 0..<columnCount {
            _ = try input.byte()
            _ = try input.byte()
            _ = try input.lengthPrefixed()
        }
        let blockCount = try input.count(atMost: input.remaining)
        var blocks: [Block] = []
        blocks.reserveCapacity(blockCount)
        var total = 0
        for _ in 0..<blockCount {
            let blockRows = try input.count(atMost: Int(UInt32.max))
            let minStart = try input.fixed64(), maxStart = try input.fixed64()
            var services: [String] = []
            for _ in 0..<(try input.count(atMost: input.remaining)) { services.append(try input.string()) }
            var models: [String] = []
            for _ in 0..<(try input.count(atMost: input.remaining)) { models.append(try input.string()) }
            let chunkCount = try input.count(atMost: 256)
            var chunks: [Chunk] = []
            chunks.reserveCapacity(chunkCount)
            for _ in 0..<chunkCount {
                let chunk = Chunk(
                    column: try input.byte(), encoding: try input.byte(), compression: try input.byte(),
                    offset: try input.count(atMost: fileLength), length: try input.count(atMost: fileLength),
                    rawLength: try input.count(atMost: Int(UInt32.max)), nullCount: try input.count(atMost: blockRows),
                    min: Array(UnsafeRawBufferPointer(rebasing: bytes[try input.lengthPrefixed()])),
                    max: Array(UnsafeRawBufferPointer(rebasing: bytes[try input.lengthPrefixed()])),
                    checksum: try input.fixed32())
                guard chunk.offset >= headerLength, chunk.offset + chunk.length <= fileLength - trailerLength else {
                    throw FormatError("chunk of column \(chunk.column) lies outside the file")
                }
                guard chunk.compression == 1 else { throw FormatError("unknown compression \(chunk.compression)") }
                chunks.append(chunk)
            }
            total += blockRows
            blocks.append(Block(rows: blockRows, minStartTime: minStart, maxStartTime: maxStart,
                                services: services, models: models, chunks: chunks))
        }
        try input.expectEnd()
        guard total == rows else { throw FormatError("blocks hold \(total) rows, footer says \(rows)") }
        return SegmentFooter(rows: rows, firstWALSequence: first, lastWALSequence: last, blocks: blocks)
    }
}
