import PyFlareStore

/// Writes one Parquet file (format 2, written from `parquet-format`'s specification and
/// `parquet.thrift`): `PAR1`, the row groups' column chunks, the Thrift-encoded
/// `FileMetaData`, its length and `PAR1` again.
///
/// Every column is OPTIONAL and flat (no nesting, so no repetition levels). A column chunk is
/// one data page (v1: definition levels, RLE-hybrid with a 4-byte length, then the values),
/// preceded by a PLAIN dictionary page for strings with few distinct values (their data page
/// is then RLE_DICTIONARY); pages are zstd-compressed. Each chunk's statistics (nulls, min,
/// max) are in the footer, with the type-defined column order that makes them usable.
///
/// Row groups go to the file as they end, so memory holds one row group at a time.
struct ParquetFileWriter {
    struct Column: Sendable, Equatable {
        var name: String
        var type: ParquetValueType

        init(name: String, type: ParquetValueType) {
            self.name = name
            self.type = type
        }
    }

    /// A dictionary pays while it holds at most this many entries and bytes, and each entry
    /// is used twice or more on average.
    static let dictionaryEntryLimit = 1 << 16
    static let dictionaryByteLimit = 1 << 20
    /// Strings longer than this keep no min/max in the footer (truncating a max would need care).
    static let statisticsLengthLimit = 256

    let columns: [Column]
    private let file: StoreFile
    private var offset = 0
    private var chunks: [ParquetColumnChunk]
    private var rowGroups: [RowGroupMetadata] = []
    private let metadata: [(String, String)]
    private let compressor = ZstdCompressor()
    private let level: Int32

    var rowCount: Int { rowGroups.reduce(0) { $0 + $1.rows } }
    var bytesWritten: Int { offset }

    /// Creates (or truncates) `path`; `metadata` becomes the footer's key/value metadata.
    init(path: String, columns: [Column], metadata: [(String, String)] = [], zstdLevel: Int32 = 3) throws(StoreError) {
        self.columns = columns
        self.metadata = metadata
        self.level = zstdLevel
        chunks = columns.map { ParquetColumnChunk(type: $0.type) }
        file = try StoreFile(path: path, writable: true, truncate: true)
        try append(Array("PAR1".utf8))
    }

    /// Column `column` of the row group being filled: each row gets one value of each column.
    mutating func fill<Result>(column: Int, _ body: (inout ParquetColumnChunk) -> Result) -> Result {
        body(&chunks[column])
    }

    /// Ends the row group being filled (nothing happens when it has no rows).
    mutating func endRowGroup() throws(StoreError) {
        let rows = chunks.first?.rows ?? 0
        guard rows > 0 else { return }
        precondition(chunks.allSatisfy { $0.rows == rows }, "every column of a row group has a value for each row")
        var metadata = RowGroupMetadata(rows: rows, fileOffset: offset)
        for (index, chunk) in chunks.enumerated() {
            metadata.columns.append(try writeChunk(chunk, name: columns[index].name))
            chunks[index].removeAll()
        }
        rowGroups.append(metadata)
    }

    /// Ends the last row group, writes the footer and syncs the file.
    mutating func finish() throws(StoreError) {
        try endRowGroup()
        let footer = fileMetadata()
        try append(footer)
        var length: [UInt8] = []
        length.appendLittleEndian(UInt32(footer.count))
        try append(length + Array("PAR1".utf8))
        try file.sync()
    }

    // MARK: - Column chunks

    private struct ChunkMetadata {
        var type: ParquetValueType
        var name: String
        var encodings: [ParquetEncoding]
        var values: Int
        var uncompressedBytes: Int
        var compressedBytes: Int
        var dataPageOffset: Int
        var dictionaryPageOffset: Int?
        var nulls: Int
        var min: [UInt8]?
        var max: [UInt8]?
    }

    private struct RowGroupMetadata {
        var rows: Int
        var fileOffset: Int
        var columns: [ChunkMetadata] = []
        var uncompressedBytes: Int { columns.reduce(0) { $0 + $1.uncompressedBytes } }
        var compressedBytes: Int { columns.reduce(0) { $0 + $1.compressedBytes } }
    }

