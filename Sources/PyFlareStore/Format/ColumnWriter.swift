import PyFlareWire

/// One record (span, log record, metric point) of the batches being encoded: the rows of a
/// block, in block order.
struct RowAddress: Sendable {
    var batch: UInt32
    var row: UInt32
}

/// One block's column chunks before compression, with what the zone maps need.
struct EncodedBlock {
    var rows: Int
    /// Indexed by the column's raw value; nil for columns not encoded.
    var chunks: [[UInt8]?]
    /// Null counts and min/max for the footer, indexed like ``chunks``.
    var stats: [ColumnStats?]
    /// The block's time range: span start times, log record times, metric point times.
    var minStartTime: UInt64
    var maxStartTime: UInt64
    var services: [String]
    /// Span segments: models; metric segments: metric names; log segments: empty.
    var models: [String]
}

/// Collects the chunks of one block, by column of one kind.
struct BlockChunks<Column: SegmentColumn> {
    private var chunks = [[UInt8]?](repeating: nil, count: 256)
    private var stats = [ColumnStats?](repeating: nil, count: 256)

    mutating func set(_ column: Column, _ bytes: [UInt8]) { chunks[Int(column.rawValue)] = bytes }

    /// A chunk whose null count and min/max go to the footer.
    mutating func set(_ column: Column, _ encoded: (bytes: [UInt8], stats: ColumnStats)) {
        chunks[Int(column.rawValue)] = encoded.bytes
        stats[Int(column.rawValue)] = encoded.stats
    }

    /// A `dictionary` chunk, with its statistics.
    mutating func set(_ column: Column, _ dictionary: DictionaryBuilder) { set(column, (dictionary.finish(), dictionary.stats)) }

    /// The `resource` and `scope` chunks (``ColumnWriter/resourcesAndScopes(_:)``).
    mutating func set(_ resource: Column, _ scope: Column, _ owners: (resources: [UInt8], scopes: [UInt8])) {
        set(resource, owners.resources)
        set(scope, owners.scopes)
    }

    func block(rows: Int, times: ClosedRange<UInt64>?, services: [String], models: [String]) -> EncodedBlock {
        EncodedBlock(rows: rows, chunks: chunks, stats: stats, minStartTime: times?.lowerBound ?? 0,
                     maxStartTime: times?.upperBound ?? 0, services: services, models: models)
    }
}

/// A chunk's null count and min/max, for the footer's column directory.
package struct ColumnStats {
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

    package init(nulls: Int, min: [UInt8], max: [UInt8]) {
        self.nulls = nulls
        self.min = min
        self.max = max
    }

    /// min...max of an unsigned integer column; nil when no row has a value.
    package var unsignedRange: ClosedRange<UInt64>? {
        guard min.count == 8, max.count == 8 else { return nil }
        let low = min.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        let high = max.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        return low...high
    }
}

/// A batch behind a reference, as the block encoders read it row by row: reading a column
/// of `views[b].batch` borrows the batch, where reading it from `batches[b]` (an array of
/// structs) would copy it, retaining every one of its arrays, on each row.
protocol BatchView: AnyObject, Sendable {
    associatedtype Batch: OTLPBatch
    /// A stored `let`, so reading a column through it copies nothing.
    var batch: Batch { get }
    /// The batch's records.
    var rowCount: Int { get }
    /// Index into the batch's scopes of record `row`.
    func scope(ofRow row: Int) -> Int
}

/// A log or metric batch behind a reference, with each record's scope and each scope's
/// `service.name` worked out once.
final class SignalBatchView<Batch: OTLPBatch>: BatchView {
    let batch: Batch
    /// Each record's scope.
    let rowScopes: [UInt32]
    /// Each scope's resource's `service.name`, a reference into the arena; empty when there is none.
    let scopeServices: [StringRef]

    init(_ batch: Batch, rowScopes: [UInt32]) {
        self.batch = batch
        self.rowScopes = rowScopes
        let services = batch.serviceNameRefs()
        scopeServices = batch.scopes.resourceIndices.map { services[Int($0)] }
    }

    var rowCount: Int { rowScopes.count }

    @inline(__always)
    func scope(ofRow row: Int) -> Int { Int(rowScopes[row]) }

    @inline(__always)
    func service(ofRow row: Int) -> StringRef { scopeServices[Int(rowScopes[row])] }
}

/// The column writers every block encoder shares: one pass over the rows per column, values
/// read through ``BatchView``s, strings read from the batches' arenas without becoming `String`s.
struct ColumnWriter<View: BatchView> {
    let views: [View]

    /// Every record of every batch, in order.
    var allRows: [RowAddress] {
        var rows: [RowAddress] = []
        rows.reserveCapacity(views.reduce(0) { $0 + $1.rowCount })
        for (batch, view) in views.enumerated() {
            for row in 0..<view.rowCount { rows.append(RowAddress(batch: UInt32(batch), row: UInt32(row))) }
        }
        return rows
    }

