import Synchronization
import Hummingbird
import Testing
@testable import PyFlareAPI
@testable import PyFlareIngest
import PyFlareWire

/// A wall clock the test moves by hand (unix nanoseconds).
final class ManualClock: Sendable {
    private let time = Mutex<UInt64>(1_800_000_000_000_000_000)

    var now: UInt64 { time.withLock { $0 } }
    func advance(seconds: Double) { time.withLock { $0 += UInt64(seconds * 1e9) } }
    var function: @Sendable () -> UInt64 { { self.now } }
}

/// The open-span lifecycle: start, tags, logs, finish, timeout, shutdown, limits.
struct TelemetrySpansTests {
    let clock = ManualClock()

    func spans(timeout: Duration = .seconds(300), maxOpen: Int = 100, maxBytes: Int = 1 << 20) -> TelemetrySpans {
        TelemetrySpans(configuration: .init(spanTimeout: timeout, maxOpenSpans: maxOpen, maxOpenBytes: maxBytes), now: clock.function)
    }

    /// The HTTP status and message the API answers for what `body` throws; nil when it throws nothing.
    func status(_ body: () throws -> Void) -> (Int, String)? {
        do {
            try body()
            return nil
        } catch let error as TelemetryError {
            let answer = APIError(error)
            return (answer.status.code, answer.message)
        } catch {
            Issue.record("unexpected error \(error)")
            return (0, "\(error)")
        }
    }

    @Test func aSpanIsOpenUntilItsFinishIsWritten() throws {
        let spans = spans()
        let span = try spans.start(name: "work", traceID: nil, parentSpanID: 0, tags: TelemetryTags())
        #expect(span.spanID != 0)
        #expect(!span.traceID.isZero)
        #expect(span.startTime == clock.now)
        clock.advance(seconds: 1)
        var tags = TelemetryTags()
        tags["k"] = .string("v")
        let tagged = try spans.update(span.spanID) { $0.tags.merge(tags) }
        #expect(tagged.tags["k"] == .string("v"))
        #expect(tagged.lastActivity == clock.now)

        clock.advance(seconds: 2)
        let finishing = try spans.beginFinish(span.spanID, status: .ok, message: "", tags: TelemetryTags())
        #expect(finishing.status == .ok)
        #expect(finishing.endTime - finishing.startTime == 3_000_000_000)
        // While it is being written, every request on it is a conflict.
        #expect(status { _ = try spans.update(span.spanID) { _ in } }?.0 == 409)
        #expect(status { _ = try spans.beginFinish(span.spanID, status: .ok, message: "", tags: TelemetryTags()) }?.0 == 409)

        spans.endFinish([finishing], written: true)
        #expect(spans.openCount == 0)
        let again = status { _ = try spans.beginFinish(span.spanID, status: .ok, message: "", tags: TelemetryTags()) }
        #expect(again?.0 == 409)
        #expect(again?.1.contains("already finished") == true)
        #expect(status { _ = try spans.update(span.spanID) { _ in } }?.0 == 409)
        let unknown = status { _ = try spans.update(0x1234) { _ in } }
        #expect(unknown?.0 == 404)
        #expect(unknown?.1.contains("no open span 0000000000001234") == true)
    }

    @Test func aFailedWriteLeavesTheSpanOpenAsBefore() throws {
        let spans = spans()
        let span = try spans.start(name: "work", traceID: nil, parentSpanID: 0, tags: TelemetryTags())
        let finishing = try spans.beginFinish(span.spanID, status: .error, message: "bad", tags: TelemetryTags())
        spans.endFinish([finishing], written: false)
        #expect(spans.openCount == 1)
        let open = try spans.update(span.spanID) { _ in }
        #expect(open.status == nil)
        #expect(open.endTime == 0)
        #expect(open.statusMessage == "")
        let retried = try spans.beginFinish(span.spanID, status: .ok, message: "", tags: TelemetryTags())
        #expect(retried.status == .ok)
    }

    @Test func idleSpansTimeOutWithStatusError() throws {
        let spans = spans(timeout: .seconds(10))
        let idle = try spans.start(name: "idle", traceID: nil, parentSpanID: 0, tags: TelemetryTags())
        clock.advance(seconds: 6)
        let busy = try spans.start(name: "busy", traceID: nil, parentSpanID: 0, tags: TelemetryTags())
        #expect(spans.beginExpire().isEmpty)
        clock.advance(seconds: 4)
        _ = try spans.update(busy.spanID) { _ in }  // activity restarts its timeout

        let expired = spans.beginExpire()
        #expect(expired.map(\.spanID) == [idle.spanID])
        #expect(expired[0].status == .error)
        #expect(expired[0].statusMessage.contains("timed out: no request for 10 s"))
        #expect(expired[0].endTime == clock.now)
        // Taken once: the next look does not take it again while it is being written.
        #expect(spans.beginExpire().isEmpty)
        spans.endFinish(expired, written: true)

        clock.advance(seconds: 9.9)
        #expect(spans.beginExpire().isEmpty)
        clock.advance(seconds: 0.1)
        #expect(spans.beginExpire().map(\.spanID) == [busy.spanID])
    }

