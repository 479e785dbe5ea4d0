import Foundation
import Synchronization
import Testing
@testable import PyFlareStore

/// The admission of statements to a lane: a bounded queue, deadlines counted from arrival,
/// cancellation of waiting and running statements, and shutdown.
struct SQLLaneTests {
    /// A body that runs until `interrupt` is set or `seconds` pass, as a statement does.
    static func busy(_ interrupt: StatementInterrupt, seconds: Double = 10) -> @Sendable () -> Bool {
        {
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
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        let running = StatementInterrupt(), waiting = StatementInterrupt()
        let first = Task { try await lane.run(deadline: deadline, interrupt: running, Self.busy(running, seconds: 0.5)) }
        try await Task.sleep(for: .milliseconds(100))
        let second = Task { try await lane.run(deadline: deadline, interrupt: waiting, { 42 }) }
        try await Task.sleep(for: .milliseconds(100))
        let started = ContinuousClock.now
        await #expect(throws: SQLError.self) { try await lane.run(deadline: deadline, interrupt: StatementInterrupt(), { 0 }) }
        #expect(started.duration(to: .now) < .seconds(1))
        #expect(try await first.value == true)
        #expect(try await second.value == 42)
    }

    @Test func aWaitingStatementIsAnsweredByItsDeadlineNotWhenAPlaceFrees() async throws {
        let lane = SQLLane(name: "test-deadline", threads: 1, maxWaiting: 4, niceness: 0)
        let holder = StatementInterrupt()
        let hold = Task { try await lane.run(deadline: .now.advanced(by: .seconds(30)), interrupt: holder, Self.busy(holder, seconds: 5)) }
        try await Task.sleep(for: .milliseconds(100))
        let started = ContinuousClock.now
        do {
            _ = try await lane.run(deadline: .now.advanced(by: .milliseconds(300)), interrupt: StatementInterrupt(), { 1 })
            Issue.record("ran past the holder")
        } catch {
            #expect(error.kind == .timeout)
        }
        let waited = started.duration(to: .now)
        #expect(waited >= .milliseconds(250) && waited < .seconds(3), "\(waited)")
        holder.set(.cancelled)
        _ = try? await hold.value
    }

    @Test func cancellingTheCallerStopsARunningStatementAndFreesItsThread() async throws {
        let lane = SQLLane(name: "test-cancel", threads: 1, maxWaiting: 4, niceness: 0)
        let interrupt = StatementInterrupt()
        let statement = Task { try await lane.run(deadline: .now.advanced(by: .seconds(30)), interrupt: interrupt, Self.busy(interrupt)) }
        try await Task.sleep(for: .milliseconds(100))
        statement.cancel()
        #expect(try await statement.value == false)
        #expect(interrupt.isSet)
        let started = ContinuousClock.now
        #expect(try await lane.run(deadline: .now.advanced(by: .seconds(5)), interrupt: StatementInterrupt(), { 7 }) == 7)
        #expect(started.duration(to: .now) < .seconds(1))
    }

    @Test func shutdownStopsTheRunningAndAnswersTheWaiting() async throws {
        let lane = SQLLane(name: "test-shutdown", threads: 1, maxWaiting: 4, niceness: 0)
        let running = StatementInterrupt()
        let first = Task { try await lane.run(deadline: .now.advanced(by: .seconds(30)), interrupt: running, Self.busy(running)) }
        try await Task.sleep(for: .milliseconds(100))
        let waiting = Task { try await lane.run(deadline: .now.advanced(by: .seconds(30)), interrupt: StatementInterrupt(), { 1 }) }
        try await Task.sleep(for: .milliseconds(100))
        let started = ContinuousClock.now
        lane.interruptAll()
        #expect(try await first.value == false)
        do {
            _ = try await waiting.value
            Issue.record("a waiting statement ran after shutdown")
        } catch let error as SQLError {
            #expect(error.kind == .cancelled)
        }
        #expect(started.duration(to: .now) < .seconds(2))
    }
}
