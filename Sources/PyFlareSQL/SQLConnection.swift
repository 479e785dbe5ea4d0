import GRDBSQLite
import PyFlareModel
import PyFlareWire
import PyFlareStore

/// A read-only SQLite connection to `index.db` with the virtual tables and functions of
/// `docs/sql.md`, on which user SQL runs.
///
/// Read-only is SQLite's doing, not a reading of the text: the file is opened read-only and
/// `query_only`, attaching is limited to zero databases, extension loading stays off, and
/// an authorizer allows reading, functions other than `load_extension`, recursive CTEs and
/// the introspection pragmas, and nothing else. A progress handler and the scans stop a
/// statement at its deadline.
///
/// One thread at a time (the engine checks connections out), hence `@unchecked Sendable`.
final class SQLConnection: @unchecked Sendable {
    let db: OpaquePointer
    let context: SQLScanContext

    init(indexPath: String, context: SQLScanContext) throws(SQLError) {
        var handle: OpaquePointer?
        let code = sqlite3_open_v2(indexPath, &handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil)
        guard code == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "code \(code)"
            sqlite3_close(handle)
            throw SQLError(.unavailable, "cannot open \(indexPath) for SQL: \(message)")
        }
        db = handle
        self.context = context
        context.db = handle
        sqlite3_busy_timeout(db, 5000)
        sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0)
        guard sqlite3_exec(db, "PRAGMA query_only = 1", nil, nil, nil) == SQLITE_OK else {
            let message = String(cString: sqlite3_errmsg(db))
            sqlite3_close(db)
            throw SQLError(.unavailable, "cannot make the SQL connection query-only: \(message)")
        }
        SQLFunctions.register(on: db)
        _ = VirtualTableModule.register("spans", on: db, factory: VirtualTableFactory { SpansTable(context: context) })
        _ = VirtualTableModule.register("logs", on: db, factory: VirtualTableFactory { RecordTable<LogsSQL>(context: context) })
        _ = VirtualTableModule.register("metric_points", on: db, factory: VirtualTableFactory { RecordTable<MetricPointsSQL>(context: context) })
        let pointer = Unmanaged.passUnretained(context).toOpaque()
        sqlite3_set_authorizer(db, { pointer, action, first, second, _, _ in
            let context = Unmanaged<SQLScanContext>.fromOpaque(pointer!).takeUnretainedValue()
            if context.declaringTable { return SQLITE_OK }
            let first = first.map { String(cString: $0) }, second = second.map { String(cString: $0) }
            if let refusal = SQLAuthorizer.refusal(action: action, first, second) {
                if context.refusal == nil { context.refusal = refusal }
                return SQLITE_DENY
            }
            return SQLITE_OK
        }, pointer)
        sqlite3_progress_handler(db, 10_000, { pointer in
            let context = Unmanaged<SQLScanContext>.fromOpaque(pointer!).takeUnretainedValue()
            if ContinuousClock.now > context.deadline { context.timedOut = true }
            return context.timedOut || context.interrupt.isSet ? 1 : 0
        }, pointer)
    }

    deinit {
        sqlite3_close_v2(db)
    }

    /// Runs one statement. `maxRows` is the row limit (more is an error); with `limit`,
    /// the answer stops there instead and says it was truncated.
    func run(_ sql: String, parameters: SQLParameters, deadline: ContinuousClock.Instant, interrupt: StatementInterrupt,
             maxRows: Int, limit: Int?, unsealed: [Unsealed.Entry]) throws(SQLError) -> SQLResult {
        let started = ContinuousClock.now
        context.unsealed = unsealed
        context.deadline = deadline
        context.interrupt = interrupt
        context.timedOut = false
        context.refusal = nil
        context.scanFailure = nil
        context.statistics = SQLScanStatistics()
        defer { context.unsealed = [] }

        var statement: OpaquePointer?
        var tail: UnsafePointer<CChar>?
        let prepared: Int32 = sql.withCString { text in
            let code = sqlite3_prepare_v2(db, text, -1, &statement, &tail)
            // Anything after the first statement but blanks and comments is a second statement.
            if code == SQLITE_OK, let tail, tail.pointee != 0 {
                var next: OpaquePointer?
                let secondCode = sqlite3_prepare_v2(db, tail, -1, &next, nil)
                defer { sqlite3_finalize(next) }
                if secondCode != SQLITE_OK || next != nil { return SQLITE_MISUSE }
            }
            return code
        }
        defer { sqlite3_finalize(statement) }
        if prepared == SQLITE_MISUSE {
            throw SQLError(.invalid, "one statement at a time: remove what follows the first ';'")
        }
        guard prepared == SQLITE_OK else { throw error(prepared) }
        guard let statement else { throw SQLError(.invalid, "no SQL statement given") }
        guard sqlite3_stmt_readonly(statement) != 0 else {
            throw SQLError(.forbidden, "the statement would write; SQL in PyFlare is read-only")
        }

        try SQLStatement.bind(parameters, to: statement)

        let columnCount = sqlite3_column_count(statement)
        let columns = (0..<columnCount).map { String(cString: sqlite3_column_name(statement, $0)) }
        var rows: [[SQLValue]] = []
        var truncated = false
        while true {
            let code = sqlite3_step(statement)
            if code == SQLITE_DONE { break }
            guard code == SQLITE_ROW else { throw error(code) }
            if let limit, rows.count == limit {
                truncated = true
                break
            }
            guard rows.count < maxRows else {
                throw SQLError(.tooManyRows, "the statement returns more than \(maxRows) rows (the row limit); add a LIMIT or aggregate")
            }
            rows.append((0..<columnCount).map { SQLiteValue.sqlValue(sqlite3_column_value(statement, $0)) })
        }
        let elapsed = started.duration(to: .now)
        return SQLResult(columns: columns, rows: rows,
                         elapsedSeconds: elapsed.inSeconds,
                         truncated: truncated, scan: context.statistics)
    }

    /// The error SQLite reports, classified; the limits and the authorizer get their own words.
    private func error(_ code: Int32) -> SQLError {
        let message = String(cString: sqlite3_errmsg(db))
        let offset = sqlite3_error_offset(db)
        if context.interrupt.isSet {
            return SQLError(.cancelled, "the statement was stopped: its client went away or the server is shutting down")
        }
        if context.timedOut || code == SQLITE_INTERRUPT {
            return SQLError(.timeout, "the statement ran past its time limit and was stopped")
        }
        if code == SQLITE_READONLY || message.contains("may not be modified") {
            return SQLError(.forbidden, "\(message): SQL in PyFlare is read-only")
        }
        if code == SQLITE_AUTH || context.refusal != nil {
            return SQLError(.forbidden, "\(context.refusal ?? message): SQL in PyFlare is read-only")
        }
        // A scan's own failure (an unreadable segment, the deadline) keeps its kind.
        if let failure = context.scanFailure { return failure }
        return SQLError(.invalid, message, offset: offset >= 0 ? Int(offset) : nil)
    }
}

