import Foundation
import Logging
import PyFlareModel
import PyFlareTesting
import PyFlareWire
import Testing
@testable import PyFlareStore

/// The trace list merges the index's summaries with those of the unsealed spans. A seal that
/// commits while a list is being read moves spans from one to the other; the list must show
/// each trace once and fully all the same.
struct LiveTraceListTests {
    let pricing = PricingTable.builtIn()

    func batch(_ trace: UInt64) throws -> NormalizedBatch {
        try normalized([PResource(attributes: [("service.name", .string("list"))], scopes: [PScope(spans: [
            PSpan(traceID: .test(trace), spanID: trace << 8 | 1, name: "root", start: baseTime + trace),
            PSpan(traceID: .test(trace), spanID: trace << 8 | 2, parentSpanID: trace << 8 | 1, name: "child", start: baseTime + trace),
        ])])])
    }

    @Test func aSealDuringAListNeitherLosesNorDoublesATrace() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try await SpanStore.open(
            configuration: SpanStoreConfiguration(dataDirectory: directory.path, walSync: .never, segmentMaxAge: .seconds(3_600), blockRows: 4),
            pricing: pricing, logger: Logger(label: "test"))
        let query = { var query = TraceQuery(); query.limit = 1_000; return query }()
        var problems: [String] = []
        for trace in 1...40 as ClosedRange<UInt64> {
            try await store.write([try batch(trace)])
            // Lists read back to back while the seal of the newest trace runs: one of them
            // straddles the seal's commit.
            let lists = try await withThrowingTaskGroup(of: [[TraceSummaryRow]].self) { group in
                group.addTask { try await store.seal(); return [] }
                group.addTask {
                    var lists: [[TraceSummaryRow]] = []
                    for _ in 0..<40 { lists.append(try await store.liveTraces(query)) }
                    return lists
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            for rows in lists {
                if rows.count != Int(trace) { problems.append("after trace \(trace): \(rows.count) traces listed") }
                if let row = rows.first(where: { $0.spanCount != 2 }) { problems.append("after trace \(trace): \(row.spanCount) spans counted for one") }
            }
        }
        #expect(problems.isEmpty, "\(problems.prefix(5)) (\(problems.count) lists wrong)")
        try await store.close()
    }
}
