import Foundation
import Logging
import PyFlareModel
import PyFlareTesting
import PyFlareWire
import Testing
@testable import PyFlareStore

/// A store with a forwarder (the Kafka exporter next to the store) gives back every
/// acknowledged record from its WAL in order, keeps the WAL files until they are forwarded,
/// also across seals and restarts, and resumes after the last position it was told.
struct WALForwardingTests {
    let pricing = PricingTable.builtIn()

    func configuration(_ directory: TemporaryDirectory) -> SpanStoreConfiguration {
        var configuration = SpanStoreConfiguration(dataDirectory: directory.path, walSync: .never, segmentMaxAge: .seconds(3_600), blockRows: 4)
        configuration.forwardsRecords = true
        return configuration
    }

    func open(_ directory: TemporaryDirectory) async throws -> SpanStore {
        try await SpanStore.open(configuration: configuration(directory), pricing: pricing, logger: Logger(label: "test"))
    }

    func batch(_ trace: UInt64, padding: Int = 0) throws -> NormalizedBatch {
        try normalized([PResource(attributes: [("service.name", .string("forward"))], scopes: [PScope(spans: [
            PSpan(traceID: .test(trace), spanID: trace << 8 | 1, name: "span \(trace)",
                  attributes: padding > 0 ? [("pad", .string(String(repeating: "p", count: padding)))] : []),
        ])])])
    }

    func traces(of entries: [Unsealed.Entry]) -> [TraceID] {
        entries.flatMap(\.item.spanBatches).flatMap(\.spans.traceIDs)
    }

    /// Every record left to forward (a read returns at most one WAL file's).
    func drain(_ store: SpanStore) async throws -> [TraceID] {
        var all: [TraceID] = []
        while true {
            let records = try await store.recordsToForward(maxBytes: 1 << 20)
            if records.isEmpty { return all }
            all += traces(of: records)
        }
    }

    func walFiles(_ directory: TemporaryDirectory) -> Int {
        StoreDirectory.names(directory.path + "/wal").filter { $0.hasSuffix(".wal") }.count
    }

    @Test func recordsComeBackInOrderAndTheWALWaitsForTheForwarder() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var store = try await open(directory)
        #expect(store.takesProtobufOnly)
        for trace in 1...3 as ClosedRange<UInt64> { try await store.write([try batch(trace)]) }
        let first = try await store.recordsToForward(maxBytes: 1 << 20)
        #expect(traces(of: first) == [.test(1), .test(2), .test(3)])
        #expect(try await store.recordsToForward(maxBytes: 1 << 20).isEmpty, "caught up")

        // Sealed, but not forwarded: the seal keeps the WAL file.
        try await store.seal()
        for trace in 4...5 as ClosedRange<UInt64> { try await store.write([try batch(trace)]) }
        try await store.seal()
        #expect(walFiles(directory) >= 2)
        // Nothing was marked forwarded: after a restart everything comes back, sealed or not.
        try await store.close()
        store = try await open(directory)
        #expect(try await drain(store) == (1...5).map { TraceID.test($0) })

        // Forwarded up to trace 3's record: a restart resumes after it, and the files before it go.
        try await store.markForwarded(upTo: first.last!.sequence)
        try await store.close()
        store = try await open(directory)
        #expect(try await drain(store) == [.test(4), .test(5)])
        try await store.write([try batch(6)])
        #expect(traces(of: try await store.recordsToForward(maxBytes: 1 << 20)) == [.test(6)])
        let everything = try await store.recordsToForward(maxBytes: 1 << 20)
        #expect(everything.isEmpty)
        try await store.seal()
        try await store.markForwarded(upTo: UInt64.max >> 1)
        #expect(walFiles(directory) == 1, "sealed and forwarded: only the file being written is left")
        try await store.close()
    }

    @Test func aRecordLargerThanARead() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try await open(directory)
        for trace in 1...4 as ClosedRange<UInt64> { try await store.write([try batch(trace, padding: trace == 2 ? 3 << 20 : 0)]) }
        var seen: [TraceID] = []
        while true {
            let records = try await store.recordsToForward(maxBytes: 1)
            if records.isEmpty { break }
            seen += traces(of: records)
        }
        #expect(seen == (1...4).map { TraceID.test($0) })
        try await store.close()
    }
}
