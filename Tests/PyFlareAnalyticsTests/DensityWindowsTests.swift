import Foundation
import Logging
import PyFlareModel
import PyFlareSQL
import PyFlareStore
import PyFlareTesting
import PyFlareWire
import Testing
@testable import PyFlareAnalytics

/// Windows bounded by the records they hold: a dense burst is cut into windows of at most the
/// budget, a sparse stretch of days stays one window, the windows cover the range exactly, and
/// records too close together to split share a window instead of looping.
struct DensityWindowsTests {
    static let counting = """
        SELECT start_time_ns AS t FROM spans WHERE status = 'error' AND start_time_ns >= :start AND start_time_ns < :end
        """

    /// Writes spans at `times` (errors where `error` holds), the first half sealed into a segment.
    func store(_ directory: TemporaryDirectory, _ spans: [(time: Int64, error: Bool)]) async throws -> SpanStore {
        let store = try await SpanStore.open(configuration: SpanStoreConfiguration(dataDirectory: directory.path, walSync: .never),
                                             pricing: .builtIn(), logger: Logger(label: "test"))
        var random = SeededGenerator(seed: 3)
        for (part, slice) in [spans[..<(spans.count / 2)], spans[(spans.count / 2)...]].enumerated() {
            var builder = OTLPPayloadBuilder()
            for span in slice {
                var written = OTLPPayloadBuilder.Span(traceID: random.traceID(), spanID: random.next() | 1)
                written.startTime = UInt64(span.time)
                written.endTime = written.startTime + 1_000
                if span.error { written.statusCode = 2 }
                builder.add(written)
            }
            try await store.write([SpanNormalizer(pricing: .builtIn()).normalize(try SpanBatch.decodeProtobuf(builder.payload()))])
            if part == 0 { try await store.seal() }
        }
        return store
    }

    func context(_ store: SpanStore) -> JobContext {
        JobContext(pool: store.indexPool, engine: store.sqlEngine(limits: SQLLimits()), now: Int64(baseTime) + 100 * UnixTime.hour,
                   settings: SchedulerSettings(), logger: Logger(label: "test"))
    }

    func expectCover(_ windows: [Range<Int64>], _ range: Range<Int64>) {
        #expect(windows.first?.lowerBound == range.lowerBound && windows.last?.upperBound == range.upperBound)
        #expect(zip(windows, windows.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound && !$0.isEmpty })
    }

    @Test func aBurstIsCutToTheBudgetAndQuietDaysStayWhole() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let start = Int64(baseTime)
        // 2,000 failures and 1,000 successes within 0.3 s, then one failure an hour for 50 hours.
        var spans = (0..<3_000).map { (time: start + Int64($0) * 100_000, error: $0 % 3 != 2) }
        spans += (1...50).map { (time: start + Int64($0) * UnixTime.hour, error: true) }
        let store = try await store(directory, spans)
        let range = start..<(start + 51 * UnixTime.hour)
        let windows = try await DensityWindows(counting: Self.counting, budget: 300).windows(range, context(store))

        expectCover(windows, range)
        let failures = spans.filter(\.error).map(\.time)
        let held = windows.map { window in failures.count { window.contains($0) } }
        #expect(held.allSatisfy { $0 <= 300 })
        #expect(held.reduce(0, +) == failures.count)
        // Seven windows hold the burst's 2,000 at most; the quiet 50 hours join one or two more.
        #expect(windows.count <= 10, "\(held)")
        try await store.close()
    }

    @Test func recordsCloserThanTheFinestBucketShareAWindow() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let start = Int64(baseTime)
        let store = try await store(directory, (0..<400).map { (time: start + Int64($0 % 4), error: true) })
        let range = start..<(start + UnixTime.day)
        let windows = try await DensityWindows(counting: Self.counting, budget: 50).windows(range, context(store))
        expectCover(windows, range)
        #expect(windows.contains { $0.contains(start) && $0.contains(start + 3) })
        try await store.close()
    }

    @Test func anEmptyRangeIsOneWindow() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let start = Int64(baseTime)
        let store = try await store(directory, [(time: start, error: false), (time: start + 1, error: false)])
        let range = start..<(start + UnixTime.hour)
        #expect(try await DensityWindows(counting: Self.counting, budget: 10).windows(range, context(store)) == [range])
        try await store.close()
    }
}
