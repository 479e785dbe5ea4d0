import GRDBSQLite
import PyFlareModel
import PyFlareWire
import PyFlareStore

/// What the virtual tables of one SQL connection read from: the segment files, through the
/// catalog of the connection's own snapshot of `index.db`, and the acknowledged records not
/// yet sealed, taken just before the statement started.
///
/// Used by one thread at a time, the one running the connection's statement.
final class SQLScanContext {
    let dataDirectory: String
    let readers: SegmentReaderCache
    let pricing: PricingTable
    /// Set once the connection is open.
    var db: OpaquePointer?
    /// Unsealed records as of the statement's start; those a segment of the snapshot holds are skipped.
    var unsealed: [Unsealed.Entry] = [] {
        didSet { statementUnsealed = nil }
    }
    /// ``unsealed`` without what the snapshot's segments hold, once per statement (a join
    /// filters the inner table once per outer row).
    private var statementUnsealed: [Unsealed.Entry]?
    var deadline = ContinuousClock.now.advanced(by: .seconds(3600))
    var timedOut = false
    /// Set from outside to stop the running statement.
    var interrupt = StatementInterrupt()
    var statistics = SQLScanStatistics()
    /// While a virtual table declares its schema, which SQLite checks with the authorizer too.
    var declaringTable = false
    /// Why a scan failed: the error SQLite reports as the virtual table's message, with its kind.
    var scanFailure: SQLError?
    /// Why the authorizer refused the statement, for a clearer message than SQLite's.
    var refusal: String?
    /// Memory a grouped scan may keep decompressed blocks in, before it reads them again instead.
    var groupedScanBudgetBytes = 256 << 20

    init(dataDirectory: String, readers: SegmentReaderCache, pricing: PricingTable) {
        self.dataDirectory = dataDirectory
        self.readers = readers
        self.pricing = pricing
    }

    /// Throws once the statement's time is up; scans call it between blocks, where SQLite's
    /// progress handler does not run.
    func checkDeadline() throws(SQLError) {
        if interrupt.isSet {
            throw SQLError(.cancelled, "the statement was stopped: its client went away or the server is shutting down")
        }
        if timedOut || ContinuousClock.now > deadline {
            timedOut = true
            throw SQLError(.timeout, "the statement ran past its time limit")
        }
    }

    func reader(_ path: String) throws(SQLError) -> SegmentReader {
        do {
            return try readers.reader(dataDirectory + "/" + path)
        } catch {
            throw SQLError(.unavailable, error.clientMessage)
        }
    }

    /// Block `block` of `reader` read with `read`; nil when the block is unreadable, which is
    /// then fenced and reported in the statement's warnings: one bad block costs its own rows,
    /// not the statement.
    func readFenced<T>(_ reader: SegmentReader, _ block: Int, _ read: (SegmentReader) throws -> T) throws(SQLError) -> T? {
        try checkDeadline()
        do {
            switch try readers.readFenced(reader.path, block: block, read) {
            case .success(let value): return value
            case .failure(let fenced):
                statistics.fenced(fenced.report)
                return nil
            }
        } catch {
            throw SQLError(.unavailable, error.clientMessage)
        }
    }

    // MARK: - Catalog, in the statement's snapshot

