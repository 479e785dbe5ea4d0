import PyFlareModel
import PyFlareWire

/// Encodes spans of normalized batches into column chunks, one per ``SpanColumn``.
///
/// The same encoding serves segment blocks and WAL records. Strings are read from the
/// batches' arenas and never become `String`s; each column is one pass over the rows.
struct BlockEncoder {
    let batches: [NormalizedBatch]
    /// Reads the batches through references (see ``BatchView``).
    let writer: ColumnWriter<SpanBatchView>
    /// The table the batches' price indices point into.
    let pricing: PricingTable

    init(_ batches: [NormalizedBatch], pricing: PricingTable) {
        self.batches = batches
        self.writer = ColumnWriter(views: batches.map(SpanBatchView.init))
        self.pricing = pricing
    }

    /// Every span of every batch, in order.
    var allRows: [RowAddress] { writer.allRows }

    func encode(_ rows: some Collection<RowAddress>) -> EncodedBlock {
        var block = BlockChunks<SpanColumn>()
        block.set(.traceID, writer.traceIDs(rows) { $0.batch.traceIDs[$1] })
        block.set(.spanID, writer.fixed64s(rows) { $0.batch.spanIDs[$1] })
        block.set(.parentSpanID, parentReferences(rows))
        block.set(.flags, writer.varints(rows) { UInt64($0.batch.flags[$1]) }.bytes)
        block.set(.kind, writer.varints(rows) { UInt64($0.batch.kinds[$1]) }.bytes)
        block.set(.statusCode, writer.varints(rows) { UInt64($0.batch.statusCodes[$1]) }.bytes)
        block.set(.droppedAttributes, writer.varints(rows) { UInt64($0.batch.droppedAttributeCounts[$1]) }.bytes)
        block.set(.droppedEvents, writer.varints(rows) { UInt64($0.batch.droppedEventCounts[$1]) }.bytes)
        block.set(.droppedLinks, writer.varints(rows) { UInt64($0.batch.droppedLinkCounts[$1]) }.bytes)
        block.set(.aiKind, writer.varints(rows) { UInt64($0.columns.kind[$1].rawValue) }.bytes)
        block.set(.costSource, writer.varints(rows) { UInt64($0.columns.costSource[$1].rawValue) }.bytes)

        let starts = writer.deltas(rows) { $0.batch.startTimes[$1] }
        block.set(.startTime, starts)
        block.set(.duration, writer.zigzags(rows) { Int64(bitPattern: $0.batch.endTimes[$1] &- $0.batch.startTimes[$1]) })

        block.set(.traceState, writer.strings(rows) { $0.batch.traceStates[$1] })
        block.set(.name, writer.strings(rows) { $0.batch.names[$1] })
        block.set(.statusMessage, writer.strings(rows) { $0.batch.statusMessages[$1] })
        let service = writer.dictionary(rows) { $0.columns.service[$1] }
        let model = writer.dictionary(rows) { $0.columns.model[$1] }
        block.set(.service, service)
        block.set(.model, model)
        block.set(.responseModel, writer.strings(rows) { $0.columns.responseModel[$1] })
        block.set(.provider, writer.strings(rows) { $0.columns.provider[$1] })
        block.set(.operation, writer.strings(rows) { $0.columns.operation[$1] })
        block.set(.user, writer.strings(rows) { $0.columns.user[$1] })
        block.set(.session, writer.strings(rows) { $0.columns.session[$1] })
        block.set(.feature, writer.strings(rows) { $0.columns.feature[$1] })
        block.set(.environment, writer.strings(rows) { $0.columns.environment[$1] })
        block.set(.priceModel, priceModels(rows))

        block.set(.inputTokens, writer.nullables(rows) { $0.columns.inputTokens[$1] })
        block.set(.outputTokens, writer.nullables(rows) { $0.columns.outputTokens[$1] })
        block.set(.cacheReadTokens, writer.nullables(rows) { $0.columns.cacheReadTokens[$1] })
        block.set(.cacheWriteTokens, writer.nullables(rows) { $0.columns.cacheWriteTokens[$1] })
        block.set(.reasoningTokens, writer.nullables(rows) { $0.columns.reasoningTokens[$1] })
        block.set(.totalTokens, writer.nullables(rows) { $0.columns.totalTokens[$1] })
        block.set(.costMicros, writer.nullables(rows) { $0.columns.costMicros[$1] })

        block.set(.resource, .scope, writer.resourcesAndScopes(rows))
        let (attributes, largeText) = spanAttributes(rows)
        block.set(.attributes, attributes)
        block.set(.largeText, largeText)
        block.set(.events, events(rows))
        block.set(.links, links(rows))

        return block.block(rows: rows.count, times: starts.stats.unsignedRange, services: service.sortedStrings(),
                           models: model.sortedStrings())
    }

    /// ``encode(_:)`` with the block's token filter, as seals and compactions write blocks.
    func encodeSearchable(_ rows: some Collection<RowAddress>) -> EncodedBlock {
        var block = encode(rows)
        block.chunks[Int(SpanColumn.textTokens.rawValue)] = tokenFilter(rows)
        return block
    }

