import GRDBSQLite
import PyFlareWire
import PyFlareStore

/// SQLITE_TRANSIENT: SQLite copies the bytes before the call returns (the C macro is a cast of -1).
let sqliteTransient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

/// One eponymous virtual table of a connection (`SELECT … FROM spans` needs no CREATE):
/// the schema, the planning of constraints and the cursors. Subclasses override; the C
/// callbacks of ``VirtualTableModule`` dispatch to them.
///
/// Lives on the connection's thread only, as SQLite calls it.
class VirtualTable {
    /// `CREATE TABLE x(…)`, the columns SQLite sees.
    var schema: String { fatalError("abstract") }

    /// Fills `info`'s outputs: constraint usage, plan, cost, consumed order. Returns an SQLite code.
    func bestIndex(_ info: inout sqlite3_index_info) -> Int32 { SQLITE_OK }

    func openCursor() -> VirtualCursor { fatalError("abstract") }

    /// Runs SQLite's declaration of the schema (which the connection's authorizer must let through).
    func declare(_ body: () -> Int32) -> Int32 { body() }

    /// A cursor of this table failed with `error`; SQLite reports only its message.
    func failed(_ error: SQLError) {}
}

/// A scan of a ``VirtualTable``.
class VirtualCursor {
    /// Starts the scan of the plan `indexString` chose, with the constraint values in `arguments`.
    func filter(indexNumber: Int32, indexString: String?, arguments: [OpaquePointer?]) throws(SQLError) {}
    func next() throws(SQLError) {}
    var isAtEnd: Bool { true }
    /// Sets `context`'s result to column `column` of the current row.
    func column(_ column: Int32, into context: OpaquePointer?) {}
    var rowID: Int64 { 0 }
}

/// A cursor returning the `selected` rows of one loaded batch at a time.
class RowCursor: VirtualCursor {
    let context: SQLScanContext
    /// Rows of the loaded batch to return, and the one being returned.
    var selected: [Int32] = []
    var position = 0
    private var rowCounter: Int64 = 0

    init(context: SQLScanContext) {
        self.context = context
    }

    /// Loads the next batch and sets ``selected``; false when there is none left.
    func loadNext() throws(SQLError) -> Bool { false }

    /// Loads batches until one has rows to return, or none is left.
    final func advance() throws(SQLError) {
        while position >= selected.count {
            try context.checkDeadline()
            guard try loadNext() else { return }
            position = 0
        }
    }

    /// Starts a scan: nothing selected yet.
    final func reset() {
        selected = []
        position = 0
    }

    override final func next() throws(SQLError) {
        position += 1
        rowCounter += 1
        context.statistics.rows += 1
        if position >= selected.count { try advance() }
    }

    override final var isAtEnd: Bool { position >= selected.count }

    override final var rowID: Int64 { rowCounter }
}

/// `sqlite3_vtab` followed by the Swift table: SQLite hands back a pointer to the first field.
private struct TableBox {
    var base = sqlite3_vtab()
    var table: Unmanaged<VirtualTable>
}

/// `sqlite3_vtab_cursor` followed by the Swift cursor.
private struct CursorBox {
    var base = sqlite3_vtab_cursor()
    var cursor: Unmanaged<VirtualCursor>
}

/// What xConnect receives as client data: makes the table of one connection.
final class VirtualTableFactory {
    let make: () -> VirtualTable

    init(_ make: @escaping () -> VirtualTable) {
        self.make = make
    }
}

/// The `sqlite3_module` shared by every PyFlare virtual table, and its registration.
enum VirtualTableModule {
    /// Registers `name` on `db`; `factory` makes its table when a statement first names it.
    static func register(_ name: String, on db: OpaquePointer, factory: VirtualTableFactory) -> Int32 {
        sqlite3_create_module_v2(db, name, module, Unmanaged.passRetained(factory).toOpaque()) { pointer in
            if let pointer { Unmanaged<VirtualTableFactory>.fromOpaque(pointer).release() }
        }
    }

    /// An error message SQLite frees with `sqlite3_free`.
    static func sqliteString(_ text: String) -> UnsafeMutablePointer<CChar>? {
        let utf8 = Array(text.utf8)
        guard let memory = sqlite3_malloc(Int32(utf8.count + 1))?.assumingMemoryBound(to: CChar.self) else { return nil }
        utf8.withUnsafeBufferPointer { bytes in
            for (index, byte) in bytes.enumerated() { memory[index] = CChar(bitPattern: byte) }
        }
        memory[utf8.count] = 0
        return memory
    }

