import CoreMetrics
import Logging
import PyFlareWire
import Synchronization
public import PyFlareModel
public import ServiceLifecycle

/// Groups accepted spans and hands them to the sink, from several workers; a submitter
/// resumes once the sink has written its batch (for the store: durable in the WAL).
///
/// With `flushInterval` zero (the default) an idle worker takes whatever is waiting at
/// once, so groups form while the workers are busy: the group commit of the WAL.
/// A positive interval holds spans until the batch is full or that old, for sinks that
/// prefer large writes to low latency. Capacity is counted in spans, from acceptance
/// until the sink has written them, so a slow sink fills the queue and the receivers
/// push back (429) instead of anything being dropped. On graceful shutdown the batcher
/// stops accepting, flushes what it holds, waits for the workers, and closes the sink.
public final class Batcher: Service, Sendable {
    public enum SubmitResult: Sendable, Equatable {
        /// Written by the sink.
        case accepted
        /// The queue has no room for the batch; retry later.
        case full
        /// The batcher is shutting down.
        case closed
        /// The sink could not write the batch (e.g. disk full); nothing of it was kept.
        case failed(String)
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

    /// Queues `batch` if there is room and waits until the sink has written it; never waits for room.
    public func submit(_ batch: NormalizedBatch) async -> SubmitResult {
        guard !batch.spans.isEmpty else { return .accepted }
        let now = ContinuousClock.now
        return await withCheckedContinuation { ack in
            let (refusal, wake) = state.withLock { state -> (SubmitResult?, [BatcherState.Dispatch]) in
                if state.closed { return (.closed, []) }
                let bytes = batch.spans.bytes.count
                guard state.heldSpans + batch.count <= configuration.maxQueuedSpans,
                      // One request larger than the whole bound still goes through when nothing else is held.
                      state.heldBytes + bytes <= configuration.maxQueuedBytes || state.heldBytes == 0 else { return (.full, []) }
                state.open.append(batch)
                state.openAcks.append(ack)
                state.openSpans += batch.count
                state.heldSpans += batch.count
                state.heldBytes += bytes
                if state.openSince == nil { state.openSince = now }
                if state.openSpans >= configuration.maxBatchSpans { state.sealOpen() }
                // Under the lock: two submitters recording after it could leave the older figure last.
                metrics.queueSpans.record(state.heldSpans)
                return (nil, state.dispatch(eager: configuration.writesEagerly))
            }
            if let refusal { ack.resume(returning: refusal) }
            wake.resumeAll()
        }
    }

    /// Shutdown has begun: from now on waiting spans are written at once, so requests held
    /// by the flush interval are answered while the receivers drain. Still accepts.
    public func beginDraining() {
        state.withLock { state in
            state.draining = true
            return state.dispatch(eager: true)
        }.resumeAll()
    }

    /// Spans accepted and not yet written.
    public var heldSpans: Int { state.withLock { $0.heldSpans } }
    /// The bytes of those spans' batches.
    public var heldBytes: Int { state.withLock { $0.heldBytes } }

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

    /// One worker: takes sealed groups and writes them until the batcher is closed and empty.
    private func work() async {
        while let flush = await nextFlush() {
            let spans = flush.batches.reduce(0) { $0 + $1.count }
            let bytes = flush.batches.reduce(0) { $0 + $1.spans.bytes.count }
            let result: SubmitResult
            do {
                try await sink.write(flush.batches)
                metrics.batchesFlushed.increment()
                metrics.spansFlushed.increment(by: spans)
                result = .accepted
            } catch is any BackPressureError {
                result = .full
            } catch {
                // The submitters get the failure: their clients retry, nothing is silently lost.
                metrics.sinkErrors.increment()
                logger.error("sink write failed", metadata: ["spans": "\(spans)", "error": "\(error)"])
                result = .failed(clientDescription(of: error))
            }
            state.withLock { state in
                state.heldSpans -= spans
                state.heldBytes -= bytes
                metrics.queueSpans.record(state.heldSpans)
            }
            for ack in flush.acks { ack.resume(returning: result) }
        }
    }

    private func nextFlush() async -> BatcherState.Group? {
        return await withCheckedContinuation { continuation in
            state.withLock { state in
                state.waiters.append(continuation)
                return state.dispatch(eager: configuration.writesEagerly)
            }.resumeAll()
        }
    }

    /// Seals the open batch once its oldest span has waited `flushInterval` (when positive).
    private func sealAgedBatches() async {
        let interval = configuration.flushInterval
        guard interval > .zero else { return }
        while !Task.isCancelled {
            let (wait, wake) = state.withLock { state -> (Duration, [BatcherState.Dispatch]) in
                guard let since = state.openSince else { return (interval, []) }
                let age = since.duration(to: .now)
                guard age >= interval else { return (interval - age, []) }
                state.sealOpen()
                return (interval, state.dispatch(eager: false))
            }
            wake.resumeAll()
            do { try await Task.sleep(for: wait) } catch { return }
        }
    }
}

/// The batcher's state; every transition happens under its mutex and returns the
/// workers to resume, which the caller resumes after releasing the lock.
struct BatcherState {
    typealias Ack = CheckedContinuation<Batcher.SubmitResult, Never>
    /// Batches written together, and their submitters.
    struct Group {
        var batches: [NormalizedBatch]
        var acks: [Ack]
    }
    typealias Waiter = CheckedContinuation<Group?, Never>
    typealias Dispatch = (Waiter, Group?)

    var open: [NormalizedBatch] = []
    var openAcks: [Ack] = []
    var openSpans = 0
    var openSince: ContinuousClock.Instant?
    /// Sealed groups waiting for a worker, oldest first.
    var ready: [Group] = []
    /// Spans accepted and not yet written (open, ready and being written), and their bytes.
    var heldSpans = 0
    var heldBytes = 0
    var closed = false
    /// Shutdown has begun: write what waits now, whatever the interval.
    var draining = false
    var waiters: [Waiter] = []

    mutating func sealOpen() {
        guard !open.isEmpty else { return }
        ready.append(Group(batches: open, acks: openAcks))
        open = []
        openAcks = []
        openSpans = 0
        openSince = nil
    }

    /// Pairs idle workers with ready groups (eagerly sealing the open one for an idle
    /// worker); once closed, idle workers left over get nil and finish.
    mutating func dispatch(eager: Bool) -> [Dispatch] {
        var resumptions: [Dispatch] = []
        while !waiters.isEmpty {
            if ready.isEmpty, eager || closed || draining { sealOpen() }
            guard !ready.isEmpty else { break }
            resumptions.append((waiters.removeFirst(), ready.removeFirst()))
        }
        if closed, ready.isEmpty, open.isEmpty {
            resumptions += waiters.map { ($0, nil) }
            waiters = []
        }
        return resumptions
    }

    /// Stops accepting and seals what is open.
    mutating func close() -> [Dispatch] {
        closed = true
        sealOpen()
        return dispatch(eager: true)
    }
}

extension [BatcherState.Dispatch] {
    func resumeAll() {
        for (waiter, group) in self { waiter.resume(returning: group) }
    }
}
