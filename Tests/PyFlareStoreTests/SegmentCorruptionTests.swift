import Foundation
import PyFlareModel
import PyFlareTesting
import PyFlareWire
import Testing
@testable import PyFlareStore

/// Damaged segment files are refused with `.corrupt` (or `.unsupportedVersion`), naming
/// the file, block and column; the intact blocks stay readable; nothing crashes.
struct SegmentCorruptionTests {
    let pricing = PricingTable.builtIn()

    /// Five spans in three blocks.
    func smallSegment() throws -> (built: BuiltSegment, batches: [NormalizedBatch]) {
        var spans: [PSpan] = []
        for index in 0..<5 {
            spans.append(PSpan(traceID: .test(UInt64(index % 2) + 1), spanID: 0x10 + UInt64(index),
                               parentSpanID: index >= 2 ? 0x10 : 0, name: "span-\(index)",
                               start: baseTime + UInt64(index) * 1_000, end: baseTime + UInt64(index) * 2_000,
                               attributes: [("gen_ai.request.model", .string("gpt-4o")), ("gen_ai.usage.input_tokens", .int(Int64(index))),
                                            ("gen_ai.input.messages", .string("prompt \(index)")), ("n", .double(Double(index)))],
                               events: index == 1 ? [PEvent(time: baseTime, name: "e", attributes: [("k", .int(1))])] : [],
                               links: index == 2 ? [PLink(traceID: .test(9), spanID: 9, traceState: "a=b")] : []))
        }
        let batch = try normalized([PResource(attributes: [("service.name", .string("small"))], scopes: [PScope(name: "s", spans: spans)])])
        return (SegmentWriter(blockRows: 2, pricing: pricing).build([batch], walSequences: 1...1), [batch])
    }

    func trailerOffset(_ bytes: [UInt8]) -> Int { bytes.count - SegmentFooter.trailerLength }

    func footerRange(_ bytes: [UInt8]) -> Range<Int> {
        let trailer = trailerOffset(bytes)
        let length = Int(bytes[trailer]) | Int(bytes[trailer + 1]) << 8 | Int(bytes[trailer + 2]) << 16 | Int(bytes[trailer + 3]) << 24
        return (trailer - length)..<trailer
    }

    @Test func aFlippedByteInAnyChunkFailsThatBlockOnlyNamingBlockColumnAndFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (built, batches) = try smallSegment()
        let footer = built.footer
        #expect(footer.blocks.count == 3)
        let path = directory.path + "/flipped.seg"
        let expected = canonicalBySpanID(batches)
        var checked = 0
        for (blockIndex, block) in footer.blocks.enumerated() {
            for chunk in block.chunks {
                let column = try #require(SpanColumn(rawValue: chunk.column))
                for position in Set([chunk.offset, chunk.offset + chunk.length / 2, chunk.offset + chunk.length - 1]) {
                    var bytes = built.bytes
                    bytes[position] ^= 0x40
                    try writeFile(path, bytes)
                    let reader = try SegmentReader(path: path)
                    #expect(reader.footer == footer)
                    let error = storeError { try reader.batch(block: blockIndex, pricing: pricing) }
                    #expect(error?.code == .corrupt, "block \(blockIndex) column \(column.name) byte \(position)")
                    #expect(error?.message.contains("block \(blockIndex)") == true, "\(String(describing: error))")
                    #expect(error?.message.contains("column \(column.name)") == true, "\(String(describing: error))")
                    #expect(error?.path == path)
                    #expect(error?.description.contains(path) == true)
                    // Reading other columns of the block still works.
                    let others = SpanColumn.allCases.filter { $0 != column }
                    #expect(storeError { try reader.readBlock(blockIndex, columns: others) } == nil)
                    // The other blocks are intact.
                    for other in footer.blocks.indices where other != blockIndex {
                        let batch = try reader.batch(block: other, pricing: pricing)
                        for row in 0..<batch.count { #expect(canonical(batch, row) == expected[batch.spans.spanIDs[row]]) }
                    }
                    #expect(storeError { try reader.verify(pricing: pricing) }?.code == .corrupt)
                    checked += 1
                }
            }
        }
        #expect(checked >= 3 * SpanColumn.allCases.count)
    }

