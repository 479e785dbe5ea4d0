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
