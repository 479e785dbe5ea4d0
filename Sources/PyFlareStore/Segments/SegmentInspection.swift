import Foundation
import PyFlareModel
import PyFlareWire

/// A readable account of a segment file of any kind, for `pyflare segment inspect` and `scan`.
public enum SegmentInspection {
    /// Rows, blocks, time range and, per column, encoding and bytes before and after
    /// compression; with `verify`, every chunk is also read, checksummed and decoded.
    public static func report(path: String, verify: Bool) throws -> String {
        let reader = try SegmentReader(path: path)
        let footer = reader.footer
        let rows = rowName(reader.kind)
        var lines = [
            "\(path): format v\(SegmentFooter.formatVersion), \(reader.kind.name) segment, \(footer.rows) \(rows) in \(footer.blocks.count) blocks, "
                + "\(reader.fileLength) bytes (\(footer.rows > 0 ? reader.fileLength / footer.rows : 0) per \(rows.dropLast()))",
            "times \(footer.minStartTime)...\(footer.maxStartTime); WAL records \(footer.firstWALSequence)...\(footer.lastWALSequence)",
            "services: \(footer.services.joined(separator: ", "))",
        ]
        switch reader.kind {
        case .spans: lines.append("models: \(footer.models.joined(separator: ", "))")
        case .metricPoints: lines.append("metric names: \(footer.models.joined(separator: ", "))")
        case .logs: break
        }
        lines += ["", pad("column", 26) + pad("encoding", 16) + lpad("raw", 14) + lpad("stored", 14) + lpad("ratio", 8) + lpad("B/row", 9)]
        switch reader.kind {
        case .spans: lines += columnLines(SpanColumn.self, footer)
        case .logs: lines += columnLines(LogColumn.self, footer)
        case .metricPoints: lines += columnLines(MetricColumn.self, footer)
        }
        if verify {
            let decoded = try reader.verifyRows(pricing: .builtIn())
            lines.append("")
            lines.append("verified: every chunk's checksum holds and \(decoded) \(rows) decode")
        }
        return lines.joined(separator: "\n")
    }

    private static func rowName(_ kind: SegmentKind) -> String {
        switch kind {
        case .spans: "spans"
        case .logs: "records"
        case .metricPoints: "points"
        }
    }

    private static func columnLines<Column: SegmentColumn>(_: Column.Type, _ footer: SegmentFooter) -> [String] {
        Column.allCases.map { column in
            let chunks = footer.blocks.compactMap { $0.chunk(column) }
            let raw = chunks.reduce(0) { $0 + $1.rawLength }, stored = chunks.reduce(0) { $0 + $1.length }
            let ratio = stored > 0 ? Double(raw) / Double(stored) : 0
            let perRow = footer.rows > 0 ? Double(stored) / Double(footer.rows) : 0
            return pad(column.name, 26) + pad("\(column.encoding)", 16) + lpad("\(raw)", 14) + lpad("\(stored)", 14)
                + lpad(String(format: "%.1f", ratio), 8) + lpad(String(format: "%.1f", perRow), 9)
        }
    }

    /// What a column scan read.
    public struct ScanResult: Sendable {
        /// Spans, log records or metric points.
        public var rows = 0
        public var blocks = 0
        public var compressedBytes = 0
        public var seconds = 0.0

        public var spans: Int { rows }
    }

    /// Reads and decodes the named columns of every block of `paths` (decompressing only
    /// those chunks), as a query that needs them would; for measuring scan speed. Column
    /// names are those of each file's kind.
    public static func scan(paths: [String], columns names: [String]) throws -> ScanResult {
        var result = ScanResult()
        var checksum: UInt64 = 0
        let started = ContinuousClock.now
        for path in paths {
            let reader = try SegmentReader(path: path)
            switch reader.kind {
            case .spans: checksum &+= try scan(reader, SpanColumn.self, names, into: &result)
            case .logs: checksum &+= try scan(reader, LogColumn.self, names, into: &result)
            case .metricPoints: checksum &+= try scan(reader, MetricColumn.self, names, into: &result)
            }
        }
        let elapsed = started.duration(to: .now)
        result.seconds = elapsed.inSeconds
        // Keeps the decoding from being optimized away.
        if checksum == 42 { result.blocks += 0 }
        return result
    }

    private static func scan<Column: SegmentColumn>(_ reader: SegmentReader, _: Column.Type, _ names: [String],
                                                     into result: inout ScanResult) throws -> UInt64 {
        let columns = try names.map { name in
            guard let column = Column.allCases.first(where: { $0.name == name }) else {
                throw StoreError(.corrupt, "no column named \(name) in a \(Column.segmentKind.name) segment", path: reader.path)
            }
            return column
        }
        var checksum: UInt64 = 0
        for (index, block) in reader.footer.blocks.enumerated() {
            let decoder = try reader.readBlock(index, of: Column.self, columns: columns)
            for column in columns {
                do {
                    checksum &+= try touch(column, decoder)
                } catch {
                    throw StoreError(.corrupt, "block \(index), \(error)", path: reader.path)
                }
                result.compressedBytes += block.chunk(column)?.length ?? 0
            }
            result.rows += block.rows
            result.blocks += 1
        }
        return checksum
    }

    /// Decodes one column into its typed values and folds them into a number.
    private static func touch(_ column: some SegmentColumn, _ decoder: BlockDecoder) throws(ColumnError) -> UInt64 {
        switch column.encoding {
        case .deltaVarint: return try decoder.deltas(column).reduce(0, &+)
        case .varint: return try decoder.varints(column).reduce(0, &+)
        case .zigzagVarint: return try decoder.zigzags(column).reduce(0) { $0 &+ UInt64(bitPattern: $1) }
        case .nullableVarint: return try decoder.nullables(column).reduce(0) { $0 &+ UInt64(bitPattern: $1 ?? 0) }
        case .nullableFixed64: return try decoder.nullableDoubles(column).reduce(0) { $0 &+ ($1?.bitPattern ?? 0) }
        case .fixed64: return try decoder.fixed64s(column).reduce(0, &+)
        case .idDictionary: return try decoder.traceIDs(column).reduce(0) { $0 &+ $1.low }
        case .spanReference: return try decoder.parentSpanIDs(spanIDs: decoder.fixed64s(SpanColumn.spanID)).reduce(0, &+)
        case .dictionary: return try decoder.strings(column).reduce(0) { $0 &+ $1.packed }
        case .blobs: return try decoder.blobs(column).reduce(0) { $0 &+ UInt64($1.count) }
        case .tokenFilter: return try decoder.tokenFilter()?.encoded.reduce(0) { $0 &+ UInt64($1) } ?? 0
        }
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    private static func lpad(_ text: String, _ width: Int) -> String {
        text.count >= width ? " " + text : String(repeating: " ", count: width - text.count) + text
    }
}
