import Foundation
import Synchronization
import Testing
@testable import PyFlareStore
@testable import PyFlareSQL

/// The admission of statements to a lane: a bounded queue, deadlines counted from arrival,
/// cancellation of waiting and running statements, and shutdown.
struct SQLLaneTests {
    /// Set by a body once it runs on a lane thread.
    final class Started: Sendable {
        let value = Atomic<Bool>(false)

        /// Waits until the body runs (a loaded machine may take a while to start it).
        func wait() async throws {
            for _ in 0..<1_000 where !value.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(10)) }
        }
    }

    /// Waits until `count` statements wait on `lane`.
    static func waitUntil(_ lane: SQLLane, isWaiting count: Int) async throws {
        for _ in 0..<1_000 where lane.waitingCount < count { try await Task.sleep(for: .milliseconds(10)) }
    }

    /// A body that runs until `interrupt` is set or `seconds` pass, as a statement does.
    static func busy(_ interrupt: StatementInterrupt, seconds: Double = 60, started: Started = Started()) -> @Sendable () -> Bool {
        {
            started.value.store(true, ordering: .relaxed)
            let end = Date().addingTimeInterval(seconds)
            while Date() < end {
                if interrupt.isSet { return false }
                usleep(1_000)
            }
            return true
        }
    }

    @Test func aFullQueueIsAnsweredBusyAtOnceAndAFreedPlaceGoesToTheFirstWaiter() async throws {
        let lane = SQLLane(name: "test-busy", threads: 1, maxWaiting: 1, niceness: 0)
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        let running = StatementInterrupt(), waiting = StatementInterrupt(), runs = Started()
        // The first holds the thread until the test lets it go.
        let first = Task { try await lane.run(deadline: deadline, interrupt: running, Self.busy(running, started: runs)) }
        try await runs.wait()
        let second = Task { try await lane.run(deadline: deadline, interrupt: waiting, { 42 }) }
        try await Self.waitUntil(lane, isWaiting: 1)
        let started = ContinuousClock.now
        do {
            _ = try await lane.run(deadline: deadline, interrupt: StatementInterrupt(), { 0 })
            Issue.record("a third statement was admitted past a full queue")
        } catch {
            #expect(error.kind == .busy)
        }
        // At once, not at the 60 s deadline (generous for a loaded machine).
        #expect(started.duration(to: .now) < .seconds(10))
        running.set(.cancelled)
        #expect(try await first.value == false)
        #expect(try await second.value == 42)
    }

    @Test func aWaitingStatementIsAnsweredByItsDeadlineNotWhenAPlaceFrees() async throws {
        let lane = SQLLane(name: "test-deadline", threads: 1, maxWaiting: 4, niceness: 0)
        let holder = StatementInterrupt(), holding = Started()
        let hold = Task { try await lane.run(deadline: .now.advanced(by: .seconds(60)), interrupt: holder, Self.busy(holder, seconds: 120, started: holding)) }
        try await holding.wait()
        let started = ContinuousClock.now
        do {
            _ = try await lane.run(deadline: .now.advanced(by: .milliseconds(300)), interrupt: StatementInterrupt(), { 1 })
            Issue.record("ran past the holder")
        } catch {
            #expect(error.kind == .timeout)
        }
        let waited = started.duration(to: .now)
        // By its own 0.3 s deadline, not when the holder's 120 s end; the margin is for a machine
        // whose cooperative threads other suites keep busy.
        #expect(waited >= .milliseconds(250) && waited < .seconds(60), "\(waited)")
        holder.set(.cancelled)
        _ = try? await hold.value
    }

    @Test func cancellingTheCallerStopsARunningStatementAndFreesItsThread() async throws {
        let lane = SQLLane(name: "test-cancel", threads: 1, maxWaiting: 4, niceness: 0)
        let interrupt = StatementInterrupt(), running = Started()
        let statement = Task { try await lane.run(deadline: .now.advanced(by: .seconds(30)), interrupt: interrupt, Self.busy(interrupt, started: running)) }
        try await running.wait()
        statement.cancel()
        // Stopped where it stood if it had started (it returns early), else never run.
        do {
            #expect(try await statement.value == false)
        } catch let error as SQLError {
            #expect(error.kind == .cancelled)
        }
        #expect(interrupt.isSet)
        let started = ContinuousClock.now
        #expect(try await lane.run(deadline: .now.advanced(by: .seconds(30)), interrupt: StatementInterrupt(), { 7 }) == 7)
        #expect(started.duration(to: .now) < .seconds(5))
    }

    @Test func shutdownStopsTheRunningAndAnswersTheWaiting() async throws {
        let lane = SQLLane(name: "test-shutdown", threads: 1, maxWaiting: 4, niceness: 0)
        let running = StatementInterrupt(), runs = Started()
        let first = Task { try await lane.run(deadline: .now.advanced(by: .seconds(30)), interrupt: running, Self.busy(running, started: runs)) }
        try await runs.wait()
        let waiting = Task { try await lane.run(deadline: .now.advanced(by: .seconds(30)), interrupt: StatementInterrupt(), { 1 }) }
        try await Self.waitUntil(lane, isWaiting: 1)
        let started = ContinuousClock.now
        lane.interruptAll()
        #expect(try await first.value == false)
        do {
            _ = try await waiting.value
            Issue.record("a waiting statement ran after shutdown")
        } catch let error as SQLError {
            #expect(error.kind == .cancelled)
        }
        #expect(started.duration(to: .now) < .seconds(15))
    }
}
