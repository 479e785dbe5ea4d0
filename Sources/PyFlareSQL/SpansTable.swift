import GRDBSQLite
import PyFlareModel
import PyFlareWire
import PyFlareStore

/// The columns of the `spans` virtual table, in schema order (`docs/sql.md`), and the
/// stored columns each one is decoded from.
public enum SpansSQLColumn: Int32, CaseIterable, Sendable {
    case traceID, spanID, parentSpanID, traceState, name, kind
    case startTimeNs, endTimeNs, durationNs, startTime
    case status, statusMessage
    case service, model, responseModel, provider, operation, aiKind
    case inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens, reasoningTokens, totalTokens
    case costMicros, costUSD, costSource, priceModel
    case userID, sessionID, feature, environment
    case attributes, resource, scopeName, scopeVersion, events, links
    case flags, droppedAttributesCount, droppedEventsCount, droppedLinksCount

    public var definition: String {
        switch self {
        case .traceID: "trace_id TEXT"
        case .spanID: "span_id TEXT"
        case .parentSpanID: "parent_span_id TEXT"
        case .traceState: "trace_state TEXT"
        case .name: "name TEXT"
        case .kind: "kind TEXT"
        case .startTimeNs: "start_time_ns INTEGER"
        case .endTimeNs: "end_time_ns INTEGER"
        case .durationNs: "duration_ns INTEGER"
        case .startTime: "start_time TEXT"
        case .status: "status TEXT"
        case .statusMessage: "status_message TEXT"
        case .service: "service TEXT"
        case .model: "model TEXT"
        case .responseModel: "response_model TEXT"
        case .provider: "provider TEXT"
        case .operation: "operation TEXT"
        case .aiKind: "ai_kind TEXT"
        case .inputTokens: "input_tokens INTEGER"
        case .outputTokens: "output_tokens INTEGER"
        case .cacheReadTokens: "cache_read_tokens INTEGER"
        case .cacheWriteTokens: "cache_write_tokens INTEGER"
        case .reasoningTokens: "reasoning_tokens INTEGER"
        case .totalTokens: "total_tokens INTEGER"
        case .costMicros: "cost_micros INTEGER"
        case .costUSD: "cost_usd REAL"
        case .costSource: "cost_source TEXT"
        case .priceModel: "price_model TEXT"
        case .userID: "user_id TEXT"
        case .sessionID: "session_id TEXT"
        case .feature: "feature TEXT"
        case .environment: "environment TEXT"
        case .attributes: "attributes TEXT"
        case .resource: "resource TEXT"
        case .scopeName: "scope_name TEXT"
        case .scopeVersion: "scope_version TEXT"
        case .events: "events TEXT"
        case .links: "links TEXT"
        case .flags: "flags INTEGER"
        case .droppedAttributesCount: "dropped_attributes_count INTEGER"
        case .droppedEventsCount: "dropped_events_count INTEGER"
        case .droppedLinksCount: "dropped_links_count INTEGER"
        }
    }

    /// Whether the column is written as JSON (costly to build, so a cursor keeps the last one).
    var isJSON: Bool {
        switch self {
        case .attributes, .resource, .events, .links: true
        default: false
        }
    }

