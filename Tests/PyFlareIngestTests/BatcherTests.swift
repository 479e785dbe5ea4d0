import Logging
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing
@testable import PyFlareIngest
import PyFlareModel

/// Records what the batcher hands over; can be held shut to simulate a slow sink.
final class RecordingSink: SpanSink {
    private let state = Mutex<(flushes: [Int], closed: Bool)>(([], false))
    private let gate: AsyncStream<Void>
    private let gateContinuation: AsyncStream<Void>.Continuation
    let blocking: Bool

    init(blocking: Bool = false) {
        self.blocking = blocking
        (gate, gateContinuation) = AsyncStream.makeStream()
    }

    func write(_ batches: [NormalizedBatch]) async throws {
        if blocking { for await _ in gate { break } }
        let spans = batches.reduce(0) { $0 + $1.count }
        state.withLock { $0.flushes.append(spans) }
    }

    func release(_ writes: Int) { for _ in 0..<writes { gateContinuation.yield() } }
    func close() async throws { state.withLock { $0.closed = true } }
    var flushes: [Int] { state.withLock { $0.flushes } }
    var written: Int { flushes.reduce(0, +) }
    var closed: Bool { state.withLock { $0.closed } }
}

/// Polls until `condition` holds. The bound only stops a hung test: CPU-heavy suites running in
/// parallel can hold both cooperative threads for many seconds on a 2-core machine.
func eventually(_ timeout: Duration = .seconds(60), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}

struct BatcherTests {
    let metrics = IngestMetrics(samplerStrategy: "always_on")

    func batcher(_ sink: RecordingSink, maxBatch: Int = 100, interval: Duration = .seconds(60), maxQueued: Int = 10_000) -> Batcher {
        Batcher(configuration: .init(maxBatchSpans: maxBatch, flushInterval: interval, maxQueuedSpans: maxQueued, workers: 2),
                sink: sink, metrics: metrics, logger: Logger(label: "test"))
    }

    /// Submits each batch from its own task (a submitter waits for the write) and collects the results.
    func submitAll(_ batcher: Batcher, _ batches: [NormalizedBatch]) -> Task<[Batcher.SubmitResult], Never> {
        Task {
            await withTaskGroup(of: Batcher.SubmitResult.self) { group in
                for batch in batches { group.addTask { await batcher.submit(batch) } }
                return await group.reduce(into: []) { $0.append($1) }
            }
        }
    }

    @Test func flushesWhenTheBatchSizeIsReached() async throws {
        let sink = RecordingSink()
        let batcher = batcher(sink, maxBatch: 100)
        try await testGracefulShutdown { trigger in
            let run = Task { try await batcher.run() }
            let results = submitAll(batcher, (0..<4).map { _ in makeTraces(10, spansPerTrace: 3) })  // 120 spans
            #expect(await results.value == Array(repeating: .accepted, count: 4))
            #expect(sink.flushes == [120])
            #expect(batcher.heldSpans == 0)
            trigger.triggerGracefulShutdown()
            try await run.value
        }
    }

    @Test func flushesWhenTheOldestSpanHasWaitedTheInterval() async throws {
        let sink = RecordingSink()
        let batcher = batcher(sink, maxBatch: 1_000_000, interval: .milliseconds(50))
        try await testGracefulShutdown { trigger in
            let run = Task { try await batcher.run() }
            let started = ContinuousClock.now
            #expect(await batcher.submit(makeTraces(5)) == .accepted)
            #expect(started.duration(to: .now) >= .milliseconds(45))
            #expect(sink.written == 15)
            trigger.triggerGracefulShutdown()
            try await run.value
        }
    }

    @Test func withoutIntervalAnIdleWorkerWritesAtOnceAndGroupsFormWhileBusy() async throws {
        let sink = RecordingSink(blocking: true)
        let batcher = batcher(sink, maxBatch: 1_000_000, interval: .zero)
        try await testGracefulShutdown { trigger in
            let run = Task { try await batcher.run() }
            // Two workers take the first two submissions; the next five wait together.
            let first = submitAll(batcher, [makeTraces(1, seed: 1), makeTraces(1, seed: 2)])
            #expect(await eventually { batcher.heldSpans == 6 })
            let rest = submitAll(batcher, (3...7).map { makeTraces(1, seed: UInt64($0)) })
            #expect(await eventually { batcher.heldSpans == 21 })
            sink.release(3)
            #expect(await first.value == [.accepted, .accepted])
            #expect(await rest.value == Array(repeating: .accepted, count: 5))
            #expect(sink.flushes.sorted() == [3, 3, 15])
            trigger.triggerGracefulShutdown()
            try await run.value
        }
    }

