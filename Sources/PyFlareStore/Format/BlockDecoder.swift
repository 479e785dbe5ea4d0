import PyFlareModel
import PyFlareWire

/// A block's decompressed column chunks in one arena, so decoded strings point into it.
package struct BlockDecoder {
    package let rows: Int
    package private(set) var arena: [UInt8]
    /// Indexed by the column's raw value: where each present chunk lies in ``arena``.
    let ranges: [Range<Int>?]

    init(rows: Int, arena: [UInt8], ranges: [Range<Int>?]) {
        self.rows = rows
        self.arena = arena
        self.ranges = ranges
    }

    /// Uncompressed chunks, as ``BlockEncoder`` made them (for tests and the WAL).
    init(_ block: EncodedBlock) {
        var arena: [UInt8] = []
        var ranges = [Range<Int>?](repeating: nil, count: 256)
        for (raw, chunk) in block.chunks.enumerated() {
            guard let chunk else { continue }
            ranges[raw] = arena.count..<(arena.count + chunk.count)
            arena.append(contentsOf: chunk)
        }
        self.init(rows: block.rows, arena: arena, ranges: ranges)
    }

    func has(_ column: some SegmentColumn) -> Bool { ranges[Int(column.rawValue)] != nil }

    /// ``has(_:)`` for span blocks, so callers can write `.spanID`.
    func has(_ column: SpanColumn) -> Bool { ranges[Int(column.rawValue)] != nil }

    /// Reads `column`'s chunk; `base` is the chunk's offset in the arena.
    private func read<T>(_ column: some SegmentColumn, _ body: (inout ByteReader, Int) throws(FormatError) -> T) throws(ColumnError) -> T {
        guard let range = ranges[Int(column.rawValue)] else { throw ColumnError(column: column, FormatError("column is missing")) }
        do {
            return try arena.withBytes { raw throws(FormatError) in
                var reader = ByteReader(UnsafeRawBufferPointer(rebasing: raw[range]))
                let value = try body(&reader, range.lowerBound)
                guard reader.isAtEnd else { throw FormatError("\(reader.remaining) bytes left over") }
                return value
            }
        } catch {
            throw ColumnError(column: column, error)
        }
    }

    /// The block's ``TokenFilter``; nil for a block written without one (before filters
    /// existed), which a search must read.
    func tokenFilter() throws(ColumnError) -> TokenFilter? {
        guard has(.textTokens) else { return nil }
        return try read(SpanColumn.textTokens) { reader, base throws(FormatError) in
            let bytes = try reader.skip(reader.remaining)
            let inArena = (base + bytes.lowerBound)..<(base + bytes.upperBound)
            guard let filter = arena.withUnsafeBytes({ TokenFilter(encoded: UnsafeRawBufferPointer(rebasing: $0[inArena])) }) else {
                throw FormatError("not a token filter this version reads")
            }
            return filter
        }
    }

    // MARK: - Typed columns

    /// One value per row, each read by `element`.
    private func perRow<T>(_ column: some SegmentColumn, _ element: (inout ByteReader) throws(FormatError) -> T) throws(ColumnError) -> [T] {
        try read(column) { reader, _ throws(FormatError) in
            var values = [T]()
            values.reserveCapacity(rows)
            for _ in 0..<rows { values.append(try element(&reader)) }
            return values
        }
    }

    func varints(_ column: some SegmentColumn) throws(ColumnError) -> [UInt64] {
        try perRow(column) { reader throws(FormatError) in try reader.varint() }
    }

    /// A `varint` column whose values must not exceed `limit`.
    func varints(_ column: some SegmentColumn, atMost limit: UInt64) throws(ColumnError) -> [UInt64] {
        try perRow(column) { reader throws(FormatError) in
            let value = try reader.varint()
            guard value <= limit else { throw FormatError("value \(value) exceeds \(limit)") }
            return value
        }
    }

    /// A `varint` column of an enumeration's raw values; an unknown value is an error.
    func varints<Value: RawRepresentable>(_ column: some SegmentColumn, as _: Value.Type) throws(ColumnError) -> [Value]
    where Value.RawValue == UInt8 {
        try perRow(column) { reader throws(FormatError) in
            let raw = try reader.varint()
            guard raw <= UInt64(UInt8.max), let value = Value(rawValue: UInt8(raw)) else { throw FormatError("unknown value \(raw)") }
            return value
        }
    }

    func fixed64s(_ column: some SegmentColumn) throws(ColumnError) -> [UInt64] {
        try perRow(column) { reader throws(FormatError) in try reader.fixed64() }
    }

    /// ``fixed64s(_:)`` for span blocks, so callers can write `.spanID`.
    func fixed64s(_ column: SpanColumn) throws(ColumnError) -> [UInt64] {
        try perRow(column) { reader throws(FormatError) in try reader.fixed64() }
    }

    func zigzags(_ column: some SegmentColumn) throws(ColumnError) -> [Int64] {
        try perRow(column) { reader throws(FormatError) in try reader.zigzag() }
    }

    /// A `deltaVarint` column: deltas summed back up.
    func deltas(_ column: some SegmentColumn) throws(ColumnError) -> [UInt64] {
        try read(column) { reader, _ throws(FormatError) in
            var values = [UInt64](); values.reserveCapacity(rows)
            var current: Int64 = 0
            for _ in 0..<rows {
                current &+= try reader.zigzag()
                values.append(UInt64(bitPattern: current))
            }
            return values
        }
    }

    /// Span start times.
    func startTimes() throws(ColumnError) -> [UInt64] { try deltas(SpanColumn.startTime) }

    /// Written out rather than through ``perRow(_:_:)``: the hottest loop of an aggregate over
    /// tokens or cost, where a closure call per value showed in profiles.
    func nullables(_ column: some SegmentColumn) throws(ColumnError) -> [Int64?] {
        let rows = self.rows
        return try read(column) { reader, _ throws(FormatError) in
            var values = [Int64?](repeating: nil, count: rows)
            try values.withUnsafeMutableBufferPointer { values throws(FormatError) in
                for row in 0..<rows {
                    let raw = try reader.varint()
                    guard raw != 0 else { continue }
                    let zigzag = raw &- 1
                    values[row] = Int64(bitPattern: zigzag >> 1) ^ -Int64(bitPattern: zigzag & 1)
                }
            }
            return values
        }
    }

    /// A `nullableFixed64` column of doubles.
    func nullableDoubles(_ column: some SegmentColumn) throws(ColumnError) -> [Double?] {
        try perRow(column) { reader throws(FormatError) -> Double? in
            switch try reader.byte() {
            case 0: return nil
            case 1: return Double(bitPattern: try reader.fixed64())
            case let tag: throw FormatError("presence byte \(tag) is neither 0 nor 1")
            }
        }
    }

    /// An `idDictionary` column.
    func traceIDs(_ column: some SegmentColumn) throws(ColumnError) -> [TraceID] {
        try read(column) { reader, _ throws(FormatError) in
            let distinct = try reader.count(atMost: rows)
            guard distinct > 0 || rows == 0 else { throw FormatError("\(rows) rows but no trace ids") }
            var ids: [TraceID] = []; ids.reserveCapacity(distinct)
            for _ in 0..<distinct { ids.append(try reader.traceID()) }
            var values: [TraceID] = []; values.reserveCapacity(rows)
            for _ in 0..<rows { values.append(ids[try reader.count(atMost: distinct - 1)]) }
            return values
        }
    }

    /// Span trace ids.
    func traceIDs() throws(ColumnError) -> [TraceID] { try traceIDs(SpanColumn.traceID) }

    func parentSpanIDs(spanIDs: [UInt64]) throws(ColumnError) -> [UInt64] {
        try read(SpanColumn.parentSpanID) { reader, _ throws(FormatError) in
            var values = [UInt64](); values.reserveCapacity(rows)
            for _ in 0..<rows {
                switch try reader.varint() {
                case 0: values.append(0)
                case 1: values.append(try reader.fixed64())
                case let tag:
                    guard tag - 2 < UInt64(spanIDs.count) else { throw FormatError("parent row \(tag - 2) out of range") }
                    values.append(spanIDs[Int(tag - 2)])
                }
            }
            return values
        }
    }

    /// Dictionary codes per row (0 = empty, else entry + 1) and the entries as arena references.
    func dictionary(_ column: some SegmentColumn) throws(ColumnError) -> DictionaryColumn {
        try read(column) { reader, base throws(FormatError) in
            let count = try reader.count(atMost: reader.remaining)
            var entries: [StringRef] = [.empty]
            entries.reserveCapacity(count + 1)
            for _ in 0..<count {
                let range = try reader.lengthPrefixed()
                entries.append(StringRef(offset: base + range.lowerBound, length: range.count))
            }
            var codes = [Int](repeating: 0, count: rows)
            try codes.withUnsafeMutableBufferPointer { codes throws(FormatError) in
                for row in codes.indices { codes[row] = try reader.count(atMost: count) }
            }
            return DictionaryColumn(entries: entries, codes: codes)
        }
    }

    func strings(_ column: some SegmentColumn) throws(ColumnError) -> [StringRef] {
        let dictionary = try dictionary(column)
        return dictionary.entries.withUnsafeBufferPointer { entries in dictionary.codes.map { entries[$0] } }
    }

    /// Each row's bytes in a `blobs` column, as arena ranges.
    func blobs(_ column: some SegmentColumn) throws(ColumnError) -> [Range<Int>] {
        try read(column) { reader, base throws(FormatError) in
            var lengths = [Int](); lengths.reserveCapacity(rows)
            for _ in 0..<rows { lengths.append(try reader.count(atMost: reader.remaining)) }
            var values = [Range<Int>](); values.reserveCapacity(rows)
            for length in lengths {
                let range = try reader.skip(length)
                values.append((base + range.lowerBound)..<(base + range.upperBound))
            }
            return values
        }
    }

    // MARK: - Whole batches

    /// Runs `body` with a reader of the serialized values in the arena, then moves the arena
    /// into `batch.bytes`, so the references decoded from it stay valid.
    consuming func finish<Batch: OTLPBatch>(_ batch: inout Batch,
                                            _ body: (KeyValueReader, inout Batch) throws(ColumnError) -> Void) throws(ColumnError) {
        let arena = self.arena
        try arena.withBytes { raw throws(ColumnError) in try body(KeyValueReader(arena: raw), &batch) }
        batch.bytes = consume arena
    }

    /// Every column, back into a batch the rest of PyFlare reads like a decoded request.
    consuming func decodeBatch(pricing: PricingTable) throws(ColumnError) -> NormalizedBatch {
        try decodeBatch(pricing: pricing, only: nil)
    }

    /// The columns a query reads, back into a batch (`only`, with ``SpanColumnSet/closure``;
    /// every column when nil). Arrays of columns not read stay empty, so the batch's span
    /// count is only meaningful when `spanID` was read: callers use ``rows``.
    package consuming func decodeBatch(pricing: PricingTable, only wanted: SpanColumnSet?) throws(ColumnError) -> NormalizedBatch {
        func wants(_ column: SpanColumn) -> Bool { wanted?.contains(column) ?? true }
        // Not part of the spans, but a whole block read vouches for every chunk of the block.
        if wants(.textTokens), has(.textTokens) { _ = try tokenFilter() }
        var spans = SpanBatch()
        if wants(.spanID) { spans.spanIDs = try fixed64s(SpanColumn.spanID) }
        if wants(.traceID) { spans.traceIDs = try traceIDs() }
        if wants(.parentSpanID) { spans.parentSpanIDs = try parentSpanIDs(spanIDs: spans.spanIDs) }
        if wants(.traceState) { spans.traceStates = try strings(SpanColumn.traceState) }
        if wants(.flags) { spans.flags = try varints(SpanColumn.flags).map { UInt32(truncatingIfNeeded: $0) } }
        if wants(.name) { spans.names = try strings(SpanColumn.name) }
        if wants(.kind) { spans.kinds = try varints(SpanColumn.kind).map { UInt8(truncatingIfNeeded: $0) } }
        if wants(.startTime) { spans.startTimes = try startTimes() }
        if wants(.duration) {
            spans.endTimes = zip(spans.startTimes, try zigzags(SpanColumn.duration)).map { $0 &+ UInt64(bitPattern: $1) }
        }
        if wants(.statusCode) { spans.statusCodes = try varints(SpanColumn.statusCode).map { UInt8(truncatingIfNeeded: $0) } }
        if wants(.statusMessage) { spans.statusMessages = try strings(SpanColumn.statusMessage) }
        if wants(.droppedAttributes) {
            spans.droppedAttributeCounts = try varints(SpanColumn.droppedAttributes).map { UInt32(truncatingIfNeeded: $0) }
        }
        if wants(.droppedEvents) { spans.droppedEventCounts = try varints(SpanColumn.droppedEvents).map { UInt32(truncatingIfNeeded: $0) } }
        if wants(.droppedLinks) { spans.droppedLinkCounts = try varints(SpanColumn.droppedLinks).map { UInt32(truncatingIfNeeded: $0) } }

        var columns = AIColumns()
        if wants(.service) { columns.service = try strings(SpanColumn.service) }
        if wants(.model) { columns.model = try strings(SpanColumn.model) }
        if wants(.responseModel) { columns.responseModel = try strings(SpanColumn.responseModel) }
        if wants(.provider) { columns.provider = try strings(SpanColumn.provider) }
        if wants(.operation) { columns.operation = try strings(SpanColumn.operation) }
        if wants(.user) { columns.user = try strings(SpanColumn.user) }
        if wants(.session) { columns.session = try strings(SpanColumn.session) }
        if wants(.feature) { columns.feature = try strings(SpanColumn.feature) }
        if wants(.environment) { columns.environment = try strings(SpanColumn.environment) }
        if wants(.aiKind) { columns.kind = try varints(SpanColumn.aiKind).map { AIKind(rawValue: UInt8(truncatingIfNeeded: $0)) ?? .none } }
        if wants(.costSource) {
            columns.costSource = try varints(SpanColumn.costSource).map { CostSource(rawValue: UInt8(truncatingIfNeeded: $0)) ?? .none }
        }
        if wants(.inputTokens) { columns.inputTokens = try nullables(SpanColumn.inputTokens) }
        if wants(.outputTokens) { columns.outputTokens = try nullables(SpanColumn.outputTokens) }
        if wants(.cacheReadTokens) { columns.cacheReadTokens = try nullables(SpanColumn.cacheReadTokens) }
        if wants(.cacheWriteTokens) { columns.cacheWriteTokens = try nullables(SpanColumn.cacheWriteTokens) }
        if wants(.reasoningTokens) { columns.reasoningTokens = try nullables(SpanColumn.reasoningTokens) }
        if wants(.totalTokens) { columns.totalTokens = try nullables(SpanColumn.totalTokens) }
        if wants(.costMicros) { columns.costMicros = try nullables(SpanColumn.costMicros) }

        let owners = wants(.resource) ? try owners(resource: SpanColumn.resource, scope: SpanColumn.scope) : nil
        let prices = wants(.priceModel) ? try dictionary(SpanColumn.priceModel) : nil
        let attributes = wants(.attributes) ? try blobs(SpanColumn.attributes) : nil
        let largeText = wants(.largeText) ? try blobs(SpanColumn.largeText) : nil
        let events = wants(.events) ? try blobs(SpanColumn.events) : nil
        let links = wants(.links) ? try blobs(SpanColumn.links) : nil

        let rows = self.rows
        try finish(&spans) { reader, spans throws(ColumnError) in
            if let prices {
                // The stored name is the price used, kept as is: the table in force now may not have it.
                var priceIndices: [Int32] = []
                for ref in prices.entries {
                    guard !ref.isEmpty else {
                        priceIndices.append(-1)
                        continue
                    }
                    priceIndices.append(Int32(columns.priceModels.count))
                    columns.priceModels.append(String(decoding: UnsafeRawBufferPointer(rebasing: reader.arena[ref.range]), as: UTF8.self))
                }
                columns.priceIndex = prices.codes.map { priceIndices[$0] }
            }
            if let owners { spans.scopeIndices = try reader.scopeIndices(owners, into: &spans) }
            if let attributes {
                spans.spanAttributes.reserveCapacity(rows)
                for row in 0..<rows {
                    let text = largeText?[row] ?? 0..<0
                    spans.spanAttributes.append(try reader.spanAttributes(attributes[row], largeText: text, into: &spans))
                }
            }
            if let events {
                spans.spanEvents.reserveCapacity(rows)
                for row in 0..<rows { spans.spanEvents.append(try reader.events(events[row], start: spans.startTimes[row], into: &spans)) }
            }
            if let links {
                spans.spanLinks.reserveCapacity(rows)
                for row in 0..<rows { spans.spanLinks.append(try reader.links(links[row], into: &spans)) }
            }
        }
        return NormalizedBatch(spans: spans, columns: columns)
    }

    /// The `resource` and `scope` dictionary columns of a block.
    func owners<Column: SegmentColumn>(resource: Column, scope: Column) throws(ColumnError) -> OwnerColumns<Column> {
        OwnerColumns(resources: try dictionary(resource), scopes: try dictionary(scope), resourceColumn: resource, scopeColumn: scope)
    }
}