/// What the authorizer lets a statement do.
enum SQLAuthorizer {
    /// Pragmas that only describe the schema; they may name a table, never set a value.
    static let introspectionPragmas: Set<String> = [
        "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list",
        "function_list", "module_list", "pragma_list", "collation_list", "database_list", "compile_options",
    ]
    static let refusedFunctions: Set<String> = ["load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"]

    /// Why `action` is refused, or nil when it is allowed.
    static func refusal(action: Int32, _ first: String?, _ second: String?) -> String? {
        switch action {
        case SQLITE_SELECT, SQLITE_READ, SQLITE_RECURSIVE:
            return nil
        case SQLITE_FUNCTION:
            guard let name = second?.lowercased(), refusedFunctions.contains(name) else { return nil }
            return "the function \(name)() is not allowed"
        case SQLITE_PRAGMA:
            let name = first?.lowercased() ?? ""
            if introspectionPragmas.contains(name) { return nil }
            return "PRAGMA \(name) is not allowed (only schema introspection pragmas are)"
        case SQLITE_UPDATE where first == "sqlite_master" || first == "sqlite_temp_master":
            // SQLite checks this when a virtual table (its own json_each too) declares its
            // schema; a user's UPDATE of the schema table still fails on the read-only file.
            return nil
        case SQLITE_INSERT: return "INSERT into \(first ?? "a table") is not allowed"
        case SQLITE_UPDATE: return "UPDATE of \(first ?? "a table") is not allowed"
        case SQLITE_DELETE: return "DELETE from \(first ?? "a table") is not allowed"
        case SQLITE_ATTACH, SQLITE_DETACH: return "ATTACH and DETACH are not allowed"
        case SQLITE_TRANSACTION, SQLITE_SAVEPOINT: return "transactions are not allowed"
        default: return "statements that change the schema or the database are not allowed"
        }
    }
}

/// Binding values to prepared statements.
enum SQLStatement {
    static func bind(_ parameters: SQLParameters, to statement: OpaquePointer) throws(SQLError) {
        let expected = Int(sqlite3_bind_parameter_count(statement))
        switch parameters {
        case .positional(let values):
            guard expected == values.count else {
                throw SQLError(.invalid, "the statement has \(expected) parameter\(expected == 1 ? "" : "s"), \(values.count) given")
            }
            for (index, value) in values.enumerated() { bind(value, at: Int32(index + 1), of: statement) }
        case .named(let values):
            for index in Int32(1)...Int32(max(expected, 1)) where index <= expected {
                let name = sqlite3_bind_parameter_name(statement, index).map { String(cString: $0) } ?? "?"
                guard let value = values[String(name.dropFirst())] else {
                    let known = values.keys.sorted().map { ":" + $0 }.joined(separator: ", ")
                    throw SQLError(.invalid, "unknown parameter \(name); this statement is given \(known.isEmpty ? "none" : known)")
                }
                bind(value, at: index, of: statement)
            }
        }
    }

    static func bind(_ value: SQLValue, at index: Int32, of statement: OpaquePointer) {
        switch value {
        case .null: sqlite3_bind_null(statement, index)
        case .integer(let integer): sqlite3_bind_int64(statement, index, integer)
        case .real(let real): sqlite3_bind_double(statement, index, real)
        case .text(let text): sqlite3_bind_text(statement, index, text, -1, sqliteTransient)
        case .blob(let bytes):
            bytes.withUnsafeBytes { raw in
                _ = sqlite3_bind_blob(statement, index, raw.baseAddress, Int32(raw.count), sqliteTransient)
            }
        }
    }
}
