import Foundation
import PyFlareModel
import PyFlareTesting
import PyFlareWire
import Testing
@testable import PyFlareStore

/// The stored form of spans keeps every field: segment files (several blocks), WAL
/// payloads and the block codec both share.
struct SegmentFormatTests {
    let pricing = PricingTable.builtIn()

    /// The segment's blocks as batches, read back from a file.
    func writeAndRead(_ built: BuiltSegment, in directory: TemporaryDirectory) throws -> (SegmentReader, [NormalizedBatch]) {
        let path = directory.path + "/test.seg"
        try writeFile(path, built.bytes)
        let reader = try SegmentReader(path: path)
        var batches: [NormalizedBatch] = []
        for block in reader.footer.blocks.indices { batches.append(try reader.batch(block: block, pricing: pricing)) }
        return (reader, batches)
    }

    /// The parent-reference tags of a block: 0 none, 1 an id outside the block, n ≥ 2 row n − 2.
    func parentTags(_ decoder: BlockDecoder) throws -> [UInt64] {
        let range = try #require(decoder.ranges[Int(SpanColumn.parentSpanID.rawValue)])
        let rows = decoder.rows
        return try decoder.arena.withBytes { raw throws(FormatError) -> [UInt64] in
            var reader = ByteReader(UnsafeRawBufferPointer(rebasing: raw[range]))
            var tags: [UInt64] = []
            for _ in 0..<rows {
                let tag = try reader.varint()
                tags.append(tag)
                if tag == 1 { _ = try reader.fixed64() }
            }
            return tags
        }
    }

    @Test func fixtureCoversWhatItClaims() throws {
        let batches = try richBatches()
        #expect(batches.map(\.count) == [8, 3])
        #expect(batches[0].spans.resources.count == 3)
        #expect(batches[0].spans.scopes.count == 4)
        #expect(batches[0].spans.events.count == 3)
        #expect(batches[0].spans.links.count == 2)
        let columns = batches[0].columns
        let a2 = try #require(batches[0].spans.spanIDs.firstIndex(of: 0xA2))
        #expect(columns.costSource[a2] == .pricing)
        #expect(columns.costMicros[a2] != nil)
        #expect(columns.priceIndex[a2] >= 0)
        let a3 = try #require(batches[0].spans.spanIDs.firstIndex(of: 0xA3))
        #expect(columns.costMicros[a3] == nil)
        #expect(columns.inputTokens[a3] == 10)
        #expect(columns.kind[a3] == .retriever)
        let a4 = try #require(batches[0].spans.spanIDs.firstIndex(of: 0xA4))
        #expect(columns.costSource[a4] == .span)
        #expect(columns.costMicros[a4] == 1234)
        #expect(batches[1].columns.costMicros[1] == 250_000)
        #expect(batches[1].columns.inputTokens[2] == 12)
        // Every nullable column holds both a value and a null somewhere.
        let all = batches.flatMap { batch in (0..<batch.count).map { (batch.columns, $0) } }
        for (name, column) in [("input", \AIColumns.inputTokens), ("output", \.outputTokens), ("cache_read", \.cacheReadTokens),
                               ("cache_write", \.cacheWriteTokens), ("reasoning", \.reasoningTokens), ("total", \.totalTokens),
                               ("cost", \.costMicros)] {
            #expect(all.contains { $0.0[keyPath: column][$0.1] == nil }, "\(name) has a null")
            #expect(all.contains { $0.0[keyPath: column][$0.1] != nil }, "\(name) has a value")
        }
    }

    @Test func segmentRoundTripKeepsEveryFieldOfEverySpan() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let batches = try richBatches()
        let built = SegmentWriter(blockRows: 3, pricing: pricing).build(batches, walSequences: 7...9)
        let (reader, decoded) = try writeAndRead(built, in: directory)

        #expect(reader.footer == built.footer)
        #expect(reader.footer.rows == 11)
        #expect(reader.footer.blocks.count == 4)
        #expect(reader.footer.blocks.map(\.rows) == [3, 3, 3, 2])
        #expect(reader.footer.firstWALSequence == 7)
        #expect(reader.footer.lastWALSequence == 9)
        #expect(reader.fileLength == built.bytes.count)
        expectSameSpans(decoded, batches)