/// A `dictionary` chunk: entries as references into the arena (entry 0 is the empty string),
/// and each row's code.
struct DictionaryColumn {
    var entries: [StringRef]
    var codes: [Int]
}

/// The `resource` and `scope` chunks of a block, to decode into the batch's tables.
struct OwnerColumns<Column: SegmentColumn> {
    var resources: DictionaryColumn
    var scopes: DictionaryColumn
    var resourceColumn: Column
    var scopeColumn: Column
}

/// The tables of a batch that resources and scopes fill, taken out of the batch while they are.
private struct OwnerTables {
    var resources = ResourceTable()
    var scopes = ScopeTable()
    var attributes = AttributeTable()
    var nestedValues = AttributeTable()

    init(taking batch: inout some OTLPBatch) {
        swap(&resources, &batch.resources)
        swap(&scopes, &batch.scopes)
        swap(&attributes, &batch.attributes)
        swap(&nestedValues, &batch.nestedValues)
    }

    mutating func put(into batch: inout some OTLPBatch) {
        swap(&resources, &batch.resources)
        swap(&scopes, &batch.scopes)
        swap(&attributes, &batch.attributes)
        swap(&nestedValues, &batch.nestedValues)
    }
}

/// A format error in one column of a block; the reader adds the file and block.
package struct ColumnError: Error, CustomStringConvertible {
    /// The column's catalog name; nil when the error is not about one column.
    var columnName: String?
    var error: FormatError

    init(column: (any SegmentColumn)?, _ error: FormatError) {
        self.columnName = column?.name
        self.error = error
    }

    package var description: String { columnName.map { "column \($0): \(error)" } ?? "\(error)" }
}

