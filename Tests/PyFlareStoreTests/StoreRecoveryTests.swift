import Foundation
import Logging
import PyFlareModel
import PyFlareTesting
import PyFlareWire
import Synchronization
import Testing
@testable import PyFlareStore

/// Log lines, to see what recovery reports.
final class LogCapture: Sendable {
    let lines = Mutex<[String]>([])
    var text: String { lines.withLock { $0.joined(separator: "\n") } }
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        capture.lines.withLock { $0.append("\(event.level) \(event.message) \(fields)") }
    }
}

/// `SpanStore.open` brings the WAL, the segment files and the index back into agreement
/// after a crash at any point, losing no acknowledged span and storing none twice.
struct StoreRecoveryTests {
    let pricing = PricingTable.builtIn()

    func configuration(_ directory: TemporaryDirectory, blockRows: Int = 4) -> SpanStoreConfiguration {
        // Sealing only when asked: the background sealer never fires during a test.
        SpanStoreConfiguration(dataDirectory: directory.path, walSync: .never, segmentMaxAge: .seconds(3_600), blockRows: blockRows)
    }

    func open(_ directory: TemporaryDirectory, blockRows: Int = 4, log: LogCapture = LogCapture()) async throws -> SpanStore {
        try await SpanStore.open(configuration: configuration(directory, blockRows: blockRows), pricing: pricing,
                                 logger: Logger(label: "test") { _ in CapturingLogHandler(capture: log) })
    }

    /// Every span of `batches` by id, grouped by trace.
    func expectedTraces(_ batches: [NormalizedBatch]) -> [TraceID: [UInt64: String]] {
        var traces: [TraceID: [UInt64: String]] = [:]
        for batch in batches {
            for row in 0..<batch.count {
                traces[batch.spans.traceIDs[row], default: [:]][batch.spans.spanIDs[row]] = canonical(batch, row, pricing: pricing)
            }
        }
        return traces
    }

    /// Every trace of `batches` reads back from `store` whole, each span once.
    func expectStoreHolds(_ store: SpanStore, _ batches: [NormalizedBatch], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for (traceID, spans) in expectedTraces(batches) {
            let stored = try await store.trace(traceID)
            #expect(stored.warnings.isEmpty, "\(stored.warnings)", sourceLocation: sourceLocation)
            #expect(stored.spanCount == spans.count, "trace \(Hex.string(traceID))", sourceLocation: sourceLocation)
            #expect(canonicalBySpanID(stored.batches, pricing: pricing) == spans, "trace \(Hex.string(traceID))", sourceLocation: sourceLocation)
        }
    }

    /// The summaries' span counts, by trace: what double-stored spans would inflate.
    func spanCounts(_ store: SpanStore) async throws -> [TraceID: Int] {
        var query = TraceQuery()
        query.limit = 1_000
        return Dictionary(uniqueKeysWithValues: try await store.traces(query).map { ($0.traceID, $0.spanCount) })
    }

    func expectedSpanCounts(_ batches: [NormalizedBatch]) -> [TraceID: Int] {
        expectedTraces(batches).mapValues(\.count)
    }

