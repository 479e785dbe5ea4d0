import PyFlareModel

/// The payload of a WAL record: one batcher flush as a single block of span columns.
///
/// `[version byte = 1][varint rows][varint column count][per column: id byte, varint raw length]` followed
/// by one zstd frame (level 1) of the chunks back to back, in that order. The chunks use
/// the segment encodings, so recovery decodes them with the same code as segments.
package enum WALPayload {
    /// Requests encode their records concurrently; each takes a context from here.
    private static let compressors = ZstdCompressorPool()

    /// Bumped with any change of the payload or of the column encodings it uses.
    static let version: UInt8 = 1

    package static func encode(_ batches: [NormalizedBatch], pricing: PricingTable) -> [UInt8] {
        let encoder = BlockEncoder(batches, pricing: pricing)
        let block = encoder.encode(encoder.allRows)
        var header = ByteWriter(capacity: 128)
        header.byte(version)
        var raw: [UInt8] = []
        let present = SpanColumn.allCases.compactMap { column in block.chunks[Int(column.rawValue)].map { (column, $0) } }
        raw.reserveCapacity(present.reduce(0) { $0 + $1.1.count })
        header.varint(block.rows)
        header.varint(present.count)
        for (column, chunk) in present {
            header.byte(column.rawValue)
            header.varint(chunk.count)
            raw.append(contentsOf: chunk)
        }
        var payload = header.bytes
        compressors.withCompressor { compressor in
            raw.withUnsafeBytes { _ = compressor.compress($0, level: 1, appendingTo: &payload) }
        }
        return payload
    }

    static func decode(_ payload: ArraySlice<UInt8>, pricing: PricingTable) throws(ColumnError) -> NormalizedBatch {
        let bytes = Array(payload)
        let decoder: BlockDecoder
        do {
            decoder = try bytes.withBytes { raw throws(FormatError) -> BlockDecoder in
                var input = ByteReader(raw)
                let recordVersion = try input.byte()
                guard recordVersion == version else {
                    throw FormatError("WAL record format version \(recordVersion); this build reads version \(version)")
                }
                let rows = try input.count(atMost: Int(UInt32.max))
                let columns = try input.count(atMost: 256)
                var ranges = [Range<Int>?](repeating: nil, count: 256)
                var total = 0
                for _ in 0..<columns {
                    let id = try input.byte()
                    let length = try input.count(atMost: Int(UInt32.max))
                    ranges[Int(id)] = total..<(total + length)
                    total += length
                }
                let arena = try Zstd.decompress(UnsafeRawBufferPointer(rebasing: raw[input.position...]), rawLength: total)
                return BlockDecoder(rows: rows, arena: arena, ranges: ranges)
            }
        } catch {
            throw ColumnError(column: nil, error)
        }
        return try decoder.decodeBatch(pricing: pricing)
    }
}