/// Reads serialized values, key/value lists, resources, scopes, events and links back into a
/// batch; strings stay references into the arena.
struct KeyValueReader {
    let arena: UnsafeRawBufferPointer

    init(arena: UnsafeRawBufferPointer) {
        self.arena = arena
    }

    /// A reader of the arena's bytes in `range` (a blob row or a dictionary entry).
    func reader(_ range: Range<Int>) -> ByteReader {
        ByteReader(arena, position: range.lowerBound).limited(to: range.upperBound)
    }

    /// `body`'s format error as an error of `column`.
    func wrap<T>(_ column: some SegmentColumn, _ body: () throws(FormatError) -> T) throws(ColumnError) -> T {
        do { return try body() } catch { throw ColumnError(column: column, error) }
    }

    /// Each row's scope: every distinct resource and scope blob of the block is decoded once
    /// into the batch's tables.
    func scopeIndices<Batch: OTLPBatch, Column: SegmentColumn>(_ owners: OwnerColumns<Column>, into batch: inout Batch) throws(ColumnError) -> [UInt32] {
        // The tables are taken out of the batch while they are filled, so each can be passed
        // inout on its own (a generic batch's properties cannot be accessed at the same time).
        var tables = OwnerTables(taking: &batch)
        defer { tables.put(into: &batch) }
        var scopeIndexByCodes: [Int: UInt32] = [:]
        var resourceIndexByCode: [Int: Int] = [:]
        var indices: [UInt32] = []
        indices.reserveCapacity(owners.scopes.codes.count)
        for (resourceCode, scopeCode) in zip(owners.resources.codes, owners.scopes.codes) {
            let key = resourceCode << 32 | scopeCode
            if let scope = scopeIndexByCodes[key] {
                indices.append(scope)
                continue
            }
            let resource: Int
            if let known = resourceIndexByCode[resourceCode] {
                resource = known
            } else {
                resource = try self.resource(owners.resources.entries[resourceCode], owners.resourceColumn, into: &tables)
                resourceIndexByCode[resourceCode] = resource
            }
            let scope = try self.scope(owners.scopes.entries[scopeCode], owners.scopeColumn, resource: resource, into: &tables)
            scopeIndexByCodes[key] = UInt32(scope)
            indices.append(UInt32(scope))
        }
        return indices
    }

