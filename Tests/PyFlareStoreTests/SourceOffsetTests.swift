import Foundation
import Logging
import PyFlareModel
import PyFlareTesting
import PyFlareWire
import Testing
@testable import PyFlareStore

/// Where a Kafka receiver read its requests from travels with their records: in the same WAL
/// record, then in the index with the segment, so the store can say after any crash exactly
/// which offsets it holds.
struct SourceOffsetTests {
    let pricing = PricingTable.builtIn()

    func configuration(_ directory: TemporaryDirectory) -> SpanStoreConfiguration {
        SpanStoreConfiguration(dataDirectory: directory.path, walSync: .never, segmentMaxAge: .seconds(3_600), blockRows: 4)
    }

    func open(_ directory: TemporaryDirectory) async throws -> SpanStore {
        try await SpanStore.open(configuration: configuration(directory), pricing: pricing, logger: Logger(label: "test"))
    }

    func batch(_ trace: UInt64, offsets: [SourceOffset]) throws -> NormalizedBatch {
        var batch = try normalized([PResource(attributes: [("service.name", .string("kafka"))], scopes: [PScope(spans: [
            PSpan(traceID: .test(trace), spanID: trace << 8 | 1, name: "root"),
            PSpan(traceID: .test(trace), spanID: trace << 8 | 2, parentSpanID: trace << 8 | 1, name: "child"),
        ])])])
        batch.sourceOffsets = offsets
        return batch
    }

    @Test func theLatestOffsetPerPartitionIsKept() {
        let latest = SourceOffset.latest([
            SourceOffset(topic: "b", partition: 0, offset: 7), SourceOffset(topic: "a", partition: 1, offset: 3),
            SourceOffset(topic: "a", partition: 1, offset: 9), SourceOffset(topic: "a", partition: 0, offset: 4),
            SourceOffset(topic: "a", partition: 1, offset: 5),
        ])
        #expect(latest == [SourceOffset(topic: "a", partition: 0, offset: 4), SourceOffset(topic: "a", partition: 1, offset: 9),
                           SourceOffset(topic: "b", partition: 0, offset: 7)])
    }

    @Test func walRecordsKeepTheirOffsetsForEverySignal() throws {
        let offsets = [SourceOffset(topic: "pyflare-spans", partition: 2, offset: 41), SourceOffset(topic: "pyflare-spans", partition: 0, offset: 1 << 40)]
        let spans = try batch(1, offsets: offsets)
        let decoded = try WALPayload.decode(ArraySlice(WALPayload.encode(.spans([spans]), pricing: pricing)), pricing: pricing)
        #expect(decoded.sourceOffsets == offsets)
        expectSameSpans(decoded.spanBatches, [spans], pricing: pricing)

        var logs = try LogBatch.decodeProtobuf(wireFixture("logs.pb"))
        logs.sourceOffsets = [SourceOffset(topic: "pyflare-logs", partition: Int32.max, offset: 0)]
        guard case .logs(let decodedLogs) = try WALPayload.decode(ArraySlice(WALPayload.encode(.logs(logs), pricing: pricing)), pricing: pricing) else {
            Issue.record("not a log entry")
            return
        }
        #expect(decodedLogs.sourceOffsets == logs.sourceOffsets)
        #expect(StoredLog.all([decodedLogs]) == StoredLog.all([logs]))

        var metrics = try MetricBatch.decodeProtobuf(wireFixture("metrics.pb"))
        metrics.sourceOffsets = [SourceOffset(topic: "pyflare-metrics", partition: 1, offset: 12)]
        guard case .metrics(let decodedMetrics) = try WALPayload.decode(ArraySlice(WALPayload.encode(.metrics(metrics), pricing: pricing)),
                                                                        pricing: pricing) else {
            Issue.record("not a metric entry")
            return
        }
        #expect(decodedMetrics.sourceOffsets == metrics.sourceOffsets)
        #expect(StoredPoint.all([decodedMetrics]) == StoredPoint.all([metrics]))
    }

    @Test func recordsWithoutOffsetsAreWrittenAsBefore() throws {
        let plain = try batch(2, offsets: [])
        #expect(WALPayload.encode(.spans([plain]), pricing: pricing) == WALPayload.encode([plain], pricing: pricing))
    }

    @Test func aTruncatedOffsetPrefixIsRefused() throws {
        let payload = WALPayload.encode(.spans([try batch(3, offsets: [SourceOffset(topic: "t", partition: 0, offset: 5)])]), pricing: pricing)
        #expect(throws: ColumnError.self) { try WALPayload.decode(payload.prefix(4), pricing: pricing) }
    }

    @Test func theStoreKnowsItsOffsetsUnsealedSealedAndAfterARestart() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var store = try await open(directory)
        #expect(try await store.sourceOffsets().isEmpty)
        try await store.write([try batch(4, offsets: [SourceOffset(topic: "s", partition: 0, offset: 10), SourceOffset(topic: "s", partition: 1, offset: 3)])])
        var metrics = try MetricBatch.decodeProtobuf(wireFixture("metrics.pb"))
        metrics.sourceOffsets = [SourceOffset(topic: "m", partition: 0, offset: 8)]
        try await store.writeMetrics(metrics)
        let first = [SourceOffset(topic: "m", partition: 0, offset: 8), SourceOffset(topic: "s", partition: 0, offset: 10),
                     SourceOffset(topic: "s", partition: 1, offset: 3)]
        #expect(try await store.sourceOffsets() == first, "from the unsealed records")

        try await store.seal()
        #expect(try await store.sourceOffsets() == first, "from the index")

        // Unsealed again, and a lower offset for a partition does not move it back.
        try await store.write([try batch(5, offsets: [SourceOffset(topic: "s", partition: 0, offset: 11)])])
        try await store.write([try batch(6, offsets: [SourceOffset(topic: "s", partition: 1, offset: 2)])])
        let second = [SourceOffset(topic: "m", partition: 0, offset: 8), SourceOffset(topic: "s", partition: 0, offset: 11),
                      SourceOffset(topic: "s", partition: 1, offset: 3)]
        #expect(try await store.sourceOffsets() == second)
        try await store.seal()
        #expect(try await store.sourceOffsets() == second)

        try await store.close()
        store = try await open(directory)
        #expect(try await store.sourceOffsets() == second, "after a restart, from the index")
        try await store.close()
    }

    @Test func recoveryReadsTheOffsetsOfRecordsOnlyInTheWAL() async throws {
        // A data directory as a crash leaves it: one WAL record, no segment, no index.
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.path + "/wal", withIntermediateDirectories: true)
        let offsets = [SourceOffset(topic: "s", partition: 1, offset: 20)]
        var bytes: [UInt8] = []
        WALRecord.frame(sequence: 1, payload: WALPayload.encode(.spans([try batch(7, offsets: offsets)]), pricing: pricing), into: &bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: WriteAheadLog<[NormalizedBatch]>.path(directory: directory.path + "/wal", firstSequence: 1)))

        var store = try await open(directory)
        #expect(try await store.sourceOffsets() == offsets)
        #expect(try await store.trace(.test(7)).spanCount == 2)
        try await store.close()
        store = try await open(directory)
        #expect(try await store.sourceOffsets() == offsets, "sealed at close, from the index")
        try await store.close()
    }
}