    var storage: [SpanColumn] {
        switch self {
        case .traceID: [.traceID]
        case .spanID: [.spanID]
        case .parentSpanID: [.parentSpanID]
        case .traceState: [.traceState]
        case .name: [.name]
        case .kind: [.kind]
        case .startTimeNs, .startTime: [.startTime]
        case .endTimeNs, .durationNs: [.duration]
        case .status: [.statusCode]
        case .statusMessage: [.statusMessage]
        case .service: [.service]
        case .model: [.model]
        case .responseModel: [.responseModel]
        case .provider: [.provider]
        case .operation: [.operation]
        case .aiKind: [.aiKind]
        case .inputTokens: [.inputTokens]
        case .outputTokens: [.outputTokens]
        case .cacheReadTokens: [.cacheReadTokens]
        case .cacheWriteTokens: [.cacheWriteTokens]
        case .reasoningTokens: [.reasoningTokens]
        case .totalTokens: [.totalTokens]
        case .costMicros, .costUSD: [.costMicros]
        case .costSource: [.costSource]
        case .priceModel: [.priceModel]
        case .userID: [.user]
        case .sessionID: [.session]
        case .feature: [.feature]
        case .environment: [.environment]
        case .attributes: [.attributes]
        case .resource, .scopeName, .scopeVersion: [.resource]
        case .events: [.events]
        case .links: [.links]
        case .flags: [.flags]
        case .droppedAttributesCount: [.droppedAttributes]
        case .droppedEventsCount: [.droppedEvents]
        case .droppedLinksCount: [.droppedLinks]
        }
    }

    /// The dictionary column a grouped scan reads its groups from.
    var dictionaryColumn: KeyPath<NormalizedBatch, [StringRef]>? {
        switch self {
        case .service: \.columns.service
        case .model: \.columns.model
        case .responseModel: \.columns.responseModel
        case .provider: \.columns.provider
        case .operation: \.columns.operation
        case .userID: \.columns.user
        case .sessionID: \.columns.session
        case .feature: \.columns.feature
        case .environment: \.columns.environment
        case .name: \.spans.names
        default: nil
        }
    }
}

/// `spans`: every stored span, from the segments and the unsealed WAL records.
final class SpansTable: StoreTable {
    override var schema: String {
        "CREATE TABLE x(" + SpansSQLColumn.allCases.map(\.definition).joined(separator: ", ") + ")"
    }

    override var pushdown: [Int32: Pushdown] {
        [SpansSQLColumn.startTimeNs.rawValue: .time, SpansSQLColumn.service.rawValue: .service,
         SpansSQLColumn.model.rawValue: .model, SpansSQLColumn.traceID.rawValue: .traceID,
         SpansSQLColumn.status.rawValue: .status]
    }

    override var orderable: Set<Int32> {
        Set(SpansSQLColumn.allCases.filter { $0.dictionaryColumn != nil }.map(\.rawValue))
    }

    override func openCursor() -> VirtualCursor { SpansCursor(table: self) }
}

/// One scan of `spans`: the blocks and unsealed batches the bounds admit, one at a time,
/// or, for a grouped plan, every group's rows from every block holding it, group by group.
final class SpansCursor: RowCursor {
    private let table: SpansTable

    private enum Source {
        case block(SegmentReader, Int)
        case unsealed(NormalizedBatch)
    }

    private var sources: [Source] = []
    private var storage = SpanColumnSet()
    /// For a grouped plan, what a visit decodes: the columns read besides the group's, whose
    /// value the visit knows, and without the row checks, done once when planning.
    private var visitStorage = SpanColumnSet()
    private var bounds = ScanBounds()
    /// Sources still to read (plain plan), or (group value, source, its rows) visits (grouped plan).
    private var nextSource = 0
    private var visits: [GroupVisit] = []
    private var orderColumn: SpansSQLColumn?
    private var cachedBlocks: [Int: BlockDecoder] = [:]
    /// The group value of the current visit (nil: the empty string, NULL).
    private var groupValue: [UInt8]?
    /// The current row's last JSON column, built once: SQLite asks a virtual table again for
    /// every mention of a column, and `instr(attributes, 'a') > 0 OR instr(attributes, 'b') > 0`
    /// would otherwise write the row's attributes as JSON once per mention.
    private var lastJSON: (row: Int64, column: SpansSQLColumn, bytes: [UInt8])?

    /// The rows of one source holding one value of the order column.
    private struct GroupVisit {
        var value: [UInt8]?
        var source: Int
        var rows: [Int32]
    }

    /// The batch whose ``selected`` rows are being returned.
    private var batch = NormalizedBatch(spans: SpanBatch(), columns: AIColumns())

