import PyFlareModel
import PyFlareWire

/// What one WAL record holds: one write of one signal.
package enum WALEntry: Sendable {
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

    /// Where a Kafka receiver read the entry's requests from; empty for OTLP.
    package var sourceOffsets: [SourceOffset] {
        switch self {
        case .spans(let batches): batches.flatMap(\.sourceOffsets)
        case .logs(let batch): batch.sourceOffsets
        case .metrics(let batch): batch.sourceOffsets
        }
    }

    /// The entry with `offsets` as its source offsets (on its first span batch).
    func withSourceOffsets(_ offsets: [SourceOffset]) -> WALEntry {
        switch self {
        case .spans(var batches):
            guard !batches.isEmpty else { return self }
            batches[0].sourceOffsets = offsets
            return .spans(batches)
        case .logs(var batch):
            batch.sourceOffsets = offsets
            return .logs(batch)
        case .metrics(var batch):
            batch.sourceOffsets = offsets
            return .metrics(batch)
        }
    }

    /// The span batches of a `.spans` entry; empty for the other signals.
    package var spanBatches: [NormalizedBatch] {
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

/// The payload of a WAL record: one entry of one signal.
///
/// Spans (kind 4) are written as received where possible: a batch whose arena is the
/// protobuf request it was decoded from is stored as those bytes plus the ids of the spans
/// kept (the sampler may have dropped some), and recovery decodes and normalizes it again.
/// That costs a copy and a checksum per request instead of encoding and compressing every
/// column, which was most of a request's time; the WAL is written once and read only after
/// a crash. Other span batches (OTLP/JSON, the telemetry API) are stored as columns.
///
/// `[4][varint batches]`, then per batch either `[0][varint length][request][varint spans]
/// [fixed64 span id per kept span]` or `[1][varint length][a columns payload of the batch]`.
///
/// A columns payload is `[kind byte][varint rows][varint column count][per column: id byte,
/// varint raw length]` followed by one zstd frame (level 1) of the chunks back to back, in
/// that order. Its kind byte is 1 for spans, 2 for log records, 3 for metric points; the chunks
/// use the segment encodings of that kind, so recovery decodes them with the same code as
/// segments. WAL files written before kind 4 hold kind-1 span records, still read.
///
/// Records read from Kafka carry where they were read from ahead of their payload, in the
/// same record, so what is durable and the position it came from can never disagree:
/// `[5][varint count][per offset: varint length, topic, varint partition, varint offset]`
/// followed by one of the payloads above.
package enum WALPayload {
    /// Requests encode their records concurrently; each takes a context from here.
    private static let compressors = ZstdCompressorPool()

    /// The kind bytes; a change of a payload or of the column encodings it uses takes a new one.
    static let spansKind: UInt8 = 1
    static let logsKind: UInt8 = 2
    static let metricsKind: UInt8 = 3
    static let spansAsReceivedKind: UInt8 = 4
    static let sourceOffsetsKind: UInt8 = 5

    /// The form of one batch in a kind-4 payload.
    private static let protobufRequestForm: UInt8 = 0
    private static let columnsForm: UInt8 = 1

    package static func encode(_ batches: [NormalizedBatch], pricing: PricingTable) -> [UInt8] {
        let length = batches.reduce(16) { $0 + 24 + (($1.spans.arenaIsProtobufRequest ? $1.spans.bytes.count : 0) + 8 * $1.count) }
        var payload = ByteWriter(capacity: length)
        payload.byte(spansAsReceivedKind)
        payload.varint(batches.count)
        for batch in batches {
            if batch.spans.arenaIsProtobufRequest {
                payload.byte(protobufRequestForm)
                payload.varint(batch.spans.bytes.count)
                payload.append(batch.spans.bytes)
                payload.varint(batch.count)
                for spanID in batch.spans.spanIDs { payload.fixed64(spanID) }
            } else {
                let columns = encodeColumns([batch], pricing: pricing)
                payload.byte(columnsForm)
                payload.varint(columns.count)
                payload.append(columns)
            }
        }
        return payload.bytes
    }

    /// A kind-1 payload: `batches` as one block of span columns.
    static func encodeColumns(_ batches: [NormalizedBatch], pricing: PricingTable) -> [UInt8] {
        let encoder = BlockEncoder(batches, pricing: pricing)
        return encode(encoder.encode(encoder.allRows), kind: spansKind, SpanColumn.self)
    }

    static func encode(_ entry: WALEntry, pricing: PricingTable) -> [UInt8] {
        let offsets = entry.sourceOffsets
        guard !offsets.isEmpty else { return encodeEntry(entry, pricing: pricing) }
        var payload = ByteWriter(capacity: 64 + offsets.count * 32)
        payload.byte(sourceOffsetsKind)
        payload.varint(offsets.count)
        for item in offsets {
            payload.lengthPrefixed(item.topic)
            payload.varint(UInt64(UInt32(bitPattern: item.partition)))
            payload.varint(UInt64(bitPattern: item.offset))
        }
        payload.append(encodeEntry(entry, pricing: pricing))
        return payload.bytes
    }

    private static func encodeEntry(_ entry: WALEntry, pricing: PricingTable) -> [UInt8] {
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
        if payload.first == sourceOffsetsKind {
            let (offsets, rest) = try decodeSourceOffsets(Array(payload))
            return try decode(payload[(payload.startIndex + rest)...], pricing: pricing).withSourceOffsets(offsets)
        }
        if payload.first == spansAsReceivedKind {
            do {
                return .spans(try decodeAsReceived(Array(payload), pricing: pricing))
            } catch let error as ColumnError {
                throw error
            } catch {
                throw ColumnError(column: nil, FormatError("\(error)"))
            }
        }
        return try decodeColumns(payload, pricing: pricing)
    }

    /// The offsets of a kind-5 prefix, and where the payload after it starts.
    private static func decodeSourceOffsets(_ bytes: [UInt8]) throws(ColumnError) -> ([SourceOffset], Int) {
        do {
            return try bytes.withBytes { raw throws(FormatError) -> ([SourceOffset], Int) in
                var input = ByteReader(raw, position: 1)
                let count = try input.count(atMost: raw.count)
                var offsets: [SourceOffset] = []
                for _ in 0..<count {
                    let topic = try input.string()
                    let partition = try input.varint()
                    guard partition <= UInt32.max else { throw FormatError("Kafka partition \(partition) in a WAL record") }
                    offsets.append(SourceOffset(topic: topic, partition: Int32(bitPattern: UInt32(partition)),
                                                offset: Int64(bitPattern: try input.varint())))
                }
                return (offsets, input.position)
            }
        } catch {
            throw ColumnError(column: nil, error)
        }
    }

    private static func decodeAsReceived(_ bytes: [UInt8], pricing: PricingTable) throws -> [NormalizedBatch] {
        // (form, range of its bytes, kept span ids) per batch, read first: decoding needs arrays, not the reader's pointer.
        let parts = try bytes.withBytes { raw throws(FormatError) -> [(UInt8, Range<Int>, [UInt64])] in
            var input = ByteReader(raw, position: 1)
            let count = try input.count(atMost: Int(UInt32.max))
            var parts: [(UInt8, Range<Int>, [UInt64])] = []
            for _ in 0..<count {
                let form = try input.byte()
                switch form {
                case protobufRequestForm:
                    let request = try input.lengthPrefixed()
                    let spans = try input.count(atMost: request.count)
                    var ids: [UInt64] = []
                    ids.reserveCapacity(spans)
                    for _ in 0..<spans { ids.append(try input.fixed64()) }
                    parts.append((form, request, ids))
                case columnsForm:
                    parts.append((form, try input.lengthPrefixed(), []))
                default:
                    throw FormatError("WAL span batch form \(form); this build reads forms 0 (protobuf request) and 1 (columns)")
                }
            }
            guard input.remaining == 0 else { throw FormatError("\(input.remaining) bytes after the last batch of a WAL record") }
            return parts
        }
        let normalizer = SpanNormalizer(pricing: pricing)
        return try parts.flatMap { form, range, keptIDs throws -> [NormalizedBatch] in
            if form == columnsForm { return try decodeColumns(bytes[range], pricing: pricing).spanBatches }
            var spans = try SpanBatch.decodeProtobuf(Array(bytes[range]))
            spans.retain(try keptRows(of: spans.spanIDs, ids: keptIDs))
            return [normalizer.normalize(spans)]
        }
    }

    /// Which rows of a request decoded again are the kept spans: the kept ids are a
    /// subsequence of the decoded ones, in order (filtering keeps the order).
    private static func keptRows(of decoded: [UInt64], ids kept: [UInt64]) throws(FormatError) -> [Bool] {
        var keep = [Bool](repeating: false, count: decoded.count)
        var next = 0
        for (row, id) in decoded.enumerated() where next < kept.count && id == kept[next] {
            keep[row] = true
            next += 1
        }
        guard next == kept.count else {
            throw FormatError("a WAL request decodes to spans that do not contain its \(kept.count) kept span ids (\(next) found)")
        }
        return keep
    }

    private static func decodeColumns(_ payload: ArraySlice<UInt8>, pricing: PricingTable) throws(ColumnError) -> WALEntry {
        let bytes = Array(payload)
        let kind: UInt8
        let decoder: BlockDecoder
        do {
            (kind, decoder) = try bytes.withBytes { raw throws(FormatError) -> (UInt8, BlockDecoder) in
                var input = ByteReader(raw)
                let kind = try input.byte()
                guard [spansKind, logsKind, metricsKind].contains(kind) else {
                    throw FormatError("WAL record kind \(kind); this build reads kinds 1 (span columns), 2 (logs), 3 (metric points) and 4 (spans as received)")
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
