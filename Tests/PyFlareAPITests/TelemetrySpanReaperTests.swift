import Logging
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Hummingbird
import Testing
@testable import PyFlareAPI
@testable import PyFlareIngest
import PyFlareWire

/// Stands in for the ingest path: records the spans exported, answers a chosen outcome.
final class RecordingExport: Sendable {
    private let state = Mutex<(spans: [SpanBatch], outcome: OTLPExport.Outcome)>(([], .accepted(rejected: 0, message: nil)))

    var outcome: OTLPExport.Outcome {
        get { state.withLock { $0.outcome } }
        set { state.withLock { $0.outcome = newValue } }
    }

    var batches: [SpanBatch] { state.withLock { $0.spans } }
    var spanIDs: [UInt64] { batches.flatMap(\.spanIDs) }

    var writer: TelemetryWriter {
        TelemetryWriter(serviceName: "svc") { [self] signal, body in
            #expect(signal == .traces)
            let batch = try! SpanBatch.decodeProtobuf(body)
            return state.withLock { state in
                if case .accepted = state.outcome { state.spans.append(batch) }
                return state.outcome
            }
        }
    }
}

struct TelemetrySpanReaperTests {
    let clock = ManualClock()
    let export = RecordingExport()

    func reaper(timeout: Duration = .seconds(5)) -> TelemetrySpanReaper {
        let spans = TelemetrySpans(configuration: .init(spanTimeout: timeout), now: clock.function)
        return TelemetrySpanReaper(spans: spans, writer: export.writer, logger: Logger(label: "test"))
    }

    @Test func writesSpansThatTimedOutWithStatusError() async throws {
        let reaper = reaper()
        let span = try reaper.spans.start(name: "forgotten", traceID: nil, parentSpanID: 0, tags: TelemetryTags())
        await reaper.closeExpired()
        #expect(export.batches.isEmpty)

        clock.advance(seconds: 5)
        await reaper.closeExpired()
        #expect(export.spanIDs == [span.spanID])
        let batch = export.batches[0]
        #expect(batch.statusCodes == [2])
        #expect(batch.string(batch.statusMessages[0]).contains("timed out"))
        #expect(batch.endTimes[0] - batch.startTimes[0] == 5_000_000_000)
        #expect(reaper.spans.openCount == 0)
    }

    @Test func aSpanThatCannotBeWrittenIsTriedAgain() async throws {
        let reaper = reaper()
        let span = try reaper.spans.start(name: "forgotten", traceID: nil, parentSpanID: 0, tags: TelemetryTags())
        clock.advance(seconds: 6)
        export.outcome = .full("queue is full")
        await reaper.closeExpired()
        #expect(export.batches.isEmpty)
        #expect(reaper.spans.openCount == 1)

        export.outcome = .accepted(rejected: 0, message: nil)
        await reaper.closeExpired()
        #expect(export.spanIDs == [span.spanID])
        #expect(reaper.spans.openCount == 0)
    }

    @Test func gracefulShutdownWritesEveryOpenSpan() async throws {
        let reaper = reaper(timeout: .seconds(300))
        let first = try reaper.spans.start(name: "a", traceID: nil, parentSpanID: 0, tags: TelemetryTags())
        let second = try reaper.spans.start(name: "b", traceID: first.traceID, parentSpanID: first.spanID, tags: TelemetryTags())
        try await testGracefulShutdown { trigger in
            let run = Task { try await reaper.run() }
            try await Task.sleep(for: .milliseconds(20))
            #expect(export.batches.isEmpty)
            trigger.triggerGracefulShutdown()
            try await run.value
        }
        #expect(Set(export.spanIDs) == [first.spanID, second.spanID])
        #expect(export.batches.flatMap(\.statusCodes) == [2, 2])
        let batch = export.batches[0]
        #expect(batch.string(batch.statusMessages[0]).contains("shut down"))
        #expect(reaper.spans.openCount == 0)
        #expect(throws: TelemetryError.self) { _ = try reaper.spans.start(name: "late", traceID: nil, parentSpanID: 0, tags: TelemetryTags()) }
    }

    @Test func exportOutcomesMapToHTTPStatuses() {
        func check(_ outcome: OTLPExport.Outcome) -> (Int, Int?)? {
            do {
                try TelemetryWriter.check(outcome, what: "spans")
                return nil
            } catch {
                let answer = APIError(error)
                return (answer.status.code, answer.retryAfterSeconds)
            }
        }
        #expect(check(.accepted(rejected: 0, message: nil)) == nil)
        #expect(check(.full("full")).map { [$0.0, $0.1] } == [429, 1])
        #expect(check(.closed).map { [$0.0, $0.1] } == [503, 5])
        #expect(check(.failed("disk full")).map { [$0.0, $0.1] } == [503, 5])
        #expect(check(.malformed("bug"))?.0 == 500)
        #expect(check(.accepted(rejected: 1, message: "zero id"))?.0 == 500)
    }
}
