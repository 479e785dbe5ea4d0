import GRDBSQLite
import PyFlareWire
import PyFlareStore

/// How a kind of record batch is found, read and shown in SQL: what `logs` and
/// `metric_points` differ in. A scan decompresses and decodes only the stored columns
/// behind the SQL columns a statement uses (and those its row checks need).
protocol RecordSQLKind {
    associatedtype Batch: OTLPBatch
    associatedtype Column: Hashable
    static var segmentKind: SegmentKind { get }
    static var columns: [String] { get }
    static var pushdown: [Int32: Pushdown] { get }
    static func batch(of entry: WALEntry) -> Batch?
    /// The stored columns behind SQL column `index`; nil when it needs every one.
    static func storage(of index: Int32) -> [Column]?
    /// The stored columns the row checks of a time or trace bound read.
    static var timeStorage: [Column] { get }
    static var traceStorage: [Column] { get }
    /// Block `block` with `columns` decoded (all when nil), and its row count.
    static func read(_ reader: SegmentReader, block: Int, columns: Set<Column>?) throws(StoreError) -> (Batch, Int)
    static func count(_ batch: Batch) -> Int
    /// A batch of no rows: what a fenced block reads as.
    static var empty: Batch { get }
    static func time(_ batch: Batch, _ row: Int) -> UInt64
    /// The row's trace id, for tables with trace pushdown.
    static func traceID(_ batch: Batch, _ row: Int) -> TraceID?
    static func column<Sink: ColumnValueSink>(_ index: Int32, of batch: Batch, row: Int, services: [String?], into sink: inout Sink)
}

/// `logs` and `metric_points`.
final class RecordTable<Kind: RecordSQLKind>: StoreTable {
    override var schema: String { "CREATE TABLE x(" + Kind.columns.joined(separator: ", ") + ")" }
    override var pushdown: [Int32: Pushdown] { Kind.pushdown }
    override func openCursor() -> VirtualCursor { RecordCursor<Kind>(table: self) }
}

final class RecordCursor<Kind: RecordSQLKind>: RowCursor {
    private let table: RecordTable<Kind>

    private enum Source {
        case block(SegmentReader, Int)
        case unsealed(Kind.Batch)
    }

    private var sources: [Source] = []
    private var nextSource = 0
    private var bounds = ScanBounds()
    /// The stored columns the statement reads; nil for all of them.
    private var storage: Set<Kind.Column>?
    private var batch: Kind.Batch?
    private var services: [String?] = []

    init(table: RecordTable<Kind>) {
        self.table = table
        super.init(context: table.context)
    }

    override func filter(indexNumber: Int32, indexString: String?, arguments: [OpaquePointer?]) throws(SQLError) {
        guard let plan = indexString.flatMap(ScanPlan.init(encoded:)) else {
            throw SQLError(.invalid, "\(Kind.segmentKind.name): unknown scan plan")
        }
        bounds = table.bounds(plan, arguments)
        storage = Self.storage(plan, bounds)
        sources = []
        nextSource = 0
        reset()
        guard !bounds.isEmpty else { return }
        for entry in try context.unsealedEntries() {
            if let batch = Kind.batch(of: entry.item) { sources.append(.unsealed(batch)) }
        }
        sources += try context.segmentBlocks(kind: Kind.segmentKind, bounds).map { .block($0.reader, $0.block) }
        try advance()
    }

    /// The stored columns behind the SQL columns `plan` uses and the row checks of `bounds`.
    private static func storage(_ plan: ScanPlan, _ bounds: ScanBounds) -> Set<Kind.Column>? {
        var columns = Set<Kind.Column>()
        for index in Kind.columns.indices where plan.uses(Int32(index)) {
            guard let stored = Kind.storage(of: Int32(index)) else { return nil }
            columns.formUnion(stored)
        }
        if bounds.since != nil || bounds.until != nil { columns.formUnion(Kind.timeStorage) }
        if bounds.traceID != nil { columns.formUnion(Kind.traceStorage) }
        return columns
    }