    func names(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    /// A third batch, of traces the fixture does not have.
    func extraBatch() throws -> NormalizedBatch {
        try normalized([PResource(attributes: [("service.name", .string("later"))], scopes: [PScope(spans: [
            PSpan(traceID: .test(0x60), spanID: 0x601, name: "later root"),
            PSpan(traceID: .test(0x60), spanID: 0x602, parentSpanID: 0x601, name: "later child",
                  attributes: [("gen_ai.request.model", .string("gpt-4o")), ("gen_ai.usage.input_tokens", .int(3))]),
        ])])])
    }

    /// A data directory as a crash leaves it: WAL files of framed records, segment files, no index.
    func writeWAL(_ directory: TemporaryDirectory, firstSequence: UInt64, _ records: [[NormalizedBatch]], tail: [UInt8] = []) throws -> String {
        try FileManager.default.createDirectory(atPath: directory.path + "/wal", withIntermediateDirectories: true)
        var bytes: [UInt8] = []
        for (offset, batches) in records.enumerated() {
            WALRecord.frame(sequence: firstSequence + UInt64(offset), payload: WALPayload.encode(batches, pricing: pricing), into: &bytes)
        }
        let path = WriteAheadLog<[NormalizedBatch]>.path(directory: directory.path + "/wal", firstSequence: firstSequence)
        try writeFile(path, bytes + tail)
        return path
    }

    func writeSegment(_ directory: TemporaryDirectory, name: String, _ bytes: [UInt8]) throws -> String {
        try FileManager.default.createDirectory(atPath: directory.path + "/segments", withIntermediateDirectories: true)
        let path = directory.path + "/segments/" + name
        try writeFile(path, bytes)
        return path
    }

    // MARK: - Crashes of a running store

    @Test func acknowledgedSpansThatWereNeverSealedSurviveACrash() async throws {
        let directory = try TemporaryDirectory()
        let batches = try richBatches()
        let crashed = try await open(directory)
        try await crashed.write([batches[0]])
        try await crashed.write([batches[1]])
        #expect(crashed.unsealedSpanCount == 11)
        #expect(try await crashed.index.segments().isEmpty)
        // The process dies here: `crashed` is never closed (see the end of the test).

        let log = LogCapture()
        let store = try await open(directory, log: log)
        #expect(store.unsealedSpanCount == 11)
        #expect(try await store.index.segments().isEmpty)
        #expect(log.text.contains("replayed 2 WAL records (11 spans)"), "\(log.text)")
        try await expectStoreHolds(store, batches)

        // Sealed now, they are read from the segment, still each once.
        try await store.seal()
        #expect(store.unsealedSpanCount == 0)
        #expect(try await store.index.segments().map(\.state.rawValue) == ["active"])
        #expect(try await store.index.sealedSequence() == 2)
        try await expectStoreHolds(store, batches)
        #expect(try await spanCounts(store) == expectedSpanCounts(batches))

        // Sequence numbers go on after the recovered ones.
        let extra = try extraBatch()
        try await store.write([extra])
        #expect(WriteAheadLog<[NormalizedBatch]>.files(in: directory.path + "/wal").map(\.firstSequence).last == 3)
        try await store.close()

        let reopened = try await open(directory)
        #expect(reopened.unsealedSpanCount == 0)
        try await expectStoreHolds(reopened, batches + [extra])
        #expect(try await spanCounts(reopened) == expectedSpanCounts(batches + [extra]))
        #expect(try await reopened.index.segments().count == 2)
        try await reopened.close()

        // Stop the crashed store's sealer without letting it write: its directory is gone.
        directory.remove()
        try? await crashed.close()
    }

    @Test func aCrashAfterASealKeepsTheSegmentAndReplaysOnlyLaterRecords() async throws {
        let directory = try TemporaryDirectory()
        let batches = try richBatches()
        let crashed = try await open(directory)
        try await crashed.write([batches[0]])
        try await crashed.seal()
        try await crashed.write([batches[1]])
        // Crash.

        let store = try await open(directory)
        #expect(store.unsealedSpanCount == batches[1].count)
        #expect(try await store.index.segments().count == 1)
        // Trace t2 has a span in the segment (A4) and one in the replayed WAL (D1).
        #expect(try await store.trace(t2).spanCount == 2)
        try await expectStoreHolds(store, batches)
        try await store.close()
        let reopened = try await open(directory)
        try await expectStoreHolds(reopened, batches)
        #expect(try await spanCounts(reopened) == expectedSpanCounts(batches))
        try await reopened.close()

        directory.remove()
        try? await crashed.close()
    }

    @Test func aCleanCloseLeavesNothingToReplay() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let batches = try richBatches()
        let store = try await open(directory)
        try await store.write(batches)
        try await store.close()
        let log = LogCapture()
        let reopened = try await open(directory, log: log)
        #expect(reopened.unsealedSpanCount == 0)
        #expect(log.text.contains("recovery=clean"), "\(log.text)")
        try await expectStoreHolds(reopened, batches)
        #expect(try await spanCounts(reopened) == expectedSpanCounts(batches))
        try await reopened.close()
    }

