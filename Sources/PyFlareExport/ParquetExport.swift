#if canImport(Glibc)
import Glibc
#endif
public import GRDB
import PyFlareModel
import PyFlareSQL
import PyFlareStore
import PyFlareWire

/// Sealed segments as Parquet files (`docs/parquet.md`): the rows of each segment, by UTC
/// day of their time, become `kind=<kind>/date=<YYYY-MM-DD>/<segment>.parquet` under the
/// output directory, one row group per segment block, with the columns of the kind's SQL
/// table (`spans`, `logs`, `metric_points`) and the values `SELECT *` shows.
///
/// Files are written beside their final name, synced and renamed into place, so a reader
/// (or a crash) never sees half a file; writing one again replaces it whole.
public struct ParquetExport: Sendable {
    public struct File: Sendable, Equatable {
        /// Relative to the output directory.
        public var path: String
        public var kind: SegmentKind
        /// The segment it came from, relative to the data directory.
        public var segment: String
        public var rows: Int
        public var bytes: Int
    }

    public struct Report: Sendable {
        public var files: [File] = []
        public var segments = 0
        /// Segments that could not be read (corrupt, gone): the segment and why.
        public var failures: [(segment: String, error: String)] = []
        public var rows: Int { files.reduce(0) { $0 + $1.rows } }
        public var bytes: Int { files.reduce(0) { $0 + $1.bytes } }
    }

    let dataDirectory: String
    let pricing: PricingTable
    /// How segments are opened: local files, or remote ones through the store's bucket.
    let readers: SegmentReaderCache

    package init(dataDirectory: String, pricing: PricingTable, readers: SegmentReaderCache) {
        self.dataDirectory = dataDirectory
        self.pricing = pricing
        self.readers = readers
    }

    /// The active segments of `kinds` holding records of `range` (all when nil).
    public static func activeSegments(of kinds: [SegmentKind], overlapping range: Range<Int64>?,
                                      in pool: DatabasePool) async throws -> [StoreCatalog.ActiveSegment] {
        try await pool.read { db in try kinds.flatMap { try StoreCatalog.activeSegments(of: $0, overlapping: range, db) } }
    }

    /// Writes the rows of `segments` whose time is in `range` (all when nil) under `directory`.
    /// A segment that cannot be read is reported and skipped; an output that cannot be
    /// written stops the export (`StoreError`, naming the file).
    public func export(_ segments: [StoreCatalog.ActiveSegment], range: Range<Int64>? = nil,
                       to directory: String) throws(StoreError) -> Report {
        var report = Report()
        for segment in segments {
            do {
                report.files += try export(segment, range: range, to: directory)
                report.segments += 1
            } catch where error.code == .corrupt || error.code == .unsupportedVersion || error.errno == ENOENT {
                report.failures.append((segment.path, error.message))
            }
        }
        return report
    }

    private func export(_ segment: StoreCatalog.ActiveSegment, range: Range<Int64>?, to directory: String) throws(StoreError) -> [File] {
        var written: [String] = []
        do {
            return try export(segment, range: range, to: directory, writing: &written)
        } catch {
            // What a failed export began stays out of the directory.
            for path in written { try? StoreDirectory.remove(Self.temporary(directory + "/" + path)) }
            throw error
        }
    }

    private func export(_ segment: StoreCatalog.ActiveSegment, range: Range<Int64>?, to directory: String,
                        writing written: inout [String]) throws(StoreError) -> [File] {
        let reader = try readers.reader(dataDirectory + "/" + segment.path)
        guard reader.kind == segment.kind else {
            throw StoreError(.corrupt, "holds \(reader.kind.name), the catalog says \(segment.kind.name)", path: segment.path)
        }
        let columns = Self.columns(of: segment.kind)
        var stem = String(segment.path.split(separator: "/").last ?? "segment")
        if stem.hasSuffix(".seg") { stem.removeLast(4) }
        // One file per UTC day of the rows; a row's day is found by its number, the text made once.
        var outputs: [(writer: ParquetFileWriter, path: String)] = []
        var outputOfDay: [Int64: Int] = [:]
        for block in reader.footer.blocks.indices {
            var rows = try TableRows.read(reader, block: block, kind: segment.kind, pricing: pricing)
            for row in 0..<rows.rows {
                let time = rows.time(row)
                if let range, !range.contains(time) { continue }
                let dayNumber = time >= 0 ? time / UnixTime.day : (time + 1) / UnixTime.day - 1
                let output: Int
                if let known = outputOfDay[dayNumber] {
                    output = known
                } else {
                    let folder = "kind=\(segment.kind.name)/date=\(Self.day(time))"
                    try StoreDirectory.create(directory + "/" + folder)
                    let path = "\(folder)/\(stem).parquet"
                    let writer = try ParquetFileWriter(path: Self.temporary(directory + "/" + path), columns: columns, metadata: [
                        ("pyflare.kind", segment.kind.name), ("pyflare.segment", stem), ("pyflare.schema_version", "1"),
                    ])
                    output = outputs.count
                    outputs.append((writer, path))
                    outputOfDay[dayNumber] = output
                    written.append(path)
                }
                for column in columns.indices {
                    outputs[output].writer.fill(column: column) { chunk in rows.write(column: column, row: row, into: &chunk) }
                }
            }
            for output in outputs.indices { try outputs[output].writer.endRowGroup() }
        }
        var files: [File] = []
        for var (writer, path) in outputs {
            try writer.finish()
            let final = directory + "/" + path
            try StoreDirectory.rename(Self.temporary(final), to: final)
            try StoreDirectory.sync(String(final[..<(final.lastIndex(of: "/") ?? final.endIndex)]))
            files.append(File(path: path, kind: segment.kind, segment: segment.path, rows: writer.rowCount, bytes: writer.bytesWritten))
        }
        return files
    }

    /// The columns of `kind`'s SQL table; the span kind is `span_kind`, as the partition
    /// folders already use `kind` (a reader with Hive partitioning would see both).
    static func columns(of kind: SegmentKind) -> [ParquetFileWriter.Column] {
        TableRows.columns(of: kind).map { column in
            ParquetFileWriter.Column(name: kind == .spans && column.name == "kind" ? "span_kind" : column.name, type: column.type.parquetType)
        }
    }

    /// Where a file is written before it is renamed into place: a name no reader globbing
    /// `*.parquet` picks up.
    static func temporary(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return ".tmp-" + path }
        return path[...slash] + ".tmp-" + path[path.index(after: slash)...]
    }

    /// The UTC day of a time in nanoseconds, `YYYY-MM-DD`.
    static func day(_ nanoseconds: Int64) -> String {
        String(RFC3339.string(signed: nanoseconds).prefix(10))
    }
}

extension TableRows.ColumnType {
    var parquetType: ParquetValueType {
        switch self {
        case .integer: .int64
        case .real: .double
        case .text: .string
        }
    }
}