    private static func table(_ vtab: UnsafeMutablePointer<sqlite3_vtab>?) -> VirtualTable {
        UnsafeMutableRawPointer(vtab!).assumingMemoryBound(to: TableBox.self).pointee.table.takeUnretainedValue()
    }

    /// Runs `body` with the Swift cursor, without retaining it: SQLite calls xEof, xColumn and
    /// xNext for every row, and an atomic retain and release each time cost more than the rest.
    private static func withCursor<Result>(_ cursor: UnsafeMutablePointer<sqlite3_vtab_cursor>?,
                                           _ body: (VirtualCursor) -> Result) -> Result {
        UnsafeMutableRawPointer(cursor!).assumingMemoryBound(to: CursorBox.self).pointee.cursor._withUnsafeGuaranteedRef(body)
    }

    /// Reports `error` on the cursor's table, where SQLite looks for the message.
    private static func fail(_ cursor: UnsafeMutablePointer<sqlite3_vtab_cursor>?, _ error: SQLError) -> Int32 {
        if let vtab = cursor?.pointee.pVtab {
            table(vtab).failed(error)
            sqlite3_free(vtab.pointee.zErrMsg)
            vtab.pointee.zErrMsg = sqliteString(error.message)
        }
        return SQLITE_ERROR
    }

    // Built once; SQLite keeps the pointer for the life of every connection it is registered on.
    nonisolated(unsafe) private static let module: UnsafeMutablePointer<sqlite3_module> = {
        precondition(MemoryLayout<TableBox>.offset(of: \TableBox.base) == 0 && MemoryLayout<CursorBox>.offset(of: \CursorBox.base) == 0)
        var module = sqlite3_module()
        module.iVersion = 1
        // xCreate stays nil: the tables are eponymous-only and cannot be created or dropped.
        module.xConnect = { db, aux, _, _, vtab, error in
            let table = Unmanaged<VirtualTableFactory>.fromOpaque(aux!).takeUnretainedValue().make()
            let schema = table.schema
            let code = table.declare { sqlite3_declare_vtab(db, schema) }
            guard code == SQLITE_OK else {
                error?.pointee = sqliteString("declaring a virtual table failed: \(String(cString: sqlite3_errmsg(db)))")
                return code
            }
            let box = UnsafeMutablePointer<TableBox>.allocate(capacity: 1)
            box.initialize(to: TableBox(table: .passRetained(table)))
            vtab?.pointee = UnsafeMutableRawPointer(box).assumingMemoryBound(to: sqlite3_vtab.self)
            return SQLITE_OK
        }
        module.xDisconnect = { vtab in
            let box = UnsafeMutableRawPointer(vtab!).assumingMemoryBound(to: TableBox.self)
            box.pointee.table.release()
            sqlite3_free(box.pointee.base.zErrMsg)
            box.deinitialize(count: 1)
            box.deallocate()
            return SQLITE_OK
        }
        module.xDestroy = module.xDisconnect
        module.xBestIndex = { vtab, info in
            table(vtab).bestIndex(&info!.pointee)
        }
        module.xOpen = { vtab, cursor in
            let box = UnsafeMutablePointer<CursorBox>.allocate(capacity: 1)
            box.initialize(to: CursorBox(cursor: .passRetained(table(vtab).openCursor())))
            cursor?.pointee = UnsafeMutableRawPointer(box).assumingMemoryBound(to: sqlite3_vtab_cursor.self)
            return SQLITE_OK
        }
        module.xClose = { cursor in
            let box = UnsafeMutableRawPointer(cursor!).assumingMemoryBound(to: CursorBox.self)
            box.pointee.cursor.release()
            box.deinitialize(count: 1)
            box.deallocate()
            return SQLITE_OK
        }
        module.xFilter = { pointer, indexNumber, indexString, count, values in
            let arguments = (0..<Int(count)).map { values![$0] }
            let outcome = withCursor(pointer) { cursor in
                Result { () throws(SQLError) in
                    try cursor.filter(indexNumber: indexNumber, indexString: indexString.map { String(cString: $0) }, arguments: arguments)
                }
            }
            if case .failure(let error) = outcome { return fail(pointer, error) }
            return SQLITE_OK
        }
        module.xNext = { pointer in
            let outcome = withCursor(pointer) { cursor in Result { () throws(SQLError) in try cursor.next() } }
            if case .failure(let error) = outcome { return fail(pointer, error) }
            return SQLITE_OK
        }
        module.xEof = { pointer in withCursor(pointer) { $0.isAtEnd } ? 1 : 0 }
        module.xColumn = { pointer, context, column in
            withCursor(pointer) { $0.column(column, into: context) }
            return SQLITE_OK
        }
        module.xRowid = { pointer, rowID in
            rowID?.pointee = withCursor(pointer) { $0.rowID }
            return SQLITE_OK
        }
        let pointer = UnsafeMutablePointer<sqlite3_module>.allocate(capacity: 1)
        pointer.initialize(to: module)
        return pointer
    }()
}