    /// The words of every span of the block, as a ``TokenFilter``.
    private func tokenFilter(_ rows: some Collection<RowAddress>) -> [UInt8] {
        // Small to start: most words of a block repeat, and a table that stays in cache is fast.
        var words = DistinctHashes(capacity: 2048)
        // By batch, so each batch's tables are reached once, not once per row.
        var rowsByBatch: [Int: [Int]] = [:]
        for address in rows { rowsByBatch[Int(address.batch), default: []].append(Int(address.row)) }
        for (batch, batchRows) in rowsByBatch {
            let spans = writer.views[batch].batch
            spans.bytes.withUnsafeBytes { arena in
                let text = SpanText(batch: spans, arena: arena)
                for row in batchRows {
                    text.forEachString(ofSpan: row) { string in
                        TextTokens.forEach(in: string) { hash, _ in words.insert(hash) }
                    }
                }
            }
        }
        return TokenFilter(words: words).encoded
    }

    /// Each row's rank among the distinct services, for the segment's row order.
    func serviceRanks(_ rows: [RowAddress]) -> [Int] { writer.ranks(rows) { $0.columns.service[$1] } }

    // MARK: - Span columns

    /// A parent that is another row of the block is stored as that row's position.
    private func parentReferences(_ rows: some Collection<RowAddress>) -> [UInt8] {
        var positions: [SpanKey: Int] = [:]
        positions.reserveCapacity(rows.count)
        for (position, address) in rows.enumerated() {
            let view = writer.views[Int(address.batch)]
            positions[SpanKey(trace: view.batch.traceIDs[Int(address.row)], span: view.batch.spanIDs[Int(address.row)])] = position
        }
        var out = ByteWriter(capacity: rows.count * 2)
        for address in rows {
            let view = writer.views[Int(address.batch)]
            let parent = view.batch.parentSpanIDs[Int(address.row)]
            if parent == 0 {
                out.byte(0)
            } else if let position = positions[SpanKey(trace: view.batch.traceIDs[Int(address.row)], span: parent)] {
                out.varint(position + 2)
            } else {
                out.byte(1)
                out.fixed64(parent)
            }
        }
        return out.bytes
    }

    /// The name of the price used, so a stored span says which price its cost came from.
    private func priceModels(_ rows: some Collection<RowAddress>) -> ([UInt8], ColumnStats) {
        var dictionary = DictionaryBuilder(rows: rows.count)
        for address in rows {
            var name = writer.views[Int(address.batch)].columns.priceModel(Int(address.row)) ?? ""
            name.withUTF8 { dictionary.add(UnsafeRawBufferPointer($0)) }
        }
        return (dictionary.finish(), dictionary.stats)
    }

    /// Span attributes in wire order; large text values go to their own column, leaving a placeholder.
    private func spanAttributes(_ rows: some Collection<RowAddress>) -> ([UInt8], [UInt8]) {
        var attributes = BlobColumnBuilder(rows: rows.count)
        var text = BlobColumnBuilder(rows: rows.count)
        for address in rows {
            let view = writer.views[Int(address.batch)]
            view.batch.bytes.withUnsafeBytes { arena in
                KeyValueWriter(view: view, arena: arena).keyValues(
                    view.batch.spanAttributes[Int(address.row)], of: view.batch.attributes, into: &attributes.data, largeText: &text.data)
            }
            attributes.endRow()
            text.endRow()
        }
        return (attributes.finish(), text.finish())
    }

    private func events(_ rows: some Collection<RowAddress>) -> [UInt8] {
        writer.lists(rows, { $0.batch.spanEvents[$1] }) { writer, row, event, out in
            // Through the view, not a copy of the batch: see ``BatchView``.
            let view = writer.view
            out.zigzag(Int64(bitPattern: view.batch.events.times[event] &- view.batch.startTimes[row]))
            writer.string(view.batch.events.names[event], into: &out)
            out.varint(UInt64(view.batch.events.droppedAttributeCounts[event]))
            writer.keyValues(view.batch.events.attributes[event], of: view.batch.eventAttributes, into: &out)
        }
    }

    private func links(_ rows: some Collection<RowAddress>) -> [UInt8] {
        writer.lists(rows, { $0.batch.spanLinks[$1] }) { writer, _, link, out in
            let view = writer.view
            out.traceID(view.batch.links.traceIDs[link])
            out.fixed64(view.batch.links.spanIDs[link])
            writer.string(view.batch.links.traceStates[link], into: &out)
            out.varint(UInt64(view.batch.links.flags[link]))
            out.varint(UInt64(view.batch.links.droppedAttributeCounts[link]))
            writer.keyValues(view.batch.links.attributes[link], of: view.batch.linkAttributes, into: &out)
        }
    }
}

/// A normalized span batch behind a reference (see ``BatchView``).
final class SpanBatchView: BatchView {
    let batch: SpanBatch
    let columns: AIColumns

    init(_ normalized: NormalizedBatch) {
        batch = normalized.spans
        columns = normalized.columns
    }

    var rowCount: Int { batch.count }

    @inline(__always)
    func scope(ofRow row: Int) -> Int { Int(batch.scopeIndices[row]) }
}

/// A trace-qualified span id, to find a parent among a block's rows.
struct SpanKey: Hashable {
    var trace: TraceID
    var span: UInt64
}