    @Test func closingTakesEveryOpenSpanAndRefusesNewOnes() throws {
        let spans = spans()
        let first = try spans.start(name: "a", traceID: nil, parentSpanID: 0, tags: TelemetryTags())
        let second = try spans.start(name: "b", traceID: nil, parentSpanID: 0, tags: TelemetryTags())
        let beingFinished = try spans.start(name: "c", traceID: nil, parentSpanID: 0, tags: TelemetryTags())
        _ = try spans.beginFinish(beingFinished.spanID, status: .ok, message: "", tags: TelemetryTags())

        let closed = spans.closeAll()
        #expect(Set(closed.map(\.spanID)) == [first.spanID, second.spanID])
        #expect(closed.allSatisfy { $0.status == .error && $0.statusMessage.contains("shut down") })
        let refused = status { _ = try spans.start(name: "late", traceID: nil, parentSpanID: 0, tags: TelemetryTags()) }
        #expect(refused?.0 == 503)
    }

    @Test func theNumberAndMemoryOfOpenSpansAreBounded() throws {
        let spans = spans(maxOpen: 2)
        let first = try spans.start(name: "a", traceID: nil, parentSpanID: 0, tags: TelemetryTags())
        _ = try spans.start(name: "b", traceID: nil, parentSpanID: 0, tags: TelemetryTags())
        let refused = status { _ = try spans.start(name: "c", traceID: nil, parentSpanID: 0, tags: TelemetryTags()) }
        #expect(refused?.0 == 429)
        #expect(refused?.1.contains("telemetry.max_open_spans") == true)
        let finishing = try spans.beginFinish(first.spanID, status: .ok, message: "", tags: TelemetryTags())
        spans.endFinish([finishing], written: true)
        _ = try spans.start(name: "c", traceID: nil, parentSpanID: 0, tags: TelemetryTags())

        let small = self.spans(maxBytes: 4096)
        let span = try small.start(name: "a", traceID: nil, parentSpanID: 0, tags: TelemetryTags())
        let big = String(repeating: "x", count: 5000)
        let tooBig = status { _ = try small.update(span.spanID) { $0.events.append(.init(time: 0, message: big, level: "info", tags: TelemetryTags())) } }
        #expect(tooBig?.0 == 429)
        #expect(tooBig?.1.contains("telemetry.max_open_bytes") == true)
        // Refused changes leave the span as it was, and a finish always goes through.
        #expect(try small.update(span.spanID) { _ in }.events.isEmpty)
        _ = try small.beginFinish(span.spanID, status: .error, message: big, tags: TelemetryTags())
    }

    @Test func aSpanHoldsAtMostSoManyLogsAndTags() throws {
        let spans = spans(maxBytes: 1 << 30)
        let span = try spans.start(name: "a", traceID: nil, parentSpanID: 0, tags: TelemetryTags())
        for index in 0..<TelemetryConfiguration.maxEventsPerSpan {
            _ = try spans.update(span.spanID) { $0.events.append(.init(time: UInt64(index), message: "m", level: "info", tags: TelemetryTags())) }
        }
        let refused = status { _ = try spans.update(span.spanID) { $0.events.append(.init(time: 0, message: "m", level: "info", tags: TelemetryTags())) } }
        #expect(refused?.0 == 409)
        var many = TelemetryTags()
        for index in 0...TelemetryConfiguration.maxTagsPerSpan { many["k\(index)"] = .int(Int64(index)) }
        #expect(status { _ = try spans.update(span.spanID) { $0.tags.merge(many) } }?.0 == 409)
    }

    @Test func rootsAndTracesOfSpansAreKnownWhileOpenAndLately() throws {
        let spans = spans()
        let root = try spans.start(name: "root", traceID: nil, parentSpanID: 0, tags: TelemetryTags())
        let child = try spans.start(name: "child", traceID: root.traceID, parentSpanID: root.spanID, tags: TelemetryTags())
        #expect(spans.root(of: root.traceID) == root.spanID)
        #expect(spans.trace(of: child.spanID) == root.traceID)
        let finished = try spans.beginFinish(root.spanID, status: .ok, message: "", tags: TelemetryTags())
        spans.endFinish([finished], written: true)
        #expect(spans.root(of: root.traceID) == root.spanID)
        #expect(spans.trace(of: root.spanID) == root.traceID)
    }

    @Test func finishedIdsAreForgottenOldestFirst() throws {
        var state = TelemetrySpans.State(limits: .init(maxOpenSpans: 10, maxOpenBytes: 1 << 20, timeout: 1, rememberedFinished: 2))
        let trace = TraceID(high: 1, low: 1)
        for id in UInt64(1)...3 {
            try state.start(TelemetrySpan(traceID: trace, spanID: id, parentSpanID: id == 1 ? 0 : 1, name: "s", startTime: 0, tags: TelemetryTags()))
            _ = try state.beginFinish(id, status: .ok, message: "", tags: TelemetryTags(), now: 1)
            state.endFinish([id], written: true)
        }
        #expect(state.trace(of: 1) == nil)
        #expect(state.root(of: trace) == nil, "the root is forgotten with its id")
        #expect(state.trace(of: 2) == trace)
        #expect(state.trace(of: 3) == trace)
        #expect(throws: TelemetryError.self) { try state.openSpan(1) }
        do {
            _ = try state.openSpan(1)
        } catch {
            #expect(error.kind == .notFound)
        }
    }
}
