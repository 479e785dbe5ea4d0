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

func eventually(_ timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
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

    @Test func flushesWhenTheBatchSizeIsReached() async throws {
        let sink = RecordingSink()
        let batcher = batcher(sink, maxBatch: 100)
        try await testGracefulShutdown { trigger in
            let run = Task { try await batcher.run() }
            for _ in 0..<4 { #expect(batcher.submit(makeTraces(10, spansPerTrace: 3)) == .accepted) }  // 120 spans
            #expect(await eventually { sink.flushes == [120] })
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
            #expect(batcher.submit(makeTraces(5)) == .accepted)
            #expect(await eventually { sink.written == 15 })
            trigger.triggerGracefulShutdown()
            try await run.value
        }
    }

    @Test func refusesWhenFullAndNeverDropsWhatItAccepted() async throws {
        let sink = RecordingSink(blocking: true)
        let batcher = batcher(sink, maxBatch: 30, maxQueued: 90)
        try await testGracefulShutdown { trigger in
            let run = Task { try await batcher.run() }
            var accepted = 0
            var refused = 0
            for _ in 0..<10 {
                switch batcher.submit(makeTraces(10, spansPerTrace: 3)) {
                case .accepted: accepted += 30
                case .full: refused += 30
                case .closed: Issue.record("closed too early")
                }
            }
            #expect(accepted == 90)
            #expect(refused == 210)
            sink.release(100)
            #expect(await eventually { sink.written == 90 })
            // Room again once written.
            #expect(batcher.submit(makeTraces(10, spansPerTrace: 3)) == .accepted)
            trigger.triggerGracefulShutdown()
            try await run.value
            #expect(sink.written == 120)
        }
    }

    @Test func gracefulShutdownDrainsEverythingAndClosesTheSink() async throws {
        let sink = RecordingSink()
        let batcher = batcher(sink, maxBatch: 1_000_000, interval: .seconds(3600))
        try await testGracefulShutdown { trigger in
            let run = Task { try await batcher.run() }
            for seed in 1...7 { #expect(batcher.submit(makeTraces(10, seed: UInt64(seed))) == .accepted) }
            try await Task.sleep(for: .milliseconds(20))
            #expect(sink.written == 0)
            trigger.triggerGracefulShutdown()
            try await run.value
            #expect(sink.written == 210)
            #expect(sink.closed)
            #expect(batcher.submit(makeTraces(1)) == .closed)
        }
    }
}
