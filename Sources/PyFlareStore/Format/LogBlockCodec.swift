import PyFlareWire

/// Encodes log records of batches into column chunks, one per ``LogColumn``, for log
/// segment blocks and WAL records.
struct LogBlockEncoder {
    let batches: [LogBatch]
    /// Reads the batches through references (see ``BatchView``).
    let writer: ColumnWriter<SignalBatchView<LogBatch>>

    init(_ batches: [LogBatch]) {
        self.batches = batches
        writer = ColumnWriter(views: batches.map { SignalBatchView($0, rowScopes: $0.scopeIndices) })
    }

    /// Every record of every batch, in order.
    var allRows: [RowAddress] { writer.allRows }

    func encode(_ rows: some Collection<RowAddress>) -> EncodedBlock {
        var block = BlockChunks<LogColumn>()
        block.set(.time, writer.deltas(rows) { $0.batch.times[$1] })
        block.set(.observedTime, writer.deltas(rows) { $0.batch.observedTimes[$1] })
        block.set(.severityNumber, writer.varints(rows) { UInt64($0.batch.severityNumbers[$1]) })
        block.set(.severityText, writer.strings(rows) { $0.batch.severityTexts[$1] })
        block.set(.body, writer.blobs(rows) { writer, row, out in
            writer.value(kind: writer.view.batch.bodies.kinds[row], payload: writer.view.batch.bodies.payloads[row], into: &out)
        })
        block.set(.attributes, writer.attributes(rows) { $0.batch.recordAttributes[$1] })
        block.set(.droppedAttributes, writer.varints(rows) { UInt64($0.batch.droppedAttributeCounts[$1]) }.bytes)
        block.set(.flags, writer.varints(rows) { UInt64($0.batch.flags[$1]) }.bytes)
        block.set(.traceID, writer.traceIDs(rows) { $0.batch.traceIDs[$1] })
        block.set(.spanID, writer.fixed64s(rows) { $0.batch.spanIDs[$1] })
        block.set(.eventName, writer.strings(rows) { $0.batch.eventNames[$1] })
        block.set(.resource, .scope, writer.resourcesAndScopes(rows))
        let service = writer.dictionary(rows) { $0.service(ofRow: $1) }
        block.set(.service, service)

        var low = UInt64.max, high = UInt64.min
        for address in rows {
            let time = writer.views[Int(address.batch)].batch.recordTime(Int(address.row))
            low = min(low, time)
            high = max(high, time)
        }
        return block.block(rows: rows.count, times: rows.isEmpty ? nil : low...high, services: service.sortedStrings(), models: [])
    }

    /// The segment's row order: service (rows without one first), record time, arrival.
    func sortedRows() -> [RowAddress] {
        let rows = allRows
        let services = writer.ranks(rows) { $0.service(ofRow: $1) }
        let times = rows.map { writer.views[Int($0.batch)].batch.recordTime(Int($0.row)) }
        return rows.indices.sorted { (services[$0], times[$0], $0) < (services[$1], times[$1], $1) }.map { rows[$0] }
    }
}

extension LogBatch {
    /// When record `row` happened: its time, or its observed time when the source gave none.
    func recordTime(_ row: Int) -> UInt64 { times[row] != 0 ? times[row] : observedTimes[row] }
}

extension BlockDecoder {
    /// The columns of a log block in `wanted` (every column when nil), back into a batch;
    /// strings point into the block's arena. Arrays of columns not read stay empty, so the
    /// batch's count is only meaningful when `time` was read: callers use ``rows``.
    consuming func decodeLogBatch(only wanted: Set<LogColumn>? = nil) throws(ColumnError) -> LogBatch {
        func wants(_ column: LogColumn) -> Bool { wanted?.contains(column) ?? true }
        var logs = LogBatch()
        if wants(.time) { logs.times = try deltas(LogColumn.time) }
        if wants(.observedTime) { logs.observedTimes = try deltas(LogColumn.observedTime) }
        if wants(.severityNumber) { logs.severityNumbers = try varints(LogColumn.severityNumber).map { UInt8(truncatingIfNeeded: $0) } }
        if wants(.severityText) { logs.severityTexts = try strings(LogColumn.severityText) }
        if wants(.droppedAttributes) {
            logs.droppedAttributeCounts = try varints(LogColumn.droppedAttributes).map { UInt32(truncatingIfNeeded: $0) }
        }
        if wants(.flags) { logs.flags = try varints(LogColumn.flags).map { UInt32(truncatingIfNeeded: $0) } }
        if wants(.traceID) { logs.traceIDs = try traceIDs(LogColumn.traceID) }
        if wants(.spanID) { logs.spanIDs = try fixed64s(LogColumn.spanID) }
        if wants(.eventName) { logs.eventNames = try strings(LogColumn.eventName) }
        // Derived from the resource; read only to check it.
        if wanted == nil { _ = try dictionary(LogColumn.service) }
        let owners = wants(.resource) ? try owners(resource: LogColumn.resource, scope: LogColumn.scope) : nil
        let bodies = wants(.body) ? try blobs(LogColumn.body) : nil
        let attributes = wants(.attributes) ? try blobs(LogColumn.attributes) : nil

        let rows = self.rows
        try finish(&logs) { reader, logs throws(ColumnError) in
            if let owners { logs.scopeIndices = try reader.scopeIndices(owners, into: &logs) }
            if let bodies {
                logs.bodies.reserveCapacity(rows)
                for row in 0..<rows {
                    let (kind, payload) = try reader.value(bodies[row], LogColumn.body, nested: &logs.nestedValues)
                    logs.bodies.append(key: .empty, kind: kind, payload: payload)
                }
            }
            if let attributes {
                logs.recordAttributes.reserveCapacity(rows)
                for row in 0..<rows {
                    logs.recordAttributes.append(try reader.keyValues(attributes[row], LogColumn.attributes,
                                                                      into: &logs.attributes, nested: &logs.nestedValues))
                }
            }
        }
        return logs
    }
}