        // Zone maps and the trace index describe the blocks as they are.
        var blocksOfTrace: [TraceID: [Int]] = [:]
        for (index, (block, batch)) in zip(reader.footer.blocks, decoded).enumerated() {
            #expect(block.rows == batch.count)
            #expect(block.minStartTime == batch.spans.startTimes.min())
            #expect(block.maxStartTime == batch.spans.startTimes.max())
            let services = Set(batch.columns.service.filter { !$0.isEmpty }.map { batch.spans.string($0) })
            let models = Set(batch.columns.model.filter { !$0.isEmpty }.map { batch.spans.string($0) })
            #expect(block.services == services.sorted(), "block \(index)")
            #expect(block.models == models.sorted(), "block \(index)")
            let start = try #require(block.chunk(SpanColumn.startTime))
            #expect(start.min == withUnsafeBytes(of: block.minStartTime.littleEndian) { Array($0) })
            #expect(start.max == withUnsafeBytes(of: block.maxStartTime.littleEndian) { Array($0) })
            #expect(Set(block.chunks.map(\.column)) == Set(SpanColumn.allCases.map(\.rawValue)))
            for traceID in Set(batch.spans.traceIDs) { blocksOfTrace[traceID, default: []].append(index) }
        }
        #expect(built.traceBlocks.count == blocksOfTrace.count)
        for (traceID, blocks) in built.traceBlocks { #expect(blocksOfTrace[traceID] == blocks, "trace \(Hex.string(traceID))") }

        // Rows are sorted by service, so a trace's spans are split across blocks: the fixture
        // has parents in the same block and parents in other blocks.
        var tags: [UInt64] = []
        for block in reader.footer.blocks.indices { tags += try parentTags(reader.readBlock(block)) }
        #expect(tags.contains(0))
        #expect(tags.contains(1))
        #expect(tags.contains { $0 >= 2 })
    }

