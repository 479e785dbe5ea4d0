import GRDBSQLite
import PyFlareWire

/// How a kind of record batch is found, read and shown in SQL: what `logs` and
/// `metric_points` differ in. Their blocks are decoded whole; they are smaller and read
/// less often than spans.
protocol RecordSQLKind {
    associatedtype Batch: OTLPBatch
    static var segmentKind: SegmentKind { get }
    static var columns: [String] { get }
    static var pushdown: [Int32: Pushdown] { get }
    static func batch(of entry: WALEntry) -> Batch?
    static func read(_ reader: SegmentReader, block: Int) throws(StoreError) -> Batch
    static func count(_ batch: Batch) -> Int
    static func time(_ batch: Batch, _ row: Int) -> UInt64
    /// The row's trace id, for tables with trace pushdown.
    static func traceID(_ batch: Batch, _ row: Int) -> TraceID?
    static func column(_ index: Int32, of batch: Batch, row: Int, services: [String?], into result: OpaquePointer?)
}

/// `logs` and `metric_points`.
final class RecordTable<Kind: RecordSQLKind>: StoreTable {
    override var schema: String { "CREATE TABLE x(" + Kind.columns.joined(separator: ", ") + ")" }
    override var pushdown: [Int32: Pushdown] { Kind.pushdown }
    override func openCursor() -> VirtualCursor { RecordCursor<Kind>(table: self) }
}

final class RecordCursor<Kind: RecordSQLKind>: VirtualCursor {
    private let table: RecordTable<Kind>
    private var context: SQLScanContext { table.context }

    private enum Source {
        case block(SegmentReader, Int)
        case unsealed(Kind.Batch)
    }

    private var sources: [Source] = []
    private var nextSource = 0
    private var bounds = ScanBounds()
    private var batch: Kind.Batch?
    private var services: [String?] = []
    private var selected: [Int] = []
    private var position = 0
    private var rowCounter: Int64 = 0

    init(table: RecordTable<Kind>) {
        self.table = table
    }

    override func filter(indexNumber: Int32, indexString: String?, arguments: [OpaquePointer?]) throws(SQLError) {
        guard let plan = indexString.flatMap(ScanPlan.init(encoded:)) else {
            throw SQLError(.invalid, "\(Kind.segmentKind.name): unknown scan plan")
        }
        bounds = table.bounds(plan, arguments)
        sources = []
        nextSource = 0
        selected = []
        position = 0
        guard !bounds.isEmpty else { return }
        for entry in try context.unsealedEntries() {
            if let batch = Kind.batch(of: entry.item) { sources.append(.unsealed(batch)) }
        }
        let located: [(path: String, blocks: [Int]?)]
        if let traceID = bounds.traceID {
            located = try context.traceBlocks(traceID, kind: Kind.segmentKind).map { ($0.path, $0.blocks) }
        } else {
            located = try context.segmentPaths(kind: Kind.segmentKind, bounds).map { ($0, nil) }
        }
        for (path, blocks) in located {
            let reader = try context.reader(path)
            context.statistics.segments += 1
            for index in blocks ?? Array(reader.footer.blocks.indices) {
                if bounds.admits(reader.footer.blocks[index]) {
                    sources.append(.block(reader, index))
                } else {
                    context.statistics.blocksSkipped += 1
                }
            }
        }
        try advance()
    }

    private func advance() throws(SQLError) {
        while position >= selected.count {
            try context.checkDeadline()
            guard nextSource < sources.count else { return }
            let loaded: Kind.Batch
            switch sources[nextSource] {
            case .unsealed(let unsealed):
                context.statistics.unsealedBatches += 1
                loaded = unsealed
            case .block(let reader, let index):
                context.statistics.blocks += 1
                do {
                    loaded = try Kind.read(reader, block: index)
                } catch {
                    throw SQLError(.unavailable, "\(error)")
                }
            }
            nextSource += 1
            let since = bounds.since ?? 0, until = bounds.until ?? .max
            selected = (0..<Kind.count(loaded)).filter { row in
                let time = Kind.time(loaded, row)
                guard time >= since, time < until else { return false }
                if let traceID = bounds.traceID, Kind.traceID(loaded, row) != traceID { return false }
                return true
            }
            batch = loaded
            services = selected.isEmpty ? [] : loaded.resourceServiceNames()
            position = 0
        }
    }