    init(table: SpansTable) {
        self.table = table
        super.init(context: table.context)
    }

    override func filter(indexNumber: Int32, indexString: String?, arguments: [OpaquePointer?]) throws(SQLError) {
        guard let plan = indexString.flatMap(ScanPlan.init(encoded:)) else { throw SQLError(.invalid, "spans: unknown scan plan") }
        bounds = table.bounds(plan, arguments)
        var columns = SpanColumnSet()
        for column in SpansSQLColumn.allCases where plan.uses(column.rawValue) {
            for stored in column.storage { columns.insert(stored) }
        }
        if bounds.since != nil || bounds.until != nil { columns.insert(.startTime) }
        if bounds.traceID != nil { columns.insert(.traceID) }
        orderColumn = SpansSQLColumn(rawValue: plan.orderColumn)
        if let orderColumn {
            var others = SpanColumnSet()
            for column in SpansSQLColumn.allCases where column != orderColumn && plan.uses(column.rawValue) {
                for stored in column.storage { others.insert(stored) }
            }
            visitStorage = others.closure
            for stored in orderColumn.storage { columns.insert(stored) }
        }
        storage = columns.closure
        groupValue = nil
        sources = []
        visits = []
        cachedBlocks = [:]
        nextSource = 0
        reset()
        guard !bounds.isEmpty else { return }
        try collectSources()
        if orderColumn != nil { try planGroups() }
        try advance()
    }

    /// The segment blocks and unsealed batches that may hold matching spans.
    private func collectSources() throws(SQLError) {
        // Unsealed first: the snapshot's catalog decides which of them a segment already holds.
        for entry in try context.unsealedEntries() {
            guard case .spans(let batches) = entry.item else { continue }
            for batch in batches { sources.append(.unsealed(batch)) }
        }
        let blocks = try context.segmentBlocks(kind: .spans, bounds) { [bounds] zone in
            !bounds.errorsOnly || Self.mayHoldErrors(zone)
        }
        sources += blocks.map { .block($0.reader, $0.block) }
    }

    /// A block whose status chunk's maximum is below ERROR (2) holds no error.
    private static func mayHoldErrors(_ zone: SegmentFooter.Block) -> Bool {
        guard let chunk = zone.chunk(.statusCode),
              let range = ColumnStats(nulls: chunk.nullCount, min: chunk.min, max: chunk.max).unsignedRange else { return true }
        return range.upperBound >= 2
    }

    /// Block `index` of `reader` decompressed; nil when it is unreadable (fenced and reported).
    private func decompress(_ reader: SegmentReader, _ index: Int) throws(SQLError) -> BlockDecoder? {
        context.statistics.blocks += 1
        return try context.readFenced(reader, index) { [storage] reader in try reader.readBlock(index, columns: storage.columns) }
    }

    /// `columns` of a decompressed block decoded; nil when they do not decode (the block is then fenced).
    private func decode(_ decoder: BlockDecoder, of reader: SegmentReader, _ block: Int, only columns: SpanColumnSet) throws(SQLError) -> NormalizedBatch? {
        try context.readFenced(reader, block) { [context] _ in try decoder.decodeBatch(pricing: context.pricing, only: columns) }
    }

    /// Source `index` decoded (the columns of `only`, by default every column the scan
    /// reads), and its row count.
    private func load(_ index: Int, only: SpanColumnSet? = nil) throws(SQLError) -> (NormalizedBatch, Int) {
        switch sources[index] {
        case .unsealed(let batch):
            context.statistics.unsealedBatches += 1
            return (batch, batch.count)
        case .block(let reader, let block):
            let empty = NormalizedBatch(spans: SpanBatch(), columns: AIColumns())
            let cached = cachedBlocks[index]
            guard let decoder = cached != nil ? cached : try decompress(reader, block) else { return (empty, 0) }
            let rows = decoder.rows
            // A visit that reads nothing but its group value needs no decoding at all.
            if only == SpanColumnSet() { return (empty, rows) }
            guard let batch = try decode(decoder, of: reader, block, only: only ?? storage) else { return (empty, 0) }
            return (batch, rows)
        }
    }