    // MARK: - Scalar columns

    /// `varint`, with the unsigned min/max.
    func varints(_ rows: some Collection<RowAddress>, _ value: (View, Int) -> UInt64) -> (bytes: [UInt8], stats: ColumnStats) {
        integers(rows, bytesPerRow: 1, value) { $0.varint($1) }
    }

    /// `zigzagVarint`, with the signed min/max.
    func zigzags(_ rows: some Collection<RowAddress>, _ value: (View, Int) -> Int64) -> (bytes: [UInt8], stats: ColumnStats) {
        integers(rows, bytesPerRow: 2, value) { $0.zigzag($1) }
    }

    /// `deltaVarint` of unsigned times, with their min/max.
    func deltas(_ rows: some Collection<RowAddress>, _ value: (View, Int) -> UInt64) -> (bytes: [UInt8], stats: ColumnStats) {
        var previous: Int64 = 0
        return integers(rows, bytesPerRow: 4, value) { out, time in
            out.zigzag(Int64(bitPattern: time) &- previous)
            previous = Int64(bitPattern: time)
        }
    }

    /// One integer per row laid out by `write`, with their min/max as 8 bytes (two's complement when signed).
    private func integers<Number: FixedWidthInteger>(_ rows: some Collection<RowAddress>, bytesPerRow: Int, _ value: (View, Int) -> Number,
                                                     _ write: (inout ByteWriter, Number) -> Void) -> (bytes: [UInt8], stats: ColumnStats) {
        var out = ByteWriter(capacity: rows.count * bytesPerRow)
        var low = Number.max, high = Number.min
        for address in rows {
            let number = value(views[Int(address.batch)], Int(address.row))
            low = min(low, number)
            high = max(high, number)
            write(&out, number)
        }
        return (out.bytes, ColumnStats(min: UInt64(truncatingIfNeeded: low), max: UInt64(truncatingIfNeeded: high), rows: rows.count))
    }

    func fixed64s(_ rows: some Collection<RowAddress>, _ value: (View, Int) -> UInt64) -> [UInt8] {
        var out = ByteWriter(capacity: rows.count * 8)
        for address in rows { out.fixed64(value(views[Int(address.batch)], Int(address.row))) }
        return out.bytes
    }

