import GRDBSQLite
import PyFlareModel
import PyFlareWire

/// Where a table's value of one column of one row goes: SQLite's result for a virtual table
/// column, or a column of a Parquet export. The tables say once how each stored field reads,
/// so every reader of the data gets the same values.
public protocol ColumnValueSink {
    mutating func null()
    mutating func integer(_ value: Int64)
    mutating func real(_ value: Double)
    /// UTF-8 text; empty is the empty string, not NULL.
    mutating func text(_ bytes: UnsafeRawBufferPointer)
}

extension ColumnValueSink {
    mutating func integer(_ value: Int64?) {
        if let value { integer(value) } else { null() }
    }

    mutating func real(_ value: Double?) {
        if let value { real(value) } else { null() }
    }

    mutating func text(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { text($0) }
    }

    mutating func text(_ string: String) {
        var string = string
        string.withUTF8 { text(UnsafeRawBufferPointer($0)) }
    }

    mutating func text(_ string: String?) {
        if let string { text(string) } else { null() }
    }

    /// A string of a batch's arena; empty is NULL (OTLP does not tell an empty string from an absent one).
    mutating func text(_ ref: StringRef, in arena: [UInt8]) {
        guard !ref.isEmpty else { return null() }
        arena.withUnsafeBytes { text(UnsafeRawBufferPointer(rebasing: $0[ref.range])) }
    }

    /// The name of a code, or the code itself when it has none.
    mutating func name(_ names: [String], _ code: Int) {
        text(code < names.count ? names[code] : String(code))
    }
}

/// The result of a virtual table's xColumn.
struct SQLiteResultSink: ColumnValueSink {
    let context: OpaquePointer?

    init(_ context: OpaquePointer?) {
        self.context = context
    }

    mutating func null() { sqlite3_result_null(context) }
    mutating func integer(_ value: Int64) { sqlite3_result_int64(context, value) }
    mutating func real(_ value: Double) { sqlite3_result_double(context, value) }
    mutating func text(_ bytes: UnsafeRawBufferPointer) { SQLiteResult.text(context, bytes) }
}

/// The text a column writes, kept (the JSON columns always write text), in a buffer that may
/// be handed on from one value to the next.
struct CapturedText: ColumnValueSink {
    var bytes: [UInt8]

    init(reusing buffer: [UInt8] = []) {
        bytes = buffer
    }

    mutating func null() {}
    mutating func integer(_ value: Int64) {}
    mutating func real(_ value: Double) {}
    mutating func text(_ text: UnsafeRawBufferPointer) {
        bytes.removeAll(keepingCapacity: true)
        bytes.append(contentsOf: text)
    }
}
