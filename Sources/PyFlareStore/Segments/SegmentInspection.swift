/// A readable account of a segment file, for `pyflare segment inspect`.
public enum SegmentInspection {
    /// Rows, blocks, time range and, per column, encoding and bytes before and after
    /// compression; with `verify`, every chunk is also read, checksummed and decoded.
    public static func report(path: String, verify: Bool) throws -> String {
        let reader = try SegmentReader(path: path)
        let footer = reader.footer
        var lines = [
            "\(path): format v\(SegmentFooter.formatVersion), \(footer.rows) spans in \(footer.blocks.count) blocks, \(reader.fileLength) bytes"
                + " (\(footer.rows > 0 ? reader.fileLength / footer.rows : 0) per span)",
            "start times \(footer.minStartTime)...\(footer.maxStartTime); WAL records \(footer.firstWALSequence)...\(footer.lastWALSequence)",
            "services: \(footer.services.joined(separator: ", "))",
            "models: \(footer.models.joined(separator: ", "))",
            "",
            pad("column", 26) + pad("encoding", 16) + lpad("raw", 14) + lpad("stored", 14) + lpad("ratio", 8) + lpad("B/span", 9),
        ]
        for column in SpanColumn.allCases {
            let chunks = footer.blocks.compactMap { $0.chunk(column) }
            let raw = chunks.reduce(0) { $0 + $1.rawLength }, stored = chunks.reduce(0) { $0 + $1.length }
            let ratio = stored > 0 ? Double(raw) / Double(stored) : 0
            let perSpan = footer.rows > 0 ? Double(stored) / Double(footer.rows) : 0
            lines.append(pad(column.name, 26) + pad("\(column.encoding)", 16) + lpad("\(raw)", 14) + lpad("\(stored)", 14)
                         + lpad(String(format: "%.1f", ratio), 8) + lpad(String(format: "%.1f", perSpan), 9))
        }
        if verify {
            let batches = try reader.verify(pricing: .builtIn())
            lines.append("")
            lines.append("verified: every chunk's checksum holds and \(batches.reduce(0) { $0 + $1.count }) spans decode")
        }
        return lines.joined(separator: "\n")
    }

    /// What a column scan read.
    public struct ScanResult: Sendable {
        public var spans = 0
        public var blocks = 0
        public var compressedBytes = 0
        public var seconds = 0.0
    }

    /// Reads and decodes the named columns of every block of `paths` (decompressing only
    /// those chunks), as a query that needs them would; for measuring scan speed.
    public static func scan(paths: [String], columns names: [String]) throws -> ScanResult {
        let columns = try names.map { name in
            guard let column = SpanColumn.allCases.first(where: { $0.name == name }) else {
                throw StoreError(.corrupt, "no column named \(name)", path: "")
            }
            return column
        }
        var result = ScanResult()
        var checksum: UInt64 = 0
        let started = ContinuousClock.now
        for path in paths {
            let reader = try SegmentReader(path: path)
            for (index, block) in reader.footer.blocks.enumerated() {
                let decoder = try reader.readBlock(index, columns: columns)
                for column in columns {
                    do {
                        checksum &+= try touch(column, decoder)
                    } catch {
                        throw StoreError(.corrupt, "block \(index), \(error)", path: path)
                    }
                    result.compressedBytes += block.chunk(column)?.length ?? 0
                }
                result.spans += block.rows
                result.blocks += 1
            }
        }
        let elapsed = started.duration(to: .now)
        result.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        // Keeps the decoding from being optimized away.
        if checksum == 42 { result.blocks += 0 }
        return result
    }

    /// Decodes one column into its typed values and folds them into a number.
    private static func touch(_ column: SpanColumn, _ decoder: BlockDecoder) throws(ColumnError) -> UInt64 {
        switch column.encoding {
        case .deltaVarint: return try decoder.startTimes().reduce(0, &+)
        case .varint: return try decoder.varints(column).reduce(0, &+)
        case .zigzagVarint: return try decoder.zigzags(column).reduce(0) { $0 &+ UInt64(bitPattern: $1) }
        case .nullableVarint: return try decoder.nullables(column).reduce(0) { $0 &+ UInt64(bitPattern: $1 ?? 0) }
        case .fixed64: return try decoder.fixed64s(column).reduce(0, &+)
        case .idDictionary: return try decoder.traceIDs().reduce(0) { $0 &+ $1.low }
        case .spanReference: return try decoder.parentSpanIDs(spanIDs: decoder.fixed64s(SpanColumn.spanID)).reduce(0, &+)
        case .dictionary: return try decoder.strings(column).reduce(0) { $0 &+ $1.packed }
        case .blobs: return try decoder.blobs(column).reduce(0) { $0 &+ UInt64($1.count) }
        }
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    private static func lpad(_ text: String, _ width: Int) -> String {
        text.count >= width ? " " + text : String(repeating: " ", count: width - text.count) + text
    }
}

import Foundation
import PyFlareModel
import PyFlareWire