    /// `nullableVarint`, with the null count and the signed min/max of the values.
    func nullables(_ rows: some Collection<RowAddress>, _ value: (View, Int) -> Int64?) -> (bytes: [UInt8], stats: ColumnStats) {
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

    /// `nullableFixed64` of doubles (bit patterns kept exactly), with the null count.
    func nullableDoubles(_ rows: some Collection<RowAddress>, _ value: (View, Int) -> Double?) -> (bytes: [UInt8], stats: ColumnStats) {
        var out = ByteWriter(capacity: rows.count * 9)
        var nulls = 0
        for address in rows {
            if let number = value(views[Int(address.batch)], Int(address.row)) {
                out.byte(1)
                out.fixed64(number.bitPattern)
            } else {
                out.byte(0)
                nulls += 1
            }
        }
        return (out.bytes, ColumnStats(nulls: nulls))
    }

    /// `idDictionary`: the distinct trace ids (the zero id included) in order of first appearance, then an index per row.
    func traceIDs(_ rows: some Collection<RowAddress>, _ id: (View, Int) -> TraceID) -> [UInt8] {
        var distinct: [TraceID: Int] = [:]
        var ids: [TraceID] = []
        var indices = ByteWriter(capacity: rows.count)
        for address in rows {
            let id = id(views[Int(address.batch)], Int(address.row))
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
        for id in ids { out.traceID(id) }
        out.append(indices.bytes)
        return out.bytes
    }

    // MARK: - Strings

    func fill(_ dictionary: inout DictionaryBuilder, _ rows: some Collection<RowAddress>, _ ref: (View, Int) -> StringRef) {
        for address in rows {
            let view = views[Int(address.batch)]
            let string = ref(view, Int(address.row))
            view.batch.withBytes(string) { dictionary.add($0, source: (address.batch, string.packed)) }
        }
    }

    /// A `dictionary` column of strings.
    func strings(_ rows: some Collection<RowAddress>, _ ref: (View, Int) -> StringRef) -> (bytes: [UInt8], stats: ColumnStats) {
        let dictionary = self.dictionary(rows, ref)
        return (dictionary.finish(), dictionary.stats)
    }

    /// The filled builder, for a column whose distinct values also go to the zone maps.
    func dictionary(_ rows: some Collection<RowAddress>, _ ref: (View, Int) -> StringRef) -> DictionaryBuilder {
        var dictionary = DictionaryBuilder(rows: rows.count)
        fill(&dictionary, rows, ref)
        return dictionary
    }

    /// Each row's rank among the distinct non-empty values of `ref` sorted as strings; −1 when empty.
    func ranks(_ rows: [RowAddress], _ ref: (View, Int) -> StringRef) -> [Int] {
        var strings = StringCache()
        let values = rows.map { address in
            let view = views[Int(address.batch)]
            return strings.string(ref(view, Int(address.row)), batch: Int(address.batch), in: view.batch)
        }
        let ranks = Dictionary(uniqueKeysWithValues: Set(values.compactMap { $0 }).sorted().enumerated().map { ($1, $0) })
        return values.map { $0.flatMap { ranks[$0] } ?? -1 }
    }

    // MARK: - Serialized values

    /// Resources and scopes as `dictionary` columns of serialized blobs, each serialized once per batch.
    func resourcesAndScopes(_ rows: some Collection<RowAddress>) -> (resources: [UInt8], scopes: [UInt8]) {
        var resources = DictionaryBuilder(rows: rows.count)
        var scopes = DictionaryBuilder(rows: rows.count)
        var resourceBlobs: [[[UInt8]?]] = views.map { [[UInt8]?](repeating: nil, count: $0.batch.resources.count) }
        var scopeBlobs: [[[UInt8]?]] = views.map { [[UInt8]?](repeating: nil, count: $0.batch.scopes.count) }
        for address in rows {
            let view = views[Int(address.batch)]
            let scope = view.scope(ofRow: Int(address.row))
            let resource = Int(view.batch.scopes.resourceIndices[scope])
            let resourceBlob = serialized(&resourceBlobs[Int(address.batch)][resource], view) { writer, blob in
                writer.string(view.batch.resources.schemaURLs[resource], into: &blob)
                blob.varint(UInt64(view.batch.resources.droppedAttributeCounts[resource]))
                writer.keyValues(view.batch.resources.attributes[resource], of: view.batch.attributes, into: &blob)
            }
            let scopeBlob = serialized(&scopeBlobs[Int(address.batch)][scope], view) { writer, blob in
                writer.string(view.batch.scopes.names[scope], into: &blob)
                writer.string(view.batch.scopes.versions[scope], into: &blob)
                writer.string(view.batch.scopes.schemaURLs[scope], into: &blob)
                blob.varint(UInt64(view.batch.scopes.droppedAttributeCounts[scope]))
                writer.keyValues(view.batch.scopes.attributes[scope], of: view.batch.attributes, into: &blob)
            }
            resourceBlob.withUnsafeBytes { resources.add($0, source: (address.batch, UInt64(resource))) }
            scopeBlob.withUnsafeBytes { scopes.add($0, source: (address.batch, UInt64(scope))) }
        }
        return (resources.finish(), scopes.finish())
    }

    /// `cached`, or the bytes `write` serializes, kept in `cached`.
    private func serialized(_ cached: inout [UInt8]?, _ view: View, _ write: (KeyValueWriter<View>, inout ByteWriter) -> Void) -> [UInt8] {
        if let cached { return cached }
        var blob = ByteWriter()
        view.batch.bytes.withUnsafeBytes { write(KeyValueWriter(view: view, arena: $0), &blob) }
        cached = blob.bytes
        return blob.bytes
    }

    /// A `blobs` column: `write` appends each row's bytes, with a writer of serialized values over the row's arena.
    func blobs(_ rows: some Collection<RowAddress>, _ write: (KeyValueWriter<View>, Int, inout ByteWriter) -> Void) -> [UInt8] {
        var column = BlobColumnBuilder(rows: rows.count)
        for address in rows {
            let view = views[Int(address.batch)]
            view.batch.bytes.withUnsafeBytes { arena in
                write(KeyValueWriter(view: view, arena: arena), Int(address.row), &column.data)
            }
            column.endRow()
        }
        return column.finish()
    }

    /// A `blobs` column of lists (events, links, exemplars): a zero-length row for a row whose
    /// `range` is empty, else `varint count` and each element as `element` writes it (given
    /// the row and the element's index).
    func lists(_ rows: some Collection<RowAddress>, _ range: (View, Int) -> RowRange,
               _ element: (KeyValueWriter<View>, Int, Int, inout ByteWriter) -> Void) -> [UInt8] {
        blobs(rows) { writer, row, out in
            let range = range(writer.view, row)
            guard range.count > 0 else { return }
            out.varint(Int(range.count))
            for index in range.indices { element(writer, row, index, &out) }
        }
    }

    /// A `blobs` column of each row's `key_values` from the batch's ``OTLPBatch/attributes``.
    func attributes(_ rows: some Collection<RowAddress>, _ range: (View, Int) -> RowRange) -> [UInt8] {
        blobs(rows) { writer, row, out in
            writer.keyValues(range(writer.view, row), of: writer.view.batch.attributes, into: &out)
        }
    }
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