    override func next() throws(SQLError) {
        position += 1
        rowCounter += 1
        context.statistics.rows += 1
        if position >= selected.count { try advance() }
    }

    override var isAtEnd: Bool { position >= selected.count }

    override var rowID: Int64 { rowCounter }

    override func column(_ index: Int32, into result: OpaquePointer?) {
        guard let batch else { return sqlite3_result_null(result) }
        Kind.column(index, of: batch, row: selected[position], services: services, into: result)
    }
}

/// Values shared by the record tables.
enum RecordSQLValues {
    static func text(_ result: OpaquePointer?, _ ref: StringRef, in batch: some OTLPBatch) {
        guard !ref.isEmpty else { return sqlite3_result_null(result) }
        batch.bytes.withUnsafeBytes { SQLiteResult.text(result, UnsafeRawBufferPointer(rebasing: $0[ref.range])) }
    }

    /// `{"key": value, …}` of the rows `range` of `table`.
    static func attributes(_ result: OpaquePointer?, _ range: RowRange, of table: AttributeTable, in batch: some OTLPBatch) {
        var json = JSONWriter()
        json.attributes(batch.keyValues(in: table, range))
        SQLiteResult.text(result, json.bytes)
    }

    /// The resource attributes of scope `scope`.
    static func resource(_ result: OpaquePointer?, scope: Int, in batch: some OTLPBatch) {
        let resource = Int(batch.scopes.resourceIndices[scope])
        attributes(result, batch.resources.attributes[resource], of: batch.attributes, in: batch)
    }

    static func service(_ result: OpaquePointer?, scope: Int, services: [String?], in batch: some OTLPBatch) {
        let resource = Int(batch.scopes.resourceIndices[scope])
        SpanSQLValues.optional(result, resource < services.count ? services[resource] : nil)
    }
}

/// `logs`: every stored log record.
enum LogsSQL: RecordSQLKind {
    static let segmentKind = SegmentKind.logs
    static let columns = [
        "time_ns INTEGER", "observed_time_ns INTEGER", "time TEXT", "severity_number INTEGER", "severity_text TEXT",
        "body TEXT", "attributes TEXT", "service TEXT", "trace_id TEXT", "span_id TEXT", "flags INTEGER",
        "event_name TEXT", "resource TEXT", "scope_name TEXT", "dropped_attributes_count INTEGER",
    ]
    static let pushdown: [Int32: Pushdown] = [0: .time, 7: .service, 8: .traceID]

    static func batch(of entry: WALEntry) -> LogBatch? {
        if case .logs(let batch) = entry { batch } else { nil }
    }

    static func read(_ reader: SegmentReader, block: Int) throws(StoreError) -> LogBatch { try reader.logBatch(block: block) }
    static func count(_ batch: LogBatch) -> Int { batch.count }
    static func time(_ batch: LogBatch, _ row: Int) -> UInt64 { LogQuery.time(of: batch, row) }
    static func traceID(_ batch: LogBatch, _ row: Int) -> TraceID? { batch.traceIDs[row] }

    static func column(_ index: Int32, of batch: LogBatch, row: Int, services: [String?], into result: OpaquePointer?) {
        let scope = Int(batch.scopeIndices[row])
        switch index {
        case 0: sqlite3_result_int64(result, Int64(bitPattern: batch.times[row]))
        case 1: sqlite3_result_int64(result, Int64(bitPattern: batch.observedTimes[row]))
        case 2: SQLiteResult.text(result, RFC3339.string(LogQuery.time(of: batch, row)))
        case 3: sqlite3_result_int64(result, Int64(batch.severityNumbers[row]))
        case 4: RecordSQLValues.text(result, batch.severityTexts[row], in: batch)
        case 5:
            // A string body is the text itself; any other value is JSON.
            switch batch.value(in: batch.bodies, row: row) {
            case .string(let text): SQLiteResult.text(result, text)
            case .empty: sqlite3_result_null(result)
            case let value:
                var json = JSONWriter()
                json.attributeValue(value)
                SQLiteResult.text(result, json.bytes)
            }
        case 6: RecordSQLValues.attributes(result, batch.recordAttributes[row], of: batch.attributes, in: batch)
        case 7: RecordSQLValues.service(result, scope: scope, services: services, in: batch)
        case 8:
            if batch.traceIDs[row].isZero { sqlite3_result_null(result) } else { SpanSQLValues.hex(result, batch.traceIDs[row]) }
        case 9: SpanSQLValues.hex(result, batch.spanIDs[row])
        case 10: sqlite3_result_int64(result, Int64(batch.flags[row]))
        case 11: RecordSQLValues.text(result, batch.eventNames[row], in: batch)
        case 12: RecordSQLValues.resource(result, scope: scope, in: batch)
        case 13: RecordSQLValues.text(result, batch.scopes.names[scope], in: batch)
        case 14: sqlite3_result_int64(result, Int64(batch.droppedAttributeCounts[row]))
        default: sqlite3_result_null(result)
        }
    }
}