    private mutating func writeChunk(_ chunk: ParquetColumnChunk, name: String) throws(StoreError) -> ChunkMetadata {
        let start = offset
        var uncompressed = 0, compressed = 0
        var values: [UInt8] = []
        var encodings: [ParquetEncoding] = [.rle]
        var dictionaryOffset: Int?
        let (minimum, maximum) = Self.bounds(chunk)
        switch chunk.type {
        case .int64:
            values.reserveCapacity(chunk.integers.count * 8)
            for value in chunk.integers { values.appendLittleEndian(value) }
            encodings.append(.plain)
        case .double:
            values.reserveCapacity(chunk.doubles.count * 8)
            for value in chunk.doubles { values.appendLittleEndian(value.bitPattern) }
            encodings.append(.plain)
        case .string:
            if let (dictionary, indices) = Self.dictionary(of: chunk) {
                dictionaryOffset = offset
                var plain: [UInt8] = []
                for entry in dictionary { Self.appendPlain(entry, to: &plain) }
                let sizes = try writePage(plain, type: 2) { header in  // DICTIONARY_PAGE
                    header.structure(7) { page in
                        page.i32(1, Int32(dictionary.count))
                        page.i32(2, ParquetEncoding.plain.rawValue)
                    }
                }
                uncompressed += sizes.uncompressed
                compressed += sizes.compressed
                let width = RLEBitPackedHybrid.bitWidth(forValuesBelow: dictionary.count)
                values.append(UInt8(width))
                RLEBitPackedHybrid.encode(indices, bitWidth: width, into: &values)
                encodings += [.plain, .rleDictionary]
            } else {
                for index in 0..<chunk.stringEnds.count { Self.appendPlain(chunk.string(index), to: &values) }
                encodings.append(.plain)
            }
        }
        let dataOffset = offset
        var levels: [UInt8] = []
        RLEBitPackedHybrid.encode(chunk.definitionLevels, bitWidth: 1, into: &levels)
        var page: [UInt8] = []
        page.reserveCapacity(4 + levels.count + values.count)
        page.appendLittleEndian(UInt32(levels.count))
        page += levels
        page += values
        let encoding = encodings.last ?? .plain
        let sizes = try writePage(page, type: 0) { header in  // DATA_PAGE
            header.structure(5) { data in
                data.i32(1, Int32(chunk.rows))
                data.i32(2, encoding.rawValue)
                data.i32(3, ParquetEncoding.rle.rawValue)
                data.i32(4, ParquetEncoding.rle.rawValue)
            }
        }
        uncompressed += sizes.uncompressed
        compressed += sizes.compressed
        assert(offset - start == compressed)
        return ChunkMetadata(type: chunk.type, name: name, encodings: encodings, values: chunk.rows, uncompressedBytes: uncompressed,
                             compressedBytes: compressed, dataPageOffset: dataOffset, dictionaryPageOffset: dictionaryOffset,
                             nulls: chunk.nulls, min: minimum, max: maximum)
    }

    /// Compresses `body`, writes its page header (the page type, both sizes, then what
    /// `header` adds) and it; returns the bytes the page takes uncompressed and as written,
    /// headers included.
    private mutating func writePage(_ body: [UInt8], type: Int32,
                                    header: (inout ThriftCompactWriter) -> Void) throws(StoreError) -> (uncompressed: Int, compressed: Int) {
        var compressedBody: [UInt8] = []
        body.withUnsafeBytes { _ = compressor.compress($0, level: level, appendingTo: &compressedBody) }
        let headerBytes = ThriftCompactWriter.message { writer in
            writer.i32(1, type)
            writer.i32(2, Int32(body.count))
            writer.i32(3, Int32(compressedBody.count))
            header(&writer)
        }
        try append(headerBytes)
        try append(compressedBody)
        return (headerBytes.count + body.count, headerBytes.count + compressedBody.count)
    }

    /// The distinct strings of `chunk` in first-seen order and each value's index, when a
    /// dictionary is worth it.
    private static func dictionary(of chunk: ParquetColumnChunk) -> (entries: [ArraySlice<UInt8>], indices: [UInt32])? {
        let count = chunk.stringEnds.count
        guard count >= 2 else { return nil }
        var slots: [ByteKey: UInt32] = [:]
        var entries: [ArraySlice<UInt8>] = []
        var indices: [UInt32] = []
        indices.reserveCapacity(count)
        var entryBytes = 0
        for index in 0..<count {
            let value = chunk.string(index)
            if let slot = slots[ByteKey(bytes: value)] {
                indices.append(slot)
                continue
            }
            entryBytes += value.count
            // Past half the values distinct, or the limits, no dictionary can pay: stop hashing.
            guard entries.count < dictionaryEntryLimit, entryBytes <= dictionaryByteLimit, (entries.count + 1) * 2 <= count else { return nil }
            let slot = UInt32(entries.count)
            slots[ByteKey(bytes: value)] = slot
            entries.append(value)
            indices.append(slot)
        }
        return entries.count * 2 <= count ? (entries, indices) : nil
    }

    private static func appendPlain(_ value: ArraySlice<UInt8>, to output: inout [UInt8]) {
        output.appendLittleEndian(UInt32(value.count))
        output += value
    }