    override func loadNext() throws(SQLError) -> Bool {
        guard nextSource < sources.count else { return false }
        let loaded: Kind.Batch, rows: Int
        switch sources[nextSource] {
        case .unsealed(let unsealed):
            context.statistics.unsealedBatches += 1
            loaded = unsealed
            rows = Kind.count(unsealed)
        case .block(let reader, let index):
            context.statistics.blocks += 1
            if let read = try context.readFenced(reader, index, { [storage] reader in try Kind.read(reader, block: index, columns: storage) }) {
                (loaded, rows) = read
            } else {
                (loaded, rows) = (Kind.empty, 0)
            }
        }
        nextSource += 1
        let checksTime = bounds.since != nil || bounds.until != nil, checksTrace = bounds.traceID != nil
        if checksTime || checksTrace {
            selected = (0..<Int32(rows)).filter { row in
                bounds.keeps(time: checksTime ? Kind.time(loaded, Int(row)) : 0, traceID: checksTrace ? Kind.traceID(loaded, Int(row)) : nil)
            }
        } else {
            selected = Array(0..<Int32(rows))
        }
        batch = loaded
        services = selected.isEmpty ? [] : loaded.resourceServiceNames()
        return true
    }

    override func column(_ index: Int32, into result: OpaquePointer?) {
        var sink = SQLiteResultSink(result)
        guard let batch else { return sink.null() }
        Kind.column(index, of: batch, row: Int(selected[position]), services: services, into: &sink)
    }
}

/// Values shared by the record tables.
enum RecordSQLValues {
    /// `{"key": value, …}` of the rows `range` of `table`.
    static func attributes<Sink: ColumnValueSink>(_ sink: inout Sink, _ range: RowRange, of table: AttributeTable, in batch: some OTLPBatch) {
        var json = JSONWriter()
        json.attributes(batch.keyValues(in: table, range))
        sink.text(json.bytes)
    }

    /// The resource attributes of scope `scope`.
    static func resource<Sink: ColumnValueSink>(_ sink: inout Sink, scope: Int, in batch: some OTLPBatch) {
        let resource = Int(batch.scopes.resourceIndices[scope])
        attributes(&sink, batch.resources.attributes[resource], of: batch.attributes, in: batch)
    }