    @Test func aFlippedByteInTheFooterFailsTheOpen() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (built, _) = try smallSegment()
        let path = directory.path + "/footer.seg"
        let footer = footerRange(built.bytes)
        #expect(footer.count > 100)
        for position in footer {
            var bytes = built.bytes
            bytes[position] ^= 0x01
            try writeFile(path, bytes)
            let error = storeError { try SegmentReader(path: path) }
            #expect(error?.code == .corrupt, "footer byte \(position - footer.lowerBound)")
            #expect(error?.message.contains("footer") == true)
            #expect(error?.path == path)
        }
    }

    @Test func theTrailerAndHeaderAreChecked() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (built, _) = try smallSegment()
        let path = directory.path + "/trailer.seg"
        let trailer = trailerOffset(built.bytes)
        func open(_ change: (inout [UInt8]) -> Void) throws -> StoreError? {
            var bytes = built.bytes
            change(&bytes)
            try writeFile(path, bytes)
            return storeError { try SegmentReader(path: path) }
        }
        #expect(try open { _ in } == nil)
        // Footer length and checksum.
        for offset in 0..<8 { #expect(try open { $0[trailer + offset] ^= 0x10 }?.code == .corrupt, "trailer byte \(offset)") }
        #expect(try open { $0[trailer + 3] = 0xFF }?.message.contains("does not fit") == true)
        // Magic at both ends.
        for offset in 0..<4 {
            #expect(try open { $0[offset] ^= 0x20 }?.code == .corrupt, "header magic \(offset)")
            #expect(try open { $0[trailer + 12 + offset] ^= 0x20 }?.code == .corrupt, "trailer magic \(offset)")
        }
        // The version in the header, the trailer, or both.
        for (header, trailerVersion) in [(2, 1), (1, 2), (2, 2), (0, 0), (0x101, 0x101)] as [(UInt16, UInt16)] {
            let error = try open { bytes in
                bytes[4] = UInt8(header & 0xFF); bytes[5] = UInt8(header >> 8)
                bytes[trailer + 8] = UInt8(trailerVersion & 0xFF); bytes[trailer + 9] = UInt8(trailerVersion >> 8)
            }
            #expect(error?.code == .unsupportedVersion, "header v\(header), trailer v\(trailerVersion)")
            #expect(error?.message.contains("version \(header)") == true)
            #expect(error?.path == path)
        }
    }

    @Test func aTruncatedFileIsRefusedAtEveryLength() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (built, _) = try smallSegment()
        let path = directory.path + "/truncated.seg"
        for length in 0..<built.bytes.count {
            try writeFile(path, Array(built.bytes[0..<length]))
            let error = storeError { try SegmentReader(path: path) }
            #expect(error?.code == .corrupt, "length \(length)")
        }
        // The file shrinks after it was opened: the read of a block fails, it does not crash.
        try writeFile(path, built.bytes)
        let reader = try SegmentReader(path: path)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(built.footer.blocks[1].chunks[0].offset))
        try handle.close()
        #expect(storeError { try reader.batch(block: 0, pricing: pricing) } == nil)
        let error = storeError { try reader.batch(block: 2, pricing: pricing) }
        #expect(error?.code == .corrupt)
        #expect(error?.message.contains("block 2") == true)
        #expect(storeError { try reader.readBlock(3) }?.code == .corrupt)
    }

    @Test func missingAndEmptyFiles() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let missing = storeError { try SegmentReader(path: directory.path + "/nope.seg") }
        #expect(missing?.code == .io)
        #expect(missing?.errno == ENOENT)
        try writeFile(directory.path + "/empty.seg", [])
        #expect(storeError { try SegmentReader(path: directory.path + "/empty.seg") }?.code == .corrupt)
    }

    /// Every single-byte change anywhere in the file: an error, or (reserved bytes) the same spans.
    @Test func anySingleByteChangeIsAnErrorOrHarmlessNeverACrash() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (built, batches) = try smallSegment()
        let expected = canonicalBySpanID(batches)
        let path = directory.path + "/any.seg"
        // Chunk bytes are checksummed before anything reads them (every chunk byte is flipped in
        // the test above); here every third one is, and every byte of header, footer and trailer.
        let firstFooterByte = footerRange(built.bytes).lowerBound
        let positions = built.bytes.indices.filter { $0 < SegmentFooter.headerLength || $0 >= firstFooterByte || $0 % 3 == 0 }
        var harmless: [Int] = []
        for position in positions {
            var bytes = built.bytes
            bytes[position] ^= 0xA5
            try writeFile(path, bytes)
            do throws(StoreError) {
                let batches = try SegmentReader(path: path).verify(pricing: pricing)
                #expect(canonicalBySpanID(batches) == expected, "byte \(position) changed the spans without an error")
                harmless.append(position)
            } catch {
                #expect(error.code == .corrupt || error.code == .unsupportedVersion, "byte \(position): \(error)")
            }
        }
        // Only the reserved bytes of the trailer are not checked (the header's bytes 6–7 are the kind).
        let trailer = trailerOffset(built.bytes)
        #expect(harmless == [trailer + 10, trailer + 11])
    }
}

/// The block decoder refuses malformed chunks (as a bug or a hostile file would make them,
/// with valid checksums) with an error naming the column.
struct BlockDecoderRobustnessTests {
    let pricing = PricingTable.builtIn()