    private func resource(_ ref: StringRef, _ column: some SegmentColumn, into tables: inout OwnerTables) throws(ColumnError) -> Int {
        try wrap(column) { () throws(FormatError) -> Int in
            var input = reader(ref.range)
            tables.resources.schemaURLs.append(try input.stringRef())
            tables.resources.droppedAttributeCounts.append(UInt32(truncatingIfNeeded: try input.varint()))
            tables.resources.attributes.append(try keyValues(&input, into: &tables.attributes, nested: &tables.nestedValues))
            try input.expectEnd()
            return tables.resources.count - 1
        }
    }

    private func scope(_ ref: StringRef, _ column: some SegmentColumn, resource: Int, into tables: inout OwnerTables) throws(ColumnError) -> Int {
        try wrap(column) { () throws(FormatError) -> Int in
            var input = reader(ref.range)
            tables.scopes.names.append(try input.stringRef())
            tables.scopes.versions.append(try input.stringRef())
            tables.scopes.schemaURLs.append(try input.stringRef())
            tables.scopes.droppedAttributeCounts.append(UInt32(truncatingIfNeeded: try input.varint()))
            tables.scopes.attributes.append(try keyValues(&input, into: &tables.attributes, nested: &tables.nestedValues))
            tables.scopes.resourceIndices.append(UInt32(resource))
            try input.expectEnd()
            return tables.scopes.count - 1
        }
    }

