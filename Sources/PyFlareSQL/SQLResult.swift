import Foundation
public import PyFlareWire
import PyFlareStore

/// One value of a SQL answer or parameter, with SQLite's five storage classes.
public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    /// The value as JSON: blobs as lowercase hex text, non-finite reals as strings.
    public func write(to json: inout JSONWriter) {
        switch self {
        case .null: json.null()
        case .integer(let value): json.int(value)
        case .real(let value): json.double(value)
        case .text(let value): json.string(value)
        case .blob(let bytes): json.string(Hex.string(bytes: bytes))
        }
    }

    /// The value as text for tables and CSV: NULL as the empty string, blobs as hex.
    public var text: String {
        switch self {
        case .null: ""
        case .integer(let value): String(value)
        case .real(let value): String(value)
        case .text(let value): value
        case .blob(let bytes): Hex.string(bytes: bytes)
        }
    }
}

/// The values bound to a statement's parameters: `?` in order, or `:name` by name.
public enum SQLParameters: Sendable {
    case positional([SQLValue])
    case named([String: SQLValue])
}

/// The answer to one statement.
public struct SQLResult: Sendable {
    public var columns: [String]
    public var rows: [[SQLValue]]
    /// Seconds from prepare to the last row.
    public var elapsedSeconds: Double
    /// More rows exist than the request's `limit` let through (never past the row limit: that is an error).
    public var truncated: Bool
    /// What the virtual tables read: segment blocks decompressed and unsealed batches searched.
    public var scan: SQLScanStatistics

    public init(columns: [String], rows: [[SQLValue]], elapsedSeconds: Double, truncated: Bool, scan: SQLScanStatistics) {
        self.columns = columns
        self.rows = rows
        self.elapsedSeconds = elapsedSeconds
        self.truncated = truncated
        self.scan = scan
    }
}

/// Counters of one statement's reads, to show what pushdown pruned.
public struct SQLScanStatistics: Sendable, Equatable {
    /// Segment files opened.
    public var segments = 0
    /// Segment blocks decompressed (the same block read again by a grouped scan counts again).
    public var blocks = 0
    /// Blocks whose zone map ruled them out without reading.
    public var blocksSkipped = 0
    /// Rows handed to SQLite.
    public var rows = 0
    /// Unsealed (WAL) batches searched.
    public var unsealedBatches = 0
    /// Blocks moved past because they are unreadable (fenced); their rows are missing from the answer.
    public var blocksFenced = 0
    /// What the statement moved past, one line each (see ``blocksFenced``).
    public var warnings: [String] = []

    public init() {}

    mutating func fenced(_ report: String) {
        blocksFenced += 1
        if !warnings.contains(report) { warnings.append(report) }
    }
}

/// A statement SQLite refused, or one stopped by a limit.
public struct SQLError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// SQLite could not prepare or run the statement (syntax, unknown column, bad parameter…).
        case invalid
        /// The statement tries to write, attach, load an extension or change state.
        case forbidden
        /// The statement ran past the time limit.
        case timeout
        /// The statement produced more rows than the row limit.
        case tooManyRows
        /// The data directory or a segment could not be read.
        case unavailable
        /// The lane's threads and queue are full: try again shortly.
        case busy
        /// The statement was stopped before its end: its client went away, or the server is shutting down.
        case cancelled
    }

    public var kind: Kind
    public var message: String
    /// Byte offset in the SQL text SQLite points at, when it names one.
    public var offset: Int?

    public init(_ kind: Kind, _ message: String, offset: Int? = nil) {
        self.kind = kind
        self.message = message
        self.offset = offset
    }

    public var description: String {
        offset.map { "\(message) (at offset \($0))" } ?? message
    }
}

extension SQLResult {
    /// `{"columns", "rows", "row_count", "elapsed_ms", "truncated", "scan"}`: the answer of
    /// `POST /api/v1/sql` and of `pyflare sql --format json`.
    public func write(to json: inout JSONWriter) {
        json.raw(#"{"columns":"#)
        json.strings(columns)
        json.raw(#","rows":["#)
        for (index, row) in rows.enumerated() {
            if index > 0 { json.byte(UInt8(ascii: ",")) }
            json.byte(UInt8(ascii: "["))
            for (position, value) in row.enumerated() {
                if position > 0 { json.byte(UInt8(ascii: ",")) }
                value.write(to: &json)
            }
            json.byte(UInt8(ascii: "]"))
        }
        json.raw(#"],"row_count":"#)
        json.int(Int64(rows.count))
        json.raw(#","elapsed_ms":"#)
        json.double((elapsedSeconds * 1e6).rounded() / 1e3)
        json.raw(#","truncated":"#)
        json.bool(truncated)
        json.raw(#","scan":{"segments":"#)
        json.int(Int64(scan.segments))
        json.raw(#","blocks_read":"#)
        json.int(Int64(scan.blocks))
        json.raw(#","blocks_skipped":"#)
        json.int(Int64(scan.blocksSkipped))
        json.raw(#","unsealed_batches":"#)
        json.int(Int64(scan.unsealedBatches))
        json.raw(#","rows_scanned":"#)
        json.int(Int64(scan.rows))
        json.raw(#","blocks_fenced":"#)
        json.int(Int64(scan.blocksFenced))
        json.raw("}")
        if !scan.warnings.isEmpty {
            json.raw(#","warnings":"#)
            json.strings(scan.warnings)
        }
        json.raw("}")
    }

    /// An aligned text table: numbers right-aligned, NULL shown as `NULL`, then a count line.
    public var table: String {
        let cells = rows.map { $0.map { $0 == .null ? "NULL" : $0.text.replacingNewlines } }
        var widths = columns.map(\.count)
        for row in cells { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        let numeric = columns.indices.map { index in
            rows.allSatisfy { row in
                switch row[index] {
                case .integer, .real, .null: true
                default: false
                }
            }
        }
        func line(_ values: [String]) -> String {
            values.enumerated().map { index, value in
                let padding = String(repeating: " ", count: widths[index] - value.count)
                return numeric[index] ? padding + value : value + padding
            }.joined(separator: " | ")
        }
        var lines = [line(columns), widths.map { String(repeating: "-", count: $0) }.joined(separator: "-+-")]
        lines += cells.map(line)
        lines.append("(\(rows.count) row\(rows.count == 1 ? "" : "s")\(truncated ? ", truncated" : ""))")
        return lines.joined(separator: "\n") + "\n"
    }

    /// RFC 4180 CSV with a header row; NULL is an empty field.
    public var csv: String {
        func field(_ text: String) -> String {
            guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        var lines = [columns.map(field).joined(separator: ",")]
        lines += rows.map { $0.map { field($0.text) }.joined(separator: ",") }
        return lines.joined(separator: "\r\n") + "\r\n"
    }
}

private extension String {
    /// Multi-line values on one table line.
    var replacingNewlines: String { replacingOccurrences(of: "\n", with: "\\n") }
}