/// `metric_points`: every stored metric data point.
enum MetricPointsSQL: RecordSQLKind {
    static let segmentKind = SegmentKind.metricPoints
    static let columns = [
        "metric_name TEXT", "type TEXT", "unit TEXT", "description TEXT", "temporality TEXT", "is_monotonic INTEGER",
        "time_ns INTEGER", "start_time_ns INTEGER", "time TEXT", "service TEXT", "attributes TEXT", "value REAL",
        "count INTEGER", "sum REAL", "min REAL", "max REAL", "point TEXT", "resource TEXT", "scope_name TEXT", "flags INTEGER",
    ]
    // Metric segments keep the metric names in the zone maps' second string set.
    static let pushdown: [Int32: Pushdown] = [6: .time, 9: .service, 0: .model]

    static func batch(of entry: WALEntry) -> MetricBatch? {
        if case .metrics(let batch) = entry { batch } else { nil }
    }

    static func read(_ reader: SegmentReader, block: Int) throws(StoreError) -> MetricBatch { try reader.metricBatch(block: block) }
    static func count(_ batch: MetricBatch) -> Int { batch.count }
    static func time(_ batch: MetricBatch, _ row: Int) -> UInt64 { batch.times[row] }
    static func traceID(_ batch: MetricBatch, _ row: Int) -> TraceID? { nil }

    static func column(_ index: Int32, of batch: MetricBatch, row: Int, services: [String?], into result: OpaquePointer?) {
        let metric = Int(batch.metricIndices[row])
        let metrics = batch.metrics
        let type = metrics.types[metric]
        let scope = Int(metrics.scopeIndices[metric])
        let hasCounts = type == .histogram || type == .exponentialHistogram || type == .summary
        switch index {
        case 0: RecordSQLValues.text(result, metrics.names[metric], in: batch)
        case 1: SQLiteResult.text(result, type.name)
        case 2: RecordSQLValues.text(result, metrics.units[metric], in: batch)
        case 3: RecordSQLValues.text(result, metrics.descriptions[metric], in: batch)
        case 4:
            SpanSQLValues.optional(result, metrics.temporalities[metric] == 1 ? "delta" : metrics.temporalities[metric] == 2 ? "cumulative" : nil)
        case 5: sqlite3_result_int64(result, metrics.monotonic[metric] ? 1 : 0)
        case 6: sqlite3_result_int64(result, Int64(bitPattern: batch.times[row]))
        case 7: sqlite3_result_int64(result, Int64(bitPattern: batch.startTimes[row]))
        case 8: SQLiteResult.text(result, RFC3339.string(batch.times[row]))
        case 9: RecordSQLValues.service(result, scope: scope, services: services, in: batch)
        case 10: RecordSQLValues.attributes(result, batch.pointAttributes[row], of: batch.attributes, in: batch)
        case 11: SQLiteResult.real(result, type == .gauge || type == .sum ? batch.number(at: row) : nil)
        case 12: SQLiteResult.integer(result, hasCounts ? Int64(clamping: batch.counts[row]) : nil)
        case 13: SQLiteResult.real(result, hasCounts ? batch.sums[row] : nil)
        case 14: SQLiteResult.real(result, type == .histogram || type == .exponentialHistogram ? batch.mins[row] : nil)
        case 15: SQLiteResult.real(result, type == .histogram || type == .exponentialHistogram ? batch.maxes[row] : nil)
        case 16:
            var json = JSONWriter()
            MetricPointJSON.point(row, of: batch, into: &json)
            SQLiteResult.text(result, json.bytes)
        case 17: RecordSQLValues.resource(result, scope: scope, in: batch)
        case 18: RecordSQLValues.text(result, batch.scopes.names[scope], in: batch)
        case 19: sqlite3_result_int64(result, Int64(batch.flags[row]))
        default: sqlite3_result_null(result)
        }
    }
}