    @Test func refusesWhenFullAndNeverDropsWhatItAccepted() async throws {
        let sink = RecordingSink(blocking: true)
        let batcher = batcher(sink, maxBatch: 30, maxQueued: 90)
        try await testGracefulShutdown { trigger in
            let run = Task { try await batcher.run() }
            let results = submitAll(batcher, (0..<10).map { _ in makeTraces(10, spansPerTrace: 3) })
            #expect(await eventually { batcher.heldSpans == 90 })
            sink.release(100)
            let outcomes = await results.value
            #expect(outcomes.filter { $0 == .accepted }.count == 3)
            #expect(outcomes.filter { $0 == .full }.count == 7)
            #expect(sink.written == 90)
            // Room again once written.
            #expect(await batcher.submit(makeTraces(10, spansPerTrace: 3)) == .accepted)
            trigger.triggerGracefulShutdown()
            try await run.value
            #expect(sink.written == 120)
        }
    }

    @Test func aFailedWriteIsReportedToEverySubmitter() async throws {
        let batcher = Batcher(configuration: .init(maxBatchSpans: 1_000_000, flushInterval: .zero, maxQueuedSpans: 1000, workers: 1),
                              sink: FailingSink(), metrics: metrics, logger: Logger(label: "test"))
        try await testGracefulShutdown { trigger in
            let run = Task { try await batcher.run() }
            let result = await batcher.submit(makeTraces(2))
            guard case .failed(let message) = result else {
                Issue.record("expected .failed, got \(result)")
                return
            }
            #expect(message.contains("disk full") && !message.contains("/data"), "\(message)")
            #expect(batcher.heldSpans == 0)
            trigger.triggerGracefulShutdown()
            try await run.value
        }
    }

    @Test func drainingWritesWhatWaitsWithoutWaitingForTheInterval() async throws {
        let sink = RecordingSink()
        let batcher = batcher(sink, maxBatch: 1_000_000, interval: .seconds(3600))
        try await testGracefulShutdown { trigger in
            let run = Task { try await batcher.run() }
            let results = submitAll(batcher, (1...3).map { makeTraces(10, seed: UInt64($0)) })
            #expect(await eventually { batcher.heldSpans == 90 })
            #expect(sink.written == 0)
            batcher.beginDraining()
            #expect(await results.value == Array(repeating: .accepted, count: 3))
            #expect(sink.written == 90)
            trigger.triggerGracefulShutdown()
            try await run.value
        }
    }

    @Test func gracefulShutdownDrainsEverythingAndClosesTheSink() async throws {
        let sink = RecordingSink()
        let batcher = batcher(sink, maxBatch: 1_000_000, interval: .seconds(3600))
        try await testGracefulShutdown { trigger in
            let run = Task { try await batcher.run() }
            let results = submitAll(batcher, (1...7).map { makeTraces(10, seed: UInt64($0)) })
            #expect(await eventually { batcher.heldSpans == 210 })
            #expect(sink.written == 0)
            trigger.triggerGracefulShutdown()
            try await run.value
            #expect(await results.value == Array(repeating: .accepted, count: 7))
            #expect(sink.written == 210)
            #expect(sink.closed)
            #expect(await batcher.submit(makeTraces(1)) == .closed)
        }
    }
}

/// A sink whose every write fails, like a full disk.
struct FailingSink: SpanSink {
    struct DiskFull: ClientDescribedError, CustomStringConvertible {
        var description: String { "disk full: /data/wal/00000001.wal" }
        var clientMessage: String { "disk full" }
    }
    func write(_ batches: [NormalizedBatch]) async throws { throw DiskFull() }
    func close() async throws {}
}