    /// Min and max as PLAIN bytes (strings without their length); nil where none is kept
    /// (no values, a NaN, a string too long).
    private static func bounds(_ chunk: ParquetColumnChunk) -> ([UInt8]?, [UInt8]?) {
        func plain<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
            var bytes: [UInt8] = []
            bytes.appendLittleEndian(value)
            return bytes
        }
        switch chunk.type {
        case .int64:
            guard let low = chunk.integers.min(), let high = chunk.integers.max() else { return (nil, nil) }
            return (plain(low), plain(high))
        case .double:
            guard !chunk.doubles.contains(where: \.isNaN), let low = chunk.doubles.min(), let high = chunk.doubles.max() else { return (nil, nil) }
            // -0.0 and +0.0 compare equal: the specification asks for -0.0 as a min and +0.0 as a max.
            let min = low == 0 ? -0.0 : low, max = high == 0 ? 0.0 : high
            return (plain(min.bitPattern), plain(max.bitPattern))
        case .string:
            guard chunk.stringEnds.count > 0 else { return (nil, nil) }
            var low = chunk.string(0), high = low
            for index in 1..<chunk.stringEnds.count {
                let value = chunk.string(index)
                if value.lexicographicallyPrecedes(low) { low = value }
                if high.lexicographicallyPrecedes(value) { high = value }
            }
            guard low.count <= statisticsLengthLimit, high.count <= statisticsLengthLimit else { return (nil, nil) }
            return (Array(low), Array(high))
        }
    }

    // MARK: - The footer

    private func fileMetadata() -> [UInt8] {
        ThriftCompactWriter.message { meta in
            meta.i32(1, 2)  // version
            meta.structList(2, [nil] + columns.map { Optional($0) }) { element, column in
                guard let column else {
                    element.string(4, "schema")
                    element.i32(5, Int32(columns.count))
                    return
                }
                element.i32(1, column.type.physicalType)
                element.i32(3, 1)  // OPTIONAL
                element.string(4, column.name)
                if column.type == .string {
                    element.i32(6, 0)  // UTF8
                    element.structure(10) { logical in logical.structure(1) { _ in } }  // STRING
                }
            }
            meta.i64(3, Int64(rowCount))
            meta.structList(4, Array(rowGroups.enumerated())) { group, entry in
                let (ordinal, rowGroup) = entry
                group.structList(1, rowGroup.columns) { column, chunk in
                    column.i64(2, Int64(chunk.dictionaryPageOffset ?? chunk.dataPageOffset))
                    column.structure(3) { meta in Self.columnMetadata(chunk, into: &meta) }
                }
                group.i64(2, Int64(rowGroup.uncompressedBytes))
                group.i64(3, Int64(rowGroup.rows))
                group.i64(5, Int64(rowGroup.fileOffset))
                group.i64(6, Int64(rowGroup.compressedBytes))
                group.fieldHeader(7, .i16)
                group.varint(group.zigzag(Int64(ordinal)))
            }
            if !metadata.isEmpty {
                meta.structList(5, metadata) { pair, entry in
                    pair.string(1, entry.0)
                    pair.string(2, entry.1)
                }
            }
            meta.string(6, "pyflare version 1.0.0 (build parquet-export)")
            // Type-defined order for every column: what makes min_value/max_value trustworthy.
            meta.structList(7, columns) { order, _ in order.structure(1) { _ in } }
        }
    }

    private static func columnMetadata(_ chunk: ChunkMetadata, into meta: inout ThriftCompactWriter) {
        meta.i32(1, chunk.type.physicalType)
        meta.i32List(2, chunk.encodings.map(\.rawValue))
        meta.stringList(3, [chunk.name])
        meta.i32(4, 6)  // ZSTD
        meta.i64(5, Int64(chunk.values))
        meta.i64(6, Int64(chunk.uncompressedBytes))
        meta.i64(7, Int64(chunk.compressedBytes))
        meta.i64(9, Int64(chunk.dataPageOffset))
        if let dictionary = chunk.dictionaryPageOffset { meta.i64(11, Int64(dictionary)) }
        meta.structure(12) { statistics in
            statistics.i64(3, Int64(chunk.nulls))
            if let max = chunk.max, let min = chunk.min {
                statistics.binary(5, max)
                statistics.binary(6, min)
            }
        }
    }

    private mutating func append(_ bytes: [UInt8]) throws(StoreError) {
        try file.write(bytes, at: offset)
        offset += bytes.count
    }
}

/// A string's bytes as a dictionary key, hashed in one go rather than byte by byte.
private struct ByteKey: Hashable {
    let bytes: ArraySlice<UInt8>

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    static func == (lhs: ByteKey, rhs: ByteKey) -> Bool { lhs.bytes.elementsEqual(rhs.bytes) }
}