    /// A blob row holding one `key_values`, appended to `table`.
    func keyValues(_ range: Range<Int>, _ column: some SegmentColumn, into table: inout AttributeTable,
                   nested: inout AttributeTable) throws(ColumnError) -> RowRange {
        try wrap(column) { () throws(FormatError) -> RowRange in
            var input = reader(range)
            let rows = try keyValues(&input, into: &table, nested: &nested)
            try input.expectEnd()
            return rows
        }
    }

    /// A blob row holding one `value`.
    func value(_ range: Range<Int>, _ column: some SegmentColumn, nested: inout AttributeTable) throws(ColumnError) -> (ValueKind, UInt64) {
        try wrap(column) { () throws(FormatError) -> (ValueKind, UInt64) in
            var input = reader(range)
            let value = try value(try input.byte(), &input, nested: &nested)
            try input.expectEnd()
            return value
        }
    }

    func spanAttributes(_ range: Range<Int>, largeText: Range<Int>, into spans: inout SpanBatch) throws(ColumnError) -> RowRange {
        try wrap(SpanColumn.attributes) { () throws(FormatError) -> RowRange in
            var input = reader(range)
            var text = reader(largeText)
            let rows = try keyValues(&input, into: &spans.attributes, nested: &spans.nestedValues, largeText: &text)
            try input.expectEnd()
            try text.expectEnd()
            return rows
        }
    }