    /// The rows of `batch` the bounds' row-level checks keep.
    private func rowsPassing(_ batch: NormalizedBatch, count: Int) -> [Int32] {
        let checksRows = bounds.since != nil || bounds.until != nil || bounds.traceID != nil
        guard checksRows else { return Array(0..<Int32(count)) }
        var rows: [Int32] = []
        rows.reserveCapacity(count)
        for row in 0..<count where bounds.keeps(time: batch.spans.startTimes.isEmpty ? 0 : batch.spans.startTimes[row],
                                                  traceID: batch.spans.traceIDs.isEmpty ? nil : batch.spans.traceIDs[row]) {
            rows.append(Int32(row))
        }
        return rows
    }

    /// For a grouped plan: the rows of every source split by their value of the order column,
    /// with the row checks done, so that each group is returned whole and the groups in
    /// ascending order (NULL first, as SQLite sorts), and a visit of a group decodes only the
    /// other columns read (re-reading a block per value it holds was most of a grouped scan).
    private func planGroups() throws(SQLError) {
        guard let keyPath = orderColumn?.dictionaryColumn else { return }
        var planStorage = SpanColumnSet(orderColumn?.storage ?? [])
        if bounds.since != nil || bounds.until != nil { planStorage.insert(.startTime) }
        if bounds.traceID != nil { planStorage.insert(.traceID) }
        var holders: [[UInt8]?: [(source: Int, rows: [Int32])]] = [:]
        var cachedBytes = 0
        for index in sources.indices {
            let batch: NormalizedBatch, count: Int
            switch sources[index] {
            case .unsealed(let unsealed):
                batch = unsealed
                count = unsealed.count
            case .block(let reader, let block):
                guard let decoder = try decompress(reader, block),
                      let decoded = try decode(decoder, of: reader, block, only: planStorage) else { continue }
                if cachedBytes + decoder.arena.count <= context.groupedScanBudgetBytes {
                    cachedBlocks[index] = decoder
                    cachedBytes += decoder.arena.count
                }
                count = decoder.rows
                batch = decoded
            }
            // Dictionary-decoded blocks repeat one reference per string; unsealed batches may
            // hold a string at several references, so references are merged by their bytes.
            var slotOfReference: [UInt64: Int] = [:]
            var slotOfValue: [[UInt8]?: Int] = [:]
            var groups: [(value: [UInt8]?, rows: [Int32])] = []
            var lastReference: UInt64?, lastSlot = 0
            let column = batch[keyPath: keyPath]
            batch.spans.bytes.withUnsafeBytes { arena in
                for row in rowsPassing(batch, count: count) {
                    let reference = column[Int(row)]
                    if reference.packed != lastReference {
                        if let known = slotOfReference[reference.packed] {
                            lastSlot = known
                        } else {
                            let value = reference.isEmpty ? nil : Array(arena[reference.range])
                            if let known = slotOfValue[value] {
                                lastSlot = known
                            } else {
                                lastSlot = groups.count
                                slotOfValue[value] = lastSlot
                                groups.append((value, []))
                            }
                            slotOfReference[reference.packed] = lastSlot
                        }
                        lastReference = reference.packed
                    }
                    groups[lastSlot].rows.append(row)
                }
            }
            for group in groups { holders[group.value, default: []].append((index, group.rows)) }
        }
        let ordered = holders.keys.sorted { lhs, rhs in
            guard let lhs else { return rhs != nil }
            guard let rhs else { return false }
            return lhs.lexicographicallyPrecedes(rhs)
        }
        for value in ordered {
            for holder in holders[value]! { visits.append(GroupVisit(value: value, source: holder.source, rows: holder.rows)) }
        }
    }