    static func service<Sink: ColumnValueSink>(_ sink: inout Sink, scope: Int, services: [String?], in batch: some OTLPBatch) {
        let resource = Int(batch.scopes.resourceIndices[scope])
        sink.text(resource < services.count ? services[resource] : nil)
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

    static func storage(of index: Int32) -> [LogColumn]? {
        switch index {
        case 0: [.time]
        case 1: [.observedTime]
        case 2: [.time, .observedTime]
        case 3: [.severityNumber]
        case 4: [.severityText]
        case 5: [.body]
        case 6: [.attributes]
        case 7, 12, 13: [.resource, .scope]
        case 8: [.traceID]
        case 9: [.spanID]
        case 10: [.flags]
        case 11: [.eventName]
        case 14: [.droppedAttributes]
        default: nil
        }
    }

    static let timeStorage: [LogColumn] = [.time, .observedTime]
    static let traceStorage: [LogColumn] = [.traceID]

    static func read(_ reader: SegmentReader, block: Int, columns: Set<LogColumn>?) throws(StoreError) -> (LogBatch, Int) {
        try reader.logBatch(block: block, columns: columns)
    }

    static func count(_ batch: LogBatch) -> Int { batch.count }
    static var empty: LogBatch { LogBatch() }
    static func time(_ batch: LogBatch, _ row: Int) -> UInt64 { LogQuery.time(of: batch, row) }
    static func traceID(_ batch: LogBatch, _ row: Int) -> TraceID? { batch.traceIDs[row] }

    static func column<Sink: ColumnValueSink>(_ index: Int32, of batch: LogBatch, row: Int, services: [String?], into sink: inout Sink) {
        // Only the columns a statement uses are decoded: the scope is read where it is needed.
        var scope: Int { Int(batch.scopeIndices[row]) }
        switch index {
        case 0: sink.integer(Int64(bitPattern: batch.times[row]))
        case 1: sink.integer(Int64(bitPattern: batch.observedTimes[row]))
        case 2: sink.text(RFC3339.string(LogQuery.time(of: batch, row)))
        case 3: sink.integer(Int64(batch.severityNumbers[row]))
        case 4: sink.text(batch.severityTexts[row], in: batch.bytes)
        case 5:
            // A string body is the text itself; any other value is JSON.
            switch batch.value(in: batch.bodies, row: row) {
            case .string(let text): sink.text(text)
            case .empty: sink.null()
            case let value:
                var json = JSONWriter()
                json.attributeValue(value)
                sink.text(json.bytes)
            }
        case 6: RecordSQLValues.attributes(&sink, batch.recordAttributes[row], of: batch.attributes, in: batch)
        case 7: RecordSQLValues.service(&sink, scope: scope, services: services, in: batch)
        case 8:
            if batch.traceIDs[row].isZero { sink.null() } else { SpanSQLValues.hex(&sink, batch.traceIDs[row]) }
        case 9: SpanSQLValues.hex(&sink, batch.spanIDs[row])
        case 10: sink.integer(Int64(batch.flags[row]))
        case 11: sink.text(batch.eventNames[row], in: batch.bytes)
        case 12: RecordSQLValues.resource(&sink, scope: scope, in: batch)
        case 13: sink.text(batch.scopes.names[scope], in: batch.bytes)
        case 14: sink.integer(Int64(batch.droppedAttributeCounts[row]))
        default: sink.null()
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

    /// The point columns behind each SQL column; the metric identity (name, type, unit,
    /// description, temporality, monotonicity, resource, scope) is always decoded.
    static func storage(of index: Int32) -> [MetricColumn]? {
        switch index {
        case 0, 1, 2, 3, 4, 5, 9, 17, 18: []
        case 6, 8: [.time]
        case 7: [.startTime]
        case 10: [.attributes]
        case 11: [.valueKind, .value]
        case 12: [.count]
        case 13: [.sum]
        case 14: [.min]
        case 15: [.max]
        case 19: [.flags]
        default: nil  // the whole point as JSON
        }
    }

    static let timeStorage: [MetricColumn] = [.time]
    static let traceStorage: [MetricColumn] = []

    static func read(_ reader: SegmentReader, block: Int, columns: Set<MetricColumn>?) throws(StoreError) -> (MetricBatch, Int) {
        try reader.metricBatch(block: block, columns: columns)
    }

    static func count(_ batch: MetricBatch) -> Int { batch.count }
    static var empty: MetricBatch { MetricBatch() }
    static func time(_ batch: MetricBatch, _ row: Int) -> UInt64 { batch.times[row] }
    static func traceID(_ batch: MetricBatch, _ row: Int) -> TraceID? { nil }

    static func column<Sink: ColumnValueSink>(_ index: Int32, of batch: MetricBatch, row: Int, services: [String?], into sink: inout Sink) {
        let metric = Int(batch.metricIndices[row])
        let metrics = batch.metrics
        let type = metrics.types[metric]
        let scope = Int(metrics.scopeIndices[metric])
        let hasCounts = type == .histogram || type == .exponentialHistogram || type == .summary
        switch index {
        case 0: sink.text(metrics.names[metric], in: batch.bytes)
        case 1: sink.text(type.name)
        case 2: sink.text(metrics.units[metric], in: batch.bytes)
        case 3: sink.text(metrics.descriptions[metric], in: batch.bytes)
        case 4:
            sink.text(MetricBatch.temporalityName(metrics.temporalities[metric]))
        case 5: sink.integer(metrics.monotonic[metric] ? 1 : 0)
        case 6: sink.integer(Int64(bitPattern: batch.times[row]))
        case 7: sink.integer(Int64(bitPattern: batch.startTimes[row]))
        case 8: sink.text(RFC3339.string(batch.times[row]))
        case 9: RecordSQLValues.service(&sink, scope: scope, services: services, in: batch)
        case 10: RecordSQLValues.attributes(&sink, batch.pointAttributes[row], of: batch.attributes, in: batch)
        case 11: sink.real(type == .gauge || type == .sum ? batch.number(at: row) : nil)
        case 12: sink.integer(hasCounts ? Int64(clamping: batch.counts[row]) : nil)
        case 13: sink.real(hasCounts ? batch.sums[row] : nil)
        case 14: sink.real(type == .histogram || type == .exponentialHistogram ? batch.mins[row] : nil)
        case 15: sink.real(type == .histogram || type == .exponentialHistogram ? batch.maxes[row] : nil)
        case 16:
            var json = JSONWriter()
            MetricPointJSON.point(row, of: batch, into: &json)
            sink.text(json.bytes)
        case 17: RecordSQLValues.resource(&sink, scope: scope, in: batch)
        case 18: sink.text(batch.scopes.names[scope], in: batch.bytes)
        case 19: sink.integer(Int64(batch.flags[row]))
        default: sink.null()
        }
    }
}