    func events(_ range: Range<Int>, start: UInt64, into spans: inout SpanBatch) throws(ColumnError) -> RowRange {
        guard !range.isEmpty else { return RowRange(start: spans.events.count, count: 0) }
        return try wrap(SpanColumn.events) { () throws(FormatError) -> RowRange in
            var input = reader(range)
            let first = spans.events.count
            let count = try input.count(atMost: range.count)
            for _ in 0..<count {
                spans.events.times.append(start &+ UInt64(bitPattern: try input.zigzag()))
                spans.events.names.append(try input.stringRef())
                spans.events.droppedAttributeCounts.append(UInt32(truncatingIfNeeded: try input.varint()))
                spans.events.attributes.append(try keyValues(&input, into: &spans.eventAttributes, nested: &spans.nestedValues))
            }
            try input.expectEnd()
            return RowRange(start: first, count: count)
        }
    }

    func links(_ range: Range<Int>, into spans: inout SpanBatch) throws(ColumnError) -> RowRange {
        guard !range.isEmpty else { return RowRange(start: spans.links.count, count: 0) }
        return try wrap(SpanColumn.links) { () throws(FormatError) -> RowRange in
            var input = reader(range)
            let first = spans.links.count
            let count = try input.count(atMost: range.count)
            for _ in 0..<count {
                spans.links.traceIDs.append(try input.traceID())
                spans.links.spanIDs.append(try input.fixed64())
                spans.links.traceStates.append(try input.stringRef())
                spans.links.flags.append(UInt32(truncatingIfNeeded: try input.varint()))
                spans.links.droppedAttributeCounts.append(UInt32(truncatingIfNeeded: try input.varint()))
                spans.links.attributes.append(try keyValues(&input, into: &spans.linkAttributes, nested: &spans.nestedValues))
            }
            try input.expectEnd()
            return RowRange(start: first, count: count)
        }
    }