    override func loadNext() throws(SQLError) -> Bool {
        if orderColumn != nil {
            guard nextSource < visits.count else { return false }
            let visit = visits[nextSource]
            nextSource += 1
            batch = try load(visit.source, only: visitStorage).0
            groupValue = visit.value
            selected = visit.rows
        } else {
            guard nextSource < sources.count else { return false }
            let index = nextSource
            nextSource += 1
            let (loaded, count) = try load(index)
            batch = loaded
            selected = rowsPassing(loaded, count: count)
        }
        return true
    }

    override func column(_ index: Int32, into result: OpaquePointer?) {
        guard let column = SpansSQLColumn(rawValue: index) else { return sqlite3_result_null(result) }
        var sink = SQLiteResultSink(result)
        if column == orderColumn {
            // A visit's rows share its group value, which its batch was not decoded for.
            guard let groupValue else { return sqlite3_result_null(result) }
            return sink.text(groupValue)
        }
        guard column.isJSON else {
            // Through `batch` in place: a local copy of the batch's structs would retain every one
            // of their arrays on every call.
            return NormalizedBatch.writeSQLValue(column, of: &batch, row: Int(selected[position]), into: &sink)
        }
        if let lastJSON, lastJSON.row == rowID, lastJSON.column == column { return sink.text(lastJSON.bytes) }
        // The last value's buffer, held here alone, so the next one is written without a new allocation.
        let buffer = lastJSON?.bytes ?? []
        lastJSON = nil
        var captured = CapturedText(reusing: buffer)
        NormalizedBatch.writeSQLValue(column, of: &batch, row: Int(selected[position]), into: &captured)
        lastJSON = (rowID, column, captured.bytes)
        sink.text(captured.bytes)
    }
}

extension NormalizedBatch {
    /// Row `row`'s value of `column` of the `spans` table (the batch decoded with at least the
    /// column's ``SpansSQLColumn/storage``).
    public mutating func writeSQLValue<Sink: ColumnValueSink>(_ column: SpansSQLColumn, row: Int, into sink: inout Sink) {
        Self.writeSQLValue(column, of: &self, row: row, into: &sink)
    }

