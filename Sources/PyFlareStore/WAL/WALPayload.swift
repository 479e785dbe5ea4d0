import PyFlareModel
import PyFlareWire

/// What one WAL record holds: one write of one signal.
enum WALEntry: Sendable {
    /// One batcher flush.
    case spans([NormalizedBatch])
    /// One OTLP logs request.
    case logs(LogBatch)
    /// One OTLP metrics request, a row per data point.
    case metrics(MetricBatch)

    var rows: Int {
        switch self {
        case .spans(let batches): batches.reduce(0) { $0 + $1.count }
        case .logs(let batch): batch.count
        case .metrics(let batch): batch.count
        }
    }

    /// "11 spans, 3 log records": the rows of `entries` per signal, for recovery's log line.
    static func describeCounts(_ entries: [WALEntry]) -> String {
        var counts: [SegmentKind: Int] = [:]
        for entry in entries { counts[entry.segmentKind, default: 0] += entry.rows }
        let parts = [(SegmentKind.spans, "spans"), (.logs, "log records"), (.metricPoints, "metric points")]
            .compactMap { kind, noun in counts[kind].map { "\($0) \(noun)" } }
        return parts.joined(separator: ", ")
    }

    /// The kind of segment the entry's rows are sealed into.
    var segmentKind: SegmentKind {
        switch self {
        case .spans: .spans
        case .logs: .logs
        case .metrics: .metricPoints
        }
    }

    /// The span batches of a `.spans` entry; empty for the other signals.
    var spanBatches: [NormalizedBatch] {
        if case .spans(let batches) = self { return batches }
        return []
    }

    var spanCount: Int { spanBatches.reduce(0) { $0 + $1.count } }

    /// Memory the entry holds while unsealed: its arena plus its columns, roughly.
    var footprint: Int {
        switch self {
        case .spans(let batches): batches.reduce(0) { $0 + $1.spans.bytes.count + $1.count * 256 }
        case .logs(let batch): batch.bytes.count + batch.count * 128
        case .metrics(let batch): batch.bytes.count + batch.count * 192
        }
    }
}

/// The payload of a WAL record: one entry as a single block of its signal's columns.
///
/// `[kind byte][varint rows][varint column count][per column: id byte, varint raw length]`
/// followed by one zstd frame (level 1) of the chunks back to back, in that order. The kind
/// byte is 1 for spans (the first and, until logs and metrics, only layout), 2 for log
/// records, 3 for metric points; the chunks use the segment encodings of that kind, so
/// recovery decodes them with the same code as segments.
package enum WALPayload {
    /// Requests encode their records concurrently; each takes a context from here.
    private static let compressors = ZstdCompressorPool()

    /// The kind bytes; a change of a payload or of the column encodings it uses takes a new one.
    static let spansKind: UInt8 = 1
    static let logsKind: UInt8 = 2
    static let metricsKind: UInt8 = 3

    package static func encode(_ batches: [NormalizedBatch], pricing: PricingTable) -> [UInt8] {
        let encoder = BlockEncoder(batches, pricing: pricing)
        return encode(encoder.encode(encoder.allRows), kind: spansKind, SpanColumn.self)
    }

    static func encode(_ entry: WALEntry, pricing: PricingTable) -> [UInt8] {
        switch entry {
        case .spans(let batches):
            return encode(batches, pricing: pricing)
        case .logs(let batch):
            let encoder = LogBlockEncoder([batch])
            return encode(encoder.encode(encoder.allRows), kind: logsKind, LogColumn.self)
        case .metrics(let batch):
            let encoder = MetricBlockEncoder([batch])
            return encode(encoder.encode(encoder.allRows), kind: metricsKind, MetricColumn.self)
        }
    }

    private static func encode<Column: SegmentColumn>(_ block: EncodedBlock, kind: UInt8, _: Column.Type) -> [UInt8] {
        var header = ByteWriter(capacity: 128)
        header.byte(kind)
        var raw: [UInt8] = []
        let present = Column.allCases.compactMap { column in block.chunks[Int(column.rawValue)].map { (column, $0) } }
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

    static func decode(_ payload: ArraySlice<UInt8>, pricing: PricingTable) throws(ColumnError) -> WALEntry {
        let bytes = Array(payload)
        let kind: UInt8
        let decoder: BlockDecoder
        do {
            (kind, decoder) = try bytes.withBytes { raw throws(FormatError) -> (UInt8, BlockDecoder) in
                var input = ByteReader(raw)
                let kind = try input.byte()
                guard [spansKind, logsKind, metricsKind].contains(kind) else {
                    throw FormatError("WAL record kind \(kind); this build reads kinds 1 (spans), 2 (logs) and 3 (metric points)")
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
                return (kind, BlockDecoder(rows: rows, arena: arena, ranges: ranges))
            }
        } catch {
            throw ColumnError(column: nil, error)
        }
        switch kind {
        case logsKind: return .logs(try decoder.decodeLogBatch())
        case metricsKind: return .metrics(try decoder.decodeMetricBatch())
        default: return .spans([try decoder.decodeBatch(pricing: pricing)])
        }
    }
}