    @Test func segmentWithOneBlockPerSpanAndWithOneBlock() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let batches = try richBatches()
        for blockRows in [1, 2, 1024] {
            let built = SegmentWriter(blockRows: blockRows, pricing: pricing).build(batches)
            let (reader, decoded) = try writeAndRead(built, in: directory)
            #expect(reader.footer.blocks.count == (11 + blockRows - 1) / blockRows)
            #expect(reader.footer.firstWALSequence == 0 && reader.footer.lastWALSequence == 0)
            expectSameSpans(decoded, batches)
        }
    }

    @Test func largeTextGoesToItsOwnColumnAndComesBackInPlace() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let batches = try richBatches()
        let a2 = try #require(batches[0].spans.spanIDs.firstIndex(of: 0xA2))
        let expected = richResourcesA()[0].scopes[0].spans[1].attributes

        // The wire decoder keeps the attributes as sent…
        let spans = batches[0].spans
        #expect(render(pairs: spans.keyValues(in: spans.attributes, spans.spanAttributes[a2])) == render(pairs: expected.map { (key: $0.0, value: $0.1) }))

        // …the encoder moves large ones to large_text…
        let encoder = BlockEncoder(batches, pricing: pricing)
        let block = encoder.encode([RowAddress(batch: 0, row: UInt32(a2))])
        let attributes = try #require(block.chunks[Int(SpanColumn.attributes.rawValue)])
        let largeText = try #require(block.chunks[Int(SpanColumn.largeText.rawValue)])
        for moved in [longText, mediumText, "[{\"role\":\"user\",\"content\":\"hi\"}]", "plain input", "flattened prompt", "flattened-output-zq",
                      "[{\"role\":\"assistant\",\"content\":\"hello\"}]", longText + "!"] {
            #expect(contains(largeText, Array(moved.utf8)), "\(moved.prefix(20)) is in large_text")
            #expect(!contains(attributes, Array(moved.utf8)), "\(moved.prefix(20)) is not in attributes")
        }
        for kept in ["short-inline-value", String(repeating: "z", count: 255), "prefix only: not large", "gpt-4o"] {
            #expect(contains(attributes, Array(kept.utf8)), "\(kept.prefix(20)) stays in attributes")
            #expect(!contains(largeText, Array(kept.utf8)), "\(kept.prefix(20)) is not in large_text")
        }
        // Large text of events, links and nested values stays where it is.
        let a1Block = encoder.encode([RowAddress(batch: 0, row: UInt32(try #require(spans.spanIDs.firstIndex(of: 0xA1))))])
        #expect(a1Block.chunks[Int(SpanColumn.largeText.rawValue)]!.allSatisfy { $0 == 0 })
        #expect(contains(a1Block.chunks[Int(SpanColumn.events.rawValue)]!, Array(longText.utf8)))
        #expect(contains(a1Block.chunks[Int(SpanColumn.attributes.rawValue)]!, Array(longText.utf8)))

        // …and every value comes back at its original position.
        let built = SegmentWriter(blockRows: 3, pricing: pricing).build(batches)
        let (_, decoded) = try writeAndRead(built, in: directory)
        let (batch, row) = try #require(decoded.lazy.compactMap { batch in batch.spans.spanIDs.firstIndex(of: 0xA2).map { (batch, $0) } }.first)
        #expect(render(pairs: batch.spans.keyValues(in: batch.spans.attributes, batch.spans.spanAttributes[row])) == render(pairs: expected.map { (key: $0.0, value: $0.1) }))
    }

    @Test func blockEncoderToDecoderInAnyRowOrder() throws {
        let batches = try richBatches()
        let encoder = BlockEncoder(batches, pricing: pricing)
        let all = encoder.allRows
        for rows in [all, all.reversed(), all.enumerated().filter { $0.offset % 2 == 0 }.map(\.element), [all[3]]] {
            let block = encoder.encode(rows)
            #expect(block.rows == rows.count)
            let decoded = try BlockDecoder(block).decodeBatch(pricing: pricing)
            #expect(decoded.count == rows.count)
            #expect(decoded.spans.spanIDs == rows.map { batches[Int($0.batch)].spans.spanIDs[Int($0.row)] })
            for (position, address) in rows.enumerated() {
                let batch = batches[Int(address.batch)]
                #expect(canonical(decoded, position) == canonical(batch, Int(address.row)))
                #expect(jsonLine(decoded, position) == jsonLine(batch, Int(address.row)))
            }
        }
    }

    @Test func walPayloadRoundTripKeepsOrderAndEveryField() throws {
        let batches = try richBatches()
        let payload = WALPayload.encode(batches, pricing: pricing)
        #expect(payload.first == WALPayload.spansAsReceivedKind)
        let decoded = try WALPayload.decode(payload[...], pricing: pricing)
        try expectSameSpansInOrder(decoded.spanBatches, batches)
        // A payload inside a larger buffer (as WAL recovery hands it over).
        let framed = [1, 2, 3] + payload + [4]
        let sliced = try WALPayload.decode(framed[3..<(3 + payload.count)], pricing: pricing)
        #expect(canonicalBySpanID(sliced.spanBatches) == canonicalBySpanID(batches))
    }

    /// Requests are kept as received with the ids of the spans the sampler kept; batches
    /// not decoded from protobuf (OTLP/JSON, the telemetry API) are kept as columns.
    @Test func walPayloadKeepsSampledRequestsAndOtherBatchesAsColumns() throws {
        var batches = try richBatches()
        let allProtobuf = batches.allSatisfy { $0.spans.arenaIsProtobufRequest }
        #expect(allProtobuf)
        batches[0].retain((0..<batches[0].count).map { $0 % 3 != 1 })
        batches[1].spans.arenaIsProtobufRequest = false
        let payload = WALPayload.encode(batches, pricing: pricing)
        // The first request travels whole, the second as its compressed columns.
        #expect(contains(payload, batches[0].spans.bytes))
        #expect(!contains(payload, batches[1].spans.bytes))
        try expectSameSpansInOrder(try WALPayload.decode(payload[...], pricing: pricing).spanBatches, batches)
        // Records written before kind 4 (one block of columns) are still read.
        let columns = WALPayload.encodeColumns(batches, pricing: pricing)
        #expect(columns.first == WALPayload.spansKind)
        try expectSameSpansInOrder(try WALPayload.decode(columns[...], pricing: pricing).spanBatches, batches)
    }

    @Test func aWALRequestWhoseKeptSpansAreNotInItIsAnError() throws {
        var batch = try richBatches()[0]
        var payload = WALPayload.encode([batch], pricing: pricing)
        // The last kept span id no longer matches any span of the request.
        payload[payload.count - 1] ^= 0xFF
        #expect(throws: ColumnError.self) { try WALPayload.decode(payload[...], pricing: pricing) }
        batch.spans.bytes.removeLast(batch.spans.bytes.count / 2)
        payload = WALPayload.encode([batch], pricing: pricing)
        #expect(throws: ColumnError.self) { try WALPayload.decode(payload[...], pricing: pricing) }
    }

    private func expectSameSpansInOrder(_ decoded: [NormalizedBatch], _ batches: [NormalizedBatch],
                                        sourceLocation: SourceLocation = #_sourceLocation) throws {
        let rows = decoded.flatMap { batch in (0..<batch.count).map { (batch, $0) } }
        let expected = batches.flatMap { batch in (0..<batch.count).map { (batch, $0) } }
        #expect(rows.count == expected.count, sourceLocation: sourceLocation)
        for ((decodedBatch, row), (batch, expectedRow)) in zip(rows, expected) {
            #expect(canonical(decodedBatch, row) == canonical(batch, expectedRow), sourceLocation: sourceLocation)
            #expect(jsonLine(decodedBatch, row) == jsonLine(batch, expectedRow), sourceLocation: sourceLocation)
        }
    }

    @Test func readsOnlyTheColumnsAskedFor() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let batches = try richBatches()
        let built = SegmentWriter(blockRows: 4, pricing: pricing).build(batches)
        let (reader, decoded) = try writeAndRead(built, in: directory)
        let partial = try reader.readBlock(1, columns: [SpanColumn.traceID, .spanID])
        #expect(partial.has(SpanColumn.traceID) && partial.has(SpanColumn.spanID))
        #expect(!partial.has(SpanColumn.name) && !partial.has(SpanColumn.attributes))
        #expect(try partial.fixed64s(SpanColumn.spanID) == decoded[1].spans.spanIDs)
        #expect(try partial.traceIDs() == decoded[1].spans.traceIDs)
        let error = #expect(throws: ColumnError.self) { try partial.decodeBatch(pricing: pricing) }
        #expect(error?.columnName == SpanColumn.parentSpanID.name)
        #expect(error?.description.contains("parent_span_id") == true)
    }

    @Test func anEmptySegmentRoundTrips() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let built = SegmentWriter(blockRows: 3, pricing: pricing).build([])
        let (reader, decoded) = try writeAndRead(built, in: directory)
        #expect(reader.footer.rows == 0 && reader.footer.blocks.isEmpty && decoded.isEmpty)
        #expect(built.traceBlocks.isEmpty && built.summaries.isEmpty)
        #expect(built.bytes.count == SegmentFooter.headerLength + built.footer.encoded(SpanColumn.self).count + SegmentFooter.trailerLength)
    }

    /// Nullable columns store zigzag(value) + 1: every Int64 survives, except Int64.min, which is
    /// stored as Int64.min + 1 (its code would be the null code).
    @Test func nullableColumnsKeepExtremeValues() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let values: [Int64] = [0, 1, -1, 1 << 40, -(1 << 40), .max, .min + 1, .min]
        var spans: [PSpan] = []
        for (index, value) in values.enumerated() {
            // One span per trace, no model: nothing sums or prices these values.
            spans.append(PSpan(traceID: .test(100 + UInt64(index)), spanID: 0x100 + UInt64(index),
                               start: index == 0 ? UnixTime.latestUnsigned : UInt64(index), end: index == 0 ? 0 : UInt64(index) * 7,
                               attributes: [("gen_ai.usage.input_tokens", .int(value)), ("gen_ai.usage.reasoning_tokens", .int(value)),
                                            ("pyflare.cost.micros", .int(value))]))
        }
        let batch = try normalized([PResource(attributes: [("service.name", .string("extremes"))], scopes: [PScope(spans: spans)])])
        #expect(batch.columns.inputTokens == values.map { Optional($0) })
        #expect(batch.columns.costMicros == values.map { Optional($0) })

        let block = try BlockDecoder(BlockEncoder([batch], pricing: pricing).encode(BlockEncoder([batch], pricing: pricing).allRows))
            .decodeBatch(pricing: pricing)
        let stored = values.map { Optional(max($0, .min + 1)) }
        #expect(block.columns.inputTokens == stored, "block codec")
        #expect(block.columns.reasoningTokens == stored, "block codec")
        #expect(block.columns.costMicros == stored, "block codec")
        #expect(block.spans.startTimes == batch.spans.startTimes)
        #expect(block.spans.endTimes == batch.spans.endTimes)

        let (_, decoded) = try writeAndRead(SegmentWriter(blockRows: 3, pricing: pricing).build([batch]), in: directory)
        let segmentValues = decoded.flatMap { $0.columns.inputTokens }.compactMap { $0 }.sorted()
        #expect(segmentValues == stored.compactMap { $0 }.sorted(), "segment")
    }
}

/// Client-supplied numbers that normalization must survive before anything is stored
/// (PyFlareModel; found while testing the store, reproduced here).
struct NormalizationOverflowTests {
    @Test
    func inputPlusOutputTokensDoNotTrap() throws {
        let batch = try normalized([PResource(scopes: [PScope(spans: [
            PSpan(traceID: .test(0x92), spanID: 1, attributes: [("gen_ai.usage.input_tokens", .int(.max)), ("gen_ai.usage.output_tokens", .int(1))]),
        ])])])
        #expect(batch.count == 1)
    }

    @Test
    func hugeTokenCountsOfAPricedModelDoNotTrap() throws {
        let batch = try normalized([PResource(scopes: [PScope(spans: [
            PSpan(traceID: .test(0x93), spanID: 1, attributes: [("gen_ai.request.model", .string("gpt-4o")),
                                                                ("gen_ai.usage.input_tokens", .int(1 << 62))]),
        ])])])
        #expect(batch.count == 1)
    }
}