    /// The same on a batch reached in place. `inout` although nothing is changed: a batch
    /// passed by value from a cursor's property is copied, retaining and releasing every one of
    /// its arrays for each value (measured: 2.7× the time of a grouped scan).
    static func writeSQLValue<Sink: ColumnValueSink>(_ column: SpansSQLColumn, of batch: inout NormalizedBatch, row: Int,
                                                     into sink: inout Sink) {
        switch column {
        case .traceID: SpanSQLValues.hex(&sink, batch.spans.traceIDs[row])
        case .spanID: SpanSQLValues.hex(&sink, batch.spans.spanIDs[row])
        case .parentSpanID: SpanSQLValues.hex(&sink, batch.spans.parentSpanIDs[row])
        case .traceState: sink.text(batch.spans.traceStates[row], in: batch.spans.bytes)
        case .name: sink.text(batch.spans.names[row], in: batch.spans.bytes)
        case .kind: sink.name(SpanSQLValues.kindNames, Int(batch.spans.kinds[row]))
        case .startTimeNs: sink.integer(Int64(bitPattern: batch.spans.startTimes[row]))
        case .endTimeNs: sink.integer(Int64(bitPattern: batch.spans.endTimes[row]))
        case .durationNs: sink.integer(Int64(bitPattern: batch.spans.endTimes[row] &- batch.spans.startTimes[row]))
        case .startTime: sink.text(RFC3339.string(batch.spans.startTimes[row]))
        case .status: sink.name(SpanSQLValues.statusNames, Int(batch.spans.statusCodes[row]))
        case .statusMessage: sink.text(batch.spans.statusMessages[row], in: batch.spans.bytes)
        case .service: sink.text(batch.columns.service[row], in: batch.spans.bytes)
        case .model: sink.text(batch.columns.model[row], in: batch.spans.bytes)
        case .responseModel: sink.text(batch.columns.responseModel[row], in: batch.spans.bytes)
        case .provider: sink.text(batch.columns.provider[row], in: batch.spans.bytes)
        case .operation: sink.text(batch.columns.operation[row], in: batch.spans.bytes)
        case .aiKind: sink.text(batch.columns.kind[row].name)
        case .inputTokens: sink.integer(batch.columns.inputTokens[row])
        case .outputTokens: sink.integer(batch.columns.outputTokens[row])
        case .cacheReadTokens: sink.integer(batch.columns.cacheReadTokens[row])
        case .cacheWriteTokens: sink.integer(batch.columns.cacheWriteTokens[row])
        case .reasoningTokens: sink.integer(batch.columns.reasoningTokens[row])
        case .totalTokens: sink.integer(batch.columns.totalTokens[row])
        case .costMicros: sink.integer(batch.columns.costMicros[row])
        case .costUSD: sink.real(batch.columns.costMicros[row].map { Double($0) / 1e6 })
        case .costSource: sink.text(batch.columns.costSource[row].name)
        case .priceModel: sink.text(batch.columns.priceModel(row))
        case .userID: sink.text(batch.columns.user[row], in: batch.spans.bytes)
        case .sessionID: sink.text(batch.columns.session[row], in: batch.spans.bytes)
        case .feature: sink.text(batch.columns.feature[row], in: batch.spans.bytes)
        case .environment: sink.text(batch.columns.environment[row], in: batch.spans.bytes)
        case .attributes:
            batch.json(&sink) { writer, json in writer.attributes(batch.spans.spanAttributes[row], of: batch.spans.attributes, into: &json) }
        case .resource:
            let resource = Int(batch.spans.scopes.resourceIndices[Int(batch.spans.scopeIndices[row])])
            batch.json(&sink) { writer, json in writer.attributes(batch.spans.resources.attributes[resource], of: batch.spans.attributes, into: &json) }
        case .scopeName: sink.text(batch.spans.scopes.names[Int(batch.spans.scopeIndices[row])], in: batch.spans.bytes)
        case .scopeVersion: sink.text(batch.spans.scopes.versions[Int(batch.spans.scopeIndices[row])], in: batch.spans.bytes)
        case .events: batch.json(&sink) { writer, json in writer.events(row, into: &json) }
        case .links: batch.json(&sink) { writer, json in writer.links(row, into: &json) }
        case .flags: sink.integer(Int64(batch.spans.flags[row]))
        case .droppedAttributesCount: sink.integer(Int64(batch.spans.droppedAttributeCounts[row]))
        case .droppedEventsCount: sink.integer(Int64(batch.spans.droppedEventCounts[row]))
        case .droppedLinksCount: sink.integer(Int64(batch.spans.droppedLinkCounts[row]))
        }
    }

    private func json<Sink: ColumnValueSink>(_ sink: inout Sink, _ body: (LineWriter, inout JSONWriter) -> Void) {
        var json = JSONWriter()
        spans.bytes.withUnsafeBytes { arena in body(LineWriter(batch: spans, arena: arena), &json) }
        sink.text(json.bytes)
    }
}

/// Readable forms of coded span fields.
enum SpanSQLValues {
    static let kindNames = ["unspecified", "internal", "server", "client", "producer", "consumer"]
    static let statusNames = ["unset", "ok", "error"]

    /// A span id as 16 hex digits; 0 (no parent) is NULL.
    static func hex<Sink: ColumnValueSink>(_ sink: inout Sink, _ id: UInt64) {
        guard id != 0 else { return sink.null() }
        var out: [UInt8] = []
        out.reserveCapacity(16)
        Hex.append(id, to: &out)
        sink.text(out)
    }

    static func hex<Sink: ColumnValueSink>(_ sink: inout Sink, _ id: TraceID) {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        Hex.append(id.high, to: &out)
        Hex.append(id.low, to: &out)
        sink.text(out)
    }
}