    /// A key/value list appended to `table`; nested values go to `nested`.
    func keyValues(_ input: inout ByteReader, into table: inout AttributeTable, nested: inout AttributeTable) throws(FormatError) -> RowRange {
        var noText = ByteReader(arena, position: 0).limited(to: 0)
        return try keyValues(&input, into: &table, nested: &nested, largeText: &noText)
    }

    private func keyValues(_ input: inout ByteReader, into table: inout AttributeTable, nested: inout AttributeTable,
                           largeText: inout ByteReader) throws(FormatError) -> RowRange {
        let count = try input.count(atMost: input.remaining)
        let start = table.count
        for _ in 0..<count {
            let key = try input.stringRef()
            let kindByte = try input.byte()
            if kindByte == StoredValueKind.largeText {
                table.append(key: key, kind: .string, payload: try largeText.stringRef().packed)
            } else {
                let (kind, payload) = try value(kindByte, &input, nested: &nested)
                table.append(key: key, kind: kind, payload: payload)
            }
        }
        return RowRange(start: start, count: count)
    }

    /// Containers nested deeper are refused, exactly as the wire decoders refuse them (the
    /// check is on entering a container, so a leaf may sit one level below the last
    /// container): whatever ingest acknowledged stays readable, and recursion stays bounded.
    static let maxNesting = SpanBatch.maxValueNesting

    private func value(_ kindByte: UInt8, _ input: inout ByteReader, nested: inout AttributeTable, depth: Int = 0) throws(FormatError) -> (ValueKind, UInt64) {
        guard let kind = ValueKind(rawValue: kindByte) else { throw FormatError("unknown value kind \(kindByte)") }
        if kind == .array || kind == .keyValueList, depth >= Self.maxNesting {
            throw FormatError("values nested deeper than \(Self.maxNesting)")
        }
        switch kind {
        case .empty: return (kind, 0)
        case .string, .bytes: return (kind, try input.stringRef().packed)
        case .bool: return (kind, try input.byte() != 0 ? 1 : 0)
        case .int: return (kind, UInt64(bitPattern: try input.zigzag()))
        case .double: return (kind, try input.fixed64())
        case .array:
            let count = try input.count(atMost: input.remaining)
            let start = nested.reserveRows(count)
            for index in 0..<count {
                let (elementKind, payload) = try value(try input.byte(), &input, nested: &nested, depth: depth + 1)
                nested.set(row: start + index, KeyValueRow(key: .empty, kind: elementKind, payload: payload))
            }
            return (kind, RowRange(start: start, count: count).packed)
        case .keyValueList:
            let count = try input.count(atMost: input.remaining)
            let start = nested.reserveRows(count)
            for index in 0..<count {
                let key = try input.stringRef()
                let (elementKind, payload) = try value(try input.byte(), &input, nested: &nested, depth: depth + 1)
                nested.set(row: start + index, KeyValueRow(key: key, kind: elementKind, payload: payload))
            }
            return (kind, RowRange(start: start, count: count).packed)
        }
    }
}

extension ByteReader {
    /// This reader, ending at `end` of the same buffer.
    func limited(to end: Int) -> ByteReader {
        ByteReader(UnsafeRawBufferPointer(rebasing: buffer[0..<end]), position: position)
    }

    /// A length-prefixed string as a reference into the buffer (the arena).
    mutating func stringRef() throws(FormatError) -> StringRef {
        let range = try lengthPrefixed()
        return StringRef(offset: range.lowerBound, length: range.count)
    }

    func expectEnd() throws(FormatError) {
        guard isAtEnd else { throw FormatError("\(remaining) unexpected bytes") }
    }
}
