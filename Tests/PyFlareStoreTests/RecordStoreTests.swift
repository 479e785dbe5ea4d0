import Foundation
import GRDB
import Logging
import PyFlareModel
import PyFlareTesting
import PyFlareWire
import Testing
@testable import PyFlareStore

/// Log records and metric points through the store: acknowledged, read from memory, sealed
/// into segments of their own kinds, read from there (never twice), and kept across a restart.
@Suite struct RecordStoreTests {
    let pricing = PricingTable.builtIn()

    func open(_ directory: TemporaryDirectory) async throws -> SpanStore {
        let configuration = SpanStoreConfiguration(dataDirectory: directory.path, walSync: .never,
                                                   segmentMaxAge: .seconds(3_600), blockRows: 2)
        return try await SpanStore.open(configuration: configuration, pricing: pricing, logger: Logger(label: "test"))
    }

    func fixtures() throws -> (logs: LogBatch, metrics: MetricBatch) {
        (try LogBatch.decodeProtobuf(wireFixture("logs.pb")), try MetricBatch.decodeProtobuf(wireFixture("metrics.pb")))
    }

    /// Every stored log record, in the order the store returns them (newest first).
    func storedLogs(_ store: SpanStore, _ query: LogQuery = LogQuery()) async throws -> [StoredLog] {
        var query = query
        query.limit = 10_000
        let page = try await store.logs(query)
        #expect(page.warnings.isEmpty)
        #expect(page.nextCursor == nil)
        return page.records.map { StoredLog(page.batches[$0.batch], $0.row) }
    }

    /// Every stored point, per metric name, whatever its batch holds besides.
    func storedPoints(_ store: SpanStore) async throws -> [String: [StoredPoint]] {
        var points: [String: [StoredPoint]] = [:]
        for row in try await store.metricNames() {
            let (batches, warnings) = try await store.metricBatches(name: row.name, since: nil, until: nil)
            #expect(warnings.isEmpty)
            points[row.name] = StoredPoint.all(batches).filter { $0.name == row.name }
        }
        return points
    }

    func expectedPoints(_ batches: [MetricBatch]) -> [String: [StoredPoint]] {
        Dictionary(grouping: StoredPoint.all(batches), by: \.name)
    }

    /// The same rows in any order.
    func expectSameRowSets<Row: Equatable & CustomStringConvertible>(_ actual: [Row], _ expected: [Row], _ context: String,
                                                                     sourceLocation: SourceLocation = #_sourceLocation) {
        expectSameRows(actual.sorted { "\($0)" < "\($1)" }, expected.sorted { "\($0)" < "\($1)" }, context,
                       sourceLocation: sourceLocation)
    }

    @Test func recordsAreReadFromMemoryThenFromSegmentsThenAfterAReopen() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (logs, metrics) = try fixtures()
        let spans = try richBatches()
        let store = try await open(directory)
        try await store.writeLogs(logs)
        try await store.writeLogs(logs)
        try await store.writeMetrics(metrics)
        try await store.write(spans)
        let expectedLogs = StoredLog.all([logs, logs])
        let expectedMetricPoints = expectedPoints([metrics])
        #expect(!expectedLogs.isEmpty && !expectedMetricPoints.isEmpty)

        func expectEverything(_ store: SpanStore, _ stage: String) async throws {
            expectSameRowSets(try await storedLogs(store), expectedLogs, "\(stage): logs")
            let points = try await storedPoints(store)
            #expect(points.keys.sorted() == expectedMetricPoints.keys.sorted(), "\(stage)")
            for (name, expected) in expectedMetricPoints {
                expectSameRowSets(points[name] ?? [], expected, "\(stage): \(name)")
            }
            let names = try await store.metricNames()
            #expect(names.map(\.pointCount).reduce(0, +) == metrics.count, "\(stage): point counts")
        }

        try await expectEverything(store, "in memory")
        try await store.seal()
        try await expectEverything(store, "sealed")
        let kinds = try await store.index.read("kinds") { db in
            try String.fetchAll(db, sql: "SELECT kind FROM segments ORDER BY kind")
        }
        #expect(kinds == ["logs", "metric_points", "spans"])
        try await store.close()

        let reopened = try await open(directory)
        try await expectEverything(reopened, "reopened")
        try await reopened.writeLogs(logs)
        expectSameRowSets(try await storedLogs(reopened), expectedLogs + StoredLog.all([logs]), "sealed plus memory")
        try await reopened.close()
    }

    @Test func logFiltersAndPagingSeeEveryRecordOnce() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (logs, _) = try fixtures()
        let store = try await open(directory)
        try await store.writeLogs(logs)
        try await store.seal()
        try await store.writeLogs(logs)  // the same records again, unsealed: stored twice, listed twice
        expectSameRowSets(try await storedLogs(store), StoredLog.all([logs, logs]), "all, one page")

        var query = LogQuery()
        query.limit = 1
        var paged: [StoredLog] = []
        for _ in 0..<100 {
            let page = try await store.logs(query)
            paged += page.records.map { StoredLog(page.batches[$0.batch], $0.row) }
            guard let cursor = page.nextCursor else { break }
            query.cursor = cursor
        }
        expectSameRowSets(paged, StoredLog.all([logs, logs]), "paged one by one")
        let times = paged.map { $0.time != 0 ? $0.time : $0.observedTime }
        #expect(times == times.sorted(by: >), "newest first")

        let traced = StoredLog.all([logs]).filter { $0.traceID != .zero }
        let traceID = try #require(traced.first?.traceID)
        var byTrace = LogQuery()
        byTrace.traceID = traceID
        expectSameRowSets(try await storedLogs(store, byTrace), (traced + traced).filter { $0.traceID == traceID }, "by trace")

        var severe = LogQuery()
        severe.minSeverity = 17
        expectSameRowSets(try await storedLogs(store, severe), StoredLog.all([logs, logs]).filter { $0.severityNumber >= 17 },
                          "severity ≥ 17")
        try await store.close()
    }
}