    /// An exporter that lost a response sends the same spans again: they are stored once.
    @Test func resentSpansAreStoredOnce() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let batches = try richBatches()
        let store = try await open(directory)
        try await store.write([batches[0]])
        try await store.write([batches[0], batches[1]]) // the first batch again, in one seal
        try await store.seal()
        try await store.write([batches[1]]) // again, after its seal
        try await store.seal()
        try await expectStoreHolds(store, batches)
        #expect(try await spanCounts(store) == expectedSpanCounts(batches))
        let rows = try await store.index.segments()
        var stored = 0
        for row in rows { stored += try SegmentReader(path: directory.path + "/" + row.path).footer.rows }
        #expect(stored == 11)
        try await store.close()
    }

    // MARK: - Segments the index does not know

    /// The index is lost after a seal: the segment is adopted, and the WAL records it holds
    /// (still in the WAL's last file) are not replayed a second time.
    @Test func aSegmentMissingFromTheIndexIsAdoptedAndItsRecordsAreNotReplayed() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let batches = try richBatches()
        let first = try await open(directory)
        try await first.write([batches[0]])
        try await first.write([batches[1]])
        try await first.close()
        let segmentFiles = names(directory.path + "/segments")
        #expect(segmentFiles.count == 1)
        // The sealed records are still in the WAL, so replaying them would store them twice.
        #expect(try WriteAheadLog<[NormalizedBatch]>.recover(directory: directory.path + "/wal", after: 0).records.count == 2)

        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: directory.path + "/index.db" + suffix) }
        let log = LogCapture()
        let store = try await open(directory, log: log)
        #expect(store.unsealedSpanCount == 0)
        #expect(try await store.index.segments().map(\.path) == segmentFiles.map { "segments/" + $0 })
        #expect(try await store.index.segments().map(\.state.rawValue) == ["active"])
        #expect(try await store.index.sealedSequence() == 2)
        #expect(log.text.contains("indexed segments/\(segmentFiles[0]) (11 spans)"), "\(log.text)")
        #expect(!log.text.contains("replayed"), "\(log.text)")
        try await expectStoreHolds(store, batches)
        #expect(try await spanCounts(store) == expectedSpanCounts(batches))

        let extra = try extraBatch()
        try await store.write([extra])
        try await store.close()
        let reopened = try await open(directory)
        #expect(try await reopened.index.segments().count == 2)
        try await expectStoreHolds(reopened, batches + [extra])
        #expect(try await spanCounts(reopened) == expectedSpanCounts(batches + [extra]))
        try await reopened.close()
    }

    /// A crash between a segment's rename and the index commit: the segment holds WAL records
    /// 1...2, record 3 came later; a leftover temporary file and a duplicate segment lie around.
    @Test func aSegmentWrittenButNotIndexedIsAdoptedNotReplayedTwice() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let batches = try richBatches()
        let extra = try extraBatch()
        _ = try writeWAL(directory, firstSequence: 1, [[batches[0]], [batches[1]], [extra]])
        let segment = SegmentWriter(blockRows: 3, pricing: pricing).build(batches, walSequences: 1...2)
        _ = try writeSegment(directory, name: "0000000000000001-0000000000000002-00000001.seg", segment.bytes)
        // An older seal of record 1 alone, whose index commit was superseded: a duplicate.
        let duplicate = SegmentWriter(blockRows: 3, pricing: pricing).build([batches[0]], walSequences: 1...1)
        _ = try writeSegment(directory, name: "0000000000000002-0000000000000001-00000002.seg", duplicate.bytes)
        _ = try writeSegment(directory, name: SegmentNaming.temporaryPrefix + "0000000000000003-0000000000000003-00000003.seg", [1, 2, 3])

        let log = LogCapture()
        let store = try await open(directory, log: log)
        #expect(store.unsealedSpanCount == extra.count, "only record 3 is replayed")
        #expect(try await store.index.sealedSequence() == 2)
        #expect(try await store.index.segments().map(\.path) == ["segments/0000000000000001-0000000000000002-00000001.seg"])
        #expect(names(directory.path + "/segments") == ["0000000000000001-0000000000000002-00000001.seg"])
        #expect(names(directory.path + "/quarantine") == ["0000000000000002-0000000000000001-00000002.seg"])
        #expect(log.text.contains("deleted unfinished segment"), "\(log.text)")
        #expect(log.text.contains("quarantined duplicate"), "\(log.text)")
        #expect(log.text.contains("replayed 1 WAL records (\(extra.count) spans)"), "\(log.text)")
        try await expectStoreHolds(store, batches + [extra])
        #expect(try await spanCounts(store) == expectedSpanCounts(batches))
        try await store.close()

        let reopened = try await open(directory)
        #expect(reopened.unsealedSpanCount == 0)
        try await expectStoreHolds(reopened, batches + [extra])
        #expect(try await spanCounts(reopened) == expectedSpanCounts(batches + [extra]))
        try await reopened.close()
    }

    @Test func corruptUnindexedSegmentsAreQuarantinedAndTheirRecordsReplayed() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let batches = try richBatches()
        _ = try writeWAL(directory, firstSequence: 1, [[batches[0]], [batches[1]]])
        var built = SegmentWriter(blockRows: 3, pricing: pricing).build(batches, walSequences: 1...2)
        // A flipped byte in the last block's data: the footer verifies, the block does not.
        let chunk = built.footer.blocks.last!.chunks[5]
        built.bytes[chunk.offset + chunk.length / 2] ^= 0x08
        _ = try writeSegment(directory, name: "a.seg", built.bytes)
        _ = try writeSegment(directory, name: "b.seg", Array("not a segment at all".utf8))
        _ = try writeSegment(directory, name: "c.seg", Array(built.bytes.prefix(built.bytes.count / 2)))
        _ = try writeSegment(directory, name: "notes.txt", Array("left alone".utf8))

        let log = LogCapture()
        let store = try await open(directory, log: log)
        #expect(names(directory.path + "/quarantine") == ["a.seg", "b.seg", "c.seg"])
        #expect(names(directory.path + "/segments") == ["notes.txt"])
        #expect(try await store.index.segments().isEmpty)
        #expect(try await store.index.sealedSequence() == 0)
        #expect(log.text.contains("quarantined unindexed segments/a.seg"), "\(log.text)")
        #expect(log.text.contains("block \(built.footer.blocks.count - 1), column"), "the log names the bad block: \(log.text)")
        // Nothing is lost: the WAL still had the records.
        #expect(store.unsealedSpanCount == 11)
        try await expectStoreHolds(store, batches)
        try await store.close()
    }

    // MARK: - Indexed segments that changed on disk

    @Test func aMissingSegmentIsMarkedMissingAndFoundAgain() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let batches = try richBatches()
        let first = try await open(directory)
        try await first.write(batches)
        try await first.close()
        let name = try #require(names(directory.path + "/segments").first)
        let path = directory.path + "/segments/" + name
        let bytes = try readFile(path)
        try FileManager.default.removeItem(atPath: path)

        let log = LogCapture()
        let store = try await open(directory, log: log)
        #expect(try await store.index.segments().map(\.state.rawValue) == ["missing"])
        #expect(log.text.contains("marked missing segments/\(name)"), "\(log.text)")
        #expect(store.unsealedSpanCount == 0)
        // Its traces are still listed (the summaries stay) but have no readable spans.
        #expect(try await spanCounts(store) == expectedSpanCounts(batches))
        let trace = try await store.trace(t1)
        #expect(trace.spanCount == 0)
        #expect(!trace.warnings.isEmpty && trace.warnings.allSatisfy { $0.contains("segment \(name) is missing") }, "\(trace.warnings)")
        try await store.close()

        // Reopening while it is still missing changes nothing.
        let again = try await open(directory)
        #expect(try await again.index.segments().map(\.state.rawValue) == ["missing"])
        try await again.close()

        try writeFile(path, bytes)
        let restored = try await open(directory)
        #expect(try await restored.index.segments().map(\.state.rawValue) == ["active"])
        try await expectStoreHolds(restored, batches)
        try await restored.close()
    }

    @Test func anIndexedSegmentWhoseFooterBrokeIsQuarantined() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let batches = try richBatches()
        let first = try await open(directory)
        try await first.write(batches)
        try await first.close()
        let name = try #require(names(directory.path + "/segments").first)
        let path = directory.path + "/segments/" + name
        var bytes = try readFile(path)
        bytes[bytes.count - SegmentFooter.trailerLength - 3] ^= 0x01 // inside the footer
        try writeFile(path, bytes)

        let store = try await open(directory)
        #expect(try await store.index.segments().map(\.state.rawValue) == ["quarantined"])
        #expect(names(directory.path + "/quarantine") == [name])
        #expect(names(directory.path + "/segments").isEmpty)
        let trace = try await store.trace(t1)
        #expect(trace.spanCount == 0)
        #expect(!trace.warnings.isEmpty && trace.warnings.allSatisfy { $0.contains("segment \(name) is quarantined") }, "\(trace.warnings)")
        try await store.close()
        // Quarantined stays quarantined.
        let again = try await open(directory)
        #expect(try await again.index.segments().map(\.state.rawValue) == ["quarantined"])
        try await again.close()
    }

    @Test func aDamagedBlockOfAnIndexedSegmentIsAWarningAndTheOtherBlocksRead() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let batches = try richBatches()
        let first = try await open(directory, blockRows: 3)
        try await first.write(batches)
        try await first.close()
        let name = try #require(names(directory.path + "/segments").first)
        let path = directory.path + "/segments/" + name
        let reader = try SegmentReader(path: path)
        // Damage the block holding span A2 of trace t1, whose other spans lie in other blocks.
        let blocks = try reader.verify(pricing: pricing)
        let damaged = try #require(blocks.firstIndex { $0.spans.spanIDs.contains(0xA2) })
        let chunk = try #require(reader.footer.blocks[damaged].chunk(SpanColumn.name))
        var bytes = try readFile(path)
        bytes[chunk.offset] ^= 0xFF
        try writeFile(path, bytes)

        let store = try await open(directory, blockRows: 3)
        #expect(try await store.index.segments().map(\.state.rawValue) == ["active"], "the footer still verifies")
        let trace = try await store.trace(t1)
        #expect(trace.warnings.count == 1)
        #expect(trace.warnings.first?.contains("block \(damaged), column name") == true, "\(trace.warnings)")
        #expect(trace.warnings.first?.contains(name) == true)
        let expected = Set(expectedTraces(batches)[t1]!.keys)
        let intact = Set(blocks.enumerated().filter { $0.offset != damaged }.flatMap { block in
            zip(block.element.spans.spanIDs, block.element.spans.traceIDs).filter { $0.1 == t1 }.map(\.0)
        })
        #expect(!intact.isEmpty)
        #expect(Set(trace.batches.flatMap(\.spans.spanIDs)) == intact)
        #expect(intact.isSubset(of: expected) && intact.count < expected.count)
        try await store.close()
    }

    // MARK: - The WAL's tail

    @Test func aTornWALTailIsCutOffAndEarlierRecordsAreKept() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let batches = try richBatches()
        var torn: [UInt8] = []
        WALRecord.frame(sequence: 3, payload: WALPayload.encode([try extraBatch()], pricing: pricing), into: &torn)
        let path = try writeWAL(directory, firstSequence: 1, [[batches[0]], [batches[1]]], tail: Array(torn.prefix(torn.count / 2)))
        let whole = try readFile(path).count - torn.count / 2

        let log = LogCapture()
        let store = try await open(directory, log: log)
        #expect(store.unsealedSpanCount == 11)
        #expect(try readFile(path).count == whole, "the torn record is cut off")
        #expect(log.text.contains("cut \(torn.count / 2) bytes off \(path)"), "\(log.text)")
        try await expectStoreHolds(store, batches)
        #expect(try await store.trace(.test(0x60)).spanCount == 0)

        // The next record gets sequence 3 again, in a file of its own.
        let extra = try extraBatch()
        try await store.write([extra])
        #expect(WriteAheadLog<[NormalizedBatch]>.files(in: directory.path + "/wal").map(\.firstSequence) == [1, 3])
        try await store.close()
        let reopened = try await open(directory)
        #expect(reopened.unsealedSpanCount == 0)
        try await expectStoreHolds(reopened, batches + [extra])
        #expect(try await spanCounts(reopened) == expectedSpanCounts(batches + [extra]))
        try await reopened.close()
    }

    @Test func aCorruptRecordEndsTheReadableLog() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let batches = try richBatches()
        let path = try writeWAL(directory, firstSequence: 1, [[batches[0]], [batches[1]], [try extraBatch()]])
        var bytes = try readFile(path)
        let firstLength = WALRecord.headerLength + WALPayload.encode([batches[0]], pricing: pricing).count
        bytes[firstLength + WALRecord.headerLength + 10] ^= 0x01 // the second record's payload
        try writeFile(path, bytes)

        let store = try await open(directory)
        #expect(store.unsealedSpanCount == batches[0].count)
        #expect(try readFile(path).count == firstLength)
        try await expectStoreHolds(store, [batches[0]])
        try await store.close()
    }

    // MARK: - Files of another format version

    /// A WAL record that passes its checksum but does not decode is not skipped: start-up stops.
    @Test func aWALRecordOfAnotherVersionStopsStartUp() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let batches = try richBatches()
        var payload = WALPayload.encode([batches[0]], pricing: pricing)
        payload[0] = WALPayload.spansAsReceivedKind &+ 1  // a record kind this build does not know
        var bytes: [UInt8] = []
        WALRecord.frame(sequence: 1, payload: WALPayload.encode([batches[1]], pricing: pricing), into: &bytes)
        WALRecord.frame(sequence: 2, payload: payload, into: &bytes)
        try FileManager.default.createDirectory(atPath: directory.path + "/wal", withIntermediateDirectories: true)
        let path = WriteAheadLog<[NormalizedBatch]>.path(directory: directory.path + "/wal", firstSequence: 1)
        try writeFile(path, bytes)
        let error = await #expect(throws: StoreError.self) { try await open(directory) }
        #expect(error?.code == .unsupportedVersion)
        #expect(error?.message.contains("WAL record 2") == true)
        // The WAL is left as it was.
        #expect(try readFile(path) == bytes)
    }

    /// A segment of a format version this build does not read is neither quarantined nor indexed.
    @Test(arguments: [false, true])
    func aSegmentOfAnotherVersionStopsStartUp(indexed: Bool) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let batches = try richBatches()
        let path: String
        if indexed {
            let first = try await open(directory)
            try await first.write(batches)
            try await first.close()
            path = directory.path + "/segments/" + (try #require(names(directory.path + "/segments").first))
        } else {
            path = try writeSegment(directory, name: "future.seg", SegmentWriter(blockRows: 3, pricing: pricing).build(batches).bytes)
        }
        var bytes = try readFile(path)
        bytes[4] = 2
        bytes[bytes.count - SegmentFooter.trailerLength + 8] = 2
        try writeFile(path, bytes)
        let error = await #expect(throws: StoreError.self) { try await open(directory) }
        #expect(error?.code == .unsupportedVersion)
        #expect(fileExists(path))
        #expect(names(directory.path + "/quarantine").isEmpty)
    }
}
