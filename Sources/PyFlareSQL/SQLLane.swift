import CoreMetrics
import Dispatch
import NIOPosix
import Synchronization
import PyFlareStore
import PyFlareWire

/// The capacity statements run on, and the queue in front of it: at most `threads`
/// statements run at once and at most `maxWaiting` wait. A statement's deadline counts from
/// its arrival, so waiting uses up its time; one that would wait past it, whose client went
/// away, or that arrives at a full queue is answered at once instead of holding a place.
///
/// Two lanes exist: users' ad-hoc SQL (`POST /api/v1/sql`, `pyflare sql`), and the server's
/// own statements (scheduled jobs, the analysis routes), so neither can starve the other.
/// Ad-hoc statements run at a lower CPU priority than ingest, seals and jobs.
public final class SQLLane: Sendable {
    public let name: String
    let threads: NIOThreadPool
    let threadCount: Int
    private let waitingLimit: Atomic<Int>
    /// Statements that may wait for a thread; more are answered ``SQLError/Kind/busy`` at once.
    public var maxWaiting: Int { waitingLimit.load(ordering: .relaxed) }
    private let state = Mutex(State())
    let niceness: Int32
    private let rejected: Counter
    private let waitingGauge: Gauge

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var running = 0
        var waiting: [Waiter] = []
        var nextID: UInt64 = 0
        /// Interrupts of the statements running now, for shutdown.
        var interrupts: [UInt64: StatementInterrupt] = [:]
    }

    init(name: String, threads threadCount: Int, maxWaiting: Int, niceness: Int32) {
        self.name = name
        self.threadCount = threadCount
        waitingLimit = Atomic(maxWaiting)
        self.niceness = niceness
        threads = NIOThreadPool(numberOfThreads: threadCount)
        threads.start()
        rejected = Counter(label: "pyflare_sql_rejected_total", dimensions: [("lane", name)])
        waitingGauge = Gauge(label: "pyflare_sql_waiting", dimensions: [("lane", name)])
    }

    /// Users' statements: two threads below ingest and seals. The server bounds its queue
    /// (`sql.max_queued`); embedded and offline use leaves it practically open.
    public static let adHoc = SQLLane(name: "ad_hoc", threads: 2, maxWaiting: 1024, niceness: 19)
    /// The server's own statements (jobs, analysis routes): their own two threads.
    public static let internalWork = SQLLane(name: "internal", threads: 2, maxWaiting: 1024, niceness: BackgroundPriority.niceness)

    /// Bounds how many statements may wait for a thread from now on.
    public func limitWaiting(to count: Int) {
        waitingLimit.store(max(0, count), ordering: .relaxed)
    }

    /// Runs `body` on one of the lane's threads once a place is free, unless `deadline` passes
    /// first, the calling task is cancelled (its client went away) or the lane closes.
    /// `interrupt` is set to stop `body` early on cancellation and at shutdown.
    func run<T: Sendable>(deadline: ContinuousClock.Instant, interrupt: StatementInterrupt,
                          _ body: @escaping @Sendable () -> T) async throws(SQLError) -> T {
        let id = try await admit(deadline: deadline)
        state.withLock { $0.interrupts[id] = interrupt }
        defer { release(id) }
        do {
            return try await withTaskCancellationHandler {
                // The pool runs nothing but this lane's statements, so its threads keep the lane's priority.
                try await threads.runIfActive { [niceness] in
                    BackgroundPriority.lower(to: niceness)
                    return body()
                }
            } onCancel: {
                interrupt.set(.cancelled)
            }
        } catch {
            // The pool refuses work once it is shut down, and drops work not yet started when
            // the caller is cancelled.
            throw SQLError(.cancelled, Task.isCancelled ? "the client went away before the statement ran" : "the server is shutting down")
        }
    }

    /// Statements waiting for a thread now.
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    /// Stops every running statement and answers every waiting one: shutdown.
    public func interruptAll() {
        let waiters = state.withLock { state in
            for interrupt in state.interrupts.values { interrupt.set(.cancelled) }
            defer { state.waiting = [] }
            return state.waiting
        }
        for waiter in waiters { waiter.continuation.resume(throwing: SQLError(.cancelled, "the server is shutting down")) }
    }

    private func admit(deadline: ContinuousClock.Instant) async throws(SQLError) -> UInt64 {
        enum Admission { case run(UInt64), wait(UInt64), full }
        let admission = state.withLock { state -> Admission in
            state.nextID += 1
            if state.running < threadCount, state.waiting.isEmpty {
                state.running += 1
                return .run(state.nextID)
            }
            return state.waiting.count < waitingLimit.load(ordering: .relaxed) ? .wait(state.nextID) : .full
        }
        switch admission {
        case .run(let id): return id
        case .full:
            rejected.increment()
            throw SQLError(.busy, "\(threadCount) SQL statements are running and \(maxWaiting) waiting; try again shortly")
        case .wait(let id):
            do {
                try await withTaskCancellationHandler {
                    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                        let count = state.withLock { state in
                            state.waiting.append(Waiter(id: id, continuation: continuation))
                            return state.waiting.count
                        }
                        waitingGauge.record(count)
                        // The wait ends at the deadline at the latest; a released place may have been handed over already.
                        // A Dispatch timer, not a sleeping task: the deadline must hold even while blocking
                        // work fills the cooperative pool (it has one thread per core, two here).
                        let delay = max(0, ContinuousClock.now.duration(to: deadline).inNanoseconds)
                        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(delay))) { [weak self] in
                            self?.expire(id, SQLError(.timeout, "the statement waited past its time limit for a free SQL thread"))
                        }
                    }
                } onCancel: {
                    expire(id, SQLError(.cancelled, "the client went away before the statement started"))
                }
            } catch let error as SQLError {
                throw error
            } catch {
                throw SQLError(.cancelled, "the client went away before the statement started")
            }
            return id
        }
    }

    /// Takes waiter `id` out of the queue, if it is still there, and answers it with `error`.
    private func expire(_ id: UInt64, _ error: SQLError) {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.waiting.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiting.remove(at: index)
        }
        waiter?.continuation.resume(throwing: error)
    }

    /// Gives the place of statement `id` to the first waiter, or frees it.
    private func release(_ id: UInt64) {
        let next = state.withLock { state -> Waiter? in
            state.interrupts[id] = nil
            guard !state.waiting.isEmpty else {
                state.running -= 1
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.continuation.resume()
    }
}

/// Set to stop one running statement: SQLite's progress handler and the scans look at it.
public final class StatementInterrupt: Sendable {
    public enum Reason: UInt8, Sendable { case none = 0, cancelled = 1 }
    private let reason = Atomic<UInt8>(0)

    public init() {}

    public func set(_ reason: Reason) { self.reason.store(reason.rawValue, ordering: .relaxed) }
    public var isSet: Bool { reason.load(ordering: .relaxed) != 0 }
}
