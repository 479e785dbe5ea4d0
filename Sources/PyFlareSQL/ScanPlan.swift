import GRDBSQLite
import PyFlareWire
import PyFlareStore

/// What xBestIndex chose and xFilter carries out: the columns a statement reads, the
/// constraints pushed down (in the order of xFilter's arguments) and the column whose
/// order the scan delivers, if any. Travels as `idxStr`.
struct ScanPlan {
    var columnsUsed: UInt64 = 0
    /// The column the scan returns its rows grouped and ascending by, or -1.
    var orderColumn: Int32 = -1
    var constraints: [(column: Int32, op: Int32)] = []

    init() {}

    var encoded: String {
        "\(columnsUsed) \(orderColumn) " + constraints.map { "\($0.column):\($0.op)" }.joined(separator: ",")
    }

    init?(encoded: String) {
        let parts = encoded.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, let used = UInt64(parts[0]), let order = Int32(parts[1]) else { return nil }
        columnsUsed = used
        orderColumn = order
        for pair in parts[2].split(separator: ",") {
            let fields = pair.split(separator: ":")
            guard fields.count == 2, let column = Int32(fields[0]), let op = Int32(fields[1]) else { return nil }
            constraints.append((column, op))
        }
    }

    /// Whether the statement reads SQL column `index` (SQLite sets bit 63 for every column past 62).
    func uses(_ index: Int32) -> Bool {
        columnsUsed & (1 << UInt64(min(index, 63))) != 0
    }
}

/// What a column allows a scan to skip.
enum Pushdown {
    /// Integer unix nanoseconds of the zone maps' times: `=`, `<`, `<=`, `>`, `>=`.
    case time
    case service
    case model
    /// Hex text or the 16-byte blob of the index tables; filtered exactly by the scan, so
    /// `spans.trace_id = traces.trace_id` joins although one side is text and the other a blob.
    case traceID
    /// `status = 'error'`: blocks whose status chunk holds no error are skipped.
    case status
}

/// A virtual table over the store's segments: plans pushdown the same way for every kind.
class StoreTable: VirtualTable {
    let context: SQLScanContext

    init(context: SQLScanContext) {
        self.context = context
    }

    override func declare(_ body: () -> Int32) -> Int32 {
        context.declaringTable = true
        defer { context.declaringTable = false }
        return body()
    }

    override func failed(_ error: SQLError) {
        context.scanFailure = error
    }

    /// Pushdown by SQL column index.
    var pushdown: [Int32: Pushdown] { [:] }
    /// Text columns a scan can deliver grouped and in order (dictionary columns).
    var orderable: Set<Int32> { [] }

    override func bestIndex(_ info: inout sqlite3_index_info) -> Int32 {
        var plan = ScanPlan()
        plan.columnsUsed = info.colUsed
        var cost = 1e9, rows: Int64 = 10_000_000
        var argument: Int32 = 1
        for index in 0..<Int(info.nConstraint) {
            let constraint = info.aConstraint[index]
            guard constraint.usable != 0, let kind = pushdown[constraint.iColumn] else { continue }
            let op = Int32(constraint.op)
            switch kind {
            case .time:
                guard [SQLITE_INDEX_CONSTRAINT_EQ, SQLITE_INDEX_CONSTRAINT_GT, SQLITE_INDEX_CONSTRAINT_GE,
                       SQLITE_INDEX_CONSTRAINT_LT, SQLITE_INDEX_CONSTRAINT_LE].contains(op) else { continue }
                cost /= 4
                rows /= 4
            case .service, .model, .status, .traceID:
                guard op == SQLITE_INDEX_CONSTRAINT_EQ else { continue }
                if let collation = sqlite3_vtab_collation(&info, Int32(index)), String(cString: collation).uppercased() != "BINARY" {
                    continue
                }
                if kind == .traceID {
                    cost = min(cost, 20)
                    rows = min(rows, 20)
                    info.aConstraintUsage[index].omit = 1
                } else {
                    cost /= 2
                    rows /= 2
                }
            }
            info.aConstraintUsage[index].argvIndex = argument
            argument += 1
            plan.constraints.append((constraint.iColumn, op))
        }
        if info.nOrderBy == 1, info.aOrderBy[0].desc == 0, orderable.contains(info.aOrderBy[0].iColumn) {
            plan.orderColumn = info.aOrderBy[0].iColumn
            info.orderByConsumed = 1
        }
        info.idxStr = VirtualTableModule.sqliteString(plan.encoded)
        info.needToFreeIdxStr = 1
        info.estimatedCost = cost
        info.estimatedRows = rows
        return SQLITE_OK
    }

    /// The pushdown values of `plan`'s constraints.
    func bounds(_ plan: ScanPlan, _ arguments: [OpaquePointer?]) -> ScanBounds {
        var bounds = ScanBounds()
        for ((column, op), value) in zip(plan.constraints, arguments) {
            switch pushdown[column] {
            case .time:
                if let nanoseconds = ScanBounds.nanoseconds(value) { bounds.narrowTime(op: op, nanoseconds) }
            case .service:
                if let text = SQLiteValue.text(value) { bounds.service = text } else { bounds.isEmpty = bounds.isEmpty || sqlite3_value_type(value) == SQLITE_NULL }
            case .model:
                if let text = SQLiteValue.text(value) { bounds.model = text } else { bounds.isEmpty = bounds.isEmpty || sqlite3_value_type(value) == SQLITE_NULL }
            case .status:
                if SQLiteValue.text(value) == "error" { bounds.errorsOnly = true }
            case .traceID:
                // Filtered by the scan alone (the constraint is omitted from SQLite's checks).
                if let id = Self.traceID(value), !(bounds.traceID.map { $0 != id } ?? false) {
                    bounds.traceID = id
                } else {
                    bounds.isEmpty = true
                }
            case nil:
                break
            }
        }
        return bounds
    }

    /// A trace id given as 32 hex digits (either case) or as the 16 bytes the index tables store.
    static func traceID(_ value: OpaquePointer?) -> TraceID? {
        switch sqlite3_value_type(value) {
        case SQLITE_TEXT:
            guard let text = SQLiteValue.text(value) else { return nil }
            return Hex.parseTraceID(text)
        case SQLITE_BLOB:
            guard sqlite3_value_bytes(value) == 16, let bytes = sqlite3_value_blob(value) else { return nil }
            return TraceID(bytes: Array(UnsafeRawBufferPointer(start: bytes, count: 16)))
        default:
            return nil
        }
    }
}
