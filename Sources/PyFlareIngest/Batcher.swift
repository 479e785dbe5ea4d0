import CoreMetrics
import Logging
import PyFlareWire
import Synchronization
public import PyFlareModel
public import ServiceLifecycle

/// Groups accepted spans and hands them to the sink, from several workers.
///
/// Capacity is counted in spans, from acceptance until the sink has written them, so a
/// slow sink fills the queue and the receivers push back (429) instead of anything
/// being dropped. On graceful shutdown the batcher stops accepting, flushes what it
/// holds, waits for the workers, and closes the sink.
public final class Batcher: Service, Sendable {
    public enum SubmitResult: Sendable, Equatable {
        case accepted
        /// The queue has no room for the batch; retry later.
        case full
        /// The batcher is shutting down.
        case closed
    }

    public let configuration: BatcherConfiguration
    private let sink: any SpanSink
    private let metrics: IngestMetrics
    private let logger: Logger
    private let state = Mutex(BatcherState())

    public init(configuration: BatcherConfiguration, sink: any SpanSink, metrics: IngestMetrics, logger: Logger) {
        self.configuration = configuration
        self.sink = sink
        self.metrics = metrics
        self.logger = logger
    }

    /// Queues `batch` if there is room. Never waits.
    public func submit(_ batch: NormalizedBatch) -> SubmitResult {
        guard !batch.spans.isEmpty else { return .accepted }
        let now = ContinuousClock.now
        let (result, wake, queued) = state.withLock { state -> (SubmitResult, [(BatcherState.Waiter, [NormalizedBatch]?)], Int) in
            if state.closed { return (.closed, [], state.heldSpans) }
            guard state.heldSpans + batch.count <= configuration.maxQueuedSpans else { return (.full, [], state.heldSpans) }
            state.open.append(batch)
            state.openSpans += batch.count
            state.heldSpans += batch.count
            if state.openSince == nil { state.openSince = now }
            if state.openSpans >= configuration.maxBatchSpans { state.sealOpen() }
            return (.accepted, state.dispatch(), state.heldSpans)
        }
        wake.resumeAll()
        metrics.queueSpans.record(queued)
        return result
    }

    /// Spans accepted and not yet written.
    public var heldSpans: Int { state.withLock { $0.heldSpans } }

    public func run() async throws {
        let ticker = Task { await self.sealAgedBatches() }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, configuration.workers) {
                group.addTask { await self.work() }
            }
            // Until shutdown is requested; cancellation ends the wait too, and we drain all the same.
            try? await gracefulShutdown()
            state.withLock { $0.close() }.resumeAll()
            await group.waitForAll()
        }
        ticker.cancel()
        do {
            try await sink.close()
        } catch {
            logger.error("closing the sink failed", metadata: ["error": "\(error)"])
        }
        logger.info("batcher drained")
    }

    /// One worker: takes sealed batches and writes them until the batcher is closed and empty.
    private func work() async {
        while let flush = await nextFlush() {
            let spans = flush.reduce(0) { $0 + $1.count }
            do {
                try await sink.write(flush)
                metrics.batchesFlushed.increment()
                metrics.spansFlushed.increment(by: spans)
            } catch {
                // Acknowledged spans are lost only if the sink cannot write them; make that loud.
                metrics.sinkErrors.increment()
                logger.error("sink write failed", metadata: ["spans": "\(spans)", "error": "\(error)"])
            }
            let queued = state.withLock { state in
                state.heldSpans -= spans
                return state.heldSpans
            }
            metrics.queueSpans.record(queued)
        }
    }

    private func nextFlush() async -> [NormalizedBatch]? {
        await withCheckedContinuation { continuation in
            state.withLock { state in
                state.waiters.append(continuation)
                return state.dispatch()
            }.resumeAll()
        }
    }

    /// Seals the open batch once its oldest span has waited `flushInterval`.
    private func sealAgedBatches() async {
        let interval = configuration.flushInterval
        while !Task.isCancelled {
            let (wait, wake) = state.withLock { state -> (Duration, [(BatcherState.Waiter, [NormalizedBatch]?)]) in
                guard let since = state.openSince else { return (interval, []) }
                let age = since.duration(to: .now)
                guard age >= interval else { return (interval - age, []) }
                state.sealOpen()
                return (interval, state.dispatch())
            }
            wake.resumeAll()
            do { try await Task.sleep(for: wait) } catch { return }
        }
    }
}

/// The batcher's state; every transition happens under its mutex and returns the
/// workers to resume, which the caller resumes after releasing the lock.
struct BatcherState {
    typealias Waiter = CheckedContinuation<[NormalizedBatch]?, Never>

    var open: [NormalizedBatch] = []
    var openSpans = 0
    var openSince: ContinuousClock.Instant?
    /// Sealed groups waiting for a worker, oldest first.
    var ready: [[NormalizedBatch]] = []
    /// Spans accepted and not yet written (open, ready and being written).
    var heldSpans = 0
    var closed = false
    var waiters: [Waiter] = []

    mutating func sealOpen() {
        guard !open.isEmpty else { return }
        ready.append(open)
        open = []
        openSpans = 0
        openSince = nil
    }

    /// Pairs idle workers with ready groups; once closed, idle workers left over get nil and finish.
    mutating func dispatch() -> [(Waiter, [NormalizedBatch]?)] {
        var resumptions: [(Waiter, [NormalizedBatch]?)] = []
        while !waiters.isEmpty, !ready.isEmpty {
            resumptions.append((waiters.removeFirst(), ready.removeFirst()))
        }
        if closed {
            resumptions += waiters.map { ($0, nil) }
            waiters = []
        }
        return resumptions
    }

    /// Stops accepting and seals what is open.
    mutating func close() -> [(Waiter, [NormalizedBatch]?)] {
        closed = true
        sealOpen()
        return dispatch()
    }
}

extension [(BatcherState.Waiter, [NormalizedBatch]?)] {
    func resumeAll() {
        for (waiter, group) in self { waiter.resume(returning: group) }
    }
}