/// Reading `sqlite3_value`s handed to xFilter and to functions.
enum SQLiteValue {
    static func integer(_ value: OpaquePointer?) -> Int64? {
        switch sqlite3_value_type(value) {
        case SQLITE_INTEGER: sqlite3_value_int64(value)
        case SQLITE_FLOAT: Int64(exactly: sqlite3_value_double(value).rounded(.down))
        default: nil
        }
    }

    static func text(_ value: OpaquePointer?) -> String? {
        guard sqlite3_value_type(value) == SQLITE_TEXT, let text = sqlite3_value_text(value) else { return nil }
        return String(cString: text)
    }

    /// The value as SQL parameter or answer.
    static func sqlValue(_ value: OpaquePointer?) -> SQLValue {
        switch sqlite3_value_type(value) {
        case SQLITE_INTEGER: return .integer(sqlite3_value_int64(value))
        case SQLITE_FLOAT: return .real(sqlite3_value_double(value))
        case SQLITE_TEXT: return .text(sqlite3_value_text(value).map { String(cString: $0) } ?? "")
        case SQLITE_BLOB: return .blob(blob(value).map { Array($0) } ?? [])
        default: return .null
        }
    }

    /// The bytes of a BLOB, valid until the value changes or the function returns; nil for other types.
    static func blob(_ value: OpaquePointer?) -> UnsafeRawBufferPointer? {
        guard sqlite3_value_type(value) == SQLITE_BLOB else { return nil }
        // SQLite's order: the pointer first, then the size (an empty BLOB has a NULL pointer).
        let start = sqlite3_value_blob(value)
        return UnsafeRawBufferPointer(start: start, count: start == nil ? 0 : Int(sqlite3_value_bytes(value)))
    }
}

/// Setting the result of xColumn and of functions.
enum SQLiteResult {
    static func text(_ context: OpaquePointer?, _ bytes: UnsafeRawBufferPointer) {
        if let base = bytes.baseAddress, bytes.count > 0 {
            sqlite3_result_text(context, base.assumingMemoryBound(to: CChar.self), Int32(bytes.count), sqliteTransient)
        } else {
            sqlite3_result_text(context, "", 0, sqliteTransient)
        }
    }

    static func text(_ context: OpaquePointer?, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { text(context, $0) }
    }

    static func text(_ context: OpaquePointer?, _ string: String) {
        var string = string
        string.withUTF8 { text(context, UnsafeRawBufferPointer($0)) }
    }

    /// A string of a batch's arena; empty is NULL (OTLP does not tell an empty string from an absent one).
    static func text(_ context: OpaquePointer?, _ ref: StringRef, in arena: [UInt8]) {
        guard !ref.isEmpty else { return sqlite3_result_null(context) }
        arena.withUnsafeBytes { text(context, UnsafeRawBufferPointer(rebasing: $0[ref.range])) }
    }

    static func blob(_ context: OpaquePointer?, _ bytes: [UInt8]) {
        // A NULL pointer would make the result NULL rather than an empty BLOB.
        guard !bytes.isEmpty else { return sqlite3_result_zeroblob(context, 0) }
        bytes.withUnsafeBytes { raw in
            sqlite3_result_blob(context, raw.baseAddress, Int32(raw.count), sqliteTransient)
        }
    }

    static func integer(_ context: OpaquePointer?, _ value: Int64?) {
        if let value { sqlite3_result_int64(context, value) } else { sqlite3_result_null(context) }
    }

    static func real(_ context: OpaquePointer?, _ value: Double?) {
        if let value { sqlite3_result_double(context, value) } else { sqlite3_result_null(context) }
    }
}