    func mutations(of chunk: [UInt8], random: inout SeededGenerator) -> [(String, [UInt8])] {
        var result: [(String, [UInt8])] = [
            ("empty", []),
            ("half", Array(chunk.prefix(chunk.count / 2))),
            ("all but the last byte", Array(chunk.dropLast())),
            ("one byte more", chunk + [0]),
            ("0x00", [UInt8](repeating: 0, count: chunk.count)),
            ("0xFF", [UInt8](repeating: 0xFF, count: chunk.count)),
            ("random", (0..<chunk.count).map { _ in UInt8.random(in: 0...255, using: &random) }),
        ]
        if !chunk.isEmpty {
            for _ in 0..<8 {
                var flipped = chunk
                flipped[Int.random(in: 0..<chunk.count, using: &random)] ^= UInt8.random(in: 1...255, using: &random)
                result.append(("flipped", flipped))
            }
        }
        return result
    }

    /// Columns whose errors surface as another column's: large text is read with the attributes.
    func accepted(_ column: SpanColumn) -> Set<String?> {
        column == .largeText ? [SpanColumn.largeText.name, SpanColumn.attributes.name] : [column.name]
    }

    @Test func malformedChunksAreErrorsNamingTheColumn() throws {
        let batches = try richBatches()
        let encoder = BlockEncoder(batches, pricing: pricing)
        let block = encoder.encodeSearchable(encoder.allRows)
        var random = SeededGenerator(seed: 42)
        for column in SpanColumn.allCases {
            let chunk = try #require(block.chunks[Int(column.rawValue)])
            for (what, mutated) in mutations(of: chunk, random: &random) {
                var damaged = block
                damaged.chunks[Int(column.rawValue)] = mutated
                do {
                    _ = try BlockDecoder(damaged).decodeBatch(pricing: pricing)
                } catch {
                    #expect(accepted(column).contains(error.columnName), "\(column.name), \(what): \(error)")
                }
            }
            // Without the chunk at all: an error, but for the token filter, which WAL records
            // and segments written before it existed do not have.
            var missing = block
            missing.chunks[Int(column.rawValue)] = nil
            if column == .textTokens {
                #expect(throws: Never.self) { try BlockDecoder(missing).decodeBatch(pricing: pricing) }
                continue
            }
            let error = #expect(throws: ColumnError.self) { try BlockDecoder(missing).decodeBatch(pricing: pricing) }
            #expect(error?.columnName == column.name)
        }
    }

    @Test func malformedWALPayloadsAreErrors() throws {
        let batches = try richBatches()
        let payload = WALPayload.encode(batches, pricing: pricing)
        #expect(throws: ColumnError.self) { try WALPayload.decode([], pricing: pricing) }
        #expect(throws: ColumnError.self) { try WALPayload.decode(payload.dropLast(), pricing: pricing) }
        #expect(throws: ColumnError.self) { try WALPayload.decode(payload[...] + [0], pricing: pricing) }
        for length in stride(from: 0, to: 120, by: 1) {
            #expect(throws: ColumnError.self, "length \(length)") { try WALPayload.decode(payload[0..<length], pricing: pricing) }
        }
    }

    /// A trace id chunk claiming no distinct ids for a block of rows (once a trap:
    /// `count(atMost: distinct - 1)` with -1).
    @Test func traceIDChunkWithNoDistinctIDs() throws {
        let batches = try richBatches()
        let encoder = BlockEncoder(batches, pricing: pricing)
        var block = encoder.encode(encoder.allRows)
        block.chunks[Int(SpanColumn.traceID.rawValue)] = [UInt8](repeating: 0, count: 40)
        let error = #expect(throws: ColumnError.self) { try BlockDecoder(block).decodeBatch(pricing: pricing) }
        #expect(error?.columnName == SpanColumn.traceID.name)
    }

    /// An attributes chunk of arrays nested 200,000 deep (the wire decoder stops at 64).
    @Test
    func deeplyNestedValuesAreRefused() throws {
        let batch = try normalized([PResource(scopes: [PScope(spans: [PSpan(traceID: .test(1), spanID: 1)])])])
        let encoder = BlockEncoder([batch], pricing: pricing)
        var block = encoder.encode(encoder.allRows)
        let depth = 200_000
        var body = ByteWriter()
        body.varint(1) // one attribute
        body.varint(1) // key length
        body.byte(UInt8(ascii: "k"))
        for _ in 0..<depth {
            body.byte(ValueKind.array.rawValue)
            body.varint(1)
        }
        body.byte(ValueKind.empty.rawValue)
        var chunk = ByteWriter()
        chunk.varint(body.count)
        chunk.append(body.bytes)
        block.chunks[Int(SpanColumn.attributes.rawValue)] = chunk.bytes
        let error = #expect(throws: ColumnError.self) { try BlockDecoder(block).decodeBatch(pricing: pricing) }
        #expect(error?.columnName == SpanColumn.attributes.name)
    }
}