    /// Runs a catalog query on the connection, inside the statement's read transaction, so
    /// the segments listed and the unsealed records kept agree with every other table read.
    private func query(_ sql: String, _ arguments: [SQLValue], _ row: (OpaquePointer) -> Void) throws(SQLError) {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw SQLError(.unavailable, "reading the segment catalog: \(String(cString: sqlite3_errmsg(db)))")
        }
        defer { sqlite3_finalize(statement) }
        for (index, argument) in arguments.enumerated() { SQLStatement.bind(argument, at: Int32(index + 1), of: statement) }
        while true {
            switch sqlite3_step(statement) {
            case SQLITE_ROW: row(statement)
            case SQLITE_DONE: return
            default: throw SQLError(.unavailable, "reading the segment catalog: \(String(cString: sqlite3_errmsg(db)))")
            }
        }
    }

    /// The highest WAL record in a segment of this snapshot.
    func sealedSequence() throws(SQLError) -> UInt64 {
        var sealed: UInt64 = 0
        try query("SELECT value FROM store_state WHERE key = 'sealed_wal_sequence'", []) { sealed = UInt64(bitPattern: sqlite3_column_int64($0, 0)) }
        return sealed
    }

    /// Active segments of `kind` that may hold rows of `bounds`, by the catalog's zone maps.
    func segmentPaths(kind: SegmentKind, _ bounds: ScanBounds) throws(SQLError) -> [String] {
        var sql = "SELECT path FROM segments WHERE kind = ? AND state = \(SegmentState.active.sqlLiteral)"
        var arguments: [SQLValue] = [.text(kind.name)]
        // Times are Int64 bit patterns: bounds are compared only when given (see IndexDatabase.segmentPaths).
        if let since = bounds.since {
            sql += " AND max_time_ns >= ?"
            arguments.append(.integer(Int64(bitPattern: since)))
        }
        if let until = bounds.until {
            sql += " AND min_time_ns < ?"
            arguments.append(.integer(Int64(bitPattern: until)))
        }
        if let service = bounds.service {
            sql += " AND EXISTS (SELECT 1 FROM json_each(segments.services) WHERE value = ?)"
            arguments.append(.text(service))
        }
        if let model = bounds.model {
            sql += " AND EXISTS (SELECT 1 FROM json_each(segments.models) WHERE value = ?)"
            arguments.append(.text(model))
        }
        var paths: [String] = []
        try query(sql + " ORDER BY min_time_ns, id", arguments) { paths.append(String(cString: sqlite3_column_text($0, 0))) }
        return paths
    }

    /// The blocks of active `kind` segments holding records of `traceID`, by segment.
    func traceBlocks(_ traceID: TraceID, kind: SegmentKind) throws(SQLError) -> [(path: String, blocks: [Int])] {
        var found: [(path: String, blocks: [Int])] = []
        let sql = """
            SELECT s.path, t.block FROM trace_index t JOIN segments s ON s.id = t.segment_id
            WHERE t.trace_id = ? AND s.kind = ? AND s.state = \(SegmentState.active.sqlLiteral) ORDER BY s.id, t.block
            """
        try query(sql, [.blob(traceID.bytes), .text(kind.name)]) { row in
            let path = String(cString: sqlite3_column_text(row, 0)), block = Int(sqlite3_column_int64(row, 1))
            if found.last?.path == path { found[found.count - 1].blocks.append(block) } else { found.append((path, [block])) }
        }
        return found
    }

    /// The unsealed entries no segment of this snapshot holds.
    func unsealedEntries() throws(SQLError) -> [Unsealed.Entry] {
        if let statementUnsealed { return statementUnsealed }
        let sealed = try sealedSequence()
        let entries = unsealed.filter { $0.sequence > sealed }
        statementUnsealed = entries
        return entries
    }

    /// The blocks of active `kind` segments that may hold rows of `bounds`: those the trace
    /// index names for a trace, else every block of the segments the catalog admits; each
    /// then kept only if its zone map (and `admits`) allows.
    func segmentBlocks(kind: SegmentKind, _ bounds: ScanBounds,
                       admits: (SegmentFooter.Block) -> Bool = { _ in true }) throws(SQLError) -> [(reader: SegmentReader, block: Int)] {
        let located: [(path: String, blocks: [Int]?)]
        if let traceID = bounds.traceID {
            located = try traceBlocks(traceID, kind: kind).map { ($0.path, $0.blocks) }
        } else {
            located = try segmentPaths(kind: kind, bounds).map { ($0, nil) }
        }
        var blocks: [(reader: SegmentReader, block: Int)] = []
        for (path, indices) in located {
            let fullPath = dataDirectory + "/" + path
            if let report = readers.fence.fencedReport(path: fullPath, block: BlockFence.wholeSegment) {
                statistics.fenced(report)
                continue
            }
            let reader: SegmentReader
            do {
                reader = try readers.reader(fullPath)
            } catch where error.code == .io {
                throw SQLError(.unavailable, error.clientMessage)
            } catch {
                statistics.fenced(readers.fence.fence(path: fullPath, block: BlockFence.wholeSegment, because: error))
                continue
            }
            statistics.segments += 1
            for index in indices ?? Array(reader.footer.blocks.indices) {
                let zone = reader.footer.blocks[index]
                if let report = readers.fence.fencedReport(path: fullPath, block: index) {
                    statistics.fenced(report)
                } else if bounds.admits(zone) && admits(zone) {
                    blocks.append((reader, index))
                } else {
                    statistics.blocksSkipped += 1
                }
            }
        }
        return blocks
    }
}

/// What the constraints of a scan allow it to skip: the pushdown values of xFilter.
struct ScanBounds {
    /// Start (or record) times: `since ≤ t < until`.
    var since: UInt64?
    var until: UInt64?
    var service: String?
    var model: String?
    var traceID: TraceID?
    /// `status = 'error'`: blocks without an error are skipped.
    var errorsOnly = false
    /// A constraint no row can meet (a malformed trace id, an empty time range).
    var isEmpty = false

    mutating func narrowTime(op: Int32, _ value: UInt64) {
        switch op {
        case SQLITE_INDEX_CONSTRAINT_EQ:
            narrow(since: value)
            narrow(until: value == .max ? value : value + 1)
        case SQLITE_INDEX_CONSTRAINT_GT: if value == .max { isEmpty = true } else { narrow(since: value + 1) }
        case SQLITE_INDEX_CONSTRAINT_GE: narrow(since: value)
        case SQLITE_INDEX_CONSTRAINT_LT: narrow(until: value)
        case SQLITE_INDEX_CONSTRAINT_LE: narrow(until: value == .max ? value : value + 1)
        default: break
        }
        if let since, let until, since >= until { isEmpty = true }
    }

    private mutating func narrow(since value: UInt64) { since = max(since ?? 0, value) }
    private mutating func narrow(until value: UInt64) { until = min(until ?? .max, value) }

    /// Whether a row at `time` of trace `traceID` may match: the row-level checks of a scan.
    func keeps(time: UInt64, traceID rowTraceID: TraceID?) -> Bool {
        if let since, time < since { return false }
        if let until, time >= until { return false }
        if let traceID, rowTraceID != traceID { return false }
        return true
    }

    /// Whether a block with these zone maps may hold a matching row.
    func admits(_ zone: SegmentFooter.Block) -> Bool {
        if let since, zone.maxStartTime < since { return false }
        if let until, zone.minStartTime >= until { return false }
        if let service, !zone.services.contains(service) { return false }
        if let model, !zone.models.contains(model) { return false }
        return true
    }

    /// A time constraint's value, when it can prune: only an integer compares with the
    /// integer columns the way a time does (SQLite orders every number before every text).
    static func nanoseconds(_ value: OpaquePointer?) -> UInt64? {
        guard sqlite3_value_type(value) == SQLITE_INTEGER else { return nil }
        let integer = sqlite3_value_int64(value)
        // Negative values are the bit patterns of times past 2262; they prune nothing.
        return integer < 0 ? nil : UInt64(integer)
    }
}
